"""Connection settings, resolved in one place.

Highest first: flags; environment (``OSIDUMP_*``, then Laravel's ``DB_*``);
``--env-file`` (a Laravel ``.env``); the ``[client]`` section (and
``[mysqldump]``/``[osidump]``) of a MySQL option file (``--defaults-file``, else
``~/.my.cnf``); then the mysql client's defaults (127.0.0.1:3306, the current
OS user, no password).
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import click
from osidump.engine.config import SSL_MODES, ConnectionConfig
from osidump.engine.errors import ConfigError
from osidump.engine.storage.base import Storage, open_storage

from .messages import warning

F = TypeVar("F", bound=Callable[..., Any])

# Setting -> names to look up, in order, in the environment and in an env file.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "host": ("OSIDUMP_HOST", "DB_HOST"),
    "port": ("OSIDUMP_PORT", "DB_PORT"),
    "user": ("OSIDUMP_USER", "DB_USERNAME"),
    "password": ("OSIDUMP_PASSWORD", "DB_PASSWORD"),
    "socket": ("OSIDUMP_SOCKET", "DB_SOCKET"),
    "database": ("OSIDUMP_DATABASE", "DB_DATABASE"),
    "ssl_ca": ("OSIDUMP_SSL_CA", "MYSQL_ATTR_SSL_CA"),
    "ssl_mode": ("OSIDUMP_SSL_MODE",),
}
OPTION_FILE_KEYS = {
    "host": "host",
    "port": "port",
    "user": "user",
    "password": "password",
    "socket": "socket",
    "database": "database",
    "ssl-ca": "ssl_ca",
    "ssl-mode": "ssl_mode",
}
CONNECTION_PARAMS = (
    "host",
    "port",
    "user",
    "password",
    "socket",
    "env_file",
    "defaults_file",
    "ssl_ca",
    "ssl_mode",
)
# -p given without a value. A string, because click converts flag values to
# the option type; no real password contains NUL bytes.
PROMPT = "\x00prompt\x00"
PASSWORD_SPELLINGS = ("-p", "--password")


def password_args_like_mysql(args: list[str]) -> list[str]:
    """Apply the mysql client's rule to a command's arguments: a password is
    taken only when attached (``-pSECRET``, ``--password=SECRET``); a bare
    ``-p``/``--password`` prompts and never swallows the next word, so
    ``osidump export -p shop`` exports ``shop`` instead of logging in with the
    password "shop" (click alone would take it as the value)."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            out.extend(args[index:])
            break
        out.append(f"--password={PROMPT}" if arg in PASSWORD_SPELLINGS else arg)
    return out


def has_connection_options(command: click.Command) -> bool:
    return any(
        isinstance(param, click.Option) and param.flag_value == PROMPT for param in command.params
    )


_DOTENV_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def _quoted(text: str, escapes: dict[str, str]) -> tuple[str, bool]:
    """A value that starts with a quote, up to its closing quote, with
    backslash escapes from ``escapes`` (an unknown escape keeps its backslash),
    and whether the closing quote was found. Shared by .env (phpdotenv's
    escapes) and option files (mysql's)."""
    quote = text[0]
    out: list[str] = []
    index = 1
    while index < len(text) and text[index] != quote:
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            index += 1
            char = escapes.get(text[index], "\\" + text[index])
        out.append(char)
        index += 1
    return "".join(out), index < len(text)


