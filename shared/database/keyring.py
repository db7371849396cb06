"""What the database keeps of SECRET_KEY: a check value that tells a process whether its keys
open what the API seals, and the suppression list's key, sealed under SECRET_KEY.

The check value is an HMAC of a fixed label under a subkey of the key the API seals with:
never the key, nor anything it can be recovered from. The suppression list's key must not
change when SECRET_KEY does: the list's hashes are compared with those outbox rows carry, and
an erased account's entry keeps only its hash, which no new key could recompute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from shared.clock import utcnow
from shared.database.models import keyring
from shared.secrets.codes import derive_key
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.settings.database_url import driver_message, refused_for_good
from shared.settings.joint_rules import ConfigError

log = logging.getLogger(__name__)

_CHECK = "check"
_SUPPRESSION = "suppression"
_CHECK_LABEL = b"outpost: the key outbox secrets are sealed with"
# The subkey that seals the suppression list's key: one key never serves two purposes.
_SEALS_LIST_KEY = "outpost/keyring"
# The suppression list's key, by database and keys: read once a process.
_LIST_KEYS: dict[tuple[str, tuple[str, ...]], bytes] = {}


class KeysMismatch(ConfigError):
    """None of a process's keys is the one the API seals with."""

    said = (
        "neither it nor SECRET_KEY_FALLBACKS is the key the API seals with (the database "
        "keeps a check value of it): give every process the API's key, an older one in "
        "SECRET_KEY_FALLBACKS"
    )

    def __init__(self) -> None:
        super().__init__(f"SECRET_KEY: {self.said}")


def check_value(secret_key: str) -> str:
    """The check value of one key: a keyed HMAC of a fixed label."""
    key = derive_key(secret_key, "outpost/key-check")
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).hexdigest()


def admit(
    connection: Connection, secret_keys: Sequence[str], now: datetime, *, seals: bool
) -> None:
    """Refuse keys that cannot open what the API seals; where nothing is recorded yet (a new
    database, or the first start after migration 0012), record ours.

    A process that seals (the API) and holds the recorded key among its fallbacks is the
    first of a rotation: it records its own key, and reseals the suppression list's key
    under it, so that the old key can go once the fallbacks' horizon has passed.
    """
    values = [check_value(key) for key in secret_keys]
    stored = _read(connection, _CHECK) or _insert(connection, _CHECK, values[0], now)
    if stored not in values:
        raise KeysMismatch
    sealed = _read(connection, _SUPPRESSION) or _seal_first_list_key(connection, secret_keys, now)
    if seals and stored != values[0]:
        _write(connection, _CHECK, values[0], now)
        box = _list_key_box(secret_keys)
        _write(connection, _SUPPRESSION, box.seal(box.open(sealed)), now)


def accepted(connection: Connection, secret_keys: Sequence[str]) -> bool:
    """Whether `admit` would take these keys, writing nothing (`outpost check`): one of them is
    the key the database's check value was made of, or none is recorded yet."""
    stored = _read(connection, _CHECK)
    return stored is None or stored in [check_value(key) for key in secret_keys]


def first_list_key(secret_key: str) -> bytes:
    """The key a suppression list made under `secret_key` starts with (and always had, before
    the keyring)."""
    return derive_key(secret_key, "outpost/suppression")


def admit_at_start(engine: Engine, settings: Settings, *, stop_for_good: bool = False) -> None:
    """The API's `admit` at start; a database not there yet leaves the check to the relays,
    which wait for it. The check's connection is closed, not pooled: a process that forks
    after it (gunicorn's master) must not hand one connection to several workers.

    `stop_for_good` (`outpost serve`): DatabaseRefused for a database that refuses the role,
    its password or the database name, which no wait heals, rather than an API that serves
    nothing but 503.
    """
    try:
        with engine.begin() as connection:
            admit(connection, settings.secret_keys, utcnow(), seals=True)
    except SQLAlchemyError as exc:
        refused = refused_for_good("DATABASE_URL", exc) if stop_for_good else None
        if refused is not None:
            raise refused from None
        log.warning("keys not checked, database unavailable", extra={"error": driver_message(exc)})
    finally:
        engine.dispose()


def suppression_key(connection: Connection, secret_keys: tuple[str, ...]) -> bytes:
    """The suppression list's key, made the first time it is asked for.

    A list made before there was a keyring hashed under a subkey of the key then in use:
    the oldest key held (the last fallback) is the best guess of it, and is the only key
    when there is no rotation under way.
    """
    cached = (str(connection.engine.url), secret_keys)
    known = _LIST_KEYS.get(cached)
    if known is None:
        sealed = _read(connection, _SUPPRESSION) or _seal_first_list_key(
            connection, secret_keys, utcnow()
        )
        opened = _list_key_box(secret_keys).open(sealed)
        known = _LIST_KEYS[cached] = base64.b64decode(opened["key"])
    return known


def _seal_first_list_key(connection: Connection, secret_keys: Sequence[str], now: datetime) -> str:
    """Record the list's first key, sealed, unless another process did; the sealed key."""
    first = first_list_key(secret_keys[-1])
    sealed = _list_key_box(secret_keys).seal({"key": base64.b64encode(first).decode()})
    return _insert(connection, _SUPPRESSION, sealed, now)


def _list_key_box(secret_keys: Sequence[str]) -> SecretBox:
    return SecretBox(*secret_keys, label=_SEALS_LIST_KEY)


def _read(connection: Connection, name: str) -> str | None:
    return connection.execute(select(keyring.c.value).where(keyring.c.name == name)).scalar()


def _insert(connection: Connection, name: str, value: str, now: datetime) -> str:
    """Record `value` unless another process recorded one first; the value recorded."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(keyring).values(name=name, value=value, updated_at=now)
    connection.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
    recorded = _read(connection, name)
    assert recorded is not None
    return recorded


def _write(connection: Connection, name: str, value: str, now: datetime) -> None:
    connection.execute(
        update(keyring).where(keyring.c.name == name).values(value=value, updated_at=now)
    )
