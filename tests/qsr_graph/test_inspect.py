"""Tests of node lookup and the node report behind ``qsr graph inspect``.

The dataset, validation and test targets in brackets:

    u1: coffee a b tea a c [d] [e]
    u2: milk a c [x] [y]
    u3: coffee tea [b] [a]        ("tea" is also an item here)
    u4: juice d [f] [g]

Items a b c d e x y tea f g are ids 0..9, queries coffee tea milk juice 0..3.
"""
from __future__ import annotations

import pytest

from qsr_graph.build import GraphConfig, build_graph
from qsr_graph.data import SequenceDataset
from qsr_graph.inspect import NodeNotFoundError, find_node, format_node_report, node_report


def small_graph(alpha: float = 1.0):
    dataset = SequenceDataset.from_sequences({
        "u1": [("query", "coffee"), ("item", "a"), ("item", "b"), ("query", "tea"),
               ("item", "a"), ("item", "c"), ("item", "d"), ("item", "e")],
        "u2": [("query", "milk"), ("item", "a"), ("item", "c"), ("item", "x"), ("item", "y")],
        "u3": [("query", "coffee"), ("item", "tea"), ("item", "b"), ("item", "a")],
        "u4": [("query", "juice"), ("item", "d"), ("item", "f"), ("item", "g")],
    })
    return build_graph(dataset, GraphConfig(alpha=alpha))


def test_find_node_by_normalised_query_text():
    assert find_node(small_graph(), "  COFFEE! ") == ("query", 0)
    assert find_node(small_graph(), "Milk", "query") == ("query", 2)


def test_find_node_by_item_id():
    assert find_node(small_graph(), "c") == ("item", 2)


def test_find_node_name_of_both_types_needs_type():
    data = small_graph()
    with pytest.raises(ValueError, match="'tea' names both an item and a query; choose one"):
        find_node(data, "tea")
    assert find_node(data, "tea", "item") == ("item", 7)
    assert find_node(data, "tea", "query") == ("query", 1)


def test_find_node_unknown_suggests_closest():
    with pytest.raises(NodeNotFoundError,
                       match="no item or query named 'cofee' in the graph; closest names: 'coffee'"
                       ) as caught:
        find_node(small_graph(), "cofee")
    assert caught.value.suggestions == ["coffee"]


def test_find_node_unknown_of_one_type():
    with pytest.raises(NodeNotFoundError, match="no item named 'coffee' in the graph$"):
        find_node(small_graph(), "coffee", "item")


def test_find_node_rejects_unknown_type():
    with pytest.raises(ValueError, match="node type must be 'item' or 'query', got 'user'"):
        find_node(small_graph(), "a", "user")


def test_node_report_query():
    report = node_report(small_graph(), "query", 0, top=20, rho=4.0, beta=0.2)
    assert report["name"] == "coffee"
    assert report["frequency"] == 2
    assert report["degree_e1"] == 3
    assert report["degree"] == 3
    assert report["kept_by_neighbours"] == 3
    assert report["alpha"] == 1.0
    assert report["neighbours"] == [{"id": 0, "name": "a", "weight": 1.0},
                                    {"id": 1, "name": "b", "weight": 1.0},
                                    {"id": 7, "name": "tea", "weight": 1.0}]
    assert report["similar"] == [{"id": 1, "name": "tea", "shared": 1},
                                 {"id": 2, "name": "milk", "shared": 1}]
    assert report["num_similar"] == 2
    assert report["similar_truncated"] is False
    augmentation = report["augmentation"]
    assert augmentation["num_nodes"] == 4
    # rho * S / (rho * S + (N - 1 - S)) = 8 / (8 + 1)
    assert augmentation["similar_draw_probability"] == pytest.approx(8 / 9)
    assert augmentation["per_token_probability"] == pytest.approx(0.2 * 8 / 9)


def test_node_report_item_top_and_order():
    report = node_report(small_graph(), "item", 0, top=2)
    assert [n["name"] for n in report["neighbours"]] == ["coffee", "tea"]
    # c shares tea and milk with a; b and the item "tea" share coffee and tie
    # on frequency 1, so the lower id comes first.
    assert report["similar"] == [{"id": 2, "name": "c", "shared": 2},
                                 {"id": 1, "name": "b", "shared": 1}]
    assert report["num_similar"] == 3


def test_node_report_after_alpha():
    report = node_report(small_graph(alpha=0.5), "query", 0)
    # coffee keeps ceil(0.5 * 3) = 2 of three weight-1 links: a and b.
    assert report["degree_e1"] == 3
    assert report["degree"] == 2
    assert [n["name"] for n in report["neighbours"]] == ["a", "b"]


def test_node_report_rejects_bad_beta():
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\], got 1.5"):
        node_report(small_graph(), "query", 0, beta=1.5)


def test_format_node_report_text():
    text = format_node_report(node_report(small_graph(), "query", 3, rho=4.0, beta=0.2))
    assert text.splitlines() == [
        "query 'juice' (id 3)",
        "frequency: 1 training events",
        "degree: 1 item links before alpha, 1 after (alpha 1.0); kept by 1 item nodes from "
        "their side",
        "",
        "item links, top 1 of 1 by weight:",
        "         1  d",
        "",
        "similar query nodes, top 0 of 0, by shared item neighbours:",
        "",
        "augmentation (rho 4, beta 0.2, 4 query nodes):",
        "  chance that a replacement is a similar query: 0.000000",
        "  chance per token (times beta): 0.000000",
    ]
