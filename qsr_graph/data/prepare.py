"""Turn the canonical event table into prepared query-aware sequences.

Steps, in this order (each one vectorised over the whole table):

1. Drop query events whose text has no word after normalisation.
2. Sort by sequence (user, or (user, session)), time and order.
3. Collapse consecutive repeats of the same item or the same query.
4. Drop the events of items with fewer than ``min_item_frequency`` item events
   (counted after step 3), then collapse the repeats this brings together.
5. Drop query events after a sequence's last item event: they have no target.
6. Drop sequences with fewer than ``min_user_items`` item events.
7. Keep the most recent ``max_length + 1`` events of each sequence.
8. Number items, queries and words by first appearance in the kept table.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from qsr_graph.data.dataset import KIND_ITEM, KIND_QUERY, WORD_PAD, SequenceDataset
from qsr_graph.data.readers import EVENT_COLUMNS
from qsr_graph.data.text import DEFAULT_MAX_QUERY_WORDS, query_key

logger = logging.getLogger(__name__)

#: Separator between user and session in sequence ids under ``by_session``.
SESSION_SEPARATOR = "/"

# Reasons for dropped events, as listed in ``stats["dropped_events"]``:
QUERY_WITHOUT_WORDS = "query without words"
REPEATED_ITEM = "repeated item"
REPEATED_QUERY = "repeated query"
RARE_ITEM = "rare item"
QUERY_AFTER_LAST_ITEM = "query after the last item"
SHORT_SEQUENCE = "in a dropped sequence"
OUTSIDE_WINDOW = "older than the max_length window"

# Reasons for dropped sequences, as listed in ``stats["dropped_sequences"]``:
NO_ITEM_EVENTS = "no item events"
TOO_FEW_ITEM_EVENTS = "fewer item events than min_user_items"
TOO_FEW_AFTER_RARE_ITEMS = "too few item events once rare items are dropped"

#: Lowest accepted value of each integer option of :class:`PrepareConfig`.
MINIMUMS = {"min_user_items": 2, "min_item_frequency": 1, "max_length": 1, "max_query_words": 1}


@dataclass
class PrepareConfig:
    """Options of :func:`prepare`.

    Args:
        by_session (bool): one sequence per (user, session) instead of per user.
            (default: ``False``)
        keep_repeats (bool): keep consecutive repeats of the same item or query.
            (default: ``False``)
        min_user_items (int): sequences with fewer item events are dropped; at
            least 2, for the validation and test targets. (default: 3)
        min_item_frequency (int): items with fewer item events are dropped.
            (default: 1, which keeps every item)
        max_length (int): input window of the test target; a sequence keeps its
            last ``max_length + 1`` events. (default: 50)
        max_query_words (int): words kept in a query's bag of words. (default: 5)
    """

    # One sequence per (user, session) rather than one per user.
    by_session: bool = False
    # Keep consecutive repeats of the same item (or the same query) instead of
    # collapsing them into one event.
    keep_repeats: bool = False
    # Minimum number of item events of a kept sequence (validation and test
    # targets need two).
    min_user_items: int = 3
    # Minimum number of item events of a kept item, over all sequences.
    min_item_frequency: int = 1
    # Events before the test target that are kept (the model's input window).
    max_length: int = 50
    # Words kept in each query's bag of words.
    max_query_words: int = DEFAULT_MAX_QUERY_WORDS

    def __post_init__(self) -> None:
        for name, lowest in MINIMUMS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value < lowest:
                raise ValueError(f"{name} must be at least {lowest}, got {value}")
        for name in ("by_session", "keep_repeats"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> "PrepareConfig":
        """Build a config from a dict, rejecting unknown keys."""
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown prepare options {unknown}; "
                             f"expected some of {sorted(cls.__dataclass_fields__)}")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as a JSON-ready dict."""
        return asdict(self)


@dataclass
class _Events:
    """The event table as parallel arrays, sorted by (sequence, time, order)."""

    seq: np.ndarray  # [N] int64 sequence code, ascending
    time: np.ndarray  # [N] float64
    kind: np.ndarray  # [N] int8
    token: np.ndarray  # [N] int64 raw item code or query key code, by kind

    def __len__(self) -> int:
        return int(self.seq.shape[0])

    def keep(self, mask: np.ndarray) -> "_Events":
        return _Events(self.seq[mask], self.time[mask], self.kind[mask], self.token[mask])


