"""Graph-based sequence augmentation: rho-weighted replacement of tokens.

:class:`ReplacementSampler` replaces items by items and queries by queries,
favouring the replaced token's similar set (its two-hop neighbours in the
query-item graph) by a factor rho.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from qsr_graph.data.dataset import KIND_ITEM, KIND_PAD, KIND_QUERY

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

ITEM_SIMILAR = ("item", "similar", "item")
QUERY_SIMILAR = ("query", "similar", "query")

#: Default chance that an item token is replaced.
DEFAULT_BETA_ITEM = 0.1
#: Default chance that a query token is replaced.
DEFAULT_BETA_QUERY = 0.1
#: Default weight of a similar node relative to a non-similar one.
DEFAULT_RHO = 1000.0

# All draws are 62-bit random integers: compared with round(p * 2**62) for a
# chance p, or reduced modulo a candidate count (bias below count / 2**62).
_RANDOM_BITS = 62
# Columns of SimilarTable.node_table.
_START, _NUM_SIMILAR, _THRESHOLD, _SELF_RANK, _TYPE_SIZE = range(5)


def similar_draw_probability(num_nodes: int, num_similar: int, rho: float) -> float:
    r"""Return the chance that a replacement of a node is one of its similar nodes.

    The replacement is drawn from the ``num_nodes - 1`` other nodes of the same
    type, each similar node being ``rho`` times as likely as each other node, so
    the chance is ``rho * S / (rho * S + (N - 1 - S))`` with ``S`` similar nodes
    out of ``N``. Multiply by beta for the chance per token.

    Example:
        >>> similar_draw_probability(num_nodes=11, num_similar=2, rho=4.0)
        0.5
    """
    if rho < 1:
        raise ValueError(f"rho must be at least 1, got {rho}")
    others = num_nodes - 1
    if not 0 <= num_similar <= others:
        raise ValueError(f"num_similar must be between 0 and {others}, got {num_similar}")
    if others == 0:
        return 0.0
    weight_similar = rho * num_similar
    return weight_similar / (weight_similar + (others - num_similar))


@dataclass(frozen=True)
class SimilarTable:
    """Similar sets of one node type in CSR form, with the look-up tables the sampler needs.

    Args:
        name (str): node type, used in messages.
        num_nodes (int): number of nodes ``N`` of the type.
        ptr (torch.Tensor): ``[N + 1]`` int64; node ``s``'s similar nodes are
            ``index[ptr[s]:ptr[s + 1]]``, sorted ascending, never ``s`` itself.
        index (torch.Tensor): ``[S]`` int64 similar node ids.
        node_table (torch.Tensor): ``[N, 5]`` int64, one row per node, so a
            token needs one gather. Columns: the CSR start; the similar-set
            size; the similar threshold ``round(p * 2**62)`` for the similar
            draw probability ``p`` at the sampler's rho (a 62-bit draw below
            it picks the similar branch); the node's rank among the nodes
            outside its similar set (its id minus the number of similar ids
            below it); the number of nodes of its type.
        gaps (torch.Tensor): ``[S]`` int64, for each similar id the number of
            non-similar ids below it (``index[j]`` minus its position in its
            row). Non-decreasing within each row.
        search_rounds (int): binary-search rounds that cover the largest
            similar set.
    """

    name: str
    num_nodes: int
    ptr: torch.Tensor
    index: torch.Tensor
    node_table: torch.Tensor
    gaps: torch.Tensor
    search_rounds: int

    @classmethod
    def from_csr(cls, name: str, num_nodes: int, ptr: torch.Tensor, index: torch.Tensor, rho: float) -> SimilarTable:
        """Check a CSR similar structure and build the sampling tables.

        Args:
            name (str): node type, used in messages.
            num_nodes (int): number of nodes ``N``.
            ptr (torch.Tensor): ``[N + 1]`` integer row pointers.
            index (torch.Tensor): ``[S]`` integer column ids, sorted within each row.
            rho (float): weight of a similar node, at least 1.

        Returns:
            SimilarTable: the tables on ``ptr``'s device.

        Raises:
            ValueError: if the CSR is malformed, unsorted, has a self-loop or an
                id outside ``[0, N)``.
        """
        if num_nodes < 0:
            raise ValueError(f"{name}: num_nodes must be at least 0, got {num_nodes}")
        ptr = torch.as_tensor(ptr)
        index = torch.as_tensor(index, device=ptr.device)
        if ptr.dtype.is_floating_point or index.dtype.is_floating_point:
            raise ValueError(f"{name}: similar ptr and index must be integer tensors, got {ptr.dtype} and {index.dtype}")
        ptr = ptr.to(torch.int64)
        index = index.to(torch.int64)
        if ptr.dim() != 1 or ptr.numel() != num_nodes + 1:
            raise ValueError(
                f"{name}: similar ptr must have shape [{num_nodes + 1}] (num_nodes + 1), got {list(ptr.shape)}"
            )
        if index.dim() != 1:
            raise ValueError(f"{name}: similar index must be 1-dimensional, got shape {list(index.shape)}")
        if ptr[0].item() != 0 or ptr[-1].item() != index.numel():
            raise ValueError(
                f"{name}: similar ptr must start at 0 and end at len(index) = {index.numel()}, "
                f"got {ptr[0].item()} and {ptr[-1].item()}"
            )
        counts = ptr[1:] - ptr[:-1]  # (N,)
        if (counts < 0).any():
            node = int(torch.nonzero(counts < 0)[0].item())
            raise ValueError(f"{name}: similar ptr must be non-decreasing, but it drops after node {node}")

        row = torch.repeat_interleave(torch.arange(num_nodes, device=ptr.device), counts)  # (S,)
        _check_similar_edges(name, num_nodes, row, index)

        below = torch.bincount(row[index < row], minlength=num_nodes)  # (N,) similar ids below each node
        self_rank = torch.arange(num_nodes, device=ptr.device) - below
        gaps = index - (torch.arange(index.numel(), device=ptr.device) - ptr[row])  # (S,)

        num_similar = counts.to(torch.float64)
        weight_similar = rho * num_similar
        total = weight_similar + (num_nodes - 1 - counts).to(torch.float64)
        # A single node has no candidate at all: the probability stays 0 and the
        # sampler leaves such tokens unchanged.
        probability = torch.where(total > 0, weight_similar / total.clamp(min=1), torch.zeros_like(total))
        threshold = torch.round(probability * 2.0**_RANDOM_BITS).to(torch.int64)

        type_size = torch.full_like(counts, num_nodes)
        node_table = torch.stack([ptr[:-1], counts, threshold, self_rank, type_size], dim=1)  # (N, 5)
        max_similar = int(counts.max().item()) if num_nodes > 0 else 0
        return cls(name, num_nodes, ptr, index, node_table, gaps, max_similar.bit_length())

    @property
    def similar_probability(self) -> torch.Tensor:
        """``[N]`` float64 chance that a replacement of each node comes from its similar set."""
        return self.node_table[:, _THRESHOLD].to(torch.float64) / 2.0**_RANDOM_BITS

    @classmethod
    def concat(cls, name: str, tables: list[SimilarTable]) -> SimilarTable:
        """Stack the tables of several node types so one :meth:`draw` serves them all.

        Node ``s`` of ``tables[k]`` becomes node ``s + offset_k``, where
        ``offset_k`` is the number of nodes in the tables before it. ``index``
        and the drawn ids stay local to each type, so a draw for node
        ``s + offset_k`` returns an id in ``[0, tables[k].num_nodes)``.

        Args:
            name (str): name of the stacked table, used in messages.
            tables (list[SimilarTable]): per-type tables on one device.

        Returns:
            SimilarTable: the stacked table.
        """
        node_tables, ptrs, edge_offset = [], [tables[0].ptr[:1]], 0
        for table in tables:
            node_table = table.node_table.clone()
            node_table[:, _START] += edge_offset
            node_tables.append(node_table)
            ptrs.append(table.ptr[1:] + edge_offset)
            edge_offset += table.index.numel()
        return cls(
            name,
            sum(table.num_nodes for table in tables),
            torch.cat(ptrs),
            torch.cat([table.index for table in tables]),
            torch.cat(node_tables),
            torch.cat([table.gaps for table in tables]),
            max(table.search_rounds for table in tables),
        )

    def to(self, device: torch.device | str) -> SimilarTable:
        """Return a copy of the tables on ``device``."""
        return SimilarTable(
            self.name,
            self.num_nodes,
            self.ptr.to(device),
            self.index.to(device),
            self.node_table.to(device),
            self.gaps.to(device),
            self.search_rounds,
        )

    def draw(self, nodes: torch.Tensor, branch_bits: torch.Tensor, offset_bits: torch.Tensor) -> torch.Tensor:
        """Draw one replacement for each of ``nodes`` (exact, no rejection).

        Args:
            nodes (torch.Tensor): ``[M]`` int64 node ids, each from a type with
                at least two nodes (for a table built by :meth:`concat`, ids
                offset by the type's position).
            branch_bits (torch.Tensor): ``[M]`` int64 uniform integers in
                ``[0, 2**62)`` deciding similar versus non-similar.
            offset_bits (torch.Tensor): ``[M]`` int64 uniform integers in
                ``[0, 2**62)`` picking the node inside the chosen branch.

        Returns:
            torch.Tensor: ``[M]`` int64 replacement ids of the nodes' own type,
            never the node itself.
        """
        start, num_similar, threshold, self_rank, type_size = self.node_table.index_select(0, nodes).unbind(1)
        from_similar = branch_bits < threshold

        # Both branches are computed for every token and merged at the end:
        # on CPU a few dense ops on M tokens cost less than splitting by
        # boolean masks.

        # Similar branch: the pick-th entry of the node's sorted similar set.
        # The clamp only guards empty sets, whose tokens never take this branch.
        if self.index.numel() > 0:
            similar_pick = torch.remainder(offset_bits, num_similar.clamp(min=1))
            similar_node = self.index[(start + similar_pick).clamp(max=self.index.numel() - 1)]
        else:
            similar_node = nodes

        # Non-similar branch: the pick-th node outside the similar set and
        # other than the node itself. Skipping the node first turns the pick
        # into a rank among all non-similar nodes. Every similar id whose gap
        # (non-similar ids below it) is at most that rank lies below the
        # result, so adding their count maps the rank to a node id.
        rank = torch.remainder(offset_bits, (type_size - 1 - num_similar).clamp(min=1))
        rank = rank + (rank >= self_rank).to(torch.int64)
        other_node = rank + self._count_gaps_at_most(start, num_similar, rank)

        return torch.where(from_similar, similar_node, other_node)

    def _count_gaps_at_most(self, start: torch.Tensor, num_similar: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
        """Count, per token, the gaps in its row that are at most ``rank``.

        A binary search inside each row's ``[start, start + S)`` range, run on
        all tokens at once for ``search_rounds`` rounds. It reads only the
        tokens' own rows, which stay in cache, where one searchsorted over all
        rows' keys would miss the cache at most of its ~log2(total edges) steps.
        """
        low = start.clone()
        high = start + num_similar
        last = max(self.gaps.numel() - 1, 0)
        for _ in range(self.search_rounds):
            active = low < high
            middle = (low + high) // 2
            # Rows already narrowed to nothing read a clamped, ignored entry.
            at_most = self.gaps[middle.clamp(max=last)] <= rank
            low = torch.where(active & at_most, middle + 1, low)
            high = torch.where(active & ~at_most, middle, high)
        return low - start


def _check_similar_edges(name: str, num_nodes: int, row: torch.Tensor, col: torch.Tensor) -> None:
    """Raise ValueError unless the (row, col) pairs are in range, sorted, unique and loop-free."""
    for label, ids in (("row", row), ("column", col)):
        bad = (ids < 0) | (ids >= num_nodes)
        if bad.any():
            position = int(torch.nonzero(bad)[0].item())
            raise ValueError(
                f"{name}: similar edge {position} has {label} id {ids[position].item()}, "
                f"expected an id in [0, {num_nodes})"
            )
    loops = row == col
    if loops.any():
        position = int(torch.nonzero(loops)[0].item())
        raise ValueError(
            f"{name}: similar edge {position} is a self-loop on node {row[position].item()}; "
            "a node must not be in its own similar set"
        )
    keys = row * max(num_nodes, 1) + col
    unsorted = keys[1:] <= keys[:-1]
    if unsorted.any():
        position = int(torch.nonzero(unsorted)[0].item()) + 1
        raise ValueError(
            f"{name}: similar edges must be sorted by (row, column) without duplicates, but edge "
            f"{position} ({row[position].item()}, {col[position].item()}) follows "
            f"({row[position - 1].item()}, {col[position - 1].item()})"
        )


def _csr_from_edge_index(name: str, num_nodes: int, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a sorted ``[2, S]`` edge_index into CSR ``(ptr [N + 1], index [S])``."""
    edge_index = torch.as_tensor(edge_index)
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"{name}: similar edge_index must have shape [2, num_edges], got {list(edge_index.shape)}")
    if edge_index.dtype.is_floating_point:
        raise ValueError(f"{name}: similar edge_index must be an integer tensor, got {edge_index.dtype}")
    row, col = edge_index.to(torch.int64)
    _check_similar_edges(name, num_nodes, row, col)
    counts = torch.bincount(row, minlength=num_nodes)  # (N,)
    ptr = torch.zeros(num_nodes + 1, dtype=torch.int64, device=row.device)
    torch.cumsum(counts, dim=0, out=ptr[1:])
    return ptr, col.contiguous()


