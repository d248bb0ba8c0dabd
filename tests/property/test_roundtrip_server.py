"""decode(encode(rows)) == rows over every column type, on a real server:
hypothesis picks the values, osidump exports and restores them, and the server
compares the two tables value by value."""

from __future__ import annotations

import datetime
import decimal
import math
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from osidump.cli.to_sql_cmd import to_sql_command
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export, restore, sql

TABLE = """CREATE TABLE r (
  id INT PRIMARY KEY, i BIGINT, u BIGINT UNSIGNED, d DECIMAL(30,10), f FLOAT, g DOUBLE,
  s VARCHAR(200) CHARACTER SET utf8mb4, l VARCHAR(200) CHARACTER SET latin1, b VARBINARY(300),
  dt DATETIME(6), t TIME(6), bit BIT(17), j JSON)"""

def _cp1252(ch: str) -> bool:
    try:
        ch.encode("cp1252")
        return True
    except UnicodeEncodeError:
        return False


# MariaDB's latin1 is cp1252: only characters it can store are generated.
_latin1 = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2122).filter(_cp1252), max_size=50)
_floats = st.floats(allow_nan=False, allow_infinity=False, width=32).filter(lambda x: abs(x) < 1e38)
_doubles = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not math.isinf(x))
_row = st.fixed_dictionaries({
    "i": st.none() | st.integers(-(2**63), 2**63 - 1),
    "u": st.none() | st.integers(0, 2**64 - 1),
    "d": st.none() | st.decimals(min_value=-(10**19) + 1, max_value=10**19 - 1, places=10, allow_nan=False),
    "f": st.none() | _floats,
    "g": st.none() | _doubles,
    "s": st.none() | st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
    "l": st.none() | _latin1,
    "b": st.none() | st.binary(max_size=300),
    "dt": st.none() | st.datetimes(min_value=datetime.datetime(1000, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
    "t": st.none() | st.timedeltas(min_value=datetime.timedelta(hours=-838), max_value=datetime.timedelta(hours=838)),
    "bit": st.none() | st.integers(0, 2**17 - 1),
    "j": st.none() | st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10),
                                  lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                                  max_leaves=6),
})

COMPARE = ("SELECT id, i, u, d, HEX(CAST(f AS DOUBLE)), HEX(g), HEX(s), HEX(l), HEX(b), dt, t, bit+0,"
           " JSON_COMPACT(j) FROM `{db}`.r ORDER BY id")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(rows=st.lists(_row, min_size=1, max_size=25))
def test_any_values_round_trip(server: Any, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    import json

    src, dst = "osi_p_" + uuid.uuid4().hex[:10], "osi_p_" + uuid.uuid4().hex[:10]
    via_sql = "osi_p_" + uuid.uuid4().hex[:10]
    conn = server.connect()
    try:
        sql(conn, f"CREATE DATABASE {src}")
        sql(conn, f"USE {src}")
        sql(conn, TABLE)
        for n, row in enumerate(rows):
            values = dict(row)
            if values["d"] is not None:
                values["d"] = decimal.Decimal(values["d"])
            if values["t"] is not None:
                values["t"] = values["t"] - datetime.timedelta(microseconds=values["t"].microseconds % 1)
            if values["j"] is not None:
                values["j"] = json.dumps(values["j"])
            cols = ["id", *values]
            sql(conn, f"INSERT INTO r ({','.join(cols)}) VALUES ({','.join(['%s'] * len(cols))})",
                [n, *values.values()])
        storage = LocalStorage(str(tmp_path / uuid.uuid4().hex))
        export(server.connection_config(), storage, src, threads=2)
        restore(server.connection_config(), storage, database=dst)
        assert sql(conn, COMPARE.format(db=dst)) == sql(conn, COMPARE.format(db=src))
        # The INSERT path (to-sql, and restore where local_infile is off),
        # replayed by the stock client as the README shows it.
        script = CliRunner().invoke(to_sql_command, [storage.root, "-d", via_sql])
        assert script.exit_code == 0, script.output
        proc = subprocess.run(
            [shutil.which("mariadb") or "mysql", "-h", server.host, "-P", str(server.port),
             "-u", server.user], input=script.stdout_bytes, capture_output=True, check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert sql(conn, COMPARE.format(db=via_sql)) == sql(conn, COMPARE.format(db=src))
    finally:
        sql(conn, f"DROP DATABASE IF EXISTS {src}")
        sql(conn, f"DROP DATABASE IF EXISTS {dst}")
        sql(conn, f"DROP DATABASE IF EXISTS {via_sql}")
        conn.close()
