"""A dump as one plain SQL script, for hosts that only have the mysql client.

The script is what mysqldump would write for the same data: session settings,
CREATE DATABASE / USE, DROP + CREATE TABLE, the rows of every chunk as INSERT
statements, then views, triggers, routines and events (the latter wrapped in
``DELIMITER ;;``, each under its recorded sql_mode and character set).

Every chunk is verified as it is copied, and its rows are wrapped in a
transaction whose COMMIT is written only after the chunk verified: when a
chunk turns out damaged the script ends there without COMMIT (the client's
session ends and the server rolls the chunk back) and the command fails, so a
damaged dump never loads rows of an unverified chunk. Version-2 rows become
INSERTs built from validated fields (``tsv.InsertBuilder``); version-1 lines
pass the strict grammar first.

An encrypted dump needs its identity (``keys``), refused at once without
one; with verify keys the signature is checked before anything is read.

Memory: one chunk stream and one statement, as for restore.
"""

from __future__ import annotations

from collections.abc import Callable

from .chunk_reader import V1_MAX_LINE, V2_MAX_HELD_ROW, ChunkStream
from .config import RestoreConfig
from .connection import quote_ident
from .restore_plan import ChunkJob, plan_restore
from .seal import NO_KEYS, ReadKeys
from .seal.opening import open_dump
from .sql_chunk import HEADER, LineGrammar, count_rows
from .storage import Storage
from .tsv import InsertBuilder
from .version import __version__


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def write_sql(
    storage: Storage,
    emit: Callable[[bytes], object],
    *,
    database: str | None = None,
    tables: tuple[str, ...] = (),
    keys: ReadKeys = NO_KEYS,
) -> int:
    """Write the dump to ``emit`` as SQL; returns the number of rows written."""
    opened = open_dump(storage, keys, decrypt=True)
    manifest, storage = opened.manifest, opened.storage
    config = RestoreConfig(database=database, tables=tables, defer_indexes=False)
    plan = plan_restore(storage, manifest, config)
    session = ", ".join(f"{name} = {_sql_string(value)}" for name, value in plan.session)
    emit(
        (
            f"-- osidump {__version__} to-sql of {storage.describe()}\n"
            f"-- taken {manifest.finished_at} from {manifest.server_flavor} "
            f"{manifest.server_version}, consistency {manifest.snapshot.consistency}\n"
            "SET NAMES utf8mb4;\n"
            f"SET SESSION {session}, foreign_key_checks = 0, unique_checks = 0;\n"
        ).encode()
    )
    rows = 0
    for db in plan.databases:
        emit(f"\n{db.create_sql};\nUSE {quote_ident(db.target)};\n".encode())
        for table in (t for t in plan.tables if t.target_db == db.target):
            name = quote_ident(table.entry.name)
            create = table.create.build(table.entry.name)
            emit(f"\nDROP TABLE IF EXISTS {name};\n{create};\n".encode())
            for chunk in table.entry.chunks:
                emit(b"START TRANSACTION;\n")
                _copy_chunk(storage, ChunkJob(table, chunk), emit)
                emit(b"COMMIT;\n")
                rows += chunk.rows
        objects = [o for o in plan.objects if o.target_db == db.target]
        if objects:
            emit(b"\nDELIMITER ;;\n")
            for obj in objects:
                settings = [f"sql_mode = {_sql_string(obj.sql_mode or '')}"]
                if obj.character_set_client:
                    settings.append(
                        f"character_set_client = {_sql_string(obj.character_set_client)}"
                    )
                if obj.collation_connection:
                    settings.append(
                        f"collation_connection = {_sql_string(obj.collation_connection)}"
                    )
                if obj.time_zone:
                    settings.append(f"time_zone = {_sql_string(obj.time_zone)}")
                emit(f"SET SESSION {', '.join(settings)};;\n{obj.create_sql};;\n".encode())
            emit(f"DELIMITER ;\nSET SESSION {session};\nSET NAMES utf8mb4;\n".encode())
    emit(b"\n-- osidump: end of script\n")
    return rows


def _copy_chunk(storage: Storage, job: ChunkJob, emit: Callable[[bytes], object]) -> None:
    """The chunk's rows as INSERT statements; raises IntegrityError (after
    emitting some, never the COMMIT) when the chunk is damaged."""
    t = job.table
    chunk = job.chunk
    if t.encoding == "tsv":
        stream = ChunkStream(storage, chunk, label=job.label, max_row=int(chunk.max_row_bytes or 0))
        builder = InsertBuilder(t.entry.name, t.columns)
        with stream:
            lines = stream.lines(min(int(chunk.max_row_bytes or 0), V2_MAX_HELD_ROW))
            for statement, _rows in builder.statements(lines, where=job.label):
                emit(statement + b";\n")
        stream.finish()
        return
    grammar = LineGrammar(t.entry.name, [c.name for c in t.columns])
    stream = ChunkStream(storage, chunk, label=job.label, max_row=V1_MAX_LINE)
    rows = 0
    with stream:
        for number, line in enumerate(stream.lines(V1_MAX_LINE)):
            if number == 0:
                if line.rstrip(b";") != HEADER:
                    raise stream.damaged("does not start with the chunk header")
                continue
            if not grammar.check(line):
                raise stream.damaged(
                    f"line {number + 1} is not an INSERT of literals into its own table"
                )
            rows += count_rows(line)
            emit(line + b"\n")
    stream.finish(rows=rows)
