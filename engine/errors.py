"""One root for every error osidump raises, and the server-error table.

Every error carries a one-line ``message`` (what happened), a ``hint`` (what to
do about it) and ``retryable`` (whether the same operation may succeed if tried
again, e.g. after a deadlock or a dropped connection). The CLI maps each class
to an exit code; see ``EXIT_CODES`` in ``osidump.cli.errors``.
"""

from __future__ import annotations

from typing import Any


class OsidumpError(Exception):
    """Root of all osidump errors."""

    default_hint = "run again with -v for details"
    retryable = False

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class ConfigError(OsidumpError):
    """Invalid options or settings, found before any work started."""

    default_hint = "check the options; see osidump --help"


class ConnectionFailed(OsidumpError):
    """The server could not be reached, or refused the login."""

    default_hint = "check --host/--port/--socket and that the server is running"


class AuthenticationFailed(ConnectionFailed):
    default_hint = "check --user and the password (-p, OSIDUMP_PASSWORD, DB_PASSWORD or ~/.my.cnf)"


class AuthPluginFailed(ConnectionFailed):
    """The login failed in the authentication method's exchange, not on the
    password: a method the client cannot speak, or a package it needs missing."""

    default_hint = (
        "give the account a method PyMySQL speaks (ALTER USER ... IDENTIFIED WITH "
        "caching_sha2_password or mysql_native_password BY '...'), or check the server's "
        "authentication plugins"
    )


class ServerError(OsidumpError):
    """The server answered a statement with an error."""

    def __init__(
        self,
        message: str,
        *,
        code: int = 0,
        hint: str | None = None,
        retryable: bool | None = None,
    ):
        super().__init__(message, hint=hint, retryable=retryable)
        self.code = code


class ConnectionLost(ServerError):
    """The connection dropped mid-operation (server gone away, killed, network)."""

    default_hint = "check the server is up; for a restore, re-run with --resume"
    retryable = True


class RowTooLarge(ServerError):
    """A row's SQL text would exceed the server's max_allowed_packet."""

    default_hint = (
        "raise max_allowed_packet on the source and the restore target "
        "(e.g. SET GLOBAL max_allowed_packet = 1073741824)"
    )


class ObjectNotFound(OsidumpError):
    """A database, table or dump that was asked for does not exist."""

    default_hint = "check the name; `osidump inspect` lists what a dump holds"


class PrivilegeError(ServerError):
    default_hint = "grant the missing privilege, or choose a mode that needs less"


class ConsistencyError(OsidumpError):
    """The parallel workers could not be proven to share one snapshot, or DDL
    changed a table while it was being dumped."""

    default_hint = "retry when the server is quieter, or use --consistency lock/single"


class StorageError(OsidumpError):
    """Reading or writing the dump's storage failed (disk full, permissions, S3)."""

    default_hint = "check the destination has space and is writable"


class DestinationNotEmpty(StorageError):
    default_hint = "choose an empty or new --output location"


class IncompleteDump(OsidumpError):
    """The dump has no manifest: an export that never finished."""

    default_hint = "this dump is unusable; take a new export"


class ManifestError(OsidumpError):
    """The manifest is missing, unreadable, of an unknown version, or unsafe."""

    default_hint = "the dump is damaged or from a newer osidump; do not restore it"


class IntegrityError(OsidumpError):
    """A chunk's stored bytes or decoded content do not match the manifest."""

    default_hint = "the dump is damaged; restore from another backup or re-export"


class TargetExists(OsidumpError):
    default_hint = "pass --on-existing drop|truncate, or --database to restore elsewhere"


class Interrupted(OsidumpError):
    default_hint = "nothing was committed as complete; run the command again"


# Server error numbers sorted into what they mean for us. Retryable ones are
# transient: a deadlock, a lock wait timeout, or the connection going away.
_RETRYABLE_CODES = {1205, 1213, 2006, 2013, 2055, 1927, 4031}
_LOST_CONNECTION_CODES = {2006, 2013, 2055, 1927, 4031, 1053}
_AUTH_CODES = {1045, 1698}
# ER_NOT_SUPPORTED_AUTH_MODE, ER_PLUGIN_IS_NOT_LOADED, and PyMySQL's
# CR_AUTH_PLUGIN_CANNOT_LOAD / CR_AUTH_PLUGIN_ERR.
_AUTH_PLUGIN_CODES = {1251, 1524, 2059, 2061}
_PRIVILEGE_CODES = {1044, 1142, 1143, 1227, 1370}
_NOT_FOUND_CODES = {1049, 1146}
# ER_BINLOG_CREATE_ROUTINE_NEED_SUPER: a function or trigger created without
# SUPER while the binary log is on (the usual state of a managed target).
_ROUTINE_NEEDS_SUPER = 1419
_ROUTINE_NEEDS_SUPER_HINT = (
    "set log_bin_trust_function_creators = 1 on the target (on RDS/Aurora: in its "
    "parameter group), or restore as a user with SUPER; add --strip-definers if the "
    "objects name other users as DEFINER"
)


def from_server_error(exc: BaseException, *, context: str) -> OsidumpError:
    """Turn a PyMySQL exception into the matching :class:`OsidumpError`.

    ``context`` names what was being done ("reading `db`.`t`"), so that the
    message says what failed and not only the server's words.
    """

    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    code = args[0] if args and isinstance(args[0], int) else 0
    text = str(args[1]) if len(args) > 1 else str(exc)
    message = f"{context}: {text}" if text else context
    if code in _AUTH_CODES:
        return AuthenticationFailed(message)
    if code in _AUTH_PLUGIN_CODES:
        return AuthPluginFailed(message)
    if code in _LOST_CONNECTION_CODES or (code == 0 and "Lost connection" in text):
        return ConnectionLost(message, code=code)
    if code == _ROUTINE_NEEDS_SUPER:
        return PrivilegeError(message, code=code, hint=_ROUTINE_NEEDS_SUPER_HINT)
    if code in _PRIVILEGE_CODES:
        return PrivilegeError(message, code=code)
    if code in _NOT_FOUND_CODES:
        return ObjectNotFound(message)
    if code == 2003:
        return ConnectionFailed(message)
    return ServerError(message, code=code, retryable=code in _RETRYABLE_CODES)
