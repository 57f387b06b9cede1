"""Measure training throughput, epoch time and peak memory of Query-SeqRec on CPU.

Prepare the bundled trivago slice and its graph first:

    qsr data prepare --format trivago data/trivago/trivago_val_100k.parquet.snappy --output out/trivago
    qsr graph build out/trivago --output out/trivago-graph.pt
    python benchmarks/bench_train.py out/trivago --graph out/trivago-graph.pt

Each setting (SASRec without queries, with queries, with queries and graph
augmentation) runs in its own child process, so that its peak resident memory
is its own. A setting trains ``--epochs`` epochs with the training step of
``qsr train`` (full softmax, batch 128, default model size), after one warm-up
epoch that is not timed. It reports target items per second (positions whose
next event is an item, the unit that the loss averages over), milliseconds per
batch and seconds per epoch. The bound row times only the logits product with
cross-entropy, forward and backward, on random hidden states of the same
number of items, which bounds full-softmax training from above.

``--recbole-json`` adds the figures written by ``benchmarks/recbole_sasrec.py``
and ``--results`` the test metrics of a ``qsr experiment`` run, to print both
toolkits side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "sasrec": {"use_queries": False, "augmentation": False},
    "queries": {"use_queries": True, "augmentation": False},
    "queries+augmentation": {"use_queries": True, "augmentation": True},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="Prepared dataset folder ('qsr data prepare').")
    parser.add_argument("--graph", type=Path, required=True, help="Graph file ('qsr graph build').")
    parser.add_argument("--epochs", type=int, default=3, help="Timed epochs per setting.")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"Comma-separated subset of {', '.join(SETTINGS)}.")
    parser.add_argument("--recbole-json", type=Path, default=None,
                        help="Figures from benchmarks/recbole_sasrec.py to print beside qsr's.")
    parser.add_argument("--results", type=Path, default=None,
                        help="results.json of 'qsr experiment', for qsr's test metrics.")
    parser.add_argument("--json", type=Path, default=None, help="Write all figures to this JSON file.")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def measure_setting(args: argparse.Namespace, name: str) -> dict:
    """Train one setting for warm-up + ``args.epochs`` epochs and return its figures."""
    import torch

    from qsr_graph.augment import ReplacementSampler
    from qsr_graph.data import SequenceDataset
    from qsr_graph.io import load_graph
    from qsr_model.batching import build_windows
    from qsr_model.config import ModelConfig, TrainConfig
    from qsr_model.losses import full_softmax_loss
    from qsr_model.query_seqrec import QuerySeqRec
    from qsr_model.trainer import batch_rows

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dataset = SequenceDataset.load(args.dataset)
    model_config = ModelConfig()
    train_config = TrainConfig(**SETTINGS[name])
    windows = build_windows(dataset, "train", model_config.max_length,
                            use_queries=train_config.use_queries)
    sampler = None
    if train_config.augments:
        sampler = ReplacementSampler.from_graph(load_graph(args.graph), beta_item=train_config.beta_item,
                                                beta_query=train_config.beta_query, rho=train_config.rho)
    model = QuerySeqRec(model_config, dataset.num_items, dataset.num_words)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    generator = torch.Generator().manual_seed(0)

    def run_epoch() -> tuple[float, int, int]:
        model.train()
        start = time.perf_counter()
        batches = 0
        # The trainer's own batching: shuffled, with windows of similar length
        # grouped (bucket_by_length, on by default), so the timing includes the
        # padding that training really carries.
        for rows in batch_rows(windows, train_config.batch_size, generator,
                               train_config.bucket_by_length):
            batch = windows.batch(rows, sampler, generator)
            hidden = model(batch)  # (B, L, D)
            has_target = batch.targets >= 0  # (B, L)
            loss = full_softmax_loss(model, hidden[has_target], batch.targets[has_target])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            batches += 1
        return time.perf_counter() - start, batches, windows.num_targets

    run_epoch()  # warm-up
    seconds = batches = targets = 0
    epoch_seconds = []
    for _ in range(args.epochs):
        spent, count, epoch_targets = run_epoch()
        epoch_seconds.append(spent)
        seconds += spent
        batches += count
        targets += epoch_targets
    return {
        "setting": name,
        "sequences": len(windows),
        "targets_per_epoch": windows.num_targets,
        "batches_per_epoch": batches // args.epochs,
        "epoch_seconds": seconds / args.epochs,
        "target_items_per_second": targets / seconds,
        "ms_per_batch": 1000.0 * seconds / batches,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "epoch_seconds_each": epoch_seconds,
    }


def measure_bound(args: argparse.Namespace, num_items: int, repeats: int = 50) -> dict:
    """Time logits + cross-entropy, forward and backward, for 1,000 targets at hidden 64."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(1000, 64, generator=generator, requires_grad=True)  # (N, D)
    table = torch.randn(num_items, 64, generator=generator, requires_grad=True)  # (I, D)
    targets = torch.randint(0, num_items, (1000,), generator=generator)  # (N,)
    for _ in range(5):
        F.cross_entropy(hidden @ table.T, targets).backward()
    start = time.perf_counter()
    for _ in range(repeats):
        F.cross_entropy(hidden @ table.T, targets).backward()  # logits (N, I)
    seconds = time.perf_counter() - start
    return {"setting": "bound: logits + cross-entropy only", "target_items_per_second":
            1000 * repeats / seconds, "num_items": num_items}


