"""``qsr data`` commands."""
from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Work with data."""
