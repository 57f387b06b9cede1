"""``qsr graph`` commands."""
from __future__ import annotations

import click


@click.group()
def graph() -> None:
    """Work with graph."""