def main() -> None:
    args = parse_args()
    if args.child is not None:
        print(json.dumps(measure_setting(args, args.child)))
        return
    names = [name.strip() for name in args.settings.split(",") if name.strip()]
    unknown = [name for name in names if name not in SETTINGS]
    if unknown:
        raise SystemExit(f"unknown setting(s) {', '.join(unknown)}; expected some of {', '.join(SETTINGS)}")

    rows = []
    for name in names:
        command = [sys.executable, __file__, str(args.dataset), "--graph", str(args.graph),
                   "--epochs", str(args.epochs), "--threads", str(args.threads), "--child", name]
        child = subprocess.run(command, capture_output=True, text=True)
        if child.returncode != 0:
            raise SystemExit(f"setting {name} failed:\n{child.stderr}")
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"measured {name}", file=sys.stderr)

    from qsr_graph.data import SequenceDataset

    dataset = SequenceDataset.load(args.dataset)
    bound = measure_bound(args, dataset.num_items)
    load = os.getloadavg()
    machine = {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
               "cores": os.cpu_count(), "threads": args.threads,
               "load_average_1_5_15": [round(value, 2) for value in load]}
    import torch

    machine["torch"] = torch.__version__

    print(f"dataset: {args.dataset} ({dataset.num_users:,} users, {dataset.num_items:,} items)")
    print(f"machine: {machine}")
    print()
    print("| Setting | Target items/s | ms/batch | Epoch s | Targets/epoch | Peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['setting']} | {row['target_items_per_second']:,.0f} | {row['ms_per_batch']:.1f} | "
              f"{row['epoch_seconds']:.2f} | {row['targets_per_epoch']:,} | {row['peak_rss_mib']:.0f} |")
    print(f"| {bound['setting']} | {bound['target_items_per_second']:,.0f} | | | | |")

    recbole = json.loads(args.recbole_json.read_text()) if args.recbole_json else None
    results = json.loads(args.results.read_text()) if args.results else None
    if recbole is not None:
        print()
        print("| Toolkit | Training target items/s | Test HR@20 | Test NDCG@20 |")
        print("|---|---|---|---|")
        print(f"| {recbole['toolkit']} | {recbole['train_samples_per_second']:,.0f} | "
              f"{recbole['test']['hit@20']:.4f} | {recbole['test']['ndcg@20']:.4f} |")
        for row in rows:
            metrics = _experiment_metrics(results, row["setting"])
            cells = " | ".join(f"{value:.4f}" if value is not None else "–" for value in metrics)
            print(f"| qsr {row['setting']} | {row['target_items_per_second']:,.0f} | {cells} |")
            if row["setting"] == "sasrec":
                ratio = row["target_items_per_second"] / recbole["train_samples_per_second"]
                print(f"qsr SASRec trains {ratio:.1f} times as many target items per second as RecBole.",
                      file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows, "bound": bound,
                                         "recbole": recbole}, indent=2) + "\n")


def _experiment_metrics(results: dict | None, setting: str) -> tuple[float | None, float | None]:
    """Return the mean test HR@20 and NDCG@20 of the experiment row matching a setting."""
    variant = {"sasrec": "sasrec", "queries": "no-augmentation",
               "queries+augmentation": "query-seqrec"}[setting]
    for row in (results or {}).get("rows", []):
        if row["name"] == variant:
            return row["summary"]["HR@20"]["mean"], row["summary"]["NDCG@20"]["mean"]
    return None, None


if __name__ == "__main__":
    main()
