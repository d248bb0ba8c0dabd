from __future__ import annotations

from osidump.engine.catalog import strip_definer
from osidump.engine.restore_plan import split_secondary_indexes

CREATE = """CREATE TABLE `t` (
  `id` int(11) NOT NULL,
  `a` int(11) DEFAULT NULL,
  `b` varchar(10) DEFAULT NULL,
  `c` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ub` (`b`),
  KEY `ia` (`a`),
  FULLTEXT KEY `fc` (`c`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""


def test_secondary_indexes_are_deferred_and_keys_kept() -> None:
    create, deferred = split_secondary_indexes(CREATE)
    assert deferred == ("KEY `ia` (`a`)", "FULLTEXT KEY `fc` (`c`)")
    assert "PRIMARY KEY (`id`)" in create and "UNIQUE KEY `ub` (`b`)" in create
    assert "KEY `ia`" not in create
    assert "UNIQUE KEY `ub` (`b`)\n) ENGINE" in create  # no dangling comma


def test_tables_with_foreign_keys_keep_their_indexes() -> None:
    sql = CREATE.replace(
        "  FULLTEXT KEY `fc` (`c`)",
        "  FULLTEXT KEY `fc` (`c`),\n  CONSTRAINT `f` FOREIGN KEY (`a`) REFERENCES `p` (`id`)",
    )
    assert split_secondary_indexes(sql) == (sql, ())


def test_definer_is_stripped_once() -> None:
    sql = "CREATE DEFINER=`app`@`%` TRIGGER `t1` BEFORE INSERT ON `t` FOR EACH ROW SET @x = 'DEFINER=`a`@`b`'"
    assert strip_definer(sql) == (
        "CREATE TRIGGER `t1` BEFORE INSERT ON `t` FOR EACH ROW SET @x = 'DEFINER=`a`@`b`'"
    )


def test_recorded_session_is_validated() -> None:
    import pytest
    from osidump.engine.errors import ManifestError
    from osidump.engine.restore_plan import data_session

    assert dict(data_session({"time_zone": "+00:00", "sql_mode": "NO_AUTO_VALUE_ON_ZERO",
                              "character_set": "utf8mb4"})) == {"time_zone": "+00:00",
                                                               "sql_mode": "NO_AUTO_VALUE_ON_ZERO"}
    with pytest.raises(ManifestError, match="unexpected value"):
        data_session({"sql_mode": "'; DROP TABLE x; --"})
    with pytest.raises(ManifestError, match="character set"):
        data_session({"character_set": "latin1"})
