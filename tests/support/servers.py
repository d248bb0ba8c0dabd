"""Real database servers for tests and benchmarks.

``ThrowawayServer`` runs a private ``mariadbd`` (or ``mysqld``) in a temporary
data directory on a free 127.0.0.1 port, root with no password, binary log on
(so binlog coordinates exist), and removes everything on ``cleanup()``. Tests
may kill it. ``server_from_dsn`` wraps an existing server given as
``mysql://user:password@host:port``. ``MySQLContainer`` starts MySQL 8.4
through testcontainers where Docker answers and no server binary exists.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import pymysql
from osidump.engine.config import ConnectionConfig

SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/local/mysql/bin")


class NoServerAvailable(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies, so a
    killed or timed-out test run leaves no server behind still working on
    its last query (Linux prctl PR_SET_PDEATHSIG; elsewhere, nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_server_binary() -> str | None:
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name)
        if found:
            return found
        for d in SEARCH_DIRS:
            path = os.path.join(d, name)
            if os.access(path, os.X_OK):
                return path
    return None


@dataclass
class ServerHandle:
    """What tests need to know about a server, whatever started it."""

    host: str
    port: int
    user: str = "root"
    password: str = ""
    socket: str | None = None

    def connection_config(self, database: str | None = None) -> ConnectionConfig:
        return ConnectionConfig(
            host=self.host, port=self.port, user=self.user, password=self.password,
            database=database, ssl_mode="DISABLED",
        )

    def connect(self, database: str | None = None) -> Any:
        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password,
            database=database, autocommit=True, charset="utf8mb4",
        )


class ThrowawayServer(ServerHandle):
    """A private server process; ``start()`` blocks until it answers."""

    def __init__(
        self,
        *,
        binary: str | None = None,
        binlog: bool = True,
        buffer_pool: str = "256M",
        extra_args: tuple[str, ...] = (),
        die_with_parent: bool = True,
    ):
        found = binary or find_server_binary()
        if found is None:
            raise NoServerAvailable("no mariadbd or mysqld binary found")
        self.binary = found
        self.binlog = binlog
        self.buffer_pool = buffer_pool
        self.extra_args = extra_args
        self.die_with_parent = die_with_parent
        self.basedir = tempfile.mkdtemp(prefix="osidump-server-")
        self.datadir = os.path.join(self.basedir, "data")
        super().__init__(host="127.0.0.1", port=free_port(),
                         socket=os.path.join(self.basedir, "mysqld.sock"))
        self.process: subprocess.Popen[bytes] | None = None
        self._initialized = False
        self.log_path = os.path.join(self.basedir, "server.log")
        self.tmpdir = os.path.join(self.basedir, "tmp")
        os.makedirs(self.tmpdir, exist_ok=True)

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in os.path.basename(self.binary)

    def _initialize(self) -> None:
        os.makedirs(self.datadir, exist_ok=True)
        if self.is_mariadb:
            installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
            if installer is None:
                raise NoServerAvailable("mariadb-install-db not found next to mariadbd")
            cmd = [installer, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                   "--auth-root-authentication-method=normal", "--skip-test-db"]
        else:
            cmd = [self.binary, "--no-defaults", "--initialize-insecure",
                   f"--datadir={self.datadir}", "--user=root"]
        with open(self.log_path, "ab") as log:
            offset = log.tell()
            done = subprocess.run(cmd, stdout=log, stderr=log, timeout=120)
        if done.returncode != 0:
            raise NoServerAvailable(f"{cmd[0]} failed: {self._log_tail(offset)}")
        self._initialized = True

    def _log_tail(self, offset: int, lines: int = 5) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return "(no server log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    def start(self, timeout: float = 60.0, *, _port_retries: int = 3) -> ThrowawayServer:
        if not self._initialized:
            self._initialize()
        args = [
            self.binary, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
            f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}",
            f"--pid-file={os.path.join(self.basedir, 'mysqld.pid')}",
            f"--innodb-buffer-pool-size={self.buffer_pool}",
            "--innodb-flush-log-at-trx-commit=2", "--max-connections=200",
            "--skip-name-resolve", "--character-set-server=utf8mb4",
            f"--tmpdir={self.tmpdir}",  # private: parallel runs must not share temp files
        ]
        if self.binlog:
            args += ["--server-id=1", f"--log-bin={os.path.join(self.basedir, 'binlog')}"]
        if not self.is_mariadb:
            args += ["--mysqlx=OFF"]
        args += list(self.extra_args)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        log_start = log.tell()
        self.process = subprocess.Popen(
            args, stdout=log, stderr=log, preexec_fn=_die_with_parent if self.die_with_parent else None
        )
        log.close()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self._log_tail(log_start)
                if "already in use" in tail and _port_retries > 0:
                    # Another process took the free port between our probe and
                    # the server's bind (parallel test runs): take another.
                    self.port = free_port()
                    return self.start(timeout, _port_retries=_port_retries - 1)
                raise NoServerAvailable(f"{self.binary} exited during startup: {tail}")
            try:
                self.connect().close()
                return self
            except pymysql.err.MySQLError as exc:
                last = exc
                # Polling a starting server: each attempt is a real connect.
                time.sleep(0.05)
        raise NoServerAvailable(f"{self.binary} did not answer within {timeout}s: {last}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-whatever, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.basedir, ignore_errors=True)

    def __enter__(self) -> ThrowawayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a server certificate signed by it, as PEM files."""

    ca: str
    ca_key: str
    cert: str
    key: str

    def server_args(self) -> tuple[str, ...]:
        """mariadbd/mysqld flags that turn TLS on with these files."""
        return (f"--ssl-ca={self.ca}", f"--ssl-cert={self.cert}", f"--ssl-key={self.key}")


