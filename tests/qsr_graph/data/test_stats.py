import pytest

from qsr_graph.data import SequenceDataset
from qsr_graph.data.stats import dataset_stats, format_stats


@pytest.fixture
def tiny():
    ds = SequenceDataset.from_sequences({
        "u1": [("query", "Red shoes"), ("item", "a"), ("item", "b"), ("query", "tea"),
               ("item", "c")],
        "u2": [("item", "a"), ("query", "red shoes"), ("item", "b")],
    })
    ds.stats = {"dropped_rows": {"unknown_reference": 2},
                "dropped_sequences": {"no item events": 1, "too few item events": 1200}}
    return ds


def test_dataset_stats_counts(tiny):
    stats = dataset_stats(tiny)
    assert stats["interactions"] == 5
    assert stats["items"] == 3
    assert stats["sequences"] == 2
    assert stats["queries"] == 2
    assert stats["query_events"] == 3
    assert stats["events"] == 8


def test_dataset_stats_averages(tiny):
    stats = dataset_stats(tiny)
    assert stats["interactions_per_item"] == pytest.approx(5 / 3)
    assert stats["items_per_sequence"] == 2.5
    assert stats["events_per_sequence"] == 4.0
    assert stats["occurrences_per_query"] == 1.5
    assert stats["words_per_query"] == 1.5


def test_dataset_stats_copies_drops(tiny):
    stats = dataset_stats(tiny)
    assert stats["dropped_rows"] == {"unknown_reference": 2}
    assert stats["dropped_sequences"] == {"no item events": 1, "too few item events": 1200}
    assert stats["dropped_events"] == {}


def test_format_stats_table(tiny):
    text = format_stats(dataset_stats(tiny))
    assert text.splitlines() == [
        "#Inter  #I  #S  #Q   A-I  A-S items  A-S events   A-Q  words/query  query events",
        "     5   3   2   2  1.67       2.50        4.00  1.50         1.50             3",
        "rows dropped by the reader:",
        "  unknown_reference  2",
        "events dropped while preparing: none",
        "users dropped:",
        "  no item events           1",
        "  too few item events  1,200",
    ]


def test_format_stats_names_sessions(tiny):
    text = format_stats(dataset_stats(tiny), by_session=True)
    assert text.splitlines()[-3] == "sessions dropped:"
