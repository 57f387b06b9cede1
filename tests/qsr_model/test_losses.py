import math

import pytest
import torch
import torch.nn.functional as F

from qsr_model.config import ModelConfig
from qsr_model.losses import draw_negatives, full_softmax_loss, sampled_softmax_loss
from qsr_model.query_seqrec import QuerySeqRec


def model_with_table(rows):
    table = torch.tensor(rows, dtype=torch.float32)
    model = QuerySeqRec(ModelConfig(hidden_size=table.shape[1], num_heads=1), len(rows), num_words=1)
    with torch.no_grad():
        model.item_emb.weight.copy_(table)
    return model


def test_full_softmax_loss_by_hand():
    model = model_with_table([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    hidden = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    loss = full_softmax_loss(model, hidden, torch.tensor([2, 0]))
    # Logits [1, 0, 1] with target 2, and [0, 2, 2] with target 0.
    expected = ((math.log(2 * math.e + 1) - 1) + math.log(1 + 2 * math.e ** 2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("chunk_logits", [2**19, 16 * 11])
def test_full_softmax_matches_cross_entropy_gradients(monkeypatch, chunk_logits):
    # 16 * 11 logits per chunk splits the 40 rows into chunks of 16, 16 and 8.
    monkeypatch.setattr("qsr_model.losses.CHUNK_LOGITS", chunk_logits)
    torch.manual_seed(0)
    model = model_with_table(torch.randn(11, 4).tolist())
    hidden = torch.randn(40, 4, requires_grad=True)
    targets = torch.randint(0, 11, (40,))
    fused = full_softmax_loss(model, hidden, targets)
    fused_grads = torch.autograd.grad(fused, (hidden, model.item_emb.weight))
    reference = F.cross_entropy(hidden @ model.item_emb.weight.T, targets)
    reference_grads = torch.autograd.grad(reference, (hidden, model.item_emb.weight))
    assert fused.item() == pytest.approx(reference.item(), rel=1e-6)
    for got, expected in zip(fused_grads, reference_grads):
        assert torch.allclose(got, expected, atol=1e-6)


def test_full_softmax_loss_survives_underflow():
    model = model_with_table([[1.0, 0.0], [-1.0, 0.0]])
    loss = full_softmax_loss(model, torch.tensor([[100.0, 0.0]]), torch.tensor([1]))
    assert loss.item() == pytest.approx(200.0)


def test_negatives_never_equal_target():
    targets = torch.tensor([0, 1, 2])
    negatives = draw_negatives(targets, num_items=3, count=200, generator=torch.Generator().manual_seed(0))
    assert tuple(negatives.shape) == (3, 200)
    for target, row in zip(targets.tolist(), negatives.tolist()):
        assert target not in row
        assert set(row) == {0, 1, 2} - {target}


def test_two_candidates_equal_bpr():
    torch.manual_seed(1)
    model = model_with_table(torch.randn(20, 4).tolist())
    hidden = torch.randn(5, 4)
    targets = torch.tensor([0, 4, 7, 19, 3])
    loss = sampled_softmax_loss(model, hidden, targets, 2, torch.Generator().manual_seed(7))
    negatives = draw_negatives(targets, 20, 1, torch.Generator().manual_seed(7)).squeeze(1)
    table = model.item_emb.weight
    difference = (hidden * table[targets]).sum(1) - (hidden * table[negatives]).sum(1)
    assert loss.item() == pytest.approx(-F.logsigmoid(difference).mean().item(), rel=1e-6)


def test_sampled_softmax_by_hand():
    model = model_with_table([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    hidden = torch.tensor([[1.0, 1.0]])
    # Item 0 is the target, so the 3 negatives come from items 1 and 2 only.
    generator = torch.Generator().manual_seed(3)
    negatives = draw_negatives(torch.tensor([0]), 3, 3, torch.Generator().manual_seed(3))[0].tolist()
    loss = sampled_softmax_loss(model, hidden, torch.tensor([0]), 4, generator)
    scores = [1.0] + [{1: 1.0, 2: 2.0}[item] for item in negatives]
    expected = math.log(sum(math.exp(s) for s in scores)) - 1.0
    assert loss.item() == pytest.approx(expected, rel=1e-6)
