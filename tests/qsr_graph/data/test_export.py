import numpy as np
import pytest

from qsr_graph.data import SequenceDataset
from qsr_graph.data.export import export_recbole, recbole_interactions


@pytest.fixture
def tiny():
    ds = SequenceDataset.from_sequences({
        "u1": [("item", "a"), ("query", "Red Shoes"), ("item", "b"), ("item", "c")],
        "u 2": [("query", "x"), ("item", "b"), ("query", "tea cup"), ("item", "a")],
    })
    # u1's first three events share a time; u 2's times are 0.4 ms apart.
    ds.times = np.array([100.0, 100.0, 100.0, 101.5, 5.0, 5.0, 5.0, 5.0004])
    return ds


def test_recbole_interactions(tiny):
    table = recbole_interactions(tiny)
    assert table["user_id"].tolist() == ["u1", "u1", "u1", "u 2", "u 2"]
    assert table["item_id"].tolist() == ["a", "b", "c", "b", "a"]
    assert table["query"].tolist() == ["", "red shoes", "red shoes", "x", "tea cup"]
    assert (table["timestamp"] * 1000).round().astype(int).tolist() == [
        100000, 100001, 101500, 5000, 5001]


def test_export_recbole_file(tiny, tmp_path):
    path = export_recbole(tiny, tmp_path / "shoes")
    assert path == tmp_path / "shoes" / "shoes.inter"
    assert path.read_text() == (
        "user_id:token\titem_id:token\ttimestamp:float\tquery:token_seq\n"
        "u1\ta\t100.000\t\n"
        "u1\tb\t100.001\tred shoes\n"
        "u1\tc\t101.500\tred shoes\n"
        "u 2\tb\t5.000\tx\n"
        "u 2\ta\t5.001\ttea cup\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shoes"]


def test_export_recbole_existing_output(tiny, tmp_path):
    (tmp_path / "shoes").mkdir()
    with pytest.raises(ValueError, match="output already exists"):
        export_recbole(tiny, tmp_path / "shoes")
    export_recbole(tiny, tmp_path / "shoes", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "shoes").iterdir()) == ["shoes.inter"]


def test_export_recbole_rejects_tab_in_id(tmp_path):
    ds = SequenceDataset.from_sequences({"u1": [("item", "a\tb"), ("item", "c")]})
    with pytest.raises(ValueError, match=r"item_id 'a\\tb' contains '\\t'"):
        export_recbole(ds, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
