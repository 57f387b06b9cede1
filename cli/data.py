"""``qsr data`` commands: prepare sequences from a log, print their statistics, export them."""
from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any, Callable

import click

from qsr_cli.errors import user_errors
from qsr_graph.data.dataset import KIND_ITEM
from qsr_graph.data.prepare import MINIMUMS

logger = logging.getLogger(__name__)

#: Formats that ``qsr data prepare --format`` reads.
FORMATS = ("trivago", "bestbuy", "diginetica", "unsplash", "events")

#: Options of the generic ``events`` reader: (option name, help text).
EVENTS_READER_OPTIONS = (
    ("user_column", "Column of user ids."),
    ("time_column", "Column of event times."),
    ("item_column", "Column of item ids."),
    ("query_column", "Column of query texts. A row with both is a query, then that item."),
    ("session_column", "Column of session ids."),
    ("order_column", "Column that orders events with equal times."),
    ("time_format", "strftime format of the time column (default: UNIX seconds for "
                    "numbers, else ISO 8601)."),
    ("separator", "Field separator of a text input (default: tab for .tsv files, "
                  "else comma)."),
)



@click.group()
def data() -> None:
    """Prepare query-aware sequences from search logs, and inspect or export them."""


def _prepare_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add one option per :class:`PrepareConfig` field."""
    options = [
        click.option("--by-session", is_flag=True,
                     help="One sequence per (user, session) instead of one per user."),
        click.option("--keep-repeats", is_flag=True,
                     help="Keep consecutive repeats of the same item or query."),
        click.option("--min-user-items", type=int, default=3, show_default=True,
                     help="Drop sequences with fewer item events (at least 2)."),
        click.option("--min-item-frequency", type=int, default=1, show_default=True,
                     help="Drop items with fewer item events over all sequences."),
        click.option("--max-length", type=int, default=50, show_default=True,
                     help="Events kept before each sequence's test target."),
        click.option("--max-query-words", type=int, default=5, show_default=True,
                     help="Words kept per query."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def _reader_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the column options of the generic ``events`` reader."""
    options = [click.option(f"--{name.replace('_', '-')}", name, default=None,
                            help=f"{text} Only with --format events.")
               for name, text in EVENTS_READER_OPTIONS]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


@data.command("prepare")
@click.option("--format", "format_name", type=click.Choice(FORMATS), required=True,
              help="Format of the input log.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder to write the prepared dataset to.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@_prepare_options
@_reader_options
@user_errors
def data_prepare(format_name: str, inputs: tuple[Path, ...], output: Path, force: bool,
                 **options: Any) -> None:
    """Read a search-and-click log and write prepared query-aware sequences.

    \b
    Example:
        qsr data prepare --format trivago data/trivago/trivago_val_100k.parquet.snappy \\
            --output out/trivago
        qsr data prepare --format events log.csv --user-column uid --time-column ts \\
            --item-column item --query-column search --output out/mylog
    """
    from qsr_graph.data.prepare import PrepareConfig, prepare
    from qsr_graph.data.readers import read_events
    from qsr_graph.data.stats import format_stats

    config = _prepare_config(options)
    reader_options = {name: options[name] for name, _ in EVENTS_READER_OPTIONS
                      if options[name] is not None}
    if reader_options and format_name != "events":
        names = ", ".join(f"--{name.replace('_', '-')}" for name in reader_options)
        raise click.ClickException(
            f"{names} can only be used with --format events, not {format_name}")
    for path in inputs:
        if not path.exists():
            raise click.ClickException(f"{path}: input file not found")
    if output.exists() and not force:
        raise click.ClickException(f"{output}: output already exists; choose another folder "
                                   f"or pass --force to replace it")

    logger.info("reading %d %s file(s)", len(inputs), format_name)
    result = read_events(format_name, list(inputs), **reader_options)
    dataset = prepare(result.events, PrepareConfig(**config), dropped=result.dropped,
                      source=result.source)
    dataset.save(output)
    click.echo(f"Prepared {dataset.num_users:,} sequences ({dataset.num_events:,} events, "
               f"{dataset.num_items:,} items, {dataset.num_queries:,} queries) in {output}")
    click.echo(format_stats(dataset.stats, by_session=config["by_session"]))


@data.command("stats")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@user_errors
def data_stats(dataset_dir: Path, as_json: bool) -> None:
    """Print the statistics of a prepared dataset (#Inter, #I, #S, #Q, A-I, A-S, A-Q, ...).

    \b
    Example:
        qsr data stats out/trivago
        qsr data stats out/trivago --json
    """
    from qsr_graph.data.dataset import SequenceDataset
    from qsr_graph.data.stats import dataset_stats, format_stats

    dataset = SequenceDataset.load(dataset_dir)
    stats = dataset_stats(dataset)
    if as_json:
        click.echo(json.dumps(stats, indent=2))
    else:
        click.echo(format_stats(stats, by_session=bool(dataset.options.get("by_session"))))


@data.command("export")
@click.option("--format", "format_name", type=click.Choice(["recbole"]), required=True,
              help="Format to write.")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder to write; for recbole it contains <folder name>.inter.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@user_errors
def data_export(format_name: str, dataset_dir: Path, output: Path, force: bool) -> None:
    """Export a prepared dataset's item sequences for another toolkit.

    \b
    Example:
        qsr data export --format recbole out/trivago --output out/recbole/trivago
    """
    from qsr_graph.data.dataset import SequenceDataset
    from qsr_graph.data.export import export_recbole

    if output.exists() and not force:
        raise click.ClickException(f"{output}: output already exists; choose another folder "
                                   f"or pass --force to replace it")
    dataset = SequenceDataset.load(dataset_dir)
    path = export_recbole(dataset, output, overwrite=force)
    click.echo(f"Wrote {int((dataset.kinds == KIND_ITEM).sum()):,} interactions of "
               f"{dataset.num_users:,} sequences to {path}")


def _prepare_config(options: dict[str, Any]) -> dict[str, Any]:
    """Check the prepare options and return them as :class:`PrepareConfig` keyword arguments."""
    for name, lowest in MINIMUMS.items():
        if options[name] < lowest:
            raise click.ClickException(
                f"--{name.replace('_', '-')} must be at least {lowest}, got {options[name]}")
    return {name: options[name] for name in ("by_session", "keep_repeats", *MINIMUMS)}
