"""Each --ssl-mode means what docs/CONFIGURATION.md says, seen from the server.

A throwaway mariadbd runs with a CA and server certificate made here by
openssl (the CA as MariaDB's docs make it: no keyUsage extension). Whether a
connection osidump opened is encrypted is read on that very connection with
``SHOW SESSION STATUS LIKE 'Ssl_cipher'`` (empty means plain text).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from osidump.engine.config import ConnectionConfig
from osidump.engine.connection import connect, query_all
from osidump.engine.errors import AuthenticationFailed, ConnectionFailed

from tests.support.servers import ThrowawayServer, TlsFiles, make_tls_files


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="module")
def tls_files(tls_dir: Path) -> TlsFiles:
    # The certificate names "localhost" only, so 127.0.0.1 is a wrong host name.
    return make_tls_files(str(tls_dir), names=("localhost",))


@pytest.fixture(scope="module")
def tls_server(tls_files: TlsFiles) -> Iterator[ThrowawayServer]:
    srv = ThrowawayServer(binlog=False, buffer_pool="64M", extra_args=tls_files.server_args())
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


def cfg(srv: ThrowawayServer, mode: str, *, ca: str | None = None, host: str | None = None,
        socket: str | None = None) -> ConnectionConfig:
    return ConnectionConfig(host=host or srv.host, port=srv.port, user=srv.user,
                            password=srv.password, ssl_mode=mode, ssl_ca=ca, socket=socket)


def cipher(config: ConnectionConfig) -> str:
    """The cipher of osidump's own connection, as the server reports it."""
    conn = connect(config)
    try:
        rows = query_all(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'", context="test")
        return str(rows[0][1])
    finally:
        conn.close()


def test_the_ca_is_one_python_313_refuses_by_default(tls_files: TlsFiles) -> None:
    """The premise of the CA test: no keyUsage extension in the CA."""
    text = subprocess.run(["openssl", "x509", "-in", tls_files.ca, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "CA:TRUE" in text
    assert "Key Usage" not in text


def test_server_offers_tls(tls_server: ThrowawayServer) -> None:
    conn = tls_server.connect()
    assert int(query_all(conn, "SELECT @@have_ssl = 'YES'", context="test")[0][0]) == 1
    conn.close()


def test_disabled_is_plain(tls_server: ThrowawayServer) -> None:
    assert cipher(cfg(tls_server, "DISABLED")) == ""


@pytest.mark.parametrize("mode", ["PREFERRED", "REQUIRED", "VERIFY_IDENTITY"])
def test_socket_is_plain_whatever_the_mode(tls_server: ThrowawayServer, tls_files: TlsFiles,
                                           mode: str) -> None:
    assert cipher(cfg(tls_server, mode, ca=tls_files.ca, socket=tls_server.socket)) == ""


def test_preferred_uses_tls_the_server_offers(tls_server: ThrowawayServer) -> None:
    assert cipher(cfg(tls_server, "PREFERRED")) != ""


def test_preferred_is_plain_when_the_server_offers_none(server: Any) -> None:
    """The control: the shared test server has no certificates."""
    plain = ConnectionConfig(host=server.host, port=server.port, user=server.user,
                             password=server.password, ssl_mode="PREFERRED")
    assert cipher(plain) == ""


def test_required_encrypts_without_checking_the_certificate(tls_server: ThrowawayServer) -> None:
    assert cipher(cfg(tls_server, "REQUIRED")) != ""


def test_verify_ca_accepts_a_plain_self_made_ca(tls_server: ThrowawayServer, tls_files: TlsFiles) -> None:
    # 127.0.0.1 is not in the certificate: VERIFY_CA checks the chain only.
    assert cipher(cfg(tls_server, "VERIFY_CA", ca=tls_files.ca, host="127.0.0.1")) != ""
    # --ssl-ca with the default mode verifies the chain too, as the mysql client does.
    assert cipher(cfg(tls_server, "PREFERRED", ca=tls_files.ca)) != ""


def test_verify_identity_checks_the_host_name(tls_server: ThrowawayServer, tls_files: TlsFiles) -> None:
    assert cipher(cfg(tls_server, "VERIFY_IDENTITY", ca=tls_files.ca, host="localhost")) != ""
    with pytest.raises(ConnectionFailed) as info:
        connect(cfg(tls_server, "VERIFY_IDENTITY", ca=tls_files.ca, host="127.0.0.1"))
    assert "TLS" in info.value.message
    assert "does not name 127.0.0.1" in info.value.hint
    assert "--host/--port" not in info.value.hint


def test_verify_ca_refuses_another_ca(tls_server: ThrowawayServer, tls_dir: Path) -> None:
    other = make_tls_files(str(tls_dir / "other"), ca_name="other CA")
    for mode in ("VERIFY_CA", "PREFERRED"):
        with pytest.raises(ConnectionFailed) as info:
            connect(cfg(tls_server, mode, ca=other.ca))
        assert not isinstance(info.value, AuthenticationFailed)
        assert "certificate" in info.value.message
        assert "--ssl-ca" in info.value.hint
        assert "--host/--port" not in info.value.hint


def test_verify_ca_without_ca_uses_the_system_store(tls_server: ThrowawayServer) -> None:
    """A self-made CA is in no system store: refused, with the --ssl-ca hint."""
    with pytest.raises(ConnectionFailed) as info:
        connect(cfg(tls_server, "VERIFY_CA"))
    assert "--ssl-ca" in info.value.hint


def test_cli_tls_failure_is_exit_3_with_a_tls_hint(tls_server: ThrowawayServer, tls_files: TlsFiles) -> None:
    proc = subprocess.run([sys.executable, "-m", "osidump.cli.main", "ping", "-h", "127.0.0.1", "-P",
                           str(tls_server.port), "-u", tls_server.user, "--ssl-mode", "VERIFY_IDENTITY",
                           "--ssl-ca", tls_files.ca], capture_output=True, text=True, check=False,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, proc.stderr
    assert "TLS failed" in proc.stderr and "does not name 127.0.0.1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ssl_required_without_server_tls(server: Any) -> None:
    cfg = ConnectionConfig(host=server.host, port=server.port, user=server.user, password=server.password,
                           ssl_mode="REQUIRED")
    with pytest.raises(ConnectionFailed) as info:
        connect(cfg)
    assert "does not offer TLS" in info.value.message
    assert "--ssl-mode" in info.value.hint
    proc = subprocess.run([sys.executable, "-m", "osidump.cli.main", "ping", "-h", server.host, "-P",
                           str(server.port), "-u", server.user, "--ssl-mode", "REQUIRED"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 3, proc.stderr


def test_contexts_never_carry_the_strict_x509_flag(tls_files: TlsFiles) -> None:
    """Python 3.13 sets VERIFY_X509_STRICT by default; osidump clears it in every mode."""
    from osidump.engine.connection import tls_context

    for mode in ("PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"):
        ctx = tls_context(ConnectionConfig(ssl_mode=mode, ssl_ca=tls_files.ca))
        assert ctx is not None and not ctx.verify_flags & ssl.VERIFY_X509_STRICT
    assert tls_context(ConnectionConfig(ssl_mode="DISABLED")) is None
    assert tls_context(ConnectionConfig(ssl_mode="VERIFY_IDENTITY", socket="/tmp/x.sock")) is None
