"""TLS demanded from a server that offers none is a connection failure (exit 3)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from osidump.engine.config import ConnectionConfig
from osidump.engine.connection import connect
from osidump.engine.errors import ConnectionFailed


def test_ssl_required_without_server_tls(server: Any) -> None:
    cfg = ConnectionConfig(host=server.host, port=server.port, user=server.user, password=server.password,
                           ssl_mode="REQUIRED")
    with pytest.raises(ConnectionFailed) as info:
        connect(cfg)
    assert "--ssl-mode" in info.value.hint
    proc = subprocess.run([sys.executable, "-m", "osidump.cli.main", "ping", "-h", server.host, "-P",
                           str(server.port), "-u", server.user, "--ssl-mode", "REQUIRED"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 3, proc.stderr
