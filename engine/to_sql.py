"""A dump as one plain SQL script, for hosts that only have the mysql client.

The script is what mysqldump would write for the same data: session settings,
CREATE DATABASE / USE, DROP + CREATE TABLE, the INSERT statements of every
chunk, then views, triggers, routines and events (the latter wrapped in
``DELIMITER ;;``, each under its recorded sql_mode and character set). Every
chunk is verified as it is copied; on a mismatch the copy stops with an
IntegrityError, so a damaged dump never turns into a plausible-looking script.

Memory: one compressed block and one statement, as for restore.
"""

from __future__ import annotations

from collections.abc import Callable

from .chunk_reader import ChunkReader
from .config import RestoreConfig
from .connection import quote_ident
from .manifest import load_manifest
from .restore_plan import plan_restore
from .storage import Storage
from .version import __version__


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def write_sql(
    storage: Storage,
    emit: Callable[[bytes], object],
    *,
    database: str | None = None,
    tables: tuple[str, ...] = (),
) -> int:
    """Write the dump to ``emit`` as SQL; returns the number of rows written."""
    manifest = load_manifest(storage)
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
            emit(f"\nDROP TABLE IF EXISTS {name};\n{table.create_sql};\n".encode())
            for chunk in table.entry.chunks:
                label = f"{table.label} chunk {chunk.index} ({chunk.path})"
                reader = ChunkReader(storage, chunk, table=table.entry.name, label=label)
                for i, statement in enumerate(reader.statements()):
                    if i:  # the first line is the chunk's session header
                        emit(statement + b"\n")
                reader.check()
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
