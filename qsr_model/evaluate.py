"""Leave-last-out evaluation: rank the validation or test target of every user.

Shapes: N users of a batch, L length, D hidden, I items, C sampled negatives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from qsr_graph.data.dataset import KIND_ITEM, SequenceDataset
from qsr_model.base import SequentialRecommender
from qsr_model.batching import SequenceBatch, SequenceWindows, build_windows
from qsr_model.metrics import DEFAULT_KS, rank_of_target, ranking_metrics, sample_negatives, sampled_rank

EVAL_SPLITS = ("val", "test")

#: Users per draw of sampled-evaluation negatives.
NEGATIVE_CHUNK = 256


@dataclass
class EvaluationSplit:
    """Everything evaluation needs about one split, built once per run.

    Attributes:
        windows: the users' input windows with the target at the last position.
        history_ptr: ``(U + 1,)`` int64 offsets into ``history_items``.
        history_items: item ids of each user's whole input history (before the
            target, not only the window), for ``exclude_history``.
    """

    windows: SequenceWindows
    history_ptr: torch.Tensor
    history_items: torch.Tensor

    @property
    def split(self) -> str:
        return self.windows.split


def prepare_split(dataset: SequenceDataset, split: str, max_length: int,
                  use_queries: bool = True) -> EvaluationSplit:
    """Build the windows and the history items of ``split`` ("val" or "test")."""
    if split not in EVAL_SPLITS:
        raise ValueError(f"split must be one of {', '.join(EVAL_SPLITS)}, got {split!r}")
    windows = build_windows(dataset, split, max_length, use_queries=use_queries)
    val_pos, test_pos = dataset.split_positions()
    end = test_pos if split == "test" else val_pos
    users = dataset.user_index
    before_target = np.arange(dataset.num_events) < end[users]
    in_history = before_target & (dataset.kinds == KIND_ITEM)
    counts = np.bincount(users[in_history], minlength=dataset.num_users)
    history_ptr = np.concatenate([[0], np.cumsum(counts)])
    return EvaluationSplit(
        windows=windows,
        history_ptr=torch.from_numpy(history_ptr.astype(np.int64)),
        history_items=torch.from_numpy(dataset.tokens[in_history].astype(np.int64)),
    )


@torch.no_grad()
def score_histories(model: SequentialRecommender, batch: SequenceBatch) -> torch.Tensor:
    """Score every item after the last event of each history.

    The model runs in eval mode without gradients; its training mode is
    restored afterwards.

    Args:
        model: the recommender.
        batch: left-padded histories, on the model's device.

    Returns:
        ``(N, I)`` item scores.
    """
    was_training = model.training
    model.eval()
    try:
        hidden = model(batch)[:, -1]  # (N, D)
        return model.item_scores(hidden)  # (N, I)
    finally:
        model.train(was_training)


def _exclude_history(scores: torch.Tensor, prepared: EvaluationSplit, users: torch.Tensor) -> None:
    """Set the scores of items in each user's input history to -inf, in place."""
    ptr = prepared.history_ptr
    counts = ptr[users + 1] - ptr[users]  # (N,)
    rows = torch.repeat_interleave(torch.arange(len(users)), counts)
    starts = torch.repeat_interleave(ptr[users], counts)
    steps = torch.arange(int(counts.sum())) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    items = prepared.history_items[starts + steps]
    scores[rows.to(scores.device), items.to(scores.device)] = float("-inf")


def evaluate(
    model: SequentialRecommender,
    dataset: SequenceDataset | None,
    split: str = "val",
    *,
    use_queries: bool = True,
    batch_size: int = 256,
    eval_negatives: int | None = None,
    exclude_history: bool = False,
    seed: int = 0,
    ks: tuple[int, ...] = DEFAULT_KS,
    prepared: EvaluationSplit | None = None,
    show_progress: bool = False,
) -> dict:
    """Rank the target of every user of ``split`` and return HR@K and NDCG@K.

    Args:
        model: the recommender; evaluated on its current device.
        dataset: prepared sequences (ignored when ``prepared`` is given).
        split: "val" or "test".
        use_queries: False feeds the model item events only, as in training
            without queries.
        batch_size: users per forward pass.
        eval_negatives: rank the target against this many negatives drawn
            uniformly without replacement (never the target) instead of all
            items. None ranks all items.
        exclude_history: give the items of the user's input history the score
            -inf. A target that repeats a history item then counts as a miss.
        seed: seed of the negatives' generator, so sampled results repeat.
        ks: cut-offs.
        prepared: a split built by :func:`prepare_split`, to skip rebuilding it.
        show_progress: draw a progress bar.

    Returns:
        ``{"HR@5": ..., "NDCG@5": ..., ..., "split": split, "users": number of
        users, "sampled": eval_negatives, "exclude_history": bool}``; the metric
        values are exact means over users.
    """
    if prepared is None:
        if dataset is None:
            raise ValueError("evaluate needs a dataset or a prepared split")
        prepared = prepare_split(dataset, split, model.config.max_length, use_queries)  # type: ignore[union-attr]
    elif prepared.split != split:
        raise ValueError(f"the prepared split is {prepared.split!r}, not {split!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    windows = prepared.windows

    negatives_by_user = None
    if eval_negatives is not None:
        # Drawn in user order, in fixed chunks, so each user's negatives do not
        # depend on the batch size or the batch order below.
        all_targets = windows.targets[:, -1]  # (U,)
        negatives_by_user = torch.cat([
            sample_negatives(chunk, model.num_items, eval_negatives, generator)
            for chunk in all_targets.split(NEGATIVE_CHUNK)]) if len(windows) else None  # (U, C)

    # Users sorted by window length give short trimmed batches; the metrics
    # are means over users, so the order does not change them.
    lengths = (windows.kinds != 0).sum(dim=1)  # (U,)
    order = torch.argsort(lengths, stable=True)  # (U,)
    ranks = []
    for rows in tqdm(order.split(batch_size), desc=f"evaluate {split}", unit="batch",
                     disable=not show_progress, leave=False):
        batch = windows.batch(rows).to(device)
        targets = batch.targets[:, -1]  # (N,)
        scores = score_histories(model, batch)  # (N, I)
        if exclude_history:
            _exclude_history(scores, prepared, windows.users[rows])
        if eval_negatives is None:
            ranks.append(rank_of_target(scores, targets).cpu())
        else:
            negatives = negatives_by_user[rows].to(scores.device)  # (N, C)
            target_scores = scores.gather(1, targets.view(-1, 1)).squeeze(1)  # (N,)
            ranks.append(sampled_rank(target_scores, scores.gather(1, negatives)).cpu())

    result: dict = ranking_metrics(torch.cat(ranks) if ranks else torch.zeros(0), ks=ks)
    result.update(split=split, users=len(windows), sampled=eval_negatives,
                  exclude_history=exclude_history)
    return result


def describe(result: dict) -> str:
    """Return how a result was ranked, e.g. "all-item ranking" or "sampled ranking (100 negatives)"."""
    text = ("all-item ranking" if result.get("sampled") is None
            else f"sampled ranking ({result['sampled']} negatives)")
    if result.get("exclude_history"):
        text += ", history items excluded"
    return text