def prepare(
    events: pd.DataFrame,
    config: PrepareConfig | None = None,
    dropped: dict[str, int] | None = None,
    source: str = "",
) -> SequenceDataset:
    """Build prepared sequences from a canonical event table.

    Args:
        events (pd.DataFrame): columns ``user`` (str), ``session`` (str or
            missing), ``time`` (float64 UNIX seconds), ``order`` (int64 tie-breaker
            between equal times), ``kind`` (:data:`KIND_ITEM` or
            :data:`KIND_QUERY`) and ``value`` (raw item id or raw query text).
        config (PrepareConfig, optional): options. (default: ``PrepareConfig()``)
        dropped (dict, optional): rows the reader dropped, by reason; stored in
            the stats.
        source (str, optional): a description of the input, stored in the stats.

    Returns:
        The prepared :class:`SequenceDataset`; its ``options`` are the config and
        its ``stats`` hold the counts of every step and the table of
        :func:`qsr_graph.data.stats.dataset_stats`.

    Raises:
        ValueError: a column is missing or contains invalid values, or no sequence
            is left after filtering.
    """
    from qsr_graph.data.stats import dataset_stats

    config = config or PrepareConfig()
    _check_events(events)
    logger.info("preparing %d events from %s", len(events), source or "a table")
    dropped_events: dict[str, int] = {}

    # Normalise queries and sort:
    rows, kind, token, item_values, query_keys = _encode(events)
    dropped_events[QUERY_WITHOUT_WORDS] = len(events) - len(rows)
    table, seq_names = _sort(events, rows, kind, token, config.by_session)
    num_input_sequences = len(seq_names)
    items_at_start = _items_per_sequence(table, num_input_sequences)

    # Collapse repeats, then filter rare items and collapse again:
    table = _collapse_repeats(table, config.keep_repeats, dropped_events)
    items_after_collapse = _items_per_sequence(table, num_input_sequences)
    table, dropped_events[RARE_ITEM] = _drop_rare_items(
        table, len(item_values), config.min_item_frequency)
    table = _collapse_repeats(table, config.keep_repeats, dropped_events)
    logger.info("collapsed %d repeated items and %d repeated queries",
                dropped_events[REPEATED_ITEM], dropped_events[REPEATED_QUERY])

    # Drop trailing queries and short sequences:
    is_last_or_before = _before_last_item(table)
    dropped_events[QUERY_AFTER_LAST_ITEM] = int(len(table) - is_last_or_before.sum())
    table = table.keep(is_last_or_before)
    items_left = _items_per_sequence(table, num_input_sequences)
    dropped_sequences = {
        NO_ITEM_EVENTS: int(np.sum(items_at_start == 0)),
        TOO_FEW_ITEM_EVENTS: int(np.sum((items_at_start > 0)
                                          & (items_after_collapse < config.min_user_items))),
        TOO_FEW_AFTER_RARE_ITEMS: int(np.sum((items_after_collapse >= config.min_user_items)
                                               & (items_left < config.min_user_items))),
    }
    long_enough = items_left >= config.min_user_items
    before_short = len(table)
    table = table.keep(long_enough[table.seq])
    dropped_events[SHORT_SEQUENCE] = before_short - len(table)
    logger.info("dropped %d of %d sequences with fewer than %d item events",
                int(np.sum(~long_enough)), num_input_sequences, config.min_user_items)
    if not len(table):
        raise ValueError(
            f"no sequence has at least min_user_items={config.min_user_items} item events "
            f"(out of {num_input_sequences} sequences in {source or 'the input'}); "
            f"lower min_user_items or check the input")

    # Truncate to the most recent events:
    in_window = _recent_window(table, config.max_length)
    dropped_events[OUTSIDE_WINDOW] = int(len(table) - in_window.sum())
    table = table.keep(in_window)
    logger.info("cut %d events older than the max_length=%d window",
                dropped_events[OUTSIDE_WINDOW], config.max_length)

    dataset = _build_dataset(table, seq_names, item_values, query_keys, config)
    dataset.stats = {
        "source": source,
        "input_events": int(len(events)),
        "input_sequences": int(num_input_sequences),
        "dropped_rows": {str(k): int(v) for k, v in (dropped or {}).items()},
        "dropped_events": dropped_events,
        "dropped_sequences": dropped_sequences,
    }
    dataset.stats.update(dataset_stats(dataset))
    logger.info("kept %d sequences, %d events, %d items, %d queries",
                dataset.num_users, dataset.num_events, dataset.num_items, dataset.num_queries)
    return dataset


# Steps ---------------------------------------------------------------------


def _check_events(events: pd.DataFrame) -> None:
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"event table is missing columns {missing}; "
                         f"expected columns {list(EVENT_COLUMNS)}")
    kinds = events["kind"].to_numpy()
    bad = ~np.isin(kinds, (KIND_ITEM, KIND_QUERY))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"event table row {row}: kind must be {KIND_ITEM} (item) or "
                         f"{KIND_QUERY} (query), got {kinds[row].item()!r}")
    for column in ("user", "time", "order", "value"):
        missing_values = events[column].isna().to_numpy()
        if missing_values.any():
            row = int(np.flatnonzero(missing_values)[0])
            raise ValueError(f"event table row {row}: column {column!r} has no value")


