"""The survey's fast pass may only ever say "this script names no database"
when splitting it exactly agrees, whatever the delimiters, comments, strings
and block boundaries (load-sql -d relies on it before running anything)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from osidump.engine.sqlfile.load_sql import survey_script
from osidump.engine.sqlfile.sql_script import iter_statements, statement_head

_naming = st.sampled_from([
    "USE other", "CREATE DATABASE other", "CREATE TABLE other.t (a INT)", "INSERT INTO `other`.t VALUES (1)",
    "/*!40000 USE other*/", "LOCK TABLES t WRITE, other.u READ", "DROP TABLE IF EXISTS a, other.b",
    "/*!50003 CREATE*/ /*!50017 DEFINER=`r`@`h`*/ /*!50003 TRIGGER x BEFORE INSERT ON other.t FOR EACH ROW SET @a=1 */",
])
_harmless = st.sampled_from([
    "CREATE TABLE t (a INT)", "INSERT INTO t VALUES (1, 'x;USE other;')", "SET NAMES utf8mb4",
    "/*!40101 SET x=1 */", "SELECT 'CREATE DATABASE other' AS `USE other`", "INSERT INTO t VALUES (-1, 2/3)",
    "CREATE PROCEDURE p() BEGIN INSERT INTO other.t VALUES (1); END",
])
_comment = st.sampled_from(["", "-- USE other;\n", "# CREATE TABLE other.t;\n", "/* USE other; */ ", "\n\n"])


@settings(max_examples=300)
@given(
    statements=st.lists(st.one_of(_naming, _harmless), min_size=1, max_size=8),
    delimiters=st.lists(st.sampled_from([";", ";;", "$$", "//"]), min_size=8, max_size=8),
    comments=st.lists(_comment, min_size=8, max_size=8),
    block=st.integers(min_value=1, max_value=80),
)
def test_the_fast_pass_never_misses_a_name(statements: list[str], delimiters: list[str],
                                           comments: list[str], block: int) -> None:
    script = ""
    for stmt, delim, comment in zip(statements, delimiters, comments, strict=False):
        if delim != ";":
            script += f"DELIMITER {delim}\n{comment}{stmt} {delim}\nDELIMITER ;\n"
        else:
            script += f"{comment}{stmt};\n"
    data = script.encode()

    def blocks():  # type: ignore[no-untyped-def]
        return iter([data[i : i + block] for i in range(0, len(data), block)])

    exact = {db for s in iter_statements(blocks()) for db in statement_head(s).databases}
    survey = survey_script(blocks)
    assert set(survey.databases) == exact
    if not survey.exact:
        assert exact == set()
