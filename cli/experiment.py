"""``qsr experiment``: the ablation table."""
from __future__ import annotations

import click


@click.command()
def experiment() -> None:
    """Run the ablation table."""
    raise click.ClickException("qsr experiment is not available yet")
