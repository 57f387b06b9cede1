"""Tests of the Diginetica (CIKM Cup 2016) reader on hand-written files in the published layout."""
from __future__ import annotations

import re

import pytest

from qsr_graph.data import KIND_ITEM, KIND_QUERY
from qsr_graph.data.readers import InputFormatError, read_diginetica, read_events

QUERIES = (
    "queryId;sessionId;userId;timeframe;duration;eventdate;searchstring.tokens;categoryId;"
    "items;is.test\n"
    "1;1;NA;0;1;2016-05-09;16655,244087;0;9654,33043,41833;FALSE\n"
    "2;1;NA;5000;1;2016-05-09;;1138;9654;FALSE\n"
    "3;2;57;100;403;2016-05-10;5,6,7;0;1,2;TRUE\n"
    "4;3;NA;0;50;2016-05-11;88;0;5;FALSE\n"
)
VIEWS = (
    "sessionId;userId;itemId;timeframe;eventdate\n"
    "1;NA;81766;526309;2016-05-09\n"
    "2;57;31331;1000;2016-05-10\n"
    "3;91;12;20;2016-05-11\n"
)
CLICKS = (
    "queryId;timeframe;itemId\n"
    "1;2000;9654\n"
    "2;6000;33043\n"
    "9;1;1\n"
)


@pytest.fixture
def files(write):
    return {
        "queries": write("train-queries.csv", QUERIES),
        "views": write("train-item-views.csv", VIEWS),
        "clicks": write("train-clicks.csv", CLICKS),
    }


def test_read_diginetica(files, rows, utc):
    # Orders: query rows 0-3, then click rows 4-6, then view rows 7-9.
    result = read_diginetica([files["views"], files["clicks"], files["queries"]])
    may_9, may_10, may_11 = utc(2016, 5, 9), utc(2016, 5, 10), utc(2016, 5, 11)
    assert rows(result.events) == [
        ("57", "2", may_10 + 0.1, 2, KIND_QUERY, "5 6 7"),
        ("57", "2", may_10 + 1.0, 8, KIND_ITEM, "31331"),
        # Session 3 is anonymous in the queries but has user 91 in the item views.
        ("91", "3", may_11 + 0.0, 3, KIND_QUERY, "88"),
        ("91", "3", may_11 + 0.02, 9, KIND_ITEM, "12"),
        ("session:1", "1", may_9 + 0.0, 0, KIND_QUERY, "16655 244087"),
        ("session:1", "1", may_9 + 2.0, 4, KIND_ITEM, "9654"),
        ("session:1", "1", may_9 + 6.0, 5, KIND_ITEM, "33043"),
        ("session:1", "1", may_9 + 526.309, 7, KIND_ITEM, "81766"),
    ]
    assert result.dropped == {
        "category browse without query text": 1,
        "click on a query not in train-queries.csv": 1,
    }


def test_read_diginetica_without_clicks(files, rows, utc):
    result = read_events("diginetica", [files["queries"], files["views"]])
    items = [(user, time, order, value) for user, _, time, order, kind, value
             in rows(result.events) if kind == KIND_ITEM]
    assert items == [
        ("57", utc(2016, 5, 10) + 1.0, 5, "31331"),
        ("91", utc(2016, 5, 11) + 0.02, 6, "12"),
        ("session:1", utc(2016, 5, 9) + 526.309, 4, "81766"),
    ]
    assert result.dropped == {"category browse without query text": 1}


def test_read_diginetica_empty_user_is_anonymous(write, rows, utc):
    queries = write("q.csv", QUERIES.splitlines(keepends=True)[0] + "1;8;;0;1;2016-05-09;3;0;1;FALSE\n")
    views = write("v.csv", "sessionId;userId;itemId;timeframe;eventdate\n8;;5;10;2016-05-09\n")
    assert [row[0] for row in rows(read_diginetica([queries, views]).events)] == ["session:8"] * 2


def test_read_diginetica_missing_item_views(files):
    with pytest.raises(ValueError, match=re.escape(
            "the diginetica format needs train-item-views.csv as well; given: "
            f"{files['queries']} (train-queries.csv), {files['clicks']} (train-clicks.csv)")):
        read_diginetica([files["queries"], files["clicks"]])


def test_read_diginetica_missing_queries(files):
    with pytest.raises(ValueError, match="needs train-queries.csv as well"):
        read_diginetica([files["views"]])


