"""Reading text (CSV, TSV, gzip-compressed or not) and Parquet files into string tables.

The fast path reads with ``pyarrow``. Only when it fails is the file scanned
line by line, to find the first bad line so that the error can name it.
"""
from __future__ import annotations

import csv
import gzip
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from qsr_graph.data.readers._common import InputFormatError
from qsr_graph.data.readers._detect import find_separator, guess_format, separator_name

logger = logging.getLogger(__name__)

_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"


@dataclass
class Table:
    """The columns a reader needs from one file, all read as strings (Parquet keeps its types).

    Args:
        path (Path): the file.
        frame (pd.DataFrame): one row per data row of the file.
        is_text (bool): whether rows are lines of a text file (else Parquet rows).
    """

    path: Path
    frame: pd.DataFrame
    is_text: bool

    def location(self, index: int) -> dict[str, int]:
        """Return ``{"line": n}`` or ``{"row": n}`` (1-based) for the data row at ``index``."""
        if not self.is_text:
            return {"row": index + 1}
        return {"line": _line_of_row(self.path, index)}

    def error(self, index: int, column: str, message: str) -> InputFormatError:
        """Build an :class:`InputFormatError` for the value of ``column`` at data row ``index``."""
        value = self.frame[column].iloc[index]
        text = "" if pd.isna(value) else str(value)
        return InputFormatError(self.path, message, column=column, value=text,
                                **self.location(index))


def file_kind(path: Path) -> str:
    """Return ``"parquet"``, ``"gzip"`` or ``"text"`` from the file's first bytes."""
    with open(path, "rb") as handle:
        start = handle.read(4)
    if start == _PARQUET_MAGIC:
        return "parquet"
    if start[:2] == _GZIP_MAGIC:
        return "gzip"
    return "text"


