import pytest
import torch

from qsr_model.batching import SequenceBatch, make_batch
from qsr_model.config import ModelConfig
from qsr_model.losses import full_softmax_loss
from qsr_model.query_seqrec import QuerySeqRec

CONFIG = ModelConfig(hidden_size=8, num_blocks=2, num_heads=2, max_length=6, dropout=0.2)


def small_model(seed=0, config=CONFIG):
    torch.manual_seed(seed)
    return QuerySeqRec(config, num_items=7, num_words=5)


def history_batch(max_length=6):
    # Two histories: item, query, item, item / query, item.
    return make_batch(
        kinds=[[1, 2, 1, 1], [2, 1]],
        items=[[3, 0, 5, 1], [0, 6]],
        words=[[[], [0, 4], [], []], [[1, 2, 3], []]],
        max_length=max_length)


def test_forward_shapes():
    model = small_model().eval()
    batch = history_batch()
    hidden = model(batch)
    assert tuple(hidden.shape) == (2, 4, 8)
    assert tuple(model.item_scores(hidden[:, -1]).shape) == (2, 7)
    items = torch.tensor([[1, 2, 3], [4, 5, 6]])
    candidates = model.candidate_scores(hidden[:, -1], items)
    full = model.item_scores(hidden[:, -1])
    assert torch.allclose(candidates, full.gather(1, items))


def test_outputs_are_causal():
    model = small_model().eval()
    batch = history_batch()
    changed = SequenceBatch(batch.kinds.clone(), batch.items.clone(), batch.words.clone(),
                            batch.targets.clone())
    changed.items[0, 3] = 2
    with torch.no_grad():
        before, after = model(batch), model(changed)
    assert torch.equal(before[0, :3], after[0, :3])
    assert not torch.allclose(before[0, 3], after[0, 3])


def test_left_padding_does_not_change_outputs():
    model = small_model().eval()
    short = make_batch([[2, 1]], [[0, 6]], [[[1, 2, 3], []]], max_length=6)
    padded = history_batch()  # the same history, left-padded to length 4
    with torch.no_grad():
        alone = model(short)[0]
        in_batch = model(padded)[1, 2:]
    assert torch.allclose(alone, in_batch, atol=1e-6)


def test_all_padding_row_gives_finite_output():
    model = small_model().eval()
    batch = history_batch()
    batch.kinds[1] = 0
    batch.items[1] = 0
    batch.words[1] = -1
    with torch.no_grad():
        hidden = model(batch)
    assert torch.isfinite(hidden).all()


def test_query_embedding_is_word_mean():
    model = small_model().eval()
    batch = make_batch([[2]], [[0]], [[[1, 3]]], max_length=6)
    expected = ((model.word_emb.weight[1] + model.word_emb.weight[3]) / 2
                + model.type_emb.weight[2] + model.pos_emb.weight[0])
    assert torch.allclose(model.embed(batch)[0, 0], expected)


def test_every_parameter_learns_in_one_step():
    model = small_model()
    batch = history_batch()
    batch.targets[0, 1:3] = torch.tensor([5, 1])
    batch.targets[1, 0] = 6
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    hidden = model(batch)
    mask = batch.targets >= 0
    loss = full_softmax_loss(model, hidden[mask], batch.targets[mask])
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
    optimizer.step()
    for name, parameter in model.named_parameters():
        assert not torch.equal(parameter, before[name]), name


def test_rejects_batch_longer_than_max_length():
    model = small_model(config=ModelConfig(hidden_size=8, max_length=3))
    with pytest.raises(ValueError, match="batch length 4 exceeds the model's max_length 3"):
        model(history_batch())
