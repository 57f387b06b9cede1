"""``qsr train`` and ``qsr evaluate``."""
from __future__ import annotations

import click


@click.command()
def train() -> None:
    """Train a model."""
    raise click.ClickException("qsr train is not available yet")


@click.command()
def evaluate() -> None:
    """Evaluate a trained run."""
    raise click.ClickException("qsr evaluate is not available yet")
