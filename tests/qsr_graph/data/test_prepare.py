import json

import numpy as np
import pandas as pd
import pytest

from qsr_graph.data import KIND_ITEM, KIND_QUERY, SequenceDataset
from qsr_graph.data.prepare import PrepareConfig, prepare

I, Q = KIND_ITEM, KIND_QUERY


def make_events(rows):
    """Build an event table from ``(user, time, kind, value)`` or ``(user, session, time, kind, value)`` rows."""
    rows = [r if len(r) == 5 else (r[0], None, *r[1:]) for r in rows]
    return pd.DataFrame({
        "user": pd.Series([r[0] for r in rows], dtype="str"),
        "session": pd.Series([r[1] for r in rows], dtype="str"),
        "time": np.array([r[2] for r in rows], dtype=np.float64),
        "order": np.arange(len(rows), dtype=np.int64),
        "kind": np.array([I if r[3] == "i" else Q for r in rows], dtype=np.int8),
        "value": pd.Series([r[4] for r in rows], dtype="str"),
    })


def decoded(ds: SequenceDataset) -> dict[str, list[str]]:
    """Each sequence as readable events: ``"a"`` for item a, ``"?text"`` for a query."""
    out = {}
    for u, user in enumerate(ds.user_ids):
        kinds, tokens = ds.sequence(u)
        out[user] = [ds.item_ids[t] if k == I else "?" + ds.query_texts[t]
                     for k, t in zip(kinds.tolist(), tokens.tolist())]
    return out


REPEATS = [("u1", 1, "i", "a"), ("u1", 2, "i", "a"), ("u1", 3, "q", "x"),
           ("u1", 4, "q", "X "), ("u1", 5, "i", "b"), ("u1", 6, "i", "b"),
           ("u1", 7, "i", "c")]


def test_prepare_collapses_repeats():
    ds = prepare(make_events(REPEATS))
    assert decoded(ds) == {"u1": ["a", "?x", "b", "c"]}
    assert ds.stats["dropped_events"]["repeated item"] == 2
    assert ds.stats["dropped_events"]["repeated query"] == 1
    assert ds.times.tolist() == [1.0, 3.0, 5.0, 7.0]


def test_prepare_keep_repeats():
    ds = prepare(make_events(REPEATS), PrepareConfig(keep_repeats=True))
    assert decoded(ds) == {"u1": ["a", "a", "?x", "?x", "b", "b", "c"]}
    assert ds.stats["dropped_events"]["repeated item"] == 0
    assert ds.stats["dropped_events"]["repeated query"] == 0


def test_prepare_repeats_apart_are_kept():
    rows = [("u1", 1, "i", "a"), ("u1", 2, "q", "x"), ("u1", 3, "i", "a"),
            ("u1", 4, "q", "x"), ("u1", 5, "i", "b")]
    ds = prepare(make_events(rows))
    assert decoded(ds) == {"u1": ["a", "?x", "a", "?x", "b"]}


def test_prepare_sorts_by_time_then_order():
    rows = [("u1", 5, "i", "c"), ("u1", 1, "i", "a"), ("u1", 3, "i", "b2"),
            ("u1", 3, "i", "b1")]
    events = make_events(rows)
    events["order"] = [0, 0, 2, 1]
    ds = prepare(events)
    assert decoded(ds) == {"u1": ["a", "b1", "b2", "c"]}
    assert ds.times.tolist() == [1.0, 3.0, 3.0, 5.0]


def test_prepare_by_session():
    rows = [("u1", "s1", 1, "i", "a"), ("u1", "s1", 2, "i", "b"), ("u1", "s1", 3, "i", "c"),
            ("u1", "s2", 4, "i", "c"), ("u1", "s2", 5, "i", "d"), ("u1", "s2", 6, "i", "e"),
            ("u2", None, 1, "i", "a"), ("u2", None, 2, "i", "b"), ("u2", None, 3, "i", "e")]
    by_user = prepare(make_events(rows))
    assert decoded(by_user) == {"u1": ["a", "b", "c", "d", "e"], "u2": ["a", "b", "e"]}
    by_session = prepare(make_events(rows), PrepareConfig(by_session=True))
    assert decoded(by_session) == {"u1/s1": ["a", "b", "c"], "u1/s2": ["c", "d", "e"],
                                   "u2": ["a", "b", "e"]}
    assert by_session.options["by_session"] is True


