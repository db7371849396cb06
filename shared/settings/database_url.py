"""DATABASE_URL: the forms it may take, checked at start, and the one set of psycopg connect
arguments that every PostgreSQL connection is made with (the engines, the relay's LISTEN)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import make_conninfo

from shared.settings.variable import ConfigError

POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")
# libpq's values (PostgreSQL 14 and later).
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
# Unless the URL says otherwise: seconds to reach each host, and TCP keepalives, which notice
# a server that vanished without closing its connections (a machine that died).
DEFAULTS: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 30}
CONNECT_TIMEOUT = 5
# psycopg's words around libpq's: before each refusal, and before its list of every host tried.
_WRAPPING = "connection failed: "
_SEVERAL_ATTEMPTS = "\nMultiple connection attempts failed. All failures were:\n"
_ATTEMPT = re.compile(r"- host: .*?, hostaddr: (?:None|'[^']*'): (.*)")
# What a server says of a role, a password or a database name it does not know (PostgreSQL's
# words): waiting cannot heal it, an operator must.
_LASTING = re.compile(
    r'FATAL: (?:password authentication failed for user "[^"]*"'
    r'|role "[^"]*" does not exist|database "[^"]*" does not exist)\Z'
)
# A password as a driver's message could echo it: in a URL's user part, or `password=…`.
_PASSWORDS = re.compile(
    r"(?P<url>://[^:/@\s]*:)[^@\s]*(?=@)|(?P<setting>password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\S+)"
)


def normalise_database_url(url: str) -> str:
    """The URL on the psycopg 3 driver, in a form SQLAlchemy parses; sqlite URLs as they are.

    libpq's `postgresql://u@h1:p1,h2:p2/db` (what Patroni and managed services hand out) is
    rewritten as `postgresql+psycopg://u@/db?host=h1,h2&port=p1,p2`: the same servers, in the
    same order, in the form SQLAlchemy can read, so a user can paste what their provider gave.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("not a database URL: use postgresql://… or sqlite:///…")
    if scheme == "sqlite":
        return url
    if scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"unsupported scheme {scheme!r}; use postgresql:// or sqlite://")
    normalised = f"postgresql+psycopg://{rest}"
    arguments = connect_arguments(normalised)
    parts = urlsplit(normalised)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return normalised
    listed: dict[str, str] = {k: arguments[k] for k in ("host", "port") if k in arguments}
    moved = urlencode(listed, safe=",:/")
    query = f"{moved}&{parts.query}" if parts.query else moved
    at = "@" if userinfo else ""
    return f"postgresql+psycopg://{userinfo}{at}{parts.path or '/'}?{query}"


def connect_arguments(url: str, *, connect_timeout: int = CONNECT_TIMEOUT) -> dict[str, Any]:
    """psycopg.connect's keyword arguments for a PostgreSQL URL in any of libpq's forms.

    Hosts come from the URL's host part (`h1:p1,h2:p2`) or from `?host=` (`h1,h2` with
    `port=p1,p2`, or `h1:p1&host=h2:p2`); libpq tries them in order and, with
    `target_session_attrs=read-write`, keeps the first that takes writes: the primary.
    Raises ValueError saying what is wrong, never repeating the password.
    """
    parts = urlsplit(url)
    userinfo, at, netloc_hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":") if at else ("", "", "")
    options: dict[str, str] = {}
    query_hosts: list[str] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "host":
            query_hosts.extend(value.split(","))
        elif name in options:
            raise ValueError(f"{name} is given twice")
        else:
            options[name] = value
    if netloc_hosts and query_hosts:
        raise ValueError("hosts are named both before the path and in ?host=: name them once")
    hosts = [
        _host_and_port(entry)
        for entry in (netloc_hosts.split(",") if netloc_hosts else query_hosts)
    ]
    inline = [port for _, port in hosts if port is not None]
    if inline and "port" in options:
        raise ValueError("ports are given both as host:port and as ?port=: use one form")
    ports = [port or "" for _, port in hosts] if inline else options.pop("port", "").split(",")
    _check_ports(ports, len(hosts))
    attrs = options.get("target_session_attrs", "any")
    if attrs not in SESSION_ATTRS:
        raise ValueError(f"target_session_attrs must be one of {', '.join(SESSION_ATTRS)}")
    arguments: dict[str, Any] = {
        **DEFAULTS,
        "connect_timeout": connect_timeout,
        **options,
        "host": ",".join(host for host, _ in hosts),
        "port": ",".join(ports),
        "user": unquote(user),
        "password": unquote(password) if colon else "",
        "dbname": unquote(parts.path.lstrip("/")),
    }
    arguments = {name: value for name, value in arguments.items() if value != ""}
    try:
        make_conninfo("", **arguments)
    except psycopg.ProgrammingError as error:
        raise ValueError(masked(str(error).strip())) from None
    return arguments


