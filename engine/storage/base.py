"""One storage interface for dumps: local directories, S3, and memory (tests).

A dump is a flat namespace of relative POSIX names ("manifest.json",
"data/db/t/000001.sql.zst"). Every name is validated by :func:`validate_name`
before any file or object is opened, so a hostile manifest cannot make osidump
read or write outside the dump.

Writers are two-phase: bytes go to a :class:`WriteStream`, and only
``commit()`` makes the object visible under its name (local: temp file, fsync,
rename; S3: complete the multipart upload). ``abort()`` leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol

from ..errors import (
    DestinationNotEmpty,
    IntegrityError,
    ManifestError,
    ObjectNotFound,
    StorageError,
)

_PARTIAL = ".partial"  # suffix of a local writer's temp file until commit
_SEGMENT = re.compile(r"^[A-Za-z0-9._@%+=,-]+$")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe relative name inside a dump, else raise.

    Rejects absolute paths, ``..`` and ``.`` segments, backslashes, empty
    segments and characters outside a conservative set (identifiers are
    percent-encoded into names by the exporter, so nothing legitimate needs more).
    """
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise ManifestError(f"unsafe path in dump: {name!r}")
    if name.startswith("/") or "\\" in name or "\x00" in name:
        raise ManifestError(f"unsafe path in dump: {name!r} (absolute or odd characters)")
    for segment in name.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise ManifestError(f"unsafe path in dump: {name!r} (leaves the dump)")
    return name


class WriteStream(Protocol):
    """A pending object. Nothing is visible until ``commit``."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


def write_whole(stream: WriteStream, data: bytes) -> None:
    """``data`` into ``stream``, then commit; aborted on any failure, so the
    object appears whole or not at all."""
    try:
        stream.write(data)
        stream.commit()
    except BaseException:
        stream.abort()
        raise


class Storage(ABC):
    """Where a dump lives. Implementations: LocalStorage, S3Storage, MemoryStorage."""

    @abstractmethod
    def describe(self) -> str:
        """A human-readable location, e.g. a path or s3://bucket/prefix."""

    @abstractmethod
    def open_write(self, name: str) -> WriteStream:
        """Start writing ``name``; the object appears only on commit."""

    @abstractmethod
    def open_read(self, name: str) -> BinaryIO:
        """A binary stream of ``name``; raises ObjectNotFound if absent."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    def delete_many(self, names: Sequence[str]) -> None:
        """Delete several objects; backends with a batch call use it (S3:
        DeleteObjects, 1,000 keys a request). Missing names are not an error."""
        for name in names:
            self.delete(name)

    def list_children(self) -> list[str]:
        """The first-level names that hold objects (the dumps of a location),
        sorted. Backends override this to avoid listing every object (S3: one
        delimited listing, not every chunk)."""
        return sorted({name.split("/", 1)[0] for name in self.list() if "/" in name})

    def check_location(self) -> None:
        """Raise ObjectNotFound if the location itself is missing, where a
        backend can tell: a local directory that does not exist is a typo
        (``list``/``prune`` of a cron path), not an empty location. An S3
        prefix always exists once its bucket does (a missing bucket fails on
        the first request)."""
        return None

    def settings(self) -> dict[str, str]:
        """How objects are stored (S3: region, encryption, storage class), for
        the manifest and ``inspect``. Never secrets. Empty for local storage."""
        return {}

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Committed names under ``prefix``, sorted."""

    @abstractmethod
    def delete(self, name: str) -> None: ...

    def put(self, name: str, data: bytes) -> None:
        """Write a whole object atomically."""
        write_whole(self.open_write(name), data)

    def get(self, name: str) -> bytes:
        with self.open_read(name) as stream:
            return stream.read()

    @abstractmethod
    def child(self, name: str) -> Storage:
        """The storage rooted at ``name`` inside this one (a dump inside a
        location that holds many dumps)."""

    def clear(self) -> None:
        """Delete every object (a failed export's leftovers). Backends with
        uncommitted temp objects remove those too."""
        self.delete_many(self.list())

    def ensure_empty(self) -> None:
        """Refuse to export over an existing dump or other files."""
        names = self.list()
        if names:
            raise DestinationNotEmpty(
                f"{self.describe()} is not empty ({len(names)} objects, e.g. {names[0]})"
            )


