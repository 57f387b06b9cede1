import json

import numpy as np
import pytest

from qsr_graph.data import KIND_ITEM, KIND_QUERY, DatasetFormatError, SequenceDataset


def small_dataset() -> SequenceDataset:
    return SequenceDataset.from_sequences({
        "u1": [("query", "Coffee"), ("item", "a"), ("item", "b"), ("query", "tea cups"), ("item", "c")],
        "u2": [("item", "b"), ("query", "coffee "), ("item", "a")],
    })


def test_from_sequences_vocabularies():
    ds = small_dataset()
    assert ds.item_ids == ["a", "b", "c"]
    assert ds.query_texts == ["coffee", "tea cups"]
    assert ds.words == ["coffee", "tea", "cups"]
    assert ds.query_words.tolist() == [[0, -1], [1, 2]]
    assert ds.kinds.tolist() == [KIND_QUERY, KIND_ITEM, KIND_ITEM, KIND_QUERY, KIND_ITEM,
                                 KIND_ITEM, KIND_QUERY, KIND_ITEM]
    assert ds.tokens.tolist() == [0, 0, 1, 1, 2, 1, 0, 0]
    assert ds.offsets.tolist() == [0, 5, 8]


def test_split_positions_and_train_mask():
    ds = small_dataset()
    val_pos, test_pos = ds.split_positions()
    assert val_pos.tolist() == [2, 5]
    assert test_pos.tolist() == [4, 7]
    assert ds.train_mask().tolist() == [True, True, False, False, False, False, False, False]


def test_user_index():
    assert small_dataset().user_index.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_save_load_round_trip(tmp_path):
    ds = small_dataset()
    ds.save(tmp_path / "ds")
    loaded = SequenceDataset.load(tmp_path / "ds")
    assert loaded.item_ids == ds.item_ids
    assert loaded.query_texts == ds.query_texts
    assert loaded.words == ds.words
    assert loaded.user_ids == ["u1", "u2"]
    assert loaded.query_words.tolist() == ds.query_words.tolist()
    assert loaded.tokens.tolist() == ds.tokens.tolist()
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["format_version"] == 1
    assert manifest["num_items"] == 3
    assert manifest["num_queries"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_save_replaces_existing_folder(tmp_path):
    small_dataset().save(tmp_path / "ds")
    SequenceDataset.from_sequences({"u": [("item", "x"), ("item", "y")]}).save(tmp_path / "ds")
    assert SequenceDataset.load(tmp_path / "ds").item_ids == ["x", "y"]


def test_load_rejects_folder_without_manifest(tmp_path):
    with pytest.raises(DatasetFormatError, match="not a prepared qsr dataset"):
        SequenceDataset.load(tmp_path)


def test_load_reports_missing_folder(tmp_path):
    with pytest.raises(DatasetFormatError, match="dataset folder not found"):
        SequenceDataset.load(tmp_path / "missing")


def test_load_rejects_other_format_version(tmp_path):
    small_dataset().save(tmp_path / "ds")
    manifest_path = tmp_path / "ds" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DatasetFormatError, match="format version 99"):
        SequenceDataset.load(tmp_path / "ds")


def test_validate_rejects_sequence_ending_with_query():
    with pytest.raises(DatasetFormatError, match="end with an item"):
        SequenceDataset.from_sequences({"u": [("item", "a"), ("item", "b"), ("query", "q")]})


def test_validate_rejects_sequence_with_one_item():
    with pytest.raises(DatasetFormatError, match="at least two item events"):
        SequenceDataset.from_sequences({"u": [("query", "q"), ("item", "a")]})


def test_validate_rejects_token_outside_vocabulary():
    ds = small_dataset()
    with pytest.raises(DatasetFormatError, match="outside its vocabulary"):
        SequenceDataset(
            item_ids=ds.item_ids, query_texts=ds.query_texts, query_words=ds.query_words,
            words=ds.words, user_ids=ds.user_ids, offsets=ds.offsets, kinds=ds.kinds,
            tokens=np.where(ds.tokens == 2, 7, ds.tokens), times=ds.times)
