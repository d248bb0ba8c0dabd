"""validate_name: the one gate every dump name passes before any file or object
is opened. Properties: anything that could leave the dump is refused; every
name the exporter makes from a database or table name is accepted."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from osidump.engine.errors import ManifestError
from osidump.engine.format.manifest import encode_name, schema_file_name, table_dir
from osidump.engine.storage.base import validate_name

SAFE_CHARS = "ABCXYZabcxyz0189._@%+=,-"
safe_segments = st.text(alphabet=SAFE_CHARS, min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))
any_segments = st.text(max_size=20)

# What MySQL and MariaDB allow in a quoted identifier: up to 64 characters of
# the Basic Multilingual Plane, except U+0000.
identifiers = st.text(
    alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",), exclude_characters="\x00"),
    min_size=1,
    max_size=64,
)


@given(before=st.lists(any_segments, max_size=4), after=st.lists(any_segments, max_size=4))
@example(before=[], after=[])
@example(before=["data"], after=[])
def test_a_dotdot_segment_is_refused(before: list[str], after: list[str]) -> None:
    with pytest.raises(ManifestError):
        validate_name("/".join([*before, "..", *after]))


@given(rest=st.text(max_size=60))
def test_an_absolute_name_is_refused(rest: str) -> None:
    with pytest.raises(ManifestError):
        validate_name("/" + rest)


@given(segments=st.lists(safe_segments, min_size=1, max_size=4), at=st.integers(0, 4), bad=st.sampled_from(["", ".", "\\", "a\\b", "a b", "\x00"]))
def test_empty_dot_backslash_or_odd_segments_are_refused(segments: list[str], at: int, bad: str) -> None:
    segments.insert(min(at, len(segments)), bad)
    with pytest.raises(ManifestError):
        validate_name("/".join(segments))


@given(segments=st.lists(safe_segments, min_size=1, max_size=6))
def test_plain_relative_names_are_accepted_unchanged(segments: list[str]) -> None:
    name = "/".join(segments)
    assert validate_name(name) is name


@given(identifier=identifiers)
@example(identifier="..")
@example(identifier=".")
@example(identifier="a/b")
@example(identifier="a\\b")
@example(identifier=" ")
@example(identifier="~")
def test_any_encoded_identifier_is_one_accepted_segment(identifier: str) -> None:
    segment = encode_name(identifier)
    assert "/" not in segment
    assert validate_name(segment) == segment
    assert validate_name(schema_file_name(identifier))


@given(schema=identifiers, table=identifiers)
@example(schema="..", table="../../etc")
def test_exported_chunk_names_are_accepted(schema: str, table: str) -> None:
    name = f"{table_dir(schema, table)}/000001-0000.sql.zst"
    assert validate_name(name) == name


def test_longest_identifiers_make_an_accepted_chunk_name() -> None:
    name = f"{table_dir('数' * 64, '表' * 64)}/000001-0000.sql.zst"
    assert validate_name(name) == name


@pytest.mark.parametrize("name", [None, 42, b"manifest.json", "x" * 1025])
def test_non_strings_and_overlong_names_are_refused(name: object) -> None:
    with pytest.raises(ManifestError):
        validate_name(name)  # type: ignore[arg-type]
