"""Tests of the Best Buy search-click reader on hand-written files and the bundled log."""
from __future__ import annotations

import csv
import gzip
import re
from datetime import datetime, timezone

import pandas as pd
import pytest

from qsr_graph.data import KIND_ITEM, KIND_QUERY
from qsr_graph.data.readers import InputFormatError, read_bestbuy, read_events

HEADER = "user,sku,category,query,click_time,query_time\r\n"
ROWS = [
    "u1,9854804,abcat0701002,gears of war 3,2011-09-14 12:46:28.66,2011-09-14 12:45:07.064\r\n",
    "u1,1013666,abcat0701002,gears of war 3,2011-09-14 12:47:00.5,2011-09-14 12:45:07.064\r\n",
    "u1,2670133,abcat0701002,Madden 12,2011-09-14 13:00:00,2011-09-14 13:00:00\r\n",
    "u2,9854804,abcat0701002,Gears of War 3,2011-09-19 23:27:59.956,2011-09-19 23:27:47.408\r\n",
    "u2,1013666,abcat0701002,,2011-09-20 10:00:01.1,2011-09-20 10:00:00.25\r\n",
    "u2,9854804,abcat0701002,Gears of War 3,2011-09-21 08:00:10.7,2011-09-19 23:27:47.408\r\n",
]


@pytest.fixture
def expected(utc):
    return [
        ("u1", None, utc(2011, 9, 14, 12, 45, 7, 0.064), 0, KIND_QUERY, "gears of war 3"),
        ("u1", None, utc(2011, 9, 14, 12, 46, 28, 0.66), 1, KIND_ITEM, "9854804"),
        ("u1", None, utc(2011, 9, 14, 12, 47, 0, 0.5), 3, KIND_ITEM, "1013666"),
        ("u1", None, utc(2011, 9, 14, 13, 0, 0), 4, KIND_QUERY, "Madden 12"),
        ("u1", None, utc(2011, 9, 14, 13, 0, 0), 5, KIND_ITEM, "2670133"),
        ("u2", None, utc(2011, 9, 19, 23, 27, 47, 0.408), 6, KIND_QUERY, "Gears of War 3"),
        ("u2", None, utc(2011, 9, 19, 23, 27, 59, 0.956), 7, KIND_ITEM, "9854804"),
        ("u2", None, utc(2011, 9, 20, 10, 0, 1, 0.1), 9, KIND_ITEM, "1013666"),
        ("u2", None, utc(2011, 9, 21, 8, 0, 10, 0.7), 11, KIND_ITEM, "9854804"),
    ]


def test_read_bestbuy(write, rows, expected):
    path = write("train.csv", HEADER + "".join(ROWS))
    result = read_bestbuy([path])
    assert rows(result.events) == expected
    assert result.dropped == {"empty query text": 1}
    assert result.source == f"bestbuy: {path}"


def test_read_bestbuy_event_dtypes(write):
    events = read_bestbuy([write("train.csv", HEADER + "".join(ROWS))]).events
    assert [str(t) for t in events.dtypes] == ["str", "str", "float64", "int64", "int8", "str"]
    assert events["session"].isna().all()


def test_read_bestbuy_gzip_and_lf_line_ends(write, rows, expected):
    text = (HEADER + "".join(ROWS)).replace("\r\n", "\n")
    path = write("train.csv.gz", text, compress=True)
    assert rows(read_bestbuy([path]).events) == expected


def test_read_bestbuy_query_shared_across_files(write, rows, expected):
    train = write("train.csv", HEADER + "".join(ROWS[:4]))
    test = write("test.csv", HEADER + "".join(ROWS[4:]))
    result = read_events("bestbuy", [train, test])
    assert rows(result.events) == expected
    assert result.dropped == {"empty query text": 1}


def test_read_bestbuy_missing_column(write):
    header = HEADER.replace(",query_time", "")
    path = write("train.csv", header + "u1,1,abcat0701002,halo,2011-09-14 12:46:28.66\r\n")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 1: missing column(s) query_time; found columns 'user', 'sku', "
            "'category', 'query', 'click_time'; expected user, sku, category, query, "
            "click_time, query_time")):
        read_bestbuy([path])


def test_read_bestbuy_misnamed_column(write):
    path = write("train.csv", HEADER.replace("sku", "SKU") + ROWS[0])
    with pytest.raises(InputFormatError, match=r"missing column\(s\) sku; found columns 'user', 'SKU'"):
        read_bestbuy([path])


def test_read_bestbuy_wrong_separator(write):
    path = write("train.tsv", (HEADER + ROWS[0]).replace(",", "\t"))
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 1: the header 'user\\tsku\\tcategory\\tquery\\tclick_time\\t"
            "query_time' is separated by tabs, but a Best Buy search-click CSV is separated "
            "by commas")):
        read_bestbuy([path])


