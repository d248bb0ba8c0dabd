"""Steps 4 to 6 of a restore: secondary indexes built on the loaded shadow
tables, one RENAME TABLE swapping them in, foreign keys of other tables
pointed back at the new tables, the replaced tables dropped, the restored
tables' foreign keys added."""

from __future__ import annotations

import re
from typing import Any

from ..connection import execute, query_all, quote_ident
from ..errors import ServerError
from ..format.ddl import CreateTable, parse_create_table
from ..server_compat import (
    fulltext_separately,
)
from .base import (
    RestoreBase,
    _DatabaseState,
    _names,
)
from .plan import TablePlan


class TableFinishing(RestoreBase):
    def _definition(self, t: TablePlan) -> CreateTable:
        return self._kept_definitions.get(t.label, t.create)

    def _shadow_sql(self, t: TablePlan) -> str:
        kept = self._kept_definitions.get(t.label)
        if kept is None:
            return t.shadow_sql()
        # truncate: the target's definition, the dump's AUTO_INCREMENT counter.
        return kept.build(t.shadow, without=t.deferred, auto_increment=t.create.auto_increment)

    def _index_names(self, conn: Any, db: str, table: str) -> set[str]:
        return set(
            _names(
                query_all(
                    conn,
                    "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS"
                    " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (db, table),
                    context=f"reading indexes of {db}.{table}",
                )
            )
        )

    def _indexes(self, conn: Any, states: dict[str, _DatabaseState]) -> None:
        """Indexes of the tables a loader did not already build (no chunk
        loaded in this run: empty tables, or everything loaded before a
        resume)."""
        for t in self.plan.tables:
            done = states[t.target_db].done
            if (
                t.label in self._indexed
                or self._item(t.target_db, "swap") in done
                or self._item(t.target_db, f"indexes:{t.entry.name}") in done
            ):
                continue
            self._build_indexes(conn, t)

    def _build_indexes(self, conn: Any, t: TablePlan) -> None:
        """The deferred secondary indexes of ``t``'s shadow, then the marker.
        Called by the loader that committed the table's last chunk, so one
        table's index build overlaps other tables' loading."""
        definition = self._definition(t)
        clauses = [d for d in definition.clauses(t.deferred) if d.kind != "foreign"]
        if clauses:
            present = self._index_names(conn, t.target_db, t.shadow)
            qt = f"{quote_ident(t.target_db)}.{quote_ident(t.shadow)}"
            missing = [d.text for d in clauses if d.name is None or d.name not in present]
            # Each FULLTEXT index alone, first (server_compat).
            for group in fulltext_separately(missing):
                adds = ", ".join(f"ADD {clause}" for clause in group)
                execute(conn, f"ALTER TABLE {qt} {adds}", context=f"building indexes of {t.label}")
        if has_auto_increment(definition):
            # The counter as dumped, again: a chunk rolled back (damaged, or
            # stopped) still moved it past the ids it had inserted, and a
            # resumed restore would keep that gap. InnoDB takes the value as
            # long as it is above the column's largest, without a rebuild.
            qt = f"{quote_ident(t.target_db)}.{quote_ident(t.shadow)}"
            execute(
                conn,
                f"ALTER TABLE {qt} AUTO_INCREMENT = {int(t.create.auto_increment or 1)}",
                context=f"setting the AUTO_INCREMENT counter of {t.label}",
            )
        self._mark(conn, t.target_db, f"indexes:{t.entry.name}")
        self._indexed.add(t.label)

    def _swap(self, conn: Any, states: dict[str, _DatabaseState]) -> None:
        """One RENAME TABLE: every existing table aside, every shadow in."""
        renames: list[str] = []
        views: list[str] = []
        for t in self.plan.tables:
            db = t.target_db
            if self._item(db, "swap") in states[db].done:
                continue
            q = quote_ident(db)
            existing = set(
                _names(
                    query_all(
                        conn,
                        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                        " AND TABLE_NAME IN (%s, %s)",
                        (db, t.shadow, t.entry.name),
                        context=f"checking {t.label}",
                    )
                )
            )
            if t.shadow not in existing:
                continue  # swapped by an earlier run that stopped before marking it
            kind = states[db].tables.get(t.entry.name)
            if t.entry.name in existing and kind == "VIEW":
                views.append(f"{q}.{quote_ident(t.entry.name)}")
            elif t.entry.name in existing:
                renames.append(f"{q}.{quote_ident(t.entry.name)} TO {q}.{quote_ident(t.old)}")
            renames.append(f"{q}.{quote_ident(t.shadow)} TO {q}.{quote_ident(t.entry.name)}")
        for view in views:
            execute(conn, f"DROP VIEW IF EXISTS {view}", context="replacing a view by a table")
        if renames:
            execute(
                conn,
                f"SET SESSION lock_wait_timeout = {int(self.config.lock_wait_timeout)}",
                context="bounding the swap's wait",
            )
            try:
                execute(
                    conn,
                    "RENAME TABLE " + ", ".join(renames),
                    context="swapping the restored tables in",
                )
            except ServerError as exc:
                if exc.code != ER_LOCK_WAIT_TIMEOUT:
                    raise
                raise ServerError(
                    f"swapping the restored tables in: waited {self.config.lock_wait_timeout} s"
                    f" for sessions using the tables it replaces ({open_transactions(conn)})",
                    code=exc.code,
                    hint="end those sessions' transactions (an application transaction left"
                    " open?) or stop the application, then re-run with --resume; a longer"
                    " --lock-wait-timeout waits for them",
                ) from exc
        self._swapped = True
        for target in self.plan.databases:
            if self._item(target.target, "swap") not in states[target.target].done:
                self._mark(conn, target.target, "swap")
                states[target.target].done.add(self._item(target.target, "swap"))

    def _finish_tables(self, conn: Any, states: dict[str, _DatabaseState]) -> None:
        execute(conn, "SET SESSION foreign_key_checks = 0", context="re-creating foreign keys")
        try:
            for db in self.plan.databases:
                mine = [t for t in self.plan.tables if t.target_db == db.target]
                olds = {t.old: t.entry.name for t in mine}
                if not olds:
                    continue
                self._repoint(conn, db.target, olds)
                present = set(
                    _names(
                        query_all(
                            conn,
                            "SELECT TABLE_NAME FROM information_schema.TABLES"
                            " WHERE TABLE_SCHEMA = %s",
                            (db.target,),
                            context=f"listing tables of {db.target}",
                        )
                    )
                )
                drop = [f"{quote_ident(db.target)}.{quote_ident(o)}" for o in olds if o in present]
                if drop:
                    execute(
                        conn,
                        "DROP TABLE " + ", ".join(drop),
                        context="dropping the replaced tables",
                    )
                for t in mine:
                    item = f"fks:{t.entry.name}"
                    if self._item(db.target, item) in states[db.target].done:
                        continue
                    self._add_foreign_keys(conn, t)
                    self._mark(conn, db.target, item)
        finally:
            execute(conn, "SET SESSION foreign_key_checks = 1", context="re-creating foreign keys")

    def _repoint(self, conn: Any, db: str, olds: dict[str, str]) -> None:
        """Foreign keys of other tables that followed a replaced table to its
        retired name (MariaDB's RENAME carries them) point at the new table."""
        marks = ", ".join(["%s"] * len(olds))
        rows = query_all(
            conn,
            "SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME"
            " FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_SCHEMA = %s"
            f" AND REFERENCED_TABLE_NAME IN ({marks})",
            (db, *olds),
            context=f"finding foreign keys into {db}",
        )
        for schema, table, constraint, referenced in rows:
            schema, table, constraint, referenced = _names(
                [(schema,), (table,), (constraint,), (referenced,)]
            )
            if schema == db and table in olds:
                continue  # an old table itself: it is dropped
            create = query_all(
                conn,
                f"SHOW CREATE TABLE {quote_ident(schema)}.{quote_ident(table)}",
                context=f"reading {schema}.{table}",
            )[0][1]
            text = create.decode() if isinstance(create, bytes) else str(create)
            child = parse_create_table(text, name=table, refused=frozenset())
            for d in child.clauses(frozenset({"foreign"})):
                if d.name != constraint:
                    continue
                fixed = d.text.replace(quote_ident(referenced), quote_ident(olds[referenced]))
                qt = f"{quote_ident(schema)}.{quote_ident(table)}"
                execute(
                    conn,
                    f"ALTER TABLE {qt} DROP FOREIGN KEY {quote_ident(constraint)}",
                    context=f"re-pointing {schema}.{table}'s foreign key",
                )
                execute(
                    conn,
                    f"ALTER TABLE {qt} ADD {fixed}",
                    context=f"re-pointing {schema}.{table}'s foreign key",
                )

    def _add_foreign_keys(self, conn: Any, t: TablePlan) -> None:
        definition = self._definition(t)
        clauses = [d for d in definition.clauses(frozenset({"foreign"}))]
        if not clauses:
            return
        present = set(
            _names(
                query_all(
                    conn,
                    "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
                    " WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
                    (t.target_db, t.entry.name),
                    context=f"reading foreign keys of {t.label}",
                )
            )
        )
        kept = t.label in self._kept_definitions
        adds = [
            "ADD " + (d.text if kept else t.foreign_keys[i])
            for i, d in enumerate(clauses)
            if d.name is None or d.name not in present
        ]
        if adds:
            qt = f"{quote_ident(t.target_db)}.{quote_ident(t.entry.name)}"
            execute(
                conn,
                f"ALTER TABLE {qt} {', '.join(adds)}",
                context=f"adding foreign keys of {t.label}",
            )


def has_auto_increment(definition: CreateTable) -> bool:
    return any(
        d.kind == "column" and re.search(r"\bAUTO_INCREMENT\b", d.text, re.I)
        for d in definition.definitions
    )


ER_LOCK_WAIT_TIMEOUT = 1205


def open_transactions(conn: Any) -> str:
    """Sessions with an open transaction (an idle one holds its metadata locks
    until it ends, and the processlist shows it only as Sleep)."""
    try:
        rows = query_all(
            conn,
            "SELECT p.ID, p.USER, p.HOST, p.COMMAND, p.TIME, LEFT(COALESCE(p.INFO, ''), 100)"
            " FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p"
            " ON p.ID = t.trx_mysql_thread_id WHERE p.ID <> CONNECTION_ID()"
            " ORDER BY t.trx_started LIMIT 5",
            context="reading open transactions",
        )
    except ServerError:
        return "the sessions are not visible: PROCESS privilege missing?"
    if not rows:
        return "no open transaction visible: a LOCK TABLES or a long DDL?"
    return "; ".join(
        f"session {sid} ({user}@{host}, {command} {seconds} s{': ' + info if info else ''})"
        for sid, user, host, command, seconds, info in rows
    )
