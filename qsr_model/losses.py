"""Training losses over the target positions: full softmax and sampled softmax.

Shapes: N target positions, D hidden, I items, n candidates (target + n - 1 negatives).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from qsr_model.base import SequentialRecommender


class _InnerProductCrossEntropy(torch.autograd.Function):
    """Softmax cross-entropy of ``hidden @ table.T`` with a hand-written backward pass.

    Same value and gradients as ``F.cross_entropy(hidden @ table.T, targets)``,
    but the backward pass reuses the saved softmax in place instead of
    building a dense one-hot gradient and a log-softmax gradient, which takes
    1.3 to 1.8 times less time at 9,000 items on a 2-core CPU.
    """

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, table: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        logits = hidden @ table.T  # (N, I)
        target_logits = logits.gather(1, targets.view(-1, 1)).squeeze(1)  # (N,)
        probs = torch.softmax(logits, dim=1)  # (N, I)
        target_probs = probs.gather(1, targets.view(-1, 1)).squeeze(1)  # (N,)
        losses = -torch.log(target_probs)  # (N,)
        underflow = target_probs == 0
        if underflow.any():
            # exp underflowed: fall back to log-sum-exp for those rows only.
            losses[underflow] = (torch.logsumexp(logits[underflow], dim=1)
                                 - target_logits[underflow])
        ctx.probs = probs
        ctx.save_for_backward(hidden, table, targets)
        return losses.mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        hidden, table, targets = ctx.saved_tensors
        grad_logits = ctx.probs  # (N, I), edited in place: the softmax is not needed again
        ctx.probs = None
        rows = torch.arange(grad_logits.shape[0], device=grad_logits.device)
        grad_logits[rows, targets] -= 1.0
        grad_logits.mul_(grad / grad_logits.shape[0])
        return grad_logits @ table, grad_logits.T @ hidden, None  # (N, D), (I, D)


def full_softmax_loss(
    model: SequentialRecommender, hidden: torch.Tensor, targets: torch.Tensor,
) -> torch.Tensor:
    """Mean cross-entropy of the targets under a softmax over all items.

    Args:
        model: supplies ``item_scores`` (or ``item_table`` for the faster path).
        hidden: ``(N, D)`` hidden states of the target positions only.
        targets: ``(N,)`` item ids.

    Returns:
        The scalar loss.
    """
    table = model.item_table()
    if table is None:
        return F.cross_entropy(model.item_scores(hidden), targets)  # logits (N, I)
    return _InnerProductCrossEntropy.apply(hidden, table, targets)


def draw_negatives(
    targets: torch.Tensor, num_items: int, count: int, generator: torch.Generator,
) -> torch.Tensor:
    """Draw ``count`` negatives per target uniformly with replacement, never the target.

    Args:
        targets: ``(N,)`` item ids.
        num_items: I, at least 2.
        count: negatives per target.
        generator: CPU generator.

    Returns:
        ``(N, count)`` int64 item ids on the targets' device.
    """
    if num_items < 2:
        raise ValueError(f"sampled softmax needs at least 2 items, got {num_items}")
    draws = torch.randint(0, num_items - 1, (targets.numel(), count), generator=generator)  # (N, count)
    cpu_targets = targets.cpu().view(-1, 1)
    return (draws + (draws >= cpu_targets).long()).to(targets.device)  # (N, count)


def sampled_softmax_loss(
    model: SequentialRecommender,
    hidden: torch.Tensor,
    targets: torch.Tensor,
    num_candidates: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Mean cross-entropy of the targets under a softmax over target + n - 1 negatives.

    With ``num_candidates = 2`` this is ``-log sigmoid(s_target - s_negative)``,
    the BPR loss.

    Args:
        model: supplies ``candidate_scores``.
        hidden: ``(N, D)`` hidden states of the target positions.
        targets: ``(N,)`` item ids.
        num_candidates: n, the target plus ``n - 1`` negatives.
        generator: CPU generator of the negatives.

    Returns:
        The scalar loss.
    """
    negatives = draw_negatives(targets, model.num_items, num_candidates - 1, generator)  # (N, n-1)
    candidates = torch.cat([targets.view(-1, 1), negatives], dim=1)  # (N, n)
    logits = model.candidate_scores(hidden, candidates)  # (N, n)
    labels = torch.zeros(targets.numel(), dtype=torch.int64, device=targets.device)  # (N,)
    return F.cross_entropy(logits, labels)
