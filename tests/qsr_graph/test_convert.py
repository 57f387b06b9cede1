"""Tests of the networkx export and of writing GraphML and edge lists."""
from __future__ import annotations

import networkx as nx
import pytest

from qsr_graph.build import GraphConfig, build_graph
from qsr_graph.convert import to_networkx, write_graph
from qsr_graph.data import SequenceDataset


def small_graph():
    # E1: a-red fort 2, b-red fort 1, b-taj 1; validation and test targets d, e, f, g.
    dataset = SequenceDataset.from_sequences({
        "u1": [("query", "Red Fort"), ("item", "a"), ("item", "a"), ("item", "b"),
               ("item", "d"), ("item", "e")],
        "u2": [("query", "taj"), ("item", "b"), ("item", "f"), ("item", "g")],
    })
    return build_graph(dataset, GraphConfig(alpha=1.0))


def test_to_networkx_nodes_keep_names():
    graph = to_networkx(small_graph())
    assert sorted(graph.nodes) == ["item:a", "item:b", "item:d", "item:e", "item:f", "item:g",
                                   "query:red fort", "query:taj"]
    assert graph.nodes["query:red fort"] == {"type": "query", "name": "red fort", "id": 0,
                                             "frequency": 1}
    assert graph.nodes["item:a"] == {"type": "item", "name": "a", "id": 0, "frequency": 2}


def test_to_networkx_edges_keep_weights():
    graph = to_networkx(small_graph())
    assert sorted(graph.edges(data="weight")) == [
        ("item:a", "query:red fort", 2.0),
        ("item:b", "query:red fort", 1.0),
        ("item:b", "query:taj", 1.0),
        ("query:red fort", "item:a", 2.0),
        ("query:red fort", "item:b", 1.0),
        ("query:taj", "item:b", 1.0),
    ]
    assert graph.edges["query:taj", "item:b"]["relation"] == "leads_to"
    assert graph.edges["item:b", "query:taj"]["relation"] == "searched_by"


def test_to_networkx_with_similar_edges():
    graph = to_networkx(small_graph(), include_similar=True)
    similar = sorted((u, v, w) for u, v, r in graph.edges(data="relation") if r == "similar"
                     for w in [graph.edges[u, v]["weight"]])
    assert similar == [("item:a", "item:b", 1.0), ("item:b", "item:a", 1.0),
                       ("query:red fort", "query:taj", 1.0), ("query:taj", "query:red fort", 1.0)]


def test_write_edgelist(tmp_path):
    path = write_graph(to_networkx(small_graph()), tmp_path / "graph.tsv", "edgelist")
    assert sorted(path.read_text().splitlines()) == [
        "item:a\tquery:red fort\t2.0\tsearched_by",
        "item:b\tquery:red fort\t1.0\tsearched_by",
        "item:b\tquery:taj\t1.0\tsearched_by",
        "query:red fort\titem:a\t2.0\tleads_to",
        "query:red fort\titem:b\t1.0\tleads_to",
        "query:taj\titem:b\t1.0\tleads_to",
    ]


def test_write_graphml_round_trip(tmp_path):
    path = write_graph(to_networkx(small_graph()), tmp_path / "graph.graphml", "graphml")
    graph = nx.read_graphml(path)
    assert graph.nodes["query:red fort"]["name"] == "red fort"
    assert graph.edges["item:a", "query:red fort"] == {"relation": "searched_by", "weight": 2.0}
    assert graph.number_of_edges() == 6


def test_write_graph_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="export format must be one of graphml, edgelist, got 'gexf'"):
        write_graph(nx.DiGraph(), tmp_path / "graph.gexf", "gexf")
    assert list(tmp_path.iterdir()) == []


def test_write_edgelist_rejects_tab_in_name(tmp_path):
    graph = nx.DiGraph([("item:a\tb", "query:x")])
    with pytest.raises(ValueError, match="contains a tab"):
        write_graph(graph, tmp_path / "graph.tsv", "edgelist")
