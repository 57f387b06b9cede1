"""Tests of saving and loading a graph file, and of rejecting files that are not one."""
from __future__ import annotations

import pytest
import torch

from qsr_graph.build import GraphConfig, build_graph
from qsr_graph.data import SequenceDataset
from qsr_graph.io import FORMAT_NAME, GraphFormatError, load_graph, save_graph


def small_graph():
    dataset = SequenceDataset.from_sequences({
        "u1": [("query", "red fort"), ("item", "a"), ("item", "b"), ("item", "c"), ("item", "d")],
        "u2": [("query", "Red Fort"), ("item", "b"), ("query", "taj"), ("item", "a"),
               ("item", "e"), ("item", "f")],
    })
    return build_graph(dataset, GraphConfig(alpha=0.5, max_similar=3))


def test_save_load_round_trip(tmp_path):
    data = small_graph()
    path = save_graph(data, tmp_path / "graph.pt")
    loaded = load_graph(path)
    assert loaded.node_types == data.node_types
    assert loaded.edge_types == data.edge_types
    for node_type in data.node_types:
        assert loaded[node_type].num_nodes == data[node_type].num_nodes
        assert loaded[node_type].name == data[node_type].name
        for key in ("frequency", "degree_e1", "num_candidates"):
            assert loaded[node_type][key].tolist() == data[node_type][key].tolist()
    assert loaded["query"].words.tolist() == data["query"].words.tolist()
    for edge_type in data.edge_types:
        assert loaded[edge_type].edge_index.dtype == torch.int64
        assert loaded[edge_type].edge_index.tolist() == data[edge_type].edge_index.tolist()
        assert loaded[edge_type].edge_weight.tolist() == data[edge_type].edge_weight.tolist()
    assert loaded.graph_config == data.graph_config
    assert loaded.build_stats == data.build_stats


def test_saved_file_loads_with_weights_only(tmp_path):
    save_graph(small_graph(), tmp_path / "graph.pt")
    payload = torch.load(tmp_path / "graph.pt", weights_only=True)
    assert payload["format"] == FORMAT_NAME
    assert payload["format_version"] == 2
    assert bytes(payload["nodes"]["query"]["name"]["utf8"].tolist()) == b"red forttaj"
    assert payload["nodes"]["query"]["name"]["offsets"].tolist() == [0, 8, 11]


def test_names_round_trip_unicode_and_empty(tmp_path):
    data = small_graph()
    data["item"].name = ["東京", "", "guarujá", "a b", "e", "f"]
    data["query"].name = ["", ""]
    loaded = load_graph(save_graph(data, tmp_path / "graph.pt"))
    assert loaded["item"].name == ["東京", "", "guarujá", "a b", "e", "f"]
    assert loaded["query"].name == ["", ""]


def test_save_replaces_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "graph.pt"
    path.write_text("old")
    save_graph(small_graph(), path)
    assert load_graph(path)["item"].num_nodes == 6
    assert [p.name for p in tmp_path.iterdir()] == ["graph.pt"]


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    def broken_save(obj, f):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_graph(small_graph(), tmp_path / "graph.pt")
    assert list(tmp_path.iterdir()) == []


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt: graph file not found"):
        load_graph(tmp_path / "missing.pt")


def test_load_rejects_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a graph\n")
    with pytest.raises(GraphFormatError, match=r"notes.txt: not a qsr graph file .*qsr graph build"):
        load_graph(path)


def test_load_rejects_other_torch_file(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(GraphFormatError, match="weights.pt: a .pt file but not a qsr graph"):
        load_graph(path)


def test_load_rejects_pickled_hetero_data(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save(small_graph(), path)
    with pytest.raises(GraphFormatError, match="pickled.pt: not a qsr graph file"):
        load_graph(path)


def test_load_rejects_dataset_folder(tmp_path):
    SequenceDataset.from_sequences({"u": [("item", "a"), ("item", "b")]}).save(tmp_path / "ds")
    with pytest.raises(GraphFormatError, match="ds: is a prepared dataset folder, not a qsr graph"):
        load_graph(tmp_path / "ds")


def test_load_rejects_other_format_version(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": FORMAT_NAME, "format_version": 99}, path)
    with pytest.raises(GraphFormatError, match="format version 99 is not supported"):
        load_graph(path)


def test_load_rejects_graph_without_similar_sets(tmp_path):
    path = tmp_path / "graph.pt"
    save_graph(small_graph(), path)
    payload = torch.load(path, weights_only=True)
    payload["edges"] = [e for e in payload["edges"] if e["type"][1] != "similar"]
    torch.save(payload, path)
    with pytest.raises(GraphFormatError, match="lacks item/similar/item, query/similar/query"):
        load_graph(path)


def test_graph_fingerprint_follows_links():
    from qsr_graph.build import GraphConfig, build_graph
    from qsr_graph.data import SequenceDataset
    from qsr_graph.io import graph_fingerprint

    dataset = SequenceDataset.from_sequences({
        "u1": [("query", "q1"), ("item", "a"), ("item", "b"), ("item", "c"), ("item", "d")],
        "u2": [("query", "q1"), ("item", "a"), ("query", "q2"), ("item", "b"), ("item", "c"),
               ("item", "d")],
    })
    full = graph_fingerprint(build_graph(dataset, GraphConfig(alpha=1.0)))
    assert full == graph_fingerprint(build_graph(dataset, GraphConfig(alpha=1.0)))
    assert len(full) == 64
    assert full != graph_fingerprint(build_graph(dataset, GraphConfig(alpha=0.5)))


def test_graph_fingerprint_survives_save_and_load(tmp_path):
    from qsr_graph.build import build_graph
    from qsr_graph.data import SequenceDataset
    from qsr_graph.io import graph_fingerprint, load_graph, save_graph

    dataset = SequenceDataset.from_sequences({
        "u1": [("query", "q1"), ("item", "a"), ("item", "b"), ("item", "c")]})
    graph = build_graph(dataset)
    save_graph(graph, tmp_path / "graph.pt")
    assert graph_fingerprint(load_graph(tmp_path / "graph.pt")) == graph_fingerprint(graph)
