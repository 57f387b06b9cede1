"""Query-SeqRec: a SASRec-style causal Transformer over interleaved items and queries.

SASRec: W.-C. Kang and J. McAuley, "Self-Attentive Sequential Recommendation",
ICDM 2018. Here a position is either an item (embedding table M0) or a query
(the mean of its word embeddings); a learned event-type embedding and a learned
position embedding are added. Items are scored by the inner product of the
output with M0, the same table as the input items.

Shapes: B batch, L length, D hidden, H heads, W words per query, N rows,
C candidates, I items.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qsr_graph.data.dataset import KIND_PAD, KIND_QUERY
from qsr_model.base import SequentialRecommender
from qsr_model.batching import SequenceBatch
from qsr_model.config import ModelConfig

NUM_KINDS = 3  # pad, item, query


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t attends to the non-padding positions up to t."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.dropout = config.attention_dropout
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attend under ``mask`` ``(B, 1, L, L)`` (True = may attend)."""
        B, L, D = x.shape
        H = self.num_heads
        qkv = self.qkv(x).view(B, L, 3, H, D // H).permute(2, 0, 3, 1, 4)  # (3, B, H, L, D/H)
        out = F.scaled_dot_product_attention(
            qkv[0], qkv[1], qkv[2], attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0)  # (B, H, L, D/H)
        out = out.transpose(1, 2).reshape(B, L, D)  # (B, L, D)
        return self.out(out)


class FeedForward(nn.Module):
    """Point-wise two-layer network with ReLU, as in SASRec."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.inner = nn.Linear(config.hidden_size, config.ffn_hidden_size)
        self.outer = nn.Linear(config.ffn_hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(self.dropout(F.relu(self.inner(x))))


class Block(nn.Module):
    """Pre-LayerNorm block: residual attention, then a residual feed-forward network."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.attn_norm(x), mask))  # (B, L, D)
        return x + self.dropout(self.ffn(self.ffn_norm(x)))  # (B, L, D)


class QuerySeqRec(SequentialRecommender):
    """The query-aware sequential recommender.

    Args:
        config: model size and dropout.
        num_items: I, rows of the item table M0.
        num_words: rows of the word table that builds query embeddings.

    Example:
        >>> from qsr_model.batching import make_batch
        >>> model = QuerySeqRec(ModelConfig(hidden_size=8, max_length=4), num_items=5, num_words=3)
        >>> batch = make_batch([[1, 2, 1]], [[4, 0, 2]], [[[], [0, 1], []]], max_length=4)
        >>> tuple(model(batch).shape)
        (1, 3, 8)
    """

    def __init__(self, config: ModelConfig, num_items: int, num_words: int) -> None:
        super().__init__()
        if num_items < 1:
            raise ValueError(f"num_items must be at least 1, got {num_items}")
        if num_words < 0:
            raise ValueError(f"num_words must be at least 0, got {num_words}")
        self.config = config
        self.num_items = num_items
        self.num_words = num_words
        D = config.hidden_size
        self.item_emb = nn.Embedding(num_items, D)  # M0, also the output table
        # One extra row stands for "no word" so that the -1 padding can be
        # looked up; it is zeroed by the mask and never trained.
        self.word_emb = nn.Embedding(num_words + 1, D, padding_idx=num_words)
        self.type_emb = nn.Embedding(NUM_KINDS, D)
        self.pos_emb = nn.Embedding(config.max_length, D)
        self.input_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.num_blocks)])
        self.final_norm = nn.LayerNorm(D, eps=config.layer_norm_eps)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def embed(self, batch: SequenceBatch) -> torch.Tensor:
        """Return the input sum (before dropout) of every position, ``(B, L, D)``."""
        B, L = batch.kinds.shape
        if L > self.config.max_length:
            raise ValueError(
                f"batch length {L} exceeds the model's max_length {self.config.max_length}")
        x = self.item_emb(batch.items)  # (B, L, D)
        is_query = batch.kinds == KIND_QUERY  # (B, L)
        if is_query.any():
            words = batch.words[is_query]  # (Nq, W)
            present = words >= 0  # (Nq, W)
            word_vectors = self.word_emb(torch.where(present, words, self.num_words))  # (Nq, W, D)
            count = present.sum(dim=1, keepdim=True).clamp(min=1)  # (Nq, 1)
            query_vectors = word_vectors.sum(dim=1) / count  # (Nq, D)
            x = x.masked_scatter(is_query.unsqueeze(-1), query_vectors)  # (B, L, D)
        x = x * (batch.kinds != KIND_PAD).unsqueeze(-1)  # (B, L, D)
        # Positions count back from the latest event, so a history gets the same
        # position embeddings whatever the batch length.
        positions = torch.arange(L - 1, -1, -1, device=x.device)  # (L,)
        return x + self.type_emb(batch.kinds) + self.pos_emb(positions)  # (B, L, D)

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        B, L = batch.kinds.shape
        x = self.input_dropout(self.embed(batch))  # (B, L, D)
        key_present = batch.kinds != KIND_PAD  # (B, L)
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()  # (L, L)
        # Every position may attend to itself, so an all-padding prefix row has
        # one allowed key and the softmax never divides by zero.
        diagonal = torch.eye(L, dtype=torch.bool, device=x.device)  # (L, L)
        mask = (causal & key_present[:, None, :]) | diagonal  # (B, L, L)
        mask = mask.unsqueeze(1)  # (B, 1, L, L)
        for block in self.blocks:
            x = block(x, mask)  # (B, L, D)
        return self.final_norm(x)  # (B, L, D)

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.item_emb.weight.T  # (N, I)

    def candidate_scores(self, hidden: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nd,ncd->nc", hidden, self.item_emb(items))  # (N, C)

    def item_table(self) -> torch.Tensor:
        return self.item_emb.weight  # (I, D)
