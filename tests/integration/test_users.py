"""Accounts, roles and grants travel from a server to data and back (issue 13
item 3), on a private MariaDB: users with passwords, a role with a default
role, column and database grants; read, drop, apply, log in."""

from __future__ import annotations

import json
from typing import Any

import pymysql
import pytest
from osidump.engine.users import Account, apply_accounts, read_accounts

from tests.integration.helpers import sql

SETUP = [
    "CREATE DATABASE shop",
    "CREATE TABLE shop.t (id INT PRIMARY KEY, note VARCHAR(20))",
    "INSERT INTO shop.t VALUES (1, 'one')",
    "CREATE ROLE reader",
    "GRANT SELECT ON shop.* TO reader",
    "CREATE USER app@'%' IDENTIFIED BY 'app-pw-1'",
    "GRANT reader TO app@'%'",
    "SET DEFAULT ROLE reader FOR app@'%'",
    "GRANT UPDATE (note) ON shop.t TO app@'%' WITH GRANT OPTION",
    "CREATE USER writer@'127.0.0.1' IDENTIFIED BY 'w-pw-2' WITH MAX_QUERIES_PER_HOUR 100",
    "GRANT INSERT ON shop.t TO writer@'127.0.0.1'",
    "CREATE USER nopass@localhost",
]
ACCOUNTS = ["app@'%'", "writer@'127.0.0.1'"]


def login(srv: Any, user: str, password: str) -> Any:
    return pymysql.connect(host=srv.host, port=srv.port, user=user, password=password, autocommit=True)


def grants_of(conn: Any) -> dict[str, set[str]]:
    return {who: {r[0] for r in sql(conn, f"SHOW GRANTS FOR {who}")} for who in [*ACCOUNTS, "reader"]}


def test_accounts_read_dropped_applied_and_logged_into(second_server: Any) -> None:
    conn = second_server.connect()
    for statement in SETUP:
        sql(conn, statement)
    before = grants_of(conn)
    hashes = dict(sql(conn, "SELECT User, authentication_string FROM mysql.user WHERE User IN ('app', 'writer')"))

    accounts = read_accounts(conn, include=(), exclude=("nopass",))
    assert [a.label() for a in accounts] == ["`reader`", "`app`@`%`", "`writer`@`127.0.0.1`"]
    everything = [a.label() for a in read_accounts(conn)]
    assert "`nopass`@`localhost`" in everything
    assert not any(x.startswith(("`root`", "`mariadb.sys`", "`PUBLIC`")) for x in everything)
    data = json.dumps([a.to_dict() for a in accounts])
    assert "app-pw-1" not in data and "w-pw-2" not in data  # hashes only
    assert hashes["app"] in data and hashes["writer"] in data

    for statement in ("DROP USER app@'%'", "DROP USER writer@'127.0.0.1'", "DROP ROLE reader"):
        sql(conn, statement)
    with pytest.raises(pymysql.err.OperationalError):
        login(second_server, "app", "app-pw-1")

    restored = [Account.from_dict(d) for d in json.loads(data)]
    report = apply_accounts(conn, restored)
    assert report.created == ["`reader`", "`app`@`%`", "`writer`@`127.0.0.1`"]
    assert report.skipped == [] and report.grants == sum(len(a.grants) for a in restored)
    assert grants_of(conn) == before

    app = login(second_server, "app", "app-pw-1")  # the original password
    assert sql(app, "SELECT CURRENT_ROLE()") == [("reader",)]  # the default role came back
    assert sql(app, "SELECT note FROM shop.t") == [("one",)]
    sql(app, "UPDATE shop.t SET note = 'uno'")
    writer = login(second_server, "writer", "w-pw-2")
    sql(writer, "INSERT INTO shop.t VALUES (2, 'two')")
    with pytest.raises(pymysql.err.OperationalError, match="SELECT command denied"):
        sql(writer, "SELECT * FROM shop.t")
    with pytest.raises(pymysql.err.OperationalError):
        login(second_server, "writer", "wrong")  # control: a wrong password still fails

    # Existing accounts are left exactly as they are: writer now has another password.
    sql(conn, "DROP USER writer@'127.0.0.1'")
    sql(conn, "CREATE USER writer@'127.0.0.1' IDENTIFIED BY 'changed-3'")
    again = apply_accounts(conn, restored)
    assert again.created == [] and again.grants == 0
    assert again.skipped == ["`reader`", "`app`@`%`", "`writer`@`127.0.0.1`"]
    login(second_server, "writer", "changed-3").close()
    assert sql(conn, "SHOW GRANTS FOR writer@'127.0.0.1'") == [
        ("GRANT USAGE ON *.* TO `writer`@`127.0.0.1` IDENTIFIED BY PASSWORD "
         f"'{sql(conn, 'SELECT PASSWORD(%s)', ('changed-3',))[0][0]}'",)]
