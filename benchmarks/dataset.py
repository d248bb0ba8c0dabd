"""A realistic, deterministic dataset built server-side (sequence engine), so
generating 400+ MB takes seconds, not a Python loop. Scale 1.0 is ~430 MB of
InnoDB data_length; every value is a function of the row number (RAND is seeded
per row), so two runs at one scale hold the same bytes."""

from __future__ import annotations

from typing import Any


def _n(base: int, scale: float) -> int:
    return max(10, int(base * scale))


def build(conn: Any, db: str, scale: float) -> dict[str, int]:
    """Create ``db`` with mixed tables; return row counts per table."""
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    cur.execute(f"CREATE DATABASE `{db}` DEFAULT CHARACTER SET utf8mb4")
    cur.execute(f"USE `{db}`")
    rows = {
        "orders": _n(450_000, scale),
        "order_items": _n(1_000_000, scale),
        "documents": _n(50_000, scale),
        "events_log": _n(300_000, scale),
        "legacy_latin1": _n(200_000, scale),
    }
    statements = [
        """CREATE TABLE orders (
             id BIGINT UNSIGNED PRIMARY KEY, customer_id INT NOT NULL,
             status ENUM('new','paid','shipped','cancelled') NOT NULL,
             total DECIMAL(12,2) NOT NULL, created DATETIME(6) NOT NULL,
             note VARCHAR(255), payload JSON, flags BIT(8) NOT NULL, ship_date DATE,
             ship_time TIME(3), model_year YEAR, ref BINARY(16) NOT NULL, rating TINYINT,
             discount DOUBLE, KEY (customer_id), KEY (created))""",
        f"""INSERT INTO orders SELECT seq, seq MOD 50000,
             ELT(1 + seq MOD 4, 'new','paid','shipped','cancelled'),
             (seq MOD 100000) / 7, '2024-01-01' + INTERVAL seq SECOND,
             IF(seq MOD 5 = 0, NULL, CONCAT('note ', MD5(seq), ' é ✓')),
             JSON_OBJECT('sku', MD5(seq), 'qty', seq MOD 9, 'tags', JSON_ARRAY('a', seq MOD 3, 'ü'),
                         'addr', REPEAT(SHA2(seq, 256), 2)),
             seq MOD 256, IF(seq MOD 7 = 0, NULL, '2024-01-01' + INTERVAL seq MOD 900 DAY),
             SEC_TO_TIME(seq MOD 86400 + 0.125), 1990 + seq MOD 40, UNHEX(MD5(seq)),
             FLOOR(RAND(seq) * 11) - 5, RAND(seq + 1) * 100
           FROM seq_1_to_{rows["orders"]}""",
        """CREATE TABLE order_items (
             order_id BIGINT UNSIGNED NOT NULL, line SMALLINT NOT NULL, sku CHAR(12) NOT NULL,
             qty SMALLINT NOT NULL, price DOUBLE NOT NULL, weight FLOAT,
             PRIMARY KEY (order_id, line))""",
        f"""INSERT INTO order_items SELECT seq DIV 3 + 1, seq MOD 3, LEFT(MD5(seq), 12),
             1 + seq MOD 5, seq / 13, (seq MOD 1000) / 3
           FROM seq_1_to_{rows["order_items"]}""",
        """CREATE TABLE documents (
             id INT PRIMARY KEY, title VARCHAR(200) NOT NULL, body MEDIUMTEXT, thumbnail BLOB)""",
        f"""INSERT INTO documents SELECT seq, CONCAT('Document ', seq),
             REPEAT(CONCAT(SHA2(seq, 512), ' lorem ipsum dolor sit amet 日本語 '), 12),
             UNHEX(REPEAT(SHA2(seq * 7, 512), 8))
           FROM seq_1_to_{rows["documents"]}""",
        """CREATE TABLE events_log (ts TIMESTAMP(3) NOT NULL, kind VARCHAR(20), data TEXT)""",
        f"""INSERT INTO events_log SELECT '2024-06-01' + INTERVAL seq SECOND,
             ELT(1 + seq MOD 3, 'login', 'purchase', 'logout'), CONCAT('{{"n":', seq, '}}')
           FROM seq_1_to_{rows["events_log"]}""",
        """CREATE TABLE legacy_latin1 (id INT PRIMARY KEY, name VARCHAR(100), city VARCHAR(50))
             DEFAULT CHARSET=latin1""",
        f"""INSERT INTO legacy_latin1 SELECT seq, CONCAT('Müller-', seq, ' café'),
             ELT(1 + seq MOD 3, 'Zürich', 'Malmö', 'São Paulo')
           FROM seq_1_to_{rows["legacy_latin1"]}""",
        "CREATE VIEW paid_orders AS SELECT id, total FROM orders WHERE status = 'paid'",
        "CREATE VIEW big_paid AS SELECT id FROM paid_orders WHERE total > 1000",
        """CREATE TRIGGER items_bi BEFORE INSERT ON order_items FOR EACH ROW
             SET NEW.qty = GREATEST(NEW.qty, 1)""",
        """CREATE EVENT purge_events ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00'
             DISABLE DO DELETE FROM events_log WHERE ts < NOW() - INTERVAL 1 YEAR""",
        """CREATE FUNCTION order_total(oid BIGINT) RETURNS DECIMAL(12,2) READS SQL DATA
             RETURN (SELECT total FROM orders WHERE id = oid)""",
        """CREATE PROCEDURE cancel_order(IN oid BIGINT)
             UPDATE orders SET status = 'cancelled' WHERE id = oid""",
    ]
    for sql in statements:
        cur.execute(sql)
    cur.execute("ANALYZE TABLE orders, order_items, documents, events_log, legacy_latin1")
    cur.fetchall()
    return rows


def raw_bytes(conn: Any, db: str) -> int:
    cur = conn.cursor()
    cur.execute(
        "SELECT SUM(DATA_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
        " AND TABLE_TYPE = 'BASE TABLE'",
        (db,),
    )
    return int(cur.fetchone()[0] or 0)


def checksums(conn: Any, db: str) -> dict[str, int]:
    cur = conn.cursor()
    cur.execute(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
        " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db,),
    )
    out = {}
    for (name,) in cur.fetchall():
        cur.execute(f"CHECKSUM TABLE `{db}`.`{name}`")
        out[name] = cur.fetchone()[1]
    return out


def table_bytes(conn: Any, db: str) -> dict[str, int]:
    cur = conn.cursor()
    cur.execute(
        "SELECT TABLE_NAME, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
        " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db,),
    )
    return {name: int(size) for name, size in cur.fetchall()}


def objects(conn: Any, db: str) -> dict[str, list[str]]:
    """Names of the views, triggers, routines and events: a restore must bring them all."""
    cur = conn.cursor()
    queries = {
        "views": "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s",
        "triggers": "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s",
        "routines": "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s",
        "events": "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
    }
    out = {}
    for kind, sql in queries.items():
        cur.execute(sql, (db,))
        out[kind] = sorted(row[0] for row in cur.fetchall())
    return out


def differences(conn: Any, source: str, target: str) -> list[str]:
    """What a restore into ``target`` got wrong; empty if it matches ``source``."""
    want, got = checksums(conn, source), checksums(conn, target)
    problems = [
        f"CHECKSUM TABLE differs: {t}" if t in got else f"missing table {t}"
        for t in want
        if got.get(t) != want[t]
    ]
    want_obj, got_obj = objects(conn, source), objects(conn, target)
    for kind, names in want_obj.items():
        missing = sorted(set(names) - set(got_obj[kind]))
        if missing:
            problems.append(f"missing {kind}: {', '.join(missing)}")
    return problems
