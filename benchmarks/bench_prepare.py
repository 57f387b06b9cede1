"""Time ``prepare`` on a synthetic search log and report events per second and peak memory.

The log has Zipf-like item and query popularity, about one query per five item
events, users of varied lengths (log-normal, mean about 20 events) and some
consecutive repeats. Each measured step runs in a fresh Python process, so its
peak resident memory (VmHWM, Linux only) does not include generating the log.

Run:
    python benchmarks/bench_prepare.py                    # 10 million events
    python benchmarks/bench_prepare.py --events 1000000   # a quicker run
    python benchmarks/bench_prepare.py --reader           # also time the generic reader
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

KIND_ITEM, KIND_QUERY = 1, 2


def zipf_draws(rng: np.random.Generator, size: int, vocabulary: int, exponent: float) -> np.ndarray:
    """Draw ``size`` ranks in ``[0, vocabulary)`` with probability proportional to ``1 / (rank + 1) ** exponent``."""
    weights = 1.0 / np.arange(1, vocabulary + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    return np.searchsorted(cdf, rng.random(size) * cdf[-1]).astype(np.int64)


def synthetic_log(num_events: int, seed: int) -> pd.DataFrame:
    """Build a canonical event table of ``num_events`` rows, in shuffled row order."""
    rng = np.random.default_rng(seed)
    num_items = max(num_events // 10, 10)
    num_queries = max(num_events // 50, 10)
    num_words = max(num_queries // 10, 10)

    # Users: log-normal lengths, trimmed so they sum to num_events.
    lengths = np.maximum(1, rng.lognormal(mean=2.5, sigma=1.0, size=num_events // 5 + 10)
                         .astype(np.int64))
    ends = np.cumsum(lengths)
    num_users = int(np.searchsorted(ends, num_events)) + 1
    lengths = lengths[:num_users]
    lengths[-1] -= ends[num_users - 1] - num_events
    starts = np.cumsum(lengths) - lengths
    user = np.repeat(np.arange(num_users), lengths)
    position = np.arange(num_events) - np.repeat(starts, lengths)

    # Kinds, items (Zipf, with 20% of item events repeating the event before) and queries.
    kind = np.where(rng.random(num_events) < 1 / 6, KIND_QUERY, KIND_ITEM).astype(np.int8)
    token = np.where(kind == KIND_ITEM, zipf_draws(rng, num_events, num_items, 1.05),
                     zipf_draws(rng, num_events, num_queries, 1.1))
    repeat = ((rng.random(num_events) < 0.2) & (position > 0) & (kind == KIND_ITEM)
              & (np.roll(kind, 1) == KIND_ITEM))
    token[repeat] = np.roll(token, 1)[repeat]

    # Query texts of 1 to 4 Zipf-distributed words; 10% of query events use a
    # capitalised variant with a trailing space, which normalises to the same query.
    words_per_query = rng.integers(1, 5, size=num_queries)
    word_ids = zipf_draws(rng, int(words_per_query.sum()), num_words, 1.0)
    word_text = np.char.add("w", np.arange(num_words).astype(str)).astype(object)
    bags = np.split(word_text[word_ids], np.cumsum(words_per_query)[:-1])
    texts = np.array([" ".join(bag) for bag in bags], dtype=object)
    variants = np.array([t.title() + " " for t in texts], dtype=object)
    use_variant = rng.random(num_events) < 0.1
    item_names = np.char.add("i", np.arange(num_items).astype(str)).astype(object)
    value = np.where(kind == KIND_ITEM, item_names[np.minimum(token, num_items - 1)],
                     np.where(use_variant, variants[np.minimum(token, num_queries - 1)],
                              texts[np.minimum(token, num_queries - 1)]))

    # Times: a start within 30 days plus exponential gaps, whole seconds (so ties occur).
    start = rng.uniform(1.5e9, 1.5e9 + 30 * 86400, size=num_users)
    gaps = rng.exponential(60.0, size=num_events)
    gaps[position == 0] = 0.0
    offset = np.cumsum(gaps)
    offset -= np.repeat(offset[starts], lengths)
    times = np.floor(np.repeat(start, lengths) + offset)

    user_names = np.char.add("u", np.arange(num_users).astype(str)).astype(object)
    table = pd.DataFrame({
        "user": pd.Series(user_names[user], dtype="str"),
        "session": pd.Series(np.full(num_events, None, dtype=object), dtype="str"),
        "time": times,
        "order": np.arange(num_events, dtype=np.int64),
        "kind": kind,
        "value": pd.Series(value, dtype="str"),
    })
    return table.iloc[rng.permutation(num_events)].reset_index(drop=True)


def _status_mib(field: str) -> float:
    """Return a memory field of ``/proc/self/status`` (Linux, in KiB there) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} line")