# A dump holds the database's data: private to its owner whatever the umask.
FILE_MODE = 0o600
DIR_MODE = 0o700


def _private_dirs(path: str) -> None:
    """Create ``path`` and missing parents as 0700 (makedirs' mode is masked
    by the umask, so set it explicitly on what was created)."""
    missing: list[str] = []
    current = path
    while current and not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    for created in missing:
        os.chmod(created, DIR_MODE)


class _LocalWriteStream:
    """Temp file beside the target; commit = flush, fsync, rename, fsync dir.
    Files are created 0600 (O_EXCL: never through an existing name or link)."""

    def __init__(self, final_path: str, display: str):
        self._final = final_path
        self._tmp = final_path + _PARTIAL
        self._display = display
        _private_dirs(os.path.dirname(final_path))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)  # a dead writer's leftover
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        assert self._file is not None, "write after commit/abort"
        try:
            self._file.write(data)
        except OSError as exc:
            self.abort()
            raise StorageError(f"writing {self._display}: {exc.strerror or exc}") from exc

    def commit(self) -> None:
        assert self._file is not None, "commit after commit/abort"
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            os.replace(self._tmp, self._final)
            _fsync_dir(os.path.dirname(self._final))
        except OSError as exc:
            self.abort()
            raise StorageError(f"writing {self._display}: {exc.strerror or exc}") from exc

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


