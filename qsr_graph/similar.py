"""Two-hop similar-node sets from a bipartite adjacency, computed in row chunks.

Two nodes of the same type are similar when they share a neighbour of the other
type. The shared counts are the rows of the sparse product ``B @ B.T`` of the
binary adjacency ``B``. On a graph with popular nodes that product is far too
large to hold at once, so it is formed a chunk of rows at a time, and each row
is cut to its ``max_similar`` most shared nodes before the next chunk starts.
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
        num_paths (int): two-hop paths computed, the work of the product.
    """

    edge_index: np.ndarray
    edge_weight: np.ndarray
    num_candidates: np.ndarray
    num_truncated: int
    num_hubs: int
    num_paths: int = 0


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


def _first_per_row(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return the positions ``starts[r] .. starts[r] + counts[r] - 1`` of every row, concatenated."""
    total = int(counts.sum())
    kept_starts = np.cumsum(counts) - counts
    return np.repeat(starts - kept_starts, counts) + np.arange(total, dtype=np.int64)


def _select_chunk(
    product: sp.csr_matrix, start: int, priority: np.ndarray, order_of_priority: np.ndarray,
    max_similar: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pick each row's most shared nodes from one chunk of the two-hop product.

    Returns ``(row, col, shared, num_candidates)``: the kept entries in
    (row, col) order, with ``row`` local to the chunk, and the size of each
    row's set before the cap. A row's own node (the diagonal) is never kept.
    """
    num_rows, num_nodes = product.shape
    counts = np.diff(product.indptr).astype(np.int64)
    row = np.repeat(np.arange(num_rows, dtype=np.int64), counts)
    col = product.indices.astype(np.int64)
    shared = product.data.astype(np.int64)

    # A shared count of 0 ranks the diagonal last in its row, and the row keeps
    # at most its number of other nodes, so the diagonal is never selected.
    is_self = col == row + start
    shared[is_self] = 0
    num_candidates = counts - np.bincount(row[is_self], minlength=num_rows)
    keep = num_candidates if max_similar is None else np.minimum(num_candidates, max_similar)

    # Sort each row by (shared desc, priority asc) with one int64 key. Rows keep
    # their CSR positions, so row r's best entries start at indptr[r].
    max_shared = int(shared.max()) if len(shared) else 0
    if num_rows * (max_shared + 1) * num_nodes < _INT64_MAX:
        key = row * (max_shared + 1)
        key += max_shared - shared
        key *= num_nodes
        key += priority[col]
        del row, col, shared
        key.sort()
        key = key[_first_per_row(product.indptr[:-1].astype(np.int64), keep)]
        kept_col = order_of_priority[key % num_nodes]
        key //= num_nodes
        kept_shared = max_shared - key % (max_shared + 1)
        kept_row = key // (max_shared + 1)
    else:
        order = np.lexsort((priority[col], -shared, row))
        order = order[_first_per_row(product.indptr[:-1].astype(np.int64), keep)]
        kept_row, kept_col, kept_shared = row[order], col[order], shared[order]

    order = np.argsort(kept_row * num_nodes + kept_col)
    return kept_row[order], kept_col[order], kept_shared[order], num_candidates


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

    Row ``v`` of ``adjacency`` contains the weighted neighbours of node ``v``.
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
    priority = np.asarray(priority, dtype=np.int64)
    order_of_priority = np.argsort(priority)
    # The sort key stores priority[col] in [0, N), so it must be a permutation.
    if priority.shape != (num_nodes,) or not np.array_equal(
            priority[order_of_priority], np.arange(num_nodes)):
        raise ValueError(f"priority must be a permutation of 0..{num_nodes - 1}, one rank per "
                         f"node; got shape {priority.shape}")
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
        product = pattern[start:stop] @ expansion  # (stop - start, N) shared counts
        row, col, shared, num_candidates[start:stop] = _select_chunk(
            product, start, priority, order_of_priority, max_similar)
        del product
        if max_similar is not None:
            num_truncated += int((num_candidates[start:stop] > max_similar).sum())
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
    return SimilarSets(edge_index, edge_weight, num_candidates, num_truncated, num_hubs,
                       int(paths.sum()))
