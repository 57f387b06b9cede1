"""Reader for the Best Buy search-click log (``user,sku,category,query,click_time,query_time``)."""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
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
from qsr_graph.data.readers._files import read_text_table
from qsr_graph.data.readers._values import to_seconds_from_datetimes

logger = logging.getLogger(__name__)

HEADER = ["user", "sku", "category", "query", "click_time", "query_time"]
_NEEDED = ["user", "sku", "query", "click_time", "query_time"]
_FORMAT = "a Best Buy search-click CSV"
# The published files write between 1 and 3 fractional digits, dropping
# trailing zeros; %f accepts any number of them.
_TIME_FORMATS = ["%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"]
_TIME_EXPECTED = "expected a time like '2011-09-14 12:46:28.66' (YYYY-MM-DD HH:MM:SS.fff)"

MISSING_ITEM = "missing item id"


def read_bestbuy(paths: Sequence[str | os.PathLike]) -> ReadResult:
    """Read Best Buy search-click CSV files (plain or gzip-compressed).

    Each row is a query typed at ``query_time`` followed by a click on ``sku``
    at ``click_time``. Rows that share user, query text and query time (over
    all files) are one query event followed by several clicks, so the query
    is emitted once. The timestamps (``YYYY-MM-DD HH:MM:SS.fff``, with 0 to 9
    fractional digits) carry no time zone: they are local times of the site,
    and this reader reads them as UTC.

    The format has no sessions, so ``session`` is missing. ``order`` puts a
    query before its clicks when their times are equal. It is ``2 * r`` for a
    query first seen at row ``r`` and ``2 * r + 1`` for the click of row ``r``.
    Rows are counted over all files in the order given. Query events with
    an empty text and clicks with an empty sku are dropped and counted.

    Args:
        paths (list of str or Path): the files, e.g. the train and test parts.

    Returns:
        The events, with ``user`` = the ``user`` column.

    Raises:
        FileNotFoundError: a file does not exist.
        InputFormatError: a file is empty, is not a Best Buy CSV, or has an
            invalid timestamp.
    """
    files = check_input_files(paths)
    frames = []
    for path in files:
        table = read_text_table(path, ",", _NEEDED, HEADER, _FORMAT)
        frame = table.frame[["user", "sku", "query"]].copy()
        frame["query_time"] = to_seconds_from_datetimes(
            table, "query_time", _TIME_FORMATS, _TIME_EXPECTED)
        frame["click_time"] = to_seconds_from_datetimes(
            table, "click_time", _TIME_FORMATS, _TIME_EXPECTED)
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    row_number = np.arange(len(rows), dtype=np.int64)
    dropped: dict[str, int] = {}

    # One query event per (user, query, query_time), at its first row:
    first = ~rows.duplicated(["user", "query", "query_time"]).to_numpy()
    no_text = first & is_blank(rows["query"]).to_numpy()
    add_count(dropped, EMPTY_QUERY, int(no_text.sum()))
    keep_query = first & ~no_text
    queries = event_part(rows["user"][keep_query], None, rows["query_time"][keep_query],
                         2 * row_number[keep_query], KIND_QUERY, rows["query"][keep_query])

    # One click per row:
    no_item = is_blank(rows["sku"]).to_numpy()
    add_count(dropped, MISSING_ITEM, int(no_item.sum()))
    clicks = event_part(rows["user"][~no_item], None, rows["click_time"][~no_item],
                        2 * row_number[~no_item] + 1, KIND_ITEM, rows["sku"][~no_item])

    events = concat_events([queries, clicks], dropped)
    logger.info("read %d Best Buy events from %d file(s); dropped %s",
                len(events), len(files), dropped)
    return ReadResult(events=events, dropped=dropped,
                      source="bestbuy: " + ", ".join(str(p) for p in files))