def test_prepare_min_user_items_drops_with_reasons():
    rows = [("u0", 1, "q", "only a query"),
            ("u1", 1, "i", "a"), ("u1", 2, "i", "b"),
            ("u2", 1, "i", "a"), ("u2", 2, "i", "a"), ("u2", 3, "i", "b"),
            ("u3", 1, "i", "a"), ("u3", 2, "i", "b"), ("u3", 3, "i", "c")]
    ds = prepare(make_events(rows))
    assert decoded(ds) == {"u3": ["a", "b", "c"]}
    assert ds.stats["dropped_sequences"] == {
        "no item events": 1, "fewer item events than min_user_items": 2,
        "too few item events once rare items are dropped": 0}
    assert ds.stats["input_sequences"] == 4
    assert ds.stats["dropped_events"]["in a dropped sequence"] == 4

    two = prepare(make_events(rows), PrepareConfig(min_user_items=2))
    assert decoded(two) == {"u1": ["a", "b"], "u2": ["a", "b"], "u3": ["a", "b", "c"]}
    assert two.stats["dropped_sequences"]["fewer item events than min_user_items"] == 0


def test_prepare_min_item_frequency():
    rows = [("u1", 1, "i", "a"), ("u1", 2, "i", "x"), ("u1", 3, "i", "a"),
            ("u1", 4, "i", "b"), ("u1", 5, "i", "c"),
            ("u2", 1, "i", "a"), ("u2", 2, "i", "b"), ("u2", 3, "i", "c"),
            ("u3", 1, "i", "y"), ("u3", 2, "i", "b"), ("u3", 3, "i", "c")]
    ds = prepare(make_events(rows), PrepareConfig(min_item_frequency=2))
    # x and y occur once; dropping x brings u1's two a together, which collapse.
    assert decoded(ds) == {"u1": ["a", "b", "c"], "u2": ["a", "b", "c"]}
    assert ds.stats["dropped_events"]["rare item"] == 2
    assert ds.stats["dropped_events"]["repeated item"] == 1
    assert ds.stats["dropped_sequences"]["too few item events once rare items are dropped"] == 1
    assert ds.item_ids == ["a", "b", "c"]


def test_prepare_drops_trailing_queries():
    rows = [("u1", 1, "i", "a"), ("u1", 2, "q", "mid"), ("u1", 3, "i", "b"),
            ("u1", 4, "i", "c"), ("u1", 5, "q", "after"), ("u1", 6, "q", "last")]
    ds = prepare(make_events(rows))
    assert decoded(ds) == {"u1": ["a", "?mid", "b", "c"]}
    assert ds.query_texts == ["mid"]
    assert ds.stats["dropped_events"]["query after the last item"] == 2


def test_prepare_truncation_keeps_recent_events():
    rows = [("u1", 1, "q", "q1"), ("u1", 2, "i", "a"), ("u1", 3, "q", "q2"),
            ("u1", 4, "i", "b"), ("u1", 5, "i", "c"), ("u1", 6, "i", "d"),
            ("u1", 7, "i", "e")]
    ds = prepare(make_events(rows), PrepareConfig(max_length=3))
    assert decoded(ds) == {"u1": ["b", "c", "d", "e"]}
    val_pos, test_pos = ds.split_positions()
    assert val_pos.tolist() == [2]
    assert test_pos.tolist() == [3]
    assert ds.train_mask().tolist() == [True, True, False, False]
    assert ds.stats["dropped_events"]["older than the max_length window"] == 3
    assert ds.item_ids == ["b", "c", "d", "e"]
    assert ds.query_texts == []


def test_prepare_truncation_may_start_with_queries():
    rows = [("u1", 1, "i", "a"), ("u1", 2, "q", "q1"), ("u1", 3, "q", "q2"),
            ("u1", 4, "i", "b"), ("u1", 5, "i", "c")]
    ds = prepare(make_events(rows), PrepareConfig(max_length=2, min_user_items=2))
    assert decoded(ds) == {"u1": ["?q2", "b", "c"]}
    assert ds.split_positions()[0].tolist() == [1]


def test_prepare_truncation_keeps_validation_target():
    rows = [("u1", 1, "i", "a"), ("u1", 2, "i", "b"), ("u1", 3, "q", "q1"),
            ("u1", 4, "q", "q2"), ("u1", 5, "q", "q3"), ("u1", 6, "i", "c")]
    ds = prepare(make_events(rows), PrepareConfig(max_length=2))
    # The last 3 events hold no validation target, so the window reaches back to b.
    assert decoded(ds) == {"u1": ["b", "?q1", "?q2", "?q3", "c"]}
    val_pos, test_pos = ds.split_positions()
    assert val_pos.tolist() == [0]
    assert test_pos.tolist() == [4]


def test_prepare_merges_equal_query_keys():
    rows = [("u1", 1, "q", "Coffee "), ("u1", 2, "i", "a"), ("u1", 3, "q", "coffee"),
            ("u1", 4, "i", "b"), ("u1", 5, "q", "COFFEE!"), ("u1", 6, "i", "c")]
    ds = prepare(make_events(rows))
    assert ds.query_texts == ["coffee"]
    assert ds.kinds.tolist() == [Q, I, Q, I, Q, I]
    assert ds.tokens.tolist() == [0, 0, 0, 1, 0, 2]
    assert ds.words == ["coffee"]


