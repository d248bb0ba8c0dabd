"""``osidump load-sql``: replay a mysqldump file without the mysql client."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import IO

import click
from osidump.engine.config import ConnectionConfig
from osidump.engine.errors import ObjectNotFound
from osidump.engine.sqlfile.load_sql import LoadResult, load_sql

from .errors import handle_errors
from .messages import say
from .options import ConnectionResolver, connection_options


@click.command("load-sql")
@click.argument("file")
@click.option(
    "--database",
    "-d",
    "target_db",
    default=None,
    help="Load into this database (created if needed, with the character set the script "
    "states). A script that names another database (USE, CREATE DATABASE, db.table) is "
    "refused before anything runs, unless --follow-use.",
)
@click.option(
    "--follow-use",
    is_flag=True,
    help="With -d: run the script as `mysql NAME < file` would: start in that database, "
    "then obey the script's USE statements, so everything after a USE goes into the "
    "database the script names, not into -d (a --databases dump leaves -d empty). "
    "Nothing loads such a script under another name: remove its CREATE DATABASE and USE "
    "lines first.",
)
@connection_options
@handle_errors
def load_sql_command(
    file: str, target_db: str | None, follow_use: bool, connection: ConnectionResolver
) -> None:
    """Replay FILE, a plain, gzip or zstd mysqldump/mariadb-dump script ('-' for stdin).

    \b
    Examples:
      osidump load-sql /backups/shop_20261101.sql.gz -d shop_old
      zstd -dc dump.sql.zst | osidump load-sql - -d shop
      osidump load-sql all-databases.sql.gz          # runs as written, like mysql < file
    """
    config = replace(connection.config(), database=None)
    if file == "-":
        result = _load(config, sys.stdin.buffer, target_db, follow_use)
    else:
        try:
            fh = open(file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ObjectNotFound(
                f"cannot open {file}: {exc.strerror or exc}", hint="check the path"
            ) from exc
        with fh:
            result = _load(config, fh, target_db, follow_use)
    where = ""
    if result.database:
        stated = " ".join(x for x in (result.charset, result.collation) if x)
        where = f" into {result.database}"
        if stated:
            where += f" ({stated}, as the script states)"
    if result.followed:
        where += f", following USE into {', '.join(result.followed)}"
    s = "" if result.statements == 1 else "s"
    say(
        f"ran {result.statements:,} statement{s}{where} ({result.bytes_read:,} bytes of SQL, "
        f"compression: {result.compression})"
    )


def _load(
    config: ConnectionConfig, fh: IO[bytes], target_db: str | None, follow_use: bool
) -> LoadResult:
    return load_sql(config, fh, database=target_db, follow_use=follow_use)
