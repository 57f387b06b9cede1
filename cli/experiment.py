"""``qsr experiment``: train Query-SeqRec and its ablations, and write the results table."""
from __future__ import annotations

import logging
import shlex
from pathlib import Path

import click
from click.core import ParameterSource

from qsr_cli.errors import show_progress, user_errors

logger = logging.getLogger(__name__)

VARIANT_NAMES = ("query-seqrec", "uniform", "no-augmentation", "sasrec")


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
@click.option("--epochs", type=click.IntRange(min=1), default=200, show_default=True,
              help="Maximum epochs per run.")
@click.option("--patience", type=click.IntRange(min=0), default=10, show_default=True,
              help="Validations without a better val NDCG@20 before a run stops; 0 never stops early.")
@click.option("--eval-every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Validate every this many epochs.")
@click.option("--loss", type=click.Choice(["full", "sampled"]), default="full", show_default=True,
              help="Full softmax over all items, or sampled softmax over the target and negatives.")
@click.option("--num-negatives", type=click.IntRange(min=2), default=100, show_default=True,
              help="Target plus negatives of the sampled loss.")
@click.option("--beta", type=click.FloatRange(0, 1), default=None,
              help="Replacement chance of both items and queries (overrides --beta-item and --beta-query).")
@click.option("--beta-item", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Chance that augmentation replaces an input item.")
@click.option("--beta-query", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Chance that augmentation replaces an input query.")
@click.option("--rho", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="Weight of a similar node against any other in replacement (the uniform variant uses 1).")
@click.option("--hidden-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Width D of embeddings and blocks.")
@click.option("--ffn-size", type=click.IntRange(min=1), default=None,
              help="Width of the feed-forward network (default: the hidden size).")
@click.option("--num-blocks", type=click.IntRange(min=1), default=2, show_default=True,
              help="Causal self-attention blocks.")
@click.option("--num-heads", type=click.IntRange(min=1), default=2, show_default=True,
              help="Attention heads per block.")
@click.option("--max-length", type=click.IntRange(min=1), default=50, show_default=True,
              help="Latest events per input window.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Dropout rate.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Adam learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Adam weight decay.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True,
              help="Sequences per training batch.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads (default: torch's own choice). On a machine shared with "
                   "other jobs, 1 thread per process avoids oversubscription.")
@click.option("--force", is_flag=True,
              help="Train every run again, even where the output folder contains finished runs.")
@user_errors
def experiment(dataset_dir: Path, graph_path: Path | None, output: Path, seeds: int,
               variants: list[str] | None, epochs: int, patience: int, eval_every: int, loss: str,
               num_negatives: int, beta: float | None, beta_item: float, beta_query: float,
               rho: float, hidden_size: int, ffn_size: int | None, num_blocks: int, num_heads: int,
               max_length: int, dropout: float, lr: float, weight_decay: float, batch_size: int,
               threads: int | None, force: bool) -> None:
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
    from qsr_model.config import ModelConfig, TrainConfig
    from qsr_model.experiment import run_experiment

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if beta is not None:
        beta_item = beta_query = beta
    dataset = SequenceDataset.load(dataset_dir)
    graph = None
    if graph_path is not None:
        from qsr_graph.io import load_graph

        graph = load_graph(graph_path)
    model_config = ModelConfig(hidden_size=hidden_size, num_blocks=num_blocks, num_heads=num_heads,
                               max_length=max_length, dropout=dropout, ffn_size=ffn_size)
    train_config = TrainConfig(lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                               epochs=epochs, patience=patience, loss=loss,
                               num_negatives=num_negatives, beta_item=beta_item,
                               beta_query=beta_query, rho=rho, eval_every=eval_every)

    command = _command_line(click.get_current_context(), dataset_dir)
    table = run_experiment(dataset, graph, variants, list(range(seeds)), model_config, train_config,
                           output, dataset_name=dataset_dir.name, command=command,
                           force=force, show_progress=show_progress(), dataset_path=str(dataset_dir),
                           graph_path=None if graph_path is None else str(graph_path))
    click.echo(table.format_table())
    click.echo(f"Results written to {output / 'results.md'}, results.json and results.png")
