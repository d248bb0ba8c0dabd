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

``write_sql_files`` (``to-sql --per-table DIR``) writes the same statements
as one file per table, mydumper-style, for reading, grep and hand edits:
``<db>.<table>.sql`` (session settings, CREATE DATABASE IF NOT EXISTS, USE,
DROP + CREATE TABLE, the rows), ``<db>-objects.sql`` (views, triggers,
routines, events) and, written last, ``load.sql``, which ``source``s every
file in order (``cd DIR && mysql < load.sql``). Names are the dump's path
segments (percent-encoded). A file appears under its name only once every
chunk in it verified (temp file, rename); on damage the command stops, the
damaged table's file is not left behind and no ``load.sql`` is written, so a
damaged chunk's rows never reach a file that a DDL statement of the next file
would implicitly commit.

An encrypted dump needs its identity (``keys``), refused at once without
one; with verify keys the signature is checked before anything is read.

Memory: one chunk stream and one statement, as for restore.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import RestoreConfig
from ..connection import quote_ident
from ..errors import OsidumpError
from ..format.chunk_reader import V1_MAX_LINE, V2_MAX_HELD_ROW, ChunkStream
from ..format.manifest import Manifest, encode_name
from ..format.sql_chunk import LineGrammar, checked_lines, count_rows
from ..format.sqltokens import comment_line
from ..format.tsv import InsertBuilder
from ..restore.plan import ChunkJob, DatabasePlan, ObjectPlan, RestorePlan, TablePlan, plan_restore
from ..seal import NO_KEYS, ReadKeys
from ..seal.opening import open_dump
from ..storage.base import Storage, WriteStream
from ..version import __version__


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _plan(
    storage: Storage, database: str | None, tables: tuple[str, ...], keys: ReadKeys
) -> tuple[Storage, Manifest, RestorePlan]:
    """The dump opened (signature checked, decrypting storage for an
    encrypted dump) and its plan."""
    opened = open_dump(storage, keys, decrypt=True)
    manifest, storage = opened.manifest, opened.storage
    config = RestoreConfig(database=database, tables=tables, defer_indexes=False)
    return storage, manifest, plan_restore(storage, manifest, config)


def _session(plan: RestorePlan) -> str:
    return ", ".join(f"{name} = {_sql_string(value)}" for name, value in plan.session)


def _header(storage: Storage, manifest: Manifest, plan: RestorePlan, what: str = "") -> bytes:
    return (
        comment_line(f"osidump {__version__} to-sql of {storage.describe()}{what}")
        + comment_line(
            f"taken {manifest.finished_at} from {manifest.server_flavor}"
            f" {manifest.server_version}, consistency {manifest.snapshot.consistency}"
        )
        + "".join(comment_line(f"note: {note}") for note in plan.notes)
        + "SET NAMES utf8mb4;\n"
        f"SET SESSION {_session(plan)}, foreign_key_checks = 0, unique_checks = 0;\n"
    ).encode()


def _use(db: DatabasePlan) -> bytes:
    return f"\n{db.create_sql};\nUSE {quote_ident(db.target)};\n".encode()


def _table(storage: Storage, table: TablePlan, emit: Callable[[bytes], object]) -> int:
    """DROP + CREATE TABLE and every chunk, each in a transaction whose
    COMMIT follows only a verified chunk; returns the rows written."""
    name = quote_ident(table.entry.name)
    create = table.create.build(table.entry.name)
    emit(f"\nDROP TABLE IF EXISTS {name};\n{create};\n".encode())
    rows = 0
    for chunk in table.entry.chunks:
        emit(b"START TRANSACTION;\n")
        _copy_chunk(storage, ChunkJob(table, chunk), emit)
        emit(b"COMMIT;\n")
        rows += chunk.rows
    return rows


