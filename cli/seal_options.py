"""Sealing flags: ``export``'s signing and encryption keys, and the readers'
verify key and identity. Each flag also reads an ``OSIDUMP_*`` variable that
holds a *path* (or, for ``--encrypt-to``, public keys), never a secret.

Two decorators, like ``s3_options``: :func:`export_seal_options` passes
``seal`` (an engine :class:`ExportSeal`); :func:`read_key_options` passes
``keys`` (a :class:`ReadKeySettings`). Key files are loaded when the command
runs, inside its error handling, so a bad file is exit 2 with its message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click
from osidump.engine.seal import (
    ExportSeal,
    ReadKeys,
    load_identities,
    load_signing_key,
    load_verify_keys,
    recipients,
)
from osidump.engine.seal.keyfiles import readable_by_others
from osidump.engine.seal.opening import UNAUTHENTICATED_NOTE, OpenedDump

from .messages import note, warning

F = TypeVar("F", bound=Callable[..., Any])


def _warn_if_shared(path: str, what: str) -> None:
    if readable_by_others(path):
        warning(f"the {what} {path} is readable by other users; chmod 600 {path}")


class ExportSealSettings:
    """The export's ``--sign-key``/``--encrypt-to``/``--encrypt-to-file``."""

    def __init__(self, sign_key: str | None, encrypt_to: tuple[str, ...], files: tuple[str, ...]):
        self.sign_key = sign_key
        self.encrypt_to = encrypt_to
        self.files = files

    def __repr__(self) -> str:
        return (
            f"ExportSealSettings(sign_key={self.sign_key!r}, "
            f"{len(self.encrypt_to) + len(self.files)} recipient source(s))"
        )

    def load(self) -> ExportSeal:
        key = None
        if self.sign_key:
            key = load_signing_key(self.sign_key)
            _warn_if_shared(self.sign_key, "signing key")
        to = None
        if self.encrypt_to or self.files:
            to = recipients(self.encrypt_to, self.files)
        return ExportSeal(signing_key=key, recipients=to)


def export_seal_options(fn: F) -> F:
    """Add ``--sign-key``, ``--encrypt-to`` and ``--encrypt-to-file`` and pass
    ``seal``, an :class:`ExportSealSettings`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["seal"] = ExportSealSettings(
            kwargs.pop("sign_key", None),
            tuple(kwargs.pop("encrypt_to", ()) or ()),
            tuple(kwargs.pop("encrypt_to_file", ()) or ()),
        )
        return fn(*args, **kwargs)

    options = [
        click.option(
            "--sign-key",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_SIGN_KEY",
            metavar="FILE",
            help="Sign the dump's manifest with this Ed25519 key (`osidump keygen`); "
            "readers check it with --verify-key.",
        ),
        click.option(
            "--encrypt-to",
            multiple=True,
            show_envvar=True,
            envvar="OSIDUMP_ENCRYPT_TO",
            metavar="RECIPIENT",
            help="Encrypt every chunk, schema file and users.json to this age recipient (age1...); "
            "repeatable. The variable takes several, separated by spaces.",
        ),
        click.option(
            "--encrypt-to-file",
            multiple=True,
            show_envvar=True,
            envvar="OSIDUMP_ENCRYPT_TO_FILE",
            metavar="FILE",
            help="Encrypt to every recipient listed in FILE (one age1... a line); repeatable.",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return cast(F, wrapper)


class ReadKeySettings:
    """A reading command's ``--verify-key`` and ``--identity``."""

    def __init__(self, verify_key: str | None, identity: str | None):
        self.verify_key = verify_key
        self.identity = identity

    def __repr__(self) -> str:
        return f"ReadKeySettings(verify_key={self.verify_key!r}, identity={self.identity!r})"

    def load(self) -> ReadKeys:
        verify = load_verify_keys(self.verify_key) if self.verify_key else ()
        identities = None
        if self.identity:
            identities = load_identities(self.identity)
            _warn_if_shared(self.identity, "age identity file")
        return ReadKeys(verify_keys=verify, identities=identities)

    def note(self) -> None:
        """Say on stderr that the dump is unauthenticated, if no verify key is
        configured (JSON output carries ``seal.authenticated`` instead)."""
        if not self.verify_key:
            note(UNAUTHENTICATED_NOTE)


def seal_lines(opened: OpenedDump | dict[str, Any]) -> list[str]:
    """How a dump is sealed, for text output."""
    seal = opened.seal_summary() if isinstance(opened, OpenedDump) else opened
    if seal["authenticated"]:
        signed = f"signed by {seal['signed_by']} (verified)"
    elif seal["signed_by"]:
        signed = f"signed by {seal['signed_by']} (not verified: no --verify-key)"
    else:
        signed = "not signed"
    lines = [signed]
    if seal["encrypted"]:
        lines.append("encrypted to " + ", ".join(seal["recipients"]))
    return lines


def read_key_options(fn: F) -> F:
    """Add ``--verify-key`` and ``--identity`` and pass ``keys``, a
    :class:`ReadKeySettings`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["keys"] = ReadKeySettings(
            kwargs.pop("verify_key", None), kwargs.pop("identity", None)
        )
        return fn(*args, **kwargs)

    options = [
        click.option(
            "--verify-key",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_VERIFY_KEY",
            metavar="FILE",
            help="Refuse the dump (exit 5, before reading any chunk) unless its manifest is "
            "signed by a key in FILE (`osidump keygen`'s .pub). Keep FILE off the backup "
            "location.",
        ),
        click.option(
            "--identity",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_IDENTITY",
            metavar="FILE",
            help="age identity file (age-keygen's, or `osidump keygen --age`) to decrypt an "
            "encrypted dump.",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return cast(F, wrapper)
