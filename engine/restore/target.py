"""Step 1 of a restore: look at the target before anything changes (which
tables and objects exist, an unfinished restore to resume, ``--on-existing``,
``--data-only``'s column and trigger checks) and refuse what the options do
not allow."""

from __future__ import annotations

from typing import Any

from ..connection import query_all, quote_ident
from ..errors import (
    ObjectNotFound,
    TargetExists,
)
from ..export.catalog import SchemaObject, read_table, show_create_object
from ..format.ddl import parse_create_table
from .base import (
    PROGRESS_TABLE,
    RestoreBase,
    _DatabaseState,
    _names,
)
from .plan import ObjectPlan, TablePlan, check_server_databases


class TargetInspection(RestoreBase):
    def _look(self, conn: Any) -> dict[str, _DatabaseState]:
        """Read the target's state and refuse what the options do not allow,
        before anything is created or changed."""
        p = self.plan
        server_dbs = set(_names(query_all(conn, "SHOW DATABASES", context="listing databases")))
        check_server_databases(p, server_dbs)
        states: dict[str, _DatabaseState] = {}
        for db in p.databases:
            exists = db.target in server_dbs
            tables: dict[str, str] = {}
            if exists:
                for name, kind in query_all(
                    conn,
                    "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA = %s",
                    (db.target,),
                    context=f"listing tables of {db.target}",
                ):
                    tables[_names([(name,)])[0]] = _names([(kind,)])[0]
            state = _DatabaseState(db.target, exists, tables)
            if PROGRESS_TABLE in tables:
                rows = query_all(
                    conn,
                    f"SELECT dump_id, item FROM {quote_ident(db.target)}.{PROGRESS_TABLE}",
                    context="reading restore progress",
                )
                ids = {str(r[0]) for r in rows}
                if not self.config.resume and self.config.on_existing != "drop":
                    raise TargetExists(
                        f"{db.target} holds an unfinished restore ({PROGRESS_TABLE})",
                        hint="re-run with --resume to continue it, or --on-existing drop"
                        " to start over",
                    )
                if self.config.resume and ids and ids != {p.dump_id}:
                    raise TargetExists(
                        f"{db.target} holds an unfinished restore of a different dump (or of"
                        " this one with or without --schema-only/--data-only)",
                        hint="resume it with its own dump, or --on-existing drop to start over",
                    )
                if self.config.resume:
                    state.resuming = True
                    state.done = {self._item(db.target, str(r[1])) for r in rows}
            states[db.target] = state
            mine = [t for t in p.tables if t.target_db == db.target]
            if self._direct:
                self._check_direct_target(conn, db.target, exists, tables, mine)
                continue
            swapped = self._item(db.target, "swap") in state.done
            if self.config.on_existing == "truncate" and not swapped:
                for t in mine:
                    if tables.get(t.entry.name) == "BASE TABLE":
                        self._keep_definition(conn, t)
            if state.resuming:
                continue
            clash = sorted(t.entry.name for t in mine if t.entry.name in tables)
            if clash and self.config.on_existing == "fail":
                raise TargetExists(
                    f"{len(clash)} table{'s' if len(clash) != 1 else ''}"
                    f" already exist{'s' if len(clash) == 1 else ''} in"
                    f" {db.target}: {', '.join(clash[:5])}",
                )
            for t in mine:
                if t.entry.name in tables and tables[t.entry.name] not in ("BASE TABLE", "VIEW"):
                    raise TargetExists(f"{t.label} exists and is not a table or view")
            objects = [o for o in p.objects if o.target_db == db.target]
            if self.config.on_existing == "fail" and objects:
                self._refuse_existing_objects(conn, db.target, objects)
        return states

    def _check_direct_target(
        self,
        conn: Any,
        db: str,
        exists: bool,
        tables: dict[str, str],
        mine: list[TablePlan],
    ) -> None:
        """``--data-only``: every table exists, matches the dump's columns and
        has no trigger that would fire on the loaded rows."""
        for t in mine:
            if not exists or t.entry.name not in tables:
                raise ObjectNotFound(
                    f"{t.label} does not exist in the target (--data-only loads into existing"
                    " tables)",
                    hint="restore without --data-only to create it, or --schema-only first",
                )
            if tables[t.entry.name] != "BASE TABLE":
                raise TargetExists(f"{t.label} exists and is not a table")
            self._same_columns(
                conn,
                t,
                hint="--data-only needs the dump's columns; restore with --on-existing"
                " drop to replace the table instead",
            )
        names = [t.entry.name for t in mine]
        if not names:
            return
        marks = ", ".join(["%s"] * len(names))
        found = query_all(
            conn,
            "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS"
            f" WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE IN ({marks})"
            " ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME",
            (db, *names),
            context=f"reading triggers of {db}",
        )
        fired = [f"{db}.{_names([(r[0],)])[0]} ({_names([(r[1],)])[0]})" for r in found]
        if fired and not self.config.allow_triggers:
            raise TargetExists(
                f"{fired[0]} has a trigger, which would fire on every loaded row"
                f"{f' ({len(fired)} triggers in all)' if len(fired) > 1 else ''}",
                hint="restore into a copy without triggers, drop them for the load, or pass"
                " --allow-triggers to let them fire (rows may then differ from the dump)",
            )
        if fired:
            self._notes.append(
                "--allow-triggers: these triggers fired on the loaded rows: " + ", ".join(fired)
            )

    def _same_columns(self, conn: Any, t: TablePlan, *, hint: str) -> Any:
        """The target's table, if its stored columns are the dump's (names and
        types); else TargetExists naming the first difference."""
        current = read_table(conn, t.target_db, t.entry.name)
        have = {c.name: c.column_type for c in current.columns if not c.generated}
        want = {c.name: c.type for c in t.entry.columns if not c.generated}
        if have != want:
            diff = sorted(set(have.items()) ^ set(want.items()))
            name, ctype = diff[0]
            where = "target" if have.get(name) == ctype else "dump"
            raise TargetExists(
                f"{t.label} does not match the dump: column {name} {ctype} is only in the {where}",
                hint=hint,
            )
        return current

    def _keep_definition(self, conn: Any, t: TablePlan) -> None:
        """``truncate``: the target's definition is kept; its columns must be
        the dump's, or rows would land in the wrong columns or be converted."""
        current = self._same_columns(
            conn, t, hint="use --on-existing drop to replace the table's definition too"
        )
        create = parse_create_table(current.create_sql, name=t.entry.name, refused=frozenset())
        self._kept_definitions[t.label] = create
        dumped = {
            o.name for o in self.plan.objects if o.kind == "trigger" and o.target_db == t.target_db
        }
        for trig in query_all(
            conn,
            f"SHOW TRIGGERS FROM {quote_ident(t.target_db)} WHERE `Table` = %s",
            (t.entry.name,),
            context=f"reading triggers of {t.label}",
        ):
            name = _names([(trig[0],)])[0]
            if name in dumped:
                continue
            obj: SchemaObject = show_create_object(
                conn, "trigger", t.target_db, name, table=t.entry.name
            )
            self._kept_triggers.append(
                ObjectPlan(
                    target_db=t.target_db,
                    kind="trigger",
                    name=name,
                    create_sql=obj.create_sql,
                    sql_mode=obj.sql_mode,
                    character_set_client=obj.character_set_client,
                    collation_connection=obj.collation_connection,
                    table=t.entry.name,
                )
            )

    def _refuse_existing_objects(self, conn: Any, db: str, objects: list[ObjectPlan]) -> None:
        listings = {
            "view": ("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"),
            "trigger": "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
            " WHERE TRIGGER_SCHEMA = %s",
            "procedure": "SELECT ROUTINE_NAME FROM information_schema.ROUTINES"
            " WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE = 'PROCEDURE'",
            "function": "SELECT ROUTINE_NAME FROM information_schema.ROUTINES"
            " WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE = 'FUNCTION'",
            "event": "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
        }
        for kind, sql in listings.items():
            wanted = {o.name for o in objects if o.kind == kind}
            if not wanted:
                continue
            present = set(_names(query_all(conn, sql, (db,), context=f"listing {kind}s of {db}")))
            clash = sorted(wanted & present)
            if clash:
                raise TargetExists(f"{kind} {db}.{clash[0]} already exists in the target")
