"""Reference rows that learn nothing: popular items, repeat consumption, query-linked items.

Each row scores every item for every user from the input of one split: all of
the user's events before that split's target, as the models see them. The
scores are ranked by the same metric code as the models, so ties count against
the target. Shapes: N users in a chunk, I items.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from qsr_graph.data.dataset import KIND_ITEM, KIND_QUERY, SequenceDataset
from qsr_model.metrics import rank_of_target, ranking_metrics

logger = logging.getLogger(__name__)

#: Names of the reference rows, in the order the results table lists them.
REFERENCE_ROWS = ("popularity", "repeat", "query-linked")

#: Row labels for printed tables.
REFERENCE_LABELS = {
    "popularity": "Popularity (most frequent training items)",
    "repeat": "Repeat (user's most recent distinct items)",
    "query-linked": "Query-linked (items linked to the latest query)",
}

SPLITS = ("val", "test")

QUERY_LEADS_TO_ITEM = ("query", "leads_to", "item")


@dataclass
class SplitInputs:
    """The events each user has before the target of one split.

    Args:
        starts (np.ndarray): ``[num_users]`` int64, absolute index of the first
            input event of each user.
        ends (np.ndarray): ``[num_users]`` int64, absolute index of the target;
            the input is ``events[starts[u]:ends[u]]`` (empty when equal).
        targets (np.ndarray): ``[num_users]`` int64 target item ids.
    """

    starts: np.ndarray
    ends: np.ndarray
    targets: np.ndarray


def split_inputs(dataset: SequenceDataset, split: str = "test",
                 max_length: int | None = None) -> SplitInputs:
    """Locate every user's input events and target item for ``split``.

    Args:
        dataset (SequenceDataset): the prepared sequences.
        split (str, optional): ``"val"`` or ``"test"``. The test input contains
            the validation target. (default: ``"test"``)
        max_length (int, optional): keep only the latest ``max_length`` input
            events; ``None`` keeps the whole history. (default: ``None``)

    Returns:
        The :class:`SplitInputs` of all users.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    val_pos, test_pos = dataset.split_positions()
    ends = val_pos if split == "val" else test_pos
    starts = dataset.offsets[:-1].copy()
    if max_length is not None:
        starts = np.maximum(starts, ends - max_length)
    return SplitInputs(starts=starts, ends=ends, targets=dataset.tokens[ends].copy())


class PopularityScorer:
    """Score each item by its number of occurrences in the training events.

    Every user gets the same row, so items with equal counts tie.
    """

    def __init__(self, dataset: SequenceDataset) -> None:
        train_items = dataset.tokens[dataset.train_mask() & (dataset.kinds == KIND_ITEM)]
        counts = np.bincount(train_items, minlength=dataset.num_items)
        self.counts = torch.from_numpy(counts.astype(np.float32))  # (I,)

    def __call__(self, inputs: SplitInputs, users: np.ndarray) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(len(users), -1)  # (N, I)


class RepeatScorer:
    """Score the items of the user's input by recency of their last occurrence.

    An item scores ``1 + j`` where ``j`` is the input position of its latest
    occurrence, so the most recent distinct item ranks first. Items that are
    not in the input score 0, below every input item, and tie with each other.
    """

    def __init__(self, dataset: SequenceDataset) -> None:
        self.kinds = dataset.kinds
        self.tokens = dataset.tokens
        self.num_items = dataset.num_items

    def __call__(self, inputs: SplitInputs, users: np.ndarray) -> torch.Tensor:
        starts, ends = inputs.starts[users], inputs.ends[users]
        lengths = ends - starts
        rows = np.repeat(np.arange(len(users)), lengths)
        # Absolute event index and position within the input of every input event.
        positions = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        events = np.repeat(starts, lengths) + positions
        is_item = self.kinds[events] == KIND_ITEM
        flat = rows[is_item] * self.num_items + self.tokens[events[is_item]]
        scores = torch.zeros(len(users) * self.num_items)
        scores.scatter_reduce_(0, torch.from_numpy(flat),
                               torch.from_numpy(positions[is_item] + 1.0).float(), reduce="amax")
        return scores.view(len(users), self.num_items)  # (N, I)


