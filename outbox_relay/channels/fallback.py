"""Two providers for one channel: a transient failure of the first is retried on the second."""

from __future__ import annotations

import logging

from outbox_relay.channels import Channel, Message
from outbox_relay.failures import DeliveryFailure, TransientFailure

log = logging.getLogger(__name__)


class FallbackChannel:
    """Sends through `primary`, and through `secondary` when the primary fails transiently.

    A permanent failure is the recipient's or the message's fault, not the provider's, so it is
    not retried elsewhere.
    """

    def __init__(self, primary: Channel, secondary: Channel) -> None:
        self._primary = primary
        self._secondary = secondary

    def send(self, message: Message) -> None:
        """Deliver through the first provider that takes the message."""
        try:
            self._primary.send(message)
        except TransientFailure as first:
            log.warning("primary provider failed, trying the fallback", extra={"error": str(first)})
            try:
                self._secondary.send(message)
            except DeliveryFailure as second:
                raise type(second)(
                    f"{second.description} (primary: {first.description})"[:500]
                ) from second

    def close(self) -> None:
        """Close both providers' connections."""
        self._primary.close()
        self._secondary.close()
