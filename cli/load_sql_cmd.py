"""``osidump load-sql``: replay a mysqldump file without the mysql client."""

from __future__ import annotations

import sys
from dataclasses import replace

import click
from osidump.engine.errors import ObjectNotFound
from osidump.engine.load_sql import load_sql

from .errors import handle_errors
from .options import ConnectionResolver, connection_options


@click.command("load-sql")
@click.argument("file")
@click.option(
    "--database",
    "-d",
    "target_db",
    default=None,
    help="Create (if needed) and use this database first (for single-database dumps).",
)
@connection_options
@handle_errors
def load_sql_command(file: str, target_db: str | None, connection: ConnectionResolver) -> None:
    """Replay FILE, a plain, gzip or zstd mysqldump/mariadb-dump script ('-' for stdin).

    \b
    Examples:
      osidump load-sql /backups/shop_20261101.sql.gz -d shop_old
      zstd -dc dump.sql.zst | osidump load-sql - -d shop
    """
    config = replace(connection.config(), database=None)
    if file == "-":
        # Standard input's binary layer is a BufferedReader (peekable).
        result = load_sql(config, sys.stdin.buffer, database=target_db)  # type: ignore[arg-type]
    else:
        try:
            fh = open(file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ObjectNotFound(
                f"cannot open {file}: {exc.strerror or exc}", hint="check the path"
            ) from exc
        with fh:
            result = load_sql(config, fh, database=target_db)
    click.echo(
        f"ran {result.statements:,} statements ({result.bytes_read:,} bytes of SQL, "
        f"compression: {result.compression})"
    )
