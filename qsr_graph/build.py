"""Build the query-item graph of a prepared dataset as a PyTorch Geometric ``HeteroData``.

Layout of the result (``I`` items, ``Q`` queries, ``W`` words per query):

* ``data["item"]``: ``num_nodes``, ``name`` (raw item ids), ``frequency`` [I]
  (occurrences in training events), ``degree_e1`` [I] (distinct linked queries
  before alpha) and ``num_candidates`` [I] (two-hop set size before the cap).
* ``data["query"]``: the same, plus ``words`` [Q, W] (word ids, -1 padded).
  Here ``name`` is the normalised query text.
* ``data["item", "searched_by", "query"]`` and ``data["query", "leads_to",
  "item"]``: ``edge_index`` [2, E] (row = source) and ``edge_weight`` [E]
  (pair counts), each thresholded by alpha from its own source side.
* ``data["item", "similar", "item"]`` and ``data["query", "similar",
  "query"]``: ``edge_index`` [2, S] sorted by (row, col), no self-loops, and
  ``edge_weight`` [S] (shared neighbours).
* ``data.graph_config`` (the :class:`GraphConfig` as a dict) and
  ``data.build_stats`` (counts printed by ``qsr graph build``).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from qsr_graph.data.dataset import KIND_ITEM, KIND_QUERY, SequenceDataset
from qsr_graph.similar import SimilarSets, similar_sets, top_per_row

logger = logging.getLogger(__name__)

ITEM = "item"
QUERY = "query"
SEARCHED_BY = (ITEM, "searched_by", QUERY)
LEADS_TO = (QUERY, "leads_to", ITEM)
ITEM_SIMILAR = (ITEM, "similar", ITEM)
QUERY_SIMILAR = (QUERY, "similar", QUERY)


@dataclass
class GraphConfig:
    """Options of :func:`build_graph`.

    Args:
        alpha (float): share of each node's E1 links that it keeps, in (0, 1];
            a node with ``n`` links keeps its ``ceil(alpha * n)`` heaviest.
        max_similar (int | None): cap on each node's similar set; the nodes
            with the most shared neighbours are kept. ``None`` keeps all.
        max_expand (int | None): a node with more links than this passes on
            only its heaviest ``max_expand`` links when two-hop sets are
            formed. ``None`` expands all links.
        chunk_output (int): two-hop paths computed per chunk of rows; bounds
            the temporary memory of the similar-set product.
    """

    alpha: float = 1.0
    # The similar sets take 20 bytes per link in memory (int64 edge_index and a
    # float32 weight), and most nodes of a large graph reach the cap. On a
    # Zipf-shaped synthetic graph of the largest dataset size qsr targets
    # (8.6M items, 1.5M queries, 25.7M interactions), a cap of 20 gives 135M
    # links (2.7 GB) and the build peaks at 8.1 GiB with the dataset, well
    # within 24 GiB (benchmarks/bench_graph.py, docs/graph.md). The result
    # grows linearly with the cap.
    max_similar: int | None = 20
    # A query that leads to a hundred thousand items makes each of them a
    # candidate of every other. On the same synthetic graph, expanding every
    # link needs 337 billion two-hop paths, and expanding each hub's 200
    # heaviest links needs 1.2 billion.
    max_expand: int | None = 200
    chunk_output: int = 16_000_000

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if self.max_similar is not None and self.max_similar < 1:
            raise ValueError(f"max_similar must be at least 1, got {self.max_similar}")
        if self.max_expand is not None and self.max_expand < 1:
            raise ValueError(f"max_expand must be at least 1, got {self.max_expand}")
        if self.chunk_output < 1:
            raise ValueError(f"chunk_output must be at least 1, got {self.chunk_output}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "GraphConfig":
        """Rebuild a config from :func:`dataclasses.asdict` output, rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown graph config keys: {', '.join(unknown)}")
        return cls(**values)


def kept_link_count(degree: np.ndarray, alpha: float) -> np.ndarray:
    r"""Return ``ceil(alpha * degree)``, the links a node keeps under alpha.

    The product is rounded to 9 decimals before the ceiling, so that decimal
    alphas give the count of exact arithmetic (``0.3 * 10`` is
    ``3.0000000000000004`` in floating point, and must keep 3, not 4). A node
    with at least one link keeps at least one.

    Example:
        >>> kept_link_count(np.array([0, 1, 3, 10]), 0.3).tolist()
        [0, 1, 1, 3]
    """
    degree = np.asarray(degree, dtype=np.int64)
    keep = np.ceil(np.round(alpha * degree, 9)).astype(np.int64)
    return np.where(degree > 0, np.maximum(keep, 1), 0)


