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
from .errors import (
    AuthPluginFailed,
    ConnectionFailed,
    ObjectNotFound,
    OsidumpError,
    from_server_error,
)


def tls_context(config: ConnectionConfig) -> ssl.SSLContext | None:
    """The TLS context for ``config``'s mode, or None for a plain connection.

    ``None`` for DISABLED and for a Unix socket (local, never encrypted, as the
    mysql client does). Every other mode gets an explicit context, because what
    PyMySQL does without one changed under us: 1.1 never tried TLS, 1.2+ tries
    it whenever no ``ssl`` argument is given.

    VERIFY_X509_STRICT is cleared: Python 3.13 sets it by default and it then
    refuses an ordinary self-made CA without a keyUsage extension (made as
    MariaDB's docs show), which the mysql client accepts.
    """
    if config.ssl_mode == "DISABLED" or config.socket:
        return None
    if config.ssl_mode in ("REQUIRED", "PREFERRED") and not config.ssl_ca:
        # Nothing to verify: no need to load the system's CA store (tens of
        # milliseconds per connection, and an export opens several).
        plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        plain.check_hostname = False
        plain.verify_mode = ssl.CERT_NONE
        return plain
    ctx = ssl.create_default_context(cafile=config.ssl_ca)
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if config.ssl_mode == "VERIFY_IDENTITY":
        return ctx  # chain and host name
    ctx.check_hostname = False
    # PREFERRED/REQUIRED verify the chain only against a CA that was given
    # (the mysql client: --ssl-ca implies VERIFY_CA); VERIFY_CA always.
    if config.ssl_mode in ("REQUIRED", "PREFERRED") and not config.ssl_ca:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_required(config: ConnectionConfig) -> bool:
    """Whether a plain connection is refused: every mode above PREFERRED, and
    PREFERRED with a CA to verify against (a plain link would skip the check)."""
    if config.ssl_mode == "DISABLED" or config.socket:
        return False
    return config.ssl_mode != "PREFERRED" or config.ssl_ca is not None


def uses_tls(conn: pymysql.connections.Connection[Any]) -> bool:
    """Whether the connection's socket is encrypted (PyMySQL wraps it in place)."""
    return isinstance(getattr(conn, "_sock", None), ssl.SSLSocket)


# PyMySQL >= 1.2 when TLS was asked for and the server offers none.
_CR_SSL_CONNECTION_ERROR = 2026


def _open(config: ConnectionConfig, kwargs: dict[str, Any]) -> pymysql.connections.Connection[Any]:
    """Connect with the TLS mode enforced, not left to PyMySQL's defaults.

    Given a context, PyMySQL 1.2+ insists on TLS: error 2026 if the server
    offers none, raised before any credentials are sent. PREFERRED then
    reconnects in plain text (on 2026 only: a failed handshake is an error, as
    in the mysql client). PyMySQL 1.1 went on in plain text after logging in,
    so pyproject.toml admits 1.2.x only; the socket is checked for every mode
    all the same, so a future PyMySQL cannot quietly change what a mode means."""
    ctx = tls_context(config)
    if ctx is None:
        conn = pymysql.connect(**kwargs, ssl_disabled=True)
    else:
        try:
            conn = pymysql.connect(**kwargs, ssl=ctx)
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != _CR_SSL_CONNECTION_ERROR or tls_required(config):
                raise
            conn = pymysql.connect(**kwargs, ssl_disabled=True)  # no TLS offered
    encrypted = uses_tls(conn)
    if encrypted and ctx is None:  # DISABLED or a socket, yet encrypted
        conn.close()
        raise ConnectionFailed(
            f"cannot connect to {config.describe()}: TLS was used although "
            f"--ssl-mode is {config.ssl_mode}",
            hint="report this with the PyMySQL version in use",
        )
    if not encrypted and tls_required(config):
        conn.close()
        raise ConnectionFailed(
            f"cannot connect to {config.describe()}: the server does not offer TLS "
            f"and --ssl-mode is {config.ssl_mode}",
            hint=_tls_hint(config, None),
        )
    return conn


