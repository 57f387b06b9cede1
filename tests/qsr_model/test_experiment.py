import json

import pytest

from qsr_model.config import ModelConfig, TrainConfig
from qsr_model.experiment import (
    VARIANTS,
    ExperimentTable,
    TableRow,
    parse_variants,
    write_results,
)


def _model_row(name, label, values):
    runs = [{"seed": seed, "test": {"HR@20": hr, "NDCG@20": ndcg, "HR@10": hr / 2,
                                    "NDCG@10": ndcg / 2},
             "best_epoch": 10 + seed, "epochs_run": 20 + seed, "run_dir": f"runs/{name}-seed{seed}"}
            for seed, (hr, ndcg) in enumerate(values)]
    return TableRow(name, label, "model", runs)


def _reference_row(name, label, hr, ndcg):
    return TableRow(name, label, "reference",
                    [{"test": {"HR@20": hr, "NDCG@20": ndcg, "HR@10": hr, "NDCG@10": ndcg}}])


@pytest.fixture
def table():
    rows = [
        _model_row("query-seqrec", "Query-SeqRec", [(0.30, 0.20), (0.34, 0.22)]),
        _model_row("uniform", "Uniform", [(0.24, 0.16), (0.26, 0.16)]),
        _model_row("sasrec", "SASRec", [(0.20, 0.10), (0.20, 0.10)]),
        _reference_row("repeat", "Repeat", 0.26, 0.18),
    ]
    return ExperimentTable(
        rows=rows,
        dataset={"name": "tiny", "num_users": 3, "num_items": 4, "num_queries": 2, "num_events": 15},
        settings={"seeds": [0, 1], "variants": ["query-seqrec", "uniform", "sasrec"]},
        command="qsr experiment tiny --seeds 2 --output out")


def test_variant_train_configs():
    base = TrainConfig(beta_item=0.2, beta_query=0.3, rho=5.0)
    full = VARIANTS["query-seqrec"].train_config(base, seed=4)
    uniform = VARIANTS["uniform"].train_config(base, seed=4)
    plain = VARIANTS["no-augmentation"].train_config(base, seed=4)
    sasrec = VARIANTS["sasrec"].train_config(base, seed=4)
    assert (full.seed, full.use_queries, full.augmentation, full.beta_item, full.beta_query,
            full.rho) == (4, True, True, 0.2, 0.3, 5.0)
    assert (uniform.use_queries, uniform.augmentation, uniform.rho) == (True, True, 1.0)
    assert (plain.use_queries, plain.augmentation, plain.beta_item, plain.beta_query) == (
        True, False, 0.0, 0.0)
    assert (sasrec.use_queries, sasrec.augmentation, sasrec.beta_item) == (False, False, 0.0)


def test_parse_variants_keeps_table_order():
    assert [v.name for v in parse_variants(["sasrec", "query-seqrec"])] == ["query-seqrec", "sasrec"]
    assert [v.name for v in parse_variants(None)] == [
        "query-seqrec", "uniform", "no-augmentation", "sasrec"]


def test_parse_variants_rejects_unknown():
    with pytest.raises(ValueError, match="unknown variant\\(s\\) bert4rec"):
        parse_variants(["bert4rec"])


def test_table_mean_std_and_change(table):
    qsr = table.row("query-seqrec")
    assert qsr.mean("HR@20") == pytest.approx(0.32)
    # Sample standard deviation of (0.30, 0.34): 0.02 * sqrt(2).
    assert qsr.std("HR@20") == pytest.approx(0.0282843, abs=1e-6)
    assert table.relative_change(qsr, "HR@20") == pytest.approx(0.6)
    assert table.relative_change(qsr, "NDCG@20") == pytest.approx(1.1)
    assert table.relative_change(table.row("sasrec"), "HR@20") is None
    assert table.row("repeat").std("HR@20") is None


