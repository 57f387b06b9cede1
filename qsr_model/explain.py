"""Explanations of recommended items from the query-item graph.

An item recommended after a history is explained by a query of that history
which leads to the item in the training graph, through a ``("query",
"leads_to", "item")`` link. The link's weight is the number of times the pair
occurred in the training sequences. Links removed by the graph's alpha
threshold explain nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

LEADS_TO = ("query", "leads_to", "item")


class GraphMismatchError(ValueError):
    """A graph whose nodes are not the vocabularies of the run it is used with."""


@dataclass(frozen=True)
class Explanation:
    """A query of the history that leads to a recommended item in the graph.

    Args:
        query (str): the query's normalised text.
        position (int): index of the query event in the history as given,
            counting skipped events too.
        weight (float): weight of the ``query -> item`` link (pair count).
    """

    query: str
    position: int
    weight: float

    def to_dict(self) -> dict[str, Any]:
        """Return the explanation as a JSON-ready dict."""
        return {"query": self.query, "position": self.position, "weight": self.weight}

    def __str__(self) -> str:
        return f"query {self.query!r} leads to it (weight {self.weight:g})"


class QueryItemLinks:
    r"""The graph's ``query -> item`` links in CSR form, for look-ups by query.

    Args:
        ptr (np.ndarray): ``[num_queries + 1]`` int64; query ``q``'s links are
            entries ``ptr[q]:ptr[q + 1]``.
        items (np.ndarray): ``[E]`` int64 target item of each link.
        weights (np.ndarray): ``[E]`` float64 weight of each link.
    """

    def __init__(self, ptr: np.ndarray, items: np.ndarray, weights: np.ndarray) -> None:
        self.ptr = ptr
        self.items = items
        self.weights = weights

    @property
    def num_queries(self) -> int:
        return int(self.ptr.shape[0] - 1)

    @classmethod
    def from_edges(cls, edge_index: np.ndarray, edge_weight: np.ndarray,
                   num_queries: int) -> "QueryItemLinks":
        """Build the look-up from a ``[2, E]`` edge index (row = query) and ``[E]`` weights."""
        rows = np.asarray(edge_index[0], dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=num_queries)
        ptr = np.zeros(num_queries + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return cls(ptr,
                   np.asarray(edge_index[1], dtype=np.int64)[order],
                   np.asarray(edge_weight, dtype=np.float64)[order])

    @classmethod
    def from_graph(cls, data: "HeteroData", item_ids: Sequence[str],
                   query_texts: Sequence[str], source: str = "graph") -> "QueryItemLinks":
        """Build the look-up from a qsr graph, after checking its nodes are the run's vocabularies.

        Args:
            data (HeteroData): graph with ``("query", "leads_to", "item")`` links.
            item_ids (Sequence[str]): the run's raw item ids, by item id.
            query_texts (Sequence[str]): the run's normalised query texts, by query id.
            source (str, optional): name of the graph in messages, such as its path.

        Raises:
            GraphMismatchError: the graph has other item or query nodes, or no
                ``leads_to`` links.
        """
        for node_type, names in (("item", item_ids), ("query", query_texts)):
            if node_type not in data.node_types:
                raise GraphMismatchError(f"{source}: graph has no {node_type!r} nodes")
            store = data[node_type]
            if store.num_nodes != len(names):
                raise GraphMismatchError(
                    f"{source}: graph has {store.num_nodes} {node_type} nodes but the run has "
                    f"{len(names)}; use the graph the run was trained with")
            graph_names = getattr(store, "name", None)
            if graph_names is not None and list(graph_names) != list(names):
                first = next(i for i, (a, b) in enumerate(zip(graph_names, names)) if a != b)
                raise GraphMismatchError(
                    f"{source}: {node_type} node {first} is {graph_names[first]!r} in the graph "
                    f"but {names[first]!r} in the run; use the graph the run was trained with")
        if LEADS_TO not in data.edge_types:
            raise GraphMismatchError(f"{source}: graph has no {LEADS_TO} links")
        store = data[LEADS_TO]
        edge_index = store.edge_index.cpu().numpy()
        weight = getattr(store, "edge_weight", None)
        edge_weight = (np.ones(edge_index.shape[1]) if weight is None
                       else weight.detach().cpu().numpy())
        return cls.from_edges(edge_index, edge_weight, len(query_texts))

    def links(self, query: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(items, weights)`` of one query's links."""
        lo, hi = self.ptr[query], self.ptr[query + 1]
        return self.items[lo:hi], self.weights[lo:hi]

    def explain(self, items: Sequence[int], queries: Sequence[tuple[int, int, str]]
                ) -> list[Explanation | None]:
        """Explain each item by the latest query of a history that leads to it.

        The latest query is preferred because it describes the user's current
        intent best. A query outside the graph's vocabulary (id ``-1``) explains
        nothing.

        Args:
            items (Sequence[int]): item ids to explain.
            queries (Sequence[tuple[int, int, str]]): the history's queries in
                time order, each ``(query id or -1, position in the history, text)``.

        Returns:
            One explanation per item, ``None`` where no query of the history
            leads to it.

        Example:
            >>> links = QueryItemLinks.from_edges(
            ...     np.array([[0, 0, 1], [5, 6, 5]]), np.array([2.0, 1.0, 4.0]), num_queries=2)
            >>> [str(e) for e in links.explain([5, 6, 7], [(0, 0, "a"), (1, 2, "b")])]
            ["query 'b' leads to it (weight 4)", "query 'a' leads to it (weight 1)", 'None']
        """
        requested = np.asarray(items, dtype=np.int64)
        found: list[Explanation | None] = [None] * len(requested)
        missing = np.ones(len(requested), dtype=bool)
        for query, position, text in reversed(queries):
            if not missing.any():
                break
            if query < 0:
                continue
            linked, weights = self.links(query)
            if linked.shape[0] == 0:
                continue
            order = np.argsort(linked)
            sorted_items = linked[order]
            spot = np.searchsorted(sorted_items, requested).clip(max=len(sorted_items) - 1)
            hit = missing & (sorted_items[spot] == requested)
            for row in np.flatnonzero(hit):
                weight = float(weights[order[spot[row]]])
                found[row] = Explanation(query=text, position=position, weight=weight)
            missing &= ~hit
        return found
