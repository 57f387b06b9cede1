"""Graph analytics on the query-item graph of the bundled trivago slice.

Builds the graph of ``data/trivago/trivago_val_100k.parquet.snappy`` (or of a
prepared dataset folder), exports it to networkx and reports:

1. degree distributions of items and queries (log-log plot),
2. connected components of the bipartite graph,
3. communities of the query-query projection (Louvain, networkx),
4. the most central queries of the projection (weighted PageRank),
5. a shortest path between two queries, through the items that link them.

Run:
    python examples/graph_analytics.py --output out/graph-analytics
    python examples/graph_analytics.py --dataset out/trivago --alpha 1 \\
        --source "new york usa" --target "london united kingdom" --output out/ga

Writes ``degree_distribution.png``, ``component_sizes.png`` and
``summary.json`` to the output folder and prints the findings.
"""
from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402
import networkx as nx  # noqa: E402
from networkx.algorithms import bipartite  # noqa: E402

from qsr_graph.build import GraphConfig, build_graph  # noqa: E402
from qsr_graph.convert import node_key, to_networkx  # noqa: E402
from qsr_graph.data import SequenceDataset, query_key  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
TRIVAGO = REPO_ROOT / "data" / "trivago" / "trivago_val_100k.parquet.snappy"


def load_dataset(folder: Path | None) -> SequenceDataset:
    """Load a prepared dataset, or prepare the bundled trivago slice with default options."""
    if folder is not None:
        return SequenceDataset.load(folder)
    from qsr_graph.data.prepare import prepare
    from qsr_graph.data.readers import read_events

    read = read_events("trivago", [TRIVAGO])
    return prepare(read.events, dropped=read.dropped, source=read.source)


def plot_degrees(graph: nx.Graph, path: Path) -> dict[str, dict[str, float]]:
    """Plot how many nodes of each type have each degree, on log-log axes."""
    figure, axes = plt.subplots(figsize=(6, 4.5))
    summary = {}
    for node_type, marker in (("item", "o"), ("query", "s")):
        degrees = [d for n, d in graph.degree() if graph.nodes[n]["type"] == node_type and d > 0]
        counts = Counter(degrees)
        xs = sorted(counts)
        axes.loglog(xs, [counts[x] for x in xs], marker, label=f"{node_type} ({len(degrees):,} linked)",
                    alpha=0.7)
        summary[node_type] = {"linked": len(degrees), "max_degree": max(degrees, default=0),
                              "mean_degree": sum(degrees) / max(len(degrees), 1)}
    axes.set_xlabel("degree (distinct linked nodes)")
    axes.set_ylabel("number of nodes")
    axes.set_title("Degree distribution of the query-item graph")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return summary


