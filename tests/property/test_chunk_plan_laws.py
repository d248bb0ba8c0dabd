"""The chunk planner's ranges cover the key space exactly once."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from osidump.engine.export.chunk_plan import range_predicate, split_int_range


def _contains(rng: tuple[int | None, int | None], value: int) -> bool:
    lo, hi = rng
    return (lo is None or value >= lo) and (hi is None or value < hi)


@settings(max_examples=400)
@given(
    lo=st.integers(min_value=-(2**63), max_value=2**64 - 1),
    span=st.integers(min_value=0, max_value=10**6),
    parts=st.integers(min_value=1, max_value=300),
    probes=st.lists(st.integers(min_value=-50, max_value=10**6 + 50), max_size=50),
)
def test_int_ranges_cover_every_key_once(lo: int, span: int, parts: int, probes: list[int]) -> None:
    hi = lo + span
    ranges = split_int_range(lo, hi, parts)
    assert 1 <= len(ranges) <= max(parts, 1) + 1
    # Edges and arbitrary probes (inside and outside [lo, hi]) land in exactly one range.
    for value in [lo - 1, lo, hi, hi + 1, *(lo + p for p in probes)]:
        assert sum(_contains(r, value) for r in ranges) == 1, (value, ranges)
    # Ranges are ordered and adjacent: each upper bound is the next lower bound.
    for (_, a_hi), (b_lo, _) in itertools.pairwise(ranges):
        assert a_hi == b_lo and a_hi is not None


def _eval(pred: str | None, cols: list[str], row: tuple[int, ...]) -> bool:
    """Evaluate the generated SQL predicate in Python (it only uses AND, OR,
    =, <, >, parentheses and the backquoted column names)."""
    if pred is None:
        return True
    expr = pred
    for i, c in enumerate(cols):
        expr = expr.replace(c, f"row[{i}]")
    expr = expr.replace(" = ", " == ").replace(" AND ", " and ").replace(" OR ", " or ")
    return bool(eval(expr, {"row": row}))  # test-only: the predicate is our own output


@settings(max_examples=200)
@given(
    width=st.integers(min_value=1, max_value=3),
    cuts=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
        min_size=0,
        max_size=6,
        unique=True,
    ),
)
def test_keyset_ranges_partition_composite_keys(
    width: int, cuts: list[tuple[int, int, int]]
) -> None:
    cols = ["`a`", "`b`", "`c`"][:width]
    bounds = sorted({c[:width] for c in cuts})
    edges: list[tuple[int, ...] | None] = [None, *bounds, None]
    preds = [
        range_predicate(
            cols,
            None if edges[i] is None else tuple(str(v) for v in edges[i]),  # type: ignore[union-attr]
            None if edges[i + 1] is None else tuple(str(v) for v in edges[i + 1]),  # type: ignore[union-attr]
        )
        for i in range(len(edges) - 1)
    ]
    for row in itertools.product(range(-1, 6), repeat=width):
        hits = [i for i, p in enumerate(preds) if _eval(p, cols, row)]
        assert len(hits) == 1, (row, hits, preds)
        # and it is the range that orders it: edges[i] <= row < edges[i+1]
        i = hits[0]
        assert edges[i] is None or edges[i] <= row
        assert edges[i + 1] is None or row < edges[i + 1]