def _host_and_port(entry: str) -> tuple[str, str | None]:
    """`host`, `host:port`, `[v6]:port` or a socket directory, as (host, port or None)."""
    if entry.startswith("[") and "]" in entry:
        host, _, rest = entry[1:].partition("]")
        return host, rest.removeprefix(":") or None
    if entry.startswith("/") or entry.count(":") != 1:
        return entry, None
    host, _, port = entry.partition(":")
    return host, port or None


def _check_ports(ports: list[str], hosts: int) -> None:
    """libpq's rule: one port for every host, or one port for all of them."""
    if len(ports) > 1 and len(ports) != max(hosts, 1):
        raise ValueError(f"{len(ports)} ports for {hosts} hosts: give one port, or one per host")
    for port in ports:
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"not a port: {port!r}")


def masked(text: str) -> str:
    """`text` with any password in it (a URL's, or a `password=` setting's) replaced by ***."""
    return _PASSWORDS.sub(lambda found: f"{found['url'] or found['setting']}***", text)


def driver_message(error: BaseException) -> str:
    """What the database driver said of a failure, on one line, passwords masked.

    A connection refused is quoted as the server (or the network) said it, for each host tried
    (`connection to server at "h", port 5432 failed: FATAL: role "x" does not exist`): psycopg's
    `connection failed:` wrapping, its summary of several attempts and libpq's indented hints
    are left out. `outpost check`, the API and the relay all say it so.
    """
    cause = getattr(error, "orig", None) or error
    return masked("; ".join(_attempts(cause))) or type(cause).__name__


class DatabaseRefused(ConfigError):
    """A database that refuses the role, its password or the database name: a process refused
    so at start stops (exit 2, which the units never restart) rather than wait for ever."""


def refused_for_good(variable: str, error: BaseException) -> DatabaseRefused | None:
    """The refusal to stop with, naming `variable`, when every host tried refused the role,
    its password or the database name; None for what waiting may heal (a server down, a
    network, a server still starting)."""
    attempts = _attempts(getattr(error, "orig", None) or error)
    if attempts and all(_LASTING.search(attempt) for attempt in attempts):
        return DatabaseRefused(f"{variable}: {driver_message(error)}")
    return None


def _attempts(cause: BaseException) -> list[str]:
    """What the driver said of each host it tried, one line each."""
    first, _, several = str(cause).partition(_SEVERAL_ATTEMPTS)
    attempts = [found[1] for found in map(_ATTEMPT.fullmatch, several.splitlines()) if found]
    return [said for said in map(_quoted, attempts or [first]) if said]


def _quoted(text: str) -> str:
    """One attempt's message on one line: its own lines, not libpq's indented hints."""
    lines = [line for line in text.splitlines() if line and not line[0].isspace()]
    return " ".join(" ".join(lines).removeprefix(_WRAPPING).split())


def shown(url: str) -> str:
    """`url` as it may be printed: without its password, on the scheme an operator writes."""
    if not url.startswith("postgresql+psycopg://"):
        return masked(url)
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return masked(urlunsplit(parts._replace(netloc=f"{user}@{hosts}" if user else hosts)))
