"""Connection settings: flags > environment > .env file > option file > defaults."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from osidump.cli.main import OsidumpGroup, cli
from osidump.cli.options import (
    ConnectionResolver,
    connection_options,
    parse_env_file,
    parse_option_file,
)
from osidump.engine import errors as e

from tests.support.servers import free_port

ENV_NAMES = [
    "OSIDUMP_HOST", "OSIDUMP_PORT", "OSIDUMP_USER", "OSIDUMP_PASSWORD", "OSIDUMP_SOCKET",
    "OSIDUMP_DATABASE", "OSIDUMP_SSL_CA", "OSIDUMP_SSL_MODE", "DB_HOST", "DB_PORT",
    "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD", "DB_SOCKET", "MYSQL_ATTR_SSL_CA",
]


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ~/.my.cnf and no connection variables from the machine running the tests."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def resolver(tmp_path: Path, flags: dict[str, Any] | None = None, env: dict[str, str] | None = None,
             dotenv: str | None = None, mycnf: str | None = None) -> ConnectionResolver:
    f: dict[str, Any] = dict(flags or {})
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
        f["env_file"] = str(tmp_path / ".env")
    if mycnf is not None:
        (tmp_path / "my.cnf").write_text(mycnf)
        f["defaults_file"] = str(tmp_path / "my.cnf")
    return ConnectionResolver(f, environ=env or {})


def test_defaults_are_the_mysql_clients(tmp_path: Path) -> None:
    cfg = resolver(tmp_path).config()
    assert (cfg.host, cfg.port, cfg.user, cfg.password, cfg.socket, cfg.database) == (
        "127.0.0.1", 3306, getpass.getuser(), "", None, None)
    assert cfg.ssl_mode == "PREFERRED"


def test_each_layer_beats_the_ones_below(tmp_path: Path) -> None:
    """Peel the layers off one at a time: flag, OSIDUMP_*, DB_*, .env, option file, default."""
    layers: list[tuple[str, dict[str, Any]]] = [
        ("flag-host", {"flags": {"host": "flag-host"}}),
        ("osidump-env", {"env": {"OSIDUMP_HOST": "osidump-env"}}),
        ("laravel-env", {"env": {"DB_HOST": "laravel-env"}}),
        ("dotenv-host", {"dotenv": "DB_HOST=dotenv-host\n"}),
        ("cnf-host", {"mycnf": "[client]\nhost=cnf-host\n"}),
    ]
    for top in range(len(layers)):
        kwargs: dict[str, Any] = {"flags": {}, "env": {}}
        for _, layer in layers[top:]:
            for key, value in layer.items():
                if isinstance(value, dict):
                    kwargs[key] = {**kwargs[key], **value}
                else:
                    kwargs[key] = value
        assert resolver(tmp_path, **kwargs).config().host == layers[top][0]
    assert resolver(tmp_path).config().host == "127.0.0.1"


def test_settings_mix_across_layers(tmp_path: Path) -> None:
    mycnf = "[client]\nhost=cnf-host\nport=1111\nuser=cnf-user\npassword=cnf-pw\nsocket=/cnf.sock\n"
    dotenv = "DB_HOST=dotenv-host\nDB_PORT=2222\nDB_USERNAME=dotenv-user\n"
    env = {"DB_HOST": "laravel-env-host", "OSIDUMP_HOST": "osidump-env-host"}
    cfg = resolver(tmp_path, flags={"user": "flag-user"}, env=env, dotenv=dotenv, mycnf=mycnf).config()
    assert cfg.user == "flag-user"
    assert cfg.host == "osidump-env-host"
    assert cfg.port == 2222
    assert cfg.password == "cnf-pw" and cfg.socket == "/cnf.sock"


def test_environment_beats_the_env_file_whatever_the_prefix(tmp_path: Path) -> None:
    r = resolver(tmp_path, env={"DB_USERNAME": "env-user"}, dotenv="OSIDUMP_USER=file-user\n")
    assert r.config().user == "env-user"
    r = resolver(tmp_path, dotenv="DB_USERNAME=laravel\nOSIDUMP_USER=osidump\n")
    assert r.config().user == "osidump"


def test_laravel_env_file_and_localhost_stays_tcp(tmp_path: Path) -> None:
    dotenv = ("APP_NAME=Shop\nDB_CONNECTION=mysql\nDB_HOST=localhost\nDB_PORT=3307\n"
              "DB_DATABASE=shop\nDB_USERNAME=shop_app\nDB_PASSWORD=\"s3 cr#t\"\n")
    r = resolver(tmp_path, dotenv=dotenv)
    cfg = r.config()
    assert (cfg.host, cfg.port, cfg.user, cfg.password, cfg.database) == (
        "localhost", 3307, "shop_app", "s3 cr#t", "shop")
    assert cfg.socket is None  # pymysql connects to localhost over TCP
    assert resolver(tmp_path, dotenv=dotenv + "DB_SOCKET=/run/mysqld/mysqld.sock\n").config().socket == (
        "/run/mysqld/mysqld.sock")


def test_dotenv_syntax(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\n  export   DB_HOST=db.internal\nDB_PASSWORD=\"p#ss \\\"word\\\"\"\nDB_USERNAME='a\\pp'\n"
        "DB_DATABASE=osikatu # trailing comment\nEMPTY=\nBROKEN LINE\nURL=mysql://x?a=b\r\n"
        "SPACED = value \nDB_PORT=${OTHER}\n"
    )
    values = parse_env_file(str(tmp_path / ".env"))
    assert values["DB_HOST"] == "db.internal"
    assert values["DB_PASSWORD"] == 'p#ss "word"'
    assert values["DB_USERNAME"] == "a\\pp"  # single quotes: literal
    assert values["DB_DATABASE"] == "osikatu"
    assert values["EMPTY"] == ""
    assert values["URL"] == "mysql://x?a=b"
    assert values["SPACED"] == "value"
    assert values["DB_PORT"] == "${OTHER}"  # no expansion
    assert "BROKEN LINE" not in values and "BROKEN" not in values


def test_dotenv_quoted_values_may_span_lines(tmp_path: Path) -> None:
    """A Laravel .env often holds a PEM key over several quoted lines; its
    lines are part of the value, never settings of their own."""
    (tmp_path / ".env").write_text(
        'JWT_KEY="-----BEGIN KEY-----\nDB_PASSWORD=not-this\n  line \\"two\\"\n-----END KEY-----"\n'
        "NOTE='a\nDB_HOST=nor-this'\nDB_PASSWORD=secret\n"
    )
    values = parse_env_file(str(tmp_path / ".env"))
    assert values["JWT_KEY"] == '-----BEGIN KEY-----\nDB_PASSWORD=not-this\n  line "two"\n-----END KEY-----'
    assert values["NOTE"] == "a\nDB_HOST=nor-this"
    assert values["DB_PASSWORD"] == "secret"
    assert "DB_HOST" not in values


@pytest.mark.parametrize("opening", ['DB_PASSWORD="s3cret', "DB_PASSWORD='s3cret"])
def test_dotenv_quote_never_closed_names_the_line_not_the_value(tmp_path: Path, opening: str) -> None:
    (tmp_path / ".env").write_text(f"DB_HOST=db\n{opening}\nDB_USERNAME=app\n")
    with pytest.raises(e.ConfigError) as caught:
        parse_env_file(str(tmp_path / ".env"))
    assert "line 2" in caught.value.message and "DB_PASSWORD" in caught.value.message
    assert "s3cret" not in caught.value.message and "s3cret" not in caught.value.hint


def test_empty_values_count_as_unset(tmp_path: Path) -> None:
    r = resolver(tmp_path, env={"DB_HOST": ""}, dotenv="DB_HOST=\n", mycnf="[client]\nhost=cnf-host\n")
    assert r.config().host == "cnf-host"


def test_option_file_reads_like_mysql(tmp_path: Path) -> None:
    (tmp_path / "extra.cnf").write_text("[client]\nssl_mode=required\n")
    (tmp_path / "my.cnf").write_text(
        "# comment\n; comment\n[mysqld]\nport=9999\n"
        "[client]\n  host = db.example  \nport=3307\nuser = 'app'\n"
        "password=\"pa#ss\\\\word\"\nsocket=/tmp/my.sock # trailing comment\nssl-ca=/ca.pem\n"
        "no-auto-rehash\n[mysqldump]\nuser=dumper\n[mysql]\nuser=not-read\n"
        "!include extra.cnf\n"
    )
    found = parse_option_file(str(tmp_path / "my.cnf"), explicit=True)
    assert found == {
        "host": "db.example", "port": "3307", "user": "dumper", "password": "pa#ss\\word",
        "socket": "/tmp/my.sock", "ssl_ca": "/ca.pem", "ssl_mode": "required",
    }


def test_home_my_cnf_is_read_unless_a_defaults_file_is_given(tmp_path: Path) -> None:
    (tmp_path / "home" / ".my.cnf").write_text("[client]\nuser=from-home\n")
    assert ConnectionResolver({}, environ={}).config().user == "from-home"
    assert resolver(tmp_path, mycnf="[client]\nuser=explicit\n").config().user == "explicit"


def test_default_database_order(tmp_path: Path) -> None:
    mycnf = "[client]\ndatabase=cnf_db\n"
    assert resolver(tmp_path, mycnf=mycnf).default_database == "cnf_db"
    assert resolver(tmp_path, mycnf=mycnf, dotenv="DB_DATABASE=file_db\n").default_database == "file_db"
    env = {"DB_DATABASE": "laravel_db"}
    assert resolver(tmp_path, env=env, dotenv="DB_DATABASE=file_db\n").default_database == "laravel_db"
    env["OSIDUMP_DATABASE"] = "osidump_db"
    r = resolver(tmp_path, env=env)
    assert r.default_database == "osidump_db"
    assert r.config().database == "osidump_db"
    assert r.config("named").database == "named"
    assert r.config().database == "osidump_db"


@pytest.mark.parametrize(
    ("flags", "env_file", "defaults_file", "needle"),
    [
        ({}, "missing.env", None, "cannot read --env-file"),
        ({}, ".", None, "cannot read --env-file"),
        ({}, None, "missing.cnf", "--defaults-file"),
        ({"port": "abc"}, None, None, "not a number"),
        ({"port": "70000"}, None, None, "out of range"),
        ({"ssl_mode": "sometimes"}, None, None, "ssl mode"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, flags: dict[str, Any], env_file: str | None,
                                        defaults_file: str | None, needle: str) -> None:
    f = dict(flags)
    if env_file:
        f["env_file"] = str(tmp_path / env_file)
    if defaults_file:
        f["defaults_file"] = str(tmp_path / defaults_file)
    with pytest.raises(e.ConfigError, match=needle) as caught:
        ConnectionResolver(f, environ={}).config()
    assert "\n" not in caught.value.message


def test_option_file_errors_never_quote_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad.cnf").write_text("password=hunter2-secret\n[client]\n")
    with pytest.raises(e.ConfigError, match="line 1") as caught:
        parse_option_file(str(tmp_path / "bad.cnf"), explicit=True)
    assert "hunter2" not in caught.value.message + caught.value.hint


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("[client]\nuser explore_op\n", r"my.cnf, line 2: user needs a value"),
        ("[client]\nhost\n", r"my.cnf, line 2: host needs a value"),
        ("[client]\nuser=a\nPort # no value\n", r"my.cnf, line 3: port needs a value"),
        ("[osidump]\nsocket /tmp/x.sock\n", r"my.cnf, line 2: socket needs a value"),
        ("[client]\ndatabase shop\n", r"my.cnf, line 2: database needs a value"),
        ("[client]\npassword Secret-words\n", r"my.cnf, line 2: password needs a value"),
        ('[client]\nuser=a\npassword "Secret-words\n', r"my.cnf, line 3: password needs a value"),
        ('[client]\nuser=a\npassword = "Secret-words\n', r"my.cnf, line 3: the value of password opens a quote"),
        ("[client]\nuser = 'Secret-words\n", r"my.cnf, line 2: the value of user opens a quote"),
    ],
)
def test_malformed_option_file_lines_are_config_errors(tmp_path: Path, body: str, needle: str) -> None:
    """`user explore_op` (no '=') and an unterminated quote were skipped, and
    osidump connected as the OS user: each is now exit 2 naming the file and
    line, never the line's text (it may hold the password)."""
    with pytest.raises(e.ConfigError, match=needle) as caught:
        resolver(tmp_path, mycnf=body).config()
    assert "\n" not in caught.value.message
    assert "Secret" not in caught.value.message + caught.value.hint
    result = CliRunner().invoke(cli, ["ping", "--defaults-file", str(tmp_path / "my.cnf")])
    assert result.exit_code == 2
    assert result.stderr.startswith("osidump: error: option file ") and "Secret" not in result.output


