"""Engine errors -> one line on stderr and a documented exit code."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click
from osidump.engine import errors as e

from .messages import context_flag, emit_json, json_log
from .signals import interrupt_exit_code, interrupt_name

F = TypeVar("F", bound=Callable[..., Any])

INTERNAL_ERROR = 1
INTERRUPTED = 130

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
    (e.Interrupted, INTERRUPTED),
)


def exit_code_for(exc: e.OsidumpError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return INTERNAL_ERROR


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _report(
    *, label: str, message: str, hint: str, code: int, exc: BaseException, retryable: bool = False
) -> None:
    """Two lines on stderr (``osidump: <label>: ...`` and ``  hint: ...``), or
    with --log-format json one ``{"event": "error", ...}`` object."""
    if json_log():
        emit_json(
            "error",
            exit_code=code,
            error=exc.__class__.__name__,
            message=_one_line(message),
            hint=_one_line(hint),
            retryable=retryable,
        )
        return
    click.echo(f"osidump: {label}: {_one_line(message)}", err=True)
    if hint:
        click.echo(f"  hint: {_one_line(hint)}", err=True)


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
            if context_flag("verbose"):
                traceback.print_exc()
            code = exit_code_for(exc)
            if isinstance(exc, e.Interrupted):
                code = interrupt_exit_code(exc)  # 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP
            _report(
                label="error",
                message=exc.message,
                hint=exc.hint,
                code=code,
                exc=exc,
                retryable=exc.retryable,
            )
            sys.exit(code)
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP (cli/signals.py)
            code = interrupt_exit_code(exc)
            _report(
                label="interrupted",
                message=f"stopped by {interrupt_name(exc)}; nothing was marked complete",
                hint="",
                code=code,
                exc=exc,
            )
            sys.exit(code)
        except Exception as exc:  # the last resort: one line, details with -v
            if context_flag("verbose"):
                traceback.print_exc()
            _report(
                label="internal error",
                message=f"{exc.__class__.__name__}: {exc}",
                hint="run again with -v and report the traceback",
                code=INTERNAL_ERROR,
                exc=exc,
            )
            sys.exit(INTERNAL_ERROR)

    return cast(F, wrapper)
