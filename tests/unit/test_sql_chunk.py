"""Version-1 chunk lines run only if they are INSERTs of literals into their
own table: everything osidump 0.1 wrote passes, every injection is refused."""

from __future__ import annotations

import pytest
from osidump.engine.format.sql_chunk import LineGrammar, count_rows, parse_values

G = LineGrammar("t", ["id", "s", "f", "d", "b"])
P = b"INSERT INTO `t` (`id`,`s`,`f`,`d`,`b`) VALUES "
GOOD = P + (b"(1,_utf8mb4 X'C3A9',-1.5e-07,'2024-01-01 00:00:00.000000',X'00FF'),"
            b"(2,NULL,3.14159274,NULL,X''),(-3,_latin1 X'',0,'-838:59:59.000000',NULL);")


def test_what_osidump_wrote_passes() -> None:
    assert G.check(GOOD)
    assert count_rows(GOOD) == 3
    assert parse_values(GOOD)[0] == ["1", b"\xc3\xa9", "-1.5e-07", "2024-01-01 00:00:00.000000", b"\x00\xff"]
    one = LineGrammar("x", ["a"])
    assert one.check(b"INSERT INTO `x` (`a`) VALUES (1),(NULL);")


@pytest.mark.parametrize(
    "line",
    [
        GOOD[:-1] + b"; DROP TABLE other.keep;",
        GOOD.replace(b"3.14159274", b"(SELECT secret FROM other.t)"),
        GOOD.replace(b"3.14159274", b"LOAD_FILE('/etc/hostname')"),
        GOOD.replace(b"3.14159274", b"SLEEP(10)"),
        GOOD.replace(P, P.replace(b"`t`", b"`other`")),
        GOOD.replace(P, P.replace(b"`b`)", b"`b`) SELECT")),
        GOOD.replace(b",X'')", b")"),  # a tuple with a column missing
        GOOD.replace(b"X'00FF'", b"X'00FF',7"),  # one too many
        GOOD.replace(b"'2024-01-01 00:00:00.000000'", b"'a\\'),(1,2,3,4,LOAD_FILE(0)),(\\''"),
        GOOD.replace(b"NULL,3.14", b"NULL /* c */,3.14"),
        GOOD.replace(b"NULL,3.14", b"@x:=1,3.14"),
        GOOD[:-1],  # no closing semicolon
        b"DROP TABLE `t`;",
        b"",
    ],
)
def test_injections_are_refused(line: bytes) -> None:
    assert not G.check(line)
