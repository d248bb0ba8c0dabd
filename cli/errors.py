"""Engine errors -> one line on stderr and a documented exit code."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click
from osidump.engine import errors as e

F = TypeVar("F", bound=Callable[..., Any])

# Most specific first: the first isinstance match wins.
EXIT_CODES: tuple[tuple[type[e.OsidumpError], int], ...] = (
    (e.ConfigError, 2),
    (e.ConnectionLost, 8),
    (e.ConnectionFailed, 3),  # includes AuthenticationFailed
    (e.ObjectNotFound, 4),
    (e.IntegrityError, 5),
    (e.ManifestError, 5),
    (e.IncompleteDump, 5),
    (e.StorageError, 6),  # includes DestinationNotEmpty
    (e.ConsistencyError, 7),
    (e.ServerError, 8),  # includes PrivilegeError
    (e.TargetExists, 9),
    (e.Interrupted, 130),
)
INTERNAL_ERROR = 1


def exit_code_for(exc: e.OsidumpError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return INTERNAL_ERROR


def _verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and ctx.obj.get("verbose"):
            return True
        ctx = ctx.parent
    return False


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def handle_errors(fn: F) -> F:
    """Run a command; turn errors into ``osidump: error: ...`` + ``hint:`` lines
    on stderr and the matching exit code. Tracebacks only with -v."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except e.OsidumpError as exc:
            if _verbose():
                traceback.print_exc()
            click.echo(f"osidump: error: {_one_line(exc.message)}", err=True)
            click.echo(f"  hint: {_one_line(exc.hint)}", err=True)
            sys.exit(exit_code_for(exc))
        except KeyboardInterrupt:
            click.echo("osidump: interrupted; nothing was marked complete", err=True)
            sys.exit(130)
        except Exception as exc:  # the last resort: one line, details with -v
            if _verbose():
                traceback.print_exc()
            click.echo(
                f"osidump: internal error: {exc.__class__.__name__}: {_one_line(str(exc))}",
                err=True,
            )
            click.echo("  hint: run again with -v and report the traceback", err=True)
            sys.exit(INTERNAL_ERROR)

    return cast(F, wrapper)
