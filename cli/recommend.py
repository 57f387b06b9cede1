"""``qsr recommend``: top-k items for histories, with a trained run."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Iterator

import click

from qsr_graph.atomic import atomic_file
from qsr_cli.errors import user_errors

#: Keys allowed in an object line of a ``--input`` file.
INPUT_KEYS = ("id", "history")


def read_histories(path: Path) -> list[tuple[Any, list[Any], int]]:
    """Read a JSON lines file of histories as ``(id, history, line number)``.

    Each non-blank line is a JSON object ``{"id": ..., "history": [...]}``
    (``id`` optional, defaulting to the line number) or a bare JSON list of
    events. Events are checked later, by the recommender.

    Raises:
        ValueError: a line is not valid JSON or has another shape; the message
            names the file and the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    except OSError as err:
        raise ValueError(f"{path}: cannot read the input file ({err.strerror})") from err
    histories = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") from err
        if isinstance(value, list):
            histories.append((number, value, number))
            continue
        if not isinstance(value, dict):
            raise ValueError(
                f"{where}: expected a JSON object with a 'history' list or a JSON list of "
                f"events, got {type(value).__name__} {line.strip()[:60]!r}")
        unknown = sorted(set(value) - set(INPUT_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"expected 'id' and 'history'")
        if not isinstance(value.get("history"), list):
            raise ValueError(f"{where}: 'history' must be a JSON list of events, "
                             f"got {json.dumps(value.get('history'))}")
        histories.append((value.get("id", number), value["history"], number))
    if not histories:
        raise ValueError(f"{path}: no histories found (the file is empty)")
    return histories


def _write_output(lines: Iterator[str], output: Path | None) -> None:
    """Write lines to stdout, or to ``output`` under a temporary name renamed at the end."""
    if output is None:
        for line in lines:
            click.echo(line)
        return
    with atomic_file(output) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")


def _format_table(recommendations: list[Any], explain: bool) -> Iterator[str]:
    width = max([len(r.item) for r in recommendations] + [4])
    yield f"{'rank':>4}  {'item':<{width}}  {'score':>9}" + ("  explanation" if explain else "")
    for rank, rec in enumerate(recommendations, start=1):
        reason = str(rec.explanation) if rec.explanation is not None else ""
        yield f"{rank:>4}  {rec.item:<{width}}  {rec.score:>9.4f}  {reason}".rstrip()


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--history", "events", multiple=True, metavar="EVENT",
              help="One event of the history, oldest first: 'q:TEXT' for a query, "
                   "'i:ID' for an item id. Repeat for each event.")
@click.option("--input", "input_path", type=click.Path(path_type=Path),
              help="JSON lines file with one history per line: "
                   "{\"id\": ..., \"history\": [\"q:...\", \"i:...\"]} or a bare JSON list.")
@click.option("-k", "k", type=click.IntRange(min=1), default=20, show_default=True,
              help="Number of items to recommend per history.")
@click.option("--exclude-history", is_flag=True,
              help="Leave out items that are already in the history.")
@click.option("--explain", is_flag=True,
              help="Add the latest query of the history that leads to each item in the graph.")
@click.option("--graph", "graph_path", type=click.Path(path_type=Path),
              help="Graph file for --explain. [default: the graph named in the run's config.json]")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON instead of a table (output is always JSON lines with --input).")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write to this file instead of stdout; the file appears only when complete.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Histories scored per forward pass.")
@click.option("--device", default="cpu", show_default=True, help="Torch device of the model.")
@user_errors
def recommend(run_dir: Path, events: tuple[str, ...], input_path: Path | None, k: int,
              exclude_history: bool, explain: bool, graph_path: Path | None, as_json: bool,
              output: Path | None, batch_size: int, device: str) -> None:
    """Recommend the top-k items after one history (--history) or many (--input).

    Unknown items are skipped, query words never seen in training are dropped,
    and a query with no known word is skipped. Each history gets one warning on
    stderr that names them. A history with nothing left is an error.

    \b
    Example:
        qsr recommend out/run --history "q:London, United Kingdom" --history "i:1157094" -k 10 --explain
        qsr recommend out/run --input histories.jsonl --output recs.jsonl
    """
    from qsr_model.recommend import HistoryWarning, Recommender

    if bool(events) == (input_path is not None):
        raise click.UsageError("give either --history (one or more times) or --input, not both")
    if input_path is not None:
        rows = read_histories(input_path)
        labels = [f"{input_path} line {number}" for _, _, number in rows]
        histories = [history for _, history, _ in rows]
    else:
        histories, labels = [list(events)], ["--history"]

    recommender = Recommender.load(run_dir, graph=graph_path, device=device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HistoryWarning)
        try:
            encoded = [recommender.encode(h, label) for h, label in zip(histories, labels)]
        finally:
            for warning in caught:
                click.echo(f"Warning: {warning.message}", err=True)
    results = recommender.recommend_encoded(encoded, k=k, exclude_history=exclude_history,
                                            explain=explain, batch_size=batch_size)

    if input_path is not None:
        lines = (json.dumps({"id": row[0], "recommendations": [r.to_dict() for r in recs]})
                 for row, recs in zip(rows, results))
    elif as_json:
        lines = iter([json.dumps({"recommendations": [r.to_dict() for r in results[0]]})])
    else:
        lines = _format_table(results[0], explain)
    _write_output(lines, output)
    if output is not None:
        click.echo(f"wrote {len(results)} recommendation list(s) to {output}", err=True)
