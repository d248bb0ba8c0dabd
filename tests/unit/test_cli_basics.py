"""The command line's frame: --version/--help, usage errors, one-line errors,
documented exit codes, tracebacks only with -v, and command registration."""

from __future__ import annotations

import inspect
import json

import click
import pytest
from click.testing import CliRunner
from osidump.cli.errors import EXIT_CODES, exit_code_for, handle_errors
from osidump.cli.main import cli
from osidump.engine import __version__
from osidump.engine import errors as e


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"osidump {__version__}\n"


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("ping", "export", "restore", "verify", "inspect"):
        assert f"\n  {command} " in result.output


def test_dash_h_is_host_as_in_mysql_and_help_is_long_only() -> None:
    assert CliRunner().invoke(cli, ["ping", "--help"]).exit_code == 0
    result = CliRunner().invoke(cli, ["ping", "-h"])  # -h needs a host
    assert result.exit_code == 2 and "requires an argument" in result.output


@pytest.mark.parametrize(
    "args", [["ping", "--no-such-flag"], ["no-such-command"], ["--log-format", "xml", "ping"]]
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


# The table in README.md ("Exit codes"), one row per error class.
DOCUMENTED = [
    (e.ConfigError, 2),
    (e.ConnectionFailed, 3),
    (e.AuthenticationFailed, 3),
    (e.AuthPluginFailed, 3),
    (e.ObjectNotFound, 4),
    (e.IntegrityError, 5),
    (e.ManifestError, 5),
    (e.IncompleteDump, 5),
    (e.StorageError, 6),
    (e.DestinationNotEmpty, 6),
    (e.ConsistencyError, 7),
    (e.ServerError, 8),
    (e.ConnectionLost, 8),
    (e.PrivilegeError, 8),
    (e.RowTooLarge, 8),
    (e.TargetExists, 9),
    (e.Interrupted, 130),
]


@pytest.mark.parametrize(("cls", "code"), DOCUMENTED, ids=[c.__name__ for c, _ in DOCUMENTED])
def test_documented_exit_codes(cls: type[e.OsidumpError], code: int) -> None:
    assert exit_code_for(cls("x")) == code


def test_every_engine_error_class_has_a_documented_code() -> None:
    """A new error class must not silently become 'internal error' (1)."""
    classes = {
        obj
        for _, obj in inspect.getmembers(e, inspect.isclass)
        if issubclass(obj, e.OsidumpError) and obj is not e.OsidumpError
    }
    assert classes == {cls for cls, _ in DOCUMENTED}
    assert exit_code_for(e.OsidumpError("x")) == 1
    assert {code for _, code in EXIT_CODES} == {2, 3, 4, 5, 6, 7, 8, 9, 130}


def make_group(failure: BaseException) -> click.Group:
    """A group shaped like ``cli`` (same ctx.obj) with one command that raises."""

    @click.group()
    @click.option("-v", "--verbose", is_flag=True)
    @click.option("--log-format", default="text")
    @click.pass_context
    def group(ctx: click.Context, verbose: bool, log_format: str) -> None:
        ctx.obj = {"verbose": verbose, "log_format": log_format}

    @group.command("fail")
    @handle_errors
    def fail() -> None:
        raise failure

    return group


def run(failure: BaseException, *flags: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(make_group(failure), [*flags, "fail"])
    return result.exit_code, result.stdout, result.stderr


def test_osidump_error_is_one_line_and_a_hint_on_stderr() -> None:
    code, out, err = run(e.TargetExists("table `a`.`b` already\nexists", hint="use --on-existing"))
    assert code == 9 and out == ""
    assert err == "osidump: error: table `a`.`b` already exists\n  hint: use --on-existing\n"


def test_traceback_only_with_verbose() -> None:
    code, _, err = run(e.StorageError("disk full"))
    assert code == 6 and "Traceback" not in err
    code, _, err = run(e.StorageError("disk full"), "-v")
    assert code == 6 and "Traceback" in err and err.rstrip().endswith("hint: " + e.StorageError.default_hint)


def test_unexpected_exception_is_an_internal_error_exit_1() -> None:
    code, _, err = run(ValueError("boom\nsecond line"))
    assert code == 1
    assert err.splitlines()[0] == "osidump: internal error: ValueError: boom second line"
    assert "Traceback" not in err and len(err.splitlines()) == 2
    code, _, err = run(ValueError("boom"), "-v")
    assert code == 1 and "Traceback" in err


def test_ctrl_c_exits_130_with_one_line() -> None:
    code, _, err = run(KeyboardInterrupt())
    assert code == 130 and err.startswith("osidump: interrupted:") and "Traceback" not in err
    assert run(e.Interrupted("stopped"))[0] == 130


def test_click_exceptions_pass_through() -> None:
    code, _, err = run(click.UsageError("bad usage"))
    assert code == 2 and "bad usage" in err


def test_json_log_format_reports_errors_as_one_json_object() -> None:
    code, _, err = run(e.ConnectionLost("server went away"), "--log-format", "json")
    assert code == 8
    (line,) = err.splitlines()
    event = json.loads(line)
    assert event["event"] == "error" and event["exit_code"] == 8
    assert event["error"] == "ConnectionLost" and event["retryable"] is True
    assert event["message"] == "server went away" and event["hint"]


def test_follow_use_help_says_it_does_not_load_into_d() -> None:
    """A user who followed the old hint (--follow-use "starts in the -d
    database") found everything in the script's own databases and -d empty."""
    result = CliRunner().invoke(cli, ["load-sql", "--help"], terminal_width=400)
    text = " ".join(result.output.split())
    assert "not into -d" in text and "Nothing loads such a script under another name" in text