def _encode(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                            np.ndarray]:
    """Give items raw codes and queries key codes, and drop queries without words.

    Returns:
        ``(rows, kind, token, item_values, query_keys)``: the kept row numbers
        of ``events``, their kinds and tokens (raw item code or query key code),
        the raw item id of each item code and the key of each query code.
    """
    kind = events["kind"].to_numpy().astype(np.int8)
    values = events["value"]
    is_item = kind == KIND_ITEM
    token = np.empty(len(events), dtype=np.int64)

    item_codes, item_values = pd.factorize(values[is_item])
    token[is_item] = item_codes

    # Normalise each distinct raw text once, then merge texts with equal keys.
    text_codes, texts = pd.factorize(values[~is_item])
    keys = np.array([query_key(str(t)) for t in texts], dtype=object)
    key_codes, query_keys = pd.factorize(keys)
    token[~is_item] = key_codes[text_codes] if len(text_codes) else text_codes

    no_words = np.zeros(len(events), dtype=bool)
    no_words[~is_item] = np.isin(token[~is_item], np.flatnonzero(query_keys == ""))
    if no_words.any():
        logger.info("dropped %d query events without any word", int(no_words.sum()))
    rows = np.flatnonzero(~no_words)
    return (rows, kind[rows], token[rows], np.asarray(item_values, dtype=object),
            np.asarray(query_keys, dtype=object))


def _sort(events: pd.DataFrame, rows: np.ndarray, kind: np.ndarray, token: np.ndarray,
          by_session: bool) -> tuple[_Events, np.ndarray]:
    """Give each kept row its sequence code and sort by (sequence, time, order).

    Sequence codes follow the sorted sequence ids, so sequences are stored in
    the order of their ids (user, then session).

    Returns:
        The sorted table and the id of each sequence code.
    """
    user_codes, users = pd.factorize(events["user"], sort=True)
    user_codes = user_codes[rows]
    if by_session:
        session_codes, sessions = pd.factorize(events["session"], sort=True)
        session_codes = session_codes[rows]
        # Session code -1 (no session) sorts first within its user.
        pair = user_codes.astype(np.int64) * (len(sessions) + 1) + (session_codes + 1)
        unique_pairs, seq = np.unique(pair, return_inverse=True)
        user_of_seq = unique_pairs // (len(sessions) + 1)
        session_of_seq = unique_pairs % (len(sessions) + 1) - 1
        names = pd.Series(np.asarray(users, dtype=object)[user_of_seq], dtype=object)
        has_session = session_of_seq >= 0
        session_names = pd.Series(np.asarray(sessions, dtype=object)[session_of_seq[has_session]],
                                  index=names.index[has_session]).astype(str)
        names[has_session] = names[has_session] + SESSION_SEPARATOR + session_names
        seq_names = names.to_numpy(dtype=object)
    else:
        seq = user_codes
        seq_names = np.asarray(users, dtype=object)
    time = events["time"].to_numpy(dtype=np.float64)[rows]
    order = events["order"].to_numpy(dtype=np.int64)[rows]

    # Arrow's multi-key sort is stable and several times faster than np.lexsort
    # on millions of rows.
    keys = pa.table({"seq": seq, "time": time, "order": order})
    perm = pc.sort_indices(keys, sort_keys=[("seq", "ascending"), ("time", "ascending"),
                                            ("order", "ascending")]).to_numpy()
    table = _Events(seq.astype(np.int64)[perm], time[perm], kind[perm], token[perm])
    return table, pd.Series(seq_names, dtype=object).astype(str).to_numpy(dtype=object)


def _collapse_repeats(table: _Events, keep_repeats: bool, dropped: dict[str, int]) -> _Events:
    """Drop events that repeat the event just before them in the same sequence."""
    dropped.setdefault(REPEATED_ITEM, 0)
    dropped.setdefault(REPEATED_QUERY, 0)
    if keep_repeats or len(table) < 2:
        return table
    repeat = np.zeros(len(table), dtype=bool)
    repeat[1:] = ((table.seq[1:] == table.seq[:-1]) & (table.kind[1:] == table.kind[:-1])
                  & (table.token[1:] == table.token[:-1]))
    dropped[REPEATED_ITEM] += int(np.sum(repeat & (table.kind == KIND_ITEM)))
    dropped[REPEATED_QUERY] += int(np.sum(repeat & (table.kind == KIND_QUERY)))
    return table.keep(~repeat)


