"""MySQL 8's default login (caching_sha2_password) over plain TCP, at the
protocol level, against a fake server (no MySQL server can run here).

With a cold cache the server asks for full authentication; without TLS the
client must fetch the server's RSA public key and send the password encrypted
with it. The fake decrypts what osidump's connection sent with its private key:
the login works only if that is exactly the password.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from osidump.engine.config import ConnectionConfig
from osidump.engine.connection import connect
from osidump.engine.errors import AuthenticationFailed, ConnectionFailed

from tests.support.fake_mysql_login import FakeMySQL8Login

PASSWORD = "s3cret-Pässword"


def config(port: int, *, password: str = PASSWORD, mode: str = "DISABLED") -> ConnectionConfig:
    return ConnectionConfig(host="127.0.0.1", port=port, user="backup", password=password,
                            ssl_mode=mode, connect_timeout=10)


@pytest.mark.parametrize("mode", ["DISABLED", "PREFERRED"])
def test_full_authentication_sends_the_password_rsa_encrypted(mode: str) -> None:
    with FakeMySQL8Login(password=PASSWORD.encode()) as fake:
        conn = connect(config(fake.port, mode=mode))
        conn.close()
    assert fake.errors == []
    seen = fake.logins[-1]  # PREFERRED: the first attempt asked for TLS and was refused
    assert seen.user == "backup" and seen.client_plugin == "caching_sha2_password"
    assert seen.fast_scramble_valid  # SHA-256 fast path first, as MySQL's client does
    assert seen.requested_public_key
    assert seen.decrypted == PASSWORD.encode() + b"\0"
    assert PASSWORD.encode() not in seen.ciphertext and len(seen.ciphertext) == 256  # RSA-2048
    assert seen.accepted
    assert b"SET SESSION time_zone = '+00:00'" in seen.queries  # osidump's session setup ran


def test_wrong_password_is_a_refused_login() -> None:
    with FakeMySQL8Login(password=PASSWORD.encode()) as fake, \
            pytest.raises(AuthenticationFailed) as info:
        connect(config(fake.port, password="not-it"))
    assert fake.errors == []
    assert not fake.logins[-1].fast_scramble_valid
    assert fake.logins[-1].decrypted == b"not-it\0" and not fake.logins[-1].accepted
    assert "--user and the password" in info.value.hint


def test_an_unknown_authentication_plugin_is_exit_3_with_a_hint() -> None:
    with FakeMySQL8Login(password=PASSWORD.encode(), switch_to="auth_gssapi_client") as fake, \
            pytest.raises(ConnectionFailed) as info:
        connect(config(fake.port))
    assert fake.errors == []
    assert "auth_gssapi_client" in info.value.message
    assert "IDENTIFIED WITH" in info.value.hint


def test_without_cryptography_the_login_fails_with_exit_3_and_a_hint() -> None:
    """A broken install (cryptography missing) is exit 3 naming the package,
    not an internal error: the CLI runs in a process where importing it fails."""
    with FakeMySQL8Login(password=PASSWORD.encode()) as fake:
        script = (
            "import sys; sys.modules['cryptography'] = None\n"
            "from osidump.cli.main import main\n"
            f"sys.argv = ['osidump', 'ping', '-h', '127.0.0.1', '-P', '{fake.port}', '-u', 'backup',"
            " '--ssl-mode', 'DISABLED']\n"
            "main()\n"
        )
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60, env={"OSIDUMP_PASSWORD": PASSWORD, "HOME": "/nonexistent",
                                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 3, proc.stderr
    assert "cryptography" in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr and PASSWORD not in proc.stderr
