"""``qsr train`` and ``qsr evaluate``: train Query-SeqRec into a run folder, evaluate a run."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from qsr_cli.config_options import MODEL_OPTIONS, TRAIN_OPTIONS, config_options, given_fields
from qsr_cli.errors import show_progress, user_errors
from qsr_model.config import ModelConfig, TrainConfig

logger = logging.getLogger(__name__)

#: Report order: the @20 metrics lead.
METRIC_ROWS = ("HR@20", "NDCG@20", "HR@10", "NDCG@10", "HR@5", "NDCG@5")

_config_options = config_options(MODEL_OPTIONS, TRAIN_OPTIONS)


def format_results(val: dict[str, Any], test: dict[str, Any] | None) -> str:
    """Return the table of validation and test metrics, labelled with how they were ranked."""
    from qsr_model.evaluate import describe

    header = f"{'metric':<10}{'val':>10}" + (f"{'test':>10}" if test is not None else "")
    lines = [f"{val['users']:,} users, {describe(val)}", header]
    for name in METRIC_ROWS:
        if name in val:
            row = f"{name:<10}{val[name]:>10.4f}"
            if test is not None:
                row += f"{test[name]:>10.4f}"
            lines.append(row)
    return "\n".join(lines)


def _load_inputs(dataset_dir: Path, graph_path: Path | None, needs_graph: bool) -> tuple[Any, Any]:
    from qsr_graph.data import SequenceDataset

    dataset = SequenceDataset.load(dataset_dir)
    graph = None
    if needs_graph:
        if graph_path is None:
            raise click.UsageError("--graph is required unless --no-augmentation is given")
        from qsr_graph.io import load_graph

        graph = load_graph(graph_path)
    return dataset, graph


@click.command()
@click.argument("dataset_dir", required=False,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--graph", "graph_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Query-item graph (.pt from 'qsr graph build') for augmentation.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder to create.")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Continue the run in this folder from its last epoch (only --epochs may change).")
@_config_options
@click.option("--no-queries", is_flag=True, help="Drop query events: the item-only SASRec ablation.")
@click.option("--no-augmentation", is_flag=True, help="Train on the observed sequences only.")
@click.option("--uniform-replacement", is_flag=True,
              help="Draw replacements uniformly (rho = 1) instead of from similar nodes.")
@click.option("--exclude-history", is_flag=True,
              help="Drop the items of each user's input history from validation and test rankings.")
@click.option("--no-length-buckets", is_flag=True,
              help="Cut batches from the plain shuffle instead of grouping windows of similar length.")
@click.option("--threads", type=click.IntRange(min=1),
              help="CPU threads for torch (default: torch's own choice).")
@user_errors
def train(dataset_dir: Path | None, graph_path: Path | None, output: Path | None,
          resume_dir: Path | None, no_queries: bool, no_augmentation: bool,
          uniform_replacement: bool, exclude_history: bool, no_length_buckets: bool,
          threads: int | None,
          **values: Any) -> None:
    """Train Query-SeqRec on a prepared dataset and test the best epoch once.

    The epoch with the best validation NDCG@20 is selected. The run folder
    contains config.json, vocab/, metrics.jsonl, best.pt, last.pt and
    test_metrics.json.

    \b
    Example:
        qsr train out/trivago --graph out/trivago-graph.pt --output out/run
        qsr train out/trivago --no-augmentation --no-queries --output out/sasrec
        qsr train --resume out/run --epochs 200
    """
    import torch

    from qsr_model.checkpoint import read_run_config
    from qsr_model.trainer import train_model

    if threads is not None:
        torch.set_num_threads(threads)
    model_changes = given_fields(values, MODEL_OPTIONS)
    train_changes = given_fields(values, TRAIN_OPTIONS)

    if resume_dir is not None:
        extra = set(model_changes) | (set(train_changes) - {"epochs"})
        flags = [name for name, on in (("--no-queries", no_queries), ("--no-augmentation", no_augmentation),
                                        ("--uniform-replacement", uniform_replacement),
                                        ("--exclude-history", exclude_history),
                                        ("--no-length-buckets", no_length_buckets)) if on]
        if extra or flags or output is not None:
            named = sorted("--" + name.replace("_", "-") for name in extra) + flags
            named += ["--output"] if output is not None else []
            raise click.UsageError(
                f"--resume continues the stored configuration; only --epochs may change, "
                f"got {', '.join(named)}")
        model_config, train_config, info = read_run_config(resume_dir)
        if "epochs" in train_changes:
            train_config = TrainConfig.from_dict(dict(train_config.to_dict(), epochs=train_changes["epochs"]))
        dataset_dir = dataset_dir or (Path(info["dataset"]) if info.get("dataset") else None)
        graph_path = graph_path or (Path(info["graph"]) if info.get("graph") else None)
        if dataset_dir is None:
            raise click.UsageError("the run does not record its dataset; pass DATASET_DIR")
        output = resume_dir
    else:
        if dataset_dir is None or output is None:
            raise click.UsageError("give DATASET_DIR and --output, or --resume RUN_DIR")
        if uniform_replacement:
            if train_changes.get("rho", 1.0) != 1.0:
                raise click.UsageError("--uniform-replacement sets rho to 1; drop --rho")
            train_changes["rho"] = 1.0
        train_changes.update(use_queries=not no_queries, augmentation=not no_augmentation,
                             exclude_history=exclude_history,
                             bucket_by_length=not no_length_buckets)
        model_config = ModelConfig(**model_changes)
        train_config = TrainConfig(**train_changes)

    dataset, graph = _load_inputs(dataset_dir, graph_path, train_config.augments)
    result = train_model(
        dataset, graph, model_config, train_config, output, resume=resume_dir is not None,
        show_progress=show_progress(),
        dataset_path=dataset_dir.resolve(),
        graph_path=graph_path.resolve() if graph is not None and graph_path else None)

    click.echo(f"Run folder: {output}")
    click.echo(f"Best epoch {result.best_epoch} of {len(result.history)} run "
               f"(selected on val NDCG@20; test evaluated once)")
    click.echo(format_results(result.best_val, result.test))


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(("val", "test")), default="test", show_default=True,
              help="Which target to rank.")
@click.option("--sampled", type=click.IntRange(min=1),
              help="Rank against this many uniform negatives instead of all items.")
@click.option("--exclude-history", is_flag=True,
              help="Drop the items of each user's input history from the ranking.")
@click.option("--dataset", "dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Prepared dataset (default: the one recorded in the run).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampled negatives.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Users per forward pass.")
@click.option("--device", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True,
              help="Where to evaluate.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@user_errors
def evaluate(run_dir: Path, split: str, sampled: int | None, exclude_history: bool,
             dataset_dir: Path | None, seed: int, batch_size: int, device: str,
             as_json: bool) -> None:
    """Evaluate the best model of a run on the validation or test targets.

    \b
    Example:
        qsr evaluate out/run
        qsr evaluate out/run --split val --sampled 100 --json
    """
    from qsr_graph.data import SequenceDataset
    from qsr_model.checkpoint import load_run
    from qsr_model.evaluate import evaluate as evaluate_model
    from qsr_model.trainer import resolve_device

    model, _, train_config, info = load_run(run_dir, device=resolve_device(device))
    if dataset_dir is None:
        if not info.get("dataset"):
            raise click.UsageError("the run does not record its dataset; pass --dataset")
        dataset_dir = Path(info["dataset"])
    dataset = SequenceDataset.load(dataset_dir)
    if dataset.num_items != model.num_items:
        raise ValueError(
            f"{dataset_dir} has {dataset.num_items} items but the run's model scores "
            f"{model.num_items}; pass the dataset the run was trained on")
    result = evaluate_model(model, dataset, split, use_queries=train_config.use_queries,
                            batch_size=batch_size, eval_negatives=sampled,
                            exclude_history=exclude_history, seed=seed,
                            show_progress=show_progress())
    if as_json:
        click.echo(json.dumps(dict(result, run=str(run_dir), best_epoch=info["best_epoch"]),
                              indent=2, sort_keys=True))
        return
    click.echo(f"Run {run_dir}, best epoch {info['best_epoch']}, {split} split")
    lines = format_results(result, None).splitlines()
    lines[1] = f"{'metric':<10}{split:>10}"
    click.echo("\n".join(lines))
