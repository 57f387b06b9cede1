"""Root of the ``qsr`` command line: logging set-up and the command groups."""
from __future__ import annotations

import logging

import click

from qsr_cli.data import data
from qsr_cli.graph import graph
from qsr_cli.experiment import experiment
from qsr_cli.recommend import recommend
from qsr_cli.train import evaluate, train

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Log only warnings and errors, and hide progress bars.")
@click.version_option(package_name="qsr")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """Query-aware sequential recommendation: data, graph, training and recommending.

    \b
    Example:
        qsr data prepare --format trivago data/trivago/trivago_val_100k.parquet.snappy --output out/trivago
        qsr data stats out/trivago
    """
    level = logging.INFO
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


cli.add_command(data)
cli.add_command(graph)
cli.add_command(train)
cli.add_command(evaluate)
cli.add_command(experiment)
cli.add_command(recommend)
