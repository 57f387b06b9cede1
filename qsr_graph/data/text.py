"""Query normalisation: raw search text to a bag of at most ``max_words`` words."""
from __future__ import annotations

import re
import unicodedata

DEFAULT_MAX_QUERY_WORDS = 5

# Scripts written without spaces between words: each character becomes a word.
# Ranges: CJK ideographs (with extensions A and compatibility), Hiragana,
# Katakana (with phonetic extensions and half-width forms), Hangul syllables
# are left whole because Korean separates words with spaces.
_NO_SPACE_CHARS = (
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
)
_TOKEN = re.compile(rf"[{_NO_SPACE_CHARS}]|[^\W_{_NO_SPACE_CHARS}]+", re.UNICODE)


def normalize_query(text: str, max_words: int | None = DEFAULT_MAX_QUERY_WORDS) -> list[str]:
    r"""Split a raw query into its normalised words.

    The text is NFKC-normalised and case-folded, then split on whitespace,
    punctuation and underscores. Characters of scripts written without spaces
    (Chinese, Japanese) become one word each. Only the first ``max_words``
    words are kept (all of them when ``max_words`` is ``None``).

    Example:
        >>> normalize_query("  Hôtel-de-Ville, PARIS  ")
        ['hôtel', 'de', 'ville', 'paris']
        >>> normalize_query("東京タワー")
        ['東', '京', 'タ', 'ワ', 'ー']
    """
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = _TOKEN.findall(folded)
    return words if max_words is None else words[:max_words]


def query_key(text: str) -> str:
    """Return a query's identity: all its normalised words joined by single spaces.

    Two raw texts are the same query when their keys are equal, so
    ``"Coffee "`` and ``"coffee"`` are one query. The key keeps every word, also
    past the word limit of the query's bag of words.
    """
    return " ".join(normalize_query(text, max_words=None))
