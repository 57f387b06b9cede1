"""Tests of the trivago RecSys 2019 reader on hand-written files and the bundled slice."""
from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from qsr_graph.data import KIND_ITEM, KIND_QUERY
from qsr_graph.data.readers import InputFormatError, read_events, read_trivago

HEADER = ("user_id,session_id,timestamp,step,action_type,reference,platform,city,device,"
          "current_filters,impressions,prices\n")
ROWS = (
    'U1,s1,1541599523,1,search for destination,"Marseille, France",FR,"Marseille, France",tablet,,,\n'
    'U1,s1,1541599538,2,interaction item image,5967314,FR,"Marseille, France",tablet,,,\n'
    'U1,s1,1541599538,3,filter selection,Sort by Price,FR,"Marseille, France",tablet,Sort by Price,,\n'
    'U1,s1,1541599553,4,clickout item,5967314,FR,"Marseille, France",tablet,,100131|5967314,71|119\n'
    'U1,s1,1541599560,5,interaction item info,unknown,FR,"Marseille, France",tablet,,,\n'
    'U2,s2,1541600000,1,search for poi,Eiffel Tower,FR,"Paris, France",desktop,,,\n'
    'U2,s2,1541600000,2,search for item,913787,FR,"Paris, France",desktop,,,\n'
    'U2,s2,1541600010,3,change of sort order,price only,FR,"Paris, France",desktop,,,\n'
    'U2,s2,1541600020,4,interaction item deals,913787,FR,"Paris, France",desktop,,,\n'
    'U2,s2,1541600030,5,interaction item rating,49825,FR,"Paris, France",desktop,,,\n'
    'U2,s3,1541600040,1,search for destination,,FR,"Paris, France",desktop,,,\n'
    'U2,s3,1541600050,2,clickout item,,FR,"Paris, France",desktop,,49825,80\n'
)
EXPECTED = [
    ("U1", "s1", 1541599523.0, 1, KIND_QUERY, "Marseille, France"),
    ("U1", "s1", 1541599538.0, 2, KIND_ITEM, "5967314"),
    ("U1", "s1", 1541599553.0, 4, KIND_ITEM, "5967314"),
    ("U2", "s2", 1541600000.0, 1, KIND_QUERY, "Eiffel Tower"),
    ("U2", "s2", 1541600000.0, 2, KIND_ITEM, "913787"),
    ("U2", "s2", 1541600020.0, 4, KIND_ITEM, "913787"),
    ("U2", "s2", 1541600030.0, 5, KIND_ITEM, "49825"),
]
EXPECTED_DROPPED = {
    "action type without item or query": 2,
    "non-numeric item reference": 1,
    "empty query text": 1,
    "missing item reference": 1,
}


def test_read_trivago_csv(write, rows):
    path = write("train.csv", HEADER + ROWS)
    result = read_trivago([path])
    assert rows(result.events) == EXPECTED
    assert result.dropped == EXPECTED_DROPPED
    assert result.source == f"trivago: {path}"


def test_read_trivago_event_dtypes(write):
    events = read_trivago([write("train.csv", HEADER + ROWS)]).events
    assert list(events.columns) == ["user", "session", "time", "order", "kind", "value"]
    assert [str(t) for t in events.dtypes] == ["str", "str", "float64", "int64", "int8", "str"]


def test_read_trivago_gzip_csv(write, rows):
    path = write("train.csv.gz", HEADER + ROWS, compress=True)
    assert rows(read_trivago([path]).events) == EXPECTED


def test_read_trivago_parquet(tmp_path, rows):
    frame = pd.read_csv(io.StringIO(HEADER + ROWS), dtype={"reference": "str"})
    path = tmp_path / "slice.parquet.snappy"
    frame.to_parquet(path)
    result = read_trivago([path])
    assert rows(result.events) == EXPECTED
    assert result.dropped == EXPECTED_DROPPED


def test_read_trivago_combines_files(write, rows):
    first = write("a.csv", HEADER + ROWS.splitlines(keepends=True)[0])
    second = write("b.csv", HEADER + "".join(ROWS.splitlines(keepends=True)[1:4]))
    result = read_events("trivago", [first, second])
    assert rows(result.events) == EXPECTED[:3]
    assert result.dropped == {"action type without item or query": 1}


def test_read_trivago_missing_column(write):
    path = write("train.csv", HEADER.replace("step,", "") + "U1,s1,1541599523,clickout item,1\n")
    with pytest.raises(InputFormatError, match=r"missing column\(s\) step") as info:
        read_trivago([path])
    assert str(info.value).startswith(f"{path}, line 1: ")
    assert "found columns 'user_id', 'session_id', 'timestamp', 'action_type'" in str(info.value)
    assert "expected user_id, session_id, timestamp, step, action_type, reference" in str(info.value)


def test_read_trivago_misnamed_column(write):
    path = write("train.csv", HEADER.replace("user_id", "userid") + ROWS)
    with pytest.raises(InputFormatError, match=r"missing column\(s\) user_id; found columns 'userid'"):
        read_trivago([path])


def test_read_trivago_wrong_separator(write):
    path = write("train.csv", HEADER.replace(",", ";") + "U1;s1;1541599523;1;clickout item;1;;;;;;\n")
    with pytest.raises(InputFormatError, match="separated by semicolons, but a trivago RecSys "
                                               "2019 session log is separated by commas") as info:
        read_trivago([path])
    assert info.value.path == str(path)
    assert info.value.line == 1


