"""Tests of recommending from raw histories."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from qsr_graph.build import GraphConfig, build_graph
from qsr_graph.data import KIND_ITEM, KIND_QUERY, SequenceDataset
from qsr_graph.data.prepare import PrepareConfig, prepare
from qsr_graph.data.readers import read_events
from qsr_graph.io import save_graph
from qsr_model.config import ModelConfig, TrainConfig
from qsr_model.evaluate import prepare_split, score_histories
from qsr_model.explain import LEADS_TO, Explanation, GraphMismatchError, QueryItemLinks
from qsr_model.query_seqrec import QuerySeqRec
from qsr_model.recommend import (
    EmptyHistoryError,
    HistoryError,
    HistoryWarning,
    Recommender,
    RunFolderError,
    Vocabulary,
    parse_event,
)
from qsr_model.trainer import train_model

# Items a, b, c, d; queries "hot air balloon", "paris hotel", "paris"; with two
# words per query, the words are hot, air, paris, hotel (ids 0 to 3).
SEQUENCES = {
    "u1": [("query", "Hot air balloon"), ("item", "a"), ("item", "b"),
           ("query", "Paris hotel"), ("item", "c"), ("item", "d")],
    "u2": [("item", "b"), ("query", "paris"), ("item", "c"), ("item", "a")],
}


@pytest.fixture
def dataset() -> SequenceDataset:
    return SequenceDataset.from_sequences(SEQUENCES, max_query_words=2)


def make_recommender(dataset: SequenceDataset, max_length: int = 4, use_queries: bool = True,
                     links: QueryItemLinks | None = None) -> Recommender:
    torch.manual_seed(0)
    model = QuerySeqRec(ModelConfig(hidden_size=8, num_heads=2, max_length=max_length),
                        num_items=dataset.num_items, num_words=dataset.num_words)
    # Spread the embeddings so that different inputs give clearly different scores.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
        model.word_emb.weight[model.word_emb.padding_idx].zero_()
    return Recommender(model, Vocabulary.from_dataset(dataset), max_length=max_length,
                       use_queries=use_queries, links=links)


def no_warnings(recommender: Recommender, history: list) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return recommender.score(history)


# Parsing -----------------------------------------------------------------


def test_parse_event_forms():
    assert parse_event("q:hot air balloon") == ("query", "hot air balloon")
    assert parse_event("i: 12345 ") == ("item", "12345")
    assert parse_event(("query", "paris")) == ("query", "paris")
    assert parse_event(["item", 7]) == ("item", "7")


@pytest.mark.parametrize("event, message", [
    ("x:paris", r"'x:paris' must start with 'q:' \(a query\) or 'i:'"),
    ("paris", r"'paris' must start with 'q:'"),
    (("place", "paris"), r"\('place', 'paris'\) is not an event"),
    (("query", 3), r"the query in \('query', 3\) must be a string"),
    (("item", True), r"the item in \('item', True\) must be a string"),
    ("i:  ", r"'i:  ' has an empty item"),
    ("q:", r"'q:' has an empty query"),
    (42, r"42 is not an event"),
])
def test_parse_event_rejects(event, message):
    with pytest.raises(HistoryError, match=message):
        parse_event(event, where="history, event 0")


# Vocabulary --------------------------------------------------------------


def test_query_bag_known_query_uses_stored_bag(dataset):
    vocab = Vocabulary.from_dataset(dataset)
    # Stored with max_query_words=2, so "balloon" is not in the bag.
    assert vocab.query_bag("HOT air balloon") == (0, [0, 1], [])


def test_query_bag_new_query_keeps_known_words(dataset):
    vocab = Vocabulary.from_dataset(dataset)
    assert vocab.query_bag("zeppelin over Paris hotel") == (-1, [2, 3], ["zeppelin", "over"])
    assert vocab.query_bag("balloon hotel paris hot") == (-1, [3, 2], ["balloon"])
    assert vocab.query_bag("zeppelin") == (-1, [], ["zeppelin"])


# Encoding ----------------------------------------------------------------


def test_encode_history(dataset):
    recommender = make_recommender(dataset)
    encoded = recommender.encode(["i:b", ("query", "paris"), "i:a"])
    assert encoded.kinds == [KIND_ITEM, KIND_QUERY, KIND_ITEM]
    assert encoded.tokens == [1, 2, 0]
    assert encoded.bags == [[], [2], []]
    assert encoded.positions == [0, 1, 2]
    assert encoded.texts == ["", "paris", ""]
    assert encoded.seen_items == [0, 1]


def test_encode_keeps_latest_events(dataset):
    recommender = make_recommender(dataset, max_length=2)
    encoded = recommender.encode(["i:a", "i:b", "q:paris", "i:c"])
    assert encoded.tokens == [2, 2]
    assert encoded.positions == [2, 3]
    assert encoded.seen_items == [0, 1, 2]


def test_unknown_items_one_warning(dataset):
    recommender = make_recommender(dataset)
    with pytest.warns(HistoryWarning) as record:
        encoded = recommender.encode(["i:zz", "i:a", "i:yy", "q:paris"], label="line 3")
    assert len(record) == 1
    assert str(record[0].message) == "line 3: skipped 2 unknown item(s): 'zz', 'yy'"
    assert encoded.tokens == [0, 2]
    assert encoded.positions == [1, 3]


def test_unknown_query_words_dropped(dataset):
    recommender = make_recommender(dataset)
    with pytest.warns(HistoryWarning, match="dropped query word.*: 'zeppelin'"):
        scores = recommender.score(["i:a", "q:zeppelin paris"])
    # "paris" alone is the known query with the same bag.
    expected = no_warnings(recommender, ["i:a", "q:paris"])
    assert scores.tolist() == expected.tolist()


def test_query_without_known_word_skipped(dataset):
    recommender = make_recommender(dataset)
    with pytest.warns(HistoryWarning) as record:
        scores = recommender.score(["i:a", "q:zeppelin", "i:b"])
    assert [str(w.message) for w in record] == [
        "history: skipped 1 query(ies) with no known word: 'zeppelin'"]
    assert scores.tolist() == no_warnings(recommender, ["i:a", "i:b"]).tolist()


def test_empty_history_error(dataset):
    recommender = make_recommender(dataset)
    with pytest.raises(EmptyHistoryError, match="history: cannot recommend from an empty history: "
                                                 "it has no events"):
        recommender.recommend([])


def test_history_of_unknown_events_error(dataset):
    recommender = make_recommender(dataset)
    with pytest.warns(HistoryWarning, match="'zz'"):
        with pytest.raises(EmptyHistoryError, match="none of its events is known to the run"):
            recommender.recommend(["i:zz", "q:zeppelin"])


def test_history_must_be_a_list(dataset):
    recommender = make_recommender(dataset)
    with pytest.raises(HistoryError, match="a history must be a list of events, got str"):
        recommender.recommend("i:a")


def test_bad_event_names_its_place(dataset):
    recommender = make_recommender(dataset)
    with pytest.raises(HistoryError, match=r"history 1, event 1: 'x:a' must start with"):
        recommender.recommend_batch([["i:a"], ["i:a", "x:a"]])


def test_model_without_queries_ignores_them(dataset):
    recommender = make_recommender(dataset, use_queries=False)
    with pytest.warns(HistoryWarning, match="trained without queries") as record:
        scores = recommender.score(["i:a", "q:paris", "i:b"])
        recommender.score(["q:paris", "i:b"])
    assert len(record) == 1
    assert scores.tolist() == no_warnings(recommender, ["i:a", "i:b"]).tolist()
    with pytest.raises(EmptyHistoryError, match="trained without queries"):
        recommender.score(["q:paris"])


# Scoring and top-k -------------------------------------------------------


def test_queries_change_scores(dataset):
    recommender = make_recommender(dataset)
    first = recommender.score(["i:a", "q:hot air"])
    second = recommender.score(["i:a", "q:paris hotel"])
    assert not torch.allclose(first, second)


def test_batch_scores_match_single(dataset):
    recommender = make_recommender(dataset)
    histories = [["i:a"], ["q:paris", "i:b", "q:hot air", "i:c"], ["i:d", "q:paris hotel"]]
    batch = recommender.score_encoded([recommender.encode(h) for h in histories])
    for row, history in enumerate(histories):
        assert torch.allclose(batch[row], recommender.score(history), atol=1e-5)


def test_recommend_top_k_order(dataset):
    recommender = make_recommender(dataset)
    scores = recommender.score(["i:a", "q:paris"])
    result = recommender.recommend(["i:a", "q:paris"], k=3)
    order = scores.argsort(descending=True)[:3].tolist()
    assert [r.item for r in result] == [dataset.item_ids[i] for i in order]
    assert [r.score for r in result] == scores[order].tolist()
    assert all(r.explanation is None for r in result)


def test_recommend_k_above_catalogue(dataset):
    recommender = make_recommender(dataset)
    assert len(recommender.recommend(["i:a"], k=10)) == 4


def test_recommend_exclude_history(dataset):
    recommender = make_recommender(dataset, max_length=2)
    # "a" is cut by max_length but still excluded.
    result = recommender.recommend(["i:a", "i:b", "i:c"], k=10, exclude_history=True)
    assert [r.item for r in result] == ["d"]
    only_queries = recommender.recommend(["q:paris"], k=10, exclude_history=True)
    assert sorted(r.item for r in only_queries) == ["a", "b", "c", "d"]


def test_recommend_rejects_bad_k(dataset):
    recommender = make_recommender(dataset)
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        recommender.recommend(["i:a"], k=0)


def test_recommend_batch_keeps_order(dataset):
    recommender = make_recommender(dataset)
    # Chunks group histories by length; results must come back in input order.
    histories = [["i:b", "q:paris", "i:c"], ["i:a"], ["i:d", "q:hot air"], ["i:c"]]
    singles = [recommender.score(h).tolist() for h in histories]
    assert len({tuple(scores) for scores in singles}) == 4
    for batch_size in (1, 3, 256):
        result = recommender.recommend_batch(histories, k=4, batch_size=batch_size)
        for recs, scores in zip(result, singles):
            index = {item: i for i, item in enumerate(dataset.item_ids)}
            assert [r.score for r in recs] == pytest.approx(
                [scores[index[r.item]] for r in recs], abs=1e-5)
            assert [r.score for r in recs] == pytest.approx(sorted(scores, reverse=True), abs=1e-5)


# Explanations ------------------------------------------------------------


def test_explain_prefers_latest_query(dataset):
    # "hot air balloon" (0) leads to a (weight 2) and b (weight 1); "paris hotel" (1) to a (5).
    links = QueryItemLinks.from_edges(np.array([[0, 0, 1], [0, 1, 0]]),
                                      np.array([2.0, 1.0, 5.0]), num_queries=3)
    recommender = make_recommender(dataset, links=links)
    history = ["q:hot air balloon", "i:c", "q:paris hotel", "q:new query paris"]
    with pytest.warns(HistoryWarning, match="'new', 'query'"):
        result = {r.item: r.explanation for r in recommender.recommend(history, k=4, explain=True)}
    assert result == {
        "a": Explanation(query="paris hotel", position=2, weight=5.0),
        "b": Explanation(query="hot air balloon", position=0, weight=1.0),
        "c": None,
        "d": None,
    }


def test_explain_rejects_graph_of_other_data(dataset):
    other = SequenceDataset.from_sequences({"u": [("query", "paris"), ("item", "a"), ("item", "x")]})
    graph = build_graph(other, GraphConfig())
    vocab = Vocabulary.from_dataset(dataset)
    with pytest.raises(GraphMismatchError, match="g.pt: graph has 2 item nodes but the run has 4"):
        QueryItemLinks.from_graph(graph, vocab.item_ids, vocab.query_texts, source="g.pt")
    same_size = SequenceDataset.from_sequences(
        {"u": [("query", "hot air balloon"), ("query", "paris hotel"), ("query", "paris"),
               ("item", "a"), ("item", "b"), ("item", "x"), ("item", "d")]}, max_query_words=2)
    with pytest.raises(GraphMismatchError, match="item node 2 is 'x' in the graph but 'c' in the run"):
        QueryItemLinks.from_graph(build_graph(same_size, GraphConfig()), vocab.item_ids,
                                  vocab.query_texts, source="g.pt")


def test_explain_needs_graph(dataset):
    recommender = make_recommender(dataset)
    with pytest.raises(ValueError, match=r"explanations need a query-item graph \(no graph was given\)"):
        recommender.recommend(["i:a"], explain=True)


# Loading -----------------------------------------------------------------


def test_load_missing_run_folder(tmp_path):
    with pytest.raises(RunFolderError, match="missing: run folder not found"):
        Recommender.load(tmp_path / "missing")


def test_load_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunFolderError, match=r"not a qsr run \(no config.json\)"):
        Recommender.load(tmp_path)


# A model trained on the bundled data ---------------------------------------


@pytest.fixture(scope="module")
def trivago_run(tmp_path_factory, trivago_path):
    """A small model trained for two epochs on the first 500 users of the trivago slice."""
    folder = tmp_path_factory.mktemp("trivago")
    events = read_events("trivago", [trivago_path]).events
    users = events["user"].unique()[:500]
    dataset = prepare(events[events["user"].isin(users)], PrepareConfig(max_length=20))
    graph = build_graph(dataset, GraphConfig())
    save_graph(graph, folder / "graph.pt")
    # The model reads 10 events of the prepared 20, so histories get cut.
    train_model(dataset, None, ModelConfig(hidden_size=32, max_length=10, dropout=0.1),
                TrainConfig(epochs=2, batch_size=64, lr=5e-3, augmentation=False),
                output_dir=folder / "run", show_progress=False, graph_path=folder / "graph.pt")
    return dataset, graph, folder / "run"


def raw_test_input(dataset: SequenceDataset, user: int) -> list[str]:
    """Write a user's whole test input (every event before the test target) as raw events."""
    _, test_pos = dataset.split_positions()
    events = []
    for position in range(dataset.offsets[user], test_pos[user]):
        token = dataset.tokens[position]
        if dataset.kinds[position] == KIND_ITEM:
            events.append("i:" + dataset.item_ids[token])
        else:
            events.append("q:" + dataset.query_texts[token])
    return events


