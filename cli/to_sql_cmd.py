"""``osidump to-sql``: a dump as one plain SQL script for the stock client."""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

import click
from osidump.engine.errors import ConfigError, StorageError
from osidump.engine.sqlfile.to_sql import LOAD_FILE, write_sql, write_sql_files
from osidump.engine.storage.base import LocalStorage

from .errors import handle_errors
from .export_cmd import split_list
from .messages import say
from .options import S3Settings, s3_options
from .seal_options import ReadKeySettings, read_key_options


@click.command("to-sql")
@click.argument("source")
@click.option("-o", "--output", default=None, help="Write to this file (default: standard output).")
@click.option(
    "--database", "-d", "target_db", default=None, help="Name the database this in the script."
)
@click.option("--tables", "-t", multiple=True, help="Only these tables (names or db.table globs).")
@read_key_options
@click.option(
    "--per-table",
    "per_table",
    default=None,
    metavar="DIR",
    help="Write one .sql file per table (schema and rows) and one of views, triggers, "
    f"routines and events per database into DIR (new or empty), then {LOAD_FILE}, which "
    f"loads them in order: cd DIR && mysql < {LOAD_FILE}.",
)
@s3_options
@handle_errors
def to_sql_command(
    source: str,
    output: str | None,
    target_db: str | None,
    tables: tuple[str, ...],
    keys: ReadKeySettings,
    per_table: str | None,
    s3: S3Settings,
) -> None:
    """Write the dump at SOURCE as one plain SQL script (every chunk verified).

    If the reader of standard output stops early (`| head`), to-sql ends
    quietly with status 141, as a command killed by SIGPIPE.

    \b
    Examples:
      osidump to-sql /backups/shop-2026-11-28 | mysql
      osidump to-sql /backups/shop-2026-11-28 -d shop_copy -o shop.sql && gzip shop.sql
      osidump to-sql /backups/shop-2026-11-28 --per-table ./shop-sql
    """
    storage = s3.open(source)
    read_keys = keys.load()
    keys.note()  # on stderr: the script goes to stdout
    if per_table is not None:
        if output is not None:
            raise ConfigError("-o and --per-table exclude each other", hint="choose one")
        written = write_sql_files(
            storage,
            LocalStorage(per_table),
            database=target_db,
            tables=split_list(tables),
            keys=read_keys,
        )
        say(
            f"wrote {len(written.files):,} files to {per_table}: {written.rows:,} rows, every chunk"
            f" verified; load with: cd {per_table} && mysql < {LOAD_FILE}",
            err=True,
            event="to-sql.done",
        )
        return
    if output is None:
        out = sys.stdout.buffer
        try:
            write_sql(
                storage, out.write, database=target_db, tables=split_list(tables), keys=read_keys
            )
            out.flush()
        except BrokenPipeError:
            _reader_went_away()
        return
    # A file appears under its name only when complete: temp file, fsync, rename.
    partial = output + ".partial"
    try:
        with open(partial, "wb") as fh:
            rows = write_sql(
                storage, fh.write, database=target_db, tables=split_list(tables), keys=read_keys
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, output)
    except OSError as exc:
        raise StorageError(f"writing {output}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    say(f"wrote {output}: {rows:,} rows, every chunk verified", err=True, event="to-sql.done")


def _reader_went_away() -> NoReturn:
    """Standard output's reader stopped (``to-sql DUMP | head``): end quietly
    with status 141, as a command killed by SIGPIPE does. Standard output now
    points at /dev/null, so Python's flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(128 + signal.SIGPIPE)
