"""``qsr experiment``: train Query-SeqRec and its ablations, and write the results table."""
from __future__ import annotations

import logging
import shlex
from pathlib import Path

from typing import Any

import click
from click.core import ParameterSource

from qsr_cli.errors import show_progress, user_errors
from qsr_model.config import LOSSES, ModelConfig, TrainConfig
from qsr_model.experiment import VARIANTS, run_experiment

logger = logging.getLogger(__name__)

VARIANT_NAMES = tuple(VARIANTS)


# Options that set a config field shared by all variants: (option, field, click type, help).
# Their defaults are the config's own, so that the help and the runs stay in step with it.
_TRAIN_OPTIONS = (
    ("--epochs", "epochs", click.IntRange(min=1), "Maximum epochs per run."),
    ("--patience", "patience", click.IntRange(min=0),
     "Validations without a better val NDCG@20 before a run stops; 0 never stops early."),
    ("--eval-every", "eval_every", click.IntRange(min=1), "Validate every this many epochs."),
    ("--loss", "loss", click.Choice(LOSSES),
     "full: softmax over all items; sampled: softmax over the target and sampled negatives."),
    ("--num-negatives", "num_negatives", click.IntRange(min=2),
     "n of the sampled loss: the target plus n - 1 uniform negatives."),
    ("--beta-item", "beta_item", click.FloatRange(0, 1), "Chance that augmentation replaces an input item."),
    ("--beta-query", "beta_query", click.FloatRange(0, 1), "Chance that augmentation replaces an input query."),
    ("--rho", "rho", click.FloatRange(min=1),
     "Weight of a similar node against any other node in replacement draws (the uniform variant uses 1)."),
    ("--lr", "lr", click.FloatRange(0, min_open=True), "Adam learning rate."),
    ("--weight-decay", "weight_decay", click.FloatRange(0), "Adam weight decay."),
    ("--batch-size", "batch_size", click.IntRange(min=1), "Sequences per training batch."),
)
_MODEL_OPTIONS = (
    ("--hidden-size", "hidden_size", click.IntRange(min=1), "Width D of embeddings and blocks."),
    ("--ffn-size", "ffn_size", click.IntRange(min=1),
     "Width of the feed-forward network (default: the hidden size)."),
    ("--num-blocks", "num_blocks", click.IntRange(min=1), "Causal self-attention blocks."),
    ("--num-heads", "num_heads", click.IntRange(min=1), "Attention heads per block."),
    ("--max-length", "max_length", click.IntRange(min=1), "Latest events per input window."),
    ("--dropout", "dropout", click.FloatRange(0, 1, max_open=True), "Dropout rate."),
)


def _config_options(func: Any) -> Any:
    """Add one option per shared config field, showing the config's default in its help."""
    for config_class, options in ((TrainConfig, _TRAIN_OPTIONS), (ModelConfig, _MODEL_OPTIONS)):
        for flag, name, kind, help_text in reversed(options):
            default = config_class.__dataclass_fields__[name].default
            if default is not None:
                help_text += f" (default: {default})"
            func = click.option(flag, name, type=kind, default=None, help=help_text)(func)
    return func


def _given(values: dict[str, Any], options: tuple) -> dict[str, Any]:
    """Return the config fields of ``options`` that were given on the command line."""
    return {name: values[name] for _, name, _, _ in options if values[name] is not None}


def _parse_variants(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """Split a comma-separated ``--variants`` value and check every name."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANT_NAMES]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown variant(s) {', '.join(unknown) or repr(value)}; expected a comma-separated "
            f"subset of {', '.join(VARIANT_NAMES)}", ctx=ctx, param=param)
    return names


def _command_line(ctx: click.Context, dataset_dir: Path) -> str:
    """Rebuild the command line from the options given on it, for the results files."""
    parts = ["qsr", "experiment", str(dataset_dir)]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        if ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        option = max(param.opts, key=len)
        if param.is_flag:
            parts += [option] if value else []
        elif isinstance(value, list):
            parts += [option, ",".join(value)]
        else:
            parts += [option, str(value)]
    return shlex.join(parts)


@click.command()
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--graph", "graph_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Graph built by 'qsr graph build'; needed for augmentation and the "
                   "query-linked reference row.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the run folders and results.md, results.json, results.png.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per variant, with seeds 0, 1, ..., SEEDS - 1.")
@click.option("--variants", callback=_parse_variants,
              help=f"Comma-separated variants to train (default: all of {', '.join(VARIANT_NAMES)}).")
@_config_options
@click.option("--beta", type=click.FloatRange(0, 1), default=None,
              help="Replacement chance of both items and queries (sets --beta-item and --beta-query).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads (default: torch's own choice). On a machine shared with "
                   "other jobs, 1 thread per process avoids oversubscription.")
@click.option("--force", is_flag=True,
              help="Train every run again, even where the output folder contains finished runs.")
@user_errors
def experiment(dataset_dir: Path, graph_path: Path | None, output: Path, seeds: int,
               variants: list[str] | None, beta: float | None, threads: int | None, force: bool,
               **settings: Any) -> None:
    """Train Query-SeqRec and its ablations for several seeds and write the results table.

    The variants are Query-SeqRec (queries and graph augmentation), uniform
    replacement (rho = 1), no augmentation (beta = 0) and SASRec (no queries).
    The table gives test HR@20 and NDCG@20 (and @10) as mean and standard
    deviation over seeds, each variant's change against SASRec, and three
    reference rows that learn nothing (popular items, the user's recent items,
    items linked to the latest query). Finished runs in OUTPUT are reused and
    interrupted ones resumed, unless --force.

    \b
    Example:
        qsr experiment out/trivago --graph out/trivago-graph.pt --seeds 3 --output out/experiment
    """
    from qsr_graph.data.dataset import SequenceDataset

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if beta is not None:
        settings.update(beta_item=beta, beta_query=beta)
    dataset = SequenceDataset.load(dataset_dir)
    graph = None
    if graph_path is not None:
        from qsr_graph.io import load_graph

        graph = load_graph(graph_path)
    model_config = ModelConfig(**_given(settings, _MODEL_OPTIONS))
    train_config = TrainConfig(**_given(settings, _TRAIN_OPTIONS))

    command = _command_line(click.get_current_context(), dataset_dir)
    table = run_experiment(dataset, graph, variants, list(range(seeds)), model_config, train_config,
                           output, dataset_name=dataset_dir.name, command=command,
                           force=force, show_progress=show_progress(), dataset_path=str(dataset_dir),
                           graph_path=None if graph_path is None else str(graph_path))
    click.echo(table.format_table())
    click.echo(f"Results written to {output / 'results.md'}, results.json and results.png")
