"""Recommending items for raw histories with a trained run.

A history is one user's events in time order. Each event is a query (its text)
or an item (its raw id, as in the input data), written as a tuple
``("query", "hot air balloon")`` / ``("item", "12345")`` or as a string
``"q:hot air balloon"`` / ``"i:12345"``. :class:`Recommender` turns histories
into the run's ids, scores all items with the model at the latest event, and
returns the top-k raw item ids, optionally explained by the query-item graph.

Events the run has never seen are handled as follows, with one
:class:`HistoryWarning` per history that names them:

- an unknown item is skipped;
- words of a query that never occurred in training are dropped, and a query
  left with no known word is skipped;
- a query in the run's vocabulary keeps its stored bag of words, and a new
  query is the bag of its known words. The model embeds a query as the mean
  of its word embeddings, so new queries need no vocabulary entry.

A history with no event left is an :class:`EmptyHistoryError`.
"""
from __future__ import annotations

import json
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import numpy as np
import pandas as pd
import torch

from qsr_graph.data.dataset import KIND_ITEM, KIND_QUERY, WORD_PAD, SequenceDataset
from qsr_graph.data.text import normalize_query, query_key
from qsr_model.batching import SequenceBatch, make_batch
from qsr_model.checkpoint import VOCAB_DIR, RunFolderError, load_run
from qsr_model.explain import Explanation, QueryItemLinks

logger = logging.getLogger(__name__)

ITEM_PREFIX = "i:"
QUERY_PREFIX = "q:"

#: An event of a history: ``("query", text)``, ``("item", raw_id)``, ``"q:text"`` or ``"i:raw_id"``.
Event = Union[str, Sequence[Any]]

#: Scores held in memory at once when scoring many histories: chunks of
#: histories are sized so that ``chunk * num_items`` stays below this.
SCORE_BUDGET = 1 << 24


class HistoryError(ValueError):
    """A history, or one of its events, that cannot be read."""


class EmptyHistoryError(HistoryError):
    """A history with no event in the run's vocabularies."""


class HistoryWarning(UserWarning):
    """Events of a history that were skipped, or query words that were dropped."""


