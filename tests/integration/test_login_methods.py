"""Logins as the mysql client makes them, against a real MariaDB: a password
with non-ASCII characters, and an authentication plugin this client cannot
use without an optional package (exit 3 with a hint, never an internal error)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

from osidump.engine.config import ConnectionConfig
from osidump.engine.connection import connect, query_all

from tests.integration.helpers import sql


def test_a_non_ascii_password_logs_in_as_with_the_mysql_client(server: Any) -> None:
    """The server hashes the password's UTF-8 bytes (what the mysql client
    sends); PyMySQL alone encodes a str password as Latin-1 and fails on
    Cyrillic with UnicodeEncodeError."""
    user, password = "osi_t_" + uuid.uuid4().hex[:8], "Pässwörd-пароль"
    root = server.connect()
    sql(root, f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
    try:
        conn = connect(ConnectionConfig(host=server.host, port=server.port, user=user,
                                        password=password, ssl_mode="DISABLED"))
        assert query_all(conn, "SELECT CURRENT_USER()", context="test")[0][0] == f"{user}@%"
        conn.close()
    finally:
        sql(root, f"DROP USER '{user}'@'%'")


def test_ed25519_without_pynacl_is_exit_3_naming_the_package(second_server: Any) -> None:
    root = second_server.connect()
    sql(root, "INSTALL SONAME 'auth_ed25519'")
    sql(root, "CREATE USER 'osi_ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('edpw')")
    script = (
        "import sys; sys.modules['nacl'] = None\n"  # PyNaCl absent, as in a plain install
        "from osidump.cli.main import main\n"
        f"sys.argv = ['osidump', 'ping', '-h', '127.0.0.1', '-P', '{second_server.port}',"
        " '-u', 'osi_ed', '--ssl-mode', 'DISABLED']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"OSIDUMP_PASSWORD": "edpw", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 3, proc.stderr
    assert "pynacl" in proc.stderr.lower() and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr
