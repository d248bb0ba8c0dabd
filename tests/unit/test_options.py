"""Connection settings: flags > environment > .env file > option file > defaults."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from click.testing import CliRunner
from osidump.cli.errors import EXIT_CODES, exit_code_for
from osidump.cli.main import cli
from osidump.cli.options import PROMPT, ConnectionResolver, parse_env_file
from osidump.engine import errors as e


def resolver(tmp_path: Path, flags: dict[str, object] | None = None, env: dict[str, str] | None = None,
             dotenv: str | None = None, mycnf: str | None = None) -> ConnectionResolver:
    f: dict[str, object] = dict(flags or {})
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
        f["env_file"] = str(tmp_path / ".env")
    if mycnf is not None:
        (tmp_path / "my.cnf").write_text(mycnf)
        f["defaults_file"] = str(tmp_path / "my.cnf")
    else:
        f["defaults_file"] = None
    return ConnectionResolver(f, environ=env or {})


def test_defaults_are_the_mysql_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.my.cnf
    cfg = resolver(tmp_path).config()
    assert (cfg.host, cfg.port, cfg.user, cfg.password) == ("127.0.0.1", 3306, getpass.getuser(), "")


def test_order_flags_env_dotenv_optionfile(tmp_path: Path) -> None:
    mycnf = "[client]\nhost=cnf-host\nport=1111\nuser=cnf-user\npassword=cnf-pw\nsocket=/cnf.sock\n"
    dotenv = "DB_HOST=dotenv-host\nDB_PORT=2222\nDB_USERNAME=dotenv-user\n"
    env = {"DB_HOST": "laravel-env-host", "OSIDUMP_HOST": "osidump-env-host"}
    r = resolver(tmp_path, flags={"user": "flag-user"}, env=env, dotenv=dotenv, mycnf=mycnf)
    cfg = r.config()
    assert cfg.user == "flag-user"  # flag beats everything
    assert cfg.host == "osidump-env-host"  # OSIDUMP_* beats DB_*
    assert cfg.port == 2222  # .env beats the option file
    assert cfg.password == "cnf-pw" and cfg.socket == "/cnf.sock"  # option file fills the rest


def test_dotenv_syntax(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nexport DB_HOST=db.internal\nDB_PASSWORD=\"p#ss word\"\nDB_USERNAME='app'\n"
        "DB_DATABASE=osikatu # trailing comment\nEMPTY=\nBROKEN LINE\n"
    )
    values = parse_env_file(str(tmp_path / ".env"))
    assert values["DB_HOST"] == "db.internal"
    assert values["DB_PASSWORD"] == "p#ss word"
    assert values["DB_USERNAME"] == "app"
    assert values["DB_DATABASE"] == "osikatu"
    assert values["EMPTY"] == ""


def test_missing_env_file_and_option_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(e.ConfigError, match="env-file"):
        ConnectionResolver({"env_file": str(tmp_path / "nope")}, environ={}).config()
    with pytest.raises(e.ConfigError, match="defaults-file"):
        ConnectionResolver({"defaults_file": str(tmp_path / "nope")}, environ={}).config()


def test_password_never_in_repr_or_describe(tmp_path: Path) -> None:
    cfg = resolver(tmp_path, flags={"password": "hunter2"}).config()
    assert "hunter2" not in repr(cfg) and "hunter2" not in cfg.describe()


def test_bare_p_prompts_without_echo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    captured = {}

    def fake_connect(config: object) -> object:  # stop before the network
        captured["password"] = config.password  # type: ignore[attr-defined]
        raise e.ConnectionFailed("stop here")

    monkeypatch.setattr("osidump.cli.main.connect", fake_connect)
    result = CliRunner().invoke(cli, ["ping", "-p", "-h", "127.0.0.1"], input="typed-secret\n")
    assert captured["password"] == "typed-secret"
    assert "typed-secret" not in result.output
    assert result.exit_code == 3


def test_password_flag_value_warns(tmp_path: Path) -> None:
    r = resolver(tmp_path, flags={"password": PROMPT})
    assert r.flags["password"] == PROMPT
    result = CliRunner().invoke(cli, ["ping", "--password=abc", "-P", "1"])
    assert "process list" in result.output


def test_version_and_help() -> None:
    from osidump.engine import __version__

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"osidump {__version__}"
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("export", "restore", "verify", "inspect", "ping"):
        assert command in result.output


def test_every_error_class_has_a_distinct_documented_exit_code() -> None:
    assert exit_code_for(e.AuthenticationFailed("x")) == 3
    assert exit_code_for(e.ConnectionLost("x")) == 8
    assert exit_code_for(e.DestinationNotEmpty("x")) == 6
    assert exit_code_for(e.IncompleteDump("x")) == 5
    assert exit_code_for(e.OsidumpError("x")) == 1
    codes = {code for _, code in EXIT_CODES}
    assert codes == {2, 3, 4, 5, 6, 7, 8, 9, 130}
