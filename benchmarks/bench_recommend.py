"""Time recommending on CPU: single-history latency and batch throughput.

Two catalogues:

- ``trivago``: the bundled trivago slice, prepared with the default options,
  and a model of the default size (hidden 64, 2 blocks, 2 heads, max length
  50). The histories are the users' test inputs written back as raw events.
  Give ``--run RUN_DIR`` to time a trained run instead; without it the model
  is randomly initialised, which costs the same time as a trained one.
- ``1m``: a synthetic catalogue of 1,000,000 items, 50,000 words and 100,000
  queries with a randomly initialised model of the default size, and random
  histories of 5 to 50 events of which about a third are queries.

Latency is one ``Recommender.recommend(history, k=20)`` call (encoding,
forward pass, scoring every item, top-k), timed per history; throughput is
``recommend_batch`` over all histories. Run from the repository root:

    python benchmarks/bench_recommend.py [--run RUN_DIR] [--catalogue trivago|1m|both]
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from qsr_graph.data.dataset import KIND_ITEM, WORD_PAD, SequenceDataset
from qsr_model.config import ModelConfig
from qsr_model.query_seqrec import QuerySeqRec
from qsr_model.recommend import Recommender, Vocabulary

TRIVAGO = Path(__file__).resolve().parents[1] / "data" / "trivago" / "trivago_val_100k.parquet.snappy"


def raw_test_inputs(dataset: SequenceDataset) -> list[list[str]]:
    """Return every user's test input (the events before the test target) as raw events."""
    _, test_pos = dataset.split_positions()
    histories = []
    for user in range(dataset.num_users):
        lo = dataset.offsets[user]
        events = []
        for pos in range(lo, test_pos[user]):
            token = dataset.tokens[pos]
            if dataset.kinds[pos] == KIND_ITEM:
                events.append("i:" + dataset.item_ids[token])
            else:
                events.append("q:" + dataset.query_texts[token])
        histories.append(events)
    return histories


def trivago_setup(run_dir: Path | None) -> tuple[Recommender, list[list[str]], str]:
    from qsr_graph.data.prepare import PrepareConfig, prepare
    from qsr_graph.data.readers import read_events

    result = read_events("trivago", [TRIVAGO])
    dataset = prepare(result.events, PrepareConfig(), result.dropped, result.source)
    histories = raw_test_inputs(dataset)
    if run_dir is not None:
        return Recommender.load(run_dir), histories, f"trained run {run_dir}"
    torch.manual_seed(0)
    model = QuerySeqRec(ModelConfig(), num_items=dataset.num_items, num_words=dataset.num_words)
    recommender = Recommender(model, Vocabulary.from_dataset(dataset), max_length=50)
    return recommender, histories, "randomly initialised model"


def million_setup(num_histories: int) -> tuple[Recommender, list[list[str]], str]:
    num_items, num_words, num_queries, width = 1_000_000, 50_000, 100_000, 5
    rng = np.random.default_rng(0)
    words = [f"w{w}" for w in range(num_words)]
    query_words = np.full((num_queries, width), WORD_PAD, dtype=np.int64)
    lengths = rng.integers(1, width + 1, size=num_queries)
    texts = []
    for q in range(num_queries):
        bag = rng.choice(num_words, size=lengths[q], replace=False)
        query_words[q, :lengths[q]] = bag
        texts.append(" ".join(words[w] for w in bag))
    vocabulary = Vocabulary(item_ids=[str(i) for i in range(num_items)], query_texts=texts,
                            query_words=query_words, words=words, max_query_words=width)
    torch.manual_seed(0)
    model = QuerySeqRec(ModelConfig(), num_items=num_items, num_words=num_words)
    recommender = Recommender(model, vocabulary, max_length=50)

    histories = []
    for _ in range(num_histories):
        events = []
        for _ in range(int(rng.integers(5, 51))):
            if rng.random() < 1 / 3:
                events.append("q:" + texts[int(rng.integers(num_queries))])
            else:
                events.append("i:" + str(int(rng.integers(num_items))))
        histories.append(events)
    return recommender, histories, "randomly initialised model, synthetic vocabulary"


def time_catalogue(name: str, recommender: Recommender, histories: list[list[str]],
                   model_note: str, single: int, batch_size: int) -> None:
    sample = random.Random(0).sample(histories, min(single, len(histories)))
    for history in sample[:10]:
        recommender.recommend(history, k=20)  # warm-up

    # CPU time is reported beside wall time because on a shared machine the
    # wall time also counts the time other processes held the cores.
    latencies = []
    cpu_start = time.process_time()
    for history in sample:
        start = time.perf_counter()
        recommender.recommend(history, k=20)
        latencies.append((time.perf_counter() - start) * 1000)
    cpu_per_call = (time.process_time() - cpu_start) / len(sample) * 1000
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]

    runs = []
    cpu_runs = []
    for _ in range(3):
        start, cpu_start = time.perf_counter(), time.process_time()
        recommender.recommend_batch(histories, k=20, batch_size=batch_size)
        runs.append(time.perf_counter() - start)
        cpu_runs.append(time.process_time() - cpu_start)
    seconds = statistics.median(runs)

    lengths = [len(h) for h in histories]
    print(f"\n[{name}] {recommender.num_items:,} items, {model_note}")
    print(f"  histories: {len(histories):,}, events per history: mean "
          f"{statistics.mean(lengths):.1f}, max {max(lengths)}")
    print(f"  single history, k=20 ({len(sample)} calls): median {statistics.median(latencies):.2f} ms, "
          f"p99 {p99:.2f} ms wall; mean {cpu_per_call:.2f} ms CPU (all threads)")
    print(f"  batch, k=20, batch_size={batch_size}: {len(histories) / seconds:,.0f} histories/s "
          f"({seconds:.2f} s wall, {statistics.median(cpu_runs):.2f} s CPU for "
          f"{len(histories):,}, median of 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="trained run folder on the trivago slice")
    parser.add_argument("--catalogue", choices=("trivago", "1m", "both"), default="both")
    parser.add_argument("--single", type=int, default=300, help="histories timed one by one")
    parser.add_argument("--histories", type=int, default=2000,
                        help="histories of the 1m catalogue's batch")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, load average "
          f"{os.getloadavg()[0]:.1f} over {os.cpu_count()} cores")
    if args.catalogue in ("trivago", "both"):
        recommender, histories, model_note = trivago_setup(args.run)
        time_catalogue("trivago", recommender, histories, model_note, args.single,
                       args.batch_size)
    if args.catalogue in ("1m", "both"):
        recommender, histories, model_note = million_setup(args.histories)
        time_catalogue("1m", recommender, histories, model_note, args.single, args.batch_size)


if __name__ == "__main__":
    main()
