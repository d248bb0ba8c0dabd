"""Accounts, roles and grants: read from a server, carried as data, applied to
another, as MySQL Shell's ``dumpInstance``/``loadDump`` do with ``users``.

How export and restore call this:

- ``export --users`` (``export/run.py``): after the snapshot is taken
  (accounts are not transactional, so they are read once, by the
  coordinator, like the schema), ``read_accounts(conn, include, exclude)``;
  ``[a.to_dict() for a in accounts]`` is stored as ``users.json``
  (``format/users_file.py``), whose digest the manifest lists.
- ``restore --users``: when the plan is made (``restore/plan.py``, before
  anything runs), ``Account.from_dict`` validates every entry as untrusted
  input (ManifestError, exit 5, on anything but one account's own
  CREATE USER/ROLE and GRANT statements); ``--include-users`` and
  ``--exclude-users`` filter with ``select_accounts``; the plan lists the
  accounts. The restore's first step compares them with the target
  (``check_flavor``), and its last (``restore/objects.py``) runs
  ``apply_accounts(conn, accounts)`` after tables, views and routines exist
  (a table or routine grant needs its object); it returns what was created
  and what skipped.

What is read: every account in ``mysql.user`` except the server's own
(``SYSTEM_ACCOUNTS``, MariaDB's ``PUBLIC``) and, unless an include pattern
names ``root`` itself, the root accounts the installer makes (localhost,
127.0.0.1, ::1 and the server's host name); rows the server ignores (host
names under skip_name_resolve: SHOW CREATE USER finds no such account) are
left out too. Per account: ``SHOW CREATE
USER`` (so a password travels as the server's hash, never in clear; MySQL is
asked for hashes in hex), ``SHOW GRANTS``, and the default roles (MariaDB
reports them as ``SET DEFAULT ROLE`` rows of SHOW GRANTS; MySQL in
``mysql.default_roles``, and its SHOW CREATE USER's ``DEFAULT ROLE`` clause is
cut out and set after the grants instead, since it names other accounts).

The syntax differs: MariaDB writes ``IDENTIFIED VIA plugin USING 'hash'``,
roles without a host and one default role (``SET DEFAULT ROLE r FOR a``);
MySQL writes ``IDENTIFIED WITH 'plugin' AS 0x...``, roles as accounts with a
host and ``SET DEFAULT ROLE r1, r2 TO a``. Accounts carry the flavor they
were read from and are only applied to the same flavor. Tested against
MariaDB 10.11; the MySQL path (reading ``mysql.role_edges``, the hex hashes,
the DEFAULT ROLE cut) is unit-tested on MySQL 8.0 output but has not run
against a MySQL server here.

Applying is ``IF NOT EXISTS`` per account: an account that already exists on
the target is left exactly as it is (not its password, not its grants) and
reported as skipped; a new one is created, then given its grants and default
roles. Roles are created before users, all accounts before any grant.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pymysql

from .connection import execute, query_all, quote_ident, server_flavor
from .errors import ConfigError, ManifestError, OsidumpError, ServerError, from_server_error

# The server's own accounts: never read, never applied.
SYSTEM_ACCOUNTS = frozenset(
    {
        ("mariadb.sys", "localhost"),
        ("mysql.sys", "localhost"),
        ("mysql.session", "localhost"),
        ("mysql.infoschema", "localhost"),
        ("PUBLIC", ""),  # MariaDB 10.11's pseudo-role for grants to everyone
    }
)
# Made by the installer; read only when an include pattern names the user.
INSTALLER_USERS = ("root", "mysql")
INSTALLER_HOSTS = ("localhost", "127.0.0.1", "::1")
FLAVORS = ("mariadb", "mysql")
MAX_STATEMENT = 65536
ER_NONEXISTING_GRANT = 1133
MAX_GRANTS = 10000


@dataclass(frozen=True)
class Account:
    """One account or role and what recreates it. ``host`` is ``""`` for a
    MariaDB role. Statements hold passwords only as the server's hashes."""

    user: str
    host: str
    is_role: bool
    flavor: str  # the syntax of the statements: "mariadb" or "mysql"
    create: str  # CREATE USER ... / CREATE ROLE ...
    grants: tuple[str, ...] = ()
    default_roles: tuple[tuple[str, str], ...] = ()  # (user, host) of roles

    def label(self) -> str:
        return account_sql(self.user, self.host, self.is_role and self.flavor == "mariadb")

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "host": self.host,
            "role": self.is_role,
            "flavor": self.flavor,
            "create": self.create,
            "grants": list(self.grants),
            "default_roles": [list(r) for r in self.default_roles],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Account:
        """An account from a dump: untrusted. Every statement must be exactly
        this account's CREATE USER/ROLE or a GRANT to it alone, with no
        comment, no second statement, no other grantee and no password in
        clear; else ManifestError."""
        if not isinstance(data, dict):
            raise _bad("an account entry is not an object")
        user, host = data.get("user"), data.get("host")
        role, flavor = data.get("role"), data.get("flavor")
        create, grants = data.get("create"), data.get("grants")
        defaults = data.get("default_roles", [])
        if not (isinstance(user, str) and isinstance(host, str) and isinstance(role, bool)):
            raise _bad("an account entry has no user, host or role flag of the right type")
        where = f"account {account_sql(user, host, False)}"
        if not 0 < len(user) <= 128 or len(host) > 255 or (user, host) in SYSTEM_ACCOUNTS:
            raise _bad(f"{where}: not an account that can be restored")
        if flavor not in FLAVORS:
            raise _bad(f"{where}: unknown flavor {flavor!r}")
        if role and flavor == "mariadb" and host:
            raise _bad(f"{where}: a MariaDB role has no host")
        if not isinstance(create, str) or not isinstance(grants, list):
            raise _bad(f"{where}: create must be a string and grants a list")
        if len(grants) > MAX_GRANTS or not all(isinstance(g, str) for g in grants):
            raise _bad(f"{where}: grants must be at most {MAX_GRANTS} strings")
        if not isinstance(defaults, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
            for r in defaults
        ):
            raise _bad(f"{where}: default_roles must be a list of [user, host] pairs")
        account = cls(
            user=user,
            host=host,
            is_role=role,
            flavor=flavor,
            create=create,
            grants=tuple(grants),
            default_roles=tuple((r[0], r[1]) for r in defaults),
        )
        check_create(account)
        for grant in account.grants:
            check_grant(account, grant)
        if flavor == "mariadb" and len(account.default_roles) > 1:
            raise _bad(f"{where}: MariaDB has one default role per account")
        return account


