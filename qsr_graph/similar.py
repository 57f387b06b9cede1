"""Two-hop similar-node sets from a bipartite adjacency, computed in row chunks.

Two nodes of the same type are similar when they share a neighbour of the other
type. The shared counts are the rows of the sparse product ``B @ B.T`` of the
binary adjacency ``B``, which on a popular graph is far too large to hold at
once, so it is formed a chunk of rows at a time and each row is cut to its
``max_similar`` most shared nodes before the next chunk starts.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

_INT64_MAX = np.iinfo(np.int64).max


@dataclass
class SimilarSets:
    """Similar-node sets of every node of one type.

    Attributes:
        edge_index (np.ndarray): ``[2, S]`` int64 (source node, similar node),
            sorted by (row, col) and never a self-loop.
        edge_weight (np.ndarray): ``[S]`` int64 number of shared neighbours.
        num_candidates (np.ndarray): ``[N]`` int64 size of each node's two-hop
            set before the ``max_similar`` cap (after the ``max_expand`` cut).
        num_truncated (int): nodes whose set was cut by ``max_similar``.
        num_hubs (int): neighbours whose expansion was cut by ``max_expand``.
    """

    edge_index: np.ndarray
    edge_weight: np.ndarray
    num_candidates: np.ndarray
    num_truncated: int
    num_hubs: int


def top_per_row(matrix: sp.csr_matrix, keep: np.ndarray) -> np.ndarray:
    r"""Select the ``keep[r]`` heaviest entries of every row of a CSR matrix.

    Entries are ranked by weight, descending, and equal weights by column index,
    ascending, so the choice is deterministic.

    Args:
        matrix (scipy.sparse.csr_matrix): the weighted rows, shape ``[N, K]``.
        keep (np.ndarray): ``[N]`` number of entries to keep per row.

    Returns:
        Boolean mask over ``matrix.data`` (in CSR order) of the kept entries.

    Example:
        >>> m = sp.csr_matrix(np.array([[1, 3, 3, 0], [2, 0, 0, 5]]))
        >>> top_per_row(m, np.array([2, 1])).tolist()
        [False, True, True, False, True]
    """
    counts = np.diff(matrix.indptr)
    row = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), counts)
    order = np.lexsort((matrix.indices, -matrix.data, row))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64) - matrix.indptr[row[order]]
    return rank < np.asarray(keep, dtype=np.int64)[row]


def _chunk_bounds(paths: np.ndarray, chunk_output: int) -> np.ndarray:
    """Split rows into consecutive chunks of about ``chunk_output`` two-hop paths each.

    A chunk may go over the budget by one row, because a row is never split.
    """
    cumulative = np.cumsum(paths)
    chunk_of_row = (cumulative - paths) // max(chunk_output, 1)
    starts = np.flatnonzero(np.diff(chunk_of_row)) + 1
    return np.concatenate([[0], starts, [len(paths)]]).astype(np.int64)


def _cap_rows(
    row: np.ndarray, col: np.ndarray, shared: np.ndarray, priority: np.ndarray, max_similar: int,
) -> np.ndarray:
    """Return the positions of each row's ``max_similar`` entries with the most shared neighbours.

    Ties in the shared count go to the lower ``priority[col]``. ``row`` is local
    to the chunk (0-based) and the input is in (row, col) order, which the
    returned positions keep.
    """
    max_shared = int(shared.max())
    num_rows = int(row.max()) + 1
    rank_of_col = priority[col]
    # One int64 key per entry orders by (row, shared desc, priority) in one
    # sort, which is much faster than a three-key lexsort on large chunks.
    if num_rows * (max_shared + 1) * len(priority) < _INT64_MAX:
        key = (row * (max_shared + 1) + (max_shared - shared)) * len(priority) + rank_of_col
        order = np.argsort(key)
    else:
        order = np.lexsort((rank_of_col, -shared, row))
    sorted_row = row[order]
    first = np.searchsorted(sorted_row, np.arange(num_rows))
    rank = np.arange(len(order), dtype=np.int64) - first[sorted_row]
    kept = order[rank < max_similar]
    kept.sort()
    return kept


def _expansion(adjacency: sp.csr_matrix, max_expand: int | None) -> tuple[sp.csr_matrix, int]:
    """Return the binary ``[K, N]`` lists of nodes reached through each neighbour, and the hub count.

    A neighbour linked to more than ``max_expand`` nodes passes on only its
    ``max_expand`` strongest links (weight descending, then node id ascending).
    """
    transposed = adjacency.T.tocsr()
    transposed.sum_duplicates()
    degree = np.diff(transposed.indptr)
    num_hubs = 0
    if max_expand is not None and transposed.nnz and degree.max() > max_expand:
        num_hubs = int((degree > max_expand).sum())
        kept = top_per_row(transposed, np.minimum(degree, max_expand))
        row = np.repeat(np.arange(transposed.shape[0]), degree)[kept]
        transposed = sp.csr_matrix(
            (np.ones(int(kept.sum()), dtype=np.int32), (row, transposed.indices[kept])),
            shape=transposed.shape)
    else:
        transposed.data = np.ones(transposed.nnz, dtype=np.int32)
    return transposed, num_hubs


def similar_sets(
    adjacency: sp.csr_matrix,
    max_similar: int | None = None,
    max_expand: int | None = None,
    priority: np.ndarray | None = None,
    chunk_output: int = 16_000_000,
    progress: bool = False,
    desc: str = "similar sets",
) -> SimilarSets:
    r"""Compute every node's two-hop similar set from its bipartite neighbours.

    Row ``v`` of ``adjacency`` holds the weighted neighbours of node ``v``.
    Nodes ``u`` and ``v`` are similar when their rows share a column, and the
    edge weight is the number of shared columns. Rows are processed in chunks
    whose number of two-hop paths (an upper bound on the chunk's product
    entries) stays near ``chunk_output``, so memory is bounded by the chunk,
    not by the whole product.

    Each node keeps the ``max_similar`` nodes with the most shared neighbours.
    Ties go to the node with the lower ``priority`` (by default the lower id).

    Args:
        adjacency (scipy.sparse.csr_matrix): ``[N, K]`` link weights per node.
        max_similar (int, optional): cap on the set size per node, ``None`` for
            no cap. (default: :obj:`None`)
        max_expand (int, optional): a neighbour with more links than this
            passes on only its ``max_expand`` heaviest ones, which bounds the
            work on hubs. ``None`` expands every link. (default: :obj:`None`)
        priority (np.ndarray, optional): ``[N]`` distinct int64 tie-break ranks,
            lower first. (default: the node ids)
        chunk_output (int, optional): two-hop paths per chunk. (default:
            ``16_000_000``)
        progress (bool, optional): show a tqdm bar over the rows. (default:
            :obj:`False`)
        desc (str, optional): label of the progress bar.

    Returns:
        :class:`SimilarSets`.

    Example:
        >>> b = sp.csr_matrix(np.array([[1, 1], [1, 0], [0, 1]]))
        >>> sets = similar_sets(b)
        >>> sets.edge_index.tolist(), sets.edge_weight.tolist()
        ([[0, 0, 1, 2], [1, 2, 0, 0]], [1, 1, 1, 1])
    """
    if max_similar is not None and max_similar < 1:
        raise ValueError(f"max_similar must be at least 1 or None, got {max_similar}")
    if max_expand is not None and max_expand < 1:
        raise ValueError(f"max_expand must be at least 1 or None, got {max_expand}")
    if chunk_output < 1:
        raise ValueError(f"chunk_output must be at least 1, got {chunk_output}")

    num_nodes, num_cols = adjacency.shape
    if priority is None:
        priority = np.arange(num_nodes, dtype=np.int64)
    index_dtype = np.int32 if max(num_nodes, num_cols) < np.iinfo(np.int32).max else np.int64
    adjacency = adjacency.tocsr()
    adjacency.sum_duplicates()
    pattern = sp.csr_matrix(
        (np.ones(adjacency.nnz, dtype=np.int32), adjacency.indices, adjacency.indptr),
        shape=adjacency.shape)
    expansion, num_hubs = _expansion(adjacency, max_expand)

    # Two-hop paths per row: the sum of its neighbours' expansion sizes.
    paths = pattern @ np.diff(expansion.indptr).astype(np.int64)
    bounds = _chunk_bounds(np.asarray(paths, dtype=np.int64), chunk_output)

    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    shared_out: list[np.ndarray] = []
    num_candidates = np.zeros(num_nodes, dtype=np.int64)
    num_truncated = 0
    bar = tqdm(total=num_nodes, desc=desc, unit="node", disable=not progress)
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        product = pattern[start:stop] @ expansion  # (stop - start, N)
        product.sort_indices()
        row = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(product.indptr))
        col = product.indices.astype(np.int64)
        shared = product.data.astype(np.int64)
        not_self = col != row + start
        row, col, shared = row[not_self], col[not_self], shared[not_self]

        sizes = np.bincount(row, minlength=stop - start)
        num_candidates[start:stop] = sizes
        if max_similar is not None and len(row) and sizes.max() > max_similar:
            num_truncated += int((sizes > max_similar).sum())
            kept = _cap_rows(row, col, shared, priority, max_similar)
            row, col, shared = row[kept], col[kept], shared[kept]

        rows_out.append((row + start).astype(index_dtype))
        cols_out.append(col.astype(index_dtype))
        shared_out.append(shared.astype(np.int32))
        bar.update(stop - start)
    bar.close()

    if rows_out:
        edge_index = np.stack([np.concatenate(rows_out), np.concatenate(cols_out)]).astype(np.int64)
        edge_weight = np.concatenate(shared_out).astype(np.int64)
    else:
        edge_index = np.zeros((2, 0), dtype=np.int64)
        edge_weight = np.zeros(0, dtype=np.int64)
    logger.debug("%s: %d links in %d chunks, %d sets truncated, %d hubs cut",
                 desc, edge_weight.shape[0], len(bounds) - 1, num_truncated, num_hubs)
    return SimilarSets(edge_index, edge_weight, num_candidates, num_truncated, num_hubs)
