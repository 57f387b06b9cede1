"""Dataset statistics: the columns of Table 1 of He et al. (CIKM 2022) and the drop counts.

Counts are taken over the stored (truncated) sequences, so they describe
exactly the data that later steps train and evaluate on.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from qsr_graph.data import prepare as _prepare
from qsr_graph.data.dataset import KIND_ITEM, KIND_QUERY, WORD_PAD, SequenceDataset

#: Table columns: (stats key, printed label).
TABLE_COLUMNS = (
    ("interactions", "#Inter"),
    ("items", "#I"),
    ("sequences", "#S"),
    ("queries", "#Q"),
    ("interactions_per_item", "A-I"),
    ("items_per_sequence", "A-S items"),
    ("events_per_sequence", "A-S events"),
    ("occurrences_per_query", "A-Q"),
    ("words_per_query", "words/query"),
    ("query_events", "query events"),
)

# Drop reasons of prepare in the order of its steps. The manifest stores
# reasons sorted by name, so this order is restored for printing.
STEP_ORDER = (
    _prepare.QUERY_WITHOUT_WORDS, _prepare.REPEATED_ITEM, _prepare.REPEATED_QUERY,
    _prepare.RARE_ITEM, _prepare.QUERY_AFTER_LAST_ITEM, _prepare.SHORT_SEQUENCE,
    _prepare.OUTSIDE_WINDOW,
    _prepare.NO_ITEM_EVENTS, _prepare.TOO_FEW_ITEM_EVENTS, _prepare.TOO_FEW_AFTER_RARE_ITEMS,
)

#: Drop counts kept in :attr:`SequenceDataset.stats`: (stats key, printed label).
DROP_GROUPS = (
    ("dropped_rows", "rows dropped by the reader"),
    ("dropped_events", "events dropped while preparing"),
    ("dropped_sequences", "sequences dropped"),
)


def dataset_stats(dataset: SequenceDataset) -> dict[str, Any]:
    """Compute the statistics of a prepared dataset.

    Args:
        dataset (SequenceDataset): the prepared dataset.

    Returns:
        A dict with ``interactions`` (#Inter, item events), ``items`` (#I),
        ``sequences`` (#S), ``queries`` (#Q, distinct queries),
        ``interactions_per_item`` (A-I = #Inter / #I), ``items_per_sequence``
        (A-S over item events = #Inter / #S), ``events_per_sequence`` (A-S over
        all events), ``occurrences_per_query`` (A-Q = query events / #Q),
        ``words_per_query`` (mean words in a distinct query's bag),
        ``query_events``, ``events``, and the drop counts ``dropped_rows``,
        ``dropped_events`` and ``dropped_sequences`` copied from
        ``dataset.stats`` (empty when the dataset has none).

    Example:
        >>> ds = SequenceDataset.from_sequences(
        ...     {"u1": [("query", "red shoes"), ("item", "a"), ("item", "b")]})
        >>> s = dataset_stats(ds)
        >>> s["interactions"], s["queries"], s["words_per_query"]
        (2, 1, 2.0)
    """
    interactions = int(np.sum(dataset.kinds == KIND_ITEM))
    query_events = int(np.sum(dataset.kinds == KIND_QUERY))
    words_per_query = (dataset.query_words != WORD_PAD).sum(axis=1)
    stats: dict[str, Any] = {
        "interactions": interactions,
        "items": dataset.num_items,
        "sequences": dataset.num_users,
        "queries": dataset.num_queries,
        "interactions_per_item": _ratio(interactions, dataset.num_items),
        "items_per_sequence": _ratio(interactions, dataset.num_users),
        "events_per_sequence": _ratio(dataset.num_events, dataset.num_users),
        "occurrences_per_query": _ratio(query_events, dataset.num_queries),
        "words_per_query": float(words_per_query.mean()) if len(words_per_query) else 0.0,
        "query_events": query_events,
        "events": dataset.num_events,
    }
    for key, _ in DROP_GROUPS:
        stats[key] = {str(k): int(v) for k, v in dataset.stats.get(key, {}).items()}
    return stats


def format_stats(stats: dict[str, Any], by_session: bool = False) -> str:
    """Render statistics from :func:`dataset_stats` as a text table.

    Args:
        stats (dict): the output of :func:`dataset_stats`.
        by_session (bool, optional): name dropped sequences "sessions" instead of
            "users". (default: ``False``)

    Returns:
        The table (one header line, one value line) followed by each group of
        drop counts, one reason per line (prepare's reasons in step order, the
        reader's by name), without a final newline.
    """
    labels = [label for _, label in TABLE_COLUMNS]
    values = [_format_value(stats[key]) for key, _ in TABLE_COLUMNS]
    widths = [max(len(label), len(value)) for label, value in zip(labels, values)]
    lines = ["  ".join(label.rjust(w) for label, w in zip(labels, widths)),
             "  ".join(value.rjust(w) for value, w in zip(values, widths))]
    for key, label in DROP_GROUPS:
        if key == "dropped_sequences":
            label = "sessions dropped" if by_session else "users dropped"
        counts = {reason: f"{count:,}" for reason, count in
                  sorted(stats.get(key, {}).items(), key=_reason_rank)}
        if not counts:
            lines.append(f"{label}: none")
            continue
        lines.append(f"{label}:")
        reason_width = max(len(reason) for reason in counts)
        count_width = max(len(count) for count in counts.values())
        lines.extend(f"  {reason.ljust(reason_width)}  {count.rjust(count_width)}"
                     for reason, count in counts.items())
    return "\n".join(lines)


def _reason_rank(item: tuple[str, int]) -> tuple[int, str]:
    """Sort key of a drop reason: prepare's reasons in step order, any other alphabetically."""
    reason = item[0]
    step = STEP_ORDER.index(reason) if reason in STEP_ORDER else len(STEP_ORDER)
    return step, reason


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _format_value(value: int | float) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return f"{value:,}"
