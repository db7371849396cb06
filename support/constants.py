"""Values and types the tests and the benches agree on."""

from collections.abc import Callable

from outbox_relay.relay import Relay

SECRET_KEY = "test-secret-key-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef-ghij"
# The `make_relay` fixture: a relay on the test database, settings overridden by keyword.
MakeRelay = Callable[..., Relay]
