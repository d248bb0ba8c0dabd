"""Account data from a dump is untrusted: only one account's own CREATE
USER/ROLE and GRANT statements pass, with passwords as hashes. The MySQL
syntax (no MySQL server here) is checked on MySQL 8.0's own output."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from osidump.engine.errors import ConfigError, ManifestError
from osidump.engine.users import (
    Account,
    _if_not_exists,
    check_flavor,
    cut_default_role_clause,
    default_role_sql,
    select_accounts,
    selected,
)

HASH = "*B865CAE8F340F6CE1485A06F4492BB49718DF1EC"
APP: dict[str, Any] = {
    "user": "app", "host": "%", "role": False, "flavor": "mariadb",
    "create": f"CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '{HASH}'",
    "grants": ["GRANT `reader` TO `app`@`%`",
               f"GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '{HASH}'",
               "GRANT INSERT (`id`, `b`) ON `shop`.`orders` TO `app`@`%` WITH GRANT OPTION",
               "GRANT SELECT, UPDATE ON `shop`.* TO 'app'@'%' WITH MAX_QUERIES_PER_HOUR 10"],
    "default_roles": [["reader", ""]],
}
ROLE: dict[str, Any] = {"user": "reader", "host": "", "role": True, "flavor": "mariadb",
                        "create": "CREATE ROLE `reader`", "grants": ["GRANT SELECT ON `shop`.* TO `reader`"]}
# MySQL 8.0's SHOW CREATE USER (print_identified_with_as_hex = ON) and SHOW GRANTS.
MYSQL_CREATE = ("CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS "
                "0x244124303035246B2F3E6D1F DEFAULT ROLE `reader`@`%`,`auditor`@`localhost` "
                "REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT "
                "PASSWORD REUSE INTERVAL DEFAULT PASSWORD REQUIRE CURRENT DEFAULT")
MYSQL_APP: dict[str, Any] = {
    "user": "app", "host": "%", "role": False, "flavor": "mysql",
    "create": cut_default_role_clause(MYSQL_CREATE),
    "grants": ["GRANT USAGE ON *.* TO `app`@`%`", "GRANT `reader`@`%`,`auditor`@`localhost` TO `app`@`%`",
               "GRANT SELECT ON `shop`.* TO `app`@`%` WITH GRANT OPTION"],
    "default_roles": [["reader", "%"], ["auditor", "localhost"]],
}


def test_good_accounts_round_trip() -> None:
    for data in (APP, ROLE, MYSQL_APP):
        account = Account.from_dict(copy.deepcopy(data))
        assert Account.from_dict(account.to_dict()) == account
        assert account.to_dict()["grants"] == data["grants"]


def test_mysql_default_role_clause_is_cut_and_set_after() -> None:
    assert MYSQL_APP["create"] == (
        "CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 0x244124303035246B2F3E6D1F "
        "REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT "
        "PASSWORD REUSE INTERVAL DEFAULT PASSWORD REQUIRE CURRENT DEFAULT")
    mysql = Account.from_dict(MYSQL_APP)
    assert default_role_sql(mysql) == "SET DEFAULT ROLE `reader`@`%`, `auditor`@`localhost` TO `app`@`%`"
    assert default_role_sql(Account.from_dict(APP)) == "SET DEFAULT ROLE `reader` FOR `app`@`%`"
    assert _if_not_exists(mysql).startswith("CREATE USER IF NOT EXISTS `app`@`%` IDENTIFIED WITH")
    assert _if_not_exists(Account.from_dict(ROLE)) == "CREATE ROLE IF NOT EXISTS `reader`"


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data.update(changes)
    return data


BAD = [
    ("not an object", ["app"]),
    ("wrong type", with_(APP, user=1)),
    ("system account", with_(APP, user="mariadb.sys", host="localhost",
                             create="CREATE USER `mariadb.sys`@`localhost`", grants=[])),
    ("unknown flavor", with_(APP, flavor="postgres")),
    ("role with a host", with_(ROLE, host="%")),
    ("create for another account", with_(APP, create=f"CREATE USER `root`@`%` IDENTIFIED BY PASSWORD '{HASH}'")),
    ("create for two accounts", with_(APP, create=f"CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '{HASH}', `evil`@`%`")),
    ("not a create", with_(APP, create="DROP USER `app`@`%`")),
    ("create role with more", with_(ROLE, create="CREATE ROLE `reader` WITH ADMIN `evil`@`%`")),
    ("second statement", with_(APP, create="CREATE USER `app`@`%`; DROP DATABASE shop")),
    ("executable comment", with_(APP, grants=["GRANT ALL ON *.* TO `app`@`%` /*!50000 , `evil`@`%` */"])),
    ("line comment", with_(APP, grants=["GRANT ALL ON *.* TO `app`@`%` -- x"])),
    ("hash comment", with_(APP, grants=["GRANT ALL ON *.* TO `app`@`%` # x"])),
    ("double quotes", with_(APP, grants=['GRANT ALL ON *.* TO "app"@"%"'])),
    ("password in clear", with_(APP, create="CREATE USER `app`@`%` IDENTIFIED BY 'hunter2'")),
    ("password() in clear", with_(APP, create="CREATE USER `app`@`%` IDENTIFIED VIA ed25519 USING PASSWORD('x')")),
    ("mysql password in clear", with_(MYSQL_APP, create="CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' BY 'x'")),
    ("random password", with_(MYSQL_APP, create="CREATE USER `app`@`%` IDENTIFIED BY RANDOM PASSWORD")),
    ("grant to another", with_(APP, grants=["GRANT ALL PRIVILEGES ON *.* TO `root`@`%`"])),
    ("grant to two", with_(APP, grants=["GRANT ALL PRIVILEGES ON *.* TO `app`@`%`, `evil`@`%`"])),
    ("grant to a host-less twin", with_(APP, grants=["GRANT ALL PRIVILEGES ON *.* TO `app`"])),
    ("grant to public", with_(ROLE, grants=["GRANT SELECT ON *.* TO PUBLIC"])),
    ("grant without to", with_(APP, grants=["GRANT ALL ON *.*"])),
    ("not a grant", with_(APP, grants=["SET PASSWORD FOR `app`@`%` = PASSWORD('x')"])),
    ("not a grant either", with_(APP, grants=["DROP DATABASE `shop`"])),
    ("two mariadb default roles", with_(APP, default_roles=[["a", ""], ["b", ""]])),
    ("bad default roles", with_(APP, default_roles=["reader"])),
    ("too long", with_(APP, grants=["GRANT SELECT ON *.* TO `app`@`%` " + "x" * 70000])),
]


@pytest.mark.parametrize(("why", "data"), BAD, ids=[b[0] for b in BAD])
def test_untrusted_account_data_is_refused(why: str, data: Any) -> None:
    with pytest.raises(ManifestError, match="^users in the dump: "):
        Account.from_dict(data)


def test_patterns_and_the_servers_own_accounts() -> None:
    assert selected("app", "%", [], [])
    assert not selected("mariadb.sys", "localhost", ["*"], [])
    assert not selected("root", "localhost", [], [])
    assert not selected("root", "db1", [], [], server_host="db1")
    assert selected("root", "db1", [], [])  # a root account of another host is a user's own
    assert selected("root", "localhost", ["root@localhost"], [])
    assert not selected("root", "localhost", ["*"], [])  # asked means named
    assert selected("app", "10.0.0.%", ["app"], [])
    assert selected("app", "10.0.0.%", ["app@10.0.0.%"], [])
    assert not selected("app", "10.0.0.1", ["app@10.0.0.%"], [])  # % is literal in a pattern
    assert selected("app_ro", "%", ["app_*"], ["*@localhost"])
    assert not selected("app_ro", "localhost", ["app_*"], ["*@localhost"])
    assert selected("app", "%", ["'app'@'%'"], [])
    accounts = [Account.from_dict(APP), Account.from_dict(ROLE)]
    assert [a.user for a in select_accounts(accounts, [], ["reader"])] == ["app"]


def test_accounts_apply_to_their_own_flavor_only() -> None:
    check_flavor([Account.from_dict(APP)], "mariadb")
    with pytest.raises(ConfigError, match="read from mysql and the target is mariadb"):
        check_flavor([Account.from_dict(APP), Account.from_dict(MYSQL_APP)], "mariadb")
