"""Atomic writes: a file or folder appears complete at its path, or not at all."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _default_mode(base: int) -> int:
    """Return ``base`` masked by the process umask, the mode ``open`` would give."""
    # mkstemp and mkdtemp create private (0600 and 0700) entries; outputs should
    # get the same permissions as any other file the user writes.
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` and rename it to ``path`` on success.

    The temporary file sits in the same folder, so the final ``os.replace`` is a
    rename on one file system. On any exception the temporary file is removed
    and ``path`` keeps its old content, if it had any.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_file(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path`` and move it to ``path`` on success.

    An existing folder at ``path`` is replaced: it is renamed aside, the new
    folder is renamed into place, and only then is the old one deleted. On any
    exception the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, _default_mode(0o777))
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            old.rmdir()
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
