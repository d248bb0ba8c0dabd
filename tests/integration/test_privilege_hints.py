"""The privileges osidump's hints name are the ones the server wants: checked
on a real MariaDB with the binary log on (a managed target's usual state)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from osidump.engine.config import ConnectionConfig
from osidump.engine.connection import connect, execute, server_flavor
from osidump.engine.errors import PrivilegeError
from osidump.engine.server_compat import binlog_off_privilege

from tests.integration.helpers import sql


@pytest.fixture
def login(server: Any, make_database: Any) -> Iterator[tuple[str, str, ConnectionConfig]]:
    """A user with all privileges on one new database and nothing global."""
    db = make_database()
    user = "osi_t_" + uuid.uuid4().hex[:8]
    root = server.connect()
    sql(root, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    sql(root, f"GRANT ALL ON `{db}`.* TO '{user}'@'%'")
    cfg = ConnectionConfig(host=server.host, port=server.port, user=user, password="pw",
                           ssl_mode="DISABLED")
    try:
        yield db, user, cfg
    finally:
        sql(root, f"DROP USER '{user}'@'%'")


def test_the_named_privilege_is_what_lets_a_session_turn_off_the_binlog(
    server: Any, login: tuple[str, str, ConnectionConfig]
) -> None:
    _, user, cfg = login
    conn = connect(cfg)
    flavor, version = server_flavor(conn)
    with pytest.raises(PrivilegeError):
        execute(conn, "SET SESSION sql_log_bin = 0", context="test")
    conn.close()
    privilege = binlog_off_privilege(flavor, version).split(" or ")[0]
    sql(server.connect(), f"GRANT {privilege} ON *.* TO '{user}'@'%'")
    conn = connect(cfg)  # privileges are read at login
    execute(conn, "SET SESSION sql_log_bin = 0", context="test")
    assert int(sql(conn, "SELECT @@SESSION.sql_log_bin")[0][0]) == 0
    conn.close()


def test_creating_a_function_without_super_under_the_binlog_names_the_setting(
    server: Any, login: tuple[str, str, ConnectionConfig]
) -> None:
    db, _, cfg = login
    root = server.connect()
    assert int(sql(root, "SELECT @@log_bin")[0][0]) == 1
    assert int(sql(root, "SELECT @@log_bin_trust_function_creators")[0][0]) == 0
    conn = connect(cfg, database=db)
    with pytest.raises(PrivilegeError) as info:
        execute(conn, "CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1", context="creating f")
    assert info.value.code == 1419
    assert "log_bin_trust_function_creators" in info.value.hint
    assert "--strip-definers" in info.value.hint
    conn.close()


def test_a_view_for_another_definer_names_strip_definers(
    server: Any, make_database: Any, login: tuple[str, str, ConnectionConfig], tmp_path: Any
) -> None:
    """A restoring user without SET USER cannot create the dump's view for its
    DEFINER: the hint names --strip-definers, which then restores it."""
    from osidump.engine.storage.base import LocalStorage

    from tests.integration.helpers import export, restore

    db, _, cfg = login
    src = make_database()
    root = server.connect()
    sql(root, f"CREATE TABLE `{src}`.t (id INT PRIMARY KEY)")
    sql(root, f"CREATE DEFINER = 'root'@'localhost' VIEW `{src}`.v AS SELECT id FROM `{src}`.t")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src)
    with pytest.raises(PrivilegeError) as info:
        restore(cfg, storage, database=db)
    assert "add --strip-definers" in info.value.hint
    restore(cfg, storage, database=db, strip_definers=True, on_existing="drop")
    assert sql(root, f"SELECT COUNT(*) FROM `{db}`.v") == [(0,)]
