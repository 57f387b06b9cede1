import pytest
import torch

from qsr_graph.data import SequenceDataset
from qsr_model.batching import build_windows, make_batch

# Items a=0 b=1 c=2 d=3 e=4; queries "x"=0 (word 0), "y z"=1 (words 1, 2).
SEQUENCES = {
    "u1": [("item", "a"), ("query", "x"), ("item", "b"), ("item", "c"), ("query", "y z"),
           ("item", "d"), ("item", "e")],
    "u2": [("query", "x"), ("item", "b"), ("item", "a")],
    "u3": [("item", "c"), ("item", "b"), ("item", "a"), ("query", "x"), ("item", "e")],
}


@pytest.fixture
def dataset():
    return SequenceDataset.from_sequences(SEQUENCES)


def test_train_windows(dataset):
    windows = build_windows(dataset, "train", max_length=4)
    # u2's training input is the query x alone, with no target: left out.
    assert windows.users.tolist() == [0, 2]
    assert windows.kinds.tolist() == [[2, 1, 1, 2], [0, 0, 1, 1]]
    assert windows.tokens.tolist() == [[0, 1, 2, 1], [0, 0, 2, 1]]
    # u1: x -> b, b -> c, c is followed by a query, and the last position has no target.
    assert windows.targets.tolist() == [[1, 2, -1, -1], [-1, -1, 1, -1]]


def test_train_windows_keep_latest_events(dataset):
    windows = build_windows(dataset, "train", max_length=2)
    # u1's window [c, "y z"] has no target left.
    assert windows.users.tolist() == [2]
    assert windows.kinds.tolist() == [[1, 1]]
    assert windows.tokens.tolist() == [[2, 1]]
    assert windows.targets.tolist() == [[1, -1]]


def test_val_and_test_windows(dataset):
    val = build_windows(dataset, "val", max_length=5)
    assert val.users.tolist() == [0, 1, 2]
    assert val.kinds.tolist() == [[1, 2, 1, 1, 2], [0, 0, 0, 0, 2], [0, 0, 0, 1, 1]]
    assert val.tokens.tolist() == [[0, 0, 1, 2, 1], [0, 0, 0, 0, 0], [0, 0, 0, 2, 1]]
    assert val.targets[:, -1].tolist() == [3, 1, 0]
    assert (val.targets[:, :-1] == -1).all()
    test = build_windows(dataset, "test", max_length=5)
    assert test.kinds.tolist() == [[2, 1, 1, 2, 1], [0, 0, 0, 2, 1], [0, 1, 1, 1, 2]]
    assert test.tokens.tolist() == [[0, 1, 2, 1, 3], [0, 0, 0, 0, 1], [0, 2, 1, 0, 0]]
    assert test.targets[:, -1].tolist() == [4, 0, 4]


def test_windows_without_queries(dataset):
    train = build_windows(dataset, "train", max_length=4, use_queries=False)
    assert train.users.tolist() == [0, 2]
    assert train.kinds.tolist() == [[0, 1, 1, 1], [0, 0, 1, 1]]
    assert train.tokens.tolist() == [[0, 0, 1, 2], [0, 0, 2, 1]]
    assert train.targets.tolist() == [[-1, 1, 2, -1], [-1, -1, 1, -1]]
    test = build_windows(dataset, "test", max_length=4, use_queries=False)
    assert test.kinds.tolist() == [[1, 1, 1, 1], [0, 0, 0, 1], [0, 1, 1, 1]]
    assert test.tokens.tolist() == [[0, 1, 2, 3], [0, 0, 0, 1], [0, 2, 1, 0]]
    assert test.targets[:, -1].tolist() == [4, 0, 4]


def test_batch_gathers_items_and_words(dataset):
    batch = build_windows(dataset, "test", max_length=5).batch(torch.tensor([0, 1]))
    assert batch.items.tolist() == [[0, 1, 2, 0, 3], [0, 0, 0, 0, 1]]
    assert batch.words.tolist() == [
        [[0, -1], [-1, -1], [-1, -1], [1, 2], [-1, -1]],
        [[-1, -1], [-1, -1], [-1, -1], [0, -1], [-1, -1]],
    ]


def test_batch_sampler_replaces_query_with_its_words(dataset):
    calls = []

    def swap_queries(kinds, tokens, generator, mask=None):
        calls.append(mask.tolist())
        return torch.where(kinds == 2, 1 - tokens, tokens)

    windows = build_windows(dataset, "test", max_length=5)
    batch = windows.batch(torch.tensor([1]), sampler=swap_queries, generator=torch.Generator())
    # The batch is trimmed to u2's two events before the sampler is called.
    assert calls == [[[True, True]]]
    assert batch.words[0, 0].tolist() == [1, 2]
    assert windows.tokens[1].tolist() == [0, 0, 0, 0, 1]


def test_batch_trims_padding_columns(dataset):
    windows = build_windows(dataset, "test", max_length=5)
    batch = windows.batch(torch.tensor([1, 2]))
    assert batch.kinds.tolist() == [[0, 0, 2, 1], [1, 1, 1, 2]]
    assert batch.targets.tolist() == [[-1, -1, -1, 0], [-1, -1, -1, 4]]
    assert tuple(windows.batch(torch.tensor([1, 2]), trim=False).kinds.shape) == (2, 5)


def test_make_batch_left_pads_and_truncates():
    batch = make_batch(
        kinds=[[1, 2, 1], [2]], items=[[3, 0, 4], [0]], words=[[[], [5, 6, 7], []], [[8]]],
        max_length=2)
    assert batch.kinds.tolist() == [[2, 1], [0, 2]]
    assert batch.items.tolist() == [[0, 4], [0, 0]]
    assert batch.words.tolist() == [[[5, 6, 7], [-1, -1, -1]], [[-1, -1, -1], [8, -1, -1]]]
    assert batch.targets.tolist() == [[-1, -1], [-1, -1]]


def test_make_batch_rejects_bad_kind():
    with pytest.raises(ValueError, match="history 0: event kind must be 1 .item. or 2 .query., got 3"):
        make_batch([[3]], [[0]], [[[]]], max_length=2)


def test_build_windows_rejects_unknown_split(dataset):
    with pytest.raises(ValueError, match="split must be one of train, val, test, got 'dev'"):
        build_windows(dataset, "dev", max_length=3)


def test_make_batch_matches_windows(dataset):
    # u1's test input, spelled out as an inference caller would.
    from_windows = build_windows(dataset, "test", max_length=5).batch(torch.tensor([0]))
    encoded = make_batch(kinds=[[2, 1, 1, 2, 1]], items=[[0, 1, 2, 0, 3]],
                         words=[[[0], [], [], [1, 2], []]], max_length=5)
    assert encoded.kinds.tolist() == from_windows.kinds.tolist()
    assert encoded.items.tolist() == from_windows.items.tolist()
    assert encoded.words.tolist() == from_windows.words.tolist()
