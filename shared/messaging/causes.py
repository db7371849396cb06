"""What a message is written for: the request whose budgets it takes and whose clients see it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from shared.vocabulary import Channel, Purpose


class Cause(Protocol):
    """The request a message is written for (None: an operator's or the relay's): the budgets
    each of its messages takes as it is written, and how its clients may see them."""

    @property
    def discreet(self) -> bool:
        """Whether its answer must not tell known from unknown addresses
        (shared.messaging.views)."""
        ...

    @property
    def paid_by(self) -> str | None:
        """The subject of the SMS hour its messages are paid from (its client's), which a
        fallback of its code by SMS takes too (shared.messaging.fallbacks); None: nobody's."""
        ...

    def admit(
        self,
        connection: Connection,
        recipient: str,
        *,
        channel: Channel,
        purpose: Purpose,
        withhold: bool,
        now: datetime,
    ) -> bool:
        """Take the message's share of the request's budgets, or refuse the request; whether
        the message is to be withheld."""
        ...
