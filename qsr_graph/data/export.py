"""Export of prepared sequences to other toolkits' formats (RecBole atomic files)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from qsr_graph.atomic import atomic_folder
from qsr_graph.data.dataset import KIND_ITEM, KIND_QUERY, WORD_PAD, SequenceDataset

logger = logging.getLogger(__name__)

#: Header of the RecBole ``.inter`` file, in RecBole's ``name:type`` form.
RECBOLE_HEADER = ("user_id:token", "item_id:token", "timestamp:float", "query:token_seq")

_FORBIDDEN_CHARS = ("\t", "\n", "\r")


def recbole_interactions(dataset: SequenceDataset) -> pd.DataFrame:
    """Build the RecBole interaction table of a dataset's item events.

    Each row is one item event with its sequence's raw id, the raw item id, a
    timestamp in seconds, and the words of the latest query before it in the
    same sequence (an empty string when none came before). Rows keep the stored
    order. RecBole's ``SequentialDataset.data_augmentation`` sorts the
    interactions by (user, timestamp) before it builds sequences, so equal
    times could reorder them. Times are therefore rounded to milliseconds, and
    an item event whose time is not later than the one before it in its
    sequence moves to 1 ms after it. The times then increase strictly within
    each sequence.

    Args:
        dataset (SequenceDataset): the prepared dataset.

    Returns:
        A DataFrame with columns ``user_id`` (str), ``item_id`` (str),
        ``timestamp`` (float64 seconds, whole milliseconds) and ``query`` (str,
        words separated by single spaces).
    """
    position = np.arange(dataset.num_events)
    sequence = dataset.user_index
    is_item = dataset.kinds == KIND_ITEM

    # Latest query at or before each event; valid when it lies in the same sequence.
    query_position = np.maximum.accumulate(np.where(dataset.kinds == KIND_QUERY, position, -1))
    has_query = query_position >= dataset.offsets[sequence]
    item_query = np.where(has_query, dataset.tokens[np.maximum(query_position, 0)], -1)[is_item]

    # A trailing empty bag serves the items with no query before them (index -1).
    bags = np.append(_query_bags(dataset), "")
    query_column = bags[item_query]

    item_sequence = sequence[is_item]
    millis = np.round(dataset.times[is_item] * 1000.0).astype(np.int64)
    rank = np.arange(len(millis)) - np.searchsorted(item_sequence, item_sequence)
    # Strictly increasing within a sequence: t'[j] = max(t[j], t'[j-1] + 1).
    shifted = pd.Series(millis - rank).groupby(item_sequence).cummax().to_numpy() + rank
    moved = int(np.sum(shifted != millis))
    if moved:
        logger.info("moved %d timestamps forward to keep them strictly increasing", moved)

    user_ids = np.asarray(dataset.user_ids, dtype=object)
    item_ids = np.asarray(dataset.item_ids, dtype=object)
    return pd.DataFrame({
        "user_id": user_ids[item_sequence],
        "item_id": item_ids[dataset.tokens[is_item]],
        "timestamp": shifted / 1000.0,
        "query": query_column,
    })


def export_recbole(dataset: SequenceDataset, output: str | os.PathLike,
                   overwrite: bool = False) -> Path:
    """Write a dataset's item sequences as a RecBole atomic ``.inter`` file.

    The file is ``output/<name>.inter`` where ``<name>`` is the folder's name,
    because RecBole loads dataset ``X`` from folder ``X/X.inter``. Raw user and
    item ids are written, so that RecBole numbers them itself. The folder is
    written under a temporary name and renamed at the end.

    Args:
        dataset (SequenceDataset): the prepared dataset.
        output (str or PathLike): the folder to write.
        overwrite (bool, optional): replace an existing ``output``.
            (default: ``False``)

    Returns:
        The path of the ``.inter`` file.

    Raises:
        ValueError: ``output`` exists and ``overwrite`` is false, or an id contains
            a tab or line break, which the tab-separated format cannot carry.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise ValueError(f"{output}: output already exists; choose another folder or "
                         f"pass --force to replace it")
    table = recbole_interactions(dataset)
    for column in ("user_id", "item_id"):
        for char in _FORBIDDEN_CHARS:
            bad = table[column].str.contains(char, regex=False)
            if bad.any():
                raise ValueError(f"{column} {table[column][bad].iloc[0]!r} contains {char!r}, "
                                 f"which a RecBole .inter file cannot hold")

    with atomic_folder(output) as tmp:
        inter_path = tmp / f"{output.name}.inter"
        with open(inter_path, "w", encoding="utf-8", newline="") as handle:
            handle.write("\t".join(RECBOLE_HEADER) + "\n")
            table.to_csv(handle, sep="\t", header=False, index=False, float_format="%.3f",
                         lineterminator="\n")
    logger.info("wrote %d interactions of %d sequences to %s",
                len(table), dataset.num_users, output / inter_path.name)
    return output / inter_path.name


def _query_bags(dataset: SequenceDataset) -> np.ndarray:
    """Return each query's bag of words as one space-separated string, ``[num_queries]``."""
    if not dataset.num_queries:
        return np.zeros(0, dtype=object)
    words = np.asarray(dataset.words, dtype=object)
    present = dataset.query_words != WORD_PAD  # (Q, W)
    rows = np.nonzero(present)[0]
    joined = pd.Series(words[dataset.query_words[present]]).groupby(rows).agg(" ".join)
    bags = np.full(dataset.num_queries, "", dtype=object)
    bags[joined.index.to_numpy()] = joined.to_numpy()
    return bags