def plot_component_sizes(sizes: list[int], path: Path) -> None:
    """Plot the number of connected components of each size, on log-log axes."""
    counts = Counter(sizes)
    xs = sorted(counts)
    figure, axes = plt.subplots(figsize=(6, 4.5))
    axes.loglog(xs, [counts[x] for x in xs], "o")
    # Over less than two decades matplotlib labels the minor ticks in
    # scientific notation, and the labels overlap: use plain 1-2-5 ticks.
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.xaxis.set_major_formatter(ScalarFormatter())
    ticks = [t * 10**e for e in range(7) for t in (1, 2, 5)]
    axes.set_xticks([t for t in ticks if xs[0] <= t <= xs[-1]])
    axes.set_xlabel("component size (nodes)")
    axes.set_ylabel("number of components")
    axes.set_title("Connected components (isolated nodes left out)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None,
                        help="prepared dataset folder (default: prepare the bundled trivago slice)")
    parser.add_argument("--alpha", type=float, default=1.0, help="alpha of the graph (default: 1)")
    parser.add_argument("--source", default=None, help="first query of the path (default: the "
                        "most frequent query of the largest projection component)")
    parser.add_argument("--target", default=None, help="second query of the path (default: the "
                        "query of that component farthest from the first)")
    parser.add_argument("--top", type=int, default=10, help="queries listed per ranking")
    parser.add_argument("--output", type=Path, required=True, help="folder for plots and summary")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.output.mkdir(parents=True, exist_ok=True)

    dataset = load_dataset(args.dataset)
    data = build_graph(dataset, GraphConfig(alpha=args.alpha))
    # Links kept from either side, as one undirected bipartite graph.
    graph = to_networkx(data).to_undirected()
    summary: dict = {"alpha": args.alpha, "nodes": graph.number_of_nodes(),
                     "links": graph.number_of_edges()}
    print(f"graph: {data['item'].num_nodes:,} items, {data['query'].num_nodes:,} queries, "
          f"{graph.number_of_edges():,} undirected links (alpha {args.alpha:g})")

    # 1. Degree distributions:
    summary["degrees"] = plot_degrees(graph, args.output / "degree_distribution.png")
    for node_type, values in summary["degrees"].items():
        print(f"{node_type}: {values['linked']:,} linked, mean degree {values['mean_degree']:.2f}, "
              f"max {values['max_degree']}")

    # 2. Connected components, isolated nodes aside:
    linked = graph.subgraph(n for n, d in graph.degree() if d > 0)
    components = sorted(nx.connected_components(linked), key=len, reverse=True)
    sizes = [len(c) for c in components]
    plot_component_sizes(sizes, args.output / "component_sizes.png")
    largest = components[0]
    largest_queries = sum(1 for n in largest if graph.nodes[n]["type"] == "query")
    summary["components"] = {"count": len(components), "largest": sizes[0],
                             "largest_queries": largest_queries,
                             "isolated": graph.number_of_nodes() - linked.number_of_nodes()}
    print(f"components: {len(components):,} (isolated nodes aside: "
          f"{summary['components']['isolated']:,}); largest has {sizes[0]:,} nodes "
          f"({largest_queries:,} queries); sizes of the next five: {sizes[1:6]}")

    # 3. Query-query projection and its communities:
    queries = [n for n in linked if graph.nodes[n]["type"] == "query"]
    projection = bipartite.weighted_projected_graph(linked, queries)
    projection.remove_nodes_from([n for n, d in projection.degree() if d == 0])
    communities = nx.community.louvain_communities(projection, weight="weight", seed=0)
    communities = sorted(communities, key=len, reverse=True)
    modularity = nx.community.modularity(projection, communities, weight="weight")
    frequency = {n: graph.nodes[n]["frequency"] for n in projection}
    top_communities = [sorted(c, key=lambda n: (-frequency[n], n))[:5] for c in communities[:5]]
    summary["projection"] = {"queries": projection.number_of_nodes(),
                             "links": projection.number_of_edges(),
                             "communities": len(communities), "modularity": modularity,
                             "largest_communities": [[n.split(":", 1)[1] for n in c]
                                                     for c in top_communities]}
    print(f"query projection: {projection.number_of_nodes():,} queries with a shared item, "
          f"{projection.number_of_edges():,} links, {len(communities)} Louvain communities, "
          f"modularity {modularity:.3f}")
    for members, community in zip(top_communities, communities):
        names = ", ".join(n.split(":", 1)[1] for n in members)
        print(f"  {len(community):>4} queries: {names}, ...")

    # 4. Central queries by weighted PageRank on the projection:
    rank = nx.pagerank(projection, weight="weight")
    central = sorted(rank, key=lambda n: (-rank[n], n))[:args.top]
    summary["central_queries"] = [{"query": n.split(":", 1)[1], "pagerank": rank[n],
                                   "degree": projection.degree(n)} for n in central]
    print("most central queries (weighted PageRank on the projection):")
    for n in central:
        print(f"  {rank[n]:.4f}  {n.split(':', 1)[1]} ({projection.degree(n)} linked queries)")

    # 5. A path between two queries, through the items that link them. By
    # default: the most frequent query of the largest projection component,
    # and the query of that component farthest from it.
    component = max(nx.connected_components(projection), key=len)
    source = (node_key("query", query_key(args.source)) if args.source
              else min(component, key=lambda n: (-frequency[n], n)))
    if args.target:
        target = node_key("query", query_key(args.target))
    else:
        hops = nx.single_source_shortest_path_length(graph, source)
        target = max(component, key=lambda n: (hops.get(n, -1), frequency[n], n))
    try:
        path = nx.shortest_path(graph, source, target)
    except (nx.NetworkXNoPath, nx.NodeNotFound) as err:
        path = []
        print(f"no path from {source} to {target}: {err}")
    summary["path"] = path
    if path:
        print(f"shortest path ({len(path) - 1} links): " + " -> ".join(path))

    (args.output / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"wrote {args.output}/degree_distribution.png, component_sizes.png and summary.json")


if __name__ == "__main__":
    main()