def test_option_file_keeps_what_the_mysql_client_accepts(tmp_path: Path) -> None:
    """Bare option names (skip-ssl, compress), unknown keys, other groups'
    lines and an empty value stay valid, as in the mysql client."""
    found = parse_option_file(_write(tmp_path, (
        "[mysqld]\nuser mysql\nskip-networking\n"
        "[client]\nskip-ssl\ncompress\nno-auto-rehash\ndefault-character-set=utf8mb4\n"
        "user=app\npassword=\nhost = 'db # one'\n"
    )), explicit=True)
    assert found == {"user": "app", "password": "", "host": "db # one"}


def test_a_bare_password_line_prompts_as_in_mysql(tmp_path: Path) -> None:
    """`password` alone in an option file makes the mysql client prompt; so does osidump."""
    (tmp_path / "my.cnf").write_text("[client]\nuser=app\npassword\n")
    seen: list[tuple[str | None, str]] = []
    args = ["show", "--defaults-file", str(tmp_path / "my.cnf")]
    result = CliRunner().invoke(resolving_group(seen), args, input="typed-secret\n")
    assert result.exit_code == 0, result.output
    assert seen == [(None, "typed-secret")] and result.output.count("Password:") == 1
    # A password from a higher layer wins over the file's request to prompt.
    seen.clear()
    result = CliRunner().invoke(resolving_group(seen), [*args, "--password=given"])
    assert result.exit_code == 0 and seen == [(None, "given")]


