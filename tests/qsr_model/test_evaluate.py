import math

import pytest
import torch
from torch import nn

from qsr_graph.data import SequenceDataset
from qsr_model.base import SequentialRecommender
from qsr_model.config import ModelConfig
from qsr_model.evaluate import describe, evaluate, prepare_split, score_histories
from qsr_model.metrics import ranking_metrics, sample_negatives

# Items a=0 b=1 c=2 d=3 e=4; val targets d, b, a; test targets e, a, e.
SEQUENCES = {
    "u1": [("item", "a"), ("query", "x"), ("item", "b"), ("item", "c"), ("query", "y z"),
           ("item", "d"), ("item", "e")],
    "u2": [("query", "x"), ("item", "b"), ("item", "a")],
    "u3": [("item", "c"), ("item", "b"), ("item", "a"), ("query", "x"), ("item", "e")],
}


class FixedScores(SequentialRecommender):
    """Gives every history the same item scores, so item i has rank i."""

    def __init__(self, scores):
        super().__init__()
        self.config = ModelConfig(hidden_size=2, num_heads=1, max_length=4)
        self.scores = nn.Parameter(torch.tensor(scores))
        self.num_items = len(scores)

    def forward(self, batch):
        return torch.zeros(*batch.kinds.shape, 2)

    def item_scores(self, hidden):
        return self.scores.expand(hidden.shape[0], -1).clone()


@pytest.fixture
def dataset():
    return SequenceDataset.from_sequences(SEQUENCES)


@pytest.fixture
def model():
    return FixedScores([0.5, 0.4, 0.3, 0.2, 0.1])


def test_evaluate_val_all_items(dataset, model):
    result = evaluate(model, dataset, "val", ks=(1, 2), batch_size=2)
    # Ranks 3, 1, 0.
    assert result["HR@1"] == pytest.approx(1 / 3)
    assert result["HR@2"] == pytest.approx(2 / 3)
    assert result["NDCG@2"] == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert (result["split"], result["users"]) == ("val", 3)
    assert (result["sampled"], result["exclude_history"]) == (None, False)


def test_evaluate_test_split(dataset, model):
    result = evaluate(model, dataset, "test", ks=(1, 5))
    # Ranks 4, 0, 4.
    assert result["HR@1"] == pytest.approx(1 / 3)
    assert result["NDCG@5"] == pytest.approx((1 + 2 / math.log2(6)) / 3)


def test_exclude_history_filters_input_items(dataset, model):
    val = evaluate(model, dataset, "val", ks=(1,), exclude_history=True)
    # u1's history a, b, c lifts d to rank 0, u2 has no history item, u3's c, b go.
    assert val["HR@1"] == pytest.approx(2 / 3)
    assert val["exclude_history"] is True
    test = evaluate(model, dataset, "test", ks=(1,), exclude_history=True)
    # u3's history c, b, a leaves d above e.
    assert test["HR@1"] == pytest.approx(2 / 3)


def test_exclude_history_misses_repeated_target(model):
    repeat = SequenceDataset.from_sequences({"u": [("item", "a"), ("item", "b"), ("item", "a")]})
    two_items = FixedScores([0.9, 0.1])
    assert evaluate(two_items, repeat, "test", ks=(1,))["HR@1"] == 1.0
    assert evaluate(two_items, repeat, "test", ks=(1,), exclude_history=True)["HR@1"] == 0.0


def test_sampled_evaluation_uses_seeded_negatives(dataset, model):
    result = evaluate(model, dataset, "test", ks=(1, 2), eval_negatives=2, seed=5)
    negatives = sample_negatives(torch.tensor([4, 0, 4]), 5, 2, torch.Generator().manual_seed(5))
    scores = model.scores.detach()
    ranks = [(scores[row] >= scores[target]).sum().item()
             for target, row in zip([4, 0, 4], negatives)]
    assert ranks == [2, 0, 2]
    expected = ranking_metrics(torch.tensor(ranks), ks=(1, 2))
    assert {k: result[k] for k in expected} == expected
    assert result["sampled"] == 2
    assert describe(result) == "sampled ranking (2 negatives)"
    one_by_one = evaluate(model, dataset, "test", ks=(1, 2), eval_negatives=2, seed=5, batch_size=1)
    assert one_by_one == result


def test_evaluate_with_prepared_split(dataset, model):
    prepared = prepare_split(dataset, "val", max_length=4)
    assert evaluate(model, None, "val", prepared=prepared) == evaluate(model, dataset, "val")
    with pytest.raises(ValueError, match="the prepared split is 'val', not 'test'"):
        evaluate(model, None, "test", prepared=prepared)


def test_prepare_split_rejects_train(dataset):
    with pytest.raises(ValueError, match="split must be one of val, test, got 'train'"):
        prepare_split(dataset, "train", max_length=4)


def test_score_histories_restores_training_mode(dataset, model):
    batch = prepare_split(dataset, "val", max_length=4).windows.batch(slice(0, 2))
    model.train()
    scores = score_histories(model, batch)
    assert model.training
    assert not scores.requires_grad
    assert tuple(scores.shape) == (2, 5)


def test_describe_all_items():
    assert describe({"sampled": None, "exclude_history": True}) == (
        "all-item ranking, history items excluded")
