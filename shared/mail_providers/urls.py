"""Reading a mail API's URL: `scheme://KEY@host[:port][/path][?…]`, or `ID:SECRET@…`; the host
(and port) is where requests go, over HTTPS, plain HTTP only to a loopback host."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from shared.settings.config_values import loopback


@dataclass(frozen=True)
class KeyUrl:
    """A mail API's URL read: where requests go, the key (and the id before it, if any), the
    path without its slashes, and the query."""

    endpoint: str
    host: str
    key: str = field(repr=False)
    account: str | None
    path: str
    query: dict[str, str]


def read_key_url(url: str, example: str, allowed: frozenset[str] = frozenset()) -> KeyUrl:
    """The URL of an API whose key goes before the host (`example` shows the form in errors),
    with query parameters among `allowed`; ValueError never echoing a credential."""
    parts = urlsplit(url)
    kind = parts.scheme
    if not parts.hostname:
        raise ValueError(f"{kind}:// needs the API's host, e.g. {example}")
    if not parts.username:
        raise ValueError(f"{kind}:// needs the API key before the host, e.g. {example}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"{kind}:// needs a port from 1 to 65535 after the host, or none")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - allowed
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
    scheme = "http" if loopback(parts.hostname) else "https"
    key, account = unquote(parts.username), None
    if parts.password is not None:
        key, account = unquote(parts.password), key
    return KeyUrl(
        f"{scheme}://{parts.netloc.rpartition('@')[2]}",
        parts.hostname,
        key,
        account,
        parts.path.strip("/"),
        query,
    )


def read_lone_key_url(url: str, example: str, allowed: frozenset[str] = frozenset()) -> KeyUrl:
    """`read_key_url` for an API whose URL holds its key alone before the host and no path."""
    read = read_key_url(url, example, allowed)
    if read.account is not None or read.path:
        kind = example.partition(":")[0]
        raise ValueError(f"{kind}:// takes the key alone before the host, no path, e.g. {example}")
    return read


def bearer(key: str) -> dict[str, str]:
    """The header of an API that takes its key as a Bearer token."""
    return {"Authorization": f"Bearer {key}"}
