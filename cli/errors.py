"""Translation of library errors into click errors: ``Error: ...``, exit code 1, no traceback."""
from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: Exceptions that the libraries raise for bad user input or bad files.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, IsADirectoryError, PermissionError)


def user_errors(func: F) -> F:
    """Wrap a command so that user errors from the libraries end as ``click.ClickException``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except USER_ERRORS as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            raise click.ClickException(str(message)) from err

    return wrapper  # type: ignore[return-value]


def show_progress(ctx: click.Context | None = None) -> bool:
    """Return whether progress bars should be drawn: not under ``--quiet``, and only on a terminal."""
    ctx = ctx or click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.obj and root.obj.get("quiet"):
        return False
    return sys.stderr.isatty()