def test_read_diginetica_file_given_twice(files, write):
    copy = write("views-copy.csv", VIEWS)
    with pytest.raises(ValueError, match=re.escape(
            f"two Diginetica train-item-views.csv files given: {files['views']} and {copy}")):
        read_diginetica([files["queries"], files["views"], copy])


def test_read_diginetica_wrong_separator(files, write):
    views = write("train-item-views.csv", VIEWS.replace(";", ","))
    with pytest.raises(InputFormatError, match=re.escape(
            f"{views}, line 1: the header 'sessionId,userId,itemId,timeframe,eventdate' is "
            "separated by commas, but Diginetica files are separated by semicolons")):
        read_diginetica([files["queries"], views])


def test_read_diginetica_misnamed_column(files, write):
    views = write("train-item-views.csv", VIEWS.replace("itemId", "itemID"))
    with pytest.raises(InputFormatError, match=re.escape(
            f"{views}, line 1: missing column(s) itemId; found columns 'sessionId', 'userId', "
            "'itemID', 'timeframe', 'eventdate'; expected sessionId, userId, itemId, "
            "timeframe, eventdate")):
        read_diginetica([files["queries"], views])


def test_read_diginetica_missing_column(files, write):
    views = write("train-item-views.csv", "sessionId;userId;itemId;eventdate\n1;NA;5;2016-05-09\n")
    with pytest.raises(InputFormatError, match=r"missing column\(s\) timeframe"):
        read_diginetica([files["queries"], views])


def test_read_diginetica_invalid_date(files, write):
    views = write("train-item-views.csv", VIEWS.replace("2016-05-10", "10.05.2016"))
    with pytest.raises(InputFormatError, match=re.escape(
            f"{views}, line 3, column 'eventdate': invalid value '10.05.2016'; expected a date "
            "like '2016-05-09' (YYYY-MM-DD)")):
        read_diginetica([files["queries"], views])


def test_read_diginetica_invalid_timeframe(files, write):
    clicks = write("train-clicks.csv", CLICKS.replace("6000", "6.5"))
    with pytest.raises(InputFormatError, match=re.escape(
            f"{clicks}, line 3, column 'timeframe': invalid value '6.5'; expected the "
            "milliseconds since the session start (an integer)")):
        read_diginetica([files["queries"], files["views"], clicks])


def test_read_diginetica_non_utf8(files, write):
    body = VIEWS.encode()
    views = write("train-item-views.csv", body + b"4;NA;\xff12;0;2016-05-12\n")
    offset = len(body) + 5
    with pytest.raises(InputFormatError, match=re.escape(
            f"{views}, line 5: invalid UTF-8 byte 0xff at byte offset {offset}")):
        read_diginetica([files["queries"], views])


def test_read_diginetica_empty_file(files, write):
    empty = write("train-clicks.csv", b"")
    with pytest.raises(InputFormatError, match=re.escape(f"{empty}: empty file")):
        read_diginetica([files["queries"], files["views"], empty])


def test_read_diginetica_given_bestbuy_file(files, write):
    other = write("train.csv", "user,sku,category,query,click_time,query_time\r\n")
    with pytest.raises(InputFormatError, match=re.escape(
            "this looks like a Best Buy search-click CSV (format 'bestbuy'), not a file that "
            "the diginetica format reads")):
        read_diginetica([files["queries"], files["views"], other])


def test_read_diginetica_given_purchases_file(files, write):
    purchases = write("train-purchases.csv",
                      "sessionId;userId;timeframe;eventdate;ordernumber;itemId\n"
                      "150;18278;3;2016-05-09;4;24\n")
    with pytest.raises(InputFormatError, match=re.escape(
            "this looks like a Diginetica train-purchases.csv, which no reader uses, not a "
            "file that the diginetica format reads")):
        read_diginetica([files["queries"], files["views"], purchases])


def test_read_diginetica_unknown_file(files, write):
    other = write("notes.csv", "title;text\nhello;world\n")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{other}, line 1: not a Diginetica file; found the header 'title;text'")):
        read_diginetica([files["queries"], files["views"], other])


def test_read_diginetica_missing_file(files, tmp_path):
    absent = tmp_path / "train-clicks.csv"
    absent.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(absent))):
        read_diginetica([files["queries"], files["views"], absent])
