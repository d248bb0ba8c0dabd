"""``export --users`` and ``restore --users`` as an operator runs them (issue
13 item 3): accounts travel with their password hashes (never the password),
roles, default roles and grants, to another server or back after a DROP; the
original password logs in and the grants are the source's. Filters choose
accounts; a dump without users, or a users file altered by a writer of the
backup location (digests recomputed), is refused before anything is applied.

The shared server keeps other tests' accounts: every account here has a name
unique to the test and is dropped afterwards, and exports take only those
(``--include-users``)."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from click.testing import CliRunner, Result
from osidump.cli.main import cli
from osidump.engine.seal import SigningKey, generate_identity

from tests.integration.helpers import sql


@pytest.fixture
def accounts(server: Any, make_database: Any) -> Iterator[dict[str, str]]:
    """A database with a table, and on the shared server a role, two users
    with passwords (one with the role as default), and a third without:
    names are ``<prefix>_reader``, ``_app``, ``_ops``, ``_tmp``."""
    db = make_database()
    p = "osu" + uuid.uuid4().hex[:8]
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, note VARCHAR(20))")
    sql(conn, f"INSERT INTO `{db}`.t VALUES (1, 'one')")
    made = {"prefix": p, "db": db, "app_pw": "app-" + uuid.uuid4().hex, "ops_pw": "ops-" + uuid.uuid4().hex}
    for statement in [
        f"CREATE ROLE {p}_reader",
        f"GRANT SELECT ON `{db}`.* TO {p}_reader",
        f"CREATE USER {p}_app@'%' IDENTIFIED BY '{made['app_pw']}'",
        f"GRANT {p}_reader TO {p}_app@'%'",
        f"SET DEFAULT ROLE {p}_reader FOR {p}_app@'%'",
        f"GRANT UPDATE (note) ON `{db}`.t TO {p}_app@'%'",
        f"CREATE USER {p}_ops@'127.0.0.1' IDENTIFIED BY '{made['ops_pw']}' WITH MAX_QUERIES_PER_HOUR 50",
        f"GRANT INSERT ON `{db}`.t TO {p}_ops@'127.0.0.1'",
        f"CREATE USER {p}_tmp@localhost",
    ]:
        sql(conn, statement)
    try:
        yield made
    finally:
        drop_accounts(server, p)


def drop_accounts(srv: Any, prefix: str) -> None:
    conn = srv.connect()
    for user, host, is_role in sql(conn, "SELECT User, Host, is_role FROM mysql.user WHERE User LIKE %s",
                                   (prefix + "%",)):
        sql(conn, f"DROP ROLE `{user}`" if is_role == "Y" else f"DROP USER `{user}`@`{host}`")


def present(srv: Any, prefix: str) -> list[str]:
    rows = sql(srv.connect(), "SELECT User, Host FROM mysql.user WHERE User LIKE %s ORDER BY 1, 2",
               (prefix + "%",))
    return [f"{u}@{h}" for u, h in rows]


def grants(srv: Any, p: str) -> dict[str, set[str]]:
    conn = srv.connect()
    who = [f"{p}_reader", f"{p}_app@'%'", f"{p}_ops@'127.0.0.1'"]
    return {w: {r[0] for r in sql(conn, f"SHOW GRANTS FOR {w}")} for w in who}


def login(srv: Any, user: str, password: str) -> Any:
    return pymysql.connect(host=srv.host, port=srv.port, user=user, password=password, autocommit=True)


def conn_args(srv: Any) -> list[str]:
    return ["-h", srv.host, "-P", str(srv.port), "-u", srv.user]


def run(*args: str) -> Result:
    r = CliRunner().invoke(cli, list(args), env={"DB_DATABASE": ""})
    return r


def every_byte(root: Path) -> bytes:
    return b"".join(f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file())


def test_accounts_travel_to_another_server_and_log_in_there(
    server: Any, second_server: Any, accounts: dict[str, str], tmp_path: Path
) -> None:
    p, db = accounts["prefix"], accounts["db"]
    before = grants(server, p)
    dump = tmp_path / "dump"
    result = run("export", db, "--users", "--include-users", f"{p}_*", "--exclude-users", f"{p}_tmp",
                 "-o", str(dump), *conn_args(server))
    assert result.exit_code == 0, result.output
    assert "and 3 accounts with their roles and grants (--users)" in result.output

    # The passwords are nowhere in the dump; their hashes are.
    stored = every_byte(dump)
    assert accounts["app_pw"].encode() not in stored and accounts["ops_pw"].encode() not in stored
    hashes = sql(server.connect(), "SELECT authentication_string FROM mysql.user WHERE User = %s", (f"{p}_app",))
    assert hashes[0][0].encode() in (dump / "users.json").read_bytes()
    manifest = json.loads((dump / "manifest.json").read_text())
    assert manifest["users"]["accounts"] == 3 and manifest["users"]["file"]["path"] == "users.json"
    assert manifest["options"]["include_users"] == [f"{p}_*"]

    info = run("inspect", str(dump))
    assert f"users:       3 accounts with their roles and grants (export --users; only {p}_*; without {p}_tmp" in info.output
    assert json.loads(run("inspect", str(dump), "--json").output)["users"]["accounts"] == 3
    verified = run("verify", str(dump))
    assert verified.exit_code == 0 and "ok    users: 3 accounts" in verified.output
    assert "dump verified: 1 table, 3 accounts" in verified.output

    plan = run("restore", str(dump), "--users", "--dry-run", *conn_args(second_server))
    assert plan.exit_code == 0, plan.output
    assert f"role `{p}_reader`: 2 grants, if the target lacks it" in plan.output
    assert f"account `{p}_app`@`%`: 3 grants" in plan.output

    result = run("restore", str(dump), "--users", *conn_args(second_server))
    assert result.exit_code == 0, result.output
    assert "accounts: 3 created with" in result.output and f"created `{p}_app`@`%`" in result.output
    assert grants(second_server, p) == before

    app = login(second_server, f"{p}_app", accounts["app_pw"])  # the original password
    assert sql(app, "SELECT CURRENT_ROLE()") == [(f"{p}_reader",)]
    assert sql(app, f"SELECT note FROM `{db}`.t") == [("one",)]
    sql(app, f"UPDATE `{db}`.t SET note = 'uno'")
    ops = login(second_server, f"{p}_ops", accounts["ops_pw"])
    sql(ops, f"INSERT INTO `{db}`.t VALUES (2, 'two')")
    with pytest.raises(pymysql.err.OperationalError, match="SELECT command denied"):
        sql(ops, f"SELECT * FROM `{db}`.t")
    with pytest.raises(pymysql.err.OperationalError):
        login(second_server, f"{p}_app", "wrong")  # control: a wrong password still fails
    assert f"{p}_tmp@localhost" not in present(second_server, p)

    # Again over the restored database: every account exists, none is touched.
    again = run("restore", str(dump), "--users", "--on-existing", "drop", "--json", *conn_args(second_server))
    assert again.exit_code == 0, again.output
    summary = json.loads(again.output)["accounts"]
    assert summary["created"] == [] and summary["grants"] == 0
    assert summary["skipped"] == [f"`{p}_reader`", f"`{p}_app`@`%`", f"`{p}_ops`@`127.0.0.1`"]


def test_an_accounts_only_dump_filters_and_restores_after_a_drop(
    server: Any, accounts: dict[str, str], tmp_path: Path
) -> None:
    p = accounts["prefix"]
    before = grants(server, p)
    dump = tmp_path / "users-only"
    result = run("export", "--users", "--include-users", f"{p}_*", "-o", str(dump), *conn_args(server))
    assert result.exit_code == 0, result.output
    assert f"exported 4 accounts with their roles and grants (no database) to {dump}" in result.output
    manifest = json.loads((dump / "manifest.json").read_text())
    assert manifest["databases"] == [] and manifest["users"]["accounts"] == 4
    assert sorted(f.name for f in dump.iterdir()) == ["export-started.json", "manifest.json", "users.json"]
    assert accounts["app_pw"].encode() not in every_byte(dump)

    # Without --users the accounts are ignored, and the output says so.
    ignored = run("restore", str(dump), *conn_args(server))
    assert ignored.exit_code == 0, ignored.output
    assert "note: the dump holds 4 accounts (export --users), not restored: restore --users" in ignored.output

    drop_accounts(server, p)
    plan = run("restore", str(dump), "--users", "--exclude-users", f"{p}_tmp", "--dry-run", "--json")
    assert [a["account"] for a in json.loads(plan.output)["accounts"]] == [
        f"`{p}_reader`", f"`{p}_app`@`%`", f"`{p}_ops`@`127.0.0.1`"]
    assert present(server, p) == []  # the dry run touched nothing

    result = run("restore", str(dump), "--users", "--exclude-users", f"{p}_tmp", *conn_args(server))
    assert result.exit_code == 0, result.output
    assert "accounts: 3 created with 7 grants, 0 skipped" in result.output
    assert "restored 0 tables" not in result.output
    assert "note: 1 of the dump's 4 accounts left out (--include-users/--exclude-users)" in result.output
    assert present(server, p) == [f"{p}_app@%", f"{p}_ops@127.0.0.1", f"{p}_reader@"]
    assert grants(server, p) == before
    login(server, f"{p}_app", accounts["app_pw"]).close()

    only = run("restore", str(dump), "--users", "--include-users", f"{p}_tmp@localhost", *conn_args(server))
    assert only.exit_code == 0, only.output
    assert "accounts: 1 created with 1 grant, 0 skipped" in only.output
    assert f"{p}_tmp@localhost" in present(server, p)

    missing = run("restore", str(dump), "--users", "--include-users", f"{p}_nobody", *conn_args(server))
    assert missing.exit_code == 4
    assert f"no account of this dump matches --include-users '{p}_nobody'" in missing.output


def test_users_only_takes_the_accounts_of_a_dump_that_also_holds_a_database(
    server: Any, accounts: dict[str, str], tmp_path: Path
) -> None:
    """An instance backup holds databases and accounts; after an operator
    dropped accounts by mistake, --users-only puts them back and touches no
    table (the database's rows changed since stay as they are)."""
    p, db = accounts["prefix"], accounts["db"]
    before = grants(server, p)
    dump = tmp_path / "both"
    result = run("export", db, "--users", "--include-users", f"{p}_*", "-o", str(dump), *conn_args(server))
    assert result.exit_code == 0, result.output
    sql(server.connect(), f"INSERT INTO `{db}`.t VALUES (2, 'after the backup')")
    drop_accounts(server, p)

    refused = run("restore", str(dump), "--users-only", "--on-existing", "drop", *conn_args(server))
    assert refused.exit_code == 2
    assert "--users-only restores accounts alone; --on-existing does not apply" in refused.output
    result = run("restore", str(dump), "--users-only", *conn_args(server))
    assert result.exit_code == 0, result.output
    assert "accounts: 4 created with 8 grants, 0 skipped" in result.output
    assert grants(server, p) == before
    assert sql(server.connect(), f"SELECT id FROM `{db}`.t ORDER BY id") == [(1,), (2,)]
    login(server, f"{p}_app", accounts["app_pw"]).close()


def test_users_options_that_cannot_apply_are_one_line_errors(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    db = make_database()
    sql(server.connect(), f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    dump = tmp_path / "no-users"
    assert run("export", db, "-o", str(dump), *conn_args(server)).exit_code == 0
    result = run("restore", str(dump), "--users", "--dry-run")
    assert result.exit_code == 2
    assert "error: this dump holds no accounts (it was exported without --users)" in result.output
    assert "hint: restore without --users, or take a new export with --users" in result.output
    for command in (["export", db, "-o", str(tmp_path / "x")], ["restore", str(dump)]):
        result = run(*command, "--include-users", "app", *conn_args(server))
        assert result.exit_code == 2
        assert "--include-users and --exclude-users apply only with --users" in result.output
    inspected = run("inspect", str(dump), "--json")
    assert json.loads(inspected.output)["users"] is None
    # A pattern that names no account is a typo, not an empty backup: nothing is written.
    nobody = tmp_path / "nobody"
    result = run("export", "--users", "--include-users", "no_such_account_*",
                 "-o", str(nobody), *conn_args(server))
    assert result.exit_code == 4, result.output
    assert "no account of the server matches --include-users 'no_such_account_*'" in result.output
    assert not nobody.exists() or not any(nobody.iterdir())


# --- a users file altered by a writer of the backup location --------------------


def reseal_users(root: Path, fn: Callable[[dict[str, Any]], None], *, digest: bool = True) -> None:
    """Edit users.json (as parsed JSON) and, with ``digest``, recompute its
    sha256 and size in the manifest, as an attacker would."""
    doc = json.loads((root / "users.json").read_text())
    fn(doc)
    data = (json.dumps(doc, indent=1) + "\n").encode()
    (root / "users.json").write_bytes(data)
    if digest:
        manifest = json.loads((root / "manifest.json").read_text())
        manifest["users"]["file"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
        (root / "manifest.json").write_text(json.dumps(manifest, indent=1))


def account(doc: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(a for a in doc["accounts"] if a["user"].endswith(suffix))


def users_attacks(victim: str) -> dict[str, Callable[[dict[str, Any]], None]]:
    return {
        "grant to another account": lambda d: account(d, "_app")["grants"].append(
            f"GRANT ALL PRIVILEGES ON *.* TO {victim} WITH GRANT OPTION"),
        "a DROP appended to CREATE USER": lambda d: account(d, "_app").update(
            create=account(d, "_app")["create"] + f"; DROP USER {victim}"),
        "a DROP appended to a grant": lambda d: account(d, "_ops")["grants"].__setitem__(
            0, account(d, "_ops")["grants"][0] + f"; DROP USER {victim}"),
        "a password in clear": lambda d: account(d, "_app").update(
            create=f"CREATE USER `{account(d, '_app')['user']}`@`%` IDENTIFIED BY 'pw'"),
        "CREATE USER of another account": lambda d: account(d, "_ops").update(
            create=f"CREATE USER {victim} IDENTIFIED BY PASSWORD '*0000000000000000000000000000000000000000'"),
        "the same account twice": lambda d: d["accounts"].__setitem__(-1, dict(account(d, "_app"))),
        "bytes changed, digest not recomputed": lambda d: d["accounts"].pop(),
    }


@pytest.mark.parametrize("attack", list(users_attacks("x")))
def test_an_altered_users_file_is_refused_before_anything_is_applied(
    server: Any, accounts: dict[str, str], tmp_path: Path, attack: str
) -> None:
    p = accounts["prefix"]
    victim_name = f"{p}_victim"
    victim = f"`{victim_name}`@`%`"
    conn = server.connect()
    sql(conn, f"CREATE USER {victim} IDENTIFIED BY 'victim-pw'")
    base = tmp_path / "base"
    result = run("export", "--users", "--include-users", f"{p}_*", "--exclude-users", victim_name,
                 "-o", str(base), *conn_args(server))
    assert result.exit_code == 0, result.output
    dump = tmp_path / "altered"
    shutil.copytree(base, dump)
    reseal_users(dump, users_attacks(victim)[attack], digest=not attack.startswith("bytes changed"))
    drop_accounts(server, f"{p}_app")
    victim_grants = sql(conn, f"SHOW GRANTS FOR {victim}")

    verified = run("verify", str(dump))
    assert verified.exit_code == 5, verified.output
    assert "FAIL  users" in verified.output and "ok    users" not in verified.output
    restored = run("restore", str(dump), "--users", *conn_args(server))
    assert restored.exit_code == 5, restored.output
    assert "error: " in restored.output and "Traceback" not in restored.output
    assert f"{p}_app@%" not in present(server, p)  # nothing was applied
    assert sql(conn, f"SHOW GRANTS FOR {victim}") == victim_grants
    # Control: the untouched copy restores.
    assert run("restore", str(base), "--users", *conn_args(server)).exit_code == 0
    assert f"{p}_app@%" in present(server, p)


def test_accounts_of_another_flavor_stop_the_restore_before_it_starts(
    server: Any, accounts: dict[str, str], make_database: Any, tmp_path: Path
) -> None:
    """MySQL and MariaDB write accounts differently: MySQL's are refused on a
    MariaDB target at the first step, before a database is created."""
    p, db = accounts["prefix"], accounts["db"]
    dump = tmp_path / "dump"
    assert run("export", db, "--users", "--include-users", f"{p}_ops", "-o", str(dump),
               *conn_args(server)).exit_code == 0

    def as_mysql(doc: dict[str, Any]) -> None:
        a = doc["accounts"][0]
        a.update(flavor="mysql", create=f"CREATE USER `{p}_ops`@`127.0.0.1` IDENTIFIED WITH "
                 "'caching_sha2_password' AS 0x244124303035 REQUIRE NONE")

    reseal_users(dump, as_mysql)
    manifest = json.loads((dump / "manifest.json").read_text())
    manifest["server_flavor"] = "mysql"
    (dump / "manifest.json").write_text(json.dumps(manifest))
    assert run("verify", str(dump)).exit_code == 0  # well-formed MySQL accounts
    target = make_database()
    drop_accounts(server, f"{p}_ops")
    sql(server.connect(), f"DROP DATABASE `{target}`")
    result = run("restore", str(dump), "--users", "-d", target, *conn_args(server))
    assert result.exit_code == 2, result.output
    assert "the accounts were read from mysql and the target is mariadb" in result.output
    assert not sql(server.connect(), "SHOW DATABASES LIKE %s", (target,))
    assert present(server, f"{p}_ops") == []


# --- sealed dumps ------------------------------------------------------------------


def test_a_signed_and_encrypted_dump_carries_its_accounts(
    server: Any, accounts: dict[str, str], tmp_path: Path
) -> None:
    p = accounts["prefix"]
    key = SigningKey.generate()
    identity, recipient = generate_identity()
    files = {"prod.key": key.to_line(), "prod.pub": key.public("prod").to_line(),
             "id.txt": identity, "recipients.txt": recipient}
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
        (tmp_path / name).chmod(0o600)
    dump = tmp_path / "sealed"
    result = run("export", "--users", "--include-users", f"{p}_*", "-o", str(dump),
                 "--sign-key", str(tmp_path / "prod.key"),
                 "--encrypt-to-file", str(tmp_path / "recipients.txt"), *conn_args(server))
    assert result.exit_code == 0, result.output
    assert not (dump / "users.json").read_bytes().startswith(b"{")  # one age file
    hashes = sql(server.connect(), "SELECT authentication_string FROM mysql.user WHERE User = %s", (f"{p}_app",))
    assert hashes[0][0].encode() not in every_byte(dump)

    pub = ["--verify-key", str(tmp_path / "prod.pub")]
    stored = run("verify", str(dump), *pub)
    assert stored.exit_code == 0, stored.output
    assert "dump verified: 0 tables, 4 accounts, every stored object's size and sha256" in stored.output
    deep = run("verify", str(dump), *pub, "--identity", str(tmp_path / "id.txt"))
    assert deep.exit_code == 0 and "ok    users: 4 accounts" in deep.output

    drop_accounts(server, p)
    restored = run("restore", str(dump), "--users", *pub, "--identity", str(tmp_path / "id.txt"),
                   *conn_args(server))
    assert restored.exit_code == 0, restored.output
    assert "accounts: 4 created" in restored.output
    login(server, f"{p}_app", accounts["app_pw"]).close()

    # The manifest's account count edited after signing: refused.
    manifest = json.loads((dump / "manifest.json").read_text())
    manifest["users"]["accounts"] = 3
    (dump / "manifest.json").write_text(json.dumps(manifest, indent=1))
    assert run("verify", str(dump), *pub).exit_code == 5