@dataclass
class AccountsReport:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # existed on the target: left as they were
    grants: int = 0


def _bad(message: str) -> ManifestError:
    return ManifestError(
        f"users in the dump: {message}",
        hint="the dump's account list is damaged or was altered; restore without --users",
    )


def account_sql(user: str, host: str, bare: bool) -> str:
    """```user`@`host```, or ```role``` for a MariaDB role."""
    return quote_ident(user) if bare else f"{quote_ident(user)}@{quote_ident(host)}"


# --- choosing accounts ----------------------------------------------------------


def _pattern(text: str) -> tuple[str, str]:
    user, _, host = text.partition("@")
    strip = "`'\""
    return user.strip().strip(strip), (host.strip().strip(strip) if host else "*")


def _matches(patterns: Iterable[str], user: str, host: str) -> bool:
    for text in patterns:
        u, h = _pattern(text)
        if fnmatch.fnmatchcase(user, u) and fnmatch.fnmatchcase(host, h):
            return True
    return False


def selected(
    user: str,
    host: str,
    include: Sequence[str],
    exclude: Sequence[str],
    *,
    server_host: str = "",
) -> bool:
    """Whether ``user@host`` is taken, for ``user@host`` glob patterns (``*``,
    ``?``; a pattern without ``@`` means any host; ``%`` is literal, as in a
    host name). No include pattern means every account that is not the
    server's own."""
    if (user, host) in SYSTEM_ACCOUNTS:
        return False
    if user in INSTALLER_USERS and host in (*INSTALLER_HOSTS, server_host):
        asked = any(_pattern(p)[0] == user for p in include)
        if not asked:
            return False
    if include and not _matches(include, user, host):
        return False
    return not _matches(exclude, user, host)


