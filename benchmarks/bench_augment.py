"""Measure the replacement sampler's speed against a per-token Python loop.

Prints tokens per second of :class:`qsr_graph.augment.ReplacementSampler` and
of a straightforward per-token implementation (written here only as the
comparison), and the sampler's share of a training step, estimated against a
stand-in transformer step because the share depends on the model.

Run:
    python benchmarks/bench_augment.py --graph graph.pt
    python benchmarks/bench_augment.py --synthetic-items 1000000 --synthetic-queries 200000

Without ``--graph`` only the synthetic graph is measured. Batches are full
(no padding), the sampler's worst case; times are medians over batches, which
resists spikes from other processes on a shared machine.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch_geometric.data import HeteroData

from qsr_graph.augment import DEFAULT_BETA_ITEM, DEFAULT_BETA_QUERY, DEFAULT_RHO, ReplacementSampler

PAD, ITEM, QUERY = 0, 1, 2

# Logits allowed in the stand-in's full softmax before it keeps only the last
# position: 2**27 float32 values is 512 MiB, plus as much again for the gradient.
MAX_SOFTMAX_LOGITS = 2**27


@dataclass
class GraphSizes:
    """Node counts and similar-set sizes of a benchmark graph."""

    name: str
    num_items: int
    num_queries: int
    item_edges: int
    query_edges: int


def synthetic_similar_edges(num_nodes: int, max_similar: int, zipf_a: float, seed: int) -> torch.Tensor:
    """Return a ``[2, S]`` similar edge_index, sorted, loop-free, with Zipf-like set sizes.

    Set sizes are ``zipf(a) - 1`` capped at ``max_similar``: at ``a = 1.3`` a
    quarter of the nodes have no similar node and a third reach the cap,
    like the capped two-hop sets of a large graph.
    """
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.zipf(zipf_a, size=num_nodes) - 1, max_similar)
    sizes = np.minimum(sizes, num_nodes - 1)
    row = np.repeat(np.arange(num_nodes, dtype=np.int64), sizes)
    # Draw from the other N - 1 ids, shifting ids at or above the row past it.
    col = rng.integers(0, num_nodes - 1, size=row.size, dtype=np.int64)
    col = col + (col >= row)
    keys = np.unique(row * num_nodes + col)  # sorted by (row, col), duplicates dropped
    return torch.from_numpy(np.stack([keys // num_nodes, keys % num_nodes]))


def synthetic_graph(num_items: int, num_queries: int, max_similar: int, zipf_a: float, seed: int) -> HeteroData:
    """Build a graph holding only what the sampler reads."""
    data = HeteroData()
    data["item"].num_nodes = num_items
    data["query"].num_nodes = num_queries
    data["item", "similar", "item"].edge_index = synthetic_similar_edges(num_items, max_similar, zipf_a, seed)
    data["query", "similar", "query"].edge_index = synthetic_similar_edges(num_queries, max_similar, zipf_a, seed + 1)
    return data


def random_batches(
    sizes: GraphSizes, count: int, batch_size: int, length: int, query_share: float, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Return ``count`` (kinds, tokens) batches of shape (B, L) without padding."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        kinds = torch.where(torch.rand(batch_size, length, generator=generator) < query_share, QUERY, ITEM)
        items = torch.randint(0, sizes.num_items, (batch_size, length), generator=generator)
        queries = torch.randint(0, sizes.num_queries, (batch_size, length), generator=generator)
        batches.append((kinds, torch.where(kinds == QUERY, queries, items)))  # (B, L) each
    return batches


class PerTokenSampler:
    """The comparison: one Python loop iteration per token, set look-ups, rejection sampling.

    Draws from the same distribution as :class:`ReplacementSampler`, token by
    token with :mod:`random`. Similar sets are copied into Python tuples and
    sets only for the nodes that the benchmark batches contain, so building it
    for a 1-million-node graph stays quick. That preparation is not timed.
    """

    def __init__(self, data: HeteroData, beta_item: float, beta_query: float, rho: float, nodes: dict[int, set[int]]):
        self.rho = rho
        self.beta = {ITEM: beta_item, QUERY: beta_query}
        self.num_nodes = {ITEM: data["item"].num_nodes, QUERY: data["query"].num_nodes}
        self.similar: dict[int, dict[int, tuple[tuple[int, ...], frozenset[int]]]] = {}
        for kind, node_type in ((ITEM, "item"), (QUERY, "query")):
            row, col = data[node_type, "similar", node_type].edge_index
            needed = torch.tensor(sorted(nodes[kind]), dtype=torch.int64)
            keep = torch.isin(row, needed)
            table: dict[int, list[int]] = {node: [] for node in nodes[kind]}
            for source, target in zip(row[keep].tolist(), col[keep].tolist()):
                table[source].append(target)
            self.similar[kind] = {node: (tuple(sims), frozenset(sims)) for node, sims in table.items()}

    def __call__(self, kinds: list[list[int]], tokens: list[list[int]], rng: random.Random) -> list[list[int]]:
        out = []
        for kind_row, token_row in zip(kinds, tokens):
            new_row = []
            for kind, token in zip(kind_row, token_row):
                if kind == PAD or rng.random() >= self.beta[kind]:
                    new_row.append(token)
                    continue
                new_row.append(self._draw(kind, token, rng))
            out.append(new_row)
        return out

    def _draw(self, kind: int, token: int, rng: random.Random) -> int:
        num_nodes = self.num_nodes[kind]
        similar, similar_set = self.similar[kind][token]
        weight_similar = self.rho * len(similar)
        num_other = num_nodes - 1 - len(similar)
        if rng.random() * (weight_similar + num_other) < weight_similar:
            return similar[rng.randrange(len(similar))]
        while True:
            candidate = rng.randrange(num_nodes)
            if candidate != token and candidate not in similar_set:
                return candidate


class StandInStep(nn.Module):
    """A stand-in for one SASRec-like training step, not the qsr model.

    Item embedding, 2-layer transformer encoder (d = 64, 2 heads, causal), and
    either a full softmax cross-entropy over every item or SASRec's binary
    cross-entropy with one random negative item per position.
    """

    def __init__(self, num_items: int, dim: int = 64):
        super().__init__()
        self.item_emb = nn.Embedding(num_items, dim)
        self.pos_emb = nn.Embedding(512, dim)
        layer = nn.TransformerEncoderLayer(dim, nhead=2, dim_feedforward=dim * 4, dropout=0.2, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        B, L = tokens.shape
        x = self.item_emb(tokens) + self.pos_emb.weight[:L]  # (B, L, D)
        causal = nn.Transformer.generate_square_subsequent_mask(L)
        return self.encoder(x, mask=causal, is_causal=True)  # (B, L, D)

    def full_softmax_loss(self, tokens: torch.Tensor, targets: torch.Tensor, positions: int) -> torch.Tensor:
        hidden = self.hidden(tokens)
        L = tokens.shape[1]
        hidden = hidden[:, L - positions :].reshape(-1, hidden.shape[-1])  # (B * P, D)
        logits = hidden @ self.item_emb.weight.t()  # (B * P, I)
        return nn.functional.cross_entropy(logits, targets[:, L - positions :].reshape(-1))

    def one_negative_loss(self, tokens: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        hidden = self.hidden(tokens)  # (B, L, D)
        positive = (hidden * self.item_emb(targets)).sum(-1)  # (B, L)
        negative = (hidden * self.item_emb(negatives)).sum(-1)  # (B, L)
        return nn.functional.softplus(-positive).mean() + nn.functional.softplus(negative).mean()


def time_stand_in_step(
    num_items: int, batch_size: int, length: int, steps: int, seed: int, loss: str
) -> tuple[float, str]:
    """Return (median seconds per forward+backward+Adam step, description of the loss)."""
    torch.manual_seed(seed)
    model = StandInStep(num_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, num_items, (batch_size, length))
    targets = torch.randint(0, num_items, (batch_size, length))
    if loss == "full":
        positions = length if batch_size * length * num_items <= MAX_SOFTMAX_LOGITS else 1
        where = "all positions" if positions == length else "last position only"
        description = f"full softmax over {num_items:,} items, {where}"
    else:
        description = "binary cross-entropy, one negative per position"
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        if loss == "full":
            value = model.full_softmax_loss(tokens, targets, positions)
        else:
            negatives = torch.randint(0, num_items, (batch_size, length))
            value = model.one_negative_loss(tokens, targets, negatives)
        value.backward()
        optimizer.step()
        if step > 0:  # the first step allocates Adam's state
            times.append(time.perf_counter() - start)
    return float(np.median(times)), description


def time_vectorised(sampler: ReplacementSampler, batches: list, seed: int) -> float:
    """Return the median seconds per batch of the tensor sampler."""
    generator = torch.Generator().manual_seed(seed)
    sampler(*batches[0], generator)  # warm-up
    times = []
    for kinds, tokens in batches:
        start = time.perf_counter()
        sampler(kinds, tokens, generator)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_per_token(reference: PerTokenSampler, batches: list, seed: int) -> float:
    """Return the median seconds per batch of the per-token loop.

    The timing includes turning the tensors into Python lists and the result
    back into a tensor, because a training loop keeps its batches as tensors.
    """
    rng = random.Random(seed)
    times = []
    for kinds, tokens in batches:
        start = time.perf_counter()
        torch.tensor(reference(kinds.tolist(), tokens.tolist(), rng))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure_graph(data: HeteroData, name: str, args: argparse.Namespace) -> None:
    """Print the figures for one graph."""
    sizes = GraphSizes(
        name,
        data["item"].num_nodes,
        data["query"].num_nodes,
        data["item", "similar", "item"].edge_index.shape[1],
        data["query", "similar", "query"].edge_index.shape[1],
    )
    print(
        f"\n== {name}: {sizes.num_items:,} items ({sizes.item_edges / max(sizes.num_items, 1):.1f} similar each), "
        f"{sizes.num_queries:,} queries ({sizes.query_edges / max(sizes.num_queries, 1):.1f} similar each)"
    )
    start = time.perf_counter()
    ReplacementSampler.from_graph(data, rho=args.rho)
    print(f"from_graph: {time.perf_counter() - start:.2f} s")

    batches = random_batches(sizes, args.batches, args.batch_size, args.length, args.query_share, args.seed)
    reference_batches = batches[: args.reference_batches]
    nodes = {ITEM: set(), QUERY: set()}
    for kinds, tokens in reference_batches:
        nodes[ITEM].update(tokens[kinds == ITEM].tolist())
        nodes[QUERY].update(tokens[kinds == QUERY].tolist())

    steps = {}
    for loss in ("full", "negative"):
        seconds, description = time_stand_in_step(
            sizes.num_items, args.batch_size, args.length, args.model_steps, args.seed, loss
        )
        steps[loss] = seconds
        print(f"stand-in step, {description}: {seconds * 1000:.1f} ms per {args.batch_size}x{args.length} batch")

    for beta in (args.beta, 1.0):
        sampler = ReplacementSampler.from_graph(data, beta_item=beta, beta_query=beta, rho=args.rho)
        reference = PerTokenSampler(data, beta, beta, args.rho, nodes)
        fast_batch = time_vectorised(sampler, batches, args.seed)
        slow_batch = time_per_token(reference, reference_batches, args.seed)
        fast_rate = args.batch_size * args.length / fast_batch
        slow_rate = args.batch_size * args.length / slow_batch
        shares = ", ".join(
            f"{fast_batch / (fast_batch + seconds):.1%} ({loss})" for loss, seconds in steps.items()
        )
        print(
            f"beta={beta:g} rho={args.rho:g}: tensor sampler {fast_rate:,.0f} tokens/s "
            f"({fast_batch * 1000:.2f} ms/batch), per-token loop {slow_rate:,.0f} tokens/s "
            f"({slow_batch * 1000:.1f} ms/batch), speed-up {fast_rate / slow_rate:.1f}x; "
            f"sampler's share of sampler + stand-in step: {shares}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", help="graph .pt written by 'qsr graph build' (the bundled data's graph)")
    parser.add_argument("--synthetic-items", type=int, default=1_000_000, help="items of the synthetic graph; 0 skips it")
    parser.add_argument("--synthetic-queries", type=int, default=200_000, help="queries of the synthetic graph")
    parser.add_argument("--max-similar", type=int, default=20, help="cap on a synthetic similar set's size")
    parser.add_argument(
        "--zipf-a", type=float, default=1.3, help="Zipf exponent of synthetic set sizes (1.3: mean 9, a third at the cap)"
    )
    parser.add_argument("--batch-size", type=int, default=128, help="sequences per batch (B)")
    parser.add_argument("--length", type=int, default=50, help="tokens per sequence (L)")
    parser.add_argument("--query-share", type=float, default=0.2, help="share of query tokens in a batch")
    parser.add_argument("--batches", type=int, default=50, help="batches timed for the tensor sampler")
    parser.add_argument("--reference-batches", type=int, default=10, help="batches timed for the per-token loop")
    parser.add_argument("--model-steps", type=int, default=5, help="stand-in training steps timed (median)")
    parser.add_argument("--beta", type=float, default=DEFAULT_BETA_ITEM, help="beta for items and queries")
    parser.add_argument("--rho", type=float, default=DEFAULT_RHO, help="weight of a similar node")
    parser.add_argument("--seed", type=int, default=0, help="seed of batches, samplers and the stand-in model")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 keeps torch's default")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if DEFAULT_BETA_QUERY != DEFAULT_BETA_ITEM:
        print(f"note: the default query beta is {DEFAULT_BETA_QUERY}; --beta sets both")

    # Other processes on a shared machine slow every figure, and multi-threaded
    # torch ops suffer most, so the load is printed with the results.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs "
        f"({platform.machine()}), load average {load}, batch {args.batch_size}x{args.length}, "
        f"query share {args.query_share}"
    )
    if args.graph:
        from qsr_graph.io import load_graph

        measure_graph(load_graph(args.graph), f"graph {args.graph}", args)
    if args.synthetic_items > 0:
        start = time.perf_counter()
        data = synthetic_graph(args.synthetic_items, args.synthetic_queries, args.max_similar, args.zipf_a, args.seed)
        print(f"\nsynthetic graph built in {time.perf_counter() - start:.1f} s")
        measure_graph(data, "synthetic Zipf graph", args)


if __name__ == "__main__":
    main()