def _objects(objects: list[ObjectPlan], plan: RestorePlan) -> bytes:
    if not objects:
        return b""
    out = ["\nDELIMITER ;;\n"]
    for obj in objects:
        settings = [f"sql_mode = {_sql_string(obj.sql_mode or '')}"]
        if obj.character_set_client:
            settings.append(f"character_set_client = {_sql_string(obj.character_set_client)}")
        if obj.collation_connection:
            settings.append(f"collation_connection = {_sql_string(obj.collation_connection)}")
        if obj.time_zone:
            settings.append(f"time_zone = {_sql_string(obj.time_zone)}")
        out.append(f"SET SESSION {', '.join(settings)};;\n{obj.create_sql};;\n")
    out.append(f"DELIMITER ;\nSET SESSION {_session(plan)};\nSET NAMES utf8mb4;\n")
    return "".join(out).encode()


def write_sql(
    storage: Storage,
    emit: Callable[[bytes], object],
    *,
    database: str | None = None,
    tables: tuple[str, ...] = (),
    keys: ReadKeys = NO_KEYS,
) -> int:
    """Write the dump to ``emit`` as SQL; returns the number of rows written."""
    storage, manifest, plan = _plan(storage, database, tables, keys)
    emit(_header(storage, manifest, plan))
    rows = 0
    try:
        for db in plan.databases:
            emit(_use(db))
            for table in (t for t in plan.tables if t.target_db == db.target):
                rows += _table(storage, table, emit)
            emit(_objects([o for o in plan.objects if o.target_db == db.target], plan))
    except OsidumpError:
        # `to-sql DUMP | mysql` without pipefail sees only the client's exit
        # status: end the script with an error the client stops on, after
        # rolling back the chunk that failed.
        emit(STOPPED)
        raise
    emit(b"\n-- osidump: end of script\n")
    return rows


STOPPED = (
    b"\nROLLBACK;\nSIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'osidump to-sql stopped:"
    b" the dump failed verification (see its error); nothing after this point was loaded';\n"
)


@dataclass
class SqlFiles:
    """What ``write_sql_files`` wrote: file names in load order, rows."""

    files: list[str] = field(default_factory=list)
    rows: int = 0


LOAD_FILE = "load.sql"


def write_sql_files(
    storage: Storage,
    out: Storage,
    *,
    database: str | None = None,
    tables: tuple[str, ...] = (),
    keys: ReadKeys = NO_KEYS,
) -> SqlFiles:
    """Write the dump as one SQL file per table plus one of objects per
    database into ``out`` (which must be empty), then ``load.sql``."""
    storage, manifest, plan = _plan(storage, database, tables, keys)
    out.ensure_empty()
    done = SqlFiles()

    def write(name: str, what: str, db: DatabasePlan, table: TablePlan | None) -> None:
        """One file: header, database, then the table or the database's objects."""
        stream: WriteStream = out.open_write(name)
        try:
            stream.write(_header(storage, manifest, plan, what))
            stream.write(_use(db))
            if table is not None:
                done.rows += _table(storage, table, stream.write)
            else:
                stream.write(_objects([o for o in plan.objects if o.target_db == db.target], plan))
            stream.write(b"\n-- osidump: end of file\n")
        except BaseException:
            stream.abort()
            raise
        stream.commit()
        done.files.append(name)

    try:
        for db in plan.databases:
            prefix = encode_name(db.target)
            for t in (t for t in plan.tables if t.target_db == db.target):
                write(f"{prefix}.{encode_name(t.entry.name)}.sql", f": {t.label}", db, t)
            if any(o.target_db == db.target for o in plan.objects):
                write(f"{prefix}-objects.sql", f": objects of {db.target}", db, None)
    except OsidumpError as exc:
        exc.message += (
            f" (to-sql --per-table stopped: {len(done.files)} complete file(s) written, no"
            f" {LOAD_FILE})"
        )
        raise
    index = "".join(f"source {name}\n" for name in done.files)
    out.put(
        LOAD_FILE,
        (
            f"-- osidump {__version__} to-sql --per-table of {storage.describe()}:\n"
            f"-- every file in load order; run as: cd DIR && mysql < {LOAD_FILE}\n{index}"
        ).encode(),
    )
    return done


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
        for line in checked_lines(stream, grammar):
            rows += count_rows(line)
            emit(line + b"\n")
    stream.finish(rows=rows)
