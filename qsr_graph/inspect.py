"""Look up one node of a query-item graph and describe it: links, similar nodes, augmentation odds."""
from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import torch
from torch_geometric.data import HeteroData

from qsr_graph.augment import DEFAULT_BETA_ITEM, DEFAULT_RHO, similar_draw_probability
from qsr_graph.build import ITEM, ITEM_SIMILAR, LEADS_TO, QUERY, QUERY_SIMILAR, SEARCHED_BY
from qsr_graph.data.text import query_key

#: Relation whose links a node of each type keeps from its own side.
OWN_RELATION = {ITEM: SEARCHED_BY, QUERY: LEADS_TO}
#: Relation whose links point at a node of each type from the other side.
OTHER_RELATION = {ITEM: LEADS_TO, QUERY: SEARCHED_BY}
SIMILAR_RELATION = {ITEM: ITEM_SIMILAR, QUERY: QUERY_SIMILAR}
OTHER_TYPE = {ITEM: QUERY, QUERY: ITEM}

# difflib compares strings one by one in Python. Above this many names the
# candidates are narrowed to those with the same first character and a close
# length, so that a lookup on a graph of millions of items takes seconds.
# NOTE: a typo in the first character then finds no suggestion.
_FULL_SCAN_LIMIT = 100_000


