"""Reading search-and-click logs into prepared query-aware sequences."""
from qsr_graph.data.dataset import (
    KIND_ITEM,
    KIND_PAD,
    KIND_QUERY,
    WORD_PAD,
    DatasetFormatError,
    SequenceDataset,
)
from qsr_graph.data.text import normalize_query, query_key

__all__ = [
    "KIND_ITEM",
    "KIND_PAD",
    "KIND_QUERY",
    "WORD_PAD",
    "DatasetFormatError",
    "SequenceDataset",
    "normalize_query",
    "query_key",
]
