"""The ``osidump`` command."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import click
from osidump.engine import __version__
from osidump.engine.connection import connect, server_flavor

from . import signals
from .errors import handle_errors
from .export_cmd import export_command
from .keygen_cmd import keygen_command
from .load_sql_cmd import load_sql_command
from .messages import emit_json, json_log, say
from .options import (
    ConnectionResolver,
    connection_options,
    has_connection_options,
    password_args_like_mysql,
)
from .restore_cmd import inspect_command, restore_command, verify_command
from .retention_cmd import drill_command, list_command, prune_command
from .to_sql_cmd import to_sql_command


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                "event": "log",  # every line has an event, as messages.emit_json's
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


class OsidumpGroup(click.Group):
    """The top-level group; gives every command with connection options the
    mysql client's reading of ``-p`` (see ``password_args_like_mysql``)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and has_connection_options(command):
            rest = password_args_like_mysql(rest)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        """A subcommand's usage error (a bad flag or value) is, with
        --log-format json, one ``{"event": "error"}`` object like any other."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if not json_log():
                raise
            emit_json(
                "error",
                exit_code=exc.exit_code,
                error="UsageError",
                message=" ".join(exc.format_message().split()),
                hint=f"see osidump {ctx.invoked_subcommand} --help",
                retryable=False,
            )
            raise click.exceptions.Exit(exc.exit_code) from None


# --help only: -h is --host, as in the mysql client (subcommands inherit this).
@click.group(cls=OsidumpGroup, context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, "--version", prog_name="osidump", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Log details and show tracebacks.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line on stderr (for cron and log shippers).",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, log_format: str) -> None:
    """Consistent, chunked, verified dumps and restores for MySQL and MariaDB."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["log_format"] = log_format
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("osidump: %(message)s"))
    root = logging.getLogger("osidump")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose or log_format == "json" else logging.WARNING)


@cli.command("ping")
@click.argument("database", required=False)
@connection_options
@handle_errors
def ping_command(database: str | None, connection: ConnectionResolver) -> None:
    """Check the connection settings: connect and print the server's version."""
    config = connection.config(database)
    conn = connect(config)
    try:
        flavor, version = server_flavor(conn)
    finally:
        conn.close()
    say(f"connected to {config.describe()}: {flavor} {version}")


for _command in (
    export_command,
    restore_command,
    verify_command,
    inspect_command,
    list_command,
    prune_command,
    drill_command,
    to_sql_command,
    load_sql_command,
    keygen_command,
):
    cli.add_command(_command)


def main() -> None:
    signals.install()  # SIGTERM and SIGHUP stop cleanly, like Ctrl-C
    cli(prog_name="osidump")


if __name__ == "__main__":
    main()
