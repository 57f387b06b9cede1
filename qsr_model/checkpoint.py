"""Run folders: configuration, vocabulary copies, checkpoints and metrics of one training run.

Layout of a run folder:

* ``config.json``: format, model and training configs, dataset and graph paths
  and the vocabulary sizes;
* ``vocab/``: copies of the dataset's item, query and word vocabularies, so a
  run is self-contained;
* ``metrics.jsonl``: one JSON line per epoch;
* ``best.pt``: the best model by validation NDCG@20;
* ``last.pt``: everything needed to resume after the latest epoch;
* ``test_metrics.json``: the test metrics of the best model, written once.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from qsr_graph.atomic import atomic_file
from qsr_graph.data.dataset import SequenceDataset
from qsr_model.config import ModelConfig, TrainConfig
from qsr_model.query_seqrec import QuerySeqRec

RUN_FORMAT = "qsr-run"
RUN_FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
VOCAB_DIR = "vocab"
METRICS_FILE = "metrics.jsonl"
BEST_FILE = "best.pt"
LAST_FILE = "last.pt"
TEST_FILE = "test_metrics.json"
VOCAB_FILES = ("items.parquet", "queries.parquet", "words.parquet", "query_words.npy", "manifest.json")


class RunFolderError(ValueError):
    """A folder that is not a readable qsr run."""


def write_json(path: Path, value: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def save_checkpoint(path: Path, value: dict[str, Any]) -> None:
    """Save a checkpoint with ``torch.save`` through a temporary file and a rename."""
    with atomic_file(path) as tmp:
        torch.save(value, tmp)


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one epoch's record to ``metrics.jsonl``."""
    with open(run_dir / METRICS_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Return the records of ``metrics.jsonl`` (empty when the file is missing)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_metrics(run_dir: Path, records: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` with exactly ``records``."""
    with atomic_file(run_dir / METRICS_FILE) as tmp:
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def run_config(
    model_config: ModelConfig, train_config: TrainConfig, dataset: SequenceDataset,
    dataset_path: str | os.PathLike | None, graph_path: str | os.PathLike | None,
    graph_fingerprint: str | None = None,
) -> dict[str, Any]:
    """Return the contents of ``config.json`` for a run.

    ``graph_fingerprint`` (from :func:`qsr_graph.io.graph_fingerprint`) records
    which graph augmentation read, because the path alone does not: a graph
    file can be rebuilt in place with another alpha.
    """
    return {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "model": model_config.to_dict(),
        "train": train_config.to_dict(),
        "dataset": None if dataset_path is None else str(dataset_path),
        "graph": None if graph_path is None else str(graph_path),
        "graph_fingerprint": graph_fingerprint,
        "num_items": dataset.num_items,
        "num_queries": dataset.num_queries,
        "num_words": dataset.num_words,
    }


def write_vocab(run_dir: Path, dataset: SequenceDataset) -> None:
    """Copy the dataset's vocabulary files into ``run_dir/vocab``, in the dataset folder format."""
    scratch = Path(tempfile.mkdtemp(prefix=".vocab.", dir=run_dir))
    try:
        dataset.save(scratch / "dataset")
        target = scratch / VOCAB_DIR
        target.mkdir()
        for name in VOCAB_FILES:
            shutil.copy2(scratch / "dataset" / name, target / name)
        final = run_dir / VOCAB_DIR
        if final.exists():
            shutil.rmtree(final)
        target.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def read_run_config(run_dir: str | os.PathLike) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
    """Read ``config.json`` of a run folder.

    Returns:
        ``(model_config, train_config, info)`` where ``info`` is the whole file.

    Raises:
        RunFolderError: the folder or its config is missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: run folder not found")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunFolderError(f"{run_dir}: not a qsr run (no {CONFIG_FILE}); train one with 'qsr train'")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path}: invalid JSON ({err})") from err
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
        raise RunFolderError(f"{path}: not a qsr run configuration")
    if info.get("format_version") != RUN_FORMAT_VERSION:
        raise RunFolderError(
            f"{path}: run format version {info.get('format_version')} is not supported "
            f"(expected {RUN_FORMAT_VERSION})")
    try:
        model_config = ModelConfig.from_dict(info["model"])
        train_config = TrainConfig.from_dict(info["train"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunFolderError(f"{path}: invalid configuration ({err})") from err
    return model_config, train_config, info


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a run checkpoint with ``weights_only=True``."""
    if not path.is_file():
        raise RunFolderError(f"{path.parent}: no {path.name}; the run has not finished an epoch")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError) as err:
        raise RunFolderError(f"{path}: unreadable checkpoint ({err})") from err


def build_model(model_config: ModelConfig, info: dict[str, Any]) -> QuerySeqRec:
    """Build an untrained model of the sizes recorded in a run's ``config.json``."""
    return QuerySeqRec(model_config, num_items=int(info["num_items"]), num_words=int(info["num_words"]))


def load_run(
    run_dir: str | os.PathLike, device: str | torch.device = "cpu",
) -> tuple[QuerySeqRec, ModelConfig, TrainConfig, dict[str, Any]]:
    """Load the best model of a run folder.

    Args:
        run_dir: folder written by :func:`qsr_model.trainer.train_model`.
        device: where to put the model.

    Returns:
        ``(model, model_config, train_config, info)``: the model in eval mode,
        and ``info`` = ``config.json`` plus ``best_epoch`` and ``val`` (the
        validation metrics of the best epoch).

    Raises:
        RunFolderError: the folder is not a run, or ``best.pt`` is missing or
            does not fit the configuration.
    """
    run_dir = Path(run_dir)
    model_config, train_config, info = read_run_config(run_dir)
    checkpoint = load_checkpoint(run_dir / BEST_FILE, device)
    model = build_model(model_config, info)
    try:
        model.load_state_dict(checkpoint["model"])
    except (KeyError, RuntimeError) as err:
        raise RunFolderError(f"{run_dir / BEST_FILE}: does not fit config.json ({err})") from err
    info = dict(info, best_epoch=checkpoint.get("epoch"), val=checkpoint.get("val"))
    return model.to(device).eval(), model_config, train_config, info
