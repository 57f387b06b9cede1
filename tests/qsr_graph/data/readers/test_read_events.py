"""Tests of the format dispatch ``read_events`` and the shared error type."""
from __future__ import annotations

import re

import pytest

from qsr_graph.data import KIND_ITEM
from qsr_graph.data.readers import READERS, InputFormatError, read_events

LOG = "user,ts,item\nu,5,x\n"


def test_readers_cover_formats():
    assert sorted(READERS) == ["bestbuy", "diginetica", "events", "trivago", "unsplash"]


def test_read_events_unknown_format(write):
    with pytest.raises(ValueError, match=re.escape(
            "unknown format 'csv'; expected one of trivago, bestbuy, diginetica, unsplash, "
            "events")):
        read_events("csv", [write("log.csv", LOG)])


def test_read_events_option_for_format_without_options(write):
    with pytest.raises(ValueError, match=re.escape(
            "format 'trivago' takes no options; got user_column")):
        read_events("trivago", [write("log.csv", LOG)], user_column="user")


def test_read_events_unknown_option(write):
    with pytest.raises(ValueError, match=re.escape(
            "format 'events' takes the options user_column, time_column, item_column, "
            "query_column, session_column, order_column, time_format, separator; got "
            "item_col")):
        read_events("events", [write("log.csv", LOG)], user_column="user", time_column="ts",
                    item_col="item")


def test_read_events_ignores_options_set_to_none(write, rows):
    path = write("log.csv", LOG)
    result = read_events("events", [path], user_column="user", time_column="ts",
                         item_column="item", query_column=None, separator=None)
    assert rows(result.events) == [("u", None, 5.0, 1, KIND_ITEM, "x")]
    assert result.source == f"events: {path}"


def test_read_events_single_path(write, rows):
    path = write("log.csv", LOG)
    result = read_events("events", str(path), user_column="user", time_column="ts",
                         item_column="item")
    assert rows(result.events) == [("u", None, 5.0, 1, KIND_ITEM, "x")]


def test_read_events_no_paths():
    with pytest.raises(ValueError, match="no input files given"):
        read_events("bestbuy", [])


def test_read_events_folder(tmp_path):
    with pytest.raises(InputFormatError, match=re.escape(f"{tmp_path}: is a folder")):
        read_events("bestbuy", [tmp_path])


def test_input_format_error_fields():
    error = InputFormatError("data/x.csv", "invalid value 'q'; expected an integer",
                             line=3, column="step", value="q")
    assert str(error) == "data/x.csv, line 3, column 'step': invalid value 'q'; expected an integer"
    assert (error.path, error.line, error.column, error.value, error.row) == (
        "data/x.csv", 3, "step", "q", None)
    assert isinstance(error, ValueError)
