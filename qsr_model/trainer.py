"""Training loop with validation-based early stopping, run folders and exact resume.

Every position of a training window is trained in one pass: the hidden states
of the positions with a target are gathered first, then scored against all
items (full softmax) or against the target and sampled negatives. The test
split is evaluated once, on the best model by validation NDCG@20.

Shapes: B batch, L length, D hidden, N target positions of a batch.
"""
from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from qsr_graph.data.dataset import SequenceDataset
from qsr_graph.io import graph_fingerprint
from qsr_model import checkpoint as runs
from qsr_model.batching import SequenceWindows, build_windows
from qsr_model.config import ModelConfig, TrainConfig
from qsr_model.evaluate import EvaluationSplit, evaluate, prepare_split
from qsr_model.losses import full_softmax_loss, sampled_softmax_loss
from qsr_model.metrics import headline
from qsr_model.query_seqrec import QuerySeqRec

logger = logging.getLogger(__name__)

#: Validation metric that selects the best epoch.
SELECTION_METRIC = "NDCG@20"


@dataclass
class TrainResult:
    """Outcome of :func:`train_model`.

    Attributes:
        best_epoch: epoch (1-based) of the best validation NDCG@20.
        best_val: validation result of that epoch (see :func:`evaluate`).
        test: test result of the best model, evaluated once at the end.
        history: one record per epoch run (loss, timings, validation if run).
        model: the best model, in eval mode.
        run_dir: the run folder, or None when nothing was written.
    """

    best_epoch: int
    best_val: dict[str, Any]
    test: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    model: QuerySeqRec | None = None
    run_dir: Path | None = None


@dataclass
class _State:
    """Training progress that changes every epoch and is saved in ``last.pt``."""

    epoch: int = 0
    best_epoch: int = 0
    best_score: float = -math.inf
    best_val: dict[str, Any] = field(default_factory=dict)
    best_model: dict[str, torch.Tensor] | None = None
    bad_validations: int = 0
    stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def _seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    return torch.Generator().manual_seed(seed)