def test_read_trivago_invalid_timestamp(write):
    bad = ROWS.replace("1541599538,2,", "2018-11-07 10:00,2,")
    path = write("train.csv", HEADER + bad)
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 3, column 'timestamp': invalid value '2018-11-07 10:00'; "
            "expected a timestamp in UNIX seconds")) as info:
        read_trivago([path])
    assert info.value.value == "2018-11-07 10:00"


def test_read_trivago_missing_timestamp_after_blank_line(write):
    # The blank line is skipped by the parser but still counts in line numbers.
    path = write("train.csv", HEADER + "\n" + "U1,s1,,1,clickout item,5,FR,x,tablet,,,\n")
    with pytest.raises(InputFormatError, match=r"line 3, column 'timestamp': missing value"):
        read_trivago([path])


def test_read_trivago_invalid_step(write):
    path = write("train.csv", HEADER + ROWS.replace("1541599553,4,", "1541599553,four,"))
    with pytest.raises(InputFormatError, match=r"line 5, column 'step': invalid value 'four'"):
        read_trivago([path])


def test_read_trivago_non_utf8(write):
    line_2 = b"U1,s1,1541599523,1,search for destination,K\xf6ln,DE,K\xf6ln,tablet,,,\n"
    path = write("train.csv", HEADER.encode() + line_2)
    offset = len(HEADER) + line_2.index(b"\xf6")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 2: invalid UTF-8 byte 0xf6 at byte offset {offset}")):
        read_trivago([path])


def test_read_trivago_non_utf8_header(write):
    header = HEADER.encode().replace(b"step", b"st\xe9p")
    path = write("train.csv", header + ROWS.encode())
    offset = header.index(b"\xe9")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 1: invalid UTF-8 byte 0xe9 at byte offset {offset} of the file")):
        read_trivago([path])


def test_read_trivago_byte_order_mark(write, rows):
    path = write("train.csv", "\ufeff" + HEADER + ROWS)
    assert rows(read_trivago([path]).events) == EXPECTED


def test_read_trivago_wrong_field_count(write):
    path = write("train.csv", HEADER + ROWS + "U3,s4,1541600060,1,clickout item,7,FR\n")
    with pytest.raises(InputFormatError, match="line 14: 7 fields; expected 12 fields"):
        read_trivago([path])


@pytest.mark.parametrize("content", [b"", b"\n\r\n  \n"])
def test_read_trivago_empty_file(write, content):
    path = write("train.csv", content)
    with pytest.raises(InputFormatError, match=f"{re.escape(str(path))}: empty file"):
        read_trivago([path])


def test_read_trivago_empty_gzip_file(write):
    path = write("train.csv.gz", b"", compress=True)
    with pytest.raises(InputFormatError, match="empty file"):
        read_trivago([path])


def test_read_trivago_header_only(write):
    result = read_trivago([write("train.csv", HEADER)])
    assert len(result.events) == 0
    assert result.dropped == {}


def test_read_trivago_given_bestbuy_file(write):
    path = write("train.csv", "user,sku,category,query,click_time,query_time\r\n"
                              "u1,9854804,abcat0701002,halo,2011-09-14 12:46:28.66,"
                              "2011-09-14 12:45:07.064\r\n")
    with pytest.raises(InputFormatError, match=re.escape(
            "this looks like a Best Buy search-click CSV (format 'bestbuy'), "
            "not a trivago RecSys 2019 session log")):
        read_trivago([path])


def test_read_trivago_parquet_missing_column(tmp_path):
    path = tmp_path / "slice.parquet"
    pd.DataFrame({"user_id": ["U1"], "session_id": ["s1"], "timestamp": [1],
                  "action_type": ["clickout item"], "reference": ["5"]}).to_parquet(path)
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}: missing column(s) step; found columns 'user_id', 'session_id', "
            "'timestamp', 'action_type', 'reference'")):
        read_trivago([path])


def test_read_trivago_parquet_invalid_timestamp(tmp_path):
    path = tmp_path / "slice.parquet"
    pd.DataFrame({"user_id": ["U1", "U1"], "session_id": ["s1", "s1"],
                  "timestamp": ["1541599523", "yesterday"], "step": [1, 2],
                  "action_type": ["clickout item"] * 2, "reference": ["5", "6"]}).to_parquet(path)
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, row 2, column 'timestamp': invalid value 'yesterday'")):
        read_trivago([path])


def test_read_trivago_missing_file(tmp_path):
    path = tmp_path / "absent.parquet"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_trivago([path])


def test_read_trivago_bundled_counts(trivago_path):
    result = read_events("trivago", [trivago_path])
    raw = pd.read_parquet(trivago_path)

    # Independent counts from the raw file:
    is_search = raw["action_type"].isin(["search for destination", "search for poi"])
    is_item_action = (raw["action_type"].str.startswith("interaction item")
                      | raw["action_type"].isin(["clickout item", "search for item"]))
    is_number = raw["reference"].str.isdigit()
    assert int(is_search.sum()) == 4140

    events = result.events
    assert int((events["kind"] == KIND_QUERY).sum()) == int(is_search.sum())
    assert int((events["kind"] == KIND_ITEM).sum()) == int((is_item_action & is_number).sum())
    assert result.dropped == {
        "non-numeric item reference": int((is_item_action & ~is_number).sum()),
        "action type without item or query": int((~is_search & ~is_item_action).sum()),
    }

    # The query events are exactly the search rows:
    expected_queries = sorted(
        raw.loc[is_search, ["user_id", "session_id", "timestamp", "step", "reference"]]
        .itertuples(index=False, name=None))
    queries = events[events["kind"] == KIND_QUERY]
    found_queries = sorted(
        (u, s, int(t), o, v) for u, s, t, o, v in
        queries[["user", "session", "time", "order", "value"]].itertuples(index=False))
    assert found_queries == expected_queries
