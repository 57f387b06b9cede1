"""``qsr graph`` commands: build the query-item graph, inspect a node, export to networkx formats."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

from qsr_cli.errors import show_progress, user_errors
from qsr_graph.augment import DEFAULT_BETA_ITEM, DEFAULT_BETA_QUERY, DEFAULT_RHO
from qsr_graph.build import GraphConfig

logger = logging.getLogger(__name__)


@click.group()
def graph() -> None:
    """Build the query-item graph of a prepared dataset, and look inside it."""


def _format_build_summary(stats: dict, config: GraphConfig, output: Path, timings: dict) -> str:
    nodes, isolated = stats["num_nodes"], stats["isolated"]
    lines = [
        f"Wrote {output}",
        f"nodes: {nodes['item']:,} items, {nodes['query']:,} queries "
        f"(from {stats['num_train_events']:,} training events)",
        f"isolated (no training link): {isolated['item']:,} items, {isolated['query']:,} queries",
        "",
        f"{'links':<22}{'E1':>12}{f'alpha {config.alpha:g}':>14}",
        f"{'item searched_by query':<22}{stats['links_e1']:>12,}{stats['links']['searched_by']:>14,}",
        f"{'query leads_to item':<22}{stats['links_e1']:>12,}{stats['links']['leads_to']:>14,}",
        "",
        f"{'similar sets':<14}{'links':>12}{'mean':>8}{'median':>8}{'max':>6}{'truncated':>11}",
    ]
    for node_type in ("item", "query"):
        s = stats["similar"][node_type]
        lines.append(f"{node_type:<14}{s['links']:>12,}{s['mean']:>8.2f}{s['median']:>8g}"
                     f"{s['max']:>6}{s['truncated']:>11,}")
    cap = "no cap" if config.max_similar is None else f"cap {config.max_similar}"
    expand = ("every link expanded" if config.max_expand is None
              else f"hubs expand their {config.max_expand} heaviest links: "
                   f"{stats['similar']['item']['hubs_cut']:,} queries and "
                   f"{stats['similar']['query']['hubs_cut']:,} items cut")
    lines += [
        f"({cap}; {expand})",
        "",
        f"time: {timings['total']:.1f} s (load {timings['load']:.1f} s, build "
        f"{timings['build']:.1f} s, save {timings['save']:.1f} s)",
    ]
    return "\n".join(lines)


@graph.command("build")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .pt file to write the graph to.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True), default=GraphConfig.alpha,
              show_default=True,
              help="Share of its E1 links that each node keeps, by weight, in (0, 1].")
@click.option("--max-similar", type=click.IntRange(min=0), default=GraphConfig.max_similar,
              show_default=True,
              help="Similar nodes kept per node, the most shared first; 0 keeps all.")
@click.option("--max-expand", type=click.IntRange(min=0), default=GraphConfig.max_expand,
              show_default=True,
              help="Links a hub passes on when similar sets are formed, the heaviest "
                   "first; 0 expands all.")
@user_errors
def graph_build(dataset_dir: Path, output: Path, alpha: float, max_similar: int,
                max_expand: int) -> None:
    """Build the query-item graph of a prepared dataset.

    Only training events count: each user's validation and test targets, and
    the events after the validation target, stay out of the graph.

    \b
    Example:
        qsr graph build out/trivago --alpha 0.5 --output out/trivago-graph.pt
    """
    from qsr_graph.build import build_graph
    from qsr_graph.data import SequenceDataset
    from qsr_graph.io import save_graph

    config = GraphConfig(alpha=alpha, max_similar=max_similar or None,
                         max_expand=max_expand or None)
    started = time.perf_counter()
    dataset = SequenceDataset.load(dataset_dir)
    loaded = time.perf_counter()
    data = build_graph(dataset, config, progress=show_progress())
    built = time.perf_counter()
    save_graph(data, output)
    saved = time.perf_counter()
    timings = {"load": loaded - started, "build": built - loaded, "save": saved - built,
               "total": saved - started}
    click.echo(_format_build_summary(data.build_stats, config, output, timings))


@graph.command("inspect")
@click.argument("graph_file", type=click.Path(exists=True, path_type=Path))
@click.option("--node", required=True, help="Item id or query text to look up.")
@click.option("--type", "node_type", type=click.Choice(["item", "query"]), default=None,
              help="Node type, when the name matches both an item and a query.")
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="Neighbours and similar nodes listed.")
@click.option("--rho", type=click.FloatRange(min=1), default=DEFAULT_RHO, show_default=True,
              help="Weight of a similar node against any other when augmentation draws "
                   "a replacement (the training default).")
@click.option("--beta", type=click.FloatRange(0, 1), default=None,
              help="Chance that augmentation replaces a token. [default: the training default "
                   f"for the node's type, {DEFAULT_BETA_ITEM} for items and {DEFAULT_BETA_QUERY} "
                   "for queries]")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@user_errors
def graph_inspect(graph_file: Path, node: str, node_type: str | None, top: int, rho: float,
                  beta: float | None, as_json: bool) -> None:
    """Describe one item or query node.

    Prints the node's frequency, degrees before and after alpha, links,
    similar nodes, and the chance that augmentation replaces it with a
    similar node.

    \b
    Example:
        qsr graph inspect out/trivago-graph.pt --node "new york" --top 10
    """
    from qsr_graph.inspect import find_node, format_node_report, node_report
    from qsr_graph.io import load_graph

    data = load_graph(graph_file)
    found_type, node_id = find_node(data, node, node_type)
    if beta is None:
        beta = DEFAULT_BETA_ITEM if found_type == "item" else DEFAULT_BETA_QUERY
    report = node_report(data, found_type, node_id, top=top, rho=rho, beta=beta)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(format_node_report(report))


@graph.command("export")
@click.argument("graph_file", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "export_format", type=click.Choice(["graphml", "edgelist"]),
              required=True, help="File format: GraphML, or a tab-separated edge list.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write.")
@click.option("--similar", "include_similar", is_flag=True,
              help="Also export the similar-node links.")
@user_errors
def graph_export(graph_file: Path, export_format: str, output: Path,
                 include_similar: bool) -> None:
    """Export the graph as GraphML or a tab-separated edge list.

    The export goes through networkx and keeps node names and link weights.
    Nodes are named item:ID and query:TEXT. Each edge has a relation
    (searched_by, leads_to or similar) and a weight.

    \b
    Example:
        qsr graph export out/trivago-graph.pt --format graphml --output trivago.graphml
    """
    from qsr_graph.convert import to_networkx, write_graph
    from qsr_graph.io import load_graph

    network = to_networkx(load_graph(graph_file), include_similar=include_similar)
    write_graph(network, output, export_format)
    click.echo(f"Wrote {output} ({network.number_of_nodes():,} nodes, "
               f"{network.number_of_edges():,} edges)")
