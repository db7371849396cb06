"""RFC 8058 one-click unsubscribe from the "no account" notice: the link's token, made by the
relay when it writes the mail and read by the API when someone follows it.

The token is the address sealed under a key of its own (derived from SECRET_KEY for this use
alone), padded to a fixed length under a random nonce: the link names no address, is as long
for every address, tells nothing of when it was made, cannot be made for another address, and
opens nothing else; it keeps working after the message itself is purged, and across a key
rotation while the old key is among SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

from shared.secrets.secretbox import PaddedBox, SealedUnderOtherKey, SecretBox

_LABEL = "outpost/unsubscribe-token"
# What the Fernet tokens of earlier releases were sealed under.
_FERNET_LABEL = "outpost/unsubscribe"
# Bytes every address is padded to: more than the longest address there is (254).
ADDRESS_BYTES = 256
ROUTE = "/v1/unsubscribe/"


class Unsubscribe:
    """Makes and reads the tokens of unsubscribe links."""

    def __init__(self, *secret_keys: str) -> None:
        self._box = PaddedBox(*secret_keys, label=_LABEL, size=ADDRESS_BYTES)
        self._fernet = SecretBox(*secret_keys, label=_FERNET_LABEL)

    def url(self, public_url: str, address: str) -> str:
        """The one-click link that suppresses `address`, under the API's public URL."""
        return f"{public_url.rstrip('/')}{ROUTE}{self._box.seal(address)}"

    def address(self, token: str) -> str | None:
        """The address a token unsubscribes; None when no key of ours made it."""
        try:
            return self._box.open(token)
        except SealedUnderOtherKey:
            return self._mailed_before(token)

    def _mailed_before(self, token: str) -> str | None:
        """The address of a token in the Fernet format earlier releases mailed: read still, so
        that the links already in mailboxes keep working, but never made (it tells its age)."""
        try:
            address = self._fernet.open(token).get("address")
        except (SealedUnderOtherKey, ValueError):
            return None
        return address if isinstance(address, str) else None
