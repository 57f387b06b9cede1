"""Tests of ``qsr graph build``, ``qsr graph inspect`` and ``qsr graph export``."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from qsr_cli.main import cli
from qsr_graph.data import SequenceDataset
from qsr_graph.io import load_graph


@pytest.fixture
def dataset_dir(tmp_path):
    # E1: a-coffee 2, a-tea 1, a-milk 1, b-coffee 2, c-tea 1, c-milk 1
    # (validation and test targets in brackets).
    # u1: coffee a a b tea a c [d] [e]; u2: b milk a c juice [f] leak [g]; u3: coffee b [c] [h]
    dataset = SequenceDataset.from_sequences({
        "u1": [("query", "coffee"), ("item", "a"), ("item", "a"), ("item", "b"),
               ("query", "tea"), ("item", "a"), ("item", "c"), ("item", "d"), ("item", "e")],
        "u2": [("item", "b"), ("query", "milk"), ("item", "a"), ("item", "c"),
               ("query", "juice"), ("item", "f"), ("query", "leak"), ("item", "g")],
        "u3": [("query", "Coffee!"), ("item", "b"), ("item", "c"), ("item", "h")],
    })
    return dataset.save(tmp_path / "dataset")


@pytest.fixture
def graph_file(tmp_path, dataset_dir):
    path = tmp_path / "graph.pt"
    result = CliRunner().invoke(cli, ["-q", "graph", "build", str(dataset_dir), "--alpha", "1",
                                      "--output", str(path)])
    assert result.exit_code == 0, result.output
    return path


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *args])


def test_graph_build_summary(tmp_path, dataset_dir):
    output = tmp_path / "graph.pt"
    result = run("graph", "build", str(dataset_dir), "--alpha", "0.5", "--max-similar", "1",
                 "--output", str(output))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:13] == [
        f"Wrote {output}",
        "nodes: 8 items, 5 queries (from 14 training events)",
        "isolated (no training link): 5 items, 2 queries",
        "",
        "links                           E1     alpha 0.5",
        "item searched_by query           6             4",
        "query leads_to item              6             3",
        "",
        "similar sets         links    mean  median   max  truncated",
        "item                     3    0.38       0     1          1",
        "query                    3    0.60       1     1          3",
        "(cap 1; hubs expand their 200 heaviest links: 0 queries and 0 items cut)",
        "",
    ]
    assert lines[13].startswith("time: ")
    data = load_graph(output)
    assert data.graph_config["alpha"] == 0.5
    assert data["item", "searched_by", "query"].edge_index.tolist() == [[0, 0, 1, 2], [0, 1, 0, 1]]


def test_graph_build_no_cap(tmp_path, dataset_dir):
    output = tmp_path / "graph.pt"
    result = run("graph", "build", str(dataset_dir), "--max-similar", "0", "--max-expand", "0",
                 "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "(no cap; every link expanded)" in result.stdout
    assert load_graph(output).graph_config["max_similar"] is None


@pytest.mark.parametrize("alpha", ["0", "-0.1", "1.5"])
def test_graph_build_rejects_alpha_outside_range(tmp_path, dataset_dir, alpha):
    result = run("graph", "build", str(dataset_dir), "--alpha", alpha,
                 "--output", str(tmp_path / "graph.pt"))
    assert result.exit_code == 2
    assert "Invalid value for '--alpha'" in result.output
    assert not (tmp_path / "graph.pt").exists()


def test_graph_build_missing_dataset(tmp_path):
    result = run("graph", "build", str(tmp_path / "nowhere"), "--output", str(tmp_path / "g.pt"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_graph_build_folder_that_is_not_a_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("graph", "build", str(tmp_path / "empty"), "--output", str(tmp_path / "g.pt"))
    assert result.exit_code == 1
    assert "not a prepared qsr dataset" in result.output
    assert "Traceback" not in result.output


def test_graph_inspect_query_text(graph_file):
    result = run("graph", "inspect", str(graph_file), "--node", "Coffee", "--top", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "query 'coffee' (id 0)"
    assert lines[1] == "frequency: 2 training events"
    assert lines[4:6] == ["item links, top 1 of 2 by weight:", "         2  a"]
    assert lines[7:9] == ["similar query nodes, top 1 of 2, by shared item neighbours:",
                          "         1  tea"]


def test_graph_inspect_json(graph_file):
    result = run("graph", "inspect", str(graph_file), "--node", "a", "--type", "item",
                 "--rho", "2", "--beta", "0.5", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["type"] == "item"
    assert report["degree_e1"] == 3
    assert [n["name"] for n in report["neighbours"]] == ["coffee", "tea", "milk"]
    assert report["similar"] == [{"id": 2, "name": "c", "shared": 2},
                                 {"id": 1, "name": "b", "shared": 1}]
    # 8 items, 2 similar: 2 * 2 / (2 * 2 + 5)
    assert report["augmentation"]["similar_draw_probability"] == pytest.approx(4 / 9)
    assert report["augmentation"]["per_token_probability"] == pytest.approx(2 / 9)


def test_graph_inspect_defaults_match_training(graph_file):
    result = run("graph", "inspect", str(graph_file), "--node", "a", "--type", "item", "--json")
    assert result.exit_code == 0, result.output
    augmentation = json.loads(result.stdout)["augmentation"]
    assert augmentation["rho"] == 1000.0
    assert augmentation["beta"] == 0.1
    # 8 items, 2 similar: 1000 * 2 / (1000 * 2 + 5)
    assert augmentation["similar_draw_probability"] == pytest.approx(2000 / 2005)
    assert augmentation["per_token_probability"] == pytest.approx(0.1 * 2000 / 2005)


def test_graph_inspect_unknown_node(graph_file):
    result = run("graph", "inspect", str(graph_file), "--node", "cofee")
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: no item or query named 'cofee' in the graph; "
                                     "closest names: 'coffee'")


def test_graph_inspect_missing_file(tmp_path):
    result = run("graph", "inspect", str(tmp_path / "missing.pt"), "--node", "a")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_graph_inspect_wrong_file_type(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(2)}, path)
    result = run("graph", "inspect", str(path), "--node", "a")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: a .pt file but not a qsr graph")


def test_graph_inspect_dataset_folder(dataset_dir):
    result = run("graph", "inspect", str(dataset_dir), "--node", "a")
    assert result.exit_code == 1
    assert "is a prepared dataset folder, not a qsr graph file" in result.output


def test_graph_inspect_rejects_rho_below_one(graph_file):
    result = run("graph", "inspect", str(graph_file), "--node", "a", "--rho", "0.5")
    assert result.exit_code == 2
    assert "Invalid value for '--rho'" in result.output


@pytest.mark.parametrize("export_format", ["graphml", "edgelist"])
def test_graph_export(tmp_path, graph_file, export_format):
    output = tmp_path / f"graph.{export_format}"
    result = run("graph", "export", str(graph_file), "--format", export_format,
                 "--output", str(output))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote {output} (13 nodes, 12 edges)\n"
    assert "query:coffee" in output.read_text()


def test_graph_export_edgelist_lines(tmp_path, graph_file):
    output = tmp_path / "graph.tsv"
    result = run("graph", "export", str(graph_file), "--format", "edgelist", "--output",
                 str(output))
    assert result.exit_code == 0, result.output
    lines = output.read_text().splitlines()
    assert "item:a\tquery:coffee\t2.0\tsearched_by" in lines
    assert "query:milk\titem:c\t1.0\tleads_to" in lines


@pytest.mark.parametrize("command", ["build", "inspect", "export"])
def test_graph_commands_have_help(command):
    result = run("graph", command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output
