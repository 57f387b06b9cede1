"""Fixtures for the reader tests: writing small input files and listing events."""
from __future__ import annotations

import calendar
import gzip
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Return ``write(name, content, compress=False)``, which writes a file under tmp_path.

    ``content`` is bytes, or text encoded as UTF-8. Lines are written exactly as
    given, so a test chooses its own line ends.
    """

    def write_file(name: str, content: str | bytes, compress: bool = False) -> Path:
        data = content.encode("utf-8") if isinstance(content, str) else content
        path = tmp_path / name
        if compress:
            with gzip.open(path, "wb") as handle:
                handle.write(data)
        else:
            path.write_bytes(data)
        return path

    return write_file


def event_rows(events: pd.DataFrame) -> list[tuple]:
    """List events as ``(user, session, time, order, kind, value)`` tuples in sequence order.

    A missing session is written as ``None``.
    """
    ordered = events.sort_values(["user", "time", "order"], kind="stable")
    return [
        (user, None if pd.isna(session) else session, time, order, kind, value)
        for user, session, time, order, kind, value in ordered[
            ["user", "session", "time", "order", "kind", "value"]].itertuples(index=False)
    ]


@pytest.fixture
def rows() -> Callable[[pd.DataFrame], list[tuple]]:
    """Return :func:`event_rows`."""
    return event_rows


@pytest.fixture
def utc() -> Callable[..., float]:
    """Return ``utc(year, month, day, hour=0, minute=0, second=0, fraction=0.0)`` in UNIX seconds."""

    def seconds(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
                second: int = 0, fraction: float = 0.0) -> float:
        return calendar.timegm((year, month, day, hour, minute, second)) + fraction

    return seconds
