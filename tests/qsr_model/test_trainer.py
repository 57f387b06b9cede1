import json
import random

import pytest
import torch

from qsr_graph.data import SequenceDataset
from qsr_model.checkpoint import load_run
from qsr_model.config import ModelConfig, TrainConfig
from qsr_model.batching import build_windows
from qsr_model.trainer import BUCKET_BATCHES, batch_rows, train_model

MODEL = ModelConfig(hidden_size=16, num_blocks=1, num_heads=2, max_length=8)


@pytest.fixture(autouse=True)
def one_thread():
    # Two OpenMP threads on a busy 2-core machine are much slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cyclic_dataset(num_users=40, seed=0):
    """Users walk a cycle of 12 items, sometimes searching before a step."""
    rng = random.Random(seed)
    sequences = {}
    for user in range(num_users):
        start = rng.randrange(12)
        events = []
        for step in range(rng.randrange(4, 10)):
            if rng.random() < 0.3:
                events.append(("query", f"w{(start + step) % 5} x{step % 3}"))
            events.append(("item", f"i{(start + step) % 12}"))
        sequences[f"u{user}"] = events
    return SequenceDataset.from_sequences(sequences)


class UniformStandIn:
    """Replaces every token by the next id of its type: enough to check that augmentation runs."""

    def __init__(self, num_items, num_queries):
        self.sizes = {1: num_items, 2: num_queries}
        self.calls = 0

    def __call__(self, kinds, tokens, generator, mask=None):
        self.calls += 1
        out = tokens.clone()
        for kind, size in self.sizes.items():
            chosen = (kinds == kind) & mask
            out[chosen] = (tokens[chosen] + 1) % size
        return out


def train(tmp_path=None, name="run", **changes):
    config = TrainConfig(**{"epochs": 3, "batch_size": 8, "augmentation": False, **changes})
    output = None if tmp_path is None else tmp_path / name
    return train_model(cyclic_dataset(), None, MODEL, config, output, show_progress=False)


def test_training_lowers_loss_and_writes_run(tmp_path):
    result = train(tmp_path, epochs=4)
    losses = [record["loss"] for record in result.history]
    assert losses[-1] < losses[0]
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "best.pt", "config.json", "last.pt", "metrics.jsonl", "test_metrics.json", "vocab"]
    assert sorted(p.name for p in (run / "vocab").iterdir()) == [
        "items.parquet", "manifest.json", "queries.parquet", "query_words.npy", "words.parquet"]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    stored = json.loads((run / "test_metrics.json").read_text())
    assert stored["best_epoch"] == result.best_epoch
    assert stored["metrics"]["HR@20"] == result.test["HR@20"]
    assert stored["users"] == 40


def test_same_seed_same_metrics():
    first, second = train(seed=3), train(seed=3)
    assert [r["loss"] for r in first.history] == [r["loss"] for r in second.history]
    assert first.test == second.test
    other = train(seed=4)
    assert [r["loss"] for r in other.history] != [r["loss"] for r in first.history]


def test_resume_matches_uninterrupted_run(tmp_path):
    options = {"loss": "sampled", "num_negatives": 3, "patience": 0}
    whole = train(tmp_path, "whole", epochs=4, **options)

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch):
        if epoch == 2:
            raise Interrupt

    config = TrainConfig(epochs=4, batch_size=8, augmentation=False, **options)
    with pytest.raises(Interrupt):
        train_model(cyclic_dataset(), None, MODEL, config, tmp_path / "cut", show_progress=False,
                    epoch_callback=stop_after_two)
    assert not (tmp_path / "cut" / "test_metrics.json").exists()
    resumed = train_model(cyclic_dataset(), None, MODEL, config, tmp_path / "cut", resume=True,
                          show_progress=False)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]
    assert resumed.best_epoch == whole.best_epoch
    assert resumed.test == whole.test


