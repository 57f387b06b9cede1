"""Reader for trivago RecSys Challenge 2019 session logs (Parquet or CSV)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from qsr_graph.data.readers._common import (
    EMPTY_QUERY,
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
from qsr_graph.data.readers._values import to_int64, to_seconds_from_numbers

logger = logging.getLogger(__name__)

#: The published header of the challenge's train.csv and test.csv.
HEADER = ["user_id", "session_id", "timestamp", "step", "action_type", "reference",
          "platform", "city", "device", "current_filters", "impressions", "prices"]
_NEEDED = ["user_id", "session_id", "timestamp", "step", "action_type", "reference"]
_FORMAT = "a trivago RecSys 2019 session log"

#: Action types whose ``reference`` is the search text.
QUERY_ACTIONS = frozenset({"search for destination", "search for poi"})
#: Action types whose ``reference`` is an item (hotel) id.
ITEM_ACTIONS = frozenset({
    "clickout item",
    "interaction item image",
    "interaction item info",
    "interaction item deals",
    "interaction item rating",
    "search for item",
})

OTHER_ACTION = "action type without item or query"
NON_NUMERIC_ITEM = "non-numeric item reference"
MISSING_ITEM = "missing item reference"


def read_trivago(paths: Sequence[str | os.PathLike]) -> ReadResult:
    """Read trivago RecSys Challenge 2019 session logs.

    Each file is Parquet (recognised by its content, whatever its name) or a
    comma-separated CSV, plain or gzip-compressed, with at least the columns
    user_id, session_id, timestamp (UNIX seconds), step, action_type and
    reference. ``search for destination`` and ``search for poi`` rows are
    query events whose text is ``reference``. ``clickout item``,
    ``interaction item image|info|deals|rating`` and ``search for item`` rows
    are item events whose item id is ``reference``. Rows of other action types
    (filter selection, change of sort order) are skipped and counted. So are
    item rows whose reference is missing or not a number (such as
    ``unknown``), and search rows with an empty text. ``step`` orders events
    with equal user and time.

    Args:
        paths (list of str or Path): the files; their events are combined.

    Returns:
        The events, with ``user`` = user_id and ``session`` = session_id.

    Raises:
        FileNotFoundError: a file does not exist.
        InputFormatError: a file is empty, is not a trivago log, or has an
            invalid timestamp or step.
    """
    files = check_input_files(paths)
    dropped: dict[str, int] = {}
    parts: list[pd.DataFrame] = []
    for path in files:
        parts.extend(_read_file(path, dropped))
    events = concat_events(parts, dropped)
    logger.info("read %d trivago events from %d file(s); dropped %s",
                len(events), len(files), dropped)
    return ReadResult(events=events, dropped=dropped,
                      source="trivago: " + ", ".join(str(p) for p in files))


def _read_table(path: Path) -> Table:
    if file_kind(path) == "parquet":
        return read_parquet_table(path, _NEEDED, HEADER, _FORMAT)
    return read_text_table(path, ",", _NEEDED, HEADER, _FORMAT)


def _read_file(path: Path, dropped: dict[str, int]) -> list[pd.DataFrame]:
    table = _read_table(path)
    frame = table.frame
    time = to_seconds_from_numbers(table, "timestamp")
    step = to_int64(table, "step", "expected the step number (an integer)")
    action = frame["action_type"].astype("str")
    reference = frame["reference"].astype("str")

    # Query events:
    is_query = action.isin(QUERY_ACTIONS).to_numpy()
    no_text = is_query & is_blank(reference).to_numpy()
    add_count(dropped, EMPTY_QUERY, int(no_text.sum()))
    keep_query = is_query & ~no_text

    # Item events:
    is_item = action.isin(ITEM_ACTIONS).to_numpy()
    missing = is_item & is_blank(reference).to_numpy()
    numeric = reference.str.fullmatch(r"\d+").fillna(False).to_numpy(dtype=bool)
    add_count(dropped, MISSING_ITEM, int(missing.sum()))
    add_count(dropped, NON_NUMERIC_ITEM, int((is_item & ~missing & ~numeric).sum()))
    keep_item = is_item & numeric

    add_count(dropped, OTHER_ACTION, int((~is_query & ~is_item).sum()))

    user = frame["user_id"].astype("str")
    session = frame["session_id"].astype("str")
    return [
        event_part(user[keep_query], session[keep_query], time[keep_query],
                   step[keep_query], KIND_QUERY, reference[keep_query]),
        event_part(user[keep_item], session[keep_item], time[keep_item],
                   step[keep_item], KIND_ITEM, reference[keep_item]),
    ]
