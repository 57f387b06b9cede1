"""Graph-based sequence augmentation: rho-weighted replacement of tokens."""
from __future__ import annotations


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
