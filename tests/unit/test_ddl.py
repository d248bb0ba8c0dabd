"""Schema statements from a dump are parsed and checked before they run:
hostile variants (each as an attacker who can also recompute digests would
write it) are refused, ordinary SHOW CREATE output passes and is reshaped."""

from __future__ import annotations

import pytest
from osidump.engine.errors import ManifestError
from osidump.engine.export.catalog import strip_definer
from osidump.engine.format.ddl import (
    UnsafeStatement,
    check_object,
    database_options,
    parse_create_table,
    rename_database,
)

CREATE = """CREATE TABLE `t` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `a` int(11) DEFAULT NULL,
  `b` varchar(10) DEFAULT NULL,
  `c` text DEFAULT NULL,
  `p` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ub` (`b`),
  KEY `ia` (`a`),
  FULLTEXT KEY `fc` (`c`),
  CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `parent` (`id`) ON DELETE CASCADE,
  CONSTRAINT `ck` CHECK (`a` > 0)
) ENGINE=InnoDB AUTO_INCREMENT=57 DEFAULT CHARSET=utf8mb4"""


def test_a_table_splits_into_columns_keys_and_constraints() -> None:
    t = parse_create_table(CREATE, name="t")
    assert t.columns == ["id", "a", "b", "c", "p"]
    assert [(d.kind, d.name) for d in t.definitions[5:]] == [
        ("primary", None), ("unique", "ub"), ("index", "ia"), ("fulltext", "fc"),
        ("foreign", "f"), ("check", "ck"),
    ]
    assert t.auto_increment == 57
    shadow = t.build("osidump_new_x", without=frozenset({"index", "fulltext", "foreign"}))
    assert shadow.startswith("CREATE TABLE `osidump_new_x` (")
    assert "KEY `ia`" not in shadow and "FOREIGN KEY" not in shadow and "FULLTEXT" not in shadow
    assert "PRIMARY KEY (`id`)" in shadow and "UNIQUE KEY `ub`" in shadow and "CHECK" in shadow
    assert "AUTO_INCREMENT=57" in shadow
    # The reshaped statement parses again (no dangling comma).
    assert parse_create_table(shadow, name="osidump_new_x").columns == t.columns
    assert "AUTO_INCREMENT=9" in t.build("x", auto_increment=9)
    assert "AUTO_INCREMENT=57" not in t.build("x", auto_increment=9)


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        (CREATE + "; DROP TABLE keep", "more than one statement"),
        (CREATE.replace("CREATE TABLE `t`", "CREATE TABLE `other`.`t`"), "names a database"),
        (CREATE.replace("CREATE TABLE `t`", "CREATE TABLE `u`"), "creates 'u'"),
        (CREATE.replace("REFERENCES `parent`", "REFERENCES `mysql`.`user`"), "database 'mysql'"),
        (CREATE.replace("ENGINE=InnoDB", "ENGINE=CONNECT TABLE_TYPE=DOS FILE_NAME='/etc/passwd'"),
         "storage engine CONNECT"),
        (CREATE.replace("ENGINE=InnoDB", "ENGINE=FEDERATED CONNECTION='mysql://x@h/db/t'"),
         "reaches outside|storage engine"),
        (CREATE.replace("ENGINE=InnoDB", "ENGINE=InnoDB DATA DIRECTORY='/tmp'"), "reaches outside"),
        (CREATE.replace("DEFAULT NULL,\n  `p`", "DEFAULT (LOAD_FILE('/etc/hostname')),\n  `p`"),
         "reads files"),
        ("DROP TABLE `t`", "not a CREATE TABLE"),
        ("CREATE TABLE `t` (`a` int) /*!50100 ; DROP TABLE x */", "more than one statement"),
        ("CREATE TABLE `t` (`a` int, 'unterminated)", "not a CREATE TABLE|unreadable"),
    ],
)
def test_hostile_tables_are_refused(sql: str, why: str) -> None:
    with pytest.raises(ManifestError, match=why):
        parse_create_table(sql, name="t")


VIEW = ("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS"
        " select `t`.`id` AS `id`, case when `t`.`a` > 1 then 'x' else 'y' end AS `k` from `t`")
TRIGGER = ("CREATE DEFINER=`app`@`%` TRIGGER `t_bi` BEFORE INSERT ON `t` FOR EACH ROW BEGIN\n"
           "  IF NEW.a IS NULL THEN SET NEW.a = 1; END IF;\n  SET NEW.b = USER();\nEND")
EVENT = ("CREATE DEFINER=`root`@`localhost` EVENT `nightly` ON SCHEDULE EVERY 1 DAY"
         " STARTS '2030-01-01 03:00:00' ON COMPLETION NOT PRESERVE DISABLE DO DELETE FROM `t` WHERE a < 0")
