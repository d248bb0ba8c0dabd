"""Opening server connections from a ConnectionConfig.

Every connection osidump opens goes through :func:`connect`, so TLS, time zone,
character set and error mapping are the same for the coordinator, the export
workers and the restore workers.
"""

from __future__ import annotations

import ssl
from typing import Any

import pymysql
import pymysql.constants.CLIENT

from .config import ConnectionConfig
from .errors import ConnectionFailed, ObjectNotFound, OsidumpError, from_server_error


def _ssl_context(config: ConnectionConfig) -> ssl.SSLContext | None:
    if config.ssl_mode == "DISABLED" or config.socket:
        return None
    if config.ssl_mode == "PREFERRED" and not config.ssl_ca:
        return None
    ctx = ssl.create_default_context(cafile=config.ssl_ca)
    if config.ssl_mode in ("REQUIRED", "PREFERRED"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED if config.ssl_ca else ssl.CERT_NONE
    elif config.ssl_mode == "VERIFY_CA":
        ctx.check_hostname = False
    return ctx


def connect(
    config: ConnectionConfig,
    *,
    database: str | None = None,
    autocommit: bool = True,
    local_infile: bool = False,
) -> pymysql.connections.Connection[Any]:
    """Open a connection with osidump's session defaults (utf8mb4, UTC).

    Multi-statements are never allowed: one query is one statement, so no
    text from a dump can smuggle in a second one. ``local_infile`` announces
    LOAD DATA LOCAL support for restore's loader (``bulk_load.load_local``,
    which answers the server's file request with a chunk); PyMySQL's own file
    reader stays off, so a server can never make osidump read a local file.

    Raises ConnectionFailed / AuthenticationFailed with the target named,
    never the password.
    """
    kwargs: dict[str, Any] = {
        "user": config.user,
        "password": config.password,
        "database": database if database is not None else config.database,
        "charset": "utf8mb4",
        "connect_timeout": config.connect_timeout,
        "autocommit": autocommit,
        "local_infile": local_infile,
    }
    if config.socket:
        kwargs["unix_socket"] = config.socket
    else:
        kwargs["host"] = config.host
        kwargs["port"] = config.port
    ctx = _ssl_context(config)
    if ctx is not None:
        kwargs["ssl"] = ctx
    try:
        conn = pymysql.connect(**kwargs)
    except pymysql.err.OperationalError as exc:
        error = from_server_error(exc, context=f"cannot connect to {config.describe()}")
        if isinstance(error, ConnectionFailed | ObjectNotFound):
            raise error from exc  # refused login, unknown database
        # Anything else while connecting (TLS refused, handshake, server gone)
        # is a connection failure, whatever the server's error number.
        raise ConnectionFailed(error.message, hint=_connect_hint(config)) from exc
    except (OSError, pymysql.err.MySQLError) as exc:
        raise ConnectionFailed(f"cannot connect to {config.describe()}: {exc}") from exc
    conn._local_infile = False  # type: ignore[attr-defined]  # see the docstring
    try:
        with conn.cursor() as cur:
            # UTC so TIMESTAMP values are dumped and restored without shifting.
            cur.execute("SET SESSION time_zone = '+00:00'")
    except pymysql.err.MySQLError as exc:
        conn.close()
        raise from_server_error(exc, context="setting up the session") from exc
    return conn


def _connect_hint(config: ConnectionConfig) -> str:
    if config.ssl_mode in ("REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"):
        return "the server may not offer TLS: check --ssl-mode and --ssl-ca"
    return "check --host/--port/--socket and that the server is running"


def server_flavor(conn: pymysql.connections.Connection[Any]) -> tuple[str, str]:
    """(``"mariadb"`` or ``"mysql"``, version string)."""
    version = str(conn.get_server_info())  # type: ignore[no-untyped-call]
    # MariaDB prefixes its version with "5.5.5-" for old clients' sake.
    version = version.removeprefix("5.5.5-")
    flavor = "mariadb" if "mariadb" in version.lower() else "mysql"
    return flavor, version


def query_all(
    conn: pymysql.connections.Connection[Any], sql: str, args: Any = None, *, context: str
) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows, mapping server errors."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc
    except OSError as exc:  # socket-level loss outside PyMySQL's wrappers
        raise from_server_error(exc, context=context) from exc


def execute(
    conn: pymysql.connections.Connection[Any], sql: str, args: Any = None, *, context: str
) -> None:
    query_all(conn, sql, args, context=context)


def quote_ident(name: str) -> str:
    """Quote an identifier with backticks, doubling any backtick inside."""
    return "`" + name.replace("`", "``") + "`"


__all__ = ["OsidumpError", "connect", "execute", "query_all", "quote_ident", "server_flavor"]