@pytest.mark.slow
def test_trained_two_queries_two_top_lists(trivago_run):
    dataset, _, run_dir = trivago_run
    recommender = Recommender.load(run_dir)
    item = dataset.item_ids[dataset.tokens[dataset.kinds == KIND_ITEM][0]]
    counts = np.bincount(dataset.tokens[dataset.kinds == KIND_QUERY], minlength=dataset.num_queries)
    first, second = (dataset.query_texts[q] for q in np.argsort(-counts, kind="stable")[:2])
    top_first = [r.item for r in recommender.recommend([f"i:{item}", f"q:{first}"], k=10)]
    top_second = [r.item for r in recommender.recommend([f"i:{item}", f"q:{second}"], k=10)]
    assert len(top_first) == len(top_second) == 10
    assert top_first != top_second


@pytest.mark.slow
@pytest.mark.parametrize("use_queries", [True, False])
def test_trained_scores_equal_evaluation(trivago_run, use_queries):
    dataset, _, run_dir = trivago_run
    recommender = Recommender.load(run_dir)
    recommender.use_queries = use_queries
    windows = prepare_split(dataset, "test", recommender.max_length, use_queries=use_queries).windows
    rows = torch.arange(len(windows))
    expected = score_histories(recommender.model, windows.batch(rows))  # (U, I)
    histories = [raw_test_input(dataset, int(user)) for user in windows.users]
    assert max(len(h) for h in histories) > recommender.max_length
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HistoryWarning)
        encoded = [recommender.encode(h) for h in histories]
        results = recommender.recommend_batch(histories, k=10)
    assert torch.allclose(recommender.score_encoded(encoded), expected, rtol=0, atol=1e-5)
    top_scores, top_items = expected.topk(10, dim=1)
    for row in (0, 1, len(histories) - 1):
        assert [r.item for r in results[row]] == [dataset.item_ids[i] for i in top_items[row]]
        assert [r.score for r in results[row]] == pytest.approx(top_scores[row].tolist(), abs=1e-5)


