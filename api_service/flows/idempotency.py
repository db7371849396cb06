"""Idempotency-Key: a retried request gets its first answer and writes nothing more."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from api_service.flows.errors import BadIdempotencyKey, IdempotencyKeyReused
from shared.database.models import idempotency_keys
from shared.secrets.codes import derive_key

# Visible ASCII, no spaces: what survives every proxy and HTTP library unchanged.
KEY_PATTERN = r"^[!-~]{1,255}$"


class IdempotencyKeys:
    """Keys and request fingerprints, stored as HMACs: a body holds a password."""

    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key, "outpost/idempotency")

    def reserve(
        self, connection: Connection, key: str, payload: dict[str, Any], now: datetime
    ) -> dict[str, Any] | None:
        """Claim `key` for this request, or return the answer already given for it.

        Only successful answers are stored: a refused request wrote nothing and may be retried.

        A concurrent request with the same key waits on the row until the first one commits
        (or, on SQLite, until it releases the write lock), then reads its answer.
        """
        if not re.fullmatch(KEY_PATTERN, key):
            raise BadIdempotencyKey
        digest = self._hmac(key)
        fingerprint = self._hmac(json.dumps(payload, sort_keys=True, separators=(",", ":")))
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(idempotency_keys).values(
                        key=digest, request_hmac=fingerprint, created_at=now
                    )
                )
        except IntegrityError:
            row = connection.execute(
                select(idempotency_keys.c.request_hmac, idempotency_keys.c.response).where(
                    idempotency_keys.c.key == digest
                )
            ).one()
            if not hmac.compare_digest(row.request_hmac, fingerprint):
                raise IdempotencyKeyReused from None
            answer: dict[str, Any] = row.response
            return answer
        return None

    def store(self, connection: Connection, key: str, body: dict[str, Any]) -> None:
        """Remember the answer to the request that reserved `key`, in the same transaction."""
        connection.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == self._hmac(key))
            .values(response=body)
        )

    def _hmac(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
