"""Tests of ``qsr recommend``."""
from __future__ import annotations

import json
import shutil
import warnings

import pytest
from click.testing import CliRunner

from qsr_cli.main import cli
from qsr_graph.build import GraphConfig, build_graph
from qsr_graph.data import SequenceDataset
from qsr_graph.io import save_graph
from qsr_model.config import ModelConfig, TrainConfig
from qsr_model.recommend import HistoryWarning, Recommender
from qsr_model.trainer import train_model

SEQUENCES = {
    "u1": [("query", "hot air balloon"), ("item", "a"), ("item", "b"),
           ("query", "paris hotel"), ("item", "c"), ("item", "d"), ("item", "e")],
    "u2": [("item", "b"), ("query", "paris"), ("item", "c"), ("item", "a"), ("item", "d")],
    "u3": [("query", "paris hotel"), ("item", "c"), ("query", "hot air"), ("item", "a"),
           ("item", "e"), ("item", "b")],
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run trained for one epoch on three hand-written users, with its graph."""
    folder = tmp_path_factory.mktemp("recommend")
    dataset = SequenceDataset.from_sequences(SEQUENCES)
    save_graph(build_graph(dataset, GraphConfig()), folder / "graph.pt")
    train_model(dataset, None, ModelConfig(hidden_size=8, max_length=5),
                TrainConfig(epochs=1, augmentation=False),
                output_dir=folder / "run", show_progress=False, graph_path=folder / "graph.pt")
    return folder / "run"


def api_result(run_dir, history, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HistoryWarning)
        return Recommender.load(run_dir).recommend(history, **options)


def invoke(*args):
    return CliRunner().invoke(cli, ["recommend", *map(str, args)])


def test_recommend_history_table(run_dir):
    result = invoke(run_dir, "--history", "q:Paris", "--history", "i:a", "-k", "3")
    assert result.exit_code == 0, result.output
    expected = api_result(run_dir, ["q:Paris", "i:a"], k=3)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["rank", "item", "score"]
    assert [line.split() for line in lines[1:]] == [
        [str(rank), rec.item, f"{rec.score:.4f}"] for rank, rec in enumerate(expected, start=1)]


def test_recommend_history_table_explain(run_dir):
    result = invoke(run_dir, "--history", "q:hot air balloon", "-k", "5", "--explain")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["rank", "item", "score", "explanation"]
    rank = [line.split()[1] for line in lines[1:]].index("a") + 1
    assert lines[rank].endswith("  query 'hot air balloon' leads to it (weight 1)")


def test_recommend_history_json_explain(run_dir):
    result = invoke(run_dir, "--history", "q:hot air balloon", "--history", "i:c",
                    "--explain", "--exclude-history", "--json")
    assert result.exit_code == 0, result.output
    expected = api_result(run_dir, ["q:hot air balloon", "i:c"], explain=True,
                          exclude_history=True)
    assert json.loads(result.stdout) == {"recommendations": [r.to_dict() for r in expected]}
    # "hot air balloon" leads to "a" once in u1's training events.
    explained = {r["item"]: r.get("explanation") for r in json.loads(result.stdout)["recommendations"]}
    assert "c" not in explained
    assert explained["a"] == {"query": "hot air balloon", "position": 0, "weight": 1.0}


def test_recommend_input_file(run_dir, tmp_path):
    source = tmp_path / "histories.jsonl"
    source.write_text('{"id": "first", "history": ["q:paris", "i:b"]}\n'
                      "\n"
                      '["i:a", ["query", "hot air"]]\n')
    output = tmp_path / "out" / "recs.jsonl"
    result = invoke(run_dir, "--input", source, "-k", "2", "--output", output)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote 2 recommendation list(s) to {output}" in result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["id"] for row in rows] == ["first", 3]
    # Histories scored together are padded to one length, which changes the
    # float rounding of their scores.
    for row, history in zip(rows, (["q:paris", "i:b"], ["i:a", ("query", "hot air")])):
        expected = api_result(run_dir, history, k=2)
        assert [r["item"] for r in row["recommendations"]] == [r.item for r in expected]
        assert [r["score"] for r in row["recommendations"]] == pytest.approx(
            [r.score for r in expected], abs=1e-6)
    assert sorted(p.name for p in output.parent.iterdir()) == ["recs.jsonl"]


def test_recommend_warns_on_unknown_events(run_dir):
    result = invoke(run_dir, "--history", "i:zz", "--history", "q:zeppelin",
                    "--history", "q:paris zeppelin", "--history", "i:a")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "Warning: --history: skipped 1 unknown item(s): 'zz'; skipped 1 query(ies) with no "
        "known word: 'zeppelin'; dropped query word(s) never seen in training: 'zeppelin'"]


@pytest.mark.parametrize("history, message", [
    (["x:paris"], "Error: --history, event 0: 'x:paris' must start with 'q:' (a query) "
                  "or 'i:' (an item id)"),
    (["i:zz"], "Error: --history: cannot recommend from an empty history: none of its events "
               "is known to the run"),
    (["q:zeppelin"], "Error: --history: cannot recommend from an empty history: none of its "
                     "events is known to the run"),
])
def test_recommend_bad_history(run_dir, history, message):
    args = [arg for event in history for arg in ("--history", event)]
    result = invoke(run_dir, *args)
    assert result.exit_code == 1
    assert message in result.stderr.splitlines()
    assert "Traceback" not in result.output


@pytest.mark.parametrize("lines, message", [
    (['["i:a"]', '{"history": ["i:a"]', '["i:b"]'], "line 2: invalid JSON"),
    (['["i:a"]', '"i:a"'], "line 2: expected a JSON object with a 'history' list or a JSON "
                           "list of events, got str '\"i:a\"'"),
    (['{"id": 1, "histroy": ["i:a"]}'], "line 1: unknown key(s) 'histroy'; expected 'id' "
                                        "and 'history'"),
    (['{"id": 1, "history": "i:a"}'], "line 1: 'history' must be a JSON list of events, "
                                      "got \"i:a\""),
    (['["i:a"]', '[]'], "line 2: cannot recommend from an empty history: it has no events"),
    (['["i:a"]', '', '["i:a", "x:paris"]'], "line 3, event 1: 'x:paris' must start with 'q:'"),
    (['["i:a"]', '["i:a", 5]'], "line 2, event 1: 5 is not an event"),
    ([''], "no histories found (the file is empty)"),
])
def test_recommend_bad_input_file(run_dir, tmp_path, lines, message):
    source = tmp_path / "histories.jsonl"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "recs.jsonl"
    result = invoke(run_dir, "--input", source, "--output", output)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {source}")
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not output.exists()


def test_recommend_missing_run_folder(tmp_path):
    result = invoke(tmp_path / "nowhere", "--history", "i:a")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'nowhere'}: run folder not found\n"


def test_recommend_missing_input_file(run_dir, tmp_path):
    result = invoke(run_dir, "--input", tmp_path / "missing.jsonl")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tmp_path / 'missing.jsonl'}: cannot read the input file "
                             f"(No such file or directory)\n")


def test_recommend_missing_graph(run_dir, tmp_path):
    result = invoke(run_dir, "--history", "i:a", "--explain", "--graph", tmp_path / "g.pt")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'g.pt'}: graph file not found\n"


def copy_run_with_graph(run_dir, tmp_path, graph):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["graph"] = str(graph)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


def test_recommend_run_graph_missing(run_dir, tmp_path):
    copy = copy_run_with_graph(run_dir, tmp_path, tmp_path / "gone.pt")
    plain = invoke(copy, "--history", "i:a", "--json")
    assert plain.exit_code == 0, plain.output
    assert len(json.loads(plain.stdout)["recommendations"]) == 5
    explained = invoke(copy, "--history", "i:a", "--explain")
    assert explained.exit_code == 1
    assert explained.stderr.splitlines()[-1] == (
        f"Error: explanations need a query-item graph ({tmp_path / 'gone.pt'}: graph file not "
        f"found); pass one built from the run's dataset with --graph (graph=)")


def test_recommend_run_graph_invalid(run_dir, tmp_path):
    (tmp_path / "bad.pt").write_text("not a graph")
    copy = copy_run_with_graph(run_dir, tmp_path, tmp_path / "bad.pt")
    assert invoke(copy, "--history", "i:a").exit_code == 0
    explained = invoke(copy, "--history", "i:a", "--explain")
    assert explained.exit_code == 1
    assert explained.stderr.startswith(
        f"Error: explanations need a query-item graph ({tmp_path / 'bad.pt'}: ")


def test_recommend_given_graph_invalid(run_dir, tmp_path):
    (tmp_path / "bad.pt").write_text("not a graph")
    result = invoke(run_dir, "--history", "i:a", "--graph", tmp_path / "bad.pt")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {tmp_path / 'bad.pt'}: ")


def test_recommend_needs_history_or_input(run_dir, tmp_path):
    result = invoke(run_dir)
    assert result.exit_code == 2
    assert "give either --history (one or more times) or --input, not both" in result.stderr
