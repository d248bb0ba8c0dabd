"""Steps 7 and 8 of a restore: views, triggers, routines and events, each
under the session settings it was defined with (sql_mode flags the target
does not know dropped, with a note); then, with ``--users``, the accounts."""

from __future__ import annotations

from typing import Any

from ..connection import execute, quote_ident
from ..errors import (
    OsidumpError,
    PrivilegeError,
    TargetExists,
)
from ..server_compat import (
    compatible_sql_mode,
)
from ..users import AccountsReport, apply_accounts
from .base import (
    RestoreBase,
    _DatabaseState,
    _session,
)
from .plan import ObjectPlan


class ObjectCreation(RestoreBase):
    def _objects(self, conn: Any, states: dict[str, _DatabaseState]) -> int:
        count = 0
        for obj in [*self.plan.objects, *self._kept_triggers]:
            item = f"{obj.kind}:{obj.name}"
            if self._item(obj.target_db, item) in states[obj.target_db].done:
                continue
            self._create_object(conn, obj)
            self._mark(conn, obj.target_db, item)
            count += 1
        return count

    def _accounts(self, conn: Any) -> AccountsReport | None:
        """Step 8 (``--users``): create the accounts the target lacks, with
        their grants; the ones it has stay as they are. Idempotent, so
        ``--resume`` runs it again (what the first run created is skipped)."""
        if not self.config.users:
            return None
        self._phase = "creating the accounts"
        return apply_accounts(conn, self.plan.accounts)

    def _create_object(self, conn: Any, obj: ObjectPlan) -> None:
        conn.select_db(obj.target_db)
        q = quote_ident(obj.name)
        drop = {
            "view": f"DROP VIEW IF EXISTS {q}",
            "trigger": f"DROP TRIGGER IF EXISTS {q}",
            "procedure": f"DROP PROCEDURE IF EXISTS {q}",
            "function": f"DROP FUNCTION IF EXISTS {q}",
            "event": f"DROP EVENT IF EXISTS {q}",
        }[obj.kind]
        sql_mode = obj.sql_mode
        if sql_mode:
            sql_mode, dropped = compatible_sql_mode(sql_mode, *self._server)
            for flag in dropped:
                self._notes.append(
                    f"{obj.kind} {obj.target_db}.{obj.name}: sql_mode flag {flag} dropped"
                    f" (unknown to {self._server[0]} {self._server[1]})"
                )
        pairs = [
            ("sql_mode", sql_mode),  # "" is a real sql_mode and is kept
            ("character_set_client", obj.character_set_client or None),
            ("collation_connection", obj.collation_connection or None),
            ("time_zone", obj.time_zone or None),  # events: STARTS/ENDS are in this zone
        ]
        pairs = [(k, v) for k, v in pairs if v is not None]
        settings = [f"{k} = %s" for k, _ in pairs]
        args = tuple(v for _, v in pairs)
        label = f"{obj.kind} {obj.target_db}.{obj.name}"
        if self.config.on_existing != "fail" or self.config.resume:
            execute(conn, drop, context=f"replacing {label}")
        try:
            if settings:
                execute(
                    conn,
                    "SET SESSION " + ", ".join(settings),
                    tuple(args),
                    context=f"preparing {label}",
                )
            execute(conn, obj.create_sql, context=f"creating {label}")
            if obj.kind == "event" and not self.config.events_enabled:
                execute(conn, f"ALTER EVENT {q} DISABLE", context=f"disabling {label}")
        except OsidumpError as exc:
            if getattr(exc, "code", 0) in (1050, 1304, 1359, 1537):
                raise TargetExists(f"{label} already exists in the target") from exc
            if (
                isinstance(exc, PrivilegeError)
                and exc.code == 1227
                and not self.config.strip_definers
                and "DEFINER" in obj.create_sql.upper()
            ):
                # Naming another account as DEFINER needs SUPER or SET USER.
                exc.hint = (
                    "the dump names its DEFINER, and creating an object for another account"
                    " needs SET USER (MariaDB) or SET_USER_ID/SUPER (MySQL): add"
                    " --strip-definers to create it as the restoring user"
                )
            raise
        finally:
            _session(conn, self.plan, binlog=self.config.binlog)
            execute(conn, "SET NAMES utf8mb4", context="resetting the session")
