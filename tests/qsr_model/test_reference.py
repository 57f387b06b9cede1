import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from qsr_graph.data import SequenceDataset
from qsr_model.reference import (
    PopularityScorer,
    QueryLinkedScorer,
    RepeatScorer,
    evaluate_reference,
    split_inputs,
)

# Items a=0, b=1, c=2, d=3; queries "red"=0, "blue"=1.
# Training events (before each validation target): a b red a | blue d a red | b,
# so training counts are a=3, b=2, c=0, d=1.
SEQUENCES = {
    "u1": [("item", "a"), ("item", "b"), ("query", "red"), ("item", "a"), ("item", "c"),
           ("item", "b")],
    "u2": [("query", "blue"), ("item", "d"), ("item", "a"), ("query", "red"), ("item", "c"),
           ("item", "d")],
    "u3": [("item", "b"), ("item", "d"), ("item", "c")],
}


@pytest.fixture
def dataset() -> SequenceDataset:
    return SequenceDataset.from_sequences(SEQUENCES)


@pytest.fixture
def graph() -> HeteroData:
    data = HeteroData()
    data["item"].num_nodes = 4
    data["query"].num_nodes = 2
    # red -> a (2), red -> c (1), blue -> d (1)
    data["query", "leads_to", "item"].edge_index = torch.tensor([[0, 0, 1], [0, 2, 3]])
    data["query", "leads_to", "item"].edge_weight = torch.tensor([2.0, 1.0, 1.0])
    return data


def test_split_inputs_test_and_val(dataset):
    test = split_inputs(dataset, "test")
    val = split_inputs(dataset, "val")
    assert test.starts.tolist() == [0, 6, 12]
    assert test.ends.tolist() == [5, 11, 14]
    assert test.targets.tolist() == [1, 3, 2]
    assert val.ends.tolist() == [4, 10, 13]
    assert val.targets.tolist() == [2, 2, 3]


def test_split_inputs_max_length(dataset):
    inputs = split_inputs(dataset, "test", max_length=2)
    assert inputs.starts.tolist() == [3, 9, 12]


def test_split_inputs_rejects_unknown_split(dataset):
    with pytest.raises(ValueError, match="split must be one of val, test, got 'train'"):
        split_inputs(dataset, "train")


def test_popularity_scores_training_counts(dataset):
    scorer = PopularityScorer(dataset)
    scores = scorer(split_inputs(dataset), np.arange(3))
    assert scores.tolist() == [[3.0, 2.0, 0.0, 1.0]] * 3


def test_repeat_scores_recency_of_last_occurrence(dataset):
    scorer = RepeatScorer(dataset)
    scores = scorer(split_inputs(dataset, "test"), np.arange(3))
    assert scores.tolist() == [[4.0, 2.0, 5.0, 0.0], [3.0, 0.0, 5.0, 2.0], [0.0, 1.0, 0.0, 2.0]]


def test_repeat_scores_chunk_of_users(dataset):
    scorer = RepeatScorer(dataset)
    scores = scorer(split_inputs(dataset, "val"), np.array([2, 0]))
    assert scores.tolist() == [[0.0, 1.0, 0.0, 0.0], [4.0, 2.0, 0.0, 0.0]]


def test_repeat_scores_empty_input():
    # The validation target is the first event, so the validation input is empty.
    dataset = SequenceDataset.from_sequences({"u": [("item", "a"), ("item", "b")]})
    scores = RepeatScorer(dataset)(split_inputs(dataset, "val"), np.arange(1))
    assert scores.tolist() == [[0.0, 0.0]]


def test_query_linked_latest_queries(dataset, graph):
    scorer = QueryLinkedScorer(dataset, graph)
    assert scorer.latest_queries(split_inputs(dataset, "test"), np.arange(3)).tolist() == [0, 0, -1]
    # Within the latest two events u1 has no query, and u2 keeps "red".
    short = split_inputs(dataset, "test", max_length=2)
    assert scorer.latest_queries(short, np.arange(3)).tolist() == [-1, 0, -1]


def test_query_linked_scores_edge_weights(dataset, graph):
    scores = QueryLinkedScorer(dataset, graph)(split_inputs(dataset, "test"), np.arange(3))
    assert scores.tolist() == [[2.0, 0.0, 1.0, 0.0], [2.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]


def test_query_linked_rejects_other_graph(dataset, graph):
    graph["item"].num_nodes = 5
    with pytest.raises(ValueError, match="the graph has 2 queries and 5 items but the dataset has 2 and 4"):
        QueryLinkedScorer(dataset, graph)


def test_evaluate_popularity_ties_against_target(dataset):
    # 0-based test ranks: u1 target b (count 2, behind a) -> 1; u2 target d
    # (count 1, behind a and b) -> 2; u3 target c (count 0, the lowest) -> 3.
    metrics = evaluate_reference("popularity", dataset, split="test", ks=(1, 2, 3), chunk_size=2)
    assert metrics["HR@1"] == 0.0
    assert metrics["HR@2"] == pytest.approx(1 / 3)
    assert metrics["HR@3"] == pytest.approx(2 / 3)


def test_evaluate_repeat(dataset):
    # 0-based test ranks: u1 target b behind c and a -> 2; u2 target d behind
    # c and a -> 2; u3 target c is not in its input and ties with a -> 3.
    metrics = evaluate_reference("repeat", dataset, split="test", ks=(2, 3))
    assert metrics["HR@2"] == 0.0
    assert metrics["HR@3"] == pytest.approx(2 / 3)
    assert metrics["NDCG@3"] == pytest.approx(2 / 3 * 0.5)


def test_evaluate_query_linked_counts_no_query_as_miss(dataset, graph):
    # Validation: u1 and u2 search "red" before target c, which ranks behind a
    # -> rank 1; u3 has no query, so its zero row ties every item -> rank 3.
    metrics = evaluate_reference("query-linked", dataset, graph, split="val", ks=(1, 2, 3))
    assert metrics["HR@1"] == 0.0
    assert metrics["HR@2"] == pytest.approx(2 / 3)
    assert metrics["HR@3"] == pytest.approx(2 / 3)


def test_evaluate_reference_needs_graph_for_query_row(dataset):
    with pytest.raises(ValueError, match="needs the graph"):
        evaluate_reference("query-linked", dataset)


def test_evaluate_reference_rejects_unknown_row(dataset):
    with pytest.raises(ValueError, match="unknown reference row 'random'"):
        evaluate_reference("random", dataset)
