import os
import stat

import pytest

from qsr_graph.atomic import atomic_file, atomic_folder


def test_atomic_file_replaces_content(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_file_failure_keeps_old_content(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_folder_replaces_folder(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "stale.txt").write_text("stale")
    with atomic_folder(target) as tmp:
        (tmp / "fresh.txt").write_text("fresh")
    assert sorted(p.name for p in target.iterdir()) == ["fresh.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_atomic_folder_failure_leaves_nothing(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_folder(target) as tmp:
            (tmp / "partial.txt").write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_outputs_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
        with atomic_folder(tmp_path / "run"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755
