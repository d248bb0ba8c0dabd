"""``--where`` parsing, the backup series of filtered and schema-only dumps,
and the shared rate limiter's law (on a fake clock: no timed assertions)."""

from __future__ import annotations

import threading
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from osidump.engine.config import ExportConfig, parse_where
from osidump.engine.export.destination import export_selection, selection_key
from osidump.engine.export.throttle import RateLimiter
from osidump.engine.retention import describe_selection


def test_parse_where_tells_table_conditions_from_conditions_with_colons() -> None:
    assert parse_where("shop.orders:id > 5") == ("shop.orders", "id > 5")
    assert parse_where("shop.log_*:created_at >= '2026-01-01'") == (
        "shop.log_*", "created_at >= '2026-01-01'")
    # A colon inside the condition itself (a time literal) is not a table prefix.
    assert parse_where("created_at > '2026-01-01 10:00'") == (None, "created_at > '2026-01-01 10:00'")
    assert parse_where("t.x=1") == (None, "t.x=1")
    assert parse_where("a.b>'1:2'") == (None, "a.b>'1:2'")


def test_filtered_and_schema_only_dumps_are_series_of_their_own() -> None:
    """Else a newest --where or --no-data dump would count as the series'
    newest complete dump and let prune delete the full backups."""
    full = selection_key(export_selection(ExportConfig(databases=("shop",))))
    filtered = selection_key(export_selection(ExportConfig(databases=("shop",), where="id > 5")))
    per_table = selection_key(
        export_selection(ExportConfig(databases=("shop",), table_where=(("shop.t", "id > 5"),)))
    )
    schema = selection_key(export_selection(ExportConfig(databases=("shop",), no_data=True)))
    assert len({full, filtered, per_table, schema}) == 4
    # Dumps made before these options existed stay in the full series.
    assert selection_key({"databases": ["shop"], "all_databases": False, "tables": [],
                          "exclude_tables": []}) == full


def test_dumps_with_accounts_are_series_of_their_own() -> None:
    """A newest dump without --users must not let prune delete the last one
    with the accounts; an accounts-only dump is a series of its own."""
    def key(**options: Any) -> str:
        return selection_key(export_selection(ExportConfig(**options)))

    full = key(databases=("shop",))
    with_users = key(databases=("shop",), users=True)
    some_users = key(databases=("shop",), users=True, exclude_users=("test*",))
    only_users = key(users=True)
    assert len({full, with_users, some_users, only_users}) == 4
    assert describe_selection(export_selection(ExportConfig(users=True))) == "accounts only"
    assert describe_selection(
        export_selection(ExportConfig(databases=("shop",), users=True, include_users=("app",)))
    ) == "shop, with accounts, accounts filtered"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(
    rate=st.integers(1024, 10**8),
    takes=st.lists(st.tuples(st.integers(1, 4 << 20), st.floats(0, 2)), min_size=1, max_size=60),
)
def test_rate_limiter_never_admits_more_than_burst_plus_rate_times_time(
    rate: int, takes: list[tuple[int, float]]
) -> None:
    """Each taker waits what the bucket says (the fake clock advances by it);
    at every admission, bytes admitted <= burst + rate * elapsed + that block."""
    clock = FakeClock()
    burst = 256 * 1024
    bucket = RateLimiter(rate, burst=burst, clock=clock)
    admitted = 0
    for size, idle in takes:
        clock.now += idle
        clock.now += bucket.reserve(size)
        admitted += size
        assert admitted <= burst + rate * clock.now + 1e-6 * rate
    # And it does not hold back more than it must: the last taker waited only
    # until the bytes fit.
    assert admitted >= rate * clock.now - burst - rate * sum(i for _, i in takes) - 1


def test_take_returns_at_once_when_cancelled() -> None:
    bucket = RateLimiter(1024, burst=1024)
    cancelled = threading.Event()
    cancelled.set()
    bucket.take(10**9, cancelled=cancelled)  # a debt of ~11 days; cancel wins
    assert bucket.taken == 10**9
