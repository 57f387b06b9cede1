import math

import pytest
import torch

from qsr_model.metrics import rank_of_target, ranking_metrics, sample_negatives, sampled_rank


def test_rank_counts_ties_against_target():
    scores = torch.tensor([
        [0.1, 0.9, 0.5, 0.2],  # target 1 is best
        [0.3, 0.3, 0.3, 0.3],  # all equal: last
        [0.7, 0.2, 0.7, 0.1],  # one tie and nothing above
        [0.4, 0.8, 0.6, 0.0],  # target 3 is worst
    ])
    assert rank_of_target(scores, torch.tensor([1, 2, 0, 3])).tolist() == [0, 3, 1, 3]


def test_equal_scores_give_zero_hit_rate():
    ranks = rank_of_target(torch.zeros(3, 50), torch.tensor([0, 10, 49]))
    metrics = ranking_metrics(ranks, ks=(5, 10, 20))
    assert set(metrics.values()) == {0.0}


def test_ranking_metrics_values():
    metrics = ranking_metrics(torch.tensor([0, 3, 9, 30]), ks=(5, 10))
    assert list(metrics) == ["HR@5", "NDCG@5", "HR@10", "NDCG@10"]
    assert metrics["HR@5"] == 0.5
    assert metrics["HR@10"] == 0.75
    assert metrics["NDCG@5"] == pytest.approx((1.0 + 1 / math.log2(5)) / 4)
    assert metrics["NDCG@10"] == pytest.approx((1.0 + 1 / math.log2(5) + 1 / math.log2(11)) / 4)


def test_ranking_metrics_is_exact_mean_over_users():
    # Means of batch means would give (1 + 0.5) / 2 = 0.75 for batches [0] and [0, 99].
    assert ranking_metrics([0, 0, 99], ks=(5,))["HR@5"] == pytest.approx(2 / 3)


def test_sample_negatives_never_target_and_distinct():
    generator = torch.Generator().manual_seed(0)
    targets = torch.tensor([0, 3, 5, 5])
    negatives = sample_negatives(targets, num_items=6, num_negatives=5, generator=generator)
    for target, row in zip(targets.tolist(), negatives.tolist()):
        assert sorted(row) == [i for i in range(6) if i != target]


def test_sample_negatives_fixed_seed():
    targets = torch.arange(10)
    first = sample_negatives(targets, 100, 7, torch.Generator().manual_seed(3))
    second = sample_negatives(targets, 100, 7, torch.Generator().manual_seed(3))
    assert torch.equal(first, second)
    assert not (first == targets.view(-1, 1)).any()


def test_sample_negatives_rejects_too_many():
    with pytest.raises(ValueError, match="between 1 and 5 negatives"):
        sample_negatives(torch.tensor([0]), 6, 6, torch.Generator())


def test_sampled_rank_ties_against_target():
    ranks = sampled_rank(torch.tensor([0.5, 0.5]), torch.tensor([[0.1, 0.5, 0.2], [0.9, 0.6, 0.7]]))
    assert ranks.tolist() == [1, 3]
