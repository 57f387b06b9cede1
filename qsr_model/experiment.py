"""The ablation experiment: Query-SeqRec against its ablations and three reference rows.

Every variant is trained once per seed in its own run folder. The table reports
test HR@K and NDCG@K as mean and sample standard deviation over seeds, and each
variant's relative change against SASRec (the variant without queries). Three
reference rows that learn nothing are scored on the same split by the same
metric code.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch_geometric.data import HeteroData

from qsr_graph.atomic import atomic_file
from qsr_graph.data.dataset import SequenceDataset
from qsr_graph.io import graph_fingerprint
from qsr_model.checkpoint import CONFIG_FILE as RUN_CONFIG
from qsr_model.checkpoint import LAST_FILE as LAST_CHECKPOINT
from qsr_model.checkpoint import METRICS_FILE
from qsr_model.checkpoint import TEST_FILE as TEST_METRICS
from qsr_model.config import ModelConfig, TrainConfig
from qsr_model.reference import REFERENCE_LABELS, REFERENCE_ROWS, evaluate_reference

logger = logging.getLogger(__name__)

#: Metrics carried by the table; the first two lead every report.
TABLE_METRICS = ("HR@20", "NDCG@20", "HR@10", "NDCG@10")

RESULTS_MD = "results.md"
RESULTS_JSON = "results.json"
RESULTS_PNG = "results.png"
RUNS_DIR = "runs"


@dataclass(frozen=True)
class Variant:
    """One trained row of the ablation table.

    Args:
        name (str): short name used on the command line and in run folders.
        label (str): row label of the table.
        use_queries (bool): feed query events to the model.
        augmentation (bool): replace input tokens with the graph sampler.
        uniform (bool): draw replacements uniformly (rho = 1) instead of
            favouring similar nodes.
    """

    name: str
    label: str
    use_queries: bool
    augmentation: bool
    uniform: bool = False

    def train_config(self, base: TrainConfig, seed: int) -> TrainConfig:
        """Return ``base`` with this variant's switches and ``seed`` applied."""
        changes: dict[str, Any] = {"seed": seed, "use_queries": self.use_queries,
                                   "augmentation": self.augmentation}
        if not self.augmentation:
            changes.update(beta_item=0.0, beta_query=0.0)
        if self.uniform:
            changes["rho"] = 1.0
        return dataclasses.replace(base, **changes)


#: The four trained variants, in table order. SASRec is the item-only backbone.
VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("query-seqrec", "Query-SeqRec", use_queries=True, augmentation=True),
        Variant("uniform", "Query-SeqRec, uniform replacement (rho = 1)", use_queries=True,
                augmentation=True, uniform=True),
        Variant("no-augmentation", "Query-SeqRec, no augmentation (beta = 0)", use_queries=True,
                augmentation=False),
        Variant("sasrec", "SASRec (no queries)", use_queries=False, augmentation=False),
    )
}

BASELINE = "sasrec"
REPEAT_ROW = "repeat"


@dataclass
class TableRow:
    """One row of the results table.

    Args:
        name (str): variant or reference row name.
        label (str): printed label.
        kind (str): ``"model"`` (trained, one value per seed) or
            ``"reference"`` (learns nothing, one value).
        runs (list[dict]): per seed: ``{"seed", "test", "best_epoch",
            "epochs_run", "run_dir"}``; one entry without a seed for
            reference rows.
    """

    name: str
    label: str
    kind: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    def values(self, metric: str) -> np.ndarray:
        """Return the test values of ``metric`` over the runs, ``[num_runs]``."""
        return np.array([run["test"][metric] for run in self.runs], dtype=np.float64)

    def mean(self, metric: str) -> float:
        """Return the mean of ``metric`` over seeds."""
        return float(self.values(metric).mean())

    def std(self, metric: str) -> float | None:
        """Return the sample standard deviation over seeds, ``None`` with fewer than two."""
        values = self.values(metric)
        return float(values.std(ddof=1)) if len(values) > 1 else None


