"""Comment lines of the scripts osidump writes (to-sql headers, replica setup)
carry names and notes from a dump: whatever they hold stays inside the
comment."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from osidump.engine.format.sqltokens import comment_line, tokenize


def test_a_line_break_is_shown_not_obeyed() -> None:
    line = comment_line("note: table `a\nDROP TABLE keep; --` left out\r")
    assert line == "-- note: table `a\\x0aDROP TABLE keep; --` left out\\x0d\n"
    assert line.count("\n") == 1


@given(st.text())
def test_any_text_is_one_comment_the_server_skips(text: str) -> None:
    script = comment_line(text) + "SELECT 1"
    assert [t.text for t in tokenize(script)] == ["SELECT", "1"]
