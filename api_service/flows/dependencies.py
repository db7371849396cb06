"""The container of the long-lived objects the flows need, built once per application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from api_service.flows.client_limit import ClientLimit
from api_service.flows.idempotency import IdempotencyKeys
from api_service.flows.passwords import Passwords, Verifier
from api_service.flows.unit_of_work import UnitOfWork
from shared.accounts.unsubscribe import Unsubscribe
from shared.database.throttle import Throttle
from shared.messaging.suppressions import LazySuppressor
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings

if TYPE_CHECKING:
    from api_service.flows.captcha import HumanCheck


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
