"""Ranking metrics: the target's rank with ties counted against it, HR@K and NDCG@K.

Shapes: N rows (users), I items, C sampled negatives.
"""
from __future__ import annotations

from typing import Iterable

import torch

DEFAULT_KS = (5, 10, 20)


def rank_of_target(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Return the 0-based rank of each target among all items, ties counted against it.

    The rank is the number of other items whose score is at least the target's,
    so a model that gives every item the same score ranks the target last.

    Args:
        scores: ``(N, I)`` item scores.
        targets: ``(N,)`` target item ids.

    Returns:
        ``(N,)`` int64 ranks.

    Example:
        >>> rank_of_target(torch.tensor([[0.5, 0.9, 0.5], [1.0, 1.0, 1.0]]), torch.tensor([0, 1]))
        tensor([2, 2])
    """
    target_scores = scores.gather(1, targets.view(-1, 1))  # (N, 1)
    return (scores >= target_scores).sum(dim=1) - 1  # (N,)


def ranking_metrics(ranks: torch.Tensor | Iterable[int], ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, float]:
    """Compute HR@K and NDCG@K from the 0-based ranks of all users.

    HR@K is the share of ranks below K. NDCG@K with one relevant item is the
    mean of ``1 / log2(rank + 2)`` where the rank is below K, else 0. Both are
    exact means over the given users.

    Args:
        ranks: ``(N,)`` ranks of every user, not of one batch.
        ks: cut-offs.

    Returns:
        ``{"HR@5": ..., "NDCG@5": ..., ...}`` in the order of ``ks``; 0.0
        everywhere when there are no users.

    Example:
        >>> ranking_metrics(torch.tensor([0, 1, 7]), ks=(2,))
        {'HR@2': 0.6666666666666666, 'NDCG@2': 0.5436432511904858}
    """
    ranks = torch.as_tensor(ranks, dtype=torch.float64).reshape(-1)  # (N,)
    count = ranks.numel()
    result: dict[str, float] = {}
    for k in ks:
        hit = ranks < k  # (N,)
        gain = torch.where(hit, 1.0 / torch.log2(ranks + 2), torch.zeros_like(ranks))  # (N,)
        result[f"HR@{k}"] = float(hit.sum()) / count if count else 0.0
        result[f"NDCG@{k}"] = float(gain.sum()) / count if count else 0.0
    return result


def sample_negatives(
    targets: torch.Tensor, num_items: int, num_negatives: int, generator: torch.Generator,
) -> torch.Tensor:
    """Draw negatives uniformly without replacement, never the row's target.

    Args:
        targets: ``(N,)`` target item ids.
        num_items: I.
        num_negatives: C, at most ``I - 1``.
        generator: CPU generator; a fixed seed gives fixed negatives.

    Returns:
        ``(N, C)`` int64 item ids on the targets' device.
    """
    if not 1 <= num_negatives <= num_items - 1:
        raise ValueError(
            f"sampled ranking needs between 1 and {num_items - 1} negatives "
            f"(the number of items minus the target), got {num_negatives}")
    targets = targets.reshape(-1)
    noise = torch.rand((targets.numel(), num_items - 1), generator=generator)  # (N, I-1)
    picks = noise.topk(num_negatives, dim=1).indices  # (N, C) in [0, I-2]
    # Shift ids at or above the target by one so the target is skipped.
    cpu_targets = targets.cpu().view(-1, 1)
    return (picks + (picks >= cpu_targets).long()).to(targets.device)  # (N, C)


def sampled_rank(target_scores: torch.Tensor, negative_scores: torch.Tensor) -> torch.Tensor:
    """Return the target's 0-based rank among itself and its negatives, ties against it.

    Args:
        target_scores: ``(N,)``.
        negative_scores: ``(N, C)``.

    Returns:
        ``(N,)`` int64 ranks in ``[0, C]``.
    """
    return (negative_scores >= target_scores.view(-1, 1)).sum(dim=1)  # (N,)


def headline(metrics: dict[str, float], k: int = 20) -> str:
    """Format ``HR@k`` and ``NDCG@k`` for a log line."""
    return f"HR@{k} {metrics[f'HR@{k}']:.4f} NDCG@{k} {metrics[f'NDCG@{k}']:.4f}"