def _open_binary(path: Path) -> BinaryIO:
    if file_kind(path) == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(line_number, byte_offset, raw_line)`` of a text file (decompressed)."""
    offset = 0
    try:
        with _open_binary(path) as handle:
            for number, raw in enumerate(handle, start=1):
                yield number, offset, raw
                offset += len(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise InputFormatError(path, f"cannot be decompressed ({err}); expected a valid "
                                     "gzip file or plain text") from err


def _line_of_row(path: Path, index: int) -> int:
    """Return the 1-based line of data row ``index``, skipping blank lines as pyarrow does."""
    row = -1  # the header line is row -1
    for number, _, raw in _lines(path):
        if raw.strip(b"\r\n"):
            if row == index:
                return number
            row += 1
    raise IndexError(f"{path} has no data row {index}")


def _decode(path: Path, number: int, offset: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = raw[err.start]
        raise InputFormatError(
            path, f"invalid UTF-8 byte 0x{bad:02x} at byte offset {offset + err.start} of the "
                  f"file (byte {err.start + 1} of the line); expected UTF-8 text",
            line=number, value=f"0x{bad:02x}") from err


def read_header(path: Path) -> tuple[int, str]:
    """Return the 1-based line number and the text of a file's header line.

    Raises:
        InputFormatError: the file is empty, holds only blank lines, or its
            header is not UTF-8.
    """
    for number, offset, raw in _lines(path):
        if raw.strip(b"\r\n \t"):
            text = _decode(path, number, offset, raw).rstrip("\r\n")
            return number, text.removeprefix(_BOM)
    raise InputFormatError(path, "empty file; expected a header line followed by data rows")


def split_header(text: str, separator: str, quoting: bool) -> list[str]:
    """Split a header line into column names, honouring double quotes when ``quoting``."""
    if not quoting:
        return text.split(separator)
    return next(csv.reader([text], delimiter=separator))


def check_columns(
    path: Path,
    found: list[str],
    needed: list[str],
    expected: list[str],
    fmt: str,
    header_text: str | None = None,
    separator: str | None = None,
    line: int | None = None,
    suggest_format: bool = True,
) -> None:
    """Raise :class:`InputFormatError` unless every column in ``needed`` is in ``found``.

    The message states, in this order of preference, that the file has the
    right columns but another separator, that it looks like another published
    format, that its header uses another separator, or which columns are
    missing.

    Args:
        path (Path): the file.
        found (list[str]): the file's columns.
        needed (list[str]): columns the reader needs.
        expected (list[str]): the format's full header, listed in the message.
        fmt (str): the format with its article, e.g. ``"a Best Buy search-click CSV"``.
        header_text (str, optional): raw header line of a text file.
        separator (str, optional): the separator the format uses (text files).
        line (int, optional): the header's line number.
        suggest_format (bool, optional): whether to name another published
            format that the columns match. (default: ``True``)
    """
    missing = [name for name in needed if name not in found]
    if not missing:
        return
    expected_text = ", ".join(expected)
    found_text = ", ".join(repr(name) for name in found)
    actual = None
    if header_text is not None and separator is not None:
        actual = find_separator(header_text, separator, needed)
    separator_error = None
    if actual is not None:
        separator_error = InputFormatError(
            path, f"the header {header_text!r} is separated by {separator_name(actual)}, "
                  f"but {fmt} is separated by {separator_name(separator)}; expected "
                  f"the columns {expected_text}", line=line)
        if set(needed) <= set(split_header(header_text, actual, quoting=True)):
            raise separator_error
    guess = None
    if suggest_format:
        guess = guess_format(header_text if header_text is not None else ",".join(found))
    if guess is not None:
        other_format, description = guess
        hint = f" (format {other_format!r})" if other_format is not None else ""
        raise InputFormatError(
            path, f"this looks like {description}{hint}, not {fmt}; found columns "
                  f"{found_text}; expected {expected_text}", line=line)
    if separator_error is not None:
        raise separator_error
    raise InputFormatError(
        path, f"missing column(s) {', '.join(missing)}; found columns {found_text}; "
              f"expected {expected_text}", line=line)


def read_text_table(
    path: Path,
    separator: str,
    needed: list[str],
    expected: list[str],
    fmt: str,
    quoting: bool = True,
    suggest_format: bool = True,
) -> Table:
    """Read the ``needed`` columns of a CSV or TSV file (plain or gzip) as strings.

    Empty fields become empty strings, never missing values. Blank lines are
    skipped.

    Args:
        path (Path): the file.
        separator (str): the field separator.
        needed (list[str]): columns to read.
        expected (list[str]): the format's full header, for messages.
        fmt (str): the format with its article, for messages.
        quoting (bool, optional): whether double quotes enclose fields.
            (default: ``True``)
        suggest_format (bool, optional): whether a message about missing
            columns names another published format that they match.
            (default: ``True``)

    Raises:
        InputFormatError: the file is empty, has the wrong columns or separator,
            is not UTF-8 or has a row with the wrong number of fields.
    """
    if file_kind(path) == "parquet":
        raise InputFormatError(path, f"is a Parquet file{_parquet_hint(path)}; expected {fmt} "
                                     f"in text form")
    line, header_text = read_header(path)
    found = split_header(header_text, separator, quoting)
    check_columns(path, found, needed, expected, fmt, header_text, separator, line,
                  suggest_format)

    compression = "gzip" if file_kind(path) == "gzip" else None
    parse_options = pa_csv.ParseOptions(delimiter=separator,
                                        quote_char='"' if quoting else False)
    convert_options = pa_csv.ConvertOptions(
        include_columns=needed,
        column_types={name: pa.string() for name in needed},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False)
    try:
        with pa.input_stream(str(path), compression=compression) as stream:
            table = pa_csv.read_csv(stream, parse_options=parse_options,
                                    convert_options=convert_options)
    except (pa.ArrowInvalid, OSError) as err:
        _diagnose(path, separator, quoting, len(found))
        raise InputFormatError(path, f"cannot be read as {fmt} ({err})") from err
    frame = table.to_pandas()
    if frame.empty:
        logger.warning("%s has a header but no data rows", path)
    return Table(path=path, frame=frame, is_text=True)


def _diagnose(path: Path, separator: str, quoting: bool, num_fields: int) -> None:
    """Raise :class:`InputFormatError` at the first non-UTF-8 line or line of wrong width."""
    header_seen = False
    for number, offset, raw in _lines(path):
        text = _decode(path, number, offset, raw).rstrip("\r\n")
        if not text:
            continue
        if not header_seen:
            header_seen = True
            continue
        fields = split_header(text, separator, quoting)
        if len(fields) != num_fields:
            raise InputFormatError(
                path, f"{len(fields)} fields; expected {num_fields} fields separated by "
                      f"{separator_name(separator)}, as in the header", line=number,
                value=text if len(text) <= 200 else text[:200] + "...")


def _parquet_hint(path: Path) -> str:
    """Return ``" that looks like <format>"`` for a Parquet file whose columns match one."""
    try:
        guess = guess_format(",".join(parquet_columns(path)))
    except InputFormatError:
        return ""
    if guess is None:
        return ""
    other_format, description = guess
    return f" that looks like {description}" + (
        f" (format {other_format!r})" if other_format is not None else "")


def parquet_columns(path: Path) -> list[str]:
    """Return the column names of a Parquet file.

    Raises:
        InputFormatError: the file is empty or not a valid Parquet file.
    """
    if path.stat().st_size == 0:
        raise InputFormatError(path, "empty file; expected a Parquet file")
    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputFormatError(path, f"is not a valid Parquet file ({err})") from err


def read_parquet_table(path: Path, needed: list[str], expected: list[str], fmt: str,
                       suggest_format: bool = True) -> Table:
    """Read the ``needed`` columns of a Parquet file, keeping their types.

    Raises:
        InputFormatError: the file is empty, not Parquet, or lacks a column.
    """
    found = parquet_columns(path)
    check_columns(path, found, needed, expected, fmt, suggest_format=suggest_format)
    try:
        frame = pd.read_parquet(path, columns=needed)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputFormatError(path, f"cannot be read as {fmt} ({err})") from err
    if frame.empty:
        logger.warning("%s has no rows", path)
    return Table(path=path, frame=frame.reset_index(drop=True), is_text=False)
