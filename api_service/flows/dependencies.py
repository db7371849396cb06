"""The container of the long-lived objects the flows need, built once per application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from api_service.flows.client_limit import ClientLimit
from api_service.flows.unit_of_work import UnitOfWork
from api_service.idempotency import IdempotencyKeys
from api_service.passwords import Passwords, Verifier
from shared.secretbox import SecretBox
from shared.settings.config import Settings
from shared.suppressions import LazySuppressor
from shared.throttle import Throttle
from shared.unsubscribe import Unsubscribe

if TYPE_CHECKING:
    from api_service.captcha import HumanCheck


@dataclass(frozen=True)
class Dependencies:
    """Settings, database engine, password hashing, secret box, limits and suppressor of one
    application."""

    settings: Settings
    engine: Engine
    passwords: Passwords
    verifier: Verifier
    box: SecretBox
    throttle: Throttle
    suppressor: LazySuppressor
    idempotency: IdempotencyKeys
    client_limit: ClientLimit
    unsubscribe: Unsubscribe
    # CAPTCHA_URL's verifier; None: no human check.
    human_check: HumanCheck | None

    def unit_of_work(self) -> UnitOfWork:
        """A new transaction boundary for one request."""
        return UnitOfWork(self.engine)