def e1_links(dataset: SequenceDataset) -> sp.csr_matrix:
    r"""Count the initial links E1 between items and queries in training events.

    Every training item event is linked to the latest query before it in the
    same sequence. An item event with no earlier query in its sequence gets no
    link. Only events before each user's validation target count.

    Returns:
        ``[num_items, num_queries]`` CSR matrix of int64 pair counts, with
        sorted column indices.
    """
    train = dataset.train_mask()
    position = np.arange(dataset.num_events, dtype=np.int64)
    # Position of the latest query event at or before each event, across
    # sequences; links that reach into an earlier sequence are dropped below.
    query_position = np.where(dataset.kinds == KIND_QUERY, position, -1)
    latest_query = np.maximum.accumulate(query_position) if len(position) else position
    sequence_start = np.repeat(dataset.offsets[:-1], np.diff(dataset.offsets))

    linked = (train & (dataset.kinds == KIND_ITEM) & (latest_query >= sequence_start))
    items = dataset.tokens[linked]
    queries = dataset.tokens[latest_query[linked]]
    counts = sp.csr_matrix(
        (np.ones(len(items), dtype=np.int64), (items, queries)),
        shape=(dataset.num_items, dataset.num_queries))
    counts.sum_duplicates()
    return counts


def threshold_links(links: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    r"""Keep each row's ``ceil(alpha * n)`` heaviest links out of its ``n``.

    Ties in weight go to the lower column index, so the result is deterministic.

    Args:
        links (scipy.sparse.csr_matrix): ``[N, K]`` link weights, one row per
            source node.
        alpha (float): share of links kept, in (0, 1].

    Returns:
        The kept links as a CSR matrix of the same shape, sorted indices.
    """
    links = links.tocsr()
    links.sum_duplicates()
    degree = np.diff(links.indptr)
    kept = top_per_row(links, kept_link_count(degree, alpha))
    row = np.repeat(np.arange(links.shape[0], dtype=np.int64), degree)[kept]
    result = sp.csr_matrix((links.data[kept], (row, links.indices[kept])), shape=links.shape)
    result.sort_indices()
    return result


def _edge_store(links: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(edge_index [2, E] int64, edge_weight [E] float32)`` of a CSR matrix."""
    row = np.repeat(np.arange(links.shape[0], dtype=np.int64), np.diff(links.indptr))
    edge_index = torch.from_numpy(np.stack([row, links.indices.astype(np.int64)]))
    return edge_index, torch.from_numpy(links.data.astype(np.float32))


def _popularity_rank(frequency: np.ndarray) -> np.ndarray:
    """Rank nodes by frequency, descending, then id, ascending (0 = first)."""
    order = np.lexsort((np.arange(len(frequency)), -frequency))
    rank = np.empty(len(frequency), dtype=np.int64)
    rank[order] = np.arange(len(frequency), dtype=np.int64)
    return rank


def _set_stats(sets: SimilarSets, num_nodes: int) -> dict[str, Any]:
    sizes = np.bincount(sets.edge_index[0], minlength=num_nodes) if num_nodes else np.zeros(1)
    return {
        "links": int(sets.edge_weight.shape[0]),
        "mean": float(sizes.mean()),
        "median": float(np.median(sizes)),
        "max": int(sizes.max()),
        "truncated": int(sets.num_truncated),
        "hubs_cut": int(sets.num_hubs),
        "paths": int(sets.num_paths),
    }


def build_graph(
    dataset: SequenceDataset,
    config: GraphConfig | None = None,
    progress: bool = False,
) -> HeteroData:
    r"""Build the thresholded query-item graph with its two-hop similar sets.

    1. E1: each training item event links to the latest query before it in the
       same sequence, weighted by how often the pair occurs
       (:func:`e1_links`). Validation and test targets, and all events after
       them, are left out.
    2. Alpha: every item keeps its ``ceil(alpha * |N(i)|)`` heaviest query
       links (relation ``searched_by``) and every query its ``ceil(alpha *
       |N(q)|)`` heaviest item links (relation ``leads_to``). Equal weights go
       to the lower neighbour id. With ``alpha = 1`` both relations are E1.
    3. Similar sets: items are similar when their kept query links share a
       query, queries when their kept item links share an item, weighted by
       the number of shared neighbours (:func:`qsr_graph.similar.similar_sets`).
       Each node keeps its ``max_similar`` most shared nodes; equal counts go
       to the more frequent node, then to the lower id.

    Args:
        dataset (SequenceDataset): the prepared sequences.
        config (GraphConfig, optional): build options. (default:
            :class:`GraphConfig()`)
        progress (bool, optional): show tqdm bars for the similar sets.

    Returns:
        :class:`torch_geometric.data.HeteroData` in the layout described in
        this module's docstring, already validated.
    """
    config = config or GraphConfig()
    started = time.perf_counter()

    # Count E1 and threshold it from both sides:
    e1 = e1_links(dataset)
    e1_by_query = e1.T.tocsr()
    e1_by_query.sort_indices()
    item_links = threshold_links(e1, config.alpha)
    query_links = threshold_links(e1_by_query, config.alpha)
    logger.info("E1 has %d item-query pairs; alpha %.3g keeps %d (item side) and %d (query side)",
                e1.nnz, config.alpha, item_links.nnz, query_links.nnz)

    # Node frequencies in training events:
    train = dataset.train_mask()
    is_item = train & (dataset.kinds == KIND_ITEM)
    is_query = train & (dataset.kinds == KIND_QUERY)
    item_frequency = np.bincount(dataset.tokens[is_item], minlength=dataset.num_items)
    query_frequency = np.bincount(dataset.tokens[is_query], minlength=dataset.num_queries)

    # Two-hop similar sets over the kept links:
    options = dict(max_similar=config.max_similar, max_expand=config.max_expand,
                   chunk_output=config.chunk_output, progress=progress)
    item_sets = similar_sets(item_links, priority=_popularity_rank(item_frequency),
                             desc="similar items", **options)
    query_sets = similar_sets(query_links, priority=_popularity_rank(query_frequency),
                              desc="similar queries", **options)

    data = HeteroData()
    data[ITEM].num_nodes = dataset.num_items
    data[ITEM].name = list(dataset.item_ids)
    data[ITEM].frequency = torch.from_numpy(item_frequency.astype(np.int64))
    data[ITEM].degree_e1 = torch.from_numpy(np.diff(e1.indptr).astype(np.int64))
    data[ITEM].num_candidates = torch.from_numpy(item_sets.num_candidates)
    data[QUERY].num_nodes = dataset.num_queries
    data[QUERY].name = list(dataset.query_texts)
    data[QUERY].frequency = torch.from_numpy(query_frequency.astype(np.int64))
    data[QUERY].degree_e1 = torch.from_numpy(np.diff(e1_by_query.indptr).astype(np.int64))
    data[QUERY].num_candidates = torch.from_numpy(query_sets.num_candidates)
    data[QUERY].words = torch.from_numpy(np.asarray(dataset.query_words, dtype=np.int64))
    for edge_type, links in ((SEARCHED_BY, item_links), (LEADS_TO, query_links)):
        data[edge_type].edge_index, data[edge_type].edge_weight = _edge_store(links)
    for edge_type, sets in ((ITEM_SIMILAR, item_sets), (QUERY_SIMILAR, query_sets)):
        data[edge_type].edge_index = torch.from_numpy(sets.edge_index)
        data[edge_type].edge_weight = torch.from_numpy(sets.edge_weight.astype(np.float32))

    degree_e1 = {ITEM: data[ITEM].degree_e1.numpy(), QUERY: data[QUERY].degree_e1.numpy()}
    data.graph_config = dataclasses.asdict(config)
    data.build_stats = {
        "num_nodes": {ITEM: dataset.num_items, QUERY: dataset.num_queries},
        "num_train_events": int(train.sum()),
        "links_e1": int(e1.nnz),
        "links": {"searched_by": int(item_links.nnz), "leads_to": int(query_links.nnz)},
        "isolated": {t: int((d == 0).sum()) for t, d in degree_e1.items()},
        "similar": {ITEM: _set_stats(item_sets, dataset.num_items),
                    QUERY: _set_stats(query_sets, dataset.num_queries)},
        "seconds": round(time.perf_counter() - started, 3),
    }
    data.validate()
    return data