def test_prepare_drops_queries_without_words():
    rows = [("u1", 1, "q", "?!"), ("u1", 2, "i", "a"), ("u1", 3, "i", "b"),
            ("u1", 4, "i", "c")]
    ds = prepare(make_events(rows))
    assert decoded(ds) == {"u1": ["a", "b", "c"]}
    assert ds.stats["dropped_events"]["query without words"] == 1


def test_prepare_vocabularies():
    rows = [("u2", 1, "i", "z"), ("u2", 2, "q", "Blue shoes, big"), ("u2", 3, "i", "a"),
            ("u2", 4, "i", "y"),
            ("u1", 1, "q", "red shoes"), ("u1", 2, "i", "y"), ("u1", 3, "i", "x"),
            ("u1", 4, "q", "blue  SHOES big"), ("u1", 5, "i", "z"), ("u1", 6, "q", "tea")]
    ds = prepare(make_events(rows), PrepareConfig(max_query_words=2))
    # Sequences follow their ids; vocabularies follow first appearance.
    assert ds.user_ids == ["u1", "u2"]
    assert ds.item_ids == ["y", "x", "z", "a"]
    assert ds.query_texts == ["red shoes", "blue shoes big"]
    assert ds.words == ["red", "shoes", "blue"]
    assert ds.query_words.tolist() == [[0, 1], [2, 1]]
    assert ds.tokens.tolist() == [0, 0, 1, 1, 2, 2, 1, 3, 0]
    assert ds.offsets.tolist() == [0, 5, 9]


def test_prepare_manifest(tmp_path):
    rows = [("u1", 1, "q", "red shoes"), ("u1", 2, "i", "a"), ("u1", 3, "i", "b"),
            ("u1", 4, "i", "c")]
    config = PrepareConfig(max_length=10, min_item_frequency=1)
    ds = prepare(make_events(rows), config, dropped={"unknown_reference": 4}, source="log.csv")
    ds.save(tmp_path / "prepared")
    manifest = json.loads((tmp_path / "prepared" / "manifest.json").read_text())
    assert manifest["format"] == "qsr-dataset"
    assert manifest["format_version"] == 1
    assert manifest["options"] == {
        "by_session": False, "keep_repeats": False, "min_user_items": 3,
        "min_item_frequency": 1, "max_length": 10, "max_query_words": 5}
    assert [manifest[k] for k in ("num_users", "num_items", "num_queries", "num_words",
                                  "num_events")] == [1, 3, 1, 2, 4]
    assert manifest["stats"]["source"] == "log.csv"
    assert manifest["stats"]["input_events"] == 4
    assert manifest["stats"]["dropped_rows"] == {"unknown_reference": 4}
    assert manifest["stats"]["interactions"] == 3
    assert manifest["stats"]["query_events"] == 1
    loaded = SequenceDataset.load(tmp_path / "prepared")
    assert loaded.tokens.tolist() == ds.tokens.tolist()


def test_prepare_rejects_missing_column():
    events = make_events([("u1", 1, "i", "a")]).drop(columns=["order"])
    with pytest.raises(ValueError, match=r"missing columns \['order'\]"):
        prepare(events)


def test_prepare_rejects_unknown_kind():
    events = make_events([("u1", 1, "i", "a"), ("u1", 2, "i", "b")])
    events["kind"] = np.array([1, 7], dtype=np.int8)
    with pytest.raises(ValueError, match="row 1: kind must be 1 .item. or 2 .query., got 7"):
        prepare(events)


def test_prepare_rejects_missing_time():
    events = make_events([("u1", 1, "i", "a"), ("u1", 2, "i", "b")])
    events.loc[1, "time"] = np.nan
    with pytest.raises(ValueError, match="row 1: column 'time' has no value"):
        prepare(events)


def test_prepare_rejects_empty_result():
    with pytest.raises(ValueError, match="no sequence has at least min_user_items=3"):
        prepare(make_events([("u1", 1, "i", "a"), ("u1", 2, "i", "b")]))


@pytest.mark.parametrize("options, message", [
    ({"min_user_items": 1}, "min_user_items must be at least 2, got 1"),
    ({"max_length": 0}, "max_length must be at least 1, got 0"),
    ({"min_item_frequency": 0}, "min_item_frequency must be at least 1, got 0"),
    ({"max_query_words": 2.5}, "max_query_words must be an integer, got 2.5"),
    ({"by_session": "yes"}, "by_session must be True or False, got 'yes'"),
])
def test_prepare_config_rejects_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        PrepareConfig(**options)


def test_prepare_config_from_dict():
    assert PrepareConfig.from_dict({"max_length": 7}).max_length == 7
    with pytest.raises(ValueError, match=r"unknown prepare options \['max_len'\]"):
        PrepareConfig.from_dict({"max_len": 7})