PROC = ("CREATE DEFINER=`root`@`localhost` PROCEDURE `bump`(IN x INT)\nBEGIN\n"
        "  UPDATE t SET a = a + x;\n  SELECT 1;\nEND")


def check(kind: str, name: str, sql: str, table: str | None = None) -> None:
    check_object(kind=kind, name=name, sql=sql, database="shop", tables=frozenset({"t"}), table=table,
                 refused=frozenset({"mysql", "sys", "other"}))


def test_ordinary_objects_pass() -> None:
    check("view", "v", VIEW)
    check("trigger", "t_bi", TRIGGER, table="t")
    check("event", "nightly", EVENT)
    check("procedure", "bump", PROC)
    check("function", "twice", "CREATE DEFINER=`a`@`%` FUNCTION `twice`(x INT) RETURNS int(11)\n"
          "    DETERMINISTIC\nRETURN x * 2")


@pytest.mark.parametrize(
    ("kind", "name", "sql", "table", "why"),
    [
        ("view", "v", "DROP TABLE `keep`", None, "not a CREATE VIEW"),
        ("view", "v", VIEW.replace("VIEW `v`", "VIEW `w`"), None, "creates 'w'"),
        ("view", "v", VIEW + " union select `id`, 1 from `other`.`secret`", None, "database 'other'"),
        ("view", "v", VIEW.replace("from `t`", "from `t` into outfile '/tmp/x'"), None, "OUTFILE"),
        ("view", "v", VIEW + "; DROP TABLE keep", None, "more than one statement"),
        ("trigger", "t_bi", TRIGGER.replace("ON `t`", "ON `other`.`t`"), "t", "database 'other'"),
        ("trigger", "t_bi", TRIGGER.replace("ON `t`", "ON `u`"), "t", "not a table of this restore"),
        ("trigger", "t_bi", TRIGGER.replace("SET NEW.b = USER();",
                                            "INSERT INTO other.keep VALUES (1);"), "t", "database 'other'"),
        ("trigger", "t_bi", TRIGGER + ";\nDROP TABLE keep", "t", "more than one statement"),
        ("event", "nightly", EVENT.replace("DELETE FROM `t` WHERE a < 0", "DROP DATABASE other"),
         None, "DROP DATABASE"),
        ("event", "nightly", EVENT.replace("DELETE FROM `t` WHERE a < 0",
                                           "GRANT ALL ON *.* TO 'x'@'%'"), None, "GRANT"),
        ("event", "nightly", EVENT.replace("DELETE FROM `t` WHERE a < 0",
                                           "SELECT LOAD_FILE('/etc/passwd') INTO @x"), None, "LOAD_FILE"),
        ("procedure", "bump", PROC.replace("PROCEDURE `bump`", "PROCEDURE `other`.`bump`"), None,
         "created in database 'other'"),
        ("procedure", "bump", PROC + ";\nDROP TABLE keep", None, "more than one statement"),
        ("function", "f", VIEW, None, "not a CREATE FUNCTION"),
    ],
)
def test_hostile_objects_are_refused(kind: str, name: str, sql: str, table: str | None, why: str) -> None:
    with pytest.raises(UnsafeStatement, match=why):
        check(kind, name, sql, table)


def test_database_statement_gives_only_its_options() -> None:
    sql = "CREATE DATABASE `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci */"
    assert database_options(sql, name="shop") == ("utf8mb4", "utf8mb4_unicode_ci")
    assert database_options("CREATE DATABASE `shop`", name="shop") == (None, None)
    for bad in (sql + "; DROP TABLE other.keep", sql.replace("`shop`", "`other`"),
                "CREATE DATABASE `shop` DEFAULT CHARACTER SET utf8mb4; DROP DATABASE x"):
        with pytest.raises(ManifestError):
            database_options(bad, name="shop")


def test_rename_touches_only_qualifiers() -> None:
    sql = "CREATE VIEW `v` AS select `shop`.`t`.`id` AS `id` from `shop`.`t` where 'shop' = 'shop.x'"
    assert rename_database(sql, "shop", "drill") == (
        "CREATE VIEW `v` AS select `drill`.`t`.`id` AS `id` from `drill`.`t` where 'shop' = 'shop.x'"
    )


def test_definer_is_stripped_once() -> None:
    sql = "CREATE DEFINER=`app`@`%` TRIGGER `t1` BEFORE INSERT ON `t` FOR EACH ROW SET @x = 'DEFINER=`a`@`b`'"
    assert strip_definer(sql) == (
        "CREATE TRIGGER `t1` BEFORE INSERT ON `t` FOR EACH ROW SET @x = 'DEFINER=`a`@`b`'"
    )