@dataclass
class ExperimentTable:
    """The ablation table with everything needed to reproduce and print it.

    Args:
        rows (list[TableRow]): trained variants first, then reference rows.
        dataset (dict): name and sizes of the dataset.
        settings (dict): model and training configs, seeds and variants.
        command (str): the command line that produced the table.
    """

    rows: list[TableRow]
    dataset: dict[str, Any]
    settings: dict[str, Any]
    command: str = ""

    def row(self, name: str) -> TableRow | None:
        """Return the row called ``name``, or ``None``."""
        return next((row for row in self.rows if row.name == name), None)

    def relative_change(self, row: TableRow, metric: str) -> float | None:
        """Return the relative change of ``row``'s mean against SASRec (0.1 = +10%).

        ``None`` when SASRec is not in the table or scores 0.
        """
        baseline = self.row(BASELINE)
        if baseline is None or row.name == BASELINE:
            return None
        reference = baseline.mean(metric)
        return None if reference == 0 else row.mean(metric) / reference - 1.0

    def repeat_sentences(self) -> list[str]:
        """Return one plain sentence per trained variant: does it beat the repeat row?"""
        repeat = self.row(REPEAT_ROW)
        if repeat is None:
            return []
        sentences = []
        for row in self.rows:
            if row.kind != "model":
                continue
            figures = ", ".join(f"{metric} {row.mean(metric):.4f} against {repeat.mean(metric):.4f}"
                                for metric in ("HR@20", "NDCG@20"))
            wins = [metric for metric in ("HR@20", "NDCG@20") if row.mean(metric) > repeat.mean(metric)]
            if len(wins) == 2:
                verdict = "beats the repeat row on HR@20 and NDCG@20"
            elif not wins:
                verdict = "does not beat the repeat row"
            else:
                other = "NDCG@20" if wins[0] == "HR@20" else "HR@20"
                verdict = f"beats the repeat row on {wins[0]} but not on {other}"
            sentences.append(f"{row.label} {verdict} (mean {figures}).")
        return sentences

    def to_markdown(self) -> str:
        """Render the table, the dataset, the command and the settings as Markdown."""
        lines = [
            f"# Ablation on {self.dataset['name']}",
            "",
            f"Dataset: {self.dataset['name']}, {self.dataset['num_users']:,} users, "
            f"{self.dataset['num_items']:,} items, {self.dataset['num_queries']:,} queries, "
            f"{self.dataset['num_events']:,} events. Split: leave-last-out, model selected on the "
            f"validation target (NDCG@20), reported once on the test target, ranking all items "
            f"(ties count against the target).",
            "",
        ]
        if self.command:
            lines += ["Command:", "", "```", self.command, "```", ""]
        lines += [self.format_table(), "", *self._reference_note()]
        lines += [
            "Settings:",
            "",
            "```json",
            json.dumps(self.settings, indent=2, sort_keys=True),
            "```",
            "",
        ]
        return "\n".join(lines)

    def format_table(self) -> str:
        """Render the Markdown table of all rows and one sentence per variant on the repeat row."""
        seeds = self.settings.get("seeds", [])
        lines = [
            f"Test metrics: mean ± sample standard deviation over {len(seeds)} seed(s) "
            f"({', '.join(str(s) for s in seeds)}). Change: relative to SASRec's mean.",
            "",
            "| Model | " + " | ".join(TABLE_METRICS)
            + " | Change HR@20 | Change NDCG@20 | Best epoch |",
            "|---" * (len(TABLE_METRICS) + 4) + "|",
        ]
        for row in self.rows:
            cells = [row.label]
            for metric in TABLE_METRICS:
                std = row.std(metric)
                cells.append(f"{row.mean(metric):.4f}" + (f" ± {std:.4f}" if std is not None else ""))
            for metric in ("HR@20", "NDCG@20"):
                change = self.relative_change(row, metric)
                cells.append("–" if change is None else f"{change:+.1%}")
            if row.kind == "model":
                epochs = [str(run["best_epoch"]) for run in row.runs]
                cells.append(", ".join(epochs))
            else:
                cells.append("no training")
            lines.append("| " + " | ".join(cells) + " |")
        sentences = self.repeat_sentences()
        if sentences:
            lines += ["", *sentences]
        return "\n".join(lines)

    @staticmethod
    def _reference_note() -> list[str]:
        return [
            "Reference rows learn nothing. Popularity ranks items by their count in the training "
            "events. Repeat ranks the user's input items by the recency of their last occurrence. "
            "Query-linked ranks items by their query-to-item edge weight in the training graph, "
            "from the user's latest input query; a user without one gets equal scores for every "
            "item, which the tie rule counts as a miss.",
            "",
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return the table as a JSON-ready dict (means, standard deviations and every run)."""
        rows = []
        for row in self.rows:
            summary = {metric: {"mean": row.mean(metric), "std": row.std(metric)}
                       for metric in row.runs[0]["test"]}
            change = {metric: self.relative_change(row, metric) for metric in ("HR@20", "NDCG@20")}
            rows.append({"name": row.name, "label": row.label, "kind": row.kind,
                         "summary": summary, "change_vs_sasrec": change, "runs": row.runs})
        return {"dataset": self.dataset, "command": self.command, "settings": self.settings,
                "rows": rows, "repeat_verdicts": self.repeat_sentences()}


def parse_variants(names: Sequence[str] | None) -> list[Variant]:
    """Return the variants called ``names`` in table order (all four for ``None``)."""
    if not names:
        return list(VARIANTS.values())
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; expected some of "
                         f"{', '.join(VARIANTS)}")
    return [variant for name, variant in VARIANTS.items() if name in names]


def run_experiment(dataset: SequenceDataset, graph: HeteroData | None,
                   variants: Sequence[Variant | str] | None, seeds: Sequence[int],
                   model_config: ModelConfig, train_config: TrainConfig,
                   output_dir: str | os.PathLike, *, dataset_name: str = "dataset",
                   command: str = "", force: bool = False, show_progress: bool = True,
                   dataset_path: str | None = None,
                   graph_path: str | None = None) -> ExperimentTable:
    """Train every variant for every seed, add the reference rows and write the results.

    Each run lives in ``output_dir/runs/VARIANT-seedSEED``. A finished run with
    the same configuration is reused, an interrupted one is resumed, so the
    experiment continues where it stopped. ``results.md``, ``results.json`` and
    ``results.png`` are each written to a temporary file and renamed.

    Args:
        dataset (SequenceDataset): the prepared sequences.
        graph (HeteroData, optional): the training graph; needed by variants
            that augment and by the query-linked reference row.
        variants (sequence, optional): :class:`Variant` objects or names from
            :data:`VARIANTS`; ``None`` runs all four.
        seeds (sequence of int): one run per seed and variant.
        model_config (ModelConfig): model size, shared by all variants.
        train_config (TrainConfig): training settings; each variant changes
            only its own switches (queries, augmentation, rho) and the seed.
        output_dir (path): folder of the run folders and results files.
        dataset_name (str, optional): name printed in the results.
        command (str, optional): command line printed in the results.
        force (bool, optional): train again even where a run folder contains
            a finished run or one with other settings. (default: ``False``)
        show_progress (bool, optional): draw training progress bars.
        dataset_path, graph_path (str, optional): recorded in each run's
            ``config.json``.

    Returns:
        The :class:`ExperimentTable`.

    Raises:
        ValueError: no seeds, an unknown variant, a missing graph, or a run
            folder holding a run with another configuration (without ``force``).
    """
    if variants:
        chosen = [v if isinstance(v, Variant) else parse_variants([v])[0] for v in variants]
    else:
        chosen = list(VARIANTS.values())
    if len({v.name for v in chosen}) != len(chosen):
        raise ValueError(f"variants must be distinct, got {[v.name for v in chosen]}")
    order = list(VARIANTS)
    chosen.sort(key=lambda v: order.index(v.name) if v.name in order else len(order))
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    if graph is None and any(v.augmentation for v in chosen):
        raise ValueError("variants with augmentation need the graph (--graph)")
    output_dir = Path(output_dir)
    (output_dir / RUNS_DIR).mkdir(parents=True, exist_ok=True)

    from qsr_model.trainer import train_model

    # Hashed once here rather than for every run, because a large graph's links
    # take seconds to hash.
    fingerprint = graph_fingerprint(graph) if graph is not None else None
    rows = []
    for variant in chosen:
        row = TableRow(variant.name, variant.label, "model")
        for seed in seeds:
            config = variant.train_config(train_config, seed)
            run_dir = output_dir / RUNS_DIR / f"{variant.name}-seed{seed}"
            row.runs.append(_train_or_reuse(
                train_model, dataset, graph, model_config, config, run_dir, force=force,
                show_progress=show_progress, dataset_path=dataset_path, graph_path=graph_path,
                graph_fingerprint=fingerprint))
            logger.info("%s seed %d: test HR@20 %.4f, NDCG@20 %.4f (best epoch %d)",
                        variant.name, seed, row.runs[-1]["test"]["HR@20"],
                        row.runs[-1]["test"]["NDCG@20"], row.runs[-1]["best_epoch"])
        rows.append(row)

    for name in REFERENCE_ROWS:
        if name == "query-linked" and graph is None:
            logger.warning("no graph given, so the query-linked reference row is left out")
            continue
        metrics = evaluate_reference(name, dataset, graph, split="test")
        rows.append(TableRow(name, REFERENCE_LABELS[name], "reference", [{"test": metrics}]))

    table = ExperimentTable(
        rows=rows,
        dataset={"name": dataset_name, "num_users": dataset.num_users,
                 "num_items": dataset.num_items, "num_queries": dataset.num_queries,
                 "num_events": dataset.num_events},
        settings={"seeds": seeds, "variants": [v.name for v in chosen],
                  "model": model_config.to_dict(), "train": train_config.to_dict()},
        command=command)
    write_results(table, output_dir)
    return table


def _train_or_reuse(train_model: Any, dataset: SequenceDataset, graph: HeteroData | None,
                    model_config: ModelConfig, train_config: TrainConfig, run_dir: Path, *,
                    force: bool, show_progress: bool, dataset_path: str | None,
                    graph_path: str | None, graph_fingerprint: str | None) -> dict[str, Any]:
    """Return one run's summary, training it unless a finished identical run is there."""
    # Runs that do not augment never read the graph, so any graph may reuse them.
    expected = {"model": model_config.to_dict(), "train": train_config.to_dict(),
                "graph_fingerprint": graph_fingerprint if train_config.augments else None}
    if run_dir.exists() and force:
        shutil.rmtree(run_dir)
    resume = False
    if run_dir.exists():
        stored = _stored_configs(run_dir)
        if stored is None and any(run_dir.iterdir()):
            raise ValueError(f"{run_dir} exists but is not a qsr run folder; remove it or pass --force")
        if stored is not None and stored != expected:
            changed = "graph" if stored["graph_fingerprint"] != expected["graph_fingerprint"] else "settings"
            raise ValueError(
                f"{run_dir} contains a run with other {changed}; pass --force to train it again "
                f"or choose another --output")
        if stored is not None and (run_dir / TEST_METRICS).is_file():
            logger.info("reusing the finished run %s", run_dir)
            return _summary_from_folder(run_dir)
        if stored is not None and (run_dir / LAST_CHECKPOINT).is_file():
            resume = True
        else:
            # Stopped before its first epoch ended: nothing to resume from.
            shutil.rmtree(run_dir)
    result = train_model(dataset, graph, model_config, train_config, output_dir=run_dir,
                         resume=resume, show_progress=show_progress, dataset_path=dataset_path,
                         graph_path=graph_path)
    return {"seed": train_config.seed, "test": _metrics_only(result.test),
            "best_epoch": result.best_epoch, "epochs_run": len(result.history),
            "train_seconds": sum(record["seconds"] for record in result.history),
            "run_dir": str(run_dir)}


def _metrics_only(values: dict[str, Any]) -> dict[str, float]:
    """Keep the HR@K and NDCG@K entries of an evaluation result."""
    return {key: float(value) for key, value in values.items() if key.startswith(("HR@", "NDCG@"))}


def _stored_configs(run_dir: Path) -> dict[str, Any] | None:
    """Return the model and training configs saved in a run folder, ``None`` if absent."""
    path = run_dir / RUN_CONFIG
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: invalid JSON ({err}); pass --force to train the run again") from err
    return {"model": stored.get("model"), "train": stored.get("train"),
            "graph_fingerprint": stored.get("graph_fingerprint")}


def _summary_from_folder(run_dir: Path) -> dict[str, Any]:
    """Read a finished run's test metrics, best epoch and training time from its folder."""
    test = json.loads((run_dir / TEST_METRICS).read_text())
    stored = json.loads((run_dir / RUN_CONFIG).read_text())
    history_path = run_dir / METRICS_FILE
    history = [json.loads(line) for line in history_path.read_text().splitlines() if line.strip()]
    return {"seed": stored["train"]["seed"], "test": _metrics_only(test["metrics"]),
            "best_epoch": test["best_epoch"], "epochs_run": len(history),
            "train_seconds": sum(record["seconds"] for record in history), "run_dir": str(run_dir)}


def write_results(table: ExperimentTable, output_dir: str | os.PathLike) -> None:
    """Write ``results.md``, ``results.json`` and ``results.png`` into ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(output_dir / RESULTS_MD, table.to_markdown().encode())
    _write_atomic(output_dir / RESULTS_JSON,
                  (json.dumps(table.to_dict(), indent=2, sort_keys=True) + "\n").encode())
    _write_atomic(output_dir / RESULTS_PNG, _bar_chart(table))


def _write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to a temporary file beside ``path`` and rename it into place."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(content)


def _bar_chart(table: ExperimentTable) -> bytes:
    """Draw HR@20 and NDCG@20 of every row with standard-deviation error bars as PNG bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ("HR@20", "NDCG@20")
    positions = np.arange(len(table.rows))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(table.rows) + 2), 4.5))
    for offset, metric in zip((-width / 2, width / 2), metrics):
        means = [row.mean(metric) for row in table.rows]
        ax.bar(positions + offset, means, width, label=metric)
        # Error bars only where there is a spread over seeds (trained rows).
        spread = [(x, row.mean(metric), row.std(metric)) for x, row in zip(positions + offset, table.rows)
                  if row.std(metric) is not None]
        if spread:
            xs, ys, errors = zip(*spread)
            ax.errorbar(xs, ys, yerr=errors, fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(positions)
    ax.set_xticklabels([row.label for row in table.rows], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("test metric (mean ± std over seeds)")
    ax.set_title(f"{table.dataset['name']}: test HR@20 and NDCG@20")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()
