"""Typed configurations of the sequential model and of its training."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from qsr_graph.augment import DEFAULT_BETA_ITEM, DEFAULT_BETA_QUERY, DEFAULT_RHO

_C = TypeVar("_C")

LOSSES = ("full", "sampled")
DEVICES = ("cpu", "cuda")


def _from_dict(cls: type[_C], values: dict[str, Any]) -> _C:
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} field(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(sorted(known))}")
    return cls(**values)


@dataclass(frozen=True)
class ModelConfig:
    """Size and regularisation of the Query-SeqRec Transformer.

    Example:
        >>> ModelConfig(hidden_size=32).ffn_hidden_size
        32
    """

    hidden_size: int = 64  # D: width of embeddings and of every block
    num_blocks: int = 2  # number of causal self-attention blocks
    num_heads: int = 2  # attention heads per block; must divide hidden_size
    max_length: int = 50  # L: events per input window (the latest ones are kept)
    dropout: float = 0.2  # dropout on the input sum, after attention and in the feed-forward network
    # NOTE: SASRec also drops attention weights. On CPU that forces the slower
    # unfused attention kernel (about 10 times the attention time), so it is off by default.
    attention_dropout: float = 0.0  # dropout on the attention weights
    ffn_size: int | None = None  # width of the point-wise feed-forward network; None = hidden_size
    layer_norm_eps: float = 1e-8  # epsilon of every LayerNorm

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_blocks", "num_heads", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be a multiple of num_heads {self.num_heads}")
        for name in ("dropout", "attention_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.ffn_size is not None and self.ffn_size < 1:
            raise ValueError(f"ffn_size must be at least 1 or None, got {self.ffn_size}")

    @property
    def ffn_hidden_size(self) -> int:
        """Width of the feed-forward network after resolving ``None``."""
        return self.hidden_size if self.ffn_size is None else self.ffn_size

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        """Build a config from a dict, raising ``ValueError`` on unknown keys."""
        return _from_dict(cls, values)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, augmentation, early stopping and evaluation settings of one run.

    Example:
        >>> TrainConfig(loss="sampled", num_negatives=2).num_negatives
        2
    """

    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay (L2 on every parameter)
    batch_size: int = 128  # sequences per training batch
    epochs: int = 100  # maximum number of passes over the training sequences
    patience: int = 10  # validations without a better val NDCG@20 before stopping; 0 = never stop early
    loss: str = "full"  # "full": softmax over all items; "sampled": softmax over target + negatives
    num_negatives: int = 100  # n of the sampled loss: the target plus n - 1 uniform negatives
    beta_item: float = DEFAULT_BETA_ITEM  # chance that augmentation replaces an input item
    beta_query: float = DEFAULT_BETA_QUERY  # chance that augmentation replaces an input query
    rho: float = DEFAULT_RHO  # weight of a similar node against a non-similar one; 1 = uniform replacement
    augmentation: bool = True  # replace input tokens with the graph sampler (needs a graph)
    use_queries: bool = True  # False drops query events before windowing (item-only SASRec)
    seed: int = 0  # seed of torch, numpy, Python and the shuffling/augmentation generator
    eval_every: int = 1  # validate every this many epochs (and after the last one)
    device: str = "cpu"  # "cpu" or "cuda"
    # Sort each shuffled group of 16 batches by window length before cutting
    # it into batches, so trimmed batches carry little padding.
    bucket_by_length: bool = True
    eval_negatives: int | None = None  # sampled evaluation against this many negatives; None = all items
    exclude_history: bool = False  # drop items of the user's input history from the ranking

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be at least 0, got {self.weight_decay}")
        for name in ("batch_size", "epochs", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.patience < 0:
            raise ValueError(f"patience must be at least 0, got {self.patience}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.num_negatives < 2:
            raise ValueError(
                f"num_negatives must be at least 2 (the target and one negative), "
                f"got {self.num_negatives}")
        for name in ("beta_item", "beta_query"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.rho < 1:
            raise ValueError(f"rho must be at least 1, got {self.rho}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.eval_negatives is not None and self.eval_negatives < 1:
            raise ValueError(
                f"eval_negatives must be at least 1 or None, got {self.eval_negatives}")

    @property
    def augments(self) -> bool:
        """Whether training replaces tokens at all (on, and some beta above 0)."""
        return self.augmentation and (self.beta_item > 0 or self.beta_query > 0)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build a config from a dict, raising ``ValueError`` on unknown keys."""
        return _from_dict(cls, values)
