import json

import pytest
from click.testing import CliRunner

from qsr_cli.main import cli

SEQUENCES = {
    f"u{user}": [("query", "red shoes"), ("item", "a"), ("item", "b"), ("query", "blue"),
                 ("item", "c"), ("item", "a"), ("item", "d")][user % 3:]
    for user in range(6)
}


@pytest.fixture
def prepared(tmp_path):
    from qsr_graph.build import build_graph
    from qsr_graph.data import SequenceDataset
    from qsr_graph.io import save_graph

    dataset = SequenceDataset.from_sequences(SEQUENCES)
    dataset.save(tmp_path / "tiny")
    save_graph(build_graph(dataset), tmp_path / "graph.pt")
    return tmp_path / "tiny", tmp_path / "graph.pt"


def test_experiment_help():
    result = CliRunner().invoke(cli, ["experiment", "--help"])
    assert result.exit_code == 0
    assert "qsr experiment out/trivago --graph out/trivago-graph.pt --seeds 3" in result.output


def test_experiment_rejects_unknown_variant(prepared, tmp_path):
    dataset_dir, graph = prepared
    result = CliRunner().invoke(cli, ["experiment", str(dataset_dir), "--graph", str(graph),
                                      "--output", str(tmp_path / "out"), "--variants", "sasrec,gru4rec"])
    assert result.exit_code == 2
    assert "unknown variant(s) gru4rec" in result.output


def test_experiment_needs_graph_for_augmentation(prepared, tmp_path):
    dataset_dir, _ = prepared
    result = CliRunner().invoke(cli, ["experiment", str(dataset_dir), "--output", str(tmp_path / "out"),
                                      "--variants", "uniform"])
    assert result.exit_code == 1
    assert result.output == "Error: variants with augmentation need the graph (--graph)\n"


def test_experiment_prints_table(prepared, tmp_path):
    dataset_dir, graph = prepared
    output = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "-q", "experiment", str(dataset_dir), "--graph", str(graph), "--output", str(output),
        "--seeds", "1", "--epochs", "1", "--variants", "sasrec,no-augmentation",
        "--hidden-size", "8", "--max-length", "6", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].startswith("| Model | HR@20 | NDCG@20 | HR@10 | NDCG@10 |")
    assert [line.split(" | ")[0] for line in lines[4:9]] == [
        "| Query-SeqRec, no augmentation (beta = 0)", "| SASRec (no queries)",
        "| Popularity (most frequent training items)", "| Repeat (user's most recent distinct items)",
        "| Query-linked (items linked to the latest query)"]
    assert lines[-1] == f"Results written to {output / 'results.md'}, results.json and results.png"
    stored = json.loads((output / "results.json").read_text())
    assert stored["command"] == (
        f"qsr experiment {dataset_dir} --graph {graph} --output {output} --seeds 1 "
        f"--variants sasrec,no-augmentation --hidden-size 8 --max-length 6 --batch-size 4 --epochs 1")
    assert stored["settings"]["model"]["hidden_size"] == 8