@dataclass(frozen=True)
class Recommendation:
    """One recommended item.

    Args:
        item (str): raw item id, as in the input data.
        score (float): the model's score (inner product, higher is better).
        explanation (Explanation, optional): the query of the history that
            leads to the item in the graph; ``None`` when not requested or when
            no query does.
    """

    item: str
    score: float
    explanation: Explanation | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the recommendation as a JSON-ready dict."""
        out: dict[str, Any] = {"item": self.item, "score": self.score}
        if self.explanation is not None:
            out["explanation"] = self.explanation.to_dict()
        return out


# Parsing events ------------------------------------------------------------


def parse_event(event: Event, where: str = "event") -> tuple[str, str]:
    """Read one history event as ``(kind, value)`` with kind ``"query"`` or ``"item"``.

    Item ids given as integers become strings, and whitespace around item ids
    is removed.

    Args:
        event: ``"q:text"``, ``"i:raw_id"``, ``("query", text)`` or ``("item", raw_id)``.
        where (str, optional): the event's place, used in messages.

    Raises:
        HistoryError: the event has another form or an empty value.

    Example:
        >>> parse_event("q:Hot air balloon"), parse_event(("item", 12345))
        (('query', 'Hot air balloon'), ('item', '12345'))
    """
    if isinstance(event, str):
        if event.startswith(QUERY_PREFIX):
            kind, value = "query", event[len(QUERY_PREFIX):]
        elif event.startswith(ITEM_PREFIX):
            kind, value = "item", event[len(ITEM_PREFIX):]
        else:
            raise HistoryError(
                f"{where}: {event!r} must start with {QUERY_PREFIX!r} (a query) or "
                f"{ITEM_PREFIX!r} (an item id)")
    elif isinstance(event, (tuple, list)) and len(event) == 2 and event[0] in ("query", "item"):
        kind, value = event
        if kind == "item" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise HistoryError(f"{where}: the {kind} in {event!r} must be a string")
    else:
        raise HistoryError(
            f"{where}: {event!r} is not an event; expected ('query', text), ('item', id), "
            f"'{QUERY_PREFIX}text' or '{ITEM_PREFIX}id'")
    if kind == "item":
        value = value.strip()
    if not value.strip():
        raise HistoryError(f"{where}: {event!r} has an empty {kind}")
    return kind, value


# Vocabularies --------------------------------------------------------------


@dataclass
class Vocabulary:
    """The run's item, query and word vocabularies, with look-ups by raw value.

    Args:
        item_ids (list[str]): raw item id of each item id.
        query_texts (list[str]): normalised text (query key) of each query id.
        query_words (np.ndarray): ``[num_queries, W]`` word ids, padded with -1.
        words (list[str]): text of each word id.
        max_query_words (int): words kept per query when the data was prepared.
    """

    item_ids: list[str]
    query_texts: list[str]
    query_words: np.ndarray
    words: list[str]
    max_query_words: int

    def __post_init__(self) -> None:
        self.item_index = {item: i for i, item in enumerate(self.item_ids)}
        self.query_index = {text: q for q, text in enumerate(self.query_texts)}
        self.word_index = {word: w for w, word in enumerate(self.words)}

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset) -> "Vocabulary":
        """Take the vocabularies of a prepared dataset."""
        max_query_words = dataset.options.get("max_query_words", dataset.query_words.shape[1])
        return cls(item_ids=[str(i) for i in dataset.item_ids],
                   query_texts=list(dataset.query_texts), query_words=dataset.query_words,
                   words=list(dataset.words), max_query_words=int(max_query_words))

    @classmethod
    def load(cls, folder: str | Path) -> "Vocabulary":
        """Read the ``vocab/`` folder of a run (the prepared dataset's vocabulary files).

        Raises:
            RunFolderError: a file is missing or unreadable.
        """
        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            item_ids = pd.read_parquet(folder / "items.parquet")["item_id"].astype(str).tolist()
            query_texts = pd.read_parquet(folder / "queries.parquet")["text"].tolist()
            words = pd.read_parquet(folder / "words.parquet")["word"].tolist()
            query_words = np.load(folder / "query_words.npy", allow_pickle=False)
        except FileNotFoundError as err:
            raise RunFolderError(
                f"{folder}: missing vocabulary file {Path(err.filename).name}") from err
        except (ValueError, KeyError, OSError) as err:
            raise RunFolderError(f"{folder}: invalid vocabulary file ({err})") from err
        max_query_words = manifest.get("options", {}).get("max_query_words")
        if max_query_words is None:
            max_query_words = max(1, query_words.shape[1] if query_words.ndim == 2 else 1)
        return cls(item_ids=item_ids, query_texts=query_texts,
                   query_words=query_words.reshape(len(query_texts), -1), words=words,
                   max_query_words=int(max_query_words))

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def query_bag(self, text: str) -> tuple[int, list[int], list[str]]:
        """Return ``(query id or -1, word ids, unknown words)`` of a raw query text.

        A query in the vocabulary gets its stored bag. A new query gets the ids
        of its known words in order, at most ``max_query_words`` of them. The
        cut comes after unknown words are dropped, so a known word later in the
        text still counts.
        """
        key = query_key(text)
        query = self.query_index.get(key, -1)
        if query >= 0:
            row = self.query_words[query]
            return query, row[row != WORD_PAD].tolist(), []
        known: list[int] = []
        unknown: list[str] = []
        for word in normalize_query(text, max_words=None):
            word_id = self.word_index.get(word)
            if word_id is None:
                unknown.append(word)
            else:
                known.append(word_id)
        return -1, known[:self.max_query_words], unknown


# Encoded histories ---------------------------------------------------------


@dataclass(frozen=True)
class EncodedHistory:
    """One history in the run's ids, after skipping unknown events and cutting old ones.

    Args:
        kinds (list[int]): :data:`KIND_ITEM` or :data:`KIND_QUERY` of each kept event.
        tokens (list[int]): item id of item events; query id of query events
            (-1 for a query outside the vocabulary).
        bags (list[list[int]]): word ids of each query event, empty for items.
        positions (list[int]): index of each kept event in the history as given.
        texts (list[str]): normalised text of each query event, empty for items.
        seen_items (list[int]): every known item of the whole history, also
            those cut by the maximum length (for ``exclude_history``).
    """

    kinds: list[int]
    tokens: list[int]
    bags: list[list[int]]
    positions: list[int]
    texts: list[str]
    seen_items: list[int]

    def queries(self) -> list[tuple[int, int, str]]:
        """Return the kept queries as ``(query id or -1, position, text)`` in time order."""
        return [(token, position, text) for kind, token, position, text
                in zip(self.kinds, self.tokens, self.positions, self.texts) if kind == KIND_QUERY]


def _graph_path(run_dir: Path, config: dict[str, Any]) -> Path | None:
    """Return the graph file named in a run's config: as written, or relative to the run."""
    name = config.get("graph")
    if not name:
        return None
    path = Path(name)
    if not path.is_absolute() and not path.exists() and (run_dir / path).exists():
        path = run_dir / path
    return path


def _load_links(path: Path, vocabulary: Vocabulary) -> QueryItemLinks:
    """Read a graph file and return its query-item links, checked against the run's vocabularies."""
    from qsr_graph.io import load_graph

    return QueryItemLinks.from_graph(load_graph(path), vocabulary.item_ids,
                                     vocabulary.query_texts, source=str(path))


def _outside_stacklevel() -> int:
    """Return the ``stacklevel`` that points a warning at the first caller outside this module."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
        level += 1
    return level


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


# The recommender -----------------------------------------------------------


class Recommender:
    """Top-k recommendation from raw histories with a trained sequential model.

    Build it with :meth:`load` from a run folder. Scores are the model's item
    scores at the latest event of a history, so they equal what evaluation
    computes for the same input.

    Args:
        model (torch.nn.Module): a :class:`qsr_model.base.SequentialRecommender`.
        vocabulary (Vocabulary): the run's vocabularies.
        max_length (int): events the model reads; longer histories keep their
            most recent ones.
        use_queries (bool): whether the model was trained with queries. A model
            trained without them ignores the queries of a history.
        links (QueryItemLinks, optional): the graph's query-item links, needed
            for explanations.
        device (str or torch.device, optional): where the model runs.
    """

    def __init__(self, model: torch.nn.Module, vocabulary: Vocabulary, max_length: int,
                 use_queries: bool = True, links: QueryItemLinks | None = None,
                 device: str | torch.device = "cpu") -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.use_queries = use_queries
        self.links = links
        self._warned_no_queries = False
        #: Why ``links`` is missing, for the message of ``explain=True``.
        self.graph_problem = "no graph was given"

    @property
    def num_items(self) -> int:
        return self.vocabulary.num_items

    # Loading ------------------------------------------------------------

    @classmethod
    def load(cls, run_dir: str | Path, graph: str | Path | None = None,
             device: str | torch.device = "cpu") -> "Recommender":
        """Load the best model of a run folder, its vocabularies and its graph.

        The graph is the file given in ``graph``, or else the graph named in
        the run's ``config.json``. Without a usable graph the recommender works
        but cannot explain: a graph named in ``config.json`` that is missing or
        does not load is logged, and a given one raises.

        Args:
            run_dir (str or Path): folder written by ``qsr train``.
            graph (str or Path, optional): graph file to explain with.
            device (str or torch.device, optional): where the model runs. (default: ``"cpu"``)

        Raises:
            RunFolderError: ``run_dir`` is missing or is not a complete run.
            FileNotFoundError: ``graph`` is given and does not exist.
            ValueError: ``graph`` is given and is not a qsr graph of this run's data.
        """
        run_dir = Path(run_dir)
        model, model_config, train_config, info = load_run(run_dir, device=device)
        vocabulary = Vocabulary.load(run_dir / VOCAB_DIR)
        if model.num_items != vocabulary.num_items:
            raise RunFolderError(
                f"{run_dir}: the model scores {model.num_items} items but vocab/ has "
                f"{vocabulary.num_items}; the run folder is inconsistent, train it again")
        links = None
        graph_problem = "the run names no graph"
        if graph is not None:
            graph_path = Path(graph)
            if not graph_path.is_file():
                raise FileNotFoundError(f"{graph_path}: graph file not found")
            links = _load_links(graph_path, vocabulary)
        else:
            graph_path = _graph_path(run_dir, info)
            # Recommending needs no graph, so a graph named in config.json
            # that cannot be used only turns explanations off.
            if graph_path is not None and not graph_path.is_file():
                graph_problem = f"{graph_path}: graph file not found"
            elif graph_path is not None:
                try:
                    links = _load_links(graph_path, vocabulary)
                except ValueError as err:
                    graph_problem = str(err)
            if links is None and graph_path is not None:
                logger.info("recommendations cannot be explained: %s", graph_problem)
        recommender = cls(model, vocabulary, max_length=model_config.max_length,
                          use_queries=train_config.use_queries, links=links, device=device)
        recommender.graph_problem = graph_problem
        return recommender

    # Encoding -----------------------------------------------------------

    def encode(self, history: Sequence[Event], label: str = "history") -> EncodedHistory:
        """Turn one raw history into the run's ids.

        Args:
            history (Sequence): events in time order (see the module docstring).
            label (str, optional): the history's name in messages, such as
                ``"line 3"``. (default: ``"history"``)

        Returns:
            The encoded history, cut to the latest ``max_length`` events.

        Raises:
            HistoryError: ``history`` is not a list of events, or an event is malformed.
            EmptyHistoryError: no event is left after skipping unknown ones.
        """
        if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
            raise HistoryError(
                f"{label}: a history must be a list of events, got {type(history).__name__}")
        vocab = self.vocabulary
        kinds: list[int] = []
        tokens: list[int] = []
        bags: list[list[int]] = []
        positions: list[int] = []
        texts: list[str] = []
        unknown_items: list[str] = []
        empty_queries: list[str] = []
        dropped_words: list[str] = []
        ignored_queries = 0
        for position, event in enumerate(history):
            kind, value = parse_event(event, where=f"{label}, event {position}")
            if kind == "item":
                item = vocab.item_index.get(value)
                if item is None:
                    unknown_items.append(value)
                    continue
                kinds.append(KIND_ITEM)
                tokens.append(item)
                bags.append([])
                texts.append("")
            else:
                if not self.use_queries:
                    ignored_queries += 1
                    continue
                query, bag, unknown = vocab.query_bag(value)
                if not bag:
                    empty_queries.append(value)
                    continue
                dropped_words.extend(w for w in unknown if w not in dropped_words)
                kinds.append(KIND_QUERY)
                tokens.append(query)
                bags.append(bag)
                texts.append(query_key(value))
            positions.append(position)

        self._warn_skipped(label, unknown_items, empty_queries, dropped_words, ignored_queries)
        if not kinds:
            if not history:
                reason = "it has no events"
            elif ignored_queries:
                reason = "it has no known item, and this model was trained without queries"
            else:
                reason = "none of its events is known to the run"
            raise EmptyHistoryError(f"{label}: cannot recommend from an empty history: {reason}")

        seen_items = sorted({t for k, t in zip(kinds, tokens) if k == KIND_ITEM})
        keep = slice(max(0, len(kinds) - self.max_length), None)
        return EncodedHistory(kinds=kinds[keep], tokens=tokens[keep], bags=bags[keep],
                              positions=positions[keep], texts=texts[keep], seen_items=seen_items)

    def _warn_skipped(self, label: str, unknown_items: list[str], empty_queries: list[str],
                      dropped_words: list[str], ignored_queries: int) -> None:
        parts = []
        if unknown_items:
            parts.append(f"skipped {len(unknown_items)} unknown item(s): {_quoted(unknown_items)}")
        if empty_queries:
            parts.append(f"skipped {len(empty_queries)} query(ies) with no known word: "
                         f"{_quoted(empty_queries)}")
        if dropped_words:
            parts.append(f"dropped query word(s) never seen in training: {_quoted(dropped_words)}")
        if parts:
            warnings.warn(f"{label}: " + "; ".join(parts), HistoryWarning,
                          stacklevel=_outside_stacklevel())
        if ignored_queries and not self._warned_no_queries:
            self._warned_no_queries = True
            warnings.warn("this model was trained without queries, so the queries of "
                          "histories are ignored", HistoryWarning,
                          stacklevel=_outside_stacklevel())

    # Scoring ------------------------------------------------------------

    def make_batch(self, encoded: Sequence[EncodedHistory]) -> SequenceBatch:
        """Build a left-padded model batch from encoded histories (latest event at ``L - 1``)."""
        return make_batch([h.kinds for h in encoded],
                          [[t if k == KIND_ITEM else 0 for k, t in zip(h.kinds, h.tokens)]
                           for h in encoded],
                          [h.bags for h in encoded], max_length=self.max_length)

    @torch.no_grad()
    def score_encoded(self, encoded: Sequence[EncodedHistory]) -> torch.Tensor:
        """Score every item for each encoded history in one forward pass.

        Returns:
            ``[len(encoded), num_items]`` float scores on the model's device.
        """
        batch = self.make_batch(encoded).to(self.device)
        hidden = self.model(batch)  # (B, L, D)
        return self.model.item_scores(hidden[:, -1])  # (B, I)

    def score(self, history: Sequence[Event]) -> torch.Tensor:
        """Return the model's ``[num_items]`` scores for one raw history."""
        return self.score_encoded([self.encode(history)])[0]

    # Recommending -------------------------------------------------------

    def recommend(self, history: Sequence[Event], k: int = 20, exclude_history: bool = False,
                  explain: bool = False) -> list[Recommendation]:
        """Recommend the top-k items after one history.

        Args:
            history (Sequence): the user's events in time order, each
                ``("query", text)``, ``("item", raw_id)``, ``"q:text"`` or ``"i:raw_id"``.
            k (int, optional): number of items. (default: 20)
            exclude_history (bool, optional): leave out items of the history. (default: False)
            explain (bool, optional): attach the latest query of the history
                that leads to each item in the graph. (default: False)

        Returns:
            Up to ``k`` recommendations, best first.

        Raises:
            HistoryError: an event is malformed.
            EmptyHistoryError: no event of the history is known.
            ValueError: ``k`` is below 1, or ``explain`` without a graph.
        """
        return self.recommend_batch([history], k=k, exclude_history=exclude_history,
                                    explain=explain, labels=["history"])[0]

    def recommend_batch(self, histories: Sequence[Sequence[Event]], k: int = 20,
                        exclude_history: bool = False, explain: bool = False,
                        batch_size: int = 256, labels: Sequence[str] | None = None,
                        ) -> list[list[Recommendation]]:
        """Recommend the top-k items after each of many histories.

        Histories are scored in chunks of at most ``batch_size``, each in one
        forward pass. Chunks shrink for large catalogues, so that a chunk's
        scores stay below :data:`SCORE_BUDGET` values.

        Args:
            histories (Sequence): histories as in :meth:`recommend`.
            k, exclude_history, explain: as in :meth:`recommend`.
            batch_size (int, optional): histories per forward pass. (default: 256)
            labels (Sequence[str], optional): names of the histories in
                messages. (default: ``"history 0"``, ``"history 1"``, ...)

        Returns:
            One list of recommendations per history.
        """
        if labels is None:
            labels = [f"history {i}" for i in range(len(histories))]
        if len(labels) != len(histories):
            raise ValueError(f"got {len(labels)} labels for {len(histories)} histories")
        encoded = [self.encode(h, label) for h, label in zip(histories, labels)]
        return self.recommend_encoded(encoded, k=k, exclude_history=exclude_history,
                                      explain=explain, batch_size=batch_size)

    def recommend_encoded(self, encoded: Sequence[EncodedHistory], k: int = 20,
                          exclude_history: bool = False, explain: bool = False,
                          batch_size: int = 256) -> list[list[Recommendation]]:
        """Recommend the top-k items after each of many histories already encoded."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if explain and self.links is None:
            raise ValueError(f"explanations need a query-item graph ({self.graph_problem}); "
                             f"pass one built from the run's dataset with --graph (graph=)")
        chunk = max(1, min(batch_size, SCORE_BUDGET // max(1, self.num_items)))
        # Histories of similar length share a chunk, so little of a chunk is
        # padding. Padding does not change a history's scores because the
        # model's positions count back from the latest event.
        order = sorted(range(len(encoded)), key=lambda row: len(encoded[row].kinds))
        results: list[list[Recommendation]] = [[] for _ in encoded]
        for start in range(0, len(order), chunk):
            rows = order[start:start + chunk]
            part = [encoded[row] for row in rows]
            scores = self.score_encoded(part)  # (C, I)
            for row, recs in zip(rows, self._top_k(part, scores, k, exclude_history, explain)):
                results[row] = recs
        return results

    def _top_k(self, encoded: Sequence[EncodedHistory], scores: torch.Tensor, k: int,
               exclude_history: bool, explain: bool) -> list[list[Recommendation]]:
        if exclude_history:
            for row, history in enumerate(encoded):
                scores[row, history.seen_items] = float("-inf")
        top_scores, top_items = scores.topk(min(k, self.num_items), dim=1)  # (C, k)
        top_scores, top_items = top_scores.cpu(), top_items.cpu()
        results = []
        for row, history in enumerate(encoded):
            keep = torch.isfinite(top_scores[row]) if exclude_history else slice(None)
            items = top_items[row][keep].tolist()
            values = top_scores[row][keep].tolist()
            explanations: list[Explanation | None] = [None] * len(items)
            if explain and self.links is not None:
                explanations = self.links.explain(items, history.queries())
            results.append([Recommendation(self.vocabulary.item_ids[i], v, e)
                            for i, v, e in zip(items, values, explanations)])
        return results