def connect(
    config: ConnectionConfig,
    *,
    database: str | None = None,
    autocommit: bool = True,
    local_infile: bool = False,
) -> pymysql.connections.Connection[Any]:
    """Open a connection with osidump's session defaults (utf8mb4, UTC) and
    the TLS mode of ``config`` enforced (see :func:`tls_context`).

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
        # Bytes: PyMySQL encodes a str password as Latin-1, which fails on
        # any other character and differs from what the mysql client sends.
        "password": config.password.encode("utf-8"),
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
    try:
        conn = _open(config, kwargs)
    except pymysql.err.OperationalError as exc:
        raise _connect_error(config, exc) from exc
    except RuntimeError as exc:  # PyMySQL: a package its login method needs is missing
        raise AuthPluginFailed(
            f"cannot connect to {config.describe()}: {exc}", hint=_plugin_hint(str(exc))
        ) from exc
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


def _connect_error(config: ConnectionConfig, exc: pymysql.err.OperationalError) -> OsidumpError:
    context = f"cannot connect to {config.describe()}"
    tls_failure = getattr(exc, "original_exception", None)
    if isinstance(tls_failure, ssl.SSLError):
        # PyMySQL reports a failed handshake as 2003 "Can't connect", which
        # would send the user to check the host and port.
        return ConnectionFailed(
            f"{context}: TLS failed: {_tls_reason(tls_failure)}",
            hint=_tls_hint(config, tls_failure),
        )
    if exc.args and exc.args[0] == _CR_SSL_CONNECTION_ERROR:
        return ConnectionFailed(
            f"{context}: the server does not offer TLS and --ssl-mode is {config.ssl_mode}",
            hint=_tls_hint(config, None),
        )
    error = from_server_error(exc, context=context)
    first = exc.args[0] if exc.args else 0
    if isinstance(first, str) and any(w in first.lower() for w in _PYMYSQL_AUTH_WORDS):
        # PyMySQL raises some login-exchange failures with a message, no number.
        error = AuthPluginFailed(f"{context}: {first}")
    if isinstance(error, AuthPluginFailed):
        return AuthPluginFailed(error.message, hint=_plugin_hint(error.message))
    if isinstance(error, ConnectionFailed | ObjectNotFound):
        return error  # refused login, unknown database
    # Anything else while connecting (handshake, server gone) is a connection
    # failure, whatever the server's error number.
    return ConnectionFailed(error.message, hint=_connect_hint(config))


_PYMYSQL_AUTH_WORDS = ("auth", "sha2", "public key")


def _plugin_hint(message: str) -> str:
    if "cryptography" in message:
        return (
            "MySQL 8's caching_sha2_password login without TLS needs the 'cryptography' "
            "package, which osidump depends on: reinstall osidump, or connect with TLS "
            "(--ssl-mode REQUIRED)"
        )
    if "nacl" in message.lower():
        return (
            "the account uses MariaDB's ed25519 plugin: install PyNaCl into osidump's "
            "environment (pip install pynacl)"
        )
    return AuthPluginFailed.default_hint


def _tls_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate not accepted ({exc.verify_message})"
    return exc.reason or str(exc)


def _tls_hint(config: ConnectionConfig, exc: ssl.SSLError | None) -> str:
    if exc is None:
        return (
            "enable TLS on the server (ssl_cert/ssl_key), or use --ssl-mode PREFERRED or "
            "DISABLED to connect without it"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        if "hostname" in (exc.verify_message or "").lower() or "ip address" in str(exc).lower():
            return (
                f"the server's certificate does not name {config.host}: connect by a name it "
                "carries, or use --ssl-mode VERIFY_CA to check only the chain"
            )
        return (
            "pass the CA that signed the server's certificate with --ssl-ca "
            "(your provider's bundle for a managed database)"
        )
    return (
        "the client and server could not agree on TLS (an old TLS 1.0/1.1-only server?): "
        "upgrade the server's TLS, or use --ssl-mode DISABLED on a trusted network"
    )


def _connect_hint(config: ConnectionConfig) -> str:
    if tls_required(config):
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


__all__ = [
    "OsidumpError",
    "connect",
    "execute",
    "query_all",
    "quote_ident",
    "server_flavor",
    "tls_context",
    "uses_tls",
]
