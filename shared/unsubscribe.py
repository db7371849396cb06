"""RFC 8058 one-click unsubscribe from the "no account" notice: the link's token, made by the
relay when it writes the mail and read by the API when someone follows it.

The token is the address sealed under a key of its own (derived from SECRET_KEY for this use
alone), so the link names no address, cannot be made for another one, and opens nothing
else; it keeps working after the message itself is purged, and across a key rotation while
the old key is among SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

from shared.secretbox import SealedUnderOtherKey, SecretBox

_LABEL = "outpost/unsubscribe"
ROUTE = "/v1/unsubscribe/"


class Unsubscribe:
    """Makes and reads the tokens of unsubscribe links."""

    def __init__(self, *secret_keys: str) -> None:
        self._box = SecretBox(*secret_keys, label=_LABEL)

    def url(self, public_url: str, address: str) -> str:
        """The one-click link that suppresses `address`, under the API's public URL."""
        token = self._box.seal({"address": address})
        return f"{public_url.rstrip('/')}{ROUTE}{token}"

    def address(self, token: str) -> str | None:
        """The address a token unsubscribes; None when no key of ours made it."""
        try:
            address = self._box.open(token).get("address")
        except (SealedUnderOtherKey, ValueError):
            return None
        return address if isinstance(address, str) else None
