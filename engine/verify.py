"""``verify``: check a dump without a server, as strictly as restore would.

The manifest is validated field by field; every schema file is read, matched
against its digest and every statement in it checked (``restore_plan``);
every chunk is read in full: present, a regular file, sha256 of the stored
bytes, digest of the decompressed content, sizes, row count, row lengths, and
for version-1 chunks the INSERT grammar of every line. All problems are
collected (not just the first), so the report names every damaged chunk.

Memory: ``threads`` chunk streams (``chunk_reader.py``); version-1 lines are
held one at a time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .chunk_reader import V1_MAX_LINE, ChunkStream, verify_stream
from .config import RestoreConfig
from .errors import OsidumpError
from .manifest import ChunkEntry, Manifest, TableEntry, load_manifest
from .restore_plan import plan_restore
from .sql_chunk import HEADER, LineGrammar, count_rows
from .storage import Storage


@dataclass
class TableReport:
    database: str
    table: str
    chunks: int
    rows: int
    stored_bytes: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class VerifyReport:
    manifest: Manifest
    tables: list[TableReport]
    problems: list[str]  # dump-level: schema files and their statements

    @property
    def ok(self) -> bool:
        return not self.problems and all(t.ok for t in self.tables)

    def all_problems(self) -> list[str]:
        return self.problems + [p for t in self.tables for p in t.problems]


def check_chunk(
    storage: Storage, manifest: Manifest, db: str, table: TableEntry, chunk: ChunkEntry
) -> None:
    """Read one chunk to the end and check it; raises IntegrityError."""
    label = f"{db}.{table.name} chunk {chunk.index} ({chunk.path})"
    if manifest.encoding == "tsv":
        verify_stream(
            ChunkStream(storage, chunk, label=label, max_row=int(chunk.max_row_bytes or 0))
        )
        return
    grammar = LineGrammar(table.name, [c.name for c in table.columns if not c.generated])
    stream = ChunkStream(storage, chunk, label=label, max_row=V1_MAX_LINE)
    rows = 0
    with stream:
        for number, line in enumerate(stream.lines(V1_MAX_LINE)):
            if number == 0:
                if line.rstrip(b";") != HEADER:
                    raise stream.damaged("does not start with the chunk header")
            elif not grammar.check(line):
                raise stream.damaged(
                    f"line {number + 1} is not an INSERT of literals into its own table"
                )
            else:
                rows += count_rows(line)
    stream.finish(rows=rows)


def verify_dump(storage: Storage, *, threads: int = 2) -> VerifyReport:
    manifest = load_manifest(storage)  # raises for missing / invalid manifests
    problems: list[str] = []
    for db in manifest.databases:
        try:
            plan_restore(storage, manifest, RestoreConfig(source_databases=(db.name,)))
        except OsidumpError as exc:
            problems.append(f"{db.name}: {exc.message}")
    reports: list[TableReport] = []
    jobs: list[tuple[TableReport, TableEntry, ChunkEntry]] = []
    for db in manifest.databases:
        for t in db.tables:
            report = TableReport(db.name, t.name, len(t.chunks), t.rows, t.stored_bytes)
            reports.append(report)
            jobs.extend((report, t, c) for c in t.chunks)
    lock = threading.Lock()

    def run(job: tuple[TableReport, TableEntry, ChunkEntry]) -> None:
        report, table, chunk = job
        try:
            check_chunk(storage, manifest, report.database, table, chunk)
        except OsidumpError as exc:
            with lock:
                report.problems.append(exc.message)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(run, jobs))
    for r in reports:
        r.problems.sort()
    return VerifyReport(manifest=manifest, tables=reports, problems=problems)