def test_table_repeat_sentences(table):
    assert table.repeat_sentences() == [
        "Query-SeqRec beats the repeat row on HR@20 and NDCG@20 "
        "(mean HR@20 0.3200 against 0.2600, NDCG@20 0.2100 against 0.1800).",
        "Uniform does not beat the repeat row "
        "(mean HR@20 0.2500 against 0.2600, NDCG@20 0.1600 against 0.1800).",
        "SASRec does not beat the repeat row "
        "(mean HR@20 0.2000 against 0.2600, NDCG@20 0.1000 against 0.1800).",
    ]


def test_table_markdown_rows(table):
    lines = table.format_table().splitlines()
    assert lines[2] == ("| Model | HR@20 | NDCG@20 | HR@10 | NDCG@10 | Change HR@20 | "
                        "Change NDCG@20 | Best epoch |")
    assert lines[4] == ("| Query-SeqRec | 0.3200 ± 0.0283 | 0.2100 ± 0.0141 | 0.1600 ± 0.0141 | "
                        "0.1050 ± 0.0071 | +60.0% | +110.0% | 10, 11 |")
    assert lines[6] == ("| SASRec | 0.2000 ± 0.0000 | 0.1000 ± 0.0000 | 0.1000 ± 0.0000 | "
                        "0.0500 ± 0.0000 | – | – | 10, 11 |")
    assert lines[7] == "| Repeat | 0.2600 | 0.1800 | 0.2600 | 0.1800 | +30.0% | +80.0% | no training |"


