"""Shared fixtures: paths to the real data slices bundled in the repository."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"


@pytest.fixture(scope="session")
def trivago_path() -> Path:
    """The bundled trivago RecSys 2019 slice (Parquet, 100,003 rows)."""
    return DATA_DIR / "trivago" / "trivago_val_100k.parquet.snappy"


@pytest.fixture(scope="session")
def bestbuy_paths() -> list[Path]:
    """The bundled Best Buy search-click log, as its two gzip-compressed CSV parts."""
    return [DATA_DIR / "bestbuy" / "train.csv.gz", DATA_DIR / "bestbuy" / "test.csv.gz"]
