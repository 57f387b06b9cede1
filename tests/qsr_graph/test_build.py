"""Exact-value tests of the query-item graph on a small dataset drawn by hand.

The dataset (``small_dataset``), with each user's validation and test targets
in brackets, which must never reach the graph:

    u1: coffee a a b tea a c [d] [e]
    u2: b milk a c juice [f] leak [g]
    u3: Coffee! b [c] [h]

Items a..h are ids 0..7 in order of appearance (a b c d e f g h), queries
coffee tea milk juice leak are ids 0..4 ("Coffee!" is "coffee"). E1:
a-coffee 2, a-tea 1, a-milk 1, b-coffee 2, c-tea 1, c-milk 1.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from qsr_graph.build import (
    ITEM_SIMILAR,
    LEADS_TO,
    QUERY_SIMILAR,
    SEARCHED_BY,
    GraphConfig,
    build_graph,
    e1_links,
    kept_link_count,
    threshold_links,
)
from qsr_graph.data import SequenceDataset


def small_dataset() -> SequenceDataset:
    return SequenceDataset.from_sequences({
        "u1": [("query", "coffee"), ("item", "a"), ("item", "a"), ("item", "b"),
               ("query", "tea"), ("item", "a"), ("item", "c"), ("item", "d"), ("item", "e")],
        "u2": [("item", "b"), ("query", "milk"), ("item", "a"), ("item", "c"),
               ("query", "juice"), ("item", "f"), ("query", "leak"), ("item", "g")],
        "u3": [("query", "Coffee!"), ("item", "b"), ("item", "c"), ("item", "h")],
    })


def edges(data, edge_type) -> tuple[list, list]:
    return data[edge_type].edge_index.tolist(), data[edge_type].edge_weight.tolist()


def test_small_dataset_vocabulary():
    dataset = small_dataset()
    assert dataset.item_ids == ["a", "b", "c", "d", "e", "f", "g", "h"]
    assert dataset.query_texts == ["coffee", "tea", "milk", "juice", "leak"]


def test_e1_links_and_weights():
    e1 = e1_links(small_dataset()).toarray()
    expected = np.zeros((8, 5), dtype=np.int64)
    expected[0, [0, 1, 2]] = [2, 1, 1]
    expected[1, 0] = 2
    expected[2, [1, 2]] = [1, 1]
    assert e1.tolist() == expected.tolist()


def test_build_graph_alpha_one_equals_e1():
    data = build_graph(small_dataset(), GraphConfig(alpha=1.0, max_similar=None))
    assert edges(data, SEARCHED_BY) == ([[0, 0, 0, 1, 2, 2], [0, 1, 2, 0, 1, 2]],
                                        [2.0, 1.0, 1.0, 2.0, 1.0, 1.0])
    assert edges(data, LEADS_TO) == ([[0, 0, 1, 1, 2, 2], [0, 1, 0, 2, 0, 2]],
                                     [2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    assert data[SEARCHED_BY].edge_index.dtype == torch.int64
    assert data[SEARCHED_BY].edge_weight.dtype == torch.float32


def test_build_graph_alpha_half_odd_degree_and_ties():
    data = build_graph(small_dataset(), GraphConfig(alpha=0.5, max_similar=None))
    # a has 3 links (2, 1, 1): keeps ceil(1.5) = 2, coffee and then tea, the
    # lower id of the two weight-1 queries. c keeps tea over milk the same way.
    assert edges(data, SEARCHED_BY) == ([[0, 0, 1, 2], [0, 1, 0, 1]], [2.0, 1.0, 2.0, 1.0])
    # coffee ties a and b at weight 2 and keeps a, the lower id.
    assert edges(data, LEADS_TO) == ([[0, 1, 2], [0, 0, 0]], [2.0, 1.0, 1.0])


def test_build_graph_node_data():
    data = build_graph(small_dataset(), GraphConfig(alpha=0.5))
    assert data["item"].num_nodes == 8
    assert data["item"].name == ["a", "b", "c", "d", "e", "f", "g", "h"]
    assert data["item"].frequency.tolist() == [4, 3, 2, 0, 0, 0, 0, 0]
    assert data["item"].degree_e1.tolist() == [3, 1, 2, 0, 0, 0, 0, 0]
    assert data["query"].num_nodes == 5
    assert data["query"].name == ["coffee", "tea", "milk", "juice", "leak"]
    assert data["query"].frequency.tolist() == [2, 1, 1, 1, 0]
    assert data["query"].degree_e1.tolist() == [2, 2, 2, 0, 0]
    assert data["query"].words.tolist() == [[0], [1], [2], [3], [4]]


def test_build_graph_leaves_out_validation_and_test_events():
    data = build_graph(small_dataset(), GraphConfig(alpha=1.0))
    pairs = set(map(tuple, data[SEARCHED_BY].edge_index.t().tolist()))
    # d after tea (u1), f after juice and g after leak (u2), c after Coffee! (u3)
    # are validation or test targets.
    for item, query in [(3, 1), (5, 3), (6, 4), (2, 0), (4, 1), (7, 0)]:
        assert (item, query) not in pairs
    reverse = set(map(tuple, data[LEADS_TO].edge_index.t().tolist()))
    assert reverse == {(q, i) for i, q in pairs}
    assert data["query"].frequency[4].item() == 0


def test_build_graph_similar_sets_without_cap():
    data = build_graph(small_dataset(), GraphConfig(alpha=1.0, max_similar=None))
    # Items: a-b share coffee, a-c share tea and milk; b and c share nothing.
    assert edges(data, ITEM_SIMILAR) == ([[0, 0, 1, 2], [1, 2, 0, 0]], [1.0, 2.0, 1.0, 2.0])
    # Queries: coffee shares a with tea and milk; tea and milk share a and c.
    assert edges(data, QUERY_SIMILAR) == ([[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]],
                                          [1.0, 1.0, 1.0, 2.0, 1.0, 2.0])
    assert data["item"].num_candidates.tolist() == [2, 1, 1, 0, 0, 0, 0, 0]
    assert data.build_stats["similar"]["item"]["truncated"] == 0


def test_build_graph_similar_sets_with_cap():
    data = build_graph(small_dataset(), GraphConfig(alpha=1.0, max_similar=1))
    assert edges(data, ITEM_SIMILAR) == ([[0, 1, 2], [2, 0, 0]], [2.0, 1.0, 2.0])
    # coffee ties tea and milk (1 shared, frequency 1 each) and keeps tea, the lower id.
    assert edges(data, QUERY_SIMILAR) == ([[0, 1, 2], [1, 2, 1]], [1.0, 2.0, 2.0])
    assert data.build_stats["similar"]["item"]["truncated"] == 1
    assert data.build_stats["similar"]["query"]["truncated"] == 3
    assert data["query"].num_candidates.tolist() == [2, 2, 2, 0, 0]


def test_build_graph_similar_sets_after_alpha():
    data = build_graph(small_dataset(), GraphConfig(alpha=0.5, max_similar=None))
    # Kept item links: a {coffee, tea}, b {coffee}, c {tea}.
    assert edges(data, ITEM_SIMILAR) == ([[0, 0, 1, 2], [1, 2, 0, 0]], [1.0, 1.0, 1.0, 1.0])
    # Every query keeps only a, so all three are similar through it.
    assert edges(data, QUERY_SIMILAR)[0] == [[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]]


def test_build_graph_never_self_similar():
    data = build_graph(small_dataset(), GraphConfig(alpha=1.0, max_similar=None))
    for edge_type in (ITEM_SIMILAR, QUERY_SIMILAR):
        row, col = data[edge_type].edge_index
        assert not bool((row == col).any())


def test_build_graph_stats_and_config():
    data = build_graph(small_dataset(), GraphConfig(alpha=0.5, max_similar=7, max_expand=9))
    assert data.graph_config == {"alpha": 0.5, "max_similar": 7, "max_expand": 9,
                                 "chunk_output": 16_000_000}
    stats = data.build_stats
    assert stats["num_nodes"] == {"item": 8, "query": 5}
    assert stats["num_train_events"] == 14
    assert stats["links_e1"] == 6
    assert stats["links"] == {"searched_by": 4, "leads_to": 3}
    assert stats["isolated"] == {"item": 5, "query": 2}
    assert stats["similar"]["item"]["links"] == 4
    assert stats["similar"]["item"]["max"] == 2


def test_build_graph_small_chunks_same_result():
    whole = build_graph(small_dataset(), GraphConfig(alpha=1.0))
    chunked = build_graph(small_dataset(), GraphConfig(alpha=1.0, chunk_output=1))
    for edge_type in (ITEM_SIMILAR, QUERY_SIMILAR):
        assert edges(chunked, edge_type) == edges(whole, edge_type)


def test_kept_link_count_decimal_alpha():
    assert kept_link_count(np.array([10]), 0.3).tolist() == [3]
    assert kept_link_count(np.array([0, 1, 2, 3, 7]), 0.5).tolist() == [0, 1, 1, 2, 4]
    assert kept_link_count(np.array([3, 1000]), 1.0).tolist() == [3, 1000]
    assert kept_link_count(np.array([1, 10]), 1e-12).tolist() == [1, 1]


def test_threshold_links_ties_go_to_lower_id():
    import scipy.sparse as sp

    links = sp.csr_matrix(np.array([[1, 5, 1, 5, 1]]))
    assert threshold_links(links, 0.5).toarray().tolist() == [[1, 5, 0, 5, 0]]
    assert threshold_links(links, 0.2).toarray().tolist() == [[0, 5, 0, 0, 0]]


@pytest.mark.parametrize("alpha", [0.0, -0.5, 1.01, 2.0])
def test_graph_config_rejects_alpha_outside_range(alpha):
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\]"):
        GraphConfig(alpha=alpha)


@pytest.mark.parametrize("field", ["max_similar", "max_expand", "chunk_output"])
def test_graph_config_rejects_zero_limits(field):
    with pytest.raises(ValueError, match=f"{field} must be at least 1"):
        GraphConfig(**{field: 0})


def test_graph_config_from_dict_rejects_unknown_key():
    assert GraphConfig.from_dict({"alpha": 0.5}).alpha == 0.5
    with pytest.raises(ValueError, match="unknown graph config keys: beta"):
        GraphConfig.from_dict({"alpha": 0.5, "beta": 1})


def test_build_graph_on_trivago_slice(trivago_path):
    from qsr_graph.data.prepare import prepare
    from qsr_graph.data.readers import read_events

    read = read_events("trivago", [trivago_path])
    dataset = prepare(read.events, dropped=read.dropped, source=read.source)
    data = build_graph(dataset, GraphConfig(alpha=1.0))

    # Every E1 pair is an (item event, latest earlier query) pair among training events.
    train = dataset.train_mask()
    allowed = set()
    for user in range(dataset.num_users):
        lo, hi = dataset.offsets[user], dataset.offsets[user + 1]
        latest = None
        for position in range(lo, hi):
            if not train[position]:
                break
            if dataset.kinds[position] == 2:
                latest = int(dataset.tokens[position])
            elif latest is not None:
                allowed.add((int(dataset.tokens[position]), latest))
    pairs = set(map(tuple, data[SEARCHED_BY].edge_index.t().tolist()))
    assert pairs == allowed
    assert int(data[SEARCHED_BY].edge_weight.sum()) == int(data[LEADS_TO].edge_weight.sum())
