"""``qsr recommend``."""
from __future__ import annotations

import click


@click.command()
def recommend() -> None:
    """Recommend items for a history."""
    raise click.ClickException("qsr recommend is not available yet")