def make_tls_files(directory: str, *, names: tuple[str, ...] = ("localhost",),
                   ca_name: str = "test CA") -> TlsFiles:
    """A CA made as MariaDB's docs show (``openssl req -x509 -newkey rsa:2048
    -nodes``: no keyUsage extension, which Python 3.13's strict default refuses
    and the mysql client accepts), and a server certificate for ``names`` (DNS
    names or IP addresses, as subjectAltName) signed by it."""
    os.makedirs(directory, exist_ok=True)
    path = functools.partial(os.path.join, directory)
    stem = ca_name.replace(" ", "-")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    files = TlsFiles(ca=path(f"{stem}.pem"), ca_key=path(f"{stem}-key.pem"),
                     cert=path(f"{stem}-server-cert.pem"), key=path(f"{stem}-server-key.pem"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ca_name}",
            "-keyout", files.ca_key, "-out", files.ca)
    request = path(f"{stem}-server.csr")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={names[0]}",
            "-keyout", files.key, "-out", request)
    alt = ",".join(("IP:" if name.replace(".", "").isdigit() else "DNS:") + name for name in names)
    extensions = path(f"{stem}-server.ext")
    with open(extensions, "w") as fh:
        fh.write(f"subjectAltName={alt}\n")
    openssl("x509", "-req", "-in", request, "-days", "2", "-CA", files.ca, "-CAkey", files.ca_key,
            "-set_serial", "01", "-extfile", extensions, "-out", files.cert)
    return files


def server_from_dsn(dsn: str) -> ServerHandle:
    """``mysql://user:password@host:port`` -> a handle on an existing server."""
    url = urlparse(dsn)
    if url.scheme not in ("mysql", "mariadb") or not url.hostname:
        raise ValueError(f"OSIDUMP_TEST_DSN must look like mysql://root:@127.0.0.1:3306, not {dsn!r}")
    return ServerHandle(
        host=url.hostname, port=url.port or 3306,
        user=unquote(url.username or "root"), password=unquote(url.password or ""),
    )


class MySQLContainer(ServerHandle):
    """MySQL 8.4 in Docker via testcontainers (used only where no server binary
    exists and Docker answers)."""

    def __init__(self) -> None:
        try:
            from testcontainers.community.mysql import MySqlContainer
        except ImportError:  # testcontainers before the community/ split
            from testcontainers.mysql import MySqlContainer

        self._container = MySqlContainer("mysql:8.4", username="root", password="root")
        self._container.with_command("--log-bin=binlog --server-id=1")
        self._container.start()
        super().__init__(
            host=self._container.get_container_host_ip(),
            port=int(self._container.get_exposed_port(3306)),
            user="root", password="root",
        )

    def cleanup(self) -> None:
        self._container.stop()


def docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
