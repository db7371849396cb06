"""Mail to strangers: whether a "no account" mail may go (only with its one-click unsubscribe
link, and within NO_ACCOUNT_HOURLY_LIMIT over every relay), and the link it carries.

Decided by the relay when it is about to send, not by the API when it writes the notice: the
request for an address without an account then does exactly what one for a known address
does (SPEC "No enumeration": timing within noise), and a notice held back is withheld as a
number's is.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.claims import Claimed
from outbox_relay.compose import UnsubscribeUrl
from outbox_relay.gates import Gate
from shared.accounts.unsubscribe import Unsubscribe
from shared.database.throttle import Limit, Throttle
from shared.messaging.outbox import Channel, Purpose
from shared.settings.config import Settings

# The subject counting the "no account" mails of the hour.
NO_ACCOUNT_MAIL = "no-account-mail"


class StrangerMail:
    """The budget of "no account" mails, and their unsubscribe links."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self._engine = engine
        self._throttle = Throttle(settings.secret_key)
        self._budget = [Limit(settings.no_account_hourly_limit, 3600)]
        self.unsubscribe_url: UnsubscribeUrl | None = None
        if settings.public_url is not None:
            links = Unsubscribe(*settings.secret_keys)
            self.unsubscribe_url = partial(links.url, settings.public_url)

    def gate(self, row: Claimed, now: datetime) -> Gate | None:
        """WITHHELD for a row to withhold (a "no account" mail past its budget), BUDGET_UNKNOWN
        when that budget could not be read; None for a row that may go."""
        if row.withhold:
            return Gate.WITHHELD
        if row.purpose != Purpose.NO_ACCOUNT or row.channel != Channel.EMAIL:
            return None
        try:
            return None if self._may_send(now) else Gate.WITHHELD
        except SQLAlchemyError:
            return Gate.BUDGET_UNKNOWN

    def _may_send(self, now: datetime) -> bool:
        """Whether one more "no account" mail may go now; counted if it may. Never without an
        unsubscribe link (PUBLIC_URL): a stranger's mailbox is not ours to fill without a way
        out. Each try counts, so that retries never take the budget past its figure."""
        if self.unsubscribe_url is None:
            return False
        with self._engine.begin() as connection:
            return self._throttle.take(connection, [NO_ACCOUNT_MAIL], self._budget, now) == 0
