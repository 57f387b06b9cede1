"""Reader for the Diginetica (CIKM Cup 2016) raw files: queries, item views and clicks."""
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
    InputFormatError,
    ReadResult,
    add_count,
    check_input_files,
    concat_events,
    event_part,
    is_blank,
)
from qsr_graph.data.readers._detect import find_separator, guess_format, separator_name
from qsr_graph.data.readers._files import (
    Table,
    check_columns,
    read_header,
    read_text_table,
    split_header,
)
from qsr_graph.data.readers._values import to_int64, to_seconds_from_datetimes

logger = logging.getLogger(__name__)

QUERIES_HEADER = ["queryId", "sessionId", "userId", "timeframe", "duration", "eventdate",
                  "searchstring.tokens", "categoryId", "items", "is.test"]
VIEWS_HEADER = ["sessionId", "userId", "itemId", "timeframe", "eventdate"]
CLICKS_HEADER = ["queryId", "timeframe", "itemId"]

# File name, columns read, full published header.
_FILES = {
    "queries": ("train-queries.csv",
                ["queryId", "sessionId", "userId", "timeframe", "eventdate",
                 "searchstring.tokens"], QUERIES_HEADER),
    "views": ("train-item-views.csv", VIEWS_HEADER, VIEWS_HEADER),
    "clicks": ("train-clicks.csv", CLICKS_HEADER, CLICKS_HEADER),
}
_SEPARATOR = ";"
_DATE_EXPECTED = "expected a date like '2016-05-09' (YYYY-MM-DD)"
_TIMEFRAME_EXPECTED = "expected the milliseconds since the session start (an integer)"

CATEGORY_BROWSE = "category browse without query text"
UNKNOWN_QUERY = "click on a query not in train-queries.csv"
MISSING_ITEM = "missing item id"
#: userId value that marks an anonymous session.
NO_USER = "NA"


def read_diginetica(paths: Sequence[str | os.PathLike]) -> ReadResult:
    """Read the Diginetica (CIKM Cup 2016) raw files.

    ``paths`` lists ``train-queries.csv`` and ``train-item-views.csv``, and
    optionally ``train-clicks.csv``, in any order and under any names: each
    file is recognised by its header. All are ``;``-separated.

    A query row with search tokens is a query event whose text is its token
    ids (anonymised words) joined by spaces. A query row whose
    ``searchstring.tokens`` is empty is a category browse, not a text query:
    it yields no event and is counted. An item view is an item event, and so
    is a click, which takes the session, user and date of its query.

    Time is ``eventdate`` (``YYYY-MM-DD``, read as UTC midnight) plus
    ``timeframe`` (milliseconds since the session start). A session takes the
    first userId found for it in the queries or item views; a session whose
    userId is ``NA`` or empty everywhere is its own sequence, with ``user`` =
    ``"session:<sessionId>"``. ``order`` breaks ties with queries first, then
    clicks, then views, each in file order.

    Args:
        paths (list of str or Path): the two or three files.

    Returns:
        The events, with ``session`` = sessionId.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: the queries or item-views file is missing, or a kind of file
            is given twice.
        InputFormatError: a file is empty, is not a Diginetica file, or has an
            invalid date or timeframe.
    """
    files = check_input_files(paths)
    by_kind: dict[str, Path] = {}
    for path in files:
        kind = _file_kind(path)
        if kind in by_kind:
            raise ValueError(
                f"two Diginetica {_FILES[kind][0]} files given: {by_kind[kind]} and {path}; "
                f"pass each file once")
        by_kind[kind] = path
    missing = [_FILES[kind][0] for kind in ("queries", "views") if kind not in by_kind]
    if missing:
        given = ", ".join(f"{path} ({_FILES[kind][0]})" for kind, path in by_kind.items())
        raise ValueError(f"the diginetica format needs {' and '.join(missing)} as well; "
                         f"given: {given}")

    tables = {kind: read_text_table(path, _SEPARATOR, _FILES[kind][1], _FILES[kind][2],
                                    f"a Diginetica {_FILES[kind][0]}")
              for kind, path in by_kind.items()}
    dropped: dict[str, int] = {}
    queries = _queries(tables["queries"])
    views = _views(tables["views"])
    session_user = _session_users(queries, views)

    parts = [_query_events(queries, session_user, dropped)]
    next_order = len(queries)
    if "clicks" in tables:
        clicks = _click_events(tables["clicks"], queries, session_user, next_order, dropped)
        parts.append(clicks)
        next_order += len(tables["clicks"].frame)
    parts.append(_view_events(views, session_user, next_order, dropped))

    events = concat_events(parts, dropped)
    logger.info("read %d Diginetica events from %d file(s); dropped %s",
                len(events), len(files), dropped)
    return ReadResult(events=events, dropped=dropped,
                      source="diginetica: " + ", ".join(str(p) for p in files))


