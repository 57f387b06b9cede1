import json

import pytest
import torch

from qsr_graph.data import SequenceDataset
from qsr_model.checkpoint import RunFolderError, load_run, read_run_config, write_json
from qsr_model.config import ModelConfig, TrainConfig
from qsr_model.trainer import train_model

SEQUENCES = {
    "u1": [("item", "a"), ("query", "x"), ("item", "b"), ("item", "c"), ("item", "d")],
    "u2": [("item", "b"), ("item", "c"), ("item", "a"), ("item", "d")],
}
MODEL = ModelConfig(hidden_size=4, num_blocks=1, num_heads=1, max_length=4)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("runs") / "run"
    config = TrainConfig(epochs=2, batch_size=2, augmentation=False)
    train_model(SequenceDataset.from_sequences(SEQUENCES), None, MODEL, config, folder,
                show_progress=False, dataset_path="data/prepared")
    torch.set_num_threads(threads)
    return folder


def test_checkpoints_load_weights_only(run_dir):
    best = torch.load(run_dir / "best.pt", weights_only=True)
    assert set(best) >= {"model", "model_config", "epoch", "val"}
    assert best["model_config"] == MODEL.to_dict()
    last = torch.load(run_dir / "last.pt", weights_only=True)
    assert last["epoch"] == 2
    assert set(last["rng"]) >= {"torch", "numpy", "python", "generator"}


def test_read_run_config(run_dir):
    model_config, train_config, info = read_run_config(run_dir)
    assert model_config == MODEL
    assert train_config.epochs == 2
    assert (info["dataset"], info["graph"]) == ("data/prepared", None)
    assert (info["num_items"], info["num_queries"], info["num_words"]) == (4, 1, 1)


def test_load_run_returns_eval_model(run_dir):
    model, _, _, info = load_run(run_dir)
    assert not model.training
    assert info["best_epoch"] in (1, 2)
    assert set(info["val"]) >= {"HR@20", "NDCG@20"}


def test_load_run_missing_folder(tmp_path):
    with pytest.raises(RunFolderError, match="run folder not found"):
        load_run(tmp_path / "absent")


def test_load_run_not_a_run(tmp_path):
    with pytest.raises(RunFolderError, match="not a qsr run .no config.json.; train one with 'qsr train'"):
        load_run(tmp_path)


def test_load_run_invalid_json(tmp_path):
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(RunFolderError, match="config.json: invalid JSON"):
        load_run(tmp_path)


def test_load_run_unknown_config_key(tmp_path, run_dir):
    info = json.loads((run_dir / "config.json").read_text())
    info["model"]["width"] = 3
    (tmp_path / "config.json").write_text(json.dumps(info))
    with pytest.raises(RunFolderError, match="invalid configuration .unknown ModelConfig field.s. width"):
        load_run(tmp_path)


def test_load_run_without_best(tmp_path, run_dir):
    (tmp_path / "config.json").write_text((run_dir / "config.json").read_text())
    with pytest.raises(RunFolderError, match="no best.pt"):
        load_run(tmp_path)


def test_write_json_leaves_no_temporary_file(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert json.loads((tmp_path / "a.json").read_text()) == {"b": 1}
