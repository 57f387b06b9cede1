"""Time ``build_graph`` on the bundled trivago slice and on a large synthetic graph.

The synthetic dataset has the largest dataset size qsr targets: 8.6 million
items, 1.5 million queries and 25.7 million item interactions (``--scale``
shrinks all three). Query popularity is Zipf-shaped (exponent 1),
and an item event is drawn either near its query's own block of items (70%,
Zipf offsets, so each query has favourite items) or from a Zipf-shaped global
item popularity (30%). One interaction in three starts a new search, and
every item and query occurs at least once.

Run:
    python benchmarks/bench_graph.py --scale 0.1
    nohup python benchmarks/bench_graph.py --scale 1 > bench.log 2>&1 &

Peak memory is ``ru_maxrss`` of this process, so it includes the synthetic
dataset itself; it is printed after generation and after each step.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qsr_graph.build import GraphConfig, build_graph
from qsr_graph.data.dataset import KIND_ITEM, KIND_QUERY, SequenceDataset
from qsr_graph.io import load_graph, save_graph

REPO_ROOT = Path(__file__).resolve().parents[1]
TRIVAGO = REPO_ROOT / "data" / "trivago" / "trivago_val_100k.parquet.snappy"

FULL_ITEMS = 8_600_000
FULL_QUERIES = 1_500_000
FULL_INTERACTIONS = 25_700_000
ITEMS_PER_USER = 20
NEW_SEARCH_RATE = 1 / 3
LOCAL_SHARE = 0.7


def peak_memory_gib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def zipf_ranks(rng: np.random.Generator, n: int, exponent: float, size: int) -> np.ndarray:
    """Draw ``size`` ranks in ``[0, n)`` with probability proportional to ``1 / (rank + 1) ** exponent``."""
    cdf = np.cumsum(1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size)), n - 1).astype(np.int64)


def cover_all(rng: np.random.Generator, values: np.ndarray, n: int) -> np.ndarray:
    """Overwrite ``n`` random entries with a permutation of ``0..n-1``, so every id occurs."""
    if len(values) >= n:
        values[rng.choice(len(values), size=n, replace=False)] = rng.permutation(n)
    return values


def synthetic_dataset(scale: float, seed: int = 0) -> SequenceDataset:
    """Build a Zipf-shaped synthetic dataset directly from arrays (no per-event Python)."""
    rng = np.random.default_rng(seed)
    num_items = max(10, round(FULL_ITEMS * scale))
    num_queries = max(10, round(FULL_QUERIES * scale))
    num_interactions = max(100, round(FULL_INTERACTIONS * scale))
    num_users = max(1, num_interactions // ITEMS_PER_USER)

    # Item events per user: two each (validation and test targets), the rest at random.
    user_of_extra = rng.integers(0, num_users, num_interactions - 2 * num_users)
    items_per_user = 2 + np.bincount(user_of_extra, minlength=num_users)
    first_item = np.zeros(num_interactions, dtype=bool)
    first_item[np.cumsum(items_per_user)[:-1]] = True
    first_item[0] = True

    # A search (query event) precedes every user's first item and a third of the others.
    new_search = first_item | (rng.random(num_interactions) < NEW_SEARCH_RATE)
    search_of_item = np.cumsum(new_search) - 1
    num_searches = int(search_of_item[-1]) + 1
    query_of_search = rng.permutation(num_queries)[zipf_ranks(rng, num_queries, 1.0, num_searches)]
    query_of_search = cover_all(rng, query_of_search, num_queries)

    query_of_item = query_of_search[search_of_item]
    block_start = rng.integers(0, num_items, num_queries)
    near = (block_start[query_of_item]
            + zipf_ranks(rng, min(100_000, num_items), 1.2, num_interactions)) % num_items
    popular = rng.permutation(num_items)[zipf_ranks(rng, num_items, 1.0, num_interactions)]
    item = np.where(rng.random(num_interactions) < LOCAL_SHARE, near, popular)
    item = cover_all(rng, item, num_items)
    del near, popular, query_of_item

    # Interleave: each item event moves right by the searches up to and including it.
    num_events = num_interactions + num_searches
    item_position = np.arange(num_interactions) + search_of_item + 1
    search_position = item_position[new_search] - 1
    kinds = np.empty(num_events, dtype=np.int8)
    tokens = np.empty(num_events, dtype=np.int64)
    kinds[item_position], tokens[item_position] = KIND_ITEM, item
    kinds[search_position], tokens[search_position] = KIND_QUERY, query_of_search
    searches_per_user = np.add.reduceat(new_search.astype(np.int64),
                                        np.concatenate([[0], np.cumsum(items_per_user)[:-1]]))
    offsets = np.concatenate([[0], np.cumsum(items_per_user + searches_per_user)])

    words_per_query = 3
    return SequenceDataset(
        item_ids=[f"i{k}" for k in range(num_items)],
        query_texts=[f"q{k}" for k in range(num_queries)],
        query_words=rng.integers(0, 50_000, (num_queries, words_per_query)),
        words=[f"w{k}" for k in range(50_000)],
        user_ids=[f"u{k}" for k in range(num_users)],
        offsets=offsets, kinds=kinds, tokens=tokens,
        times=np.arange(num_events, dtype=np.float64),
        options={"synthetic_scale": scale, "seed": seed})


def report(name: str, dataset: SequenceDataset, config: GraphConfig, out_dir: Path) -> None:
    """Build, save and reload one graph, printing wall times, sizes and peak memory."""
    print(f"[{name}] {dataset.num_items:,} items, {dataset.num_queries:,} queries, "
          f"{int((dataset.kinds == KIND_ITEM).sum()):,} interactions, {dataset.num_events:,} events; "
          f"peak memory so far {peak_memory_gib():.2f} GiB", flush=True)
    started, cpu_started = time.perf_counter(), cpu_seconds()
    data = build_graph(dataset, config, progress=sys.stderr.isatty())
    build_seconds, build_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    stats = data.build_stats
    print(f"[{name}] build {build_seconds:.1f} s wall, {build_cpu:.1f} s CPU, "
          f"peak memory {peak_memory_gib():.2f} GiB", flush=True)
    print(f"[{name}] E1 links {stats['links_e1']:,}; kept searched_by {stats['links']['searched_by']:,}, "
          f"leads_to {stats['links']['leads_to']:,}", flush=True)
    for node_type, sizes in stats["similar"].items():
        print(f"[{name}] similar {node_type}: {sizes['links']:,} links, mean {sizes['mean']:.1f}, "
              f"median {sizes['median']:.0f}, max {sizes['max']}, truncated {sizes['truncated']:,}, "
              f"hubs cut {sizes['hubs_cut']:,}, two-hop paths {sizes['paths']:,}", flush=True)

    # Paths the similar sets would need without the max_expand cut: every
    # neighbour's degree squared, summed.
    for node_type, (src, rel, dst) in (("item", ("item", "searched_by", "query")),
                                       ("query", ("query", "leads_to", "item"))):
        degree = np.bincount(data[src, rel, dst].edge_index[1].numpy()).astype(np.float64)
        print(f"[{name}] similar {node_type} without max_expand: {(degree ** 2).sum():,.0f} "
              f"two-hop paths", flush=True)

    path = out_dir / f"{name}.pt"
    started = time.perf_counter()
    save_graph(data, path)
    save_seconds = time.perf_counter() - started
    del data
    started = time.perf_counter()
    load_graph(path)
    load_seconds = time.perf_counter() - started
    print(f"[{name}] save {save_seconds:.1f} s ({path.stat().st_size / 2**20:.1f} MiB), "
          f"load {load_seconds:.1f} s, peak memory {peak_memory_gib():.2f} GiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="size of the synthetic graph relative to 8.6M items (default: 1)")
    parser.add_argument("--alpha", type=float, default=0.5, help="alpha of the build (default: 0.5)")
    parser.add_argument("--max-similar", type=int, default=GraphConfig.max_similar)
    parser.add_argument("--max-expand", type=int, default=GraphConfig.max_expand)
    parser.add_argument("--skip-trivago", action="store_true", help="time only the synthetic graph")
    args = parser.parse_args()
    config = GraphConfig(alpha=args.alpha, max_similar=args.max_similar, max_expand=args.max_expand)
    print(f"config: {config}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        if not args.skip_trivago:
            from qsr_graph.data.prepare import prepare
            from qsr_graph.data.readers import read_events

            read = read_events("trivago", [TRIVAGO])
            report("trivago", prepare(read.events, dropped=read.dropped, source=read.source),
                   config, out_dir)

        started = time.perf_counter()
        dataset = synthetic_dataset(args.scale)
        print(f"[synthetic x{args.scale:g}] generated in {time.perf_counter() - started:.1f} s",
              flush=True)
        report(f"synthetic_x{args.scale:g}", dataset, config, out_dir)


if __name__ == "__main__":
    main()
