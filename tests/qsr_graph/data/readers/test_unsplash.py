"""Tests of the Unsplash Lite conversions reader on hand-written files in the published layout."""
from __future__ import annotations

import re

import pytest

from qsr_graph.data import KIND_ITEM, KIND_QUERY
from qsr_graph.data.readers import InputFormatError, read_events, read_unsplash

HEADER = "converted_at\tconversion_type\tkeyword\tphoto_id\tanonymous_user_id\tconversion_country\n"
PART_0 = HEADER + (
    "2020-11-11 14:34:15.498\tdownload\tforest\tXMyPniM9LF0\tc1b4\tDE\n"
    '2020-11-11 14:40:00\tdownload\t5" heels\tAbC-12_x\tc1b4\tDE\n'
    "2020-11-12 09:00:00.1\tdownload\t\tQwE\t77aa\tUS\n"
)
PART_1 = HEADER + "2020-11-11 14:34:15.498\tdownload\tforest\tZzz\t77aa\tUS\n"


def test_read_unsplash_two_parts(write, rows, utc):
    part_0 = write("conversions.tsv000", PART_0)
    part_1 = write("conversions.tsv001", PART_1)
    result = read_unsplash([part_0, part_1])
    first = utc(2020, 11, 11, 14, 34, 15, 0.498)
    assert rows(result.events) == [
        ("77aa", None, first, 6, KIND_QUERY, "forest"),
        ("77aa", None, first, 7, KIND_ITEM, "Zzz"),
        ("77aa", None, utc(2020, 11, 12, 9, 0, 0, 0.1), 5, KIND_ITEM, "QwE"),
        ("c1b4", None, first, 0, KIND_QUERY, "forest"),
        ("c1b4", None, first, 1, KIND_ITEM, "XMyPniM9LF0"),
        ("c1b4", None, utc(2020, 11, 11, 14, 40), 2, KIND_QUERY, '5" heels'),
        ("c1b4", None, utc(2020, 11, 11, 14, 40), 3, KIND_ITEM, "AbC-12_x"),
    ]
    assert result.dropped == {"empty query text": 1}
    assert result.source == f"unsplash: {part_0}, {part_1}"


def test_read_unsplash_gzip_part(write, rows):
    plain = read_events("unsplash", [write("conversions.tsv000", PART_1)])
    packed = read_events("unsplash", [write("conversions.tsv000.gz", PART_1, compress=True)])
    assert rows(packed.events) == rows(plain.events)


def test_read_unsplash_missing_photo(write, rows, utc):
    path = write("conversions.tsv000", HEADER + "2020-11-11 14:40:00\tdownload\tsea\t\tu9\tFR\n")
    result = read_unsplash([path])
    assert rows(result.events) == [("u9", None, utc(2020, 11, 11, 14, 40), 0, KIND_QUERY, "sea")]
    assert result.dropped == {"missing photo id": 1}


def test_read_unsplash_missing_column(write):
    path = write("conversions.tsv000", HEADER.replace("\tanonymous_user_id", "")
                 + "2020-11-11 14:40:00\tdownload\tsea\tp\tFR\n")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 1: missing column(s) anonymous_user_id; found columns 'converted_at', "
            "'conversion_type', 'keyword', 'photo_id', 'conversion_country'")):
        read_unsplash([path])


def test_read_unsplash_wrong_separator(write):
    path = write("conversions.csv", PART_1.replace("\t", ","))
    with pytest.raises(InputFormatError, match=re.escape(
            "is separated by commas, but an Unsplash conversions file is separated by tabs")):
        read_unsplash([path])


def test_read_unsplash_invalid_timestamp(write):
    path = write("conversions.tsv000", PART_0.replace("2020-11-11 14:40:00", "2020/11/11 14:40"))
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 3, column 'converted_at': invalid value '2020/11/11 14:40'; "
            "expected a time like '2020-11-11 14:34:15.498'")):
        read_unsplash([path])


def test_read_unsplash_non_utf8(write):
    body = PART_1.encode()
    path = write("conversions.tsv000", body + b"2020-11-11 14:40:00\tdownload\tfor\xeat\tp\tu\tFR\n")
    offset = len(body) + len("2020-11-11 14:40:00\tdownload\tfor")
    with pytest.raises(InputFormatError, match=re.escape(
            f"{path}, line 3: invalid UTF-8 byte 0xea at byte offset {offset}")):
        read_unsplash([path])


def test_read_unsplash_empty_file(write):
    path = write("conversions.tsv001", b"")
    with pytest.raises(InputFormatError, match=re.escape(f"{path}: empty file")):
        read_unsplash([path])


def test_read_unsplash_given_bestbuy_file(write):
    path = write("train.csv", "user,sku,category,query,click_time,query_time\r\n")
    with pytest.raises(InputFormatError, match=re.escape(
            "this looks like a Best Buy search-click CSV (format 'bestbuy'), "
            "not an Unsplash conversions file")):
        read_unsplash([path])


def test_read_unsplash_missing_file(tmp_path):
    path = tmp_path / "conversions.tsv000"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_unsplash([path])
