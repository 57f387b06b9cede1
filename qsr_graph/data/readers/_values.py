"""Vectorised parsing of integers and timestamps, with errors that name the bad row."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from qsr_graph.data.readers._files import Table

def _first(mask: pd.Series) -> int:
    """Return the position of the first True value of a boolean Series."""
    return int(np.argmax(mask.to_numpy()))


def _cast_text(values: pd.Series, arrow_type: pa.DataType) -> np.ndarray | None:
    """Convert a text column with pyarrow, or return ``None`` when any value fails.

    This is the fast path. On failure the callers parse again with pandas,
    which marks each bad value, so that the error can name the first one.
    """
    if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        return None
    try:
        converted = pc.cast(pa.array(values, from_pandas=True), arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if converted.null_count:
        return None
    return converted.to_numpy(zero_copy_only=False)


def _is_blank(values: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        return values.isna() | (values.astype("str").str.strip() == "")
    return values.isna()


def _raise_blank_or(table: Table, column: str, bad: pd.Series, message: str) -> None:
    """Raise for the first row flagged in ``bad``, saying "missing" when it is blank."""
    index = _first(bad)
    if bool(_is_blank(table.frame[column].iloc[[index]]).iloc[0]):
        raise table.error(index, column, f"missing value; {message}")
    value = table.frame[column].iloc[index]
    raise table.error(index, column, f"invalid value {str(value)!r}; {message}")


def to_int64(table: Table, column: str, expected: str = "expected an integer") -> np.ndarray:
    """Return a column as int64.

    Args:
        table (Table): the file's table.
        column (str): a column of integers, as text or as numbers.
        expected (str, optional): the expectation stated in the message.

    Raises:
        InputFormatError: at the first missing or non-integer value.
    """
    values = table.frame[column]
    if pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        return values.to_numpy(dtype=np.int64)
    fast = _cast_text(values, pa.int64())
    if fast is not None:
        return fast
    if (pd.api.types.is_bool_dtype(values.dtype)
            or pd.api.types.is_datetime64_any_dtype(values.dtype)):
        raise table.error(0, column, f"column of type {values.dtype}; {expected}")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype(np.float64)
    else:
        numbers = pd.to_numeric(values, errors="coerce")
    if pd.api.types.is_integer_dtype(numbers.dtype) and not numbers.isna().any():
        return numbers.to_numpy(dtype=np.int64)
    as_float = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = pd.Series(~np.isfinite(as_float) | (as_float != np.floor(as_float)))
    if bad.any():
        _raise_blank_or(table, column, bad, expected)
    return as_float.astype(np.int64)


def to_seconds_from_numbers(table: Table, column: str) -> np.ndarray:
    """Return a column of UNIX seconds (integers or decimals) as float64.

    Raises:
        InputFormatError: at the first missing or non-numeric value.
    """
    values = table.frame[column]
    expected = "expected a timestamp in UNIX seconds"
    if pd.api.types.is_bool_dtype(values.dtype):
        raise table.error(0, column, f"column of type {values.dtype}; {expected}")
    fast = _cast_text(values, pa.float64())
    if fast is not None and np.isfinite(fast).all():
        return fast
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64,
                                                                   na_value=np.nan)
    bad = pd.Series(~np.isfinite(numbers))
    if bad.any():
        _raise_blank_or(table, column, bad, expected)
    return numbers


def _seconds(stamps: pd.Series) -> np.ndarray:
    """Return UTC timestamps as float64 UNIX seconds.

    Whole seconds and the fraction are converted apart and then added, so a
    millisecond time gets the float nearest to it. Dividing nanoseconds by 1e9
    would first round the nanosecond count to a float.
    """
    nanoseconds = stamps.dt.as_unit("ns").astype("int64").to_numpy()
    whole, rest = np.divmod(nanoseconds, 1_000_000_000)
    return whole.astype(np.float64) + rest / 1e9


def to_seconds_from_datetimes(
    table: Table, column: str, formats: list[str], expected: str
) -> np.ndarray:
    """Parse a column of date-times into float64 UNIX seconds.

    Values without a time zone are read as UTC. Each value may match any of
    ``formats`` (tried in order); ``"ISO8601"`` accepts any ISO 8601 date-time.
    A Parquet column of date-times is converted directly.

    Args:
        table (Table): the file's table.
        column (str): the column.
        formats (list[str]): strftime formats accepted by :func:`pandas.to_datetime`.
        expected (str): the expected form, as the message states it.

    Raises:
        InputFormatError: at the first missing or unparseable value.
    """
    values = table.frame[column]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        stamps = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        stamps = values.dt.tz_localize("UTC")
    elif pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        stamps = pd.to_datetime(values, format=formats[0], errors="coerce", utc=True)
        for fmt in formats[1:]:
            missing = stamps.isna()
            if not missing.any():
                break
            stamps[missing] = pd.to_datetime(values[missing], format=fmt, errors="coerce",
                                             utc=True)
    else:
        raise table.error(0, column, f"column of type {values.dtype}; {expected}")
    bad = stamps.isna()
    if bad.any():
        _raise_blank_or(table, column, bad, expected)
    return _seconds(stamps)


def to_seconds(table: Table, column: str, time_format: str | None) -> np.ndarray:
    """Parse a time column of any kind into float64 UNIX seconds.

    With ``time_format`` every value must match it. Without it, a numeric
    column is UNIX seconds, a date-time column is converted, and a text column
    is UNIX seconds when its first value is a number and ISO 8601 date-times
    otherwise. Values without a time zone are read as UTC.

    Raises:
        InputFormatError: at the first missing or unparseable value.
    """
    values = table.frame[column]
    if time_format is not None:
        return to_seconds_from_datetimes(
            table, column, [time_format],
            f"expected a date-time in the format {time_format!r}")
    if (pd.api.types.is_numeric_dtype(values.dtype)
            or pd.api.types.is_datetime64_any_dtype(values.dtype)):
        if pd.api.types.is_numeric_dtype(values.dtype):
            return to_seconds_from_numbers(table, column)
        return to_seconds_from_datetimes(table, column, ["ISO8601"], "expected a date-time")
    if values.empty:
        return np.zeros(0, dtype=np.float64)
    try:
        float(str(values.iloc[0]))
    except ValueError:
        return to_seconds_from_datetimes(
            table, column, ["ISO8601"],
            "expected an ISO 8601 date-time such as '2020-11-11 14:34:15', like the first "
            "row (or pass a time format)")
    return to_seconds_from_numbers(table, column)