def test_write_results_files(table, tmp_path):
    write_results(table, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md", "results.png"]
    markdown = (tmp_path / "results.md").read_text()
    assert "Dataset: tiny, 3 users, 4 items, 2 queries, 15 events." in markdown
    assert "qsr experiment tiny --seeds 2 --output out" in markdown
    stored = json.loads((tmp_path / "results.json").read_text())
    assert [row["name"] for row in stored["rows"]] == ["query-seqrec", "uniform", "sasrec", "repeat"]
    assert stored["rows"][0]["summary"]["HR@20"]["mean"] == pytest.approx(0.32)
    assert stored["rows"][0]["runs"][1]["best_epoch"] == 11
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_experiment_rejects_bad_seeds(tmp_path):
    from qsr_graph.data import SequenceDataset
    from qsr_model.experiment import run_experiment

    dataset = SequenceDataset.from_sequences({"u": [("item", "a"), ("item", "b"), ("item", "c")]})
    with pytest.raises(ValueError, match="seeds must be distinct, got \\[0, 0\\]"):
        run_experiment(dataset, None, ["sasrec"], [0, 0], ModelConfig(), TrainConfig(), tmp_path)
    with pytest.raises(ValueError, match="variants with augmentation need the graph"):
        run_experiment(dataset, None, ["uniform"], [0], ModelConfig(), TrainConfig(), tmp_path)


TINY_SEQUENCES = {
    f"u{user}": [("query", "red shoes"), ("item", "a"), ("item", "b"), ("query", "blue"),
                 ("item", "c"), ("item", "a"), ("item", "d")][user % 3:]
    for user in range(6)
}


@pytest.fixture
def tiny():
    from qsr_graph.build import build_graph
    from qsr_graph.data import SequenceDataset

    dataset = SequenceDataset.from_sequences(TINY_SEQUENCES)
    return dataset, build_graph(dataset)


def _tiny_run(tiny, tmp_path, **options):
    from qsr_model.experiment import run_experiment

    dataset, graph = tiny
    model_config = ModelConfig(hidden_size=8, max_length=6)
    train_config = TrainConfig(epochs=1, batch_size=4)
    return run_experiment(dataset, graph, ["query-seqrec", "sasrec"], [0, 1], model_config,
                          train_config, tmp_path, dataset_name="tiny", show_progress=False,
                          **options)


def test_run_experiment_writes_runs_and_table(tiny, tmp_path):
    table = _tiny_run(tiny, tmp_path)
    assert [row.name for row in table.rows] == [
        "query-seqrec", "sasrec", "popularity", "repeat", "query-linked"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "query-seqrec-seed0", "query-seqrec-seed1", "sasrec-seed0", "sasrec-seed1"]
    assert [run["seed"] for run in table.row("sasrec").runs] == [0, 1]
    assert table.row("sasrec").runs[0]["best_epoch"] == 1
    stored = json.loads((tmp_path / "runs" / "sasrec-seed1" / "config.json").read_text())
    assert (stored["train"]["seed"], stored["train"]["use_queries"]) == (1, False)
    assert (tmp_path / "results.md").is_file()


def test_run_experiment_reuses_finished_runs(tiny, tmp_path, monkeypatch):
    first = _tiny_run(tiny, tmp_path)

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("qsr_model.trainer.train_model", fail)
    second = _tiny_run(tiny, tmp_path)
    assert second.to_dict()["rows"] == first.to_dict()["rows"]


def test_run_experiment_rejects_changed_settings(tiny, tmp_path):
    from qsr_model.experiment import run_experiment

    _tiny_run(tiny, tmp_path)
    dataset, graph = tiny
    with pytest.raises(ValueError, match="contains a run with other settings; pass --force"):
        run_experiment(dataset, graph, ["sasrec"], [0], ModelConfig(hidden_size=8, max_length=6),
                       TrainConfig(epochs=2, batch_size=4), tmp_path, show_progress=False)
    table = run_experiment(dataset, graph, ["sasrec"], [0], ModelConfig(hidden_size=8, max_length=6),
                           TrainConfig(epochs=2, batch_size=4), tmp_path, show_progress=False,
                           force=True)
    assert table.row("sasrec").runs[0]["epochs_run"] == 2


def test_run_experiment_rejects_changed_graph(tiny, tmp_path):
    from qsr_graph.build import GraphConfig, build_graph
    from qsr_model.experiment import run_experiment

    _tiny_run(tiny, tmp_path)
    dataset, _ = tiny
    other_graph = build_graph(dataset, GraphConfig(alpha=0.5))
    with pytest.raises(ValueError, match="contains a run with other graph; pass --force"):
        run_experiment(dataset, other_graph, ["query-seqrec"], [0],
                       ModelConfig(hidden_size=8, max_length=6), TrainConfig(epochs=1, batch_size=4),
                       tmp_path, show_progress=False)


def test_run_experiment_reuses_sasrec_across_graphs(tiny, tmp_path, monkeypatch):
    from qsr_graph.build import GraphConfig, build_graph
    from qsr_model.experiment import run_experiment

    _tiny_run(tiny, tmp_path)
    dataset, _ = tiny

    def fail(*args, **kwargs):
        raise AssertionError("a run that reads no graph was trained again")

    monkeypatch.setattr("qsr_model.trainer.train_model", fail)
    table = run_experiment(dataset, build_graph(dataset, GraphConfig(alpha=0.5)), ["sasrec"], [0],
                           ModelConfig(hidden_size=8, max_length=6),
                           TrainConfig(epochs=1, batch_size=4), tmp_path, show_progress=False)
    assert table.row("sasrec").runs[0]["epochs_run"] == 1


def test_run_experiment_resumes_interrupted_run(tiny, tmp_path):
    from qsr_model.experiment import run_experiment
    from qsr_model.trainer import train_model

    dataset, graph = tiny
    model_config = ModelConfig(hidden_size=8, max_length=6)
    base = TrainConfig(epochs=3, batch_size=4, patience=0)
    config = VARIANTS["sasrec"].train_config(base, seed=0)

    def interrupt(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model(dataset, graph, model_config, config, output_dir=tmp_path / "runs" / "sasrec-seed0",
                    show_progress=False, epoch_callback=interrupt)
    metrics_file = tmp_path / "runs" / "sasrec-seed0" / "metrics.jsonl"
    before = metrics_file.read_text().splitlines()
    resumed = run_experiment(dataset, graph, ["sasrec"], [0], model_config, base, tmp_path,
                             show_progress=False).row("sasrec").runs[0]
    # Resumed, not restarted: the first two epochs' records (with their timings) are kept.
    assert metrics_file.read_text().splitlines()[:2] == before
    fresh = run_experiment(dataset, graph, ["sasrec"], [0], model_config, base, tmp_path / "fresh",
                           show_progress=False).row("sasrec").runs[0]
    assert resumed["epochs_run"] == 3
    assert resumed["test"] == fresh["test"]
