"""Reader for a generic event log (CSV, TSV or Parquet) whose columns are named by options."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from qsr_graph.data.readers._common import (
    KIND_ITEM,
    KIND_QUERY,
    ReadResult,
    add_count,
    check_input_files,
    concat_events,
    event_part,
    is_blank,
)
from qsr_graph.data.readers._files import Table, file_kind, read_parquet_table, read_text_table
from qsr_graph.data.readers._values import to_int64, to_seconds

logger = logging.getLogger(__name__)

NO_ITEM_OR_QUERY = "row without item or query"
_FORMAT = "an event log"
_PARQUET_SUFFIXES = (".parquet", ".pq")
# Names accepted for separators that are awkward to type in a shell.
_SEPARATOR_NAMES = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def read_event_log(
    paths: Sequence[str | os.PathLike],
    *,
    user_column: str | None = None,
    time_column: str | None = None,
    item_column: str | None = None,
    query_column: str | None = None,
    session_column: str | None = None,
    order_column: str | None = None,
    time_format: str | None = None,
    separator: str | None = None,
) -> ReadResult:
    """Read event logs in CSV, TSV or Parquet whose columns are named by the options.

    A file is Parquet when its name ends in ``.parquet`` or ``.pq`` or its
    content starts with the Parquet magic bytes. Any other file is text, plain
    or gzip-compressed, with a header line and double quotes around fields that
    need them. The text separator is ``separator`` when given, else a tab for
    names ending in ``.tsv``, ``.tsv.gz``, ``.tab`` or a ``.tsvNNN`` part, and
    a comma for anything else.

    A row with an item is an item event, a row with a query is a query event,
    and a row with both is a query followed by that item at the same time. A
    cell that is missing, empty or only whitespace has no item or query. Rows
    with neither are dropped and counted, and so are rows without a user.

    Times: with ``time_format`` (a strftime format such as
    ``"%d/%m/%Y %H:%M"``) every value must match it. Without it, a numeric
    column contains UNIX seconds, a Parquet date-time column is taken as it is,
    and a text column contains UNIX seconds when its first value is a number,
    else ISO 8601 date-times. Times without a time zone are read as UTC.

    ``order`` breaks ties among events of one user at one time. It is built
    from ``order_column`` when given, else from the row number counted over all
    files in the order given: the base value ``b`` of a row gives its query the
    order ``2 * b`` and its item ``2 * b + 1``.

    Args:
        paths (list of str or Path): the files; their events are combined.
        user_column (str): column of user ids. Required.
        time_column (str): column of event times. Required.
        item_column (str, optional): column of item ids.
        query_column (str, optional): column of query texts. At least one of
            ``item_column`` and ``query_column`` is required.
        session_column (str, optional): column of session ids; without it
            ``session`` is missing.
        order_column (str, optional): column of integers that orders events
            of one user at one time.
        time_format (str, optional): strftime format of the time column.
        separator (str, optional): field separator of text files: one
            character, or ``"\\t"``, ``"tab"``, ``"comma"``, ``"semicolon"`` or
            ``"pipe"``.

    Returns:
        The events.

    Raises:
        ValueError: a required option is missing.
        FileNotFoundError: a file does not exist.
        InputFormatError: a file is empty, lacks a named column, or has an
            invalid time or order value.
    """
    if user_column is None:
        raise ValueError("the events format needs the option user_column "
                         "(the column of user ids; --user-column on the command line)")
    if time_column is None:
        raise ValueError("the events format needs the option time_column "
                         "(the column of event times; --time-column on the command line)")
    if item_column is None and query_column is None:
        raise ValueError("the events format needs item_column, query_column or both "
                         "(--item-column, --query-column on the command line)")
    if separator is not None:
        separator = _SEPARATOR_NAMES.get(separator.lower(), separator)
    if separator is not None and len(separator) != 1:
        raise ValueError(f"separator must be one character or one of "
                         f"{', '.join(_SEPARATOR_NAMES)}; got {separator!r}")
    files = check_input_files(paths)
    columns = {"user": user_column, "time": time_column, "item": item_column,
               "query": query_column, "session": session_column, "order": order_column}
    needed = list(dict.fromkeys(name for name in columns.values() if name is not None))

    dropped: dict[str, int] = {}
    parts: list[pd.DataFrame] = []
    first_row = 0
    for path in files:
        table = _read_table(path, needed, separator)
        parts.extend(_events(table, columns, time_format, first_row, dropped))
        first_row += len(table.frame)
    events = concat_events(parts, dropped)
    logger.info("read %d events from %d file(s); dropped %s", len(events), len(files), dropped)
    return ReadResult(events=events, dropped=dropped,
                      source="events: " + ", ".join(str(p) for p in files))


def default_separator(path: Path) -> str:
    """Return the separator implied by a file name: a tab for TSV names, else a comma."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and (suffixes[-1].startswith(".tsv") or suffixes[-1] == ".tab"):
        return "\t"
    return ","


def _read_table(path: Path, needed: list[str], separator: str | None) -> Table:
    is_parquet = (file_kind(path) == "parquet"
                  or any(s.lower() in _PARQUET_SUFFIXES for s in path.suffixes))
    if is_parquet:
        return read_parquet_table(path, needed, needed, _FORMAT, suggest_format=False)
    return read_text_table(path, separator or default_separator(path), needed, needed,
                           _FORMAT, suggest_format=False)


def _text(values: pd.Series) -> pd.Series:
    """Return a column as strings.

    Whole floats, as in an integer column with nulls, are written without ``.0``.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if (finite == np.floor(finite)).all():
            return values.astype("Int64").astype("str")
    return values.astype("str")


def _events(table: Table, columns: dict[str, str | None], time_format: str | None,
            first_row: int, dropped: dict[str, int]) -> list[pd.DataFrame]:
    frame = table.frame
    time = to_seconds(table, columns["time"], time_format)  # type: ignore[arg-type]
    if columns["order"] is not None:
        base = to_int64(table, columns["order"], "expected an integer order value")
    else:
        base = first_row + np.arange(len(frame), dtype=np.int64)
    user = _text(frame[columns["user"]])
    session = None
    if columns["session"] is not None:
        session = _text(frame[columns["session"]])
        session[is_blank(session)] = pd.NA

    has_item = np.zeros(len(frame), dtype=bool)
    has_query = np.zeros(len(frame), dtype=bool)
    if columns["item"] is not None:
        item = _text(frame[columns["item"]])
        has_item = ~is_blank(item).to_numpy()
    if columns["query"] is not None:
        query = _text(frame[columns["query"]])
        has_query = ~is_blank(query).to_numpy()
    add_count(dropped, NO_ITEM_OR_QUERY, int((~has_item & ~has_query).sum()))

    parts = []
    if has_query.any():
        parts.append(event_part(user[has_query],
                                None if session is None else session[has_query],
                                time[has_query], 2 * base[has_query], KIND_QUERY,
                                query[has_query]))
    if has_item.any():
        parts.append(event_part(user[has_item],
                                None if session is None else session[has_item],
                                time[has_item], 2 * base[has_item] + 1, KIND_ITEM,
                                item[has_item]))
    return parts
