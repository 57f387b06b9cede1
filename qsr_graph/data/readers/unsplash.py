"""Reader for the Unsplash Lite conversions files (``conversions.tsv000``, ``.tsv001``, ...)."""
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

HEADER = ["converted_at", "conversion_type", "keyword", "photo_id", "anonymous_user_id",
          "conversion_country"]
_NEEDED = ["converted_at", "keyword", "photo_id", "anonymous_user_id"]
_FORMAT = "an Unsplash conversions file"
_TIME_FORMATS = ["%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"]
_TIME_EXPECTED = "expected a time like '2020-11-11 14:34:15.498' (YYYY-MM-DD HH:MM:SS[.fff])"

MISSING_ITEM = "missing photo id"


def read_unsplash(paths: Sequence[str | os.PathLike]) -> ReadResult:
    """Read Unsplash Lite conversions files (tab-separated, plain or gzip-compressed).

    Every part (``conversions.tsv000``, ``conversions.tsv001``, ...) starts with
    the header converted_at, conversion_type, keyword, photo_id,
    anonymous_user_id, conversion_country. Fields are not quoted. Each row is
    a search for ``keyword`` followed by a conversion (a download, or another
    ``conversion_type``) of ``photo_id``. It gives a query event and an item
    event, both at ``converted_at``. That time is read as UTC, with or without
    a fractional part.

    The format has no sessions, so ``session`` is missing and ``user`` is
    ``anonymous_user_id``. ``order`` is ``2 * r`` for the query and
    ``2 * r + 1`` for the photo of row ``r``, rows being counted over all parts
    in the order given, so the query comes first. Empty keywords and empty
    photo ids are dropped and counted, the other event of the row is kept.

    Args:
        paths (list of str or Path): the parts.

    Returns:
        The events.

    Raises:
        FileNotFoundError: a file does not exist.
        InputFormatError: a file is empty, is not a conversions file, or has an
            invalid timestamp.
    """
    files = check_input_files(paths)
    frames = []
    for path in files:
        table = read_text_table(path, "\t", _NEEDED, HEADER, _FORMAT, quoting=False)
        frame = table.frame[["anonymous_user_id", "keyword", "photo_id"]].copy()
        frame["time"] = to_seconds_from_datetimes(table, "converted_at", _TIME_FORMATS,
                                                  _TIME_EXPECTED)
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    row_number = np.arange(len(rows), dtype=np.int64)
    user = rows["anonymous_user_id"]
    dropped: dict[str, int] = {}

    no_text = is_blank(rows["keyword"]).to_numpy()
    add_count(dropped, EMPTY_QUERY, int(no_text.sum()))
    queries = event_part(user[~no_text], None, rows["time"][~no_text],
                         2 * row_number[~no_text], KIND_QUERY, rows["keyword"][~no_text])

    no_item = is_blank(rows["photo_id"]).to_numpy()
    add_count(dropped, MISSING_ITEM, int(no_item.sum()))
    photos = event_part(user[~no_item], None, rows["time"][~no_item],
                        2 * row_number[~no_item] + 1, KIND_ITEM, rows["photo_id"][~no_item])

    events = concat_events([queries, photos], dropped)
    logger.info("read %d Unsplash events from %d file(s); dropped %s",
                len(events), len(files), dropped)
    return ReadResult(events=events, dropped=dropped,
                      source="unsplash: " + ", ".join(str(p) for p in files))