def select_accounts(
    accounts: Iterable[Account], include: Sequence[str], exclude: Sequence[str]
) -> list[Account]:
    """Filter accounts read from a dump (restore's --include-users/--exclude-users)."""
    return [a for a in accounts if selected(a.user, a.host, include, exclude)]


def unmatched_pattern(accounts: Sequence[Account], include: Sequence[str]) -> str | None:
    """The first ``--include-users`` pattern that names none of ``accounts``:
    a typo there would otherwise make a backup or a restore without the
    account it was meant to carry."""
    for pattern in include:
        if not select_accounts(accounts, (pattern,), ()):
            return pattern
    return None


# --- reading --------------------------------------------------------------------


def read_accounts(
    conn: Any, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[Account]:
    """Every selected account of the server behind ``conn``: roles first,
    then users, each sorted by name."""
    flavor, _ = server_flavor(conn)
    server_host = str(query_all(conn, "SELECT @@hostname", context="reading the host name")[0][0])
    if flavor == "mysql":
        # Hashes of caching_sha2_password hold bytes that are not text (8.0.17+).
        # (Before 8.0.17 the variable does not exist, and hashes are printable.)
        with contextlib.suppress(OsidumpError):
            execute(conn, "SET SESSION print_identified_with_as_hex = ON", context="")
        rows = query_all(conn, "SELECT User, Host FROM mysql.user", context="listing accounts")
        roles = {
            (_text(u), _text(h))
            for u, h in query_all(
                conn,
                "SELECT FROM_USER, FROM_HOST FROM mysql.role_edges UNION "
                "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles",
                context="listing roles",
            )
        }
        listed = [(_text(u), _text(h), (_text(u), _text(h)) in roles) for u, h in rows]
    else:
        rows = query_all(
            conn, "SELECT User, Host, is_role FROM mysql.user", context="listing accounts"
        )
        listed = [(_text(u), _text(h), _text(r) == "Y") for u, h, r in rows]
    chosen = [
        (u, h, r) for u, h, r in listed if selected(u, h, include, exclude, server_host=server_host)
    ]
    chosen.sort(key=lambda a: (not a[2], a[0], a[1]))
    accounts = []
    for user, host, is_role in chosen:
        try:
            accounts.append(_read_one(conn, flavor, user, host, is_role))
        except ServerError as exc:
            # A row the server itself ignores (a host name under
            # skip_name_resolve): "no matching row", so no account to copy.
            if exc.code != ER_NONEXISTING_GRANT:
                raise
    return accounts


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


def _read_one(conn: Any, flavor: str, user: str, host: str, is_role: bool) -> Account:
    bare = is_role and flavor == "mariadb"
    who = account_sql(user, host, bare)
    context = f"reading account {who}"
    if bare:
        create = f"CREATE ROLE {quote_ident(user)}"
    else:
        create = _text(query_all(conn, f"SHOW CREATE USER {who}", context=context)[0][0])
    grants: list[str] = []
    defaults: list[tuple[str, str]] = []
    for (row,) in query_all(conn, f"SHOW GRANTS FOR {who}", context=context):
        text = _text(row)
        if flavor == "mariadb" and text.upper().startswith("SET DEFAULT ROLE"):
            name = _tokens(text)[3]  # SET DEFAULT ROLE <role> FOR <account>
            defaults.append((_unquote(name), ""))
        else:
            grants.append(text)
    if flavor == "mysql":
        create = cut_default_role_clause(create)
        defaults = [
            (_text(u), _text(h))
            for u, h in query_all(
                conn,
                "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles "
                "WHERE USER = %s AND HOST = %s ORDER BY 1, 2",
                (user, host),
                context=context,
            )
        ]
    return Account(
        user=user,
        host=host,
        is_role=is_role,
        flavor=flavor,
        create=create,
        grants=tuple(grants),
        default_roles=tuple(defaults),
    )


# --- checking statements --------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<id>`(?:[^`]|``)*`)
    |(?P<str>'(?:[^'\\]|\\.|'')*')
    |(?P<hex>0[xX][0-9A-Fa-f]+|[xX]'[0-9A-Fa-f]*')
    |(?P<word>[A-Za-z0-9_$]+)
    |(?P<punct>[@.,()*=])
    |(?P<bad>.)""",
    re.S | re.X,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int

    @property
    def word(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _scan(sql: str) -> list[_Tok]:
    """Tokens of one account statement; anything that could hide a second
    statement or change the meaning unseen (a comment, a ``;``, a double
    quote whose meaning depends on sql_mode) is refused."""
    if len(sql) > MAX_STATEMENT:
        raise _bad("a statement is longer than any account statement can be")
    out: list[_Tok] = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "bad"
        if kind == "bad":
            raise _bad(f"a statement holds {m.group()!r}, which no account statement needs")
        if kind != "ws":
            out.append(_Tok(kind, m.group(), m.start(), m.end()))
    return out


def _tokens(sql: str) -> list[str]:
    return [t.text for t in _scan(sql)]


def _unquote(text: str) -> str:
    if text[:1] == "`":
        return text[1:-1].replace("``", "`")
    if text[:1] == "'":
        return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", text[1:-1])
    return text


def _name(tok: _Tok) -> str | None:
    return _unquote(tok.text) if tok.kind in ("id", "str", "word") else None


def _account_at(toks: list[_Tok], i: int) -> tuple[str, str | None, int]:
    """The account at ``toks[i]``: (user, host or None, index after it)."""
    user = _name(toks[i]) if i < len(toks) else None
    if user is None:
        raise _bad("a statement does not name its account where it should")
    if i + 1 < len(toks) and toks[i + 1].text == "@":
        host = _name(toks[i + 2]) if i + 2 < len(toks) else None
        if host is None:
            raise _bad("a statement names an account without its host")
        return user, host, i + 3
    return user, None, i + 1


def _is_this(account: Account, user: str, host: str | None) -> bool:
    if account.is_role and account.flavor == "mariadb":
        return host is None and user == account.user
    return user == account.user and host == account.host


def _check_tail(account: Account, toks: list[_Tok], what: str) -> None:
    """What follows the account: options for it alone (no second account,
    no password in clear: ``BY 'x'`` and ``PASSWORD('x')`` are clear text,
    ``BY PASSWORD 'hash'``, ``USING 'hash'`` and ``AS 'hash'`` are not)."""
    for j, tok in enumerate(toks):
        nxt = toks[j + 1] if j + 1 < len(toks) else None
        if tok.text in (",", "@"):
            raise _bad(f"{what} for {account.label()} names another account")
        clear = (tok.word == "BY" and nxt is not None and nxt.kind == "str") or (
            tok.word == "PASSWORD" and nxt is not None and nxt.text == "("
        )
        if clear or tok.word == "RANDOM":
            raise _bad(f"{what} for {account.label()} holds a password that is not a hash")


def check_create(account: Account) -> None:
    toks = _scan(account.create)
    words = [t.word for t in toks[:2]]
    kind = "ROLE" if account.is_role and account.flavor == "mariadb" else "USER"
    if words != ["CREATE", kind]:
        raise _bad(f"the create statement for {account.label()} is not CREATE {kind}")
    i = 2
    if [t.word for t in toks[2:5]] == ["IF", "NOT", "EXISTS"]:
        i = 5
    user, host, i = _account_at(toks, i)
    if not _is_this(account, user, host):
        raise _bad(f"the create statement for {account.label()} names another account")
    if kind == "ROLE" and i != len(toks):
        raise _bad(f"the create statement for {account.label()} has more than CREATE ROLE")
    _check_tail(account, toks[i:], "the create statement")


def check_grant(account: Account, grant: str) -> None:
    toks = _scan(grant)
    if not toks or toks[0].word != "GRANT":
        raise _bad(f"a grant of {account.label()} is not a GRANT statement")
    depth, to = 0, -1
    for j, tok in enumerate(toks):
        depth += {"(": 1, ")": -1}.get(tok.text, 0)
        if depth == 0 and tok.word == "TO":
            to = j
            break
    if to < 0:
        raise _bad(f"a grant of {account.label()} has no TO")
    if account.flavor == "mariadb" and to + 1 < len(toks) and toks[to + 1].word == "PUBLIC":
        raise _bad(f"a grant of {account.label()} is to PUBLIC")
    user, host, i = _account_at(toks, to + 1)
    if not _is_this(account, user, host):
        raise _bad(f"a grant of {account.label()} is to another account")
    _check_tail(account, toks[i:], "a grant")


def cut_default_role_clause(create: str) -> str:
    """MySQL's SHOW CREATE USER includes ``DEFAULT ROLE `r`@`%`, ...``: cut
    it out (the roles are set after every account exists)."""
    toks = _scan(create)
    for j in range(len(toks) - 1):
        if toks[j].word == "DEFAULT" and toks[j + 1].word == "ROLE":
            k = j + 2
            while True:
                _, _, k = _account_at(toks, k)
                if k < len(toks) and toks[k].text == ",":
                    k += 1
                    continue
                break
            end = toks[k].start if k < len(toks) else len(create)
            return (create[: toks[j].start] + create[end:]).strip()
    return create


def _if_not_exists(account: Account) -> str:
    """The create statement with IF NOT EXISTS (checked: it is one account's)."""
    toks = _scan(account.create)
    if [t.word for t in toks[2:5]] == ["IF", "NOT", "EXISTS"]:
        return account.create
    cut = toks[1].end
    return account.create[:cut] + " IF NOT EXISTS" + account.create[cut:]


def default_role_sql(account: Account) -> str | None:
    if not account.default_roles:
        return None
    if account.flavor == "mariadb":
        return f"SET DEFAULT ROLE {quote_ident(account.default_roles[0][0])} FOR {account.label()}"
    roles = ", ".join(account_sql(u, h, False) for u, h in account.default_roles)
    return f"SET DEFAULT ROLE {roles} TO {account.label()}"


# --- applying -------------------------------------------------------------------


def check_flavor(accounts: Sequence[Account], target_flavor: str) -> None:
    others = sorted({a.flavor for a in accounts} - {target_flavor})
    if others:
        raise ConfigError(
            f"the accounts were read from {others[0]} and the target is {target_flavor}: "
            "their CREATE USER and GRANT syntax differs",
            hint="restore without --users and create the accounts by hand on the target",
        )


def apply_accounts(conn: Any, accounts: Sequence[Account]) -> AccountsReport:
    """Create the accounts that do not exist on the target, then give them
    their grants and default roles; leave existing ones alone."""
    flavor, _ = server_flavor(conn)
    check_flavor(accounts, flavor)
    for account in accounts:  # checked again: they may not have come through from_dict
        check_create(account)
        for grant in account.grants:
            check_grant(account, grant)
    report = AccountsReport()
    created: list[Account] = []
    for account in sorted(accounts, key=lambda a: not a.is_role):
        exists = query_all(
            conn,
            "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
            (account.user, account.host),
            context=f"looking for account {account.label()}",
        )
        if exists:
            report.skipped.append(account.label())
            continue
        _run(conn, _if_not_exists(account), f"creating account {account.label()}")
        report.created.append(account.label())
        created.append(account)
    for account in created:
        for grant in account.grants:
            _run(conn, grant, f"granting to {account.label()}")
            report.grants += 1
    for account in created:
        sql = default_role_sql(account)
        if sql is not None:
            _run(conn, sql, f"setting the default role of {account.label()}")
    return report


def _run(conn: Any, sql: str, context: str) -> None:
    """Run one account statement. The error names the account, never the
    statement (it holds a password hash)."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc
