"""``osidump keygen``: a signing key pair, or an age identity, in files."""

from __future__ import annotations

import click
from osidump.engine.seal.keygen import write_age_identity, write_signing_keys

from .errors import handle_errors
from .messages import say


@click.command("keygen")
@click.argument("prefix")
@click.option(
    "--age",
    "age_identity",
    is_flag=True,
    help="Write an age identity (PREFIX.identity) and recipient (PREFIX.recipient) "
    "for --encrypt-to-file / --identity, instead of a signing key.",
)
@click.option(
    "--comment", default="", help="Comment on the verify key line (default: PREFIX and date)."
)
@handle_errors
def keygen_command(prefix: str, age_identity: bool, comment: str) -> None:
    """Write a new Ed25519 signing key to PREFIX.key (mode 0600) and its verify
    key to PREFIX.pub. Never overwrites a file. See docs/SECURITY.md."""
    if age_identity:
        keys = write_age_identity(prefix)
        say(f"wrote {keys.secret_path} (secret, 0600) and {keys.public_path}")
        say(f"recipient: {keys.public_id}")
        say(
            f"export with --encrypt-to-file {keys.public_path}; "
            f"restore with --identity {keys.secret_path} (keep a copy offline)"
        )
        return
    keys = write_signing_keys(prefix, comment=comment)
    say(f"wrote {keys.secret_path} (secret, 0600) and {keys.public_path}")
    say(f"key id: {keys.public_id}")
    say(
        f"export with --sign-key {keys.secret_path}; "
        f"verify and restore with --verify-key {keys.public_path}"
    )
