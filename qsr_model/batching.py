"""Left-padded model batches built from prepared sequences or from raw histories.

Shapes: B batch, L window length (the latest event sits at L - 1), W words per
query, U users of a split.

A training window contains the events before the user's validation target. Its
targets are the next item at every position whose next event is an item; a
position followed by a query, the last position and padding get -1. An
evaluation window ("val" or "test") holds the events before that split's target
and carries the target at its last position only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from qsr_graph.data.dataset import KIND_ITEM, KIND_PAD, KIND_QUERY, WORD_PAD, SequenceDataset

SPLITS = ("train", "val", "test")

#: ``sampler(kinds, tokens, generator, mask) -> tokens``, e.g. a ReplacementSampler.
TokenSampler = Callable[..., torch.Tensor]


@dataclass
class SequenceBatch:
    """One left-padded batch of event sequences.

    Attributes:
        kinds: ``(B, L)`` int64 event kinds (0 pad, 1 item, 2 query).
        items: ``(B, L)`` int64 item ids, 0 where the event is not an item.
        words: ``(B, L, W)`` int64 word ids of queries, -1 elsewhere.
        targets: ``(B, L)`` int64 next-item ids, -1 where nothing is predicted.
    """

    kinds: torch.Tensor
    items: torch.Tensor
    words: torch.Tensor
    targets: torch.Tensor

    def to(self, device: torch.device | str) -> "SequenceBatch":
        """Return the batch with every tensor on ``device``."""
        return SequenceBatch(self.kinds.to(device), self.items.to(device),
                             self.words.to(device), self.targets.to(device))

    def __len__(self) -> int:
        return int(self.kinds.shape[0])


@dataclass
class SequenceWindows:
    """Every user's window of one split, as tensors ready to be sliced into batches.

    Attributes:
        split: "train", "val" or "test".
        users: ``(U,)`` int64 dataset user ids of the rows.
        kinds: ``(U, L)`` int64 event kinds, 0 for padding.
        tokens: ``(U, L)`` int64 0-based item or query ids, 0 for padding.
        targets: ``(U, L)`` int64 next-item ids, -1 where nothing is predicted.
        query_words: ``(num_queries, W)`` int64 word bags of the dataset's queries.
    """

    split: str
    users: torch.Tensor
    kinds: torch.Tensor
    tokens: torch.Tensor
    targets: torch.Tensor
    query_words: torch.Tensor

    def __len__(self) -> int:
        return int(self.kinds.shape[0])

    @property
    def num_targets(self) -> int:
        """Number of positions with a target, over all rows."""
        return int((self.targets >= 0).sum())

    def batch(
        self,
        rows: torch.Tensor | slice,
        sampler: TokenSampler | None = None,
        generator: torch.Generator | None = None,
        trim: bool = True,
    ) -> SequenceBatch:
        """Gather the batch of ``rows``, optionally replacing tokens first.

        Args:
            rows: row indices ``(B,)`` or a slice.
            sampler: augmentation called as ``sampler(kinds, tokens, generator,
                mask=kinds != 0)`` on the 0-based tokens, so that a replaced
                query brings its own word bag. Targets are never replaced.
            generator: random generator passed to ``sampler``.
            trim: drop the leading columns that are padding in every row, so
                the batch is only as long as its longest window.

        Returns:
            The :class:`SequenceBatch` on the CPU.
        """
        kinds = self.kinds[rows]  # (B, L)
        tokens = self.tokens[rows]  # (B, L)
        targets = self.targets[rows]  # (B, L)
        if trim:
            # Left padding puts every all-padding column first. Models count
            # positions back from the latest event, so dropping them is exact.
            present = (kinds != KIND_PAD).any(dim=0)  # (L,)
            first = int(present.to(torch.int8).argmax()) if bool(present.any()) else kinds.shape[1] - 1
            kinds, tokens, targets = kinds[:, first:], tokens[:, first:], targets[:, first:]  # (B, L')
        if sampler is not None:
            tokens = sampler(kinds, tokens, generator, mask=kinds != KIND_PAD)  # (B, L')
        return gather_batch(kinds, tokens, targets, self.query_words)


def gather_batch(
    kinds: torch.Tensor, tokens: torch.Tensor, targets: torch.Tensor, query_words: torch.Tensor,
) -> SequenceBatch:
    """Turn 0-based ``(kinds, tokens)`` into item ids and query word bags.

    Args:
        kinds: ``(B, L)`` int64 event kinds.
        tokens: ``(B, L)`` int64 item or query ids (any value at padding).
        targets: ``(B, L)`` int64 next-item ids.
        query_words: ``(num_queries, W)`` int64 word bags padded with -1.

    Returns:
        The :class:`SequenceBatch`.
    """
    is_item = kinds == KIND_ITEM  # (B, L)
    is_query = kinds == KIND_QUERY  # (B, L)
    items = torch.where(is_item, tokens, torch.zeros_like(tokens))  # (B, L)
    width = max(int(query_words.shape[1]), 1)
    words = torch.full((*kinds.shape, width), WORD_PAD, dtype=torch.int64)  # (B, L, W)
    if is_query.any():
        words[is_query] = query_words[tokens[is_query]]  # (Nq, W)
    return SequenceBatch(kinds=kinds, items=items, words=words, targets=targets)


def _split_ranges(dataset: SequenceDataset, split: str, use_queries: bool) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the (kinds, tokens) arrays in use and each user's input range and target."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    val_pos, test_pos = dataset.split_positions()
    end = test_pos if split == "test" else val_pos  # the input stops before this event
    target = dataset.tokens[end]
    kinds = dataset.kinds.astype(np.int64)
    tokens = dataset.tokens
    starts = dataset.offsets[:-1]
    if not use_queries:
        # Renumber positions over item events only; every target is an item, so
        # it keeps its place in the filtered arrays.
        keep = kinds == KIND_ITEM
        before = np.concatenate([[0], np.cumsum(keep)])  # kept events before each position
        kinds, tokens = kinds[keep], tokens[keep]
        starts, end = before[starts], before[end]
    return kinds, tokens, starts, end, target


def build_windows(
    dataset: SequenceDataset, split: str, max_length: int, use_queries: bool = True,
) -> SequenceWindows:
    """Build the windows of every user for one split, vectorised over users.

    Args:
        dataset: prepared sequences.
        split: "train" (every position of the training events is a candidate
            target), "val" or "test" (target = the split's item).
        max_length: L, the number of latest input events kept.
        use_queries: False removes query events before windowing.

    Returns:
        The :class:`SequenceWindows`. For "train", users without any target are
        left out.

    Example:
        >>> ds = SequenceDataset.from_sequences(
        ...     {"u": [("item", "a"), ("query", "q"), ("item", "b"), ("item", "c"), ("item", "d")]})
        >>> w = build_windows(ds, "train", max_length=4)
        >>> w.kinds.tolist(), w.tokens.tolist(), w.targets.tolist()
        ([[0, 1, 2, 1]], [[0, 0, 0, 1]], [[-1, -1, 1, -1]])
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    kinds, tokens, starts, end, target = _split_ranges(dataset, split, use_queries)
    num_users = len(starts)
    begin = np.maximum(starts, end - max_length)
    lengths = end - begin  # (U,)
    total = int(lengths.sum())

    # Each kept event's row, column and source position:
    rows = np.repeat(np.arange(num_users), lengths)
    step = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    source = np.repeat(begin, lengths) + step
    cols = max_length - np.repeat(lengths, lengths) + step

    window_kinds = np.zeros((num_users, max_length), dtype=np.int64)  # (U, L)
    window_tokens = np.zeros((num_users, max_length), dtype=np.int64)  # (U, L)
    window_targets = np.full((num_users, max_length), -1, dtype=np.int64)  # (U, L)
    window_kinds[rows, cols] = kinds[source]
    window_tokens[rows, cols] = tokens[source]
    if split == "train":
        # The next event of position t is inside the input unless t is last.
        following = source + 1
        inside = following < np.repeat(end, lengths)
        following = np.minimum(following, len(kinds) - 1)
        is_target = inside & (kinds[following] == KIND_ITEM)
        window_targets[rows[is_target], cols[is_target]] = tokens[following[is_target]]
    else:
        window_targets[:, -1] = target

    users = np.arange(num_users)
    if split == "train":
        users = np.flatnonzero((window_targets >= 0).any(axis=1))
    return SequenceWindows(
        split=split,
        users=torch.from_numpy(users.astype(np.int64)),
        kinds=torch.from_numpy(window_kinds[users]),
        tokens=torch.from_numpy(window_tokens[users]),
        targets=torch.from_numpy(window_targets[users]),
        query_words=torch.from_numpy(np.ascontiguousarray(dataset.query_words, dtype=np.int64)),
    )


def make_batch(
    kinds: Sequence[Sequence[int]],
    items: Sequence[Sequence[int]],
    words: Sequence[Sequence[Sequence[int]]],
    max_length: int,
) -> SequenceBatch:
    """Encode arbitrary histories, e.g. for inference, into one left-padded batch.

    Queries come as raw word-id bags, so a query that is not in the dataset's
    vocabulary still works as long as its words are known. Each history keeps
    its latest ``max_length`` events; the batch length is the longest kept
    history, and targets are all -1.

    Args:
        kinds: per history, the kind of each event (1 item, 2 query).
        items: per history, the item id of each event (ignored for queries).
        words: per history, the word ids of each event (ignored for items;
            an empty bag is allowed).
        max_length: the model's L.

    Returns:
        The :class:`SequenceBatch` on the CPU.

    Example:
        >>> b = make_batch([[1, 2]], [[4, 0]], [[[], [7, 8]]], max_length=3)
        >>> b.kinds.tolist(), b.items.tolist(), b.words.tolist()
        ([[1, 2]], [[4, 0]], [[[-1, -1], [7, 8]]])
    """
    if not len(kinds) == len(items) == len(words):
        raise ValueError(
            f"kinds, items and words must list the same histories; got "
            f"{len(kinds)}, {len(items)} and {len(words)}")
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    kept = []
    for index, (history_kinds, history_items, history_words) in enumerate(zip(kinds, items, words)):
        if not len(history_kinds) == len(history_items) == len(history_words):
            raise ValueError(
                f"history {index}: kinds, items and words must have one entry per event")
        bad = [k for k in history_kinds if k not in (KIND_ITEM, KIND_QUERY)]
        if bad:
            raise ValueError(f"history {index}: event kind must be 1 (item) or 2 (query), got {bad[0]}")
        start = max(len(history_kinds) - max_length, 0)
        kept.append((list(history_kinds)[start:], list(history_items)[start:],
                     [list(bag) for bag in history_words][start:]))
    length = max([len(k) for k, _, _ in kept], default=0) or 1
    width = max([len(bag) for _, _, bags in kept for bag in bags], default=0) or 1

    batch_kinds = torch.zeros((len(kept), length), dtype=torch.int64)  # (B, L)
    batch_items = torch.zeros((len(kept), length), dtype=torch.int64)  # (B, L)
    batch_words = torch.full((len(kept), length, width), WORD_PAD, dtype=torch.int64)  # (B, L, W)
    for row, (history_kinds, history_items, bags) in enumerate(kept):
        offset = length - len(history_kinds)
        for step, (kind, item, bag) in enumerate(zip(history_kinds, history_items, bags)):
            batch_kinds[row, offset + step] = kind
            if kind == KIND_ITEM:
                batch_items[row, offset + step] = item
            elif bag:
                batch_words[row, offset + step, :len(bag)] = torch.tensor(bag, dtype=torch.int64)
    targets = torch.full_like(batch_kinds, -1)  # (B, L)
    return SequenceBatch(kinds=batch_kinds, items=batch_items, words=batch_words, targets=targets)