def test_read_bestbuy_invalid_timestamp(write):
    bad = ROWS[3].replace("2011-09-19 23:27:59.956", "19/09/2011 23:27")
    path = write("train.csv", HEADER + "".join(ROWS[:3]) + bad)
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 5, column 'click_time': invalid value '19/09/2011 23:27'; "
            "expected a time like '2011-09-14 12:46:28.66'")) as info:
        read_bestbuy([path])
    assert (info.value.line, info.value.column) == (5, "click_time")


def test_read_bestbuy_missing_timestamp(write):
    path = write("train.csv", HEADER + "u1,1,abcat0701002,halo,2011-09-14 12:46:28.66,\r\n")
    with pytest.raises(InputFormatError, match=r"line 2, column 'query_time': missing value"):
        read_bestbuy([path])


def test_read_bestbuy_non_utf8(write):
    line_3 = b"u3,1,abcat0701002,Pok\xe9mon,2011-09-14 12:46:28.66,2011-09-14 12:45:07.064\r\n"
    head = (HEADER + ROWS[0]).encode()
    path = write("train.csv", head + line_3)
    offset = len(head) + line_3.index(b"\xe9")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 3: invalid UTF-8 byte 0xe9 at byte offset {offset} of the file "
            "(byte 22 of the line); expected UTF-8 text")):
        read_bestbuy([path])


def test_read_bestbuy_wrong_field_count(write):
    path = write("train.csv", HEADER + ROWS[0] + "u3,1,abcat0701002,halo, 2,2011-09-14 12:46:28.66,"
                                                 "2011-09-14 12:45:07.064\r\n")
    with pytest.raises(InputFormatError, match="line 3: 7 fields; expected 6 fields separated "
                                               "by commas"):
        read_bestbuy([path])


def test_read_bestbuy_empty_file(write):
    path = write("train.csv", b"")
    with pytest.raises(InputFormatError, match=re.escape(f"{path}: empty file")):
        read_bestbuy([path])


def test_read_bestbuy_corrupt_gzip(write):
    whole = gzip.compress((HEADER + "".join(ROWS) * 50).encode())
    path = write("train.csv.gz", whole[: len(whole) // 2])
    with pytest.raises(InputFormatError, match=re.escape(f"{path}: cannot be decompressed")):
        read_bestbuy([path])


def test_read_bestbuy_given_trivago_file(write):
    path = write("log.csv", "user_id,session_id,timestamp,step,action_type,reference\n"
                            "U1,s1,1541599523,1,clickout item,5\n")
    with pytest.raises(InputFormatError, match=re.escape(
            "this looks like a trivago RecSys 2019 session log (format 'trivago'), "
            "not a Best Buy search-click CSV")):
        read_bestbuy([path])


def test_read_bestbuy_given_parquet(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"user": ["u1"]}).to_parquet(path)
    with pytest.raises(InputFormatError, match="is a Parquet file; expected a Best Buy"):
        read_bestbuy([path])


def test_read_bestbuy_given_trivago_parquet(trivago_path):
    with pytest.raises(InputFormatError, match=re.escape(
            f"{trivago_path}: is a Parquet file that looks like a trivago RecSys 2019 session "
            "log (format 'trivago'); expected a Best Buy search-click CSV in text form")):
        read_bestbuy([trivago_path])


def test_read_bestbuy_missing_file(tmp_path):
    path = tmp_path / "train.csv"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_bestbuy([path])


def _raw_rows(paths) -> list[dict[str, str]]:
    """Parse the files with the csv module, independently of the reader."""
    records = []
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            records.extend(csv.DictReader(handle))
    return records


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_read_bestbuy_bundled_counts(bestbuy_paths):
    result = read_events("bestbuy", bestbuy_paths)
    raw = _raw_rows(bestbuy_paths)
    assert len(raw) == 42365
    events = result.events
    clicks = events[events["kind"] == KIND_ITEM]
    queries = events[events["kind"] == KIND_QUERY]

    assert len(clicks) == len(raw)
    distinct_queries = {(r["user"], r["query"], r["query_time"]) for r in raw}
    assert len(queries) == len(distinct_queries)
    assert result.dropped == {}

    expected_clicks = sorted((r["user"], r["sku"], round(_seconds(r["click_time"]), 3))
                             for r in raw)
    found_clicks = sorted(zip(clicks["user"], clicks["value"], clicks["time"].round(3)))
    assert found_clicks == expected_clicks

    expected_queries = sorted((u, q, round(_seconds(t), 3)) for u, q, t in distinct_queries)
    found_queries = sorted(zip(queries["user"], queries["value"], queries["time"].round(3)))
    assert found_queries == expected_queries


def test_read_bestbuy_bundled_query_before_click(bestbuy_paths):
    events = read_bestbuy(bestbuy_paths).events
    ordered = events.sort_values(["user", "time", "order"])
    first_of_user = ordered.groupby("user", sort=False).head(1)
    # Every user's first event is a query, since each click follows its query.
    assert set(first_of_user["kind"].tolist()) == {KIND_QUERY}
