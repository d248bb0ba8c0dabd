"""Shared steps for integration tests: run an export or restore through the
engine, and compare tables between databases on the server itself."""

from __future__ import annotations

from typing import Any

from osidump.engine.config import ConnectionConfig, ExportConfig, RestoreConfig
from osidump.engine.export.run import run_export
from osidump.engine.format.manifest import Manifest, load_manifest
from osidump.engine.restore.apply import run_restore
from osidump.engine.restore.plan import plan_restore
from osidump.engine.storage.base import Storage


def sql(conn: Any, statement: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(statement, args)
        return list(cur.fetchall())


def export(conn_config: ConnectionConfig, storage: Storage, *dbs: str, **options: Any) -> Manifest:
    return run_export(conn_config, ExportConfig(databases=dbs, **options), storage)


def restore(conn_config: ConnectionConfig, storage: Storage, **options: Any) -> Any:
    config = RestoreConfig(**options)
    plan = plan_restore(storage, load_manifest(storage), config)
    return run_restore(conn_config, config, storage, plan)


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def checksums(conn: Any, db: str) -> dict[str, int]:
    tables = [r[0] for r in sql(conn, "SELECT TABLE_NAME FROM information_schema.TABLES "
                                      "WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE' "
                                      "AND TABLE_NAME <> 'osidump_restore_progress'", (db,))]
    out = {}
    for t in sorted(tables):
        row = sql(conn, f"CHECKSUM TABLE {q(db)}.{q(t)}")
        out[t] = row[0][1]
    return out


def rows_of(conn: Any, db: str, table: str, order: str = "1") -> list[tuple[Any, ...]]:
    return sql(conn, f"SELECT * FROM `{db}`.`{table}` ORDER BY {order}")