class NodeNotFoundError(ValueError):
    """No node has the requested name.

    Attributes:
        name (str): the name looked up.
        suggestions (list[str]): the closest existing names, best first.
    """

    def __init__(self, message: str, name: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.name = name
        self.suggestions = suggestions


def _lookup_key(node_type: str, name: str) -> str:
    return query_key(name) if node_type == QUERY else name


def _index_of(names: list[str], key: str) -> int | None:
    try:
        return names.index(key)
    except ValueError:
        return None


def suggest_names(data: HeteroData, name: str, node_type: str | None = None,
                  limit: int = 5) -> list[str]:
    """Return up to ``limit`` existing node names closest to ``name`` (difflib ratio >= 0.6).

    Query names are compared after normalisation. With ``node_type`` only that
    type is searched, otherwise items and queries together.
    """
    matches: list[tuple[float, str]] = []
    for current_type in ([node_type] if node_type else [ITEM, QUERY]):
        key = _lookup_key(current_type, name)
        pool: list[str] = data[current_type].name
        if len(pool) > _FULL_SCAN_LIMIT:
            pool = [n for n in pool if n[:1] == key[:1] and abs(len(n) - len(key)) <= 3]
        matcher = difflib.SequenceMatcher(b=key)
        for candidate in difflib.get_close_matches(key, pool, n=limit):
            matcher.set_seq1(candidate)
            matches.append((matcher.ratio(), candidate))
    matches.sort(key=lambda m: (-m[0], m[1]))
    return list(dict.fromkeys(m[1] for m in matches))[:limit]


def find_node(data: HeteroData, name: str, node_type: str | None = None) -> tuple[str, int]:
    """Find a node by item id or by query text.

    An item matches when its raw id equals ``name``; a query matches when its
    normalised text equals :func:`qsr_graph.data.query_key` of ``name``.

    Args:
        data (HeteroData): the graph.
        name (str): raw item id or query text.
        node_type (str, optional): ``"item"`` or ``"query"``; required when
            ``name`` matches one node of each type.

    Returns:
        ``(node_type, node_id)``.

    Raises:
        NodeNotFoundError: no node of the searched types has that name; the
            message lists the closest names.
        ValueError: ``node_type`` is unknown, or ``name`` matches an item and a
            query while ``node_type`` is ``None``.
    """
    if node_type is not None and node_type not in (ITEM, QUERY):
        raise ValueError(f"node type must be 'item' or 'query', got {node_type!r}")
    found = {}
    for current_type in ([node_type] if node_type else [ITEM, QUERY]):
        index = _index_of(data[current_type].name, _lookup_key(current_type, name))
        if index is not None:
            found[current_type] = index
    if len(found) > 1:
        raise ValueError(f"{name!r} names both an item and a query; choose one with --type item "
                         f"or --type query")
    if found:
        (found_type, index), = found.items()
        return found_type, index

    suggestions = suggest_names(data, name, node_type)
    what = f"{node_type}" if node_type else "item or query"
    hint = f"; closest names: {', '.join(repr(s) for s in suggestions)}" if suggestions else ""
    raise NodeNotFoundError(f"no {what} named {name!r} in the graph{hint}", name, suggestions)


def _links_from(edge_index: torch.Tensor, edge_weight: torch.Tensor, node: int,
                column: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the other ends and weights of the links whose ``column`` end is ``node``."""
    mask = edge_index[column] == node
    return edge_index[1 - column][mask], edge_weight[mask]


def _ranked(ids: torch.Tensor, weights: torch.Tensor, secondary: torch.Tensor) -> list[int]:
    """Order link positions by weight desc, then ``secondary`` desc, then id asc."""
    order = np.lexsort((ids.numpy(), -secondary.numpy(), -weights.numpy()))
    return order.tolist()


def node_report(data: HeteroData, node_type: str, node_id: int, top: int = 20,
                rho: float = DEFAULT_RHO, beta: float = DEFAULT_BETA_ITEM) -> dict[str, Any]:
    r"""Describe one node: frequency, degrees, strongest links, similar nodes and augmentation odds.

    Neighbours are the links the node keeps after alpha, by weight descending
    and then id ascending. Similar nodes are listed by shared neighbours
    descending, then frequency descending, then id ascending (the order the
    build keeps them in). The augmentation chance is
    :func:`qsr_graph.augment.similar_draw_probability` for the node's stored
    similar set, and times ``beta`` for the chance per token.

    Args:
        data (HeteroData): the graph.
        node_type (str): ``"item"`` or ``"query"``.
        node_id (int): the node's id.
        top (int, optional): neighbours and similar nodes listed. (default: 20)
        rho (float, optional): weight of a similar node against any other
            node when a replacement is drawn, at least 1.
            (default: :data:`qsr_graph.augment.DEFAULT_RHO`)
        beta (float, optional): chance that a token is replaced, in [0, 1].
            (default: :data:`qsr_graph.augment.DEFAULT_BETA_ITEM`)

    Returns:
        A JSON-ready dict.
    """
    if not 0 <= beta <= 1:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if top < 0:
        raise ValueError(f"top must be at least 0, got {top}")
    other_type = OTHER_TYPE[node_type]
    nodes, others = data[node_type], data[other_type]

    own = data[OWN_RELATION[node_type]]
    neighbour_ids, neighbour_weights = _links_from(own.edge_index, own.edge_weight, node_id)
    order = _ranked(neighbour_ids, neighbour_weights, torch.zeros_like(neighbour_ids))
    neighbours = [{"id": int(neighbour_ids[k]), "name": others.name[int(neighbour_ids[k])],
                   "weight": float(neighbour_weights[k])} for k in order[:top]]
    other = data[OTHER_RELATION[node_type]]
    kept_by, _ = _links_from(other.edge_index, other.edge_weight, node_id, column=1)

    similar = data[SIMILAR_RELATION[node_type]]
    similar_ids, shared = _links_from(similar.edge_index, similar.edge_weight, node_id)
    order = _ranked(similar_ids, shared, nodes.frequency[similar_ids])
    similar_list = [{"id": int(similar_ids[k]), "name": nodes.name[int(similar_ids[k])],
                     "shared": int(shared[k])} for k in order[:top]]

    num_nodes = int(nodes.num_nodes)
    probability = similar_draw_probability(num_nodes, len(similar_ids), rho)
    config = dict(getattr(data, "graph_config", {}) or {})
    return {
        "type": node_type,
        "id": int(node_id),
        "name": nodes.name[node_id],
        "frequency": int(nodes.frequency[node_id]),
        "degree_e1": int(nodes.degree_e1[node_id]),
        "degree": len(neighbour_ids),
        "kept_by_neighbours": len(kept_by),
        "alpha": config.get("alpha"),
        "neighbours": neighbours,
        "num_similar": len(similar_ids),
        "similar_candidates": int(nodes.num_candidates[node_id]),
        "similar_truncated": int(nodes.num_candidates[node_id]) > len(similar_ids),
        "similar": similar_list,
        "augmentation": {
            "rho": rho,
            "beta": beta,
            "num_nodes": num_nodes,
            "similar_draw_probability": probability,
            "per_token_probability": beta * probability,
        },
    }


def format_node_report(report: dict[str, Any]) -> str:
    """Render :func:`node_report` output as the text ``qsr graph inspect`` prints."""
    node_type = report["type"]
    other_type = OTHER_TYPE[node_type]
    lines = [
        f"{node_type} {report['name']!r} (id {report['id']})",
        f"frequency: {report['frequency']:,} training events",
        f"degree: {report['degree_e1']:,} {other_type} links before alpha, "
        f"{report['degree']:,} after (alpha {report['alpha']}); "
        f"kept by {report['kept_by_neighbours']:,} {other_type} nodes from their side",
        "",
        f"{other_type} links, top {len(report['neighbours'])} of {report['degree']:,} by weight:",
    ]
    lines += [f"  {n['weight']:>8g}  {n['name']}" for n in report["neighbours"]]

    cap_note = (f", cut from {report['similar_candidates']:,} candidates"
                if report["similar_truncated"] else "")
    lines += ["", f"similar {node_type} nodes, top {len(report['similar'])} of "
                  f"{report['num_similar']:,}{cap_note}, by shared {other_type} neighbours:"]
    lines += [f"  {s['shared']:>8,}  {s['name']}" for s in report["similar"]]

    aug = report["augmentation"]
    lines += [
        "",
        f"augmentation (rho {aug['rho']:g}, beta {aug['beta']:g}, {aug['num_nodes']:,} "
        f"{node_type} nodes):",
        f"  chance that a replacement is a similar {node_type}: "
        f"{aug['similar_draw_probability']:.6f}",
        f"  chance per token (times beta): {aug['per_token_probability']:.6f}",
    ]
    return "\n".join(lines)