def _read_lines(path: str, *, what: str, hint: str) -> list[str]:
    """A settings file's lines, or a ConfigError that never quotes its content
    (a line may hold the password)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {what} {path}: {reason}", hint=hint) from None


def _closes(piece: str, quote: str) -> bool:
    """Whether ``piece`` (a quoted .env value's text after its opening
    quote, or a later line of it) holds the closing quote."""
    if quote == "'":
        return "'" in piece
    return _quoted(quote + piece, _DOTENV_ESCAPES)[1]


def parse_env_file(path: str) -> dict[str, str]:
    """Read a dotenv file (Laravel's .env): KEY=VALUE lines, ``export``,
    comments, single or double quotes, a quoted value over several lines (as
    phpdotenv reads a PEM key). No variable expansion. A quote that never
    closes is a ConfigError naming the file and the line it opened on, never
    the value: read on, its lines would be taken for settings."""
    lines = _read_lines(
        path, what="--env-file", hint="check the path and permissions of the .env file"
    )
    values: dict[str, str] = {}
    number = 0
    while number < len(lines):
        line = lines[number].strip()
        number += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if value[:1] in ("'", '"'):
            quote, opened = value[0], number
            # Each line is looked at once for the closing quote (a backslash
            # at a line's end escapes the newline, so every line starts
            # unescaped); the whole value is parsed once it closes.
            pieces, piece = [value], value[1:]
            while not _closes(piece, quote):
                if number == len(lines):
                    raise ConfigError(
                        f"--env-file {path} line {opened}: the value of {key} opens a quote"
                        f" ({quote}) and never closes it",
                        hint="close the quote; a quoted value may span lines",
                    )
                piece = lines[number]
                pieces.append(piece)
                number += 1
            value = "\n".join(pieces)
            if quote == "'":  # single quotes: literal
                value = value[1 : value.find("'", 1)]
            else:
                value = _quoted(value, _DOTENV_ESCAPES)[0]
        else:
            value = value.split(" #", 1)[0].strip()
        values[key] = value
    return values


OPTION_GROUPS = ("client", "mysqldump", "osidump")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "r": "\r", "s": " ", "\\": "\\", "'": "'", '"': '"'}


def _option_value(text: str, *, where: str, key: str) -> str:
    """A value as the mysql client reads it: quoted with escapes, or bare up to
    an unquoted ``#`` (so an unquoted ``pa#ss`` is ``pa``, as in mysql). A
    quote that is never closed is a ConfigError naming ``where`` (file and
    line), never the value: the client would take the quote as part of it,
    and a password that silently starts with ``"`` is a failed login later."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        value, closed = _quoted(text, _ESCAPES)
        if not closed:
            raise ConfigError(
                f"{where}: the value of {key} opens a quote ({text[0]}) and never closes it",
                hint="close the quote, or drop it: quotes are needed only around # and spaces",
            )
        return value
    return text.split("#", 1)[0].strip()


def parse_option_file(path: str, *, explicit: bool, _depth: int = 0) -> dict[str, str]:
    """The connection settings in the [client], [mysqldump] and [osidump] groups
    of a MySQL option file, later lines winning as in mysql. ``!include`` and
    ``!includedir`` are followed. Errors never quote a line (it may hold the
    password)."""
    if not os.path.exists(path):
        if explicit:
            raise ConfigError(f"--defaults-file {path} does not exist", hint="check the path")
        return {}
    lines = _read_lines(
        path, what="option file", hint="check the path and permissions, or pass --defaults-file"
    )
    found: dict[str, str] = {}
    group: str | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("!include"):
            directive, _, target = line.partition(" ")
            target = os.path.join(os.path.dirname(path), target.strip())
            if _depth >= 10 or directive not in ("!include", "!includedir"):
                raise ConfigError(f"option file {path}: bad {directive} at line {number}")
            files = [target]
            if directive == "!includedir":
                try:
                    names = os.listdir(target)
                except OSError:
                    names = []  # mysql ignores a missing include directory too
                files = sorted(os.path.join(target, n) for n in names if n.endswith(".cnf"))
            for included in files:
                found.update(parse_option_file(included, explicit=False, _depth=_depth + 1))
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ConfigError(f"option file {path} is not valid at line {number}")
            group = line[1:-1].strip().lower()
            continue
        if group is None:
            raise ConfigError(
                f"option file {path} has a setting before any [group] at line {number}",
                hint="put connection settings under [client]",
            )
        if group not in OPTION_GROUPS:
            continue
        key, sep, value = line.partition("=")
        where = f"option file {path}, line {number}"
        if not sep:
            # A bare option name (skip-ssl, compress) is valid, as in mysql;
            # one of ours always takes a value: `user explore_op` is a typo
            # that would otherwise connect as the OS user.
            words = line.split("#", 1)[0].split()
            key_name = words[0].lower().replace("_", "-") if words else ""
            if len(words) == 1 and key_name == "password":
                found["password"] = PROMPT  # as in mysql: prompt for it
            elif key_name in OPTION_FILE_KEYS:
                raise ConfigError(
                    f"{where}: {key_name} needs a value, written {key_name}=VALUE",
                    hint="every connection setting is NAME = VALUE (quote one with # or spaces)",
                )
            continue
        name = OPTION_FILE_KEYS.get(key.strip().lower().replace("_", "-"))
        if name:
            found[name] = _option_value(value, where=where, key=key.strip().lower())
    return found


def _lookup(source: Mapping[str, str], setting: str) -> str | None:
    for name in ENV_NAMES.get(setting, ()):
        value = source.get(name)
        if value:
            return value
    return None


class ConnectionResolver:
    """Resolves connection settings from flags, environment and files, once."""

    def __init__(self, flags: dict[str, Any], environ: Mapping[str, str] | None = None):
        self.flags = flags
        self.environ = os.environ if environ is None else environ
        self._config: ConnectionConfig | None = None
        self._files: tuple[dict[str, str], dict[str, str]] | None = None

    def __repr__(self) -> str:
        given = sorted(name for name, value in self.flags.items() if value is not None)
        return f"ConnectionResolver(flags given: {', '.join(given) or 'none'})"

    def _sources(self) -> tuple[dict[str, str], dict[str, str]]:
        """The env file and option file, read on first use (inside the command,
        so a bad path is reported like any other error)."""
        if self._files is None:
            env_file = self.flags.get("env_file")
            defaults = self.flags.get("defaults_file")
            self._files = (
                parse_env_file(env_file) if env_file else {},
                parse_option_file(
                    defaults or os.path.expanduser("~/.my.cnf"), explicit=bool(defaults)
                ),
            )
        return self._files

    def setting(self, name: str) -> str | None:
        flag = self.flags.get(name)
        if flag is not None and flag != PROMPT:
            return str(flag)
        env_file, option_file = self._sources()
        for value in (
            _lookup(self.environ, name),
            _lookup(env_file, name),
            option_file.get(name),
        ):
            if value:
                return value
        return None

    @property
    def default_database(self) -> str | None:
        return self.setting("database")

    def config(self, database: str | None = None) -> ConnectionConfig:
        """The resolved settings, connected to ``database`` (else the default
        database, if any). Resolved, and the password prompted for, once."""
        if self._config is None:
            self._config = self._resolve()
        chosen = database or self.default_database
        if chosen == self._config.database:
            return self._config
        return dataclasses.replace(self._config, database=chosen)

    def _resolve(self) -> ConnectionConfig:
        flag_prompts = self.flags.get("password") == PROMPT
        if flag_prompts or self.setting("password") == PROMPT:
            if not _can_prompt():
                # getpass would warn and read the password from standard input.
                asker = (
                    "-p" if flag_prompts else "a `password` line with no value in the option file"
                )
                raise ConfigError(
                    f"{asker} asks for the password at a terminal, and there is none",
                    hint="give it through OSIDUMP_PASSWORD, or password= under [client] in "
                    "~/.my.cnf or a --defaults-file",
                )
            password = click.prompt(
                "Password", hide_input=True, default="", show_default=False, err=True
            )
        else:
            password = self.setting("password") or ""
        port_text = self.setting("port") or "3306"
        try:
            port = int(port_text)
        except ValueError as exc:
            raise ConfigError(
                f"port {port_text!r} is not a number", hint="use e.g. -P 3306"
            ) from exc
        ssl_mode = (self.setting("ssl_mode") or "PREFERRED").upper()
        if ssl_mode not in SSL_MODES:
            raise ConfigError(
                f"unknown ssl mode {ssl_mode!r}", hint=f"use one of {', '.join(SSL_MODES)}"
            )
        return ConnectionConfig(
            host=self.setting("host") or "127.0.0.1",
            port=port,
            user=self.setting("user") or getpass.getuser(),
            password=password,
            socket=self.setting("socket"),
            database=self.default_database,
            ssl_mode=ssl_mode,
            ssl_ca=self.setting("ssl_ca"),
        )


# click's own prompt, as imported; click's test runner swaps in one that reads
# the runner's input, and then there is something to read from.
_CLICK_HIDDEN_PROMPT = click.termui.hidden_prompt_func


def _can_prompt() -> bool:
    """Whether the hidden prompt has a terminal: getpass reads /dev/tty (the
    controlling terminal, even when standard input is a pipe, as mysql does)
    or a terminal on standard input; without either it warns and reads the
    password from standard input."""
    if click.termui.hidden_prompt_func is not _CLICK_HIDDEN_PROMPT:
        return True
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return sys.stdin is not None and sys.stdin.isatty()
    os.close(fd)
    return True


def _password_warning(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value != PROMPT:
        warning(
            "a password on the command line is visible in the process list; "
            "use -p alone to be prompted, OSIDUMP_PASSWORD, or ~/.my.cnf"
        )
    return value


S3_PARAMS = (
    "s3_endpoint_url",
    "s3_region",
    "s3_profile",
    "s3_sse",
    "s3_sse_kms_key_id",
    "s3_storage_class",
)


class S3Settings:
    """The ``--s3-*`` flags (or their OSIDUMP_S3_* variables) of one command;
    ``open`` makes the storage for a location with them."""

    def __init__(self, values: Mapping[str, str | None]):
        self.values = {name: values.get(name) for name in S3_PARAMS}

    def __repr__(self) -> str:
        given = sorted(name for name, value in self.values.items() if value is not None)
        return f"S3Settings({', '.join(given) or 'defaults'})"

    def open(self, location: str) -> Storage:
        v = self.values
        return open_storage(
            location,
            s3_endpoint_url=v["s3_endpoint_url"],
            s3_region=v["s3_region"],
            s3_profile=v["s3_profile"],
            s3_sse=v["s3_sse"],
            s3_sse_kms_key_id=v["s3_sse_kms_key_id"],
            s3_storage_class=v["s3_storage_class"],
        )


def s3_options(fn: F) -> F:
    """Add the S3 flags to a command (each also from an OSIDUMP_S3_* variable)
    and pass it ``s3``, an :class:`S3Settings`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["s3"] = S3Settings({name: kwargs.pop(name, None) for name in S3_PARAMS})
        return fn(*args, **kwargs)

    options = [
        click.option(
            "--s3-endpoint-url",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_S3_ENDPOINT_URL",
            metavar="URL",
            help="S3-compatible endpoint (MinIO, moto, ...); default: boto3's "
            "(AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile, else AWS).",
        ),
        click.option(
            "--s3-region",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_S3_REGION",
            metavar="REGION",
            help="AWS region of the bucket; default: the profile's or AWS_REGION.",
        ),
        click.option(
            "--s3-profile",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_S3_PROFILE",
            metavar="NAME",
            help="Profile of ~/.aws/config for credentials, region and endpoint; default: "
            "AWS_PROFILE or the default profile.",
        ),
        click.option(
            "--s3-sse",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_S3_SSE",
            type=click.Choice(["AES256", "aws:kms"]),
            help="Server-side encryption of written objects: AES256 (SSE-S3) or aws:kms "
            "(SSE-KMS); default: the bucket's.",
        ),
        click.option(
            "--s3-sse-kms-key-id",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_S3_SSE_KMS_KEY_ID",
            metavar="KEY",
            help="KMS key id or ARN for --s3-sse aws:kms; default: the account's aws/s3 key.",
        ),
        click.option(
            "--s3-storage-class",
            default=None,
            show_envvar=True,
            envvar="OSIDUMP_S3_STORAGE_CLASS",
            metavar="CLASS",
            help="Storage class of written objects, e.g. STANDARD_IA for 30-day retention "
            "(GLACIER and DEEP_ARCHIVE need an S3 restore before osidump can read them).",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return cast(F, wrapper)


def user_filter_options(*, include_note: str = "") -> Callable[[F], F]:
    """``--include-users`` and ``--exclude-users``, as export and restore take
    them; ``include_note`` ends the first one's help."""

    def decorate(fn: F) -> F:
        fn = click.option(
            "--exclude-users",
            multiple=True,
            metavar="USER[@HOST]",
            help="With --users, not these accounts (globs, comma-separated).",
        )(fn)
        return click.option(
            "--include-users",
            multiple=True,
            metavar="USER[@HOST]",
            help="With --users, only these accounts: globs (* and ?), comma-separated; no @HOST "
            "means any host." + include_note,
        )(fn)

    return decorate


def connection_options(fn: F) -> F:
    """Add the connection flags to a command and pass it ``connection``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name, None) for name in CONNECTION_PARAMS}
        kwargs["connection"] = ConnectionResolver(flags)
        return fn(*args, **kwargs)

    options = [
        click.option(
            "-h", "--host", default=None, metavar="HOST", help="Server host (default 127.0.0.1)."
        ),
        click.option(
            "-P", "--port", default=None, metavar="PORT", help="Server port (default 3306)."
        ),
        click.option(
            "-u", "--user", default=None, metavar="USER", help="User (default: your OS user)."
        ),
        click.option(
            "-S", "--socket", default=None, metavar="PATH", help="Unix socket instead of TCP."
        ),
        click.option(
            "-p",
            "--password",
            is_flag=False,
            flag_value=PROMPT,
            default=None,
            callback=_password_warning,
            metavar="[PASSWORD]",
            help="-p alone prompts; a value must be attached (-pSECRET, --password=SECRET), "
            "as in mysql. Prefer OSIDUMP_PASSWORD or ~/.my.cnf.",
        ),
        click.option(
            "--env-file",
            default=None,
            metavar="PATH",
            help="Read DB_* settings from a Laravel .env file.",
        ),
        click.option(
            "--defaults-file",
            default=None,
            metavar="PATH",
            help="MySQL option file (default ~/.my.cnf).",
        ),
        click.option(
            "--ssl-ca",
            default=None,
            metavar="PATH",
            help="CA bundle to verify the server's certificate (managed databases).",
        ),
        click.option(
            "--ssl-mode",
            default=None,
            metavar="MODE",
            help="DISABLED, PREFERRED (default: TLS if the server offers it), REQUIRED, "
            "VERIFY_CA, VERIFY_IDENTITY. A socket (-S) is never TLS.",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return cast(F, wrapper)