@pytest.mark.slow
def test_trained_explanations_follow_graph(trivago_run):
    dataset, graph, run_dir = trivago_run
    recommender = Recommender.load(run_dir)
    assert recommender.links is not None
    edge_index = graph[LEADS_TO].edge_index.tolist()
    edge_weight = graph[LEADS_TO].edge_weight.tolist()
    # The two queries that lead to the most items in common: the shared items
    # must be explained by the latest of the two.
    linked = {q: {i for r, i in zip(*edge_index) if r == q} for q in sorted(set(edge_index[0]))}
    earlier, latest = max(((a, b) for a in linked for b in linked if a < b),
                          key=lambda pair: len(linked[pair[0]] & linked[pair[1]]))
    assert linked[earlier] & linked[latest]
    expected = {}
    for position, query in ((0, earlier), (1, latest)):
        for row, item, weight in zip(edge_index[0], edge_index[1], edge_weight):
            if row == query:
                expected[dataset.item_ids[item]] = Explanation(
                    query=dataset.query_texts[query], position=position, weight=weight)
    history = [f"q:{dataset.query_texts[earlier]}", f"q:{dataset.query_texts[latest]}"]
    result = recommender.recommend(history, k=dataset.num_items, explain=True)
    explained = {r.item: r.explanation for r in result if r.explanation is not None}
    assert len(result) == dataset.num_items
    assert explained == expected