def current_rss_mib() -> float:
    """Return the resident memory of this process now, in MiB."""
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    """Return this process's peak resident memory so far, in MiB.

    VmHWM restarts at exec, unlike ``getrusage``'s ru_maxrss, which a child
    process inherits from its parent's peak at fork time.
    """
    return _status_mib("VmHWM")


def child_prepare(path: Path) -> dict:
    """Load the canonical table and time ``prepare`` on it (runs in a fresh process)."""
    from qsr_graph.data.prepare import prepare

    events = pd.read_parquet(path)
    rss_before = current_rss_mib()
    started = time.perf_counter()
    dataset = prepare(events)
    seconds = time.perf_counter() - started
    return {"step": "prepare", "events": len(events), "seconds": seconds,
            "rss_before_mib": rss_before, "peak_rss_mib": peak_rss_mib(),
            "kept_events": dataset.num_events, "sequences": dataset.num_users,
            "items": dataset.num_items, "queries": dataset.num_queries}


def child_reader(path: Path) -> dict:
    """Time the generic ``events`` reader followed by ``prepare`` on a Parquet log."""
    from qsr_graph.data.prepare import prepare
    from qsr_graph.data.readers import read_events

    rss_before = current_rss_mib()
    started = time.perf_counter()
    result = read_events("events", [path], user_column="user", time_column="time",
                         item_column="item", query_column="query")
    read_seconds = time.perf_counter() - started
    dataset = prepare(result.events, dropped=result.dropped, source=result.source)
    seconds = time.perf_counter() - started
    return {"step": "read + prepare", "events": len(result.events), "seconds": seconds,
            "read_seconds": read_seconds, "rss_before_mib": rss_before,
            "peak_rss_mib": peak_rss_mib(), "kept_events": dataset.num_events}


def run_child(step: str, path: Path) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", step, str(path)],
                            capture_output=True, text=True)
    if output.returncode:
        sys.exit(f"the {step} step failed:\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the log")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the log")
    parser.add_argument("--reader", action="store_true",
                        help="also time the generic events reader on a Parquet file")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        step, path = args.child
        figures = child_prepare(Path(path)) if step == "prepare" else child_reader(Path(path))
        print(json.dumps(figures))
        return

    with tempfile.TemporaryDirectory(prefix="bench_prepare.") as folder:
        started = time.perf_counter()
        events = synthetic_log(args.events, args.seed)
        print(f"generated {len(events):,} events ({events['user'].nunique():,} users, "
              f"{int((events['kind'] == KIND_QUERY).sum()):,} query events) "
              f"in {time.perf_counter() - started:.1f} s")
        canonical = Path(folder) / "events.parquet"
        events.to_parquet(canonical, index=False)
        if args.reader:
            generic = Path(folder) / "log.parquet"
            is_item = events["kind"] == KIND_ITEM
            pd.DataFrame({
                "user": events["user"], "time": events["time"],
                "item": events["value"].where(is_item),
                "query": events["value"].where(~is_item),
            }).to_parquet(generic, index=False)
        del events

        figures = run_child("prepare", canonical)
        print(f"prepare: {figures['events']:,} events in {figures['seconds']:.2f} s = "
              f"{figures['events'] / figures['seconds']:,.0f} events/s; "
              f"peak RSS {figures['peak_rss_mib']:,.0f} MiB "
              f"({figures['rss_before_mib']:,.0f} MiB with the table loaded)")
        print(f"  kept {figures['kept_events']:,} events in {figures['sequences']:,} sequences, "
              f"{figures['items']:,} items, {figures['queries']:,} queries")
        if args.reader:
            figures = run_child("reader", generic)
            print(f"read + prepare: {figures['events']:,} events in {figures['seconds']:.2f} s "
                  f"(read {figures['read_seconds']:.2f} s) = "
                  f"{figures['events'] / figures['seconds']:,.0f} events/s; "
                  f"peak RSS {figures['peak_rss_mib']:,.0f} MiB")


if __name__ == "__main__":
    main()
