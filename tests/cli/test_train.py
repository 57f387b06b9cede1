import json
import random

import pytest
import torch
from click.testing import CliRunner

from qsr_cli.main import cli
from qsr_graph.build import GraphConfig, build_graph
from qsr_graph.data import SequenceDataset
from qsr_graph.io import save_graph

SMALL = ["--hidden-size", "8", "--num-blocks", "1", "--num-heads", "1", "--max-length", "6",
         "--batch-size", "8", "--epochs", "2"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    rng = random.Random(0)
    sequences = {}
    for user in range(24):
        start = rng.randrange(9)
        events = []
        for step in range(rng.randrange(3, 8)):
            if rng.random() < 0.3:
                events.append(("query", f"w{(start + step) % 4}"))
            events.append(("item", f"i{(start + step) % 9}"))
        sequences[f"u{user}"] = events
    folder = tmp_path_factory.mktemp("data") / "prepared"
    SequenceDataset.from_sequences(sequences).save(folder)
    return folder


@pytest.fixture(scope="module")
def graph_path(dataset_dir):
    path = dataset_dir.parent / "graph.pt"
    save_graph(build_graph(SequenceDataset.load(dataset_dir), GraphConfig()), path)
    return path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_train_writes_run_and_table(dataset_dir, graph_path, tmp_path):
    run = tmp_path / "run"
    result = invoke("-q", "train", dataset_dir, "--graph", graph_path, "--output", run, *SMALL)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Run folder: {run}"
    assert lines[1].startswith("Best epoch ")
    assert lines[2] == "24 users, all-item ranking"
    assert lines[3].split() == ["metric", "val", "test"]
    assert [line.split()[0] for line in lines[4:]] == [
        "HR@20", "NDCG@20", "HR@10", "NDCG@10", "HR@5", "NDCG@5"]
    config = json.loads((run / "config.json").read_text())
    assert config["graph"] == str(graph_path.resolve())
    assert config["train"]["augmentation"] is True
    stored = json.loads((run / "test_metrics.json").read_text())
    assert lines[4].split()[2] == f"{stored['metrics']['HR@20']:.4f}"


def test_train_ablation_flags(dataset_dir, tmp_path):
    run = tmp_path / "run"
    result = invoke("-q", "train", dataset_dir, "--output", run, "--no-augmentation",
                    "--no-queries", *SMALL)
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["train"]
    assert (config["augmentation"], config["use_queries"]) == (False, False)
    assert config["bucket_by_length"] is True


def test_train_uniform_replacement_sets_rho(dataset_dir, graph_path, tmp_path):
    run = tmp_path / "run"
    result = invoke("-q", "train", dataset_dir, "--graph", graph_path, "--output", run,
                    "--uniform-replacement", *SMALL)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["train"]["rho"] == 1.0


def test_train_needs_graph(dataset_dir, tmp_path):
    result = invoke("train", dataset_dir, "--output", tmp_path / "run")
    assert result.exit_code == 2
    assert "--graph is required unless --no-augmentation is given" in result.output


def test_train_needs_dataset_and_output(tmp_path):
    result = invoke("train", "--output", tmp_path / "run")
    assert result.exit_code == 2
    assert "give DATASET_DIR and --output, or --resume RUN_DIR" in result.output


def test_train_bad_config_is_user_error(dataset_dir, tmp_path):
    result = invoke("train", dataset_dir, "--no-augmentation", "--output", tmp_path / "run",
                    "--hidden-size", "10", "--num-heads", "3")
    assert result.exit_code == 1
    assert result.output == "Error: hidden_size 10 must be a multiple of num_heads 3\n"


def test_train_not_a_dataset(tmp_path):
    result = invoke("train", tmp_path, "--no-augmentation", "--output", tmp_path / "run")
    assert result.exit_code == 1
    assert "not a prepared qsr dataset" in result.output


def test_resume_and_evaluate(dataset_dir, tmp_path):
    run = tmp_path / "run"
    first = invoke("-q", "train", dataset_dir, "--no-augmentation", "--output", run,
                   "--patience", "0", *SMALL)
    assert first.exit_code == 0, first.output
    resumed = invoke("-q", "train", "--resume", run, "--epochs", "3")
    assert resumed.exit_code == 0, resumed.output
    assert "of 3 run" in resumed.output.splitlines()[1]
    stored = json.loads((run / "test_metrics.json").read_text())

    evaluated = invoke("-q", "evaluate", run, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output)
    assert result["HR@20"] == stored["metrics"]["HR@20"]
    assert (result["split"], result["sampled"], result["exclude_history"]) == ("test", None, False)

    text = invoke("-q", "evaluate", run, "--split", "val", "--sampled", "3", "--exclude-history")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[1] == "24 users, sampled ranking (3 negatives), history items excluded"
    assert lines[2].split() == ["metric", "val"]


def test_resume_rejects_other_options(dataset_dir, tmp_path):
    run = tmp_path / "run"
    invoke("-q", "train", dataset_dir, "--no-augmentation", "--output", run, *SMALL)
    result = invoke("train", "--resume", run, "--lr", "0.1", "--no-queries")
    assert result.exit_code == 2
    assert "only --epochs may change, got --lr, --no-queries" in result.output


def test_evaluate_not_a_run(tmp_path):
    result = invoke("evaluate", tmp_path)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path}: not a qsr run (no config.json); train one with 'qsr train'\n")
