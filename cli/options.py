"""Connection settings, resolved in one place.

Highest first: flags; environment (``OSIDUMP_*``, then Laravel's ``DB_*``);
``--env-file`` (a Laravel ``.env``); the ``[client]`` section (and
``[mysqldump]``/``[osidump]``) of a MySQL option file (``--defaults-file``, else
``~/.my.cnf``); then the mysql client's defaults (127.0.0.1:3306, the current
OS user, no password).
"""

from __future__ import annotations

import configparser
import functools
import getpass
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import click
from osidump.engine.config import SSL_MODES, ConnectionConfig
from osidump.engine.errors import ConfigError

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


def parse_env_file(path: str) -> dict[str, str]:
    """Read a dotenv file (Laravel's .env): KEY=VALUE lines, ``export``,
    comments, single or double quotes. No variable expansion."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise ConfigError(
            f"cannot read --env-file {path}: {exc.strerror or exc}",
            hint="check the path and permissions of the .env file",
        ) from exc
    values: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            end = value.find(quote, 1)
            value = value[1:end] if end > 0 else value[1:]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = value.split(" #", 1)[0].strip()
        values[key] = value
    return values


def parse_option_file(path: str, *, explicit: bool) -> dict[str, str]:
    """The [client], [mysqldump] and [osidump] sections of a MySQL option file."""
    if not os.path.exists(path):
        if explicit:
            raise ConfigError(f"--defaults-file {path} does not exist", hint="check the path")
        return {}
    parser = configparser.ConfigParser(allow_no_value=True, interpolation=None, strict=False)
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except (OSError, configparser.Error) as exc:
        raise ConfigError(f"cannot read option file {path}: {exc}") from exc
    found: dict[str, str] = {}
    for section in ("client", "mysqldump", "osidump"):
        if not parser.has_section(section):
            continue
        for key, value in parser.items(section):
            name = OPTION_FILE_KEYS.get(key.replace("_", "-"))
            if name and value is not None:
                found[name] = value.strip().strip("'\"")
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
        if self._config is not None:
            return self._config
        if self.flags.get("password") == PROMPT:
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
        self._config = ConnectionConfig(
            host=self.setting("host") or "127.0.0.1",
            port=port,
            user=self.setting("user") or getpass.getuser(),
            password=password,
            socket=self.setting("socket"),
            database=database or self.default_database,
            ssl_mode=ssl_mode,
            ssl_ca=self.setting("ssl_ca"),
        )
        return self._config


def _password_warning(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value != PROMPT:
        click.echo(
            "osidump: warning: a password on the command line is visible in the process list; "
            "use -p alone to be prompted, OSIDUMP_PASSWORD, or ~/.my.cnf",
            err=True,
        )
    return value


def connection_options(fn: F) -> F:
    """Add the connection flags to a command and pass it ``connection``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name, None) for name in CONNECTION_PARAMS}
        kwargs["connection"] = ConnectionResolver(flags)
        return fn(*args, **kwargs)

    options = [
        click.option("-h", "--host", default=None, help="Server host (default 127.0.0.1)."),
        click.option("-P", "--port", default=None, help="Server port (default 3306)."),
        click.option("-u", "--user", default=None, help="User (default: your OS user)."),
        click.option("-S", "--socket", default=None, help="Unix socket instead of TCP."),
        click.option(
            "-p",
            "--password",
            is_flag=False,
            flag_value=PROMPT,
            default=None,
            callback=_password_warning,
            help="Password; -p alone prompts. Prefer OSIDUMP_PASSWORD or ~/.my.cnf.",
        ),
        click.option(
            "--env-file", default=None, help="Read DB_* settings from a Laravel .env file."
        ),
        click.option(
            "--defaults-file", default=None, help="MySQL option file (default ~/.my.cnf)."
        ),
        click.option("--ssl-ca", default=None, help="CA bundle for TLS (managed databases)."),
        click.option(
            "--ssl-mode",
            default=None,
            help="DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY.",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return cast(F, wrapper)