def _holds_a_file(path: str) -> bool:
    return any(files for _dir, _subdirs, files in os.walk(path))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage(Storage):
    """A directory on a local filesystem."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def describe(self) -> str:
        return self.root

    def _path(self, name: str) -> str:
        return os.path.join(self.root, *validate_name(name).split("/"))

    def open_write(self, name: str) -> WriteStream:
        try:
            return _LocalWriteStream(self._path(name), f"{self.root}/{name}")
        except OSError as exc:
            raise StorageError(
                f"cannot write to {self.root}: {exc.strerror or exc}",
                hint="check the --output directory exists or can be created and is writable",
            ) from exc

    def open_read(self, name: str) -> BinaryIO:
        """Open a regular file inside the dump. No symbolic link is followed
        (in the name's folders or the file itself), and a FIFO, socket or
        device is refused without blocking: the dump is untrusted input."""
        parts = validate_name(name).split("/")
        try:
            fd = _open_inside(self.root, parts)
        except FileNotFoundError as exc:
            raise ObjectNotFound(
                f"{name} is missing from {self.root}", hint="the dump is damaged or incomplete"
            ) from exc
        except _NotRegular as exc:
            raise IntegrityError(
                f"{name} in {self.root} is {exc}, not a regular file",
                hint="the dump was altered: do not restore it",
            ) from exc
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise IntegrityError(
                    f"{name} in {self.root} is reached through a symbolic link",
                    hint="the dump was altered: do not restore it",
                ) from exc
            raise StorageError(f"cannot read {self.root}/{name}: {exc.strerror or exc}") from exc
        return os.fdopen(fd, "rb")

    def exists(self, name: str) -> bool:
        try:
            os.close(_open_inside(self.root, validate_name(name).split("/")))
        except (OSError, _NotRegular):
            return False
        return True

    def check_location(self) -> None:
        if not os.path.isdir(self.root):
            what = "is not a directory" if os.path.lexists(self.root) else "does not exist"
            raise ObjectNotFound(
                f"{self.root} {what}",
                hint="check the path: the directory that holds the dumps, e.g. /backups",
            )

    def list_children(self) -> list[str]:
        """Subdirectories that hold at least one file (an empty directory is no dump)."""
        try:
            entries = [e for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot list {self.root}: {exc.strerror or exc}") from exc
        return sorted(e.name for e in entries if _holds_a_file(e.path))

    def list(self, prefix: str = "") -> list[str]:
        if not os.path.isdir(self.root):
            return []
        found: list[str] = []
        for dirpath, _dirs, files in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            for f in files:
                if f.endswith(_PARTIAL):
                    continue  # a writer's uncommitted temp file: not an object
                name = f if rel == "." else f"{rel.replace(os.sep, '/')}/{f}"
                if name.startswith(prefix):
                    found.append(name)
        return sorted(found)

    def clear(self) -> None:
        """Remove every file under the root, uncommitted temp files included."""
        for dirpath, _dirs, files in os.walk(self.root, topdown=False):
            for f in files:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, f))
            if dirpath != self.root:
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(name))

    def child(self, name: str) -> Storage:
        return LocalStorage(self._path(name))


class _NotRegular(Exception):
    pass


def _open_inside(root: str, parts: list[str]) -> int:
    """A read-only descriptor of ``root/parts...``, walking one folder at a time
    with O_NOFOLLOW so no link inside the dump is followed; the file must be a
    regular file (opened non-blocking, so a FIFO cannot hang the reader)."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    dir_fd = os.open(root, flags | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, flags | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = nxt
        fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
            if stat.S_ISDIR(info.st_mode):
                kind = "a folder"
            raise _NotRegular(kind)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _MemoryWriteStream:
    def __init__(self, objects: dict[str, bytes], key: str):
        self._objects = objects
        self._key = key
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._parts.append(bytes(data))

    def commit(self) -> None:
        self._objects[self._key] = b"".join(self._parts)

    def abort(self) -> None:
        self._parts = []


class MemoryStorage(Storage):
    """An in-memory store for tests (a named fake: nothing persists). A child
    shares the parent's objects under a key prefix."""

    def __init__(self, objects: dict[str, bytes] | None = None, prefix: str = ""):
        self.objects: dict[str, bytes] = {} if objects is None else objects
        self.prefix = prefix

    def _key(self, name: str) -> str:
        return self.prefix + validate_name(name)

    def describe(self) -> str:
        return f"memory://{self.prefix}"

    def open_write(self, name: str) -> WriteStream:
        return _MemoryWriteStream(self.objects, self._key(name))

    def open_read(self, name: str) -> BinaryIO:
        import io

        try:
            return io.BytesIO(self.objects[self._key(name)])
        except KeyError as exc:
            raise ObjectNotFound(f"{name} is missing from the dump") from exc

    def exists(self, name: str) -> bool:
        return self._key(name) in self.objects

    def list(self, prefix: str = "") -> list[str]:
        n = len(self.prefix)
        return sorted(k[n:] for k in self.objects if k.startswith(self.prefix + prefix))

    def delete(self, name: str) -> None:
        self.objects.pop(self._key(name), None)

    def child(self, name: str) -> Storage:
        return MemoryStorage(self.objects, self._key(name) + "/")


def open_storage(
    location: str,
    *,
    s3_endpoint_url: str | None = None,
    s3_region: str | None = None,
    s3_profile: str | None = None,
    s3_sse: str | None = None,
    s3_sse_kms_key_id: str | None = None,
    s3_storage_class: str | None = None,
) -> Storage:
    """Storage for a CLI location: ``s3://bucket/prefix`` or a local path.
    The ``s3_*`` settings are S3Config's; None leaves a setting to boto3 (its
    environment, profile and defaults). Local paths ignore them."""
    if location.startswith("s3://"):
        from .s3 import S3Config, S3Storage  # boto3 is imported only when needed

        config = S3Config.from_url(
            location,
            endpoint_url=s3_endpoint_url,
            region=s3_region,
            profile=s3_profile,
            sse=s3_sse,
            sse_kms_key_id=s3_sse_kms_key_id,
            storage_class=s3_storage_class,
        )
        return S3Storage(config)
    return LocalStorage(location)


def iter_blocks(stream: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while True:
        block = stream.read(size)
        if not block:
            return
        yield block