def _write(tmp_path: Path, body: str) -> str:
    (tmp_path / "my.cnf").write_text(body)
    return str(tmp_path / "my.cnf")


def test_password_never_in_repr_or_describe(tmp_path: Path) -> None:
    r = resolver(tmp_path, flags={"password": "hunter2"})
    cfg = r.config()
    assert cfg.password == "hunter2"
    for text in (repr(cfg), cfg.describe(), repr(r)):
        assert "hunter2" not in text


# --- through click: the -p rules -------------------------------------------------

def resolving_group(seen: list[tuple[str | None, str]]) -> click.Group:
    """A group like ``cli`` with one command that records what it resolved."""

    @click.group(cls=OsidumpGroup)
    def group() -> None:
        pass

    @group.command("show")
    @click.argument("database", required=False)
    @connection_options
    def show(database: str | None, connection: ConnectionResolver) -> None:
        cfg = connection.config(database)
        connection.config(database)  # a second call must not prompt again
        seen.append((cfg.database, cfg.password))

    return group


@pytest.mark.parametrize(
    ("args", "typed", "expected", "warns"),
    [
        (["show", "-p"], "typed-secret\n", (None, "typed-secret"), False),
        (["show", "-p", "shop"], "typed-secret\n", ("shop", "typed-secret"), False),
        (["show", "--password", "shop"], "typed-secret\n", ("shop", "typed-secret"), False),
        (["show", "-p", "-h", "127.0.0.1", "shop"], "typed-secret\n", ("shop", "typed-secret"), False),
        (["show", "-pSECRET", "shop"], "", ("shop", "SECRET"), True),
        (["show", "--password=SECRET", "shop"], "", ("shop", "SECRET"), True),
        (["show", "--", "-p"], "", ("-p", ""), False),  # after --, "-p" is the DATABASE
    ],
)
def test_password_flag_reads_like_mysql(args: list[str], typed: str, expected: tuple[str | None, str],
                                        warns: bool) -> None:
    """A value only when attached; a bare -p prompts (hidden) and never eats the next word."""
    seen: list[tuple[str | None, str]] = []
    result = CliRunner().invoke(resolving_group(seen), args, input=typed)
    assert result.exit_code == 0, result.output
    assert seen == [expected]
    assert result.output.count("Password:") == (1 if typed else 0)
    assert "typed-secret" not in result.output  # hidden input is not echoed
    assert ("process list" in result.stderr) is warns
    assert "SECRET" not in result.output


def test_password_never_printed_by_a_failing_command(tmp_path: Path) -> None:
    port = str(free_port())  # nothing listens: the login fails without a server
    for extra in ([], ["-v"]):
        result = CliRunner().invoke(cli, [*extra, "ping", "-P", port, "--password=hunter2-secret"])
        assert result.exit_code == 3, result.output
        assert "hunter2-secret" not in result.output
        assert result.stderr.count("process list") == 1
    result = CliRunner().invoke(cli, ["ping", "-P", port, "-p"], input="hunter2-secret\n")
    assert result.exit_code == 3 and "hunter2-secret" not in result.output
    assert "process list" not in result.output
