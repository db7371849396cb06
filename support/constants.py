"""Values and types the tests and the benches agree on."""

import base64
from collections.abc import Callable

from outbox_relay.relay import Relay

SECRET_KEY = "test-secret-key-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef-ghij"
PASSWORD = "correct horse battery staple"
# The application's webhook key, and the `whsec_` secret that spells it for a receiver.
WEBHOOK_KEY = b"application-webhook-key-0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_KEY).decode()
# The `make_relay` fixture: a relay on the test database, settings overridden by keyword.
MakeRelay = Callable[..., Relay]