class QueryLinkedScorer:
    """Score items by their ``leads_to`` edge weight from the user's latest input query.

    The weights are the query-item pair counts of the training graph, after its
    alpha threshold. A user without a query in the input, or whose latest query
    has no edge, gets a row of zeros: every item ties with the target, which the
    tie rule ranks last, so such a user counts as a miss.
    """

    def __init__(self, dataset: SequenceDataset, graph: HeteroData) -> None:
        if QUERY_LEADS_TO_ITEM not in graph.edge_types:
            raise ValueError(f"the graph has no {QUERY_LEADS_TO_ITEM} edges; build it with 'qsr graph build'")
        store = graph[QUERY_LEADS_TO_ITEM]
        num_queries, num_items = graph["query"].num_nodes, graph["item"].num_nodes
        if (num_queries, num_items) != (dataset.num_queries, dataset.num_items):
            raise ValueError(
                f"the graph has {num_queries} queries and {num_items} items but the dataset has "
                f"{dataset.num_queries} and {dataset.num_items}; build the graph from this dataset")
        edge_index = store.edge_index.numpy()
        weight = store.edge_weight.numpy() if "edge_weight" in store else np.ones(edge_index.shape[1])
        self.links = sp.csr_matrix((weight.astype(np.float32), (edge_index[0], edge_index[1])),
                                   shape=(num_queries, num_items))  # (Q, I)

        # Index of the latest query event at or before each event (-1 for none).
        index = np.where(dataset.kinds == KIND_QUERY, np.arange(dataset.num_events), -1)
        self.latest_query_event = np.maximum.accumulate(index) if len(index) else index
        self.tokens = dataset.tokens

    def latest_queries(self, inputs: SplitInputs, users: np.ndarray) -> np.ndarray:
        """Return the latest input query id of each user, -1 where there is none."""
        ends = inputs.ends[users]
        # The latest query at or before the last input event counts only when it
        # lies inside the input window (not in an earlier user's events).
        event = np.where(ends > 0, self.latest_query_event[np.maximum(ends - 1, 0)], -1)
        inside = (event >= inputs.starts[users]) & (event >= 0)
        return np.where(inside, self.tokens[np.maximum(event, 0)], -1)

    def __call__(self, inputs: SplitInputs, users: np.ndarray) -> torch.Tensor:
        queries = self.latest_queries(inputs, users)
        has_query = queries >= 0
        scores = np.zeros((len(users), self.links.shape[1]), dtype=np.float32)
        if has_query.any():
            scores[has_query] = self.links[queries[has_query]].toarray()
        return torch.from_numpy(scores)  # (N, I)


Scorer = Callable[[SplitInputs, np.ndarray], torch.Tensor]


def make_scorer(row: str, dataset: SequenceDataset, graph: HeteroData | None = None) -> Scorer:
    """Build the scorer of one reference row.

    Args:
        row (str): one of :data:`REFERENCE_ROWS`.
        dataset (SequenceDataset): the prepared sequences.
        graph (HeteroData, optional): the training graph, needed by
            ``"query-linked"``.

    Returns:
        A callable ``(inputs, users) -> scores (N, I)``.
    """
    if row == "popularity":
        return PopularityScorer(dataset)
    if row == "repeat":
        return RepeatScorer(dataset)
    if row == "query-linked":
        if graph is None:
            raise ValueError("the query-linked reference row needs the graph (--graph)")
        return QueryLinkedScorer(dataset, graph)
    raise ValueError(f"unknown reference row {row!r}; expected one of {', '.join(REFERENCE_ROWS)}")


def evaluate_reference(row: str, dataset: SequenceDataset, graph: HeteroData | None = None,
                       split: str = "test", ks: tuple[int, ...] = (5, 10, 20),
                       chunk_size: int = 1024, max_length: int | None = None) -> dict[str, float]:
    """Rank every item for every user with one reference row and return its metrics.

    Args:
        row (str): one of :data:`REFERENCE_ROWS`.
        dataset (SequenceDataset): the prepared sequences.
        graph (HeteroData, optional): the training graph (for ``"query-linked"``).
        split (str, optional): ``"val"`` or ``"test"``. (default: ``"test"``)
        ks (tuple[int, ...], optional): cut-offs of HR@K and NDCG@K.
            (default: ``(5, 10, 20)``)
        chunk_size (int, optional): users scored at once. (default: ``1024``)
        max_length (int, optional): latest input events used per user;
            ``None`` uses the whole history. (default: ``None``)

    Returns:
        The metrics of :func:`qsr_model.metrics.ranking_metrics` (exact means
        over all users), e.g. ``{"HR@20": ..., "NDCG@20": ...}``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    scorer = make_scorer(row, dataset, graph)
    inputs = split_inputs(dataset, split, max_length=max_length)
    ranks = []
    for first in range(0, dataset.num_users, chunk_size):
        users = np.arange(first, min(first + chunk_size, dataset.num_users))
        scores = scorer(inputs, users)  # (N, I)
        targets = torch.from_numpy(inputs.targets[users])  # (N,)
        ranks.append(rank_of_target(scores, targets))
    metrics = ranking_metrics(torch.cat(ranks), ks=ks)
    logger.info("reference row %s on %s: %s", row, split,
                ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
    return metrics


def evaluate_references(dataset: SequenceDataset, graph: HeteroData | None = None,
                        split: str = "test", rows: tuple[str, ...] = REFERENCE_ROWS,
                        ks: tuple[int, ...] = (5, 10, 20)) -> dict[str, dict[str, float]]:
    """Return the metrics of several reference rows, keyed by row name."""
    return {row: evaluate_reference(row, dataset, graph, split=split, ks=ks) for row in rows}
