"""Readers that turn published log formats into the canonical event table.

:func:`read_events` picks the reader by format name. Every reader returns a
:class:`ReadResult` whose ``events`` table has one row per query or item event
(see :data:`EVENT_COLUMNS`) and whose ``dropped`` dict counts what was left out.
"""
from __future__ import annotations

import inspect
import os
from typing import Any, Callable, Sequence

from qsr_graph.data.readers._common import EVENT_COLUMNS, InputFormatError, ReadResult
from qsr_graph.data.readers.bestbuy import read_bestbuy
from qsr_graph.data.readers.diginetica import read_diginetica
from qsr_graph.data.readers.events import read_event_log
from qsr_graph.data.readers.trivago import read_trivago
from qsr_graph.data.readers.unsplash import read_unsplash

#: Reader of each format name.
READERS: dict[str, Callable[..., ReadResult]] = {
    "trivago": read_trivago,
    "bestbuy": read_bestbuy,
    "diginetica": read_diginetica,
    "unsplash": read_unsplash,
    "events": read_event_log,
}

__all__ = [
    "EVENT_COLUMNS",
    "READERS",
    "InputFormatError",
    "ReadResult",
    "read_bestbuy",
    "read_diginetica",
    "read_event_log",
    "read_events",
    "read_trivago",
    "read_unsplash",
]


def read_events(format: str, paths: Sequence[str | os.PathLike], **options: Any) -> ReadResult:
    """Read log files of one format into the canonical event table.

    Args:
        format (str): one of the keys of :data:`READERS`.
        paths (list of str or Path): the input files.
        **options: options of the reader; only the ``events`` format takes any
            (see :func:`read_event_log`). Options whose value is ``None`` are
            ignored, so callers may pass every option to every format.

    Returns:
        The events, the dropped-row counts and a description of the source.

    Raises:
        ValueError: unknown format, or an option the format does not take.
        FileNotFoundError: an input file does not exist.
        InputFormatError: an input file does not match the format.
    """
    if format not in READERS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(READERS)}")
    reader = READERS[format]
    set_options = {name: value for name, value in options.items() if value is not None}
    accepted = [name for name, parameter in inspect.signature(reader).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(set_options) - set(accepted))
    if unknown:
        takes = (f"takes the options {', '.join(accepted)}" if accepted
                 else "takes no options")
        raise ValueError(f"format {format!r} {takes}; got {', '.join(unknown)}")
    return reader(paths, **set_options)