def _file_kind(path: Path) -> str:
    """Return ``"queries"``, ``"views"`` or ``"clicks"`` from a file's header."""
    line, text = read_header(path)
    names = set(split_header(text, _SEPARATOR, quoting=True))
    if "searchstring.tokens" in names:
        return "queries"
    if "queryId" in names and "itemId" in names and "sessionId" not in names:
        return "clicks"
    if {"sessionId", "itemId"} <= names and "ordernumber" not in names:
        return "views"

    expected = "; ".join(f"{name} ({';'.join(header)})" for name, _, header in _FILES.values())
    actual = find_separator(text, _SEPARATOR, ["sessionId"])
    separator_error = None
    if actual is not None:
        separator_error = InputFormatError(
            path, f"the header {text!r} is separated by {separator_name(actual)}, but Diginetica "
                  f"files are separated by {separator_name(_SEPARATOR)}; expected one of: "
                  f"{expected}", line=line)
        columns = set(split_header(text, actual, quoting=True))
        if any(set(needed) <= columns for _, needed, _ in _FILES.values()):
            raise separator_error
    guess = guess_format(text)
    if guess is not None:
        other_format, description = guess
        hint = f" (format {other_format!r})" if other_format is not None else ""
        raise InputFormatError(
            path, f"this looks like {description}{hint}, not a file that the diginetica "
                  f"format reads; expected one of: {expected}", line=line)
    if separator_error is not None:
        raise separator_error

    # A header that shares columns with one Diginetica file but misses others
    # is reported as that file with its missing columns.
    name, needed, header = max(
        _FILES.values(), key=lambda spec: len(names & set(spec[1])) / len(spec[1]))
    if len(names & set(needed)) >= 2:
        check_columns(path, split_header(text, _SEPARATOR, quoting=True), needed, header,
                      f"a Diginetica {name}", line=line, suggest_format=False)
    raise InputFormatError(
        path, f"not a Diginetica file; found the header {text!r}; expected one of: {expected}",
        line=line)


def _dates_plus_timeframe(table: Table) -> np.ndarray:
    """Return ``eventdate`` + ``timeframe`` of each row as UNIX seconds."""
    date = to_seconds_from_datetimes(table, "eventdate", ["%Y-%m-%d"], _DATE_EXPECTED)
    timeframe = to_int64(table, "timeframe", _TIMEFRAME_EXPECTED)
    return date + timeframe / 1000.0


def _queries(table: Table) -> pd.DataFrame:
    frame = table.frame
    date = to_seconds_from_datetimes(table, "eventdate", ["%Y-%m-%d"], _DATE_EXPECTED)
    timeframe = to_int64(table, "timeframe", _TIMEFRAME_EXPECTED)
    return pd.DataFrame({
        "query": frame["queryId"],
        "session": frame["sessionId"],
        "user": frame["userId"],
        "date": date,
        "time": date + timeframe / 1000.0,
        "tokens": frame["searchstring.tokens"],
    })


def _views(table: Table) -> pd.DataFrame:
    frame = table.frame
    return pd.DataFrame({
        "session": frame["sessionId"],
        "user": frame["userId"],
        "time": _dates_plus_timeframe(table),
        "item": frame["itemId"],
    })


def _session_users(queries: pd.DataFrame, views: pd.DataFrame) -> pd.Series:
    """Return the user of each session that has one anywhere, indexed by sessionId."""
    pairs = pd.concat([queries[["session", "user"]], views[["session", "user"]]],
                      ignore_index=True)
    known = ~(is_blank(pairs["user"]) | (pairs["user"] == NO_USER))
    pairs = pairs[known].drop_duplicates("session")
    return pd.Series(pairs["user"].to_numpy(), index=pairs["session"].to_numpy())


def _users(session: pd.Series, session_user: pd.Series) -> pd.Series:
    """Return each row's user: its session's user, else ``"session:<sessionId>"``.

    Rows with an empty sessionId and no user get an empty user, which
    :func:`concat_events` drops and counts.
    """
    user = session.map(session_user).astype("str")
    own = user.isna()
    user[own] = "session:" + session[own]
    user[own & is_blank(session)] = ""
    return user


def _query_events(queries: pd.DataFrame, session_user: pd.Series,
                  dropped: dict[str, int]) -> pd.DataFrame:
    browse = is_blank(queries["tokens"]).to_numpy()
    add_count(dropped, CATEGORY_BROWSE, int(browse.sum()))
    kept = queries[~browse]
    text = kept["tokens"].str.split(",").str.join(" ")
    order = np.flatnonzero(~browse)
    return event_part(_users(kept["session"], session_user), kept["session"], kept["time"],
                      order, KIND_QUERY, text)


def _click_events(table: Table, queries: pd.DataFrame, session_user: pd.Series,
                  first_order: int, dropped: dict[str, int]) -> pd.DataFrame:
    frame = table.frame
    clicks = pd.DataFrame({
        "query": frame["queryId"],
        "offset": to_int64(table, "timeframe", _TIMEFRAME_EXPECTED) / 1000.0,
        "item": frame["itemId"],
        "order": first_order + np.arange(len(frame), dtype=np.int64),
    })
    owners = queries[["query", "session", "date"]].drop_duplicates("query")
    clicks = clicks.merge(owners, on="query", how="left", sort=False)
    unknown = clicks["session"].isna().to_numpy()
    add_count(dropped, UNKNOWN_QUERY, int(unknown.sum()))
    no_item = ~unknown & is_blank(clicks["item"]).to_numpy()
    add_count(dropped, MISSING_ITEM, int(no_item.sum()))
    kept = clicks[~unknown & ~no_item]
    return event_part(_users(kept["session"], session_user), kept["session"],
                      kept["date"] + kept["offset"], kept["order"], KIND_ITEM, kept["item"])


def _view_events(views: pd.DataFrame, session_user: pd.Series, first_order: int,
                 dropped: dict[str, int]) -> pd.DataFrame:
    no_item = is_blank(views["item"]).to_numpy()
    add_count(dropped, MISSING_ITEM, int(no_item.sum()))
    order = first_order + np.flatnonzero(~no_item)
    kept = views[~no_item]
    return event_part(_users(kept["session"], session_user), kept["session"], kept["time"],
                      order, KIND_ITEM, kept["item"])
