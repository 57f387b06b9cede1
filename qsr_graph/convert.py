"""Export a query-item graph to networkx, and write it as GraphML or a tab-separated edge list.

Nodes are named ``"item:<raw item id>"`` and ``"query:<normalised text>"``
(for example ``item:1234`` and ``query:red fort``), so the two types never
collide and every name stays readable in the written files.
"""
from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
from torch_geometric.data import HeteroData

from qsr_graph.atomic import atomic_file
from qsr_graph.build import ITEM, ITEM_SIMILAR, LEADS_TO, QUERY, QUERY_SIMILAR, SEARCHED_BY

#: Formats that :func:`write_graph` writes.
EXPORT_FORMATS = ("graphml", "edgelist")


def node_key(node_type: str, name: str) -> str:
    """Return the networkx node of a graph node, e.g. ``node_key("query", "red fort")``."""
    return f"{node_type}:{name}"


def to_networkx(data: HeteroData, include_similar: bool = False) -> nx.DiGraph:
    r"""Convert a query-item graph to a directed networkx graph that keeps names and weights.

    Every node carries ``type`` (``"item"`` or ``"query"``), ``name``, ``id``
    (its index in the graph) and ``frequency``. Every edge carries
    ``relation`` and ``weight``. Item-to-query edges are the ``searched_by``
    links (kept from the item side), query-to-item edges the ``leads_to``
    links, so a pair kept from both sides has an edge in each direction.

    Args:
        data (HeteroData): the graph.
        include_similar (bool, optional): also add the ``similar`` edges
            (item to item, query to query), weighted by shared neighbours.
            (default: :obj:`False`)

    Returns:
        :class:`networkx.DiGraph`.

    Example:
        >>> graph = to_networkx(data)  # doctest: +SKIP
        >>> graph.edges["item:a", "query:coffee"]  # doctest: +SKIP
        {'relation': 'searched_by', 'weight': 2.0}
    """
    graph = nx.DiGraph()
    for node_type in (ITEM, QUERY):
        store = data[node_type]
        frequency = store.frequency.tolist()
        graph.add_nodes_from(
            (node_key(node_type, name), {"type": node_type, "name": name, "id": index,
                                         "frequency": frequency[index]})
            for index, name in enumerate(store.name))

    relations = [SEARCHED_BY, LEADS_TO] + ([ITEM_SIMILAR, QUERY_SIMILAR] if include_similar else [])
    for src, relation, dst in relations:
        store = data[src, relation, dst]
        src_names, dst_names = data[src].name, data[dst].name
        rows, cols = store.edge_index.tolist()
        graph.add_edges_from(
            (node_key(src, src_names[row]), node_key(dst, dst_names[col]),
             {"relation": relation, "weight": weight})
            for row, col, weight in zip(rows, cols, store.edge_weight.tolist()))
    return graph


def write_graph(graph: nx.Graph, path: str | os.PathLike, format: str) -> Path:
    """Write a graph from :func:`to_networkx` as GraphML or as a tab-separated edge list.

    The edge list has one line per edge: source, target, weight and relation,
    separated by tabs (node names may contain spaces, never tabs). The file is
    written under a temporary name and renamed, so a failure leaves no partial
    file.

    Args:
        graph (networkx.Graph): the graph.
        path (str or os.PathLike): the file to write.
        format (str): ``"graphml"`` or ``"edgelist"``.

    Returns:
        The path written.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, "
                         f"got {format!r}")
    path = Path(path)
    if format == "edgelist":
        with_tab = next((n for n in graph.nodes if "\t" in str(n)), None)
        if with_tab is not None:
            raise ValueError(f"node name {with_tab!r} contains a tab, which the tab-separated "
                             f"edge list cannot hold; export as graphml instead")
    with atomic_file(path) as tmp:
        if format == "graphml":
            nx.write_graphml(graph, tmp)
        else:
            nx.write_edgelist(graph, tmp, delimiter="\t", data=["weight", "relation"])
    return path
