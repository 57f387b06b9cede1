"""``qsr train``, ``qsr evaluate`` and ``qsr experiment``."""
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


@click.command()
def experiment() -> None:
    """Run the ablation table."""
    raise click.ClickException("qsr experiment is not available yet")
