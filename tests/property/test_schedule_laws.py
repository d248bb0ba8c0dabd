"""The restore's chunk order (engine/restore/schedule.py): every chunk once,
each table's chunks in key order, and no loader left idle while work that
could overlap it waits at the end."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from osidump.engine.format.ddl import parse_create_table
from osidump.engine.format.manifest import ChunkEntry, ColumnEntry, TableEntry
from osidump.engine.restore.plan import ChunkJob, TablePlan
from osidump.engine.restore.schedule import chunk_cost, index_cost, schedule

DIGEST = "0" * 64


def table(name: str, chunks: Sequence[tuple[int, int]], indexes: int = 0) -> list[ChunkJob]:
    """A table of ``chunks`` (rows, raw bytes) with ``indexes`` secondary indexes."""
    keys = "".join(f", KEY k{i} (v)" for i in range(indexes))
    create = parse_create_table(f"CREATE TABLE `{name}` (id INT PRIMARY KEY, v INT{keys})", name=name)
    entry = TableEntry(
        name=name,
        columns=[ColumnEntry(name="id", type="int"), ColumnEntry(name="v", type="int")],
        key=["id"],
        key_kind="primary",
        chunks=[
            ChunkEntry(index=i, path=f"data/d/{name}/{i:06d}-0000.tsv.zst", rows=rows,
                       raw_bytes=raw, stored_bytes=raw // 4 + 1, sha256=DIGEST,
                       content_sha256=DIGEST, max_row_bytes=1)
            for i, (rows, raw) in enumerate(chunks)
        ],
    )
    plan = TablePlan(source_db="d", target_db="d", entry=entry, create=create,
                     shadow=f"osidump_new_{name}", old=f"osidump_old_{name}", encoding="tsv")
    return [ChunkJob(plan, c) for c in entry.chunks]


def run(order: Sequence[ChunkJob], threads: int) -> tuple[float, dict[str, float]]:
    """Play ``order`` as the loaders do (each takes the next job when free;
    a table's index build follows its last chunk on that loader) with the
    estimated costs as durations: (end of the restore, when each table ended)."""
    last = {job.table.label: job for job in order}
    free = [(0.0, n) for n in range(threads)]
    ended: dict[str, float] = {}
    for job in order:
        now, loader = heapq.heappop(free)
        done = now + chunk_cost(job)
        if last[job.table.label] is job:
            done += index_cost(job.table)
            ended[job.table.label] = done
        heapq.heappush(free, (done, loader))
    return max((t for t, _ in free), default=0.0), ended


def round_robin(tables: Sequence[Sequence[ChunkJob]]) -> list[ChunkJob]:
    """The order before schedule.py: largest tables first, one chunk each in turn."""
    queues = [list(t) for t in sorted(tables, key=lambda t: -sum(j.chunk.stored_bytes for j in t))]
    order: list[ChunkJob] = []
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop(0))
    return order


tables_strategy = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(1, 2_000_000), st.integers(1, 200_000_000)), max_size=6),
        st.integers(0, 3),
    ),
    max_size=7,
)


@settings(max_examples=300, deadline=None)
@given(shape=tables_strategy, threads=st.integers(1, 6))
def test_every_chunk_once_and_each_table_in_key_order(
    shape: list[tuple[list[tuple[int, int]], int]], threads: int
) -> None:
    tables = [table(f"t{i}", chunks, indexes) for i, (chunks, indexes) in enumerate(shape)]
    order = schedule(tables, threads)
    assert sorted(j.chunk.path for j in order) == sorted(j.chunk.path for t in tables for j in t)
    for t in tables:
        mine = [j.chunk.index for j in order if j.table is t[0].table] if t else []
        assert mine == sorted(mine)


@settings(max_examples=300, deadline=None)
@given(shape=tables_strategy, threads=st.integers(1, 6))
def test_the_end_is_within_one_job_of_the_perfect_split(
    shape: list[tuple[list[tuple[int, int]], int]], threads: int
) -> None:
    """Graham's bound for a list schedule: no loader idles while jobs wait,
    so the restore ends at most one job (a chunk and its table's index build)
    after the total work split evenly."""
    tables = [table(f"t{i}", chunks, indexes) for i, (chunks, indexes) in enumerate(shape)]
    jobs = [j for t in tables for j in t]
    end, _ = run(schedule(tables, threads), threads)
    total = sum(map(chunk_cost, jobs)) + sum(index_cost(t[0].table) for t in tables if t)
    longest = max((chunk_cost(j) + index_cost(j.table) for j in jobs), default=0.0)
    assert end <= total / threads + longest + 1e-9


def benchmark_tables() -> list[list[ChunkJob]]:
    """The benchmark's dump at scale 1.0 (benchmarks/dataset.py): rows and raw
    bytes per chunk as its manifest gives them."""
    return [
        table("documents", [(16_667, 42_196_361), (16_667, 42_217_269), (16_666, 42_214_358)]),
        table("events_log", [(300_000, 13_000_000)]),
        table("legacy_latin1", [(200_000, 6_000_000)]),
        table("orders", [(150_000, 57_000_000)] * 3, indexes=2),
        table("order_items", [(1_000_000, 51_000_000)]),
    ]


def test_the_indexed_table_ends_early_enough_for_its_build_to_overlap() -> None:
    """The trace that motivated the schedule: round-robin left the orders
    table's last chunk to the end, and its index build ran alone. Now it ends
    before the other loader runs out of chunks, and the whole ends earlier."""
    tables = benchmark_tables()
    old_end, old = run(round_robin(tables), 2)
    new_end, new = run(schedule(tables, 2), 2)
    assert old["d.orders"] == old_end  # the control: round-robin ends on the index build
    assert new["d.orders"] < new_end
    assert new_end < old_end