def test_resume_before_first_epoch_starts_over(tmp_path):
    whole = train(tmp_path, "whole", epochs=2)

    def stop(epoch):
        raise KeyboardInterrupt

    config = TrainConfig(epochs=2, batch_size=8, augmentation=False)
    with pytest.raises(KeyboardInterrupt):
        train_model(cyclic_dataset(), None, MODEL, config, tmp_path / "cut", show_progress=False,
                    epoch_callback=stop)
    (tmp_path / "cut" / "last.pt").unlink()
    resumed = train_model(cyclic_dataset(), None, MODEL, config, tmp_path / "cut", resume=True,
                          show_progress=False)
    assert resumed.test == whole.test
    assert len((tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()) == 2


def test_resume_with_more_epochs_matches(tmp_path):
    whole = train(tmp_path, "whole", epochs=4, patience=0)
    train(tmp_path, "short", epochs=2, patience=0)
    config = TrainConfig(epochs=4, batch_size=8, augmentation=False, patience=0)
    longer = train_model(cyclic_dataset(), None, MODEL, config, tmp_path / "short", resume=True,
                         show_progress=False)
    assert [r["loss"] for r in longer.history] == [r["loss"] for r in whole.history]
    assert longer.test == whole.test


def test_resume_rejects_changed_config(tmp_path):
    train(tmp_path, epochs=1)
    config = TrainConfig(epochs=2, batch_size=8, augmentation=False, lr=0.01)
    with pytest.raises(ValueError, match="stored configuration differs"):
        train_model(cyclic_dataset(), None, MODEL, config, tmp_path / "run", resume=True,
                    show_progress=False)


def test_refuses_existing_run_folder(tmp_path):
    train(tmp_path, epochs=1)
    with pytest.raises(ValueError, match="already exists and is not empty; resume it with --resume"):
        train(tmp_path, epochs=1)


def test_early_stopping_counts_validations():
    result = train(epochs=30, patience=1, lr=0.5)
    validated = [r for r in result.history if "val" in r]
    scores = [r["val"]["NDCG@20"] for r in validated]
    assert len(result.history) < 30
    # It stops at the first validation that is not better than the best before it.
    assert scores[-1] <= max(scores[:-1])
    assert all(b > a for a, b in zip(scores[:-2], scores[1:-1]))


def test_validates_every_n_epochs():
    result = train(epochs=5, eval_every=2, patience=0)
    assert ["val" in r for r in result.history] == [False, True, False, True, True]


def test_augmentation_needs_graph():
    with pytest.raises(ValueError, match="augmentation needs the query-item graph"):
        train(augmentation=True)


def test_augmentation_sampler_is_called(monkeypatch):
    plain = train(epochs=1)
    dataset = cyclic_dataset()
    stand_in = UniformStandIn(dataset.num_items, dataset.num_queries)
    monkeypatch.setattr("qsr_model.trainer._make_sampler", lambda graph, data, config: stand_in)
    config = TrainConfig(epochs=1, batch_size=8)
    augmented = train_model(dataset, None, MODEL, config, show_progress=False)
    assert stand_in.calls == 5  # 40 windows in batches of 8
    assert augmented.history[0]["loss"] != plain.history[0]["loss"]


def test_without_queries_uses_items_only():
    result = train(epochs=1, use_queries=False)
    assert result.test["users"] == 40
    assert result.model.word_emb.weight.grad is None or not result.model.word_emb.weight.grad.any()


def test_load_run_restores_best_model(tmp_path):
    result = train(tmp_path, epochs=2)
    model, model_config, train_config, info = load_run(tmp_path / "run")
    assert model_config == MODEL
    assert train_config.epochs == 2
    assert info["best_epoch"] == result.best_epoch
    for name, value in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_trains_with_graph_augmentation():
    from qsr_graph.build import GraphConfig, build_graph

    dataset = cyclic_dataset()
    graph = build_graph(dataset, GraphConfig())
    config = TrainConfig(epochs=2, batch_size=8, beta_item=0.5, beta_query=0.5, rho=10.0)
    first = train_model(dataset, graph, MODEL, config, show_progress=False)
    second = train_model(dataset, graph, MODEL, config, show_progress=False)
    plain = train(epochs=2)
    assert first.test == second.test
    assert [r["loss"] for r in first.history] != [r["loss"] for r in plain.history]


def test_batch_rows_cover_every_row_once():
    windows = build_windows(cyclic_dataset(num_users=100), "train", max_length=8)
    batches = batch_rows(windows, 4, torch.Generator().manual_seed(0))
    rows = torch.cat(batches)
    assert sorted(rows.tolist()) == list(range(len(windows)))
    assert [len(b) for b in batches].count(4) >= len(batches) - 2


def test_batch_rows_group_similar_lengths():
    windows = build_windows(cyclic_dataset(num_users=100), "train", max_length=8)
    lengths = (windows.kinds != 0).sum(dim=1)
    group = 4 * BUCKET_BATCHES
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(0))
    first_group = set(order[:group].tolist())
    batches = batch_rows(windows, 4, torch.Generator().manual_seed(0))
    inside = [b for b in batches if set(b.tolist()) <= first_group]
    assert len(inside) == BUCKET_BATCHES
    spans = sorted((lengths[b].min().item(), lengths[b].max().item()) for b in inside)
    # Batches cut from one sorted group never overlap in length except at their edges.
    assert all(high <= next_low for (_, high), (next_low, _) in zip(spans, spans[1:]))


def test_batch_rows_without_buckets_is_shuffle():
    windows = build_windows(cyclic_dataset(num_users=10), "train", max_length=8)
    batches = batch_rows(windows, 3, torch.Generator().manual_seed(5), bucket_by_length=False)
    expected = torch.randperm(len(windows), generator=torch.Generator().manual_seed(5))
    assert torch.cat(batches).tolist() == expected.tolist()
    assert [len(b) for b in batches] == [3, 3, 3, 1]


def test_logs_one_line_per_validation(caplog):
    import logging
    import re

    with caplog.at_level(logging.INFO, logger="qsr_model.trainer"):
        train(epochs=2, eval_every=2, patience=0)
    epoch_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(epoch_lines) == 2
    assert re.fullmatch(r"epoch 1/2 loss \d+\.\d{4} ms/batch \d+\.\d", epoch_lines[0])
    assert re.fullmatch(
        r"epoch 2/2 loss \d+\.\d{4} val HR@20 \d\.\d{4} NDCG@20 \d\.\d{4} ms/batch \d+\.\d",
        epoch_lines[1])
