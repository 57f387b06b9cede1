"""Click options that set fields of ``ModelConfig`` and ``TrainConfig``, shared by commands."""
from __future__ import annotations

from typing import Any, Callable

import click

from qsr_model.config import LOSSES, ModelConfig, TrainConfig

# Each option: (flag, config field, click type, help). Defaults stay None on the
# command line, so a command can tell given values from the config's defaults,
# which the help text shows.
MODEL_OPTIONS = (
    ("--hidden-size", "hidden_size", click.IntRange(min=1), "Width D of embeddings and blocks."),
    ("--num-blocks", "num_blocks", click.IntRange(min=1), "Number of causal self-attention blocks."),
    ("--num-heads", "num_heads", click.IntRange(min=1), "Attention heads; must divide the hidden size."),
    ("--max-length", "max_length", click.IntRange(min=1), "Latest events kept per input window."),
    ("--dropout", "dropout", click.FloatRange(0, 1, max_open=True),
     "Dropout on the input sum, after attention and in the feed-forward network."),
    ("--attention-dropout", "attention_dropout", click.FloatRange(0, 1, max_open=True),
     "Dropout on the attention weights (slower on CPU)."),
    ("--ffn-size", "ffn_size", click.IntRange(min=1),
     "Width of the feed-forward network (default: the hidden size)."),
)
TRAIN_OPTIONS = (
    ("--lr", "lr", click.FloatRange(0, min_open=True), "Adam learning rate."),
    ("--weight-decay", "weight_decay", click.FloatRange(0), "Adam weight decay."),
    ("--batch-size", "batch_size", click.IntRange(min=1), "Sequences per training batch."),
    ("--epochs", "epochs", click.IntRange(min=1), "Maximum number of epochs per run."),
    ("--patience", "patience", click.IntRange(min=0),
     "Validations without a better val NDCG@20 before stopping; 0 never stops early."),
    ("--loss", "loss", click.Choice(LOSSES),
     "full: softmax over all items; sampled: softmax over the target and sampled negatives."),
    ("--num-negatives", "num_negatives", click.IntRange(min=2),
     "n of the sampled loss: the target plus n - 1 uniform negatives (2 behaves like BPR)."),
    ("--beta-item", "beta_item", click.FloatRange(0, 1), "Chance that augmentation replaces an input item."),
    ("--beta-query", "beta_query", click.FloatRange(0, 1), "Chance that augmentation replaces an input query."),
    ("--rho", "rho", click.FloatRange(min=1),
     "Weight of a similar node against any other node in replacement draws; 1 is uniform."),
    ("--seed", "seed", int, "Seed of every random number generator."),
    ("--eval-every", "eval_every", click.IntRange(min=1), "Validate every this many epochs."),
    ("--device", "device", click.Choice(("cpu", "cuda")), "Where to train."),
    ("--eval-negatives", "eval_negatives", click.IntRange(min=1),
     "Rank against this many uniform negatives instead of all items (sampled metrics)."),
)


def select(options: tuple, fields: tuple[str, ...] | None) -> tuple:
    """Return the options of ``fields`` (all of them when ``fields`` is None), in table order."""
    if fields is None:
        return options
    unknown = set(fields) - {name for _, name, _, _ in options}
    if unknown:
        raise ValueError(f"no config option for {sorted(unknown)}")
    return tuple(option for option in options if option[1] in fields)


def config_options(model_options: tuple, train_options: tuple) -> Callable[[Any], Any]:
    """Return a decorator that adds one click option per config field, its default in the help."""

    def decorate(func: Any) -> Any:
        for config_class, options in ((TrainConfig, train_options), (ModelConfig, model_options)):
            for flag, name, kind, help_text in reversed(options):
                default = config_class.__dataclass_fields__[name].default
                if default is not None:
                    help_text += f" (default: {default})"
                func = click.option(flag, name, type=kind, default=None, help=help_text)(func)
        return func

    return decorate


def given_fields(values: dict[str, Any], options: tuple) -> dict[str, Any]:
    """Return the config fields of ``options`` that were given on the command line."""
    return {name: values[name] for _, name, _, _ in options if values[name] is not None}