def _empty_csr(num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(num_nodes + 1, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)


def _check_probability(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


class ReplacementSampler:
    r"""Replace sequence tokens by rho-weighted draws from their similar sets.

    Each eligible token (kind item or query, allowed by ``mask``) is replaced
    with probability ``beta_item`` or ``beta_query``. The replacement of token
    ``s`` comes from the ``N - 1`` other nodes of its type, every node in
    ``s``'s similar set being exactly ``rho`` times as likely as every node
    outside it. A node with an empty similar set is replaced uniformly, ``s``
    itself is never drawn, and an item stays an item, a query a query.

    Method (exact, vectorised over every token of a batch, no enumeration of
    the ``N`` nodes and no rejection loop):

    1. Decide "similar or not" with probability
       ``rho * S / (rho * S + N - 1 - S)`` (:func:`similar_draw_probability`),
       precomputed per node.
    2. Similar: draw an offset uniformly in ``[0, S)`` and read
       ``index[ptr[s] + offset]`` from the CSR.
    3. Not similar: draw a rank ``r`` uniformly in ``[0, N - 1 - S)``. Adding 1
       when ``r`` reaches ``s``'s own rank among the non-similar nodes skips
       ``s``. The drawn id is then ``r`` plus the number of similar ids whose
       count of non-similar ids below them (their gap) is at most ``r``. Gaps
       are precomputed and sorted within each row, so a binary search inside
       each token's row counts them, for all tokens at once, in
       ``ceil(log2(max S + 1))`` rounds.

    Every draw is a 62-bit random integer: compared with ``round(p * 2**62)``
    for a chance ``p``, or reduced modulo the candidate count, which leaves a
    bias below ``count / 2**62``. Each call draws the same amount of
    randomness for a ``(B, L)`` batch whatever its content, so a seeded
    generator gives the same output for the same input.

    Ablations:
        * ``rho=1`` is uniform replacement: :meth:`uniform` builds it without a
          graph, ``from_graph(..., rho=1.0)`` gives the same distribution.
        * ``beta_item=0`` and ``beta_query=0`` leave every sequence unchanged
          ("no augmentation"), as does not calling the sampler.

    Defaults (chosen from the data, not taken from a published tuning):
        * ``beta_item = beta_query = 0.1``: on average 90% of each sequence
          stays as observed, so an augmented sequence is still mostly the
          user's own behaviour, and the chance that a token's four nearest
          neighbours are all intact is ``0.9**4``, about 0.66. On the bundled
          trivago slice a user has 5.4 training tokens on average (median 3,
          max 49), so about 0.54 tokens change per sequence and 65% of
          sequences stay whole in a given epoch.
        * ``rho = 1000``: the similar set only matters once ``rho * S`` is
          comparable to ``N``, because with ``rho = 1`` a node with ``S``
          similar nodes among ``N`` draws one with chance ``S / (N - 1)``.
          The bundled trivago graph has 8,993 items and 1,211 queries, with
          similar sets capped at 20. There, at ``rho = 1000``, a replaced
          training token with a non-empty similar set draws from that set
          with probability 0.45 for items and 0.51 for queries (averaged over
          tokens). Replacements thus favour related nodes and still explore
          the rest.
          Larger catalogues need a larger rho for the same balance.

    A node type with a single node has no other node to draw, so its tokens
    are never replaced (a warning is emitted when ``beta > 0``).

    Args:
        num_items (int): number of item nodes ``I``.
        item_similar_ptr (torch.Tensor): ``[I + 1]`` int64 CSR row pointers of
            the item similar sets.
        item_similar_index (torch.Tensor): ``[S_item]`` int64 similar item ids,
            sorted within each row, without self-loops.
        num_queries (int): number of query nodes ``Q``.
        query_similar_ptr (torch.Tensor): ``[Q + 1]`` int64 CSR row pointers of
            the query similar sets.
        query_similar_index (torch.Tensor): ``[S_query]`` int64 similar query ids.
        beta_item (float): chance that an eligible item token is replaced, in
            ``[0, 1]``. Default :data:`DEFAULT_BETA_ITEM`.
        beta_query (float): chance that an eligible query token is replaced,
            in ``[0, 1]``. Default :data:`DEFAULT_BETA_QUERY`.
        rho (float): weight of a similar node relative to a non-similar one,
            at least 1. Default :data:`DEFAULT_RHO`.

    Raises:
        ValueError: on a beta outside ``[0, 1]``, a rho below 1 or a malformed
            similar structure.

    Example:
        >>> ptr, index = torch.tensor([0, 1, 2, 2]), torch.tensor([1, 0])
        >>> sampler = ReplacementSampler(3, ptr, index, 2, torch.tensor([0, 0, 0]),
        ...     torch.tensor([], dtype=torch.long), beta_item=1.0, beta_query=1.0, rho=4.0)
        >>> kinds = torch.tensor([[0, 2, 1, 1]])
        >>> tokens = torch.tensor([[0, 0, 0, 2]])
        >>> out = sampler(kinds, tokens, torch.Generator().manual_seed(0))
        >>> out[0, :2].tolist()  # padding stays, query 0 can only become query 1
        [0, 1]
        >>> out[0, 2].item() != 0 and out[0, 3].item() != 2
        True
    """

    def __init__(
        self,
        num_items: int,
        item_similar_ptr: torch.Tensor,
        item_similar_index: torch.Tensor,
        num_queries: int,
        query_similar_ptr: torch.Tensor,
        query_similar_index: torch.Tensor,
        beta_item: float = DEFAULT_BETA_ITEM,
        beta_query: float = DEFAULT_BETA_QUERY,
        rho: float = DEFAULT_RHO,
    ) -> None:
        self.beta_item = _check_probability("beta_item", beta_item)
        self.beta_query = _check_probability("beta_query", beta_query)
        rho = float(rho)
        if not rho >= 1.0 or rho == float("inf"):
            raise ValueError(f"rho must be a finite number of at least 1, got {rho}")
        self.rho = rho
        self.items = SimilarTable.from_csr("item", int(num_items), item_similar_ptr, item_similar_index, rho)
        self.queries = SimilarTable.from_csr("query", int(num_queries), query_similar_ptr, query_similar_index, rho)
        for table, beta in ((self.items, self.beta_item), (self.queries, self.beta_query)):
            if table.num_nodes == 1 and beta > 0:
                warnings.warn(
                    f"the {table.name} vocabulary has a single node, so {table.name} tokens are never replaced",
                    stacklevel=2,
                )
        # Items and queries share one stacked table, so a batch takes one pass
        # of tensor ops whatever its mix of kinds.
        joint = SimilarTable.concat("item and query", [self.items, self.queries])
        self._joint_tables: dict[torch.device, SimilarTable] = {joint.ptr.device: joint}

    @classmethod
    def from_graph(
        cls,
        data: HeteroData,
        beta_item: float = DEFAULT_BETA_ITEM,
        beta_query: float = DEFAULT_BETA_QUERY,
        rho: float = DEFAULT_RHO,
    ) -> ReplacementSampler:
        """Build a sampler from the similar relations of a query-item graph.

        Args:
            data (HeteroData): graph with ``item`` and ``query`` node counts and
                the ``("item", "similar", "item")`` and
                ``("query", "similar", "query")`` edge_index tensors, each
                ``[2, S]`` sorted by (row, column), without self-loops.
            beta_item (float): chance that an item token is replaced.
            beta_query (float): chance that a query token is replaced.
            rho (float): weight of a similar node; ``1.0`` gives uniform replacement.

        Returns:
            ReplacementSampler: a sampler on the graph's device.

        Raises:
            ValueError: if a node type or similar relation is missing or malformed.
        """
        csr = {}
        for node_type, edge_type in (("item", ITEM_SIMILAR), ("query", QUERY_SIMILAR)):
            if node_type not in data.node_types:
                raise ValueError(f"graph has no {node_type!r} nodes; found node types {data.node_types}")
            num_nodes = data[node_type].num_nodes
            if num_nodes is None:
                raise ValueError(f"graph does not record the number of {node_type!r} nodes")
            if edge_type not in data.edge_types or "edge_index" not in data[edge_type]:
                raise ValueError(f"graph has no {edge_type} edge_index; found edge types {data.edge_types}")
            csr[node_type] = (int(num_nodes), *_csr_from_edge_index(node_type, int(num_nodes), data[edge_type].edge_index))
        return cls(
            *csr["item"],
            *csr["query"],
            beta_item=beta_item,
            beta_query=beta_query,
            rho=rho,
        )

    @classmethod
    def uniform(
        cls,
        num_items: int,
        num_queries: int,
        beta_item: float = DEFAULT_BETA_ITEM,
        beta_query: float = DEFAULT_BETA_QUERY,
    ) -> ReplacementSampler:
        """Build the "uniform replacement" ablation: every other node equally likely, no graph needed.

        Args:
            num_items (int): number of item nodes.
            num_queries (int): number of query nodes.
            beta_item (float): chance that an item token is replaced.
            beta_query (float): chance that a query token is replaced.

        Returns:
            ReplacementSampler: a sampler with empty similar sets and ``rho = 1``.
        """
        return cls(
            num_items,
            *_empty_csr(num_items),
            num_queries,
            *_empty_csr(num_queries),
            beta_item=beta_item,
            beta_query=beta_query,
            rho=1.0,
        )

    @property
    def num_items(self) -> int:
        """Number of item nodes."""
        return self.items.num_nodes

    @property
    def num_queries(self) -> int:
        """Number of query nodes."""
        return self.queries.num_nodes

    def to(self, device: torch.device | str) -> ReplacementSampler:
        """Copy the look-up tables to ``device`` ahead of the first batch there and return the sampler."""
        device = torch.device(device)
        self._joint_on(device)
        self.items, self.queries = self.items.to(device), self.queries.to(device)
        return self

    def _joint_on(self, device: torch.device) -> SimilarTable:
        # The table is copied once per device, so a CPU-built sampler can be
        # called on CUDA batches without an explicit .to().
        joint = self._joint_tables.get(device)
        if joint is None:
            joint = next(iter(self._joint_tables.values())).to(device)
            # "cuda" and "cuda:0" name the same device: key by both.
            joint = self._joint_tables.setdefault(joint.ptr.device, joint)
            self._joint_tables[device] = joint
        return joint

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_items={self.num_items}, num_queries={self.num_queries}, "
            f"beta_item={self.beta_item}, beta_query={self.beta_query}, rho={self.rho})"
        )

    def __call__(
        self,
        kinds: torch.Tensor,
        tokens: torch.Tensor,
        generator: torch.Generator,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return a copy of ``tokens`` with random replacements.

        The inputs are not modified. Positions whose kind is padding or whose
        ``mask`` is False keep their token. Pass a mask that is False at
        positions that must stay as observed, for example the targets.
        After replacing query ids, look up the replaced queries' word bags
        from the new ids.

        Args:
            kinds (torch.Tensor): ``(B, L)`` int64 event kinds, 0 padding, 1
                item, 2 query.
            tokens (torch.Tensor): ``(B, L)`` int64 item or query ids, 0-based
                within the kind's vocabulary (any value at padding).
            generator (torch.Generator): the only source of randomness, on the
                same device as ``tokens``.
            mask (torch.Tensor | None): ``(B, L)`` bool, True where a token may
                be replaced. Default None allows every non-padding position.

        Returns:
            torch.Tensor: ``(B, L)`` int64 augmented ids on ``tokens``'s device.

        Raises:
            ValueError: on mismatched shapes or devices, an unknown kind or an
                id outside its vocabulary.
        """
        self._check_batch(kinds, tokens, generator, mask)
        joint = self._joint_on(tokens.device)

        # Fixed-size draws, so the generator advances the same way for every
        # batch of this shape regardless of its content.
        replace_bits, branch_bits, offset_bits = torch.randint(
            0, 2**_RANDOM_BITS, (3, *tokens.shape), generator=generator, dtype=torch.int64, device=tokens.device
        ).view(3, -1)  # (3, B * L)

        # A 62-bit draw below the token's threshold replaces it. Padding and
        # types with fewer than two nodes get threshold 0, which no draw is below.
        item_threshold = round(self.beta_item * 2**_RANDOM_BITS) if self.num_items > 1 else 0
        query_threshold = round(self.beta_query * 2**_RANDOM_BITS) if self.num_queries > 1 else 0
        flat_kinds = kinds.reshape(-1)
        threshold = torch.where(flat_kinds == KIND_ITEM, item_threshold, 0)  # (B * L,)
        threshold = torch.where(flat_kinds == KIND_QUERY, query_threshold, threshold)
        chosen = replace_bits < threshold
        if mask is not None:
            chosen = chosen & mask.reshape(-1)
        positions = chosen.nonzero().squeeze(1)  # (M,)

        out = tokens.clone(memory_format=torch.contiguous_format)
        if positions.numel() == 0:
            return out
        # Query q is node num_items + q of the stacked table.
        nodes = tokens.reshape(-1)[positions]  # (M,)
        nodes = nodes + (flat_kinds[positions] == KIND_QUERY).to(torch.int64) * self.num_items
        drawn = joint.draw(nodes, branch_bits[positions], offset_bits[positions])
        out.view(-1).index_copy_(0, positions, drawn)
        return out

    def _check_batch(
        self,
        kinds: torch.Tensor,
        tokens: torch.Tensor,
        generator: torch.Generator,
        mask: torch.Tensor | None,
    ) -> None:
        if tokens.dim() != 2 or kinds.shape != tokens.shape:
            raise ValueError(
                f"kinds and tokens must both have shape (B, L), got {list(kinds.shape)} and {list(tokens.shape)}"
            )
        if mask is not None and mask.shape != tokens.shape:
            raise ValueError(f"mask must have the shape of tokens {list(tokens.shape)}, got {list(mask.shape)}")
        if mask is not None and mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor, got {mask.dtype}")
        if tokens.dtype != torch.int64 or kinds.dtype != torch.int64:
            raise ValueError(f"kinds and tokens must be int64, got {kinds.dtype} and {tokens.dtype}")
        devices = {kinds.device, tokens.device} | ({mask.device} if mask is not None else set())
        if len(devices) != 1:
            raise ValueError(f"kinds, tokens and mask must be on one device, got {sorted(map(str, devices))}")
        if generator.device.type != tokens.device.type:
            raise ValueError(
                f"generator is on {generator.device} but tokens are on {tokens.device}; "
                "create the generator with torch.Generator(device=tokens.device)"
            )

        unknown = (kinds != KIND_PAD) & (kinds != KIND_ITEM) & (kinds != KIND_QUERY)
        is_item = kinds == KIND_ITEM
        is_query = kinds == KIND_QUERY
        bad_item = is_item & ((tokens < 0) | (tokens >= self.num_items))
        bad_query = is_query & ((tokens < 0) | (tokens >= self.num_queries))
        # One synchronising check for the common case, details only on failure.
        if not (unknown | bad_item | bad_query).any():
            return
        for problem, message in (
            (unknown, "kind {value} is unknown, expected 0 (padding), 1 (item) or 2 (query)"),
            (bad_item, f"item id {{value}} is outside [0, {self.num_items})"),
            (bad_query, f"query id {{value}} is outside [0, {self.num_queries})"),
        ):
            if problem.any():
                row, col = (int(v) for v in torch.nonzero(problem)[0].tolist())
                value = kinds[row, col].item() if problem is unknown else tokens[row, col].item()
                raise ValueError(f"batch position ({row}, {col}): " + message.format(value=value))
