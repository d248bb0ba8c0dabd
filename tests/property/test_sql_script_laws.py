"""Splitting a script gives back its statements, whatever the block boundaries,
quotes, comments and delimiters."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from osidump.engine.sqlfile.sql_script import iter_statements

_text = st.text(alphabet=st.sampled_from(list("ab ;'\"`\\\n-#/*xy$")), max_size=12)
_single = _text.map(lambda t: "'" + t.replace("\\", "\\\\").replace("'", "''") + "'")
_double = _text.map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '""') + '"')
_ident = _text.map(lambda t: "`" + t.replace("`", "``") + "`")
_word = st.sampled_from(["SELECT", "1", "x", "(", ")", ",", "=", "/*!40101 SET x=1 */", "/*M!100 y */"])
_statement = st.lists(st.one_of(_single, _double, _ident, _word), min_size=1, max_size=8).map(" ".join)


@settings(max_examples=300)
@given(
    statements=st.lists(_statement, min_size=1, max_size=6),
    delimiters=st.lists(st.sampled_from([";", ";;", "$$"]), min_size=6, max_size=6),
    block=st.integers(min_value=1, max_value=64),
    comment=st.sampled_from(["", "-- note; 'x\n", "# note; \"y\n", "/* c; ' */ "]),
)
def test_statements_survive_any_blocking(statements: list[str], delimiters: list[str], block: int,
                                         comment: str) -> None:
    script = ""
    for stmt, delim in zip(statements, delimiters, strict=False):
        if delim != ";":
            script += f"DELIMITER {delim}\n{comment}{stmt} {delim}\nDELIMITER ;\n"
        else:
            script += f"{comment}{stmt};\n"
    data = script.encode()
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    assert [s.decode() for s in iter_statements(blocks)] == [s.strip() for s in statements]
