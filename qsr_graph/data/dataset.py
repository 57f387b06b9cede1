"""Prepared query-aware sequences: the in-memory dataset and its folder format.

Every user's events are kept in time order as one flat array, with items and
queries as integer ids. Ids are 0-based per vocabulary: item ``i`` is node ``i``
of type ``item`` in the query-item graph, query ``q`` is node ``q`` of type
``query``. Event kinds use :data:`KIND_ITEM` and :data:`KIND_QUERY`, and
:data:`KIND_PAD` is reserved for padding in model batches.

Split (leave-last-out): a stored sequence always ends with its test target, the
last item event. The validation target is the item event before it. Training
events are everything before the validation target.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsr_graph.atomic import atomic_folder

FORMAT_NAME = "qsr-dataset"
FORMAT_VERSION = 1

KIND_PAD = 0
KIND_ITEM = 1
KIND_QUERY = 2

#: Padding value inside :attr:`SequenceDataset.query_words`.
WORD_PAD = -1

MANIFEST = "manifest.json"


class DatasetFormatError(ValueError):
    """A folder that is not a readable prepared qsr dataset."""


@dataclass
class SequenceDataset:
    r"""Chronological query-aware sequences with their vocabularies.

    Args:
        item_ids (list[str]): raw item id of each item, indexed by item id.
        query_texts (list[str]): normalised text of each query.
        query_words (np.ndarray): word ids of each query, shape
            ``[num_queries, max_query_words]``, padded with :data:`WORD_PAD`.
        words (list[str]): text of each word, indexed by word id.
        user_ids (list[str]): raw user (or session) id of each sequence.
        offsets (np.ndarray): ``[num_users + 1]`` int64; sequence ``u`` is
            ``events[offsets[u]:offsets[u + 1]]``.
        kinds (np.ndarray): ``[num_events]`` int8, :data:`KIND_ITEM` or
            :data:`KIND_QUERY`.
        tokens (np.ndarray): ``[num_events]`` int64, item id or query id by kind.
        times (np.ndarray): ``[num_events]`` float64 UNIX seconds.
        options (dict): the options that prepared the data.
        stats (dict): counts gathered while preparing (dropped users and so on).
    """

    item_ids: list[str]
    query_texts: list[str]
    query_words: np.ndarray
    words: list[str]
    user_ids: list[str]
    offsets: np.ndarray
    kinds: np.ndarray
    tokens: np.ndarray
    times: np.ndarray
    options: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self.kinds = np.asarray(self.kinds, dtype=np.int8)
        self.tokens = np.asarray(self.tokens, dtype=np.int64)
        self.times = np.asarray(self.times, dtype=np.float64)
        self.query_words = np.asarray(self.query_words, dtype=np.int64)
        if self.query_words.ndim != 2:
            self.query_words = self.query_words.reshape(len(self.query_texts), -1)
        self.validate()

    @classmethod
    def from_sequences(
        cls,
        sequences: dict[str, list[tuple[str, str]]],
        max_query_words: int = 5,
    ) -> "SequenceDataset":
        r"""Build a dataset from hand-written sequences, without any filtering.

        Vocabularies are numbered in order of first appearance, which makes small
        examples easy to reason about. Times are the event positions.

        Args:
            sequences (dict): user id to its events in time order, each
                ``("item", raw_item_id)`` or ``("query", raw_text)``.
            max_query_words (int, optional): words kept per query. (default: 5)

        Example:
            >>> ds = SequenceDataset.from_sequences(
            ...     {"u1": [("query", "Coffee"), ("item", "a"), ("item", "b")]})
            >>> ds.tokens.tolist(), ds.query_texts, ds.item_ids
            ([0, 0, 1], ['coffee'], ['a', 'b'])
        """
        from qsr_graph.data.text import normalize_query, query_key

        items: dict[str, int] = {}
        queries: dict[str, int] = {}
        words: dict[str, int] = {}
        bags: list[list[int]] = []
        kinds: list[int] = []
        tokens: list[int] = []
        offsets = [0]
        for events in sequences.values():
            for kind, value in events:
                if kind == "item":
                    kinds.append(KIND_ITEM)
                    tokens.append(items.setdefault(value, len(items)))
                elif kind == "query":
                    key = query_key(value)
                    if key not in queries:
                        queries[key] = len(queries)
                        bag = normalize_query(value, max_query_words)
                        bags.append([words.setdefault(w, len(words)) for w in bag])
                    kinds.append(KIND_QUERY)
                    tokens.append(queries[key])
                else:
                    raise ValueError(f"event kind must be 'item' or 'query', got {kind!r}")
            offsets.append(len(kinds))
        width = max([len(b) for b in bags], default=0) or 1
        query_words = np.full((len(bags), width), WORD_PAD, dtype=np.int64)
        for row, bag in enumerate(bags):
            query_words[row, :len(bag)] = bag
        return cls(
            item_ids=list(items), query_texts=list(queries), query_words=query_words,
            words=list(words), user_ids=[str(u) for u in sequences], offsets=np.array(offsets),
            kinds=np.array(kinds), tokens=np.array(tokens),
            times=np.arange(len(kinds), dtype=np.float64),
            options={"max_query_words": max_query_words})

    # Sizes ---------------------------------------------------------------

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def num_queries(self) -> int:
        return len(self.query_texts)

    @property
    def num_words(self) -> int:
        return len(self.words)

    @property
    def num_events(self) -> int:
        return int(self.kinds.shape[0])

    @property
    def user_index(self) -> np.ndarray:
        """User id of every event, ``[num_events]`` int64."""
        lengths = np.diff(self.offsets)
        return np.repeat(np.arange(self.num_users, dtype=np.int64), lengths)

    # Split ---------------------------------------------------------------

    def split_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the event positions of the validation and test targets.

        Returns:
            ``(val_pos, test_pos)``, each ``[num_users]`` int64 absolute indices
            into the event arrays.
        """
        test_pos = self.offsets[1:] - 1
        item_pos = np.flatnonzero(self.kinds == KIND_ITEM)
        # Index of each test target among item events; the validation target is
        # the item event just before it, inside the same sequence (validated).
        rank = np.searchsorted(item_pos, test_pos)
        val_pos = item_pos[rank - 1]
        return val_pos, test_pos

    def sequence(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(kinds, tokens)`` of one user's whole stored sequence."""
        lo, hi = self.offsets[user], self.offsets[user + 1]
        return self.kinds[lo:hi], self.tokens[lo:hi]

    def train_mask(self) -> np.ndarray:
        """Boolean ``[num_events]`` mask of training events (before validation targets)."""
        val_pos, _ = self.split_positions()
        position = np.arange(self.num_events) - np.repeat(self.offsets[:-1], np.diff(self.offsets))
        val_offset = np.repeat(val_pos - self.offsets[:-1], np.diff(self.offsets))
        return position < val_offset

    # Checks --------------------------------------------------------------

    def validate(self) -> None:
        """Raise :class:`DatasetFormatError` when arrays disagree with each other."""
        n = self.kinds.shape[0]
        if self.tokens.shape != (n,) or self.times.shape != (n,):
            raise DatasetFormatError(
                f"kinds, tokens and times must have one entry per event; found "
                f"{self.kinds.shape}, {self.tokens.shape} and {self.times.shape}")
        if self.offsets.shape != (self.num_users + 1,):
            raise DatasetFormatError(
                f"offsets must have num_users + 1 = {self.num_users + 1} entries, "
                f"found {self.offsets.shape[0]}")
        if self.offsets[0] != 0 or self.offsets[-1] != n or np.any(np.diff(self.offsets) < 0):
            raise DatasetFormatError("offsets must rise from 0 to the number of events")
        if self.query_words.shape[0] != self.num_queries:
            raise DatasetFormatError(
                f"query_words has {self.query_words.shape[0]} rows for "
                f"{self.num_queries} queries")
        bad_kind = ~np.isin(self.kinds, (KIND_ITEM, KIND_QUERY))
        if bad_kind.any():
            raise DatasetFormatError(f"unknown event kind {self.kinds[bad_kind][0]}")
        is_item = self.kinds == KIND_ITEM
        if n and (self.tokens.min() < 0
                  or (is_item.any() and self.tokens[is_item].max() >= self.num_items)
                  or ((~is_item).any() and self.tokens[~is_item].max() >= self.num_queries)):
            raise DatasetFormatError("an event token is outside its vocabulary")
        if self.num_users:
            if np.any(self.kinds[self.offsets[1:] - 1] != KIND_ITEM):
                raise DatasetFormatError("every sequence must end with an item event (its test target)")
            items_per_user = np.add.reduceat(is_item.astype(np.int64), self.offsets[:-1])
            if np.any(np.diff(self.offsets) == 0) or np.any(items_per_user < 2):
                raise DatasetFormatError(
                    "every sequence needs at least two item events (validation and test targets)")

    # Folder format -------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the dataset folder at ``path`` atomically.

        The folder is written next to ``path`` under a temporary name and renamed
        at the end, so a failure never leaves a partial folder. An existing
        folder at ``path`` is replaced.
        """
        path = Path(path)
        with atomic_folder(path) as tmp:
            np.save(tmp / "offsets.npy", self.offsets)
            np.save(tmp / "kinds.npy", self.kinds)
            np.save(tmp / "tokens.npy", self.tokens)
            np.save(tmp / "times.npy", self.times)
            np.save(tmp / "query_words.npy", self.query_words)
            pd.DataFrame({"item_id": pd.Series(self.item_ids, dtype=object)}).to_parquet(
                tmp / "items.parquet", index=False)
            pd.DataFrame({"text": pd.Series(self.query_texts, dtype=object)}).to_parquet(
                tmp / "queries.parquet", index=False)
            pd.DataFrame({"word": pd.Series(self.words, dtype=object)}).to_parquet(
                tmp / "words.parquet", index=False)
            pd.DataFrame({"user_id": pd.Series(self.user_ids, dtype=object)}).to_parquet(
                tmp / "users.parquet", index=False)
            manifest = {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "num_users": self.num_users,
                "num_items": self.num_items,
                "num_queries": self.num_queries,
                "num_words": self.num_words,
                "num_events": self.num_events,
                "options": self.options,
                "stats": self.stats,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SequenceDataset":
        """Read a dataset folder written by :meth:`save`.

        Raises:
            DatasetFormatError: the folder is missing, is not a qsr dataset, or
                has another format version.
        """
        path = Path(path)
        manifest_path = path / MANIFEST
        if not path.exists():
            raise DatasetFormatError(
                f"{path}: dataset folder not found; create it with 'qsr data prepare'")
        if not manifest_path.is_file():
            raise DatasetFormatError(
                f"{path}: not a prepared qsr dataset (no {MANIFEST}); "
                f"create one with 'qsr data prepare'")
        try:
            manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetFormatError(f"{manifest_path}: invalid JSON ({err})") from err
        if manifest.get("format") != FORMAT_NAME:
            raise DatasetFormatError(f"{manifest_path}: not a qsr dataset manifest")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise DatasetFormatError(
                f"{manifest_path}: format version {manifest.get('format_version')} is not "
                f"supported (expected {FORMAT_VERSION}); prepare the data again")
        try:
            return cls(
                item_ids=pd.read_parquet(path / "items.parquet")["item_id"].tolist(),
                query_texts=pd.read_parquet(path / "queries.parquet")["text"].tolist(),
                query_words=np.load(path / "query_words.npy"),
                words=pd.read_parquet(path / "words.parquet")["word"].tolist(),
                user_ids=pd.read_parquet(path / "users.parquet")["user_id"].tolist(),
                offsets=np.load(path / "offsets.npy"),
                kinds=np.load(path / "kinds.npy"),
                tokens=np.load(path / "tokens.npy"),
                times=np.load(path / "times.npy"),
                options=manifest.get("options", {}),
                stats=manifest.get("stats", {}),
            )
        except FileNotFoundError as err:
            raise DatasetFormatError(f"{path}: missing file {Path(err.filename).name}") from err
