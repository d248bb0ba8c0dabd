"""Reading and writing the small text files that hold keys.

Every key file osidump reads is a text file of lines: blank lines and lines
starting with ``#`` are comments, every other line is one key. The readers cap
the size (a key file is a few hundred bytes) and never echo a secret line in an
error: a bad line is named by its number.

New files are created exclusively (an existing key is never overwritten) with
their final mode set at creation and again with ``fchmod``, so a secret key is
never readable by others, whatever the umask, not even for an instant.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .errors import KeyFileError

MAX_KEY_FILE = 64 * 1024  # a keyring of hundreds of keys still fits


def read_key_file(path: str, *, what: str) -> str:
    """The text of the key file at ``path``; ``what`` names it in errors
    ("signing key", "age identity file", ...)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_FILE + 1)
    except FileNotFoundError as exc:
        raise KeyFileError(f"{what} {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise KeyFileError(f"{what} {path} is a directory, not a key file") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{what} {path} is larger than {MAX_KEY_FILE} bytes: not a key file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyFileError(f"{what} {path} is not a text file") from exc


def key_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for every line that is not blank or a comment."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def readable_by_others(path: str) -> bool:
    """Whether the group or others may read ``path`` (the CLI warns about a
    secret key file that is: ssh refuses such keys; osidump only warns, since
    secrets mounted by orchestrators are often 0644 inside a private volume)."""
    try:
        return bool(os.stat(path).st_mode & 0o044)
    except OSError:
        return False


def write_new_file(path: str, text: str, *, mode: int) -> None:
    """Create ``path`` holding ``text`` with ``mode``; refuse if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise KeyFileError(
            f"{path} already exists", hint="choose another prefix; osidump never overwrites a key"
        ) from exc
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror or exc}") from exc
    try:
        os.fchmod(fd, mode)  # the umask may have removed bits; set exactly this mode
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1  # owned by f now
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise KeyFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