def _rng_states(generator: torch.Generator) -> dict[str, Any]:
    name, keys, position, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "position": int(position), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": random.getstate(),
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng_states(states: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    numpy_state = states["numpy"]
    np.random.set_state((numpy_state["name"], numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["position"], numpy_state["has_gauss"], numpy_state["cached"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    generator.set_state(states["generator"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _make_sampler(graph: Any, dataset: SequenceDataset, config: TrainConfig) -> Any:
    """Return the replacement sampler, or None when training does not augment."""
    if not config.augments:
        return None
    if graph is None:
        raise ValueError("augmentation needs the query-item graph; pass one or turn augmentation off")
    from qsr_graph.augment import ReplacementSampler

    for node_type, expected in (("item", dataset.num_items), ("query", dataset.num_queries)):
        found = graph[node_type].num_nodes
        if found != expected:
            raise ValueError(
                f"the graph has {found} {node_type} nodes but the dataset has {expected}; "
                f"build the graph from this dataset")
    return ReplacementSampler.from_graph(graph, beta_item=config.beta_item,
                                         beta_query=config.beta_query, rho=config.rho)


def resolve_device(device: str) -> torch.device:
    """Return ``torch.device(device)``, raising ``ValueError`` when CUDA is requested but absent."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA device is available; use --device cpu")
    return torch.device(device)


def _prepare_run_folder(
    run_dir: Path, resume: bool, expected: dict[str, Any], dataset: SequenceDataset,
) -> None:
    """Create a new run folder, or check that an existing one matches when resuming."""
    if resume:
        _, _, stored = runs.read_run_config(run_dir)
        stored_train = dict(stored["train"], epochs=expected["train"]["epochs"])
        if stored["model"] != expected["model"] or stored_train != expected["train"]:
            raise ValueError(
                f"{run_dir}: the stored configuration differs from the requested one "
                f"(only epochs may change when resuming)")
        if stored["num_items"] != dataset.num_items or stored["num_words"] != dataset.num_words:
            raise ValueError(f"{run_dir}: the run was trained on a dataset with other vocabularies")
        if stored.get("graph_fingerprint") != expected["graph_fingerprint"]:
            raise ValueError(
                f"{run_dir}: the run was trained with another graph (or without one); "
                f"resume it with the graph file it was started with")
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(
            f"{run_dir} already exists and is not empty; resume it with --resume or "
            f"choose another output folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.write_json(run_dir / runs.CONFIG_FILE, expected)
    runs.write_vocab(run_dir, dataset)


def _resume_state(run_dir: Path, model: QuerySeqRec, optimizer: torch.optim.Optimizer,
                  generator: torch.Generator, device: torch.device) -> _State:
    last = runs.load_checkpoint(run_dir / runs.LAST_FILE, device)
    model.load_state_dict(last["model"])
    optimizer.load_state_dict(last["optimizer"])
    state = _State(epoch=last["epoch"], best_epoch=last["best_epoch"], best_score=last["best_score"],
                   best_val=last["best_val"], bad_validations=last["bad_validations"],
                   stopped=last["stopped"], history=list(last["history"]))
    if state.best_epoch:
        state.best_model = runs.load_checkpoint(run_dir / runs.BEST_FILE, device)["model"]
    _restore_rng_states(last["rng"], generator)
    # A crash between appending a line and saving last.pt leaves an extra line.
    runs.write_metrics(run_dir, state.history)
    logger.info("resuming %s after epoch %d", run_dir, state.epoch)
    return state


#: Batches per group that :func:`batch_rows` sorts by length.
BUCKET_BATCHES = 16


def batch_rows(windows: SequenceWindows, batch_size: int, generator: torch.Generator,
               bucket_by_length: bool = True) -> list[torch.Tensor]:
    """Shuffle the training rows and cut them into batches.

    With ``bucket_by_length``, each group of :data:`BUCKET_BATCHES` shuffled
    batches is sorted by window length before it is cut, and the batches are
    shuffled again, so a batch contains windows of similar length.

    Returns:
        Row indices of every batch, in training order.
    """
    order = torch.randperm(len(windows), generator=generator)
    if not bucket_by_length:
        return list(order.split(batch_size))
    lengths = (windows.kinds != 0).sum(dim=1)  # (U,)
    batches = []
    for group in order.split(batch_size * BUCKET_BATCHES):
        by_length = group[torch.argsort(lengths[group], stable=True)]
        batches.extend(by_length.split(batch_size))
    shuffle = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in shuffle.tolist()]


def _train_epoch(
    model: QuerySeqRec, optimizer: torch.optim.Optimizer, windows: SequenceWindows,
    config: TrainConfig, sampler: Any, generator: torch.Generator, device: torch.device,
    epoch: int, show_progress: bool,
) -> dict[str, Any]:
    """Run one pass over the shuffled training windows and return its loss and timings."""
    model.train()
    batches = batch_rows(windows, config.batch_size, generator, config.bucket_by_length)
    num_batches = len(batches)
    total_loss, total_targets = 0.0, 0
    started = time.perf_counter()
    progress = tqdm(total=num_batches, desc=f"epoch {epoch}", unit="batch",
                    disable=not show_progress, leave=False)
    for rows in batches:
        batch = windows.batch(rows, sampler=sampler, generator=generator).to(device)
        hidden = model(batch)  # (B, L, D)
        has_target = batch.targets >= 0  # (B, L)
        hidden = hidden[has_target]  # (N, D)
        targets = batch.targets[has_target]  # (N,)
        if config.loss == "full":
            loss = full_softmax_loss(model, hidden, targets)
        else:
            loss = sampled_softmax_loss(model, hidden, targets, config.num_negatives, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        total_loss += loss.item() * targets.numel()
        total_targets += targets.numel()
        progress.update(1)
        progress.set_postfix(loss=f"{total_loss / max(total_targets, 1):.4f}", refresh=False)
    progress.close()
    seconds = time.perf_counter() - started
    return {
        "epoch": epoch,
        "loss": total_loss / max(total_targets, 1),
        "seconds": seconds,
        "ms_per_batch": 1000 * seconds / max(num_batches, 1),
        "targets_per_second": total_targets / seconds if seconds > 0 else 0.0,
    }


def train_model(
    dataset: SequenceDataset,
    graph: Any,
    model_config: ModelConfig,
    train_config: TrainConfig,
    output_dir: str | os.PathLike | None = None,
    resume: bool = False,
    show_progress: bool = True,
    *,
    dataset_path: str | os.PathLike | None = None,
    graph_path: str | os.PathLike | None = None,
    epoch_callback: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train a :class:`QuerySeqRec` model, select it on validation and test it once.

    Args:
        dataset: prepared sequences.
        graph: the query-item graph (HeteroData) for augmentation, or None
            when ``train_config`` does not augment.
        model_config: model size.
        train_config: optimisation, augmentation and evaluation settings.
        output_dir: run folder to write (see :mod:`qsr_model.checkpoint`), or
            None to keep everything in memory.
        resume: continue the run in ``output_dir`` from its ``last.pt``.
            ``train_config`` must equal the stored one except for ``epochs``.
            A run that stopped early stays stopped. NOTE: extending
            ``epochs`` with ``eval_every > 1`` keeps the extra validation
            that ran at the old last epoch, so selection can differ from a
            run started with the larger ``epochs``.
        show_progress: draw a progress bar over batches.
        dataset_path: dataset folder recorded in ``config.json``.
        graph_path: graph file recorded in ``config.json``.
        epoch_callback: called with the epoch number after each epoch's
            ``last.pt`` is saved (an exception there interrupts the run).

    Returns:
        The :class:`TrainResult`.

    Raises:
        ValueError: bad settings, a graph that does not fit the dataset, an
            existing run folder without ``resume``, or a stored run that does
            not match the request.
    """
    device = resolve_device(train_config.device)
    run_dir = None if output_dir is None else Path(output_dir)
    if resume and run_dir is None:
        raise ValueError("resume needs the run folder (output_dir)")

    # 1. Seeds, data, model, optimiser and sampler.
    generator = _seed_everything(train_config.seed)
    use_queries = train_config.use_queries
    windows = build_windows(dataset, "train", model_config.max_length, use_queries=use_queries)
    if len(windows) == 0:
        raise ValueError("no user has a training target: every training window is too short")
    val_split = prepare_split(dataset, "val", model_config.max_length, use_queries=use_queries)
    model = QuerySeqRec(model_config, dataset.num_items, dataset.num_words).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr,
                                 weight_decay=train_config.weight_decay)
    sampler = _make_sampler(graph, dataset, train_config)
    eval_options = {"use_queries": use_queries, "eval_negatives": train_config.eval_negatives,
                    "exclude_history": train_config.exclude_history, "seed": train_config.seed}

    state = _State()
    if run_dir is not None:
        fingerprint = graph_fingerprint(graph) if sampler is not None else None
        expected = runs.run_config(model_config, train_config, dataset, dataset_path, graph_path,
                                   graph_fingerprint=fingerprint)
        _prepare_run_folder(run_dir, resume, expected, dataset)
        if resume and (run_dir / runs.LAST_FILE).is_file():
            state = _resume_state(run_dir, model, optimizer, generator, device)
        elif resume:
            # Interrupted during the first epoch: nothing to restore, and the
            # seeded model above is the one a fresh run starts from.
            logger.info("%s has no %s yet, so training starts from epoch 1", run_dir, runs.LAST_FILE)
            runs.write_metrics(run_dir, [])
            if not (run_dir / runs.VOCAB_DIR).is_dir():
                runs.write_vocab(run_dir, dataset)
    logger.info("training on %d windows with %d targets, %d items, %s", len(windows),
                windows.num_targets, dataset.num_items,
                "queries" if use_queries else "items only")

    if state.stopped:
        logger.info("the run stopped early after epoch %d; testing its best epoch", state.epoch)

    # 2. Epochs: train, validate, keep the best, save the resume point.
    while state.epoch < train_config.epochs and not state.stopped:
        epoch = state.epoch + 1
        record = _train_epoch(model, optimizer, windows, train_config, sampler, generator,
                              device, epoch, show_progress)
        if epoch % train_config.eval_every == 0 or epoch == train_config.epochs:
            val = evaluate(model, None, "val", prepared=val_split, **eval_options)
            record["val"] = val
            _select(state, model, val, epoch, run_dir)
            state.stopped = 0 < train_config.patience <= state.bad_validations
            logger.info("epoch %d/%d loss %.4f val %s%s ms/batch %.1f", epoch, train_config.epochs,
                        record["loss"], headline(val), "" if val["sampled"] is None else " (sampled)",
                        record["ms_per_batch"])
        else:
            logger.info("epoch %d/%d loss %.4f ms/batch %.1f", epoch, train_config.epochs,
                        record["loss"], record["ms_per_batch"])
        state.epoch = epoch
        state.history.append(record)
        if run_dir is not None:
            runs.append_metrics(run_dir, record)
            runs.save_checkpoint(run_dir / runs.LAST_FILE, _last_checkpoint(state, model, optimizer, generator))
        if state.stopped:
            logger.info("early stop after epoch %d: no better val %s for %d validations",
                        epoch, SELECTION_METRIC, state.bad_validations)
        if epoch_callback is not None:
            epoch_callback(epoch)

    # 3. Test the best model once.
    if state.best_model is None:
        raise ValueError("no validation ran, so there is no best model to test")
    model.load_state_dict(state.best_model)
    model.eval()
    test = evaluate(model, dataset, "test", **eval_options)
    logger.info("best epoch %d: val %s, test %s", state.best_epoch, headline(state.best_val),
                headline(test))
    if run_dir is not None:
        runs.write_json(run_dir / runs.TEST_FILE, _test_record(test, state))
    return TrainResult(best_epoch=state.best_epoch, best_val=state.best_val, test=test,
                       history=state.history, model=model, run_dir=run_dir)


def _select(state: _State, model: QuerySeqRec, val: dict[str, Any], epoch: int,
            run_dir: Path | None) -> None:
    """Keep the model when its validation score is the best so far."""
    score = val[SELECTION_METRIC]
    if score > state.best_score:
        state.best_score, state.best_epoch, state.best_val = score, epoch, val
        state.best_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        state.bad_validations = 0
        if run_dir is not None:
            runs.save_checkpoint(run_dir / runs.BEST_FILE, {
                "model": state.best_model, "model_config": model.config.to_dict(),
                "epoch": epoch, "val": val,
                "num_items": model.num_items, "num_words": model.num_words})
    else:
        state.bad_validations += 1


def _last_checkpoint(state: _State, model: QuerySeqRec, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_score": state.best_score,
        "best_val": state.best_val,
        "bad_validations": state.bad_validations,
        "stopped": state.stopped,
        "history": state.history,
        "rng": _rng_states(generator),
    }


def _test_record(test: dict[str, Any], state: _State) -> dict[str, Any]:
    metrics = {k: v for k, v in test.items() if k.startswith(("HR@", "NDCG@"))}
    return {"split": "test", "metrics": metrics, "users": test["users"], "sampled": test["sampled"],
            "exclude_history": test["exclude_history"], "best_epoch": state.best_epoch,
            "val": state.best_val}
