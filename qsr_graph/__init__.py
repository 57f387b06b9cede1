"""qsr_graph: the query-item bipartite graph and the data it is built from."""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names and their modules. They are imported on first use, so that
# ``import qsr_graph.data`` does not pay for torch and PyTorch Geometric.
_EXPORTS = {
    "GraphConfig": "qsr_graph.build",
    "build_graph": "qsr_graph.build",
    "GraphFormatError": "qsr_graph.io",
    "load_graph": "qsr_graph.io",
    "save_graph": "qsr_graph.io",
    "NodeNotFoundError": "qsr_graph.inspect",
    "find_node": "qsr_graph.inspect",
    "node_report": "qsr_graph.inspect",
    "SimilarSets": "qsr_graph.similar",
    "similar_sets": "qsr_graph.similar",
    "to_networkx": "qsr_graph.convert",
    "write_graph": "qsr_graph.convert",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'qsr_graph' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
