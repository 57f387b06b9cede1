"""Shared parts of the readers: the error type, the result and the canonical event table.

Every reader returns a :class:`ReadResult` whose ``events`` table has the columns
of :data:`EVENT_COLUMNS`. Readers build it from parts made by :func:`event_part`.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from qsr_graph.data.dataset import KIND_ITEM, KIND_QUERY

#: Columns of the canonical event table, in this order.
EVENT_COLUMNS = ("user", "session", "time", "order", "kind", "value")

#: Reason recorded in :attr:`ReadResult.dropped` for query events with no text.
EMPTY_QUERY = "empty query text"
#: Reason recorded for events with an empty user id (or session id, where it replaces the user).
MISSING_USER = "missing user id"

__all__ = [
    "EMPTY_QUERY",
    "EVENT_COLUMNS",
    "KIND_ITEM",
    "KIND_QUERY",
    "MISSING_USER",
    "InputFormatError",
    "ReadResult",
    "check_input_files",
    "concat_events",
    "event_part",
]


class InputFormatError(ValueError):
    """An input file that does not have the layout its format requires.

    The message starts with the file and, where known, the 1-based line (text
    files) or row (Parquet files) and the column. It then states what was
    found and what was expected.

    Args:
        path (str or Path): the file.
        message (str): what is wrong and what was expected.
        line (int, optional): 1-based line of a text file.
        column (str, optional): the column that contains the bad value.
        value (str, optional): the bad value.
        row (int, optional): 1-based data row of a file without lines (Parquet).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
        row: int | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        self.value = value
        self.row = row
        self.reason = message
        where = [self.path]
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass
class ReadResult:
    """The events read from one or more files of one format.

    Args:
        events (pd.DataFrame): the canonical event table, one row per event.
            Its columns are those of :data:`EVENT_COLUMNS`: ``user`` (str), ``session``
            (str, missing where the format has no sessions), ``time`` (float64
            UNIX seconds), ``order`` (int64, breaks ties among events of one user
            at one time), ``kind`` (int8, ``KIND_ITEM`` or ``KIND_QUERY``) and
            ``value`` (str: the raw item id, or the raw query text). Rows are in
            no particular order.
        dropped (dict[str, int]): number of rows or events left out, by reason.
            Only reasons that occurred are listed.
        source (str): the format and the files read.
    """

    events: pd.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)
    source: str = ""


def check_input_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Return ``paths`` as :class:`Path` objects after checking that each is a file.

    Raises:
        ValueError: ``paths`` is empty.
        FileNotFoundError: a path does not exist.
        InputFormatError: a path is a folder.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    checked = [Path(p) for p in paths]
    if not checked:
        raise ValueError("no input files given; pass at least one file")
    for path in checked:
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, f"input file not found: {path}", str(path))
        if not path.is_file():
            raise InputFormatError(path, "is a folder; expected a file")
    return checked


def _as_str(values: pd.Series | np.ndarray | str, size: int) -> pd.Series:
    """Return ``values`` as a string Series of ``size`` rows, keeping missing values."""
    if isinstance(values, str):
        return pd.Series(np.full(size, values, dtype=object), dtype="str")
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    series = series.reset_index(drop=True)
    if series.dtype != "str":
        series = series.astype("str")
    return series


def event_part(
    user: pd.Series,
    session: pd.Series | None,
    time: pd.Series | np.ndarray,
    order: pd.Series | np.ndarray,
    kind: int,
    value: pd.Series,
) -> pd.DataFrame:
    """Build canonical events of one kind from aligned columns.

    Args:
        user (pd.Series): user (or session) id of each event.
        session (pd.Series, optional): session id of each event; ``None`` when
            the format has no sessions.
        time (pd.Series or np.ndarray): UNIX seconds.
        order (pd.Series or np.ndarray): tie-breaker among events of one user at
            one time.
        kind (int): ``KIND_ITEM`` or ``KIND_QUERY``.
        value (pd.Series): raw item id or raw query text.

    Returns:
        A DataFrame with the columns of :data:`EVENT_COLUMNS`.
    """
    size = len(value)
    if session is None:
        # All-missing column built by pyarrow: far faster than from a Python object array.
        session_column = pd.Series(pa.nulls(size, pa.large_string()).to_pandas()).astype("str")
    else:
        session_column = _as_str(session, size)
    return pd.DataFrame({
        "user": _as_str(user, size),
        "session": session_column,
        "time": np.asarray(time, dtype=np.float64),
        "order": np.asarray(order, dtype=np.int64),
        "kind": np.full(size, kind, dtype=np.int8),
        "value": _as_str(value, size),
    })


def concat_events(parts: list[pd.DataFrame], dropped: dict[str, int]) -> pd.DataFrame:
    """Join event parts into one table and drop events without a user.

    Events whose ``user`` is missing or empty are counted in ``dropped`` under
    :data:`MISSING_USER`.
    """
    if parts:
        events = pd.concat(parts, ignore_index=True)
    else:
        events = event_part(pd.Series([], dtype="str"), None, np.array([]), np.array([]),
                            KIND_ITEM, pd.Series([], dtype="str"))
    no_user = events["user"].isna() | (events["user"] == "")
    if no_user.any():
        add_count(dropped, MISSING_USER, int(no_user.sum()))
        events = events.loc[~no_user].reset_index(drop=True)
    return events


def add_count(dropped: dict[str, int], reason: str, count: int) -> None:
    """Add ``count`` dropped rows under ``reason``, listing only reasons that occurred."""
    if count:
        dropped[reason] = dropped.get(reason, 0) + int(count)


def is_blank(values: pd.Series) -> pd.Series:
    """Return a boolean Series: missing, empty or whitespace-only strings."""
    return values.isna() | (values.str.strip() == "")
