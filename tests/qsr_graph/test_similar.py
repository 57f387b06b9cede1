"""Tests of the chunked two-hop similar sets on small adjacency matrices."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from qsr_graph.similar import similar_sets, top_per_row


def test_top_per_row_ranks_weight_then_column():
    matrix = sp.csr_matrix(np.array([[1, 3, 3, 0], [2, 0, 0, 5], [0, 0, 0, 0]]))
    assert top_per_row(matrix, np.array([2, 1, 0])).tolist() == [False, True, True, False, True]
    assert top_per_row(matrix, np.array([3, 2, 0])).tolist() == [True, True, True, True, True]


def test_similar_sets_shared_counts():
    # Nodes 0..3 over neighbours 0..2: 0 {0, 1}, 1 {0, 1, 2}, 2 {2}, 3 {} .
    adjacency = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1], [0, 0, 0]]))
    sets = similar_sets(adjacency)
    assert sets.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert sets.edge_weight.tolist() == [2, 2, 1, 1]
    assert sets.num_candidates.tolist() == [1, 2, 1, 0]
    assert sets.num_truncated == 0
    assert sets.num_hubs == 0


def test_similar_sets_ignore_link_weights():
    adjacency = sp.csr_matrix(np.array([[7, 1], [3, 0], [0, 9]]))
    assert similar_sets(adjacency).edge_weight.tolist() == [1, 1, 1, 1]


def test_similar_sets_cap_keeps_most_shared():
    # Node 0 shares 2 neighbours with node 3 and 1 with nodes 1 and 2.
    adjacency = sp.csr_matrix(np.array([[1, 1, 1], [1, 0, 0], [0, 1, 0], [1, 0, 1]]))
    sets = similar_sets(adjacency, max_similar=2)
    assert sets.edge_index[:, sets.edge_index[0] == 0].tolist() == [[0, 0], [1, 3]]
    assert sets.edge_weight[sets.edge_index[0] == 0].tolist() == [1, 2]
    assert sets.num_candidates.tolist() == [3, 2, 1, 2]
    assert sets.num_truncated == 1


def test_similar_sets_cap_tie_break_by_priority():
    # Nodes 1, 2 and 3 each share one neighbour with node 0.
    adjacency = sp.csr_matrix(np.array([[1], [1], [1], [1]]))
    by_id = similar_sets(adjacency, max_similar=1)
    assert by_id.edge_index.tolist() == [[0, 1, 2, 3], [1, 0, 0, 0]]
    # With priority ranks 3 > 2 > 1 > 0, node 3 comes first, then node 2.
    by_priority = similar_sets(adjacency, max_similar=1, priority=np.array([3, 2, 1, 0]))
    assert by_priority.edge_index.tolist() == [[0, 1, 2, 3], [3, 3, 3, 2]]
    assert by_priority.num_truncated == 4


def test_similar_sets_max_expand_cuts_hubs():
    # Neighbour 0 is a hub of 4 nodes with link weights 5, 1, 3, 1; with
    # max_expand 2 only nodes 0 and 2 are reached through it.
    adjacency = sp.csr_matrix(np.array([[5], [1], [3], [1]]))
    sets = similar_sets(adjacency, max_expand=2)
    assert sets.edge_index.tolist() == [[0, 1, 1, 2, 3, 3], [2, 0, 2, 0, 0, 2]]
    assert sets.num_hubs == 1
    assert sets.num_candidates.tolist() == [1, 2, 1, 2]


def test_similar_sets_chunks_match_whole_product():
    rng = np.random.default_rng(3)
    dense = (rng.random((40, 12)) < 0.2) * rng.integers(1, 4, (40, 12))
    whole = similar_sets(sp.csr_matrix(dense), max_similar=3)
    for chunk_output in (1, 7, 50):
        chunked = similar_sets(sp.csr_matrix(dense), max_similar=3, chunk_output=chunk_output)
        assert chunked.edge_index.tolist() == whole.edge_index.tolist()
        assert chunked.edge_weight.tolist() == whole.edge_weight.tolist()
        assert chunked.num_truncated == whole.num_truncated


def test_similar_sets_match_dense_reference():
    rng = np.random.default_rng(5)
    dense = (rng.random((30, 10)) < 0.3).astype(np.int64)
    shared = dense @ dense.T
    np.fill_diagonal(shared, 0)
    cap = 4
    expected_rows, expected_cols = [], []
    for row in range(30):
        candidates = sorted(np.flatnonzero(shared[row]), key=lambda j: (-shared[row, j], j))
        for col in sorted(candidates[:cap]):
            expected_rows.append(row)
            expected_cols.append(int(col))
    sets = similar_sets(sp.csr_matrix(dense), max_similar=cap, chunk_output=20)
    assert sets.edge_index.tolist() == [expected_rows, expected_cols]
    assert sets.edge_weight.tolist() == [shared[r, c] for r, c in zip(expected_rows, expected_cols)]


def test_similar_sets_empty_adjacency():
    sets = similar_sets(sp.csr_matrix((3, 2), dtype=np.int64), max_similar=2)
    assert sets.edge_index.shape == (2, 0)
    assert sets.num_candidates.tolist() == [0, 0, 0]


@pytest.mark.parametrize("option", ["max_similar", "max_expand", "chunk_output"])
def test_similar_sets_reject_zero_limits(option):
    with pytest.raises(ValueError, match=f"{option} must be at least 1"):
        similar_sets(sp.csr_matrix(np.eye(2)), **{option: 0})


def test_similar_sets_reject_priority_not_permutation():
    adjacency = sp.csr_matrix(np.array([[1], [1], [1]]))
    with pytest.raises(ValueError, match=r"priority must be a permutation of 0..2"):
        similar_sets(adjacency, priority=np.array([0, 0, 1]))
    with pytest.raises(ValueError, match=r"got shape \(2,\)"):
        similar_sets(adjacency, priority=np.array([0, 1]))
