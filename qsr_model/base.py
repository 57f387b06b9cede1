"""The interface every sequential model implements, so the trainer and evaluation work with any."""
from __future__ import annotations

import torch
from torch import nn

from qsr_model.batching import SequenceBatch


class SequentialRecommender(nn.Module):
    """A model that encodes left-padded event sequences and scores items.

    Shapes: B batch, L length, D hidden, N rows, C candidates, I items.
    Subclasses implement the three methods; the trainer only calls these.
    """

    num_items: int

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        """Encode a batch.

        Args:
            batch: the left-padded :class:`SequenceBatch`.

        Returns:
            Hidden states ``(B, L, D)``; position ``t`` depends on events up to ``t`` only.
        """
        raise NotImplementedError

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """Score every item.

        Args:
            hidden: ``(N, D)`` hidden states.

        Returns:
            Scores ``(N, I)``.
        """
        raise NotImplementedError

    def candidate_scores(self, hidden: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Score given candidate items.

        Args:
            hidden: ``(N, D)`` hidden states.
            items: ``(N, C)`` item ids.

        Returns:
            Scores ``(N, C)``.
        """
        raise NotImplementedError

    def item_table(self) -> torch.Tensor | None:
        """Return the ``(I, D)`` matrix with ``item_scores(h) == h @ table.T``, if there is one.

        The full-softmax loss then uses a faster fused path. The default, None,
        makes the loss call :meth:`item_scores`.
        """
        return None
