"""Every line osidump writes on its own account (events, notes, warnings,
report lines) goes through here, so ``--log-format json`` can keep its
promise: one JSON object per line on stderr, nothing else.

A command's product (an explicit ``--json`` document, ``to-sql``'s script,
``inspect --load-data``'s statement) is not a message: it goes to stdout as it
is, whatever the log format.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click


def context_flag(name: str) -> object:
    """A setting of the top-level group (``-v``, ``--log-format``), from any
    nested command's context (also while a subcommand parses its options)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and ctx.obj.get(name):
            return ctx.obj[name]
        ctx = ctx.parent
    return None


def json_log() -> bool:
    return context_flag("log_format") == "json"


def emit_json(event: str, **fields: Any) -> None:
    """One JSON object per line on stderr: ``{"ts": ..., "event": ..., ...}``."""
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event}
    record.update(fields)
    sys.stderr.write(json.dumps(record, default=str) + "\n")
    sys.stderr.flush()


def say(message: str, *, event: str | None = None, err: bool = False, **fields: Any) -> None:
    """A report line: ``message`` on stdout (stderr with ``err``), or with
    --log-format json ``{"event": event, "message": message, **fields}`` on
    stderr; ``event`` defaults to the command's name (``verify``, ``list``)."""
    if json_log():
        ctx = click.get_current_context(silent=True)
        name = event or (ctx.info_name if ctx is not None else None) or "output"
        emit_json(name, message=message, **fields)
    else:
        click.echo(message, err=err)


def note(message: str, *, err: bool = True) -> None:
    """``note: ...`` on stderr (stdout with ``err=False``, where a report
    already goes), or ``{"event": "note", "message": ...}``."""
    if json_log():
        emit_json("note", message=message)
    else:
        click.echo(f"note: {message}", err=err)


def warning(message: str) -> None:
    """``osidump: warning: ...`` on stderr, or ``{"event": "warning", ...}``."""
    if json_log():
        emit_json("warning", message=message)
    else:
        click.echo(f"osidump: warning: {message}", err=True)
