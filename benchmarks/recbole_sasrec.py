"""Train RecBole 1.2.1's SASRec on sequences exported by ``qsr data export --format recbole``.

Run it only inside a throwaway virtual environment, never in qsr's own:

    python3 -m venv /tmp/recbole-venv
    /tmp/recbole-venv/bin/pip install torch==2.13.0 recbole==1.2.1 "numpy<2" "pandas<3" "setuptools<81"
    qsr data export --format recbole out/trivago --output out/recbole/trivago
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 /tmp/recbole-venv/bin/python benchmarks/recbole_sasrec.py \
        out/recbole/trivago --epochs 200 --stopping-step 10 --json out/recbole.json

The model matches qsr's default size (hidden 64, feed-forward 64, 2 blocks,
2 heads, 50 latest items, dropout 0.2, Adam lr 1e-3, full softmax
cross-entropy). The split is RecBole's leave-one-out on time order (the last
item is the test target, the one before it the validation target), which
matches qsr's prepared split on item-only sequences, and the ranking covers all
items. RecBole trains one sample per prefix of a training sequence, so its
samples per second are target items per second. RecBole reloads its own
checkpoint with ``torch.load``, which torch 2.6 and later restrict to weights
unless ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path,
                        help="Folder written by 'qsr data export --format recbole' (contains NAME.inter).")
    parser.add_argument("--epochs", type=int, default=200, help="Maximum training epochs.")
    parser.add_argument("--stopping-step", type=int, default=10,
                        help="Validations without a better NDCG@20 before stopping.")
    parser.add_argument("--batch-size", type=int, default=128, help="Training samples per batch.")
    parser.add_argument("--dropout", type=float, default=0.2,
                        help="Hidden and attention dropout of SASRec.")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument("--seed", type=int, default=0, help="RecBole seed.")
    parser.add_argument("--json", type=Path, default=None, help="Write the figures to this JSON file.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD") != "1":
        raise SystemExit("set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1: RecBole reloads its best checkpoint "
                         "with torch.load, which torch 2.13 restricts to weights by default")

    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_logger, init_seed

    torch.set_num_threads(args.threads)
    data = args.data.resolve()
    if not (data / f"{data.name}.inter").is_file():
        raise SystemExit(f"{data}: no {data.name}.inter; write it with 'qsr data export --format recbole'")
    json_path = args.json.resolve() if args.json is not None else None
    # RecBole writes log/, log_tensorboard/ and checkpoints under the working
    # folder, so run it from a temporary one.
    workdir = tempfile.mkdtemp(prefix="recbole-run-")
    os.chdir(workdir)
    checkpoints = os.path.join(workdir, "saved")
    config = Config(model="SASRec", dataset=data.name, config_dict={
        "data_path": str(data.parent),
        "checkpoint_dir": checkpoints,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "MAX_ITEM_LIST_LENGTH": 50,
        "hidden_size": 64,
        "inner_size": 64,
        "n_layers": 2,
        "n_heads": 2,
        "hidden_dropout_prob": args.dropout,
        "attn_dropout_prob": args.dropout,
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "learning_rate": 1e-3,
        "train_batch_size": args.batch_size,
        "eval_batch_size": 1024,
        "epochs": args.epochs,
        "stopping_step": args.stopping_step,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user",
                      "mode": "full"},
        "metrics": ["Hit", "NDCG"],
        "topk": [10, 20],
        "valid_metric": "NDCG@20",
        "seed": args.seed,
        "reproducibility": True,
        "use_gpu": False,
        "device": "cpu",
        "show_progress": False,
        "log_wandb": False,
    })
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logging.getLogger().setLevel(logging.WARNING)

    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = SASRec(config, train_data._dataset).to(config["device"])
    trainer = Trainer(config, model)

    # Time only the training passes, not validation.
    train_seconds: list[float] = []
    train_epoch = trainer._train_epoch

    def timed_epoch(*inner_args, **inner_kwargs):
        start = time.perf_counter()
        result = train_epoch(*inner_args, **inner_kwargs)
        train_seconds.append(time.perf_counter() - start)
        print(f"epoch {len(train_seconds)}: {train_seconds[-1]:.1f} s, loss {result:.4f}", file=sys.stderr,
              flush=True)
        return result

    trainer._train_epoch = timed_epoch
    start = time.perf_counter()
    best_valid_score, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    fit_seconds = time.perf_counter() - start
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)

    samples = len(train_data._dataset)
    figures = {
        "toolkit": "RecBole 1.2.1 SASRec",
        "torch": torch.__version__,
        "threads": args.threads,
        "users": int(dataset.user_num - 1),
        "items": int(dataset.item_num - 1),
        "train_samples_per_epoch": int(samples),
        "epochs_run": len(train_seconds),
        # cur_step counts the validations since the best one (1-based epochs).
        "best_epoch": len(train_seconds) - trainer.cur_step,
        "train_seconds_per_epoch": sum(train_seconds) / len(train_seconds),
        "train_seconds": train_seconds,
        "train_samples_per_second": samples * len(train_seconds) / sum(train_seconds),
        "fit_seconds": fit_seconds,
        "best_valid": {key: float(value) for key, value in best_valid.items()},
        "test": {key: float(value) for key, value in test.items()},
        "batch_size": args.batch_size,
        "dropout": args.dropout,
    }
    print(json.dumps(figures, indent=2))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
