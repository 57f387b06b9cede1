"""Tests for the rho-weighted replacement sampler."""
from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import chi2
from torch_geometric.data import HeteroData

from qsr_graph.augment import ReplacementSampler, SimilarTable, similar_draw_probability

PAD, ITEM, QUERY = 0, 1, 2

# Statistical tests use a 6-sigma normal bound: a correct sampler fails one
# with probability about 2e-9. Chi-square tests use the 1 - 1e-6 quantile.
SIGMAS = 6.0
CHI2_LEVEL = 1.0 - 1e-6


def make_csr(similar_sets: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (ptr, index) for hand-written similar sets, one sorted list per node."""
    ptr = [0]
    for similar in similar_sets:
        ptr.append(ptr[-1] + len(similar))
    index = [node for similar in similar_sets for node in similar]
    return torch.tensor(ptr), torch.tensor(index, dtype=torch.int64)


def make_sampler(
    item_sets: list[list[int]],
    query_sets: list[list[int]],
    beta_item: float = 1.0,
    beta_query: float = 1.0,
    rho: float = 4.0,
) -> ReplacementSampler:
    return ReplacementSampler(
        len(item_sets),
        *make_csr(item_sets),
        len(query_sets),
        *make_csr(query_sets),
        beta_item=beta_item,
        beta_query=beta_query,
        rho=rho,
    )


def make_graph(item_sets: list[list[int]], query_sets: list[list[int]]) -> HeteroData:
    data = HeteroData()
    data["item"].num_nodes = len(item_sets)
    data["query"].num_nodes = len(query_sets)
    for node_type, sets in (("item", item_sets), ("query", query_sets)):
        pairs = [(row, col) for row, similar in enumerate(sets) for col in similar]
        edge_index = torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2).t().contiguous()
        data[node_type, "similar", node_type].edge_index = edge_index
    return data


def repeated_draws(sampler: ReplacementSampler, kind: int, node: int, count: int, seed: int) -> torch.Tensor:
    """Draw ``count`` replacements of one node (with beta = 1, every token is replaced)."""
    kinds = torch.full((1, count), kind, dtype=torch.int64)
    tokens = torch.full((1, count), node, dtype=torch.int64)
    return sampler(kinds, tokens, torch.Generator().manual_seed(seed))[0]


def chi_square_uniform(counts: torch.Tensor) -> tuple[float, float]:
    """Return the chi-square statistic of ``counts`` against uniform, and its rejection threshold."""
    expected = counts.sum().item() / counts.numel()
    statistic = ((counts.double() - expected) ** 2 / expected).sum().item()
    return statistic, chi2.ppf(CHI2_LEVEL, counts.numel() - 1)


# Item similar sets used by several tests (6 items) and query sets (3 queries).
ITEM_SETS = [[1, 2], [0], [0, 3, 5], [2], [], [2]]
QUERY_SETS = [[1], [0], []]


def test_similar_draw_probability_values():
    assert similar_draw_probability(num_nodes=11, num_similar=2, rho=4.0) == 0.5
    assert similar_draw_probability(num_nodes=11, num_similar=0, rho=4.0) == 0.0
    assert similar_draw_probability(num_nodes=11, num_similar=10, rho=1.0) == 1.0
    assert similar_draw_probability(num_nodes=1, num_similar=0, rho=2.0) == 0.0
    assert similar_draw_probability(num_nodes=5, num_similar=2, rho=1.0) == 0.5


def test_similar_draw_probability_rejects_bad_values():
    with pytest.raises(ValueError, match="rho must be at least 1, got 0.5"):
        similar_draw_probability(num_nodes=5, num_similar=1, rho=0.5)
    with pytest.raises(ValueError, match="num_similar must be between 0 and 4, got 5"):
        similar_draw_probability(num_nodes=5, num_similar=5, rho=2.0)


def test_similar_table_lookup_values():
    # Node 2 of 6 has similar set {0, 3, 5}: the non-similar nodes are 1, 2, 4,
    # so node 2 has rank 1 among them. Gaps: 0 has 0 non-similar ids below it,
    # 3 has 2 (1 and 2), 5 has 3 (1, 2, 4).
    table = SimilarTable.from_csr("item", 6, *make_csr(ITEM_SETS), rho=4.0)
    assert table.ptr.tolist() == [0, 2, 3, 6, 7, 7, 8]
    assert table.index.tolist() == [1, 2, 0, 0, 3, 5, 2, 2]
    assert table.gaps.tolist() == [1, 1, 0, 0, 2, 3, 2, 2]
    assert table.node_table[:, 0].tolist() == [0, 2, 3, 6, 7, 7]
    assert table.node_table[:, 1].tolist() == [2, 1, 3, 1, 0, 1]
    assert table.node_table[:, 3].tolist() == [0, 0, 1, 2, 4, 4]
    # Largest set has 3 entries: 2 binary-search rounds.
    assert table.search_rounds == 2
    # Node 2: rho * 3 / (rho * 3 + 2) = 12 / 14; node 4 has no similar node.
    assert table.similar_probability[2].item() == pytest.approx(12 / 14)
    assert table.node_table[2, 2].item() == round(12 / 14 * 2**62)
    assert table.node_table[4, 2].item() == 0


def test_similar_table_full_set_threshold():
    # A node similar to every other node always takes the similar branch:
    # its threshold is 2**62, above every 62-bit draw.
    table = SimilarTable.from_csr("item", 3, *make_csr([[1, 2], [], []]), rho=1.0)
    assert table.node_table[:, 2].tolist() == [2**62, 0, 0]


def test_draw_maps_every_pick_to_its_node():
    table = SimilarTable.from_csr("item", 6, *make_csr(ITEM_SETS), rho=4.0)
    cases = {
        # node: (similar nodes in order, other nodes in order)
        0: ([1, 2], [3, 4, 5]),
        2: ([0, 3, 5], [1, 4]),
        4: ([], [0, 1, 2, 3, 5]),
        5: ([2], [0, 1, 3, 4]),
    }
    for node, (similar, other) in cases.items():
        # Branch bits 0 pick the similar branch (threshold > 0), 2**62 - 1 the other.
        for branch, expected in ((0, similar), (2**62 - 1, other)):
            picks = torch.arange(len(expected), dtype=torch.int64)
            nodes = torch.full_like(picks, node)
            drawn = table.draw(nodes, torch.full_like(picks, branch), picks)
            assert drawn.tolist() == expected, (node, branch)
    # A zero threshold rejects even the smallest draw: node 4 has no similar set.
    assert table.draw(torch.tensor([4]), torch.tensor([0]), torch.tensor([0])).tolist() == [0]


def test_concat_offsets_rows_and_keeps_local_ids():
    items = SimilarTable.from_csr("item", 6, *make_csr(ITEM_SETS), rho=4.0)
    queries = SimilarTable.from_csr("query", 3, *make_csr(QUERY_SETS), rho=4.0)
    joint = SimilarTable.concat("item and query", [items, queries])
    assert joint.num_nodes == 9
    assert joint.ptr.tolist() == [0, 2, 3, 6, 7, 7, 8, 9, 10, 10]
    assert joint.index.tolist() == [1, 2, 0, 0, 3, 5, 2, 2, 1, 0]
    assert joint.node_table[6:, 0].tolist() == [8, 9, 10]
    assert joint.node_table[:, 4].tolist() == [6] * 6 + [3] * 3
    # Query 2 (joint node 8) has no similar query: its other queries are 0 and 1.
    picks = torch.tensor([0, 1])
    drawn = joint.draw(torch.tensor([8, 8]), torch.full_like(picks, 2**62 - 1), picks)
    assert drawn.tolist() == [0, 1]


def test_draw_maps_ranks_past_long_similar_set():
    # Node 0 of 40 is similar to every odd node 1..29 (15 entries, 4 search
    # rounds). The non-similar nodes other than 0 are 2, 4, ..., 28, then 30..39.
    similar = list(range(1, 30, 2))
    item_sets = [similar] + [[] for _ in range(39)]
    table = SimilarTable.from_csr("item", 40, *make_csr(item_sets), rho=2.0)
    assert table.search_rounds == 4
    expected = list(range(2, 30, 2)) + list(range(30, 40))
    picks = torch.arange(len(expected), dtype=torch.int64)
    drawn = table.draw(torch.zeros_like(picks), torch.full_like(picks, 2**62 - 1), picks)
    assert drawn.tolist() == expected


def test_draw_wraps_offsets_modulo_count():
    table = SimilarTable.from_csr("item", 6, *make_csr(ITEM_SETS), rho=4.0)
    nodes = torch.tensor([2, 2, 2])
    branch = torch.tensor([2**62 - 1, 2**62 - 1, 0])
    offsets = torch.tensor([2, 2**40 + 1, 5])
    # Other nodes of 2 are [1, 4], and its similar nodes are [0, 3, 5].
    assert table.draw(nodes, branch, offsets).tolist() == [1, 4, 5]


def test_from_graph_matches_csr_constructor():
    graph_sampler = ReplacementSampler.from_graph(make_graph(ITEM_SETS, QUERY_SETS), 0.3, 0.2, rho=5.0)
    csr_sampler = make_sampler(ITEM_SETS, QUERY_SETS, beta_item=0.3, beta_query=0.2, rho=5.0)
    assert graph_sampler.items.ptr.tolist() == csr_sampler.items.ptr.tolist()
    assert graph_sampler.items.index.tolist() == csr_sampler.items.index.tolist()
    assert graph_sampler.queries.ptr.tolist() == [0, 1, 2, 2]
    assert graph_sampler.queries.index.tolist() == [1, 0]
    assert (graph_sampler.beta_item, graph_sampler.beta_query, graph_sampler.rho) == (0.3, 0.2, 5.0)

    kinds = torch.tensor([[1, 1, 2, 1, 2, 1]] * 20)
    tokens = torch.tensor([[0, 2, 1, 4, 0, 5]] * 20)
    first = graph_sampler(kinds, tokens, torch.Generator().manual_seed(3))
    second = csr_sampler(kinds, tokens, torch.Generator().manual_seed(3))
    assert first.tolist() == second.tolist()


def test_from_graph_rejects_self_loop():
    graph = make_graph(ITEM_SETS, QUERY_SETS)
    graph["query", "similar", "query"].edge_index = torch.tensor([[0, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"query: similar edge 1 is a self-loop on node 1"):
        ReplacementSampler.from_graph(graph)


def test_from_graph_rejects_unsorted_edges():
    graph = make_graph(ITEM_SETS, QUERY_SETS)
    graph["item", "similar", "item"].edge_index = torch.tensor([[0, 0, 1], [2, 1, 0]])
    with pytest.raises(ValueError, match=r"item: .* sorted by \(row, column\).* edge 1 \(0, 1\) follows \(0, 2\)"):
        ReplacementSampler.from_graph(graph)


def test_from_graph_rejects_duplicate_edges():
    graph = make_graph(ITEM_SETS, QUERY_SETS)
    graph["item", "similar", "item"].edge_index = torch.tensor([[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="without duplicates"):
        ReplacementSampler.from_graph(graph)


def test_from_graph_rejects_out_of_range_id():
    graph = make_graph(ITEM_SETS, QUERY_SETS)
    graph["item", "similar", "item"].edge_index = torch.tensor([[0], [6]])
    with pytest.raises(ValueError, match=r"item: similar edge 0 has column id 6, expected an id in \[0, 6\)"):
        ReplacementSampler.from_graph(graph)


def test_from_graph_rejects_missing_relation():
    graph = make_graph(ITEM_SETS, QUERY_SETS)
    del graph["query", "similar", "query"]
    with pytest.raises(ValueError, match=r"graph has no \('query', 'similar', 'query'\) edge_index"):
        ReplacementSampler.from_graph(graph)


def test_constructor_rejects_malformed_csr():
    ptr, index = make_csr(ITEM_SETS)
    with pytest.raises(ValueError, match=r"item: similar ptr must have shape \[6\]"):
        ReplacementSampler(5, ptr, index, 3, *make_csr(QUERY_SETS))
    with pytest.raises(ValueError, match="must start at 0 and end at len"):
        ReplacementSampler(6, ptr, index[:-1], 3, *make_csr(QUERY_SETS))
    with pytest.raises(ValueError, match="must be non-decreasing, but it drops after node 1"):
        ReplacementSampler(2, torch.tensor([0, 2, 1]), torch.tensor([1]), 3, *make_csr(QUERY_SETS))


def test_constructor_rejects_bad_beta_and_rho():
    csr = (6, *make_csr(ITEM_SETS), 3, *make_csr(QUERY_SETS))
    with pytest.raises(ValueError, match=r"beta_item must be in \[0, 1\], got 1.5"):
        ReplacementSampler(*csr, beta_item=1.5)
    with pytest.raises(ValueError, match=r"beta_query must be in \[0, 1\], got -0.1"):
        ReplacementSampler(*csr, beta_query=-0.1)
    with pytest.raises(ValueError, match="rho must be a finite number of at least 1, got 0.9"):
        ReplacementSampler(*csr, rho=0.9)


def test_call_rejects_bad_batches():
    sampler = make_sampler(ITEM_SETS, QUERY_SETS)
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"batch position \(0, 1\): item id 6 is outside \[0, 6\)"):
        sampler(torch.tensor([[1, 1]]), torch.tensor([[0, 6]]), generator)
    with pytest.raises(ValueError, match=r"batch position \(0, 0\): query id 3 is outside \[0, 3\)"):
        sampler(torch.tensor([[2, 1]]), torch.tensor([[3, 0]]), generator)
    with pytest.raises(ValueError, match=r"batch position \(0, 1\): kind 7 is unknown"):
        sampler(torch.tensor([[1, 7]]), torch.tensor([[0, 0]]), generator)
    with pytest.raises(ValueError, match="must both have shape"):
        sampler(torch.tensor([[1, 1]]), torch.tensor([[0, 0, 0]]), generator)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        sampler(torch.tensor([[1, 1]]), torch.tensor([[0, 0]]), generator, mask=torch.tensor([[1, 0]]))


def test_self_never_drawn_and_type_kept():
    # 5 items and 40 queries: a query id drawn into an item slot would show as >= 5.
    item_sets = [[1], [0, 2], [1], [], [0, 1, 2, 3]]
    query_sets = [[(q + 1) % 40] for q in range(40)]
    query_sets[39] = [0]
    sampler = make_sampler(item_sets, query_sets, rho=3.0)
    count = 400
    kinds = torch.tensor([ITEM, QUERY] * count).reshape(20, 2 * count // 20)
    tokens = torch.where(kinds == ITEM, torch.arange(kinds.numel()).reshape(kinds.shape) % 5, 0)
    tokens = torch.where(kinds == QUERY, torch.arange(kinds.numel()).reshape(kinds.shape) % 40, tokens)
    out = sampler(kinds, tokens, torch.Generator().manual_seed(11))
    assert (out != tokens).all()
    assert out[kinds == ITEM].min().item() >= 0
    assert out[kinds == ITEM].max().item() <= 4
    assert out[kinds == QUERY].min().item() >= 0
    assert out[kinds == QUERY].max().item() <= 39
    # Queries do reach ids that no item has, so the item check above can fail.
    assert out[kinds == QUERY].max().item() >= 5


def test_padding_and_masked_positions_unchanged():
    sampler = make_sampler(ITEM_SETS, QUERY_SETS)
    kinds = torch.tensor([[0, 0, 1, 2, 1, 1], [0, 1, 2, 1, 2, 1]])
    tokens = torch.tensor([[0, 0, 3, 1, 2, 5], [0, 4, 0, 1, 2, 0]])
    mask = torch.tensor([[True, True, True, True, True, False], [True, False, True, True, True, False]])
    for seed in range(20):
        out = sampler(kinds, tokens, torch.Generator().manual_seed(seed), mask=mask)
        assert out[kinds == PAD].tolist() == [0, 0, 0]
        assert out[~mask].tolist() == [5, 4, 0]
        # beta = 1: every allowed token changes.
        allowed = (kinds != PAD) & mask
        assert (out[allowed] != tokens[allowed]).all()


def test_beta_zero_is_identity():
    sampler = make_sampler(ITEM_SETS, QUERY_SETS, beta_item=0.0, beta_query=0.0)
    kinds = torch.tensor([[0, 1, 2, 1, 2, 1]])
    tokens = torch.tensor([[0, 4, 2, 1, 0, 5]])
    out = sampler(kinds, tokens, torch.Generator().manual_seed(0))
    assert out.tolist() == tokens.tolist()
    assert out.data_ptr() != tokens.data_ptr()


def test_beta_zero_on_one_kind_only():
    sampler = make_sampler(ITEM_SETS, QUERY_SETS, beta_item=1.0, beta_query=0.0)
    kinds = torch.tensor([[1, 2, 1, 2, 2]])
    tokens = torch.tensor([[0, 2, 4, 1, 0]])
    out = sampler(kinds, tokens, torch.Generator().manual_seed(0))
    assert out[kinds == QUERY].tolist() == [2, 1, 0]
    assert (out[kinds == ITEM] != tokens[kinds == ITEM]).all()


def test_inputs_not_modified():
    sampler = make_sampler(ITEM_SETS, QUERY_SETS)
    kinds = torch.tensor([[0, 1, 2, 1]])
    tokens = torch.tensor([[0, 4, 2, 1]])
    mask = torch.tensor([[True, True, True, False]])
    out = sampler(kinds, tokens, torch.Generator().manual_seed(0), mask=mask)
    assert kinds.tolist() == [[0, 1, 2, 1]]
    assert tokens.tolist() == [[0, 4, 2, 1]]
    assert mask.tolist() == [[True, True, True, False]]
    assert out.tolist() != tokens.tolist()


def test_same_seed_same_output():
    sampler = make_sampler(ITEM_SETS, QUERY_SETS, beta_item=0.5, beta_query=0.5)
    kinds = torch.tensor([[1, 2, 1, 2, 1, 1, 0, 1]] * 8)
    tokens = torch.tensor([[0, 2, 4, 1, 3, 5, 0, 2]] * 8)
    first = sampler(kinds, tokens, torch.Generator().manual_seed(42))
    second = sampler(kinds, tokens, torch.Generator().manual_seed(42))
    other = sampler(kinds, tokens, torch.Generator().manual_seed(43))
    assert first.tolist() == second.tolist()
    assert first.tolist() != other.tolist()


def test_single_node_type_never_replaced():
    with pytest.warns(UserWarning, match="query vocabulary has a single node"):
        sampler = make_sampler(ITEM_SETS, [[]])
    kinds = torch.tensor([[2, 2, 1]])
    tokens = torch.tensor([[0, 0, 3]])
    out = sampler(kinds, tokens, torch.Generator().manual_seed(0))
    assert out[0, :2].tolist() == [0, 0]
    assert out[0, 2].item() != 3


def test_full_similar_set_draws_only_similar():
    # Node 0 is similar to every other node, so every draw is similar.
    sampler = make_sampler([[1, 2, 3], [0], [0], [0]], QUERY_SETS, rho=7.0)
    drawn = repeated_draws(sampler, ITEM, 0, 3000, seed=2)
    assert sorted(set(drawn.tolist())) == [1, 2, 3]


def test_replacement_rate_matches_beta():
    """The share of replaced tokens matches beta within 6 binomial sigmas.

    With n eligible tokens the replaced count is Binomial(n, beta), because a
    replaced token never equals its original. The bound is
    ``6 * sqrt(beta * (1 - beta) / n)``: here n is about 33,000 per kind, so
    the bound is about 0.015 for beta = 0.3 and 0.007 for beta = 0.05, and a
    correct sampler exceeds it with probability about 2e-9.
    Padding and masked-out positions count in neither numerator nor n.
    """
    item_sets = [sorted([(i + 1) % 50, (i + 7) % 50]) for i in range(50)]
    query_sets = [[(q + 3) % 30] for q in range(30)]
    betas = {ITEM: 0.3, QUERY: 0.05}
    sampler = make_sampler(item_sets, query_sets, beta_item=betas[ITEM], beta_query=betas[QUERY], rho=5.0)
    generator = torch.Generator().manual_seed(7)
    shape = (500, 250)
    kinds = torch.randint(0, 3, shape, generator=generator)
    tokens = torch.where(kinds == QUERY, torch.randint(0, 30, shape, generator=generator), 0)
    tokens = torch.where(kinds == ITEM, torch.randint(0, 50, shape, generator=generator), tokens)
    mask = torch.rand(shape, generator=generator) < 0.8
    out = sampler(kinds, tokens, generator, mask=mask)

    for kind, beta in betas.items():
        eligible = (kinds == kind) & mask
        n = eligible.sum().item()
        assert n > 30_000
        rate = (out[eligible] != tokens[eligible]).double().mean().item()
        bound = SIGMAS * math.sqrt(beta * (1 - beta) / n)
        assert abs(rate - beta) < bound, (kind, rate, beta, bound)
    assert (out[~mask] == tokens[~mask]).all()


def test_similar_to_other_ratio_matches_rho():
    """Mean draws per similar node over mean draws per non-similar node match rho.

    One node with S similar nodes among N has T replacements drawn. The number
    that land in the similar set is Binomial(T, p) with
    ``p = rho * S / (rho * S + N - 1 - S)``, and the ratio estimate
    ``(C / S) / ((T - C) / (N - 1 - S))`` is increasing in C. So the ratio must
    lie between its values at ``C = T * (p -+ 6 * sqrt(p * (1 - p) / T))``,
    which a correct sampler misses with probability about 2e-9. With N = 100,
    S = 10, T = 200,000 the band is about rho * (1 -+ 0.027).
    """
    num_nodes, rho, draws = 100, 9.0, 200_000
    similar = [3, 17, 21, 40, 41, 42, 60, 77, 90, 99]
    item_sets = [[] for _ in range(num_nodes)]
    item_sets[5] = similar
    for rho_value in (rho, 1.0, 250.0):
        sampler = make_sampler(item_sets, QUERY_SETS, rho=rho_value)
        drawn = repeated_draws(sampler, ITEM, 5, draws, seed=int(rho_value))
        counts = torch.bincount(drawn, minlength=num_nodes)
        in_similar = torch.zeros(num_nodes, dtype=torch.bool)
        in_similar[similar] = True
        num_other = num_nodes - 1 - len(similar)
        similar_draws = counts[in_similar].sum().item()
        ratio = (similar_draws / len(similar)) / ((draws - similar_draws) / num_other)

        p = similar_draw_probability(num_nodes, len(similar), rho_value)
        delta = SIGMAS * math.sqrt(p * (1 - p) / draws)

        def ratio_at(share: float) -> float:
            return (share / len(similar)) / ((1 - share) / num_other)

        assert ratio_at(p - delta) < ratio < ratio_at(p + delta), (rho_value, ratio)
        assert counts[5].item() == 0


def test_draws_uniform_within_similar_and_other_sets():
    """Draws are uniform inside the similar set and inside the rest (chi-square).

    Each statistic is compared with the 1 - 1e-6 quantile of the chi-square
    distribution with (set size - 1) degrees of freedom, so a correct sampler
    fails a check with probability about 1e-6.
    """
    num_nodes = 60
    similar = [0, 1, 2, 10, 20, 30, 44, 58, 59]
    item_sets = [[] for _ in range(num_nodes)]
    item_sets[30] = [node for node in similar if node != 30]
    sampler = make_sampler(item_sets, QUERY_SETS, rho=6.0)
    drawn = repeated_draws(sampler, ITEM, 30, 120_000, seed=5)
    counts = torch.bincount(drawn, minlength=num_nodes)

    in_similar = torch.zeros(num_nodes, dtype=torch.bool)
    in_similar[item_sets[30]] = True
    other = ~in_similar
    other[30] = False
    assert counts[30].item() == 0
    for subset in (in_similar, other):
        statistic, threshold = chi_square_uniform(counts[subset])
        assert statistic < threshold


def test_empty_similar_set_is_uniform():
    """A node without similar nodes draws every other node equally (chi-square, level 1e-6)."""
    item_sets = [[] for _ in range(40)]
    item_sets[1] = [2, 3]
    item_sets[2] = [1]
    item_sets[3] = [1]
    sampler = make_sampler(item_sets, QUERY_SETS, rho=50.0)
    drawn = repeated_draws(sampler, ITEM, 0, 80_000, seed=9)
    counts = torch.bincount(drawn, minlength=40)
    assert counts[0].item() == 0
    statistic, threshold = chi_square_uniform(counts[1:])
    assert statistic < threshold


def test_rho_one_is_uniform():
    """With rho = 1 the similar set gets no extra weight (chi-square, level 1e-6).

    Both the graph sampler with rho = 1 and the graph-free uniform sampler are
    checked against the uniform distribution over the N - 1 other nodes.
    """
    item_sets = [[(i + step) % 30 for step in range(1, 11)] for i in range(30)]
    item_sets = [sorted(similar) for similar in item_sets]
    graph_sampler = ReplacementSampler.from_graph(make_graph(item_sets, QUERY_SETS), 1.0, 1.0, rho=1.0)
    uniform_sampler = ReplacementSampler.uniform(30, 3, beta_item=1.0, beta_query=1.0)
    assert uniform_sampler.rho == 1.0
    assert uniform_sampler.items.index.numel() == 0
    for seed, sampler in enumerate((graph_sampler, uniform_sampler)):
        drawn = repeated_draws(sampler, ITEM, 12, 60_000, seed=seed)
        counts = torch.bincount(drawn, minlength=30)
        assert counts[12].item() == 0
        others = torch.cat([counts[:12], counts[13:]])
        statistic, threshold = chi_square_uniform(others)
        assert statistic < threshold


def random_similar_sets(num_nodes: int, generator: torch.Generator) -> list[list[int]]:
    """Return random sorted similar sets without self-loops, one per node."""
    sets = []
    for node in range(num_nodes):
        size = int(torch.randint(0, num_nodes, (1,), generator=generator).item())
        candidates = torch.randperm(num_nodes, generator=generator)[:size].tolist()
        sets.append(sorted(set(candidates) - {node}))
    return sets


def test_every_node_matches_exact_distribution():
    """On random item and query graphs, every node's draws follow the rho-weighted law.

    Expected probabilities are computed by enumeration here, which the sampler
    itself never does. One chi-square test pools all nodes of both types, with
    the sum over nodes of (N - 2) degrees of freedom, against the 1 - 1e-6
    quantile. Items and queries share each batch, so the test also covers the
    stacked item-and-query table.
    """
    rho, draws = 3.0, 6000
    generator = torch.Generator().manual_seed(21)
    item_sets = random_similar_sets(15, generator)
    item_sets[4] = [node for node in range(15) if node != 4]
    item_sets[6] = []
    query_sets = random_similar_sets(11, generator)
    query_sets[0] = []
    sampler = make_sampler(item_sets, query_sets, rho=rho)

    # Row r contains the draws for item r (r < 15) or query r - 15.
    nodes = [(ITEM, node, item_sets) for node in range(15)] + [(QUERY, node, query_sets) for node in range(11)]
    kinds = torch.tensor([kind for kind, _, _ in nodes]).unsqueeze(1).expand(len(nodes), draws)
    tokens = torch.tensor([node for _, node, _ in nodes]).unsqueeze(1).expand(len(nodes), draws)
    out = sampler(kinds, tokens, torch.Generator().manual_seed(22))

    statistic, degrees = 0.0, 0
    for row, (_, node, sets) in enumerate(nodes):
        num_nodes = len(sets)
        counts = torch.bincount(out[row], minlength=num_nodes).double()
        assert counts.numel() == num_nodes
        assert counts[node].item() == 0
        weights = torch.tensor([rho if other in sets[node] else 1.0 for other in range(num_nodes)])
        weights[node] = 0.0
        expected = draws * weights / weights.sum()
        keep = expected > 0
        statistic += ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum().item()
        degrees += int(keep.sum().item()) - 1
    assert statistic < chi2.ppf(CHI2_LEVEL, degrees)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batch_keeps_rules():
    sampler = make_sampler(ITEM_SETS, QUERY_SETS, beta_item=0.5, beta_query=0.5)
    kinds = torch.tensor([[0, 1, 2, 1, 2, 1]] * 64, device="cuda")
    tokens = torch.tensor([[0, 4, 2, 1, 0, 5]] * 64, device="cuda")
    mask = torch.ones_like(kinds, dtype=torch.bool)
    mask[:, -1] = False
    out = sampler(kinds, tokens, torch.Generator(device="cuda").manual_seed(1), mask=mask)
    again = sampler(kinds, tokens, torch.Generator(device="cuda").manual_seed(1), mask=mask)
    assert out.device.type == "cuda"
    assert out.tolist() == again.tolist()
    assert (out[:, 0] == 0).all()
    assert (out[:, -1] == 5).all()
    changed = out != tokens
    assert changed.any()
    assert (out[kinds == ITEM] < 6).all()
    assert (out[kinds == QUERY] < 3).all()

