"""Save and load a query-item graph as one ``.pt`` file of plain tensors and containers.

A pickled ``HeteroData`` does not load under ``torch.load(weights_only=True)``,
so the file contains a dict of tensors, strings, numbers, lists and dicts instead,
tagged with a format name and version. ``edge_index`` is stored as int32 when
the node ids fit, which halves the file, and is loaded back as int64. Node
names are stored as one UTF-8 byte tensor with character offsets.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import HeteroData

from qsr_graph.atomic import atomic_file
from qsr_graph.build import ITEM, ITEM_SIMILAR, LEADS_TO, QUERY, QUERY_SIMILAR, SEARCHED_BY

FORMAT_NAME = "qsr-graph"
FORMAT_VERSION = 2

_REQUIRED_NODE_TYPES = (ITEM, QUERY)
_REQUIRED_EDGE_TYPES = (SEARCHED_BY, LEADS_TO, ITEM_SIMILAR, QUERY_SIMILAR)
_BUILD_HINT = "build one with 'qsr graph build DATASET_DIR --output graph.pt'"


class GraphFormatError(ValueError):
    """A file that is not a readable qsr graph."""


def _pack_strings(strings: list[str]) -> dict[str, torch.Tensor]:
    """Pack strings into one UTF-8 byte tensor and ``[len + 1]`` character offsets."""
    text = "".join(strings)
    lengths = torch.tensor([len(s) for s in strings], dtype=torch.int64)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
    encoded = text.encode("utf-8")
    # torch.frombuffer rejects an empty buffer.
    utf8 = (torch.frombuffer(bytearray(encoded), dtype=torch.uint8) if encoded
            else torch.zeros(0, dtype=torch.uint8))
    return {"utf8": utf8, "offsets": offsets}


def _unpack_strings(packed: dict[str, torch.Tensor]) -> list[str]:
    text = packed["utf8"].numpy().tobytes().decode("utf-8")
    offsets = packed["offsets"].tolist()
    return [text[start:stop] for start, stop in zip(offsets[:-1], offsets[1:])]


def _plain_store(store: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in store.items():
        if key == "edge_index" and value.numel() and value.max() < torch.iinfo(torch.int32).max:
            value = value.to(torch.int32)
        elif key == "name":
            # weights_only=True unpickles each list element in Python, which
            # took minutes for 8.6 million item names; one tensor loads at once.
            value = _pack_strings(value)
        values[key] = value
    return values


def save_graph(data: HeteroData, path: str | os.PathLike) -> Path:
    """Write a graph built by :func:`qsr_graph.build.build_graph` to ``path``.

    The file is written under a temporary name beside ``path`` and renamed at
    the end, so a failure leaves no partial file. An existing file is replaced.

    Args:
        data (HeteroData): the graph.
        path (str or os.PathLike): the ``.pt`` file to write.

    Returns:
        The path written.
    """
    path = Path(path)
    # Graph-level attributes (graph_config, build_stats) sit in the global store.
    graph_attributes = dict(data.to_dict().get("_global_store", {}))
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "nodes": {node_type: _plain_store(data[node_type]) for node_type in data.node_types},
        "edges": [{"type": list(edge_type), **_plain_store(data[edge_type])}
                  for edge_type in data.edge_types],
        "graph": graph_attributes,
    }
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)
    return path


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: graph file not found; {_BUILD_HINT}")
    if path.is_dir():
        what = "a prepared dataset folder" if (path / "manifest.json").is_file() else "a folder"
        raise GraphFormatError(f"{path}: is {what}, not a qsr graph file; {_BUILD_HINT}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, zipfile.BadZipFile,
            UnicodeDecodeError) as err:
        # The error text of a weights-only failure is long and not about qsr,
        # so only its type is shown.
        raise GraphFormatError(
            f"{path}: not a qsr graph file (torch.load with weights_only=True failed: "
            f"{type(err).__name__}); {_BUILD_HINT}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise GraphFormatError(
            f"{path}: a .pt file but not a qsr graph (no format '{FORMAT_NAME}'); {_BUILD_HINT}")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise GraphFormatError(
            f"{path}: qsr graph format version {version} is not supported (expected "
            f"{FORMAT_VERSION}); build the graph again with this version of qsr")
    return payload


def load_graph(path: str | os.PathLike) -> HeteroData:
    """Read a graph written by :func:`save_graph`.

    The file is read with ``torch.load(weights_only=True)``, so loading runs no
    pickled code.

    Args:
        path (str or os.PathLike): the ``.pt`` file.

    Returns:
        The :class:`HeteroData`, with ``edge_index`` as int64.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        GraphFormatError: ``path`` is a folder, is not a qsr graph, has another
            format version, or lacks a node or edge type.
    """
    path = Path(path)
    payload = _read_payload(path)
    try:
        data = HeteroData()
        for node_type, values in payload["nodes"].items():
            for key, value in values.items():
                data[node_type][key] = _unpack_strings(value) if key == "name" else value
        for entry in payload["edges"]:
            edge_type = tuple(entry["type"])
            for key, value in entry.items():
                if key == "type":
                    continue
                data[edge_type][key] = value.long() if key == "edge_index" else value
        for key, value in payload["graph"].items():
            setattr(data, key, value)
    except (KeyError, TypeError, AttributeError) as err:
        raise GraphFormatError(f"{path}: damaged qsr graph file ({err!r}); {_BUILD_HINT}") from err

    missing = [t for t in _REQUIRED_NODE_TYPES if t not in data.node_types]
    missing += ["/".join(t) for t in _REQUIRED_EDGE_TYPES if t not in data.edge_types]
    if missing:
        raise GraphFormatError(f"{path}: qsr graph lacks {', '.join(missing)}; {_BUILD_HINT}")
    try:
        data.validate()
    except ValueError as err:
        raise GraphFormatError(f"{path}: damaged qsr graph file ({err}); {_BUILD_HINT}") from err
    return data


def graph_fingerprint(data: HeteroData) -> str:
    """Return a SHA-256 hex digest of the graph's node counts and links.

    Two graphs with the same fingerprint have the same nodes per type and the
    same ``edge_index`` and ``edge_weight`` in every relation, so a run trained
    on one can be reused with the other. Names and build statistics are left out.
    """
    digest = hashlib.sha256()
    for node_type in sorted(data.node_types):
        digest.update(f"{node_type}:{data[node_type].num_nodes};".encode())
    for edge_type in sorted(data.edge_types):
        store = data[edge_type]
        digest.update("/".join(edge_type).encode())
        for key in ("edge_index", "edge_weight"):
            if key in store:
                tensor = store[key].detach().to("cpu", torch.float64 if key == "edge_weight" else torch.int64)
                digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()
