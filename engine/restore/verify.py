"""``verify``: check a dump without a server, as strictly as restore would.

The manifest is validated field by field; every schema file is read, matched
against its digest and every statement in it checked (``restore_plan``);
every chunk is read in full: present, a regular file, sha256 of the stored
bytes, digest of the decompressed content, sizes, row count, row lengths, and
for version-1 chunks the INSERT grammar of every line; ``users.json`` is read
and every account in it validated as ``restore --users`` would. All problems are
collected (not just the first), so the report names every damaged chunk.

Sealed dumps (``seal.opening.open_dump``): with verify keys, the manifest's
signature is checked before anything else is read. An encrypted dump is
checked as above when an identity is given (``deep``: it must be); without
one, every stored object (schema files and chunks) is read and matched
against the manifest's size and sha256 of the ciphertext, which proves every
byte intact without the key (``depth == "stored"``).

Memory: ``threads`` chunk streams (``chunk_reader.py``); version-1 lines are
held one at a time.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..config import RestoreConfig
from ..errors import IntegrityError, ObjectNotFound, OsidumpError
from ..format.chunk_reader import READ_BYTES, V1_MAX_LINE, ChunkStream, verify_stream
from ..format.manifest import ChunkEntry, Manifest, TableEntry, UsersEntry
from ..format.sql_chunk import LineGrammar, checked_lines, count_rows
from ..format.users_file import read_users
from ..seal import NO_KEYS, ReadKeys
from ..seal.opening import open_dump
from ..storage.base import Storage
from .plan import plan_restore


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
    depth: str = "content"  # "stored": encrypted, no identity: stored bytes only
    seal: dict[str, Any] = field(default_factory=dict)  # OpenedDump.seal_summary()
    accounts: int | None = None  # users.json's accounts; None: exported without --users
    users_ok: bool = True  # users.json passed (its problem is among ``problems``)

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
        for line in checked_lines(stream, grammar):
            rows += count_rows(line)
    stream.finish(rows=rows)


def check_stored(storage: Storage, path: str, size: int, sha256: str, label: str) -> None:
    """Read one stored object to the end (never past ``size``) and match its
    size and sha256 with the manifest's; raises IntegrityError."""
    digest = hashlib.sha256()
    count = 0
    try:
        with storage.open_read(path) as stream:
            while block := stream.read(READ_BYTES):
                count += len(block)
                if count > size:
                    raise IntegrityError(f"{label}: stored file is larger than the manifest says")
                digest.update(block)
    except ObjectNotFound as exc:
        raise IntegrityError(f"{label}: file is missing") from exc
    except IntegrityError as exc:  # a backend's own check (a local file that is not regular)
        raise IntegrityError(f"{label}: {exc.message}") from exc
    except OSError as exc:
        raise IntegrityError(f"{label}: read failed: {exc}") from exc
    if count != size or digest.hexdigest() != sha256:
        raise IntegrityError(f"{label}: stored bytes do not match the manifest's sha256")


def verify_dump(
    storage: Storage, *, threads: int = 2, keys: ReadKeys = NO_KEYS, deep: bool = False
) -> VerifyReport:
    """Check the dump in ``storage``. ``deep``: an encrypted dump's content
    must be checked too (an identity is required)."""
    # Raises for a missing, invalid or (with verify keys) badly signed manifest.
    opened = open_dump(storage, keys, decrypt=deep or keys.identities is not None)
    manifest, storage = opened.manifest, opened.storage
    problems: list[str] = []
    check: Callable[[Storage, Manifest, str, TableEntry, ChunkEntry], None] = check_chunk
    if opened.readable:
        for db in manifest.databases:
            try:
                plan_restore(storage, manifest, RestoreConfig(source_databases=(db.name,)))
            except OsidumpError as exc:
                problems.append(f"{db.name}: {exc.message}")
    else:
        check = _check_stored_chunk
        for db in manifest.databases:
            f = db.schema_file
            try:
                check_stored(storage, f.path, f.bytes, f.sha256, f"schema file {f.path}")
            except OsidumpError as exc:
                problems.append(f"{db.name}: {exc.message}")
    users_problem = None
    if manifest.users is not None:
        users_problem = _check_users(storage, manifest, manifest.users, readable=opened.readable)
        if users_problem is not None:
            problems.append(users_problem)
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
            check(storage, manifest, report.database, table, chunk)
        except OsidumpError as exc:
            with lock:
                report.problems.append(exc.message)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(run, jobs))
    for r in reports:
        r.problems.sort()
    return VerifyReport(
        manifest=manifest,
        tables=reports,
        problems=problems,
        depth="content" if opened.readable else "stored",
        seal=opened.seal_summary(),
        accounts=manifest.users.accounts if manifest.users is not None else None,
        users_ok=users_problem is None,
    )


def _check_users(
    storage: Storage, manifest: Manifest, entry: UsersEntry, *, readable: bool
) -> str | None:
    """users.json as restore --users would take it (digest, then every
    account validated), or only its stored bytes when it cannot be decrypted."""
    f = entry.file
    try:
        if readable:
            read_users(storage, manifest)
        else:
            check_stored(storage, f.path, f.bytes, f.sha256, f"users file {f.path}")
    except OsidumpError as exc:
        return exc.message
    return None


def _check_stored_chunk(
    storage: Storage, manifest: Manifest, db: str, table: TableEntry, chunk: ChunkEntry
) -> None:
    label = f"{db}.{table.name} chunk {chunk.index} ({chunk.path})"
    check_stored(storage, chunk.path, chunk.stored_bytes, chunk.sha256, label)