def _drop_rare_items(table: _Events, num_items: int, min_frequency: int) -> tuple[_Events, int]:
    if min_frequency <= 1:
        return table, 0
    is_item = table.kind == KIND_ITEM
    frequency = np.bincount(table.token[is_item], minlength=num_items)
    rare = is_item & (frequency[np.where(is_item, table.token, 0)] < min_frequency)
    logger.info("dropped %d events of %d items with fewer than %d events",
                int(rare.sum()), int(np.sum((frequency > 0) & (frequency < min_frequency))),
                min_frequency)
    return table.keep(~rare), int(rare.sum())


def _items_per_sequence(table: _Events, num_sequences: int) -> np.ndarray:
    return np.bincount(table.seq[table.kind == KIND_ITEM], minlength=num_sequences)


def _items_up_to(table: _Events) -> tuple[np.ndarray, np.ndarray]:
    """Return, per event, the item events at or before it in its sequence, and per-sequence totals."""
    is_item = (table.kind == KIND_ITEM).astype(np.int64)
    running = np.cumsum(is_item)
    starts = _sequence_starts(table.seq)
    before_sequence = running[starts] - is_item[starts]
    run_lengths = np.diff(np.append(starts, len(table)))
    count = running - np.repeat(before_sequence, run_lengths)
    total = np.repeat(count[np.append(starts[1:], len(table)) - 1], run_lengths)
    return count, total


def _sequence_starts(seq: np.ndarray) -> np.ndarray:
    if not len(seq):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])


def _before_last_item(table: _Events) -> np.ndarray:
    """Mark events up to and including the last item event of their sequence."""
    if not len(table):
        return np.zeros(0, dtype=bool)
    count, total = _items_up_to(table)
    return (table.kind == KIND_ITEM) | (count < total)


def _recent_window(table: _Events, max_length: int) -> np.ndarray:
    """Mark the last ``max_length + 1`` events of each sequence.

    The window is stretched back to the validation target (the item event
    before the last one) when more than ``max_length - 1`` query events sit
    between the two targets, so every sequence keeps both targets.
    """
    starts = _sequence_starts(table.seq)
    run_lengths = np.diff(np.append(starts, len(table)))
    position = np.arange(len(table)) - np.repeat(starts, run_lengths)
    count, total = _items_up_to(table)
    is_val = (table.kind == KIND_ITEM) & (count == total - 1)
    val_position = position[is_val]  # one per sequence, in sequence order
    first_kept = np.minimum(run_lengths - (max_length + 1), val_position)
    return position >= np.repeat(first_kept, run_lengths)


def _build_dataset(table: _Events, seq_names: np.ndarray, item_values: np.ndarray,
                   query_keys: np.ndarray, config: PrepareConfig) -> SequenceDataset:
    """Renumber sequences, items, queries and words over the kept events."""
    starts = _sequence_starts(table.seq)
    offsets = np.append(starts, len(table)).astype(np.int64)
    user_ids = seq_names[table.seq[starts]].tolist()

    is_item = table.kind == KIND_ITEM
    tokens = np.empty(len(table), dtype=np.int64)
    item_ids, kept_items = pd.factorize(table.token[is_item])
    tokens[is_item] = item_ids
    query_ids, kept_queries = pd.factorize(table.token[~is_item])
    tokens[~is_item] = query_ids

    query_texts = query_keys[kept_queries].tolist()
    bags = pd.Series(query_texts, dtype=object).str.split(" ").str[:config.max_query_words]
    bag_lengths = bags.str.len().to_numpy(dtype=np.int64) if len(bags) else np.zeros(0, np.int64)
    flat_words = bags.explode().to_numpy(dtype=object) if len(bags) else np.zeros(0, object)
    word_ids, words = pd.factorize(flat_words)
    width = max(int(bag_lengths.max(initial=0)), 1)
    query_words = np.full((len(query_texts), width), WORD_PAD, dtype=np.int64)
    rows = np.repeat(np.arange(len(query_texts)), bag_lengths)
    columns = np.arange(len(flat_words)) - np.repeat(np.cumsum(bag_lengths) - bag_lengths,
                                                     bag_lengths)
    query_words[rows, columns] = word_ids  # (Q, W)

    return SequenceDataset(
        item_ids=pd.Series(item_values[kept_items], dtype=object).astype(str).tolist(),
        query_texts=query_texts,
        query_words=query_words,
        words=pd.Series(words, dtype=object).astype(str).tolist(),
        user_ids=user_ids,
        offsets=offsets,
        kinds=table.kind,
        tokens=tokens,
        times=table.time,
        options=config.to_dict(),
    )
