"""End-to-end run of examples/graph_analytics.py on the bundled trivago slice."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "graph_analytics.py"


@pytest.mark.slow
def test_graph_analytics_example(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLE), "--output", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "degree_distribution.png").stat().st_size > 0
    assert (tmp_path / "component_sizes.png").stat().st_size > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["links"] == 3721
    assert summary["degrees"]["item"]["linked"] == 3599
    assert summary["degrees"]["query"]["max_degree"] == 65
    assert summary["components"]["count"] == 792
    assert summary["components"]["largest"] == 79
    assert summary["projection"]["queries"] == 159
    assert summary["path"][0].startswith("query:")
    assert summary["path"][-1].startswith("query:")
