"""Fixtures: real servers and a real S3 protocol endpoint. Nothing here skips:
a test that needs a server gets one, or the run fails saying how to provide it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import settings as hypothesis_settings
from osidump.engine.config import ConnectionConfig

from tests.support.s3 import (
    CREDENTIALS,
    MotoS3,
    S3Endpoint,
    S3rver,
    S3rverUnavailable,
    new_bucket,
)
from tests.support.servers import (
    MySQLContainer,
    NoServerAvailable,
    ServerHandle,
    ThrowawayServer,
    docker_answers,
    find_server_binary,
    server_from_dsn,
)

# No property test may depend on the machine's speed: a loaded 2-core CI box
# made per-example deadlines fail at random. Examples are bounded by count.
hypothesis_settings.register_profile("osidump", deadline=None)
hypothesis_settings.load_profile("osidump")

HOW_TO = (
    "osidump's tests need a MySQL or MariaDB server: install mariadb-server (mariadbd is started "
    "privately on a free port), or set OSIDUMP_TEST_DSN=mysql://root:@127.0.0.1:3306, or run "
    "Docker for a MySQL 8.4 container"
)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerHandle]:
    """The main test server, shared by the session: OSIDUMP_TEST_DSN, else a
    throwaway mariadbd/mysqld (binary log on), else a MySQL 8.4 container,
    else the run fails saying how to provide one."""
    dsn = os.environ.get("OSIDUMP_TEST_DSN")
    if dsn:
        try:
            handle = server_from_dsn(dsn)
        except ValueError as exc:
            pytest.fail(str(exc))
        try:
            handle.connect().close()
        except Exception as exc:
            pytest.fail(f"OSIDUMP_TEST_DSN server does not answer: {exc}")
        yield handle
        return
    problems: list[str] = []
    if find_server_binary():
        srv = ThrowawayServer(binlog=True)
        try:
            srv.start()
        except NoServerAvailable as exc:
            srv.cleanup()
            problems.append(str(exc))
        else:
            try:
                yield srv
            finally:
                srv.cleanup()
            return
    else:
        problems.append("no mariadbd or mysqld on PATH or in /usr/sbin")
    if docker_answers():
        try:
            container = MySQLContainer()
        except Exception as exc:  # image pull, port mapping, startup timeout
            problems.append(f"the MySQL 8.4 container did not start: {exc}")
        else:
            try:
                yield container
            finally:
                container.cleanup()
            return
    else:
        problems.append("Docker does not answer")
    pytest.fail(f"{'; '.join(problems)}. {HOW_TO}")


@pytest.fixture
def second_server() -> Iterator[ThrowawayServer]:
    """A private server with the binary log on, that the test may kill."""
    if find_server_binary() is None:
        pytest.fail(f"this test starts and kills its own server. {HOW_TO}")
    srv = ThrowawayServer(binlog=True)
    try:
        srv.start()
    except NoServerAvailable as exc:
        srv.cleanup()
        pytest.fail(str(exc))
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def conn_config(server: ServerHandle) -> ConnectionConfig:
    return server.connection_config()


@pytest.fixture
def make_database(server: ServerHandle) -> Iterator[Callable[..., str]]:
    """``make_database(srv=None) -> name``: a new, uniquely named database on
    ``srv`` (default: the main server), dropped after the test."""
    made: list[tuple[ServerHandle, str]] = []

    def make(srv: ServerHandle | None = None) -> str:
        target = srv or server
        name = "osi_t_" + uuid.uuid4().hex[:12]
        conn = target.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}`")
        finally:
            conn.close()
        made.append((target, name))
        return name

    yield make
    for target, name in made:
        try:
            conn = target.connect()
        except Exception:  # a killed second_server has nothing left to drop
            continue
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    s3 = MotoS3()
    yield s3
    s3.stop()


@pytest.fixture(scope="session")
def s3rver() -> Iterator[S3rver]:
    """s3rver (Node.js), the second S3 implementation; started once."""
    try:
        s3 = S3rver()
    except S3rverUnavailable as exc:
        pytest.fail(str(exc))
    yield s3
    s3.stop()


@pytest.fixture(scope="session")
def s3_endpoint_url(moto_s3: MotoS3) -> str:
    return moto_s3.endpoint_url


def _new_bucket(endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket; boto3's credential chain sees the test keys."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return new_bucket(endpoint)


@pytest.fixture
def s3_bucket(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on moto."""
    return _new_bucket(moto_s3, monkeypatch)


@pytest.fixture(params=["moto", "s3rver"])
def any_s3(request: pytest.FixtureRequest) -> S3Endpoint:
    """Each S3 implementation in turn (parametrized): moto, then s3rver."""
    endpoint: S3Endpoint = request.getfixturevalue("moto_s3" if request.param == "moto" else "s3rver")
    return endpoint


@pytest.fixture
def any_s3_bucket(any_s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the implementation ``any_s3`` stands for."""
    return _new_bucket(any_s3, monkeypatch)


@pytest.fixture
def cli_runner() -> CliRunner:
    return CliRunner()


def pytest_report_header(config: Any) -> str:
    dsn = os.environ.get("OSIDUMP_TEST_DSN")
    return f"osidump test server: {dsn or 'throwaway ' + str(find_server_binary())}"
