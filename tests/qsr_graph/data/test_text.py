import pytest

from qsr_graph.data import normalize_query, query_key


@pytest.mark.parametrize("text, words", [
    ("Coffee ", ["coffee"]),
    ("  Hôtel-de-Ville, PARIS  ", ["hôtel", "de", "ville", "paris"]),
    ("Red Fort - Lal Qila", ["red", "fort", "lal", "qila"]),
    ("ｃｏｆｆｅｅ", ["coffee"]),  # full-width letters fold under NFKC
    ("東京タワー", ["東", "京", "タ", "ワ", "ー"]),
    ("서울 호텔", ["서울", "호텔"]),
    ("snake_case", ["snake", "case"]),
    ("!!!", []),
])
def test_normalize_query(text, words):
    assert normalize_query(text) == words


def test_normalize_query_keeps_max_words():
    assert normalize_query("a b c d e f g") == ["a", "b", "c", "d", "e"]
    assert normalize_query("a b c d e f g", max_words=2) == ["a", "b"]
    assert normalize_query("a b c d e f g", max_words=None) == list("abcdefg")


def test_normalize_query_rejects_zero_words():
    with pytest.raises(ValueError, match="max_words must be at least 1, got 0"):
        normalize_query("a", max_words=0)


def test_query_key_merges_case_and_spaces():
    assert query_key("Coffee ") == query_key("coffee") == "coffee"
    assert query_key("a b c d e f") != query_key("a b c d e g")
