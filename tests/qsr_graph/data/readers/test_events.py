"""Tests of the generic event-log reader (CSV, TSV, Parquet)."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from qsr_graph.data import KIND_ITEM, KIND_QUERY
from qsr_graph.data.readers import InputFormatError, read_event_log, read_events

LOG = (
    "user,ts,item,query,session\n"
    "A,100,i1,,s1\n"
    "A,100,,red shoes,s1\n"
    "A,105.5,i2,blue shoes,s1\n"
    "B,90,,,s2\n"
    "B,95,i3,  ,\n"
    ",99,i4,,s3\n"
)
COLUMNS = dict(user_column="user", time_column="ts", item_column="item",
               query_column="query", session_column="session")


def test_read_event_log_csv(write, rows):
    result = read_event_log([write("log.csv", LOG)], **COLUMNS)
    assert rows(result.events) == [
        ("A", "s1", 100.0, 1, KIND_ITEM, "i1"),
        ("A", "s1", 100.0, 2, KIND_QUERY, "red shoes"),
        ("A", "s1", 105.5, 4, KIND_QUERY, "blue shoes"),
        ("A", "s1", 105.5, 5, KIND_ITEM, "i2"),
        ("B", None, 95.0, 9, KIND_ITEM, "i3"),
    ]
    assert result.dropped == {"row without item or query": 1, "missing user id": 1}


def test_read_event_log_dtypes(write):
    events = read_event_log([write("log.csv", LOG)], **COLUMNS).events
    assert [str(t) for t in events.dtypes] == ["str", "str", "float64", "int64", "int8", "str"]


def test_read_event_log_without_session_column(write, rows):
    path = write("log.csv", LOG)
    events = read_events("events", [path], user_column="user", time_column="ts",
                         item_column="item").events
    assert rows(events)[:2] == [("A", None, 100.0, 1, KIND_ITEM, "i1"),
                                ("A", None, 105.5, 5, KIND_ITEM, "i2")]


def test_read_event_log_queries_only(write, rows):
    path = write("log.csv", LOG)
    result = read_event_log([path], user_column="user", time_column="ts", query_column="query")
    assert rows(result.events) == [("A", None, 100.0, 2, KIND_QUERY, "red shoes"),
                                   ("A", None, 105.5, 4, KIND_QUERY, "blue shoes")]
    assert result.dropped == {"row without item or query": 4}


def test_read_event_log_iso_times_in_tsv(write, rows, utc):
    path = write("log.tsv", "user\ttime\titem\n"
                            "u\t2020-11-11T14:34:15Z\ta\n"
                            "u\t2020-11-11 16:34:15+01:00\tb\n"
                            "u\t2020-11-11 14:34:16.5\tc\n")
    events = read_event_log([path], user_column="user", time_column="time", item_column="item").events
    base = utc(2020, 11, 11, 14, 34, 15)
    assert rows(events) == [("u", None, base, 1, KIND_ITEM, "a"),
                            ("u", None, base + 1.5, 5, KIND_ITEM, "c"),
                            ("u", None, base + 3600, 3, KIND_ITEM, "b")]


def test_read_event_log_time_format_and_order_column(write, rows, utc):
    path = write("log.csv.gz", "who,when,step,what\n"
                               "u,11/11/2020 14:34,2,b\n"
                               "u,11/11/2020 14:34,1,a\n"
                               "u,12/11/2020 08:00,3,c\n", compress=True)
    events = read_event_log([path], user_column="who", time_column="when", item_column="what",
                            order_column="step", time_format="%d/%m/%Y %H:%M").events
    assert rows(events) == [("u", None, utc(2020, 11, 11, 14, 34), 3, KIND_ITEM, "a"),
                            ("u", None, utc(2020, 11, 11, 14, 34), 5, KIND_ITEM, "b"),
                            ("u", None, utc(2020, 11, 12, 8), 7, KIND_ITEM, "c")]


def test_read_event_log_separator_option(write, rows):
    path = write("log.txt", "user;ts;item\nu;5;x\n")
    events = read_event_log([path], user_column="user", time_column="ts", item_column="item",
                            separator=";").events
    assert rows(events) == [("u", None, 5.0, 1, KIND_ITEM, "x")]


@pytest.mark.parametrize("name", ["\\t", "tab", "TAB"])
def test_read_event_log_separator_name(write, rows, name):
    path = write("log.txt", "user\tts\titem\nu\t5\tx\n")
    events = read_event_log([path], user_column="user", time_column="ts", item_column="item",
                            separator=name).events
    assert rows(events) == [("u", None, 5.0, 1, KIND_ITEM, "x")]


def test_read_event_log_tsv_part_names(write, rows):
    path = write("log.tsv000.gz", "user\tts\titem\nu\t5\tx\n", compress=True)
    events = read_event_log([path], user_column="user", time_column="ts", item_column="item").events
    assert rows(events) == [("u", None, 5.0, 1, KIND_ITEM, "x")]


def test_read_event_log_parquet(tmp_path, rows, utc):
    path = tmp_path / "log.parquet"
    frame = pd.DataFrame({
        "user": [7, 7, 8],
        "time": pd.to_datetime(["2020-11-11 14:34:15", "2020-11-11 14:35:00",
                                "2020-11-11 14:36:00"]),
        "item": [101.0, None, 102.0],
        "query": [None, "red shoes", None],
    })
    frame.to_parquet(path)
    result = read_event_log([path], user_column="user", time_column="time",
                            item_column="item", query_column="query")
    assert rows(result.events) == [
        ("7", None, utc(2020, 11, 11, 14, 34, 15), 1, KIND_ITEM, "101"),
        ("7", None, utc(2020, 11, 11, 14, 35), 2, KIND_QUERY, "red shoes"),
        ("8", None, utc(2020, 11, 11, 14, 36), 5, KIND_ITEM, "102"),
    ]


def test_read_event_log_rows_numbered_across_files(write, rows):
    first = write("a.csv", "user,ts,item\nu,5,x\nu,5,y\n")
    second = write("b.csv", "user,ts,item\nu,5,z\n")
    events = read_event_log([first, second], user_column="user", time_column="ts",
                            item_column="item").events
    assert [(order, value) for *_, order, _, value in rows(events)] == [
        (1, "x"), (3, "y"), (5, "z")]


@pytest.mark.parametrize(("options", "message"), [
    (dict(time_column="ts", item_column="item"), "needs the option user_column"),
    (dict(user_column="user", item_column="item"), "needs the option time_column"),
    (dict(user_column="user", time_column="ts"), "needs item_column, query_column or both"),
    (dict(user_column="user", time_column="ts", item_column="item", separator="||"),
     "separator must be one character or one of \\t, tab, comma, semicolon, pipe; got '||'"),
])
def test_read_event_log_invalid_options(write, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        read_event_log([write("log.csv", LOG)], **options)


def test_read_event_log_missing_column(write):
    path = write("log.csv", LOG)
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 1: missing column(s) clicked; found columns 'user', 'ts', 'item', "
            "'query', 'session'; expected user, ts, clicked")):
        read_event_log([path], user_column="user", time_column="ts", item_column="clicked")


def test_read_event_log_wrong_separator(write):
    path = write("log.csv", LOG.replace(",", ";"))
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 1: the header 'user;ts;item;query;session' is separated by "
            "semicolons, but an event log is separated by commas")):
        read_event_log([path], **COLUMNS)


def test_read_event_log_invalid_unix_time(write):
    path = write("log.csv", LOG.replace("A,105.5,", "A,yesterday,"))
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 4, column 'ts': invalid value 'yesterday'; expected a timestamp "
            "in UNIX seconds")):
        read_event_log([path], **COLUMNS)


def test_read_event_log_invalid_iso_time(write):
    path = write("log.csv", "user,time,item\nu,2020-11-11 14:34,a\nu,11/11/2020,b\n")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 3, column 'time': invalid value '11/11/2020'; expected an ISO 8601 "
            "date-time")):
        read_event_log([path], user_column="user", time_column="time", item_column="item")


def test_read_event_log_time_format_mismatch(write):
    path = write("log.csv", "user,time,item\nu,2020-11-11 14:34,a\n")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 2, column 'time': invalid value '2020-11-11 14:34'; expected a "
            "date-time in the format '%d/%m/%Y %H:%M'")):
        read_event_log([path], user_column="user", time_column="time", item_column="item",
                       time_format="%d/%m/%Y %H:%M")


def test_read_event_log_invalid_order(write):
    path = write("log.csv", "user,ts,step,item\nu,5,1,a\nu,5,1.5,b\n")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 3, column 'step': invalid value '1.5'; expected an integer")):
        read_event_log([path], user_column="user", time_column="ts", item_column="item",
                       order_column="step")


def test_read_event_log_non_utf8(write):
    path = write("log.csv", b"user,ts,item\nu,5,caf\xe9\n")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 2: invalid UTF-8 byte 0xe9 at byte offset 20")):
        read_event_log([path], user_column="user", time_column="ts", item_column="item")


def test_read_event_log_empty_file(write):
    path = write("log.csv", b"")
    with pytest.raises(InputFormatError, match=re.escape(f"{path}: empty file")):
        read_event_log([path], user_column="user", time_column="ts", item_column="item")


def test_read_event_log_empty_parquet(write):
    path = write("log.parquet", b"")
    with pytest.raises(InputFormatError, match=re.escape(f"{path}: empty file; expected a Parquet")):
        read_event_log([path], user_column="user", time_column="ts", item_column="item")


def test_read_event_log_invalid_parquet(write):
    path = write("log.parquet", "user,ts,item\nu,5,a\n")
    with pytest.raises(InputFormatError, match=re.escape(f"{path}: is not a valid Parquet file")):
        read_event_log([path], user_column="user", time_column="ts", item_column="item")


def test_read_event_log_parquet_missing_column(tmp_path):
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user": ["u"], "ts": [5]}).to_parquet(path)
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}: missing column(s) item; found columns 'user', 'ts'; expected user, ts, item")):
        read_event_log([path], user_column="user", time_column="ts", item_column="item")


def test_read_event_log_missing_file(tmp_path):
    path = tmp_path / "log.csv"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_event_log([path], user_column="user", time_column="ts", item_column="item")
