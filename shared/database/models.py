"""The tables both processes share, as SQLAlchemy Core; alembic owns the schema itself.

Long because: the current schema is one concern, readable in one file.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
)

from shared.database.columns import Id, UtcDateTime, Vocabulary
from shared.secrets.codes import CodeStatus
from shared.verdicts import Refusal
from shared.vocabulary import (
    AccountEvent,
    AttemptOutcome,
    Channel,
    DeadReason,
    EventType,
    PausedBy,
    ProviderEventType,
    Purpose,
    Resolution,
    Status,
    SuppressionReason,
    UserStatus,
)

# The largest id a row can have (BIGINT): every id or cursor a request names is at most this.
MAX_ID = 2**63 - 1

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True),
    # One account at most holds an address: a pending account's, or a proven one (the unique
    # indexes of revision 0027, shared.accounts.accounts.held); active accounts may carry it
    # unproven.
    Column("email", String(254)),
    Column("phone", String(16)),
    Column("password_hash", String(255), nullable=False),
    Column("full_name", String(200)),
    Column("locale", String(35), nullable=False),
    Column("status", Vocabulary((UserStatus,), 20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("activated_at", UtcDateTime()),
    # When a code sent to each address was used: only a proven address gets codes that sign in
    # or set a password (SPEC "Proof of address").
    Column("email_proven_at", UtcDateTime()),
    Column("phone_proven_at", UtcDateTime()),
    # A pending account a registration of another password named: activating it takes the
    # password the account will have.
    Column("contested", Boolean, nullable=False, server_default=false()),
)

verification_tokens = Table(
    "verification_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", Vocabulary((Purpose,), 20), nullable=False),
    Column("code_hmac", String(64), nullable=False),
    Column("status", Vocabulary((CodeStatus,), 20), nullable=False),
    Column("failed_attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
    # The address an address-change code was sent to, which it alone can confirm.
    Column("address", String(254)),
    # The HMAC of the code's link token (CODE_LINK_URL's `{token}`), when its mail carries one.
    Column("link_hmac", String(64)),
)

# What happened to an account, newest last (shared/accounts/history.py): read by account and id,
# purged by age (migration 0024).
account_events = Table(
    "account_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("type", Vocabulary((AccountEvent,), 40), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    # The client the request came from (api_service.clients), where there was one.
    Column("client", Text),
    Column("detail", JSON),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("channel", Vocabulary((Channel,), 10), nullable=False),
    Column("purpose", Vocabulary((Purpose, EventType), 40), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("locale", String(35), nullable=False),
    Column("template", String(50), nullable=False),
    Column("params", JSON, nullable=False),
    Column("secret_params", Text),
    Column("user_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("token_id", Id, ForeignKey("verification_tokens.id", ondelete="SET NULL")),
    Column("status", Vocabulary((Status,), 20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("locked_until", UtcDateTime()),
    Column("claim_token", String(32)),
    Column("expires_at", UtcDateTime()),
    Column("sent_at", UtcDateTime()),
    Column("dead_reason", Vocabulary((DeadReason,), 20)),
    # When the message died (the outcome that killed it); None unless dead.
    Column("dead_at", UtcDateTime()),
    # What a permanent failure refused beyond the message (shared.messaging.refusals.Refusal), if
    # anything.
    Column("refusal", Vocabulary((Refusal,), 16)),
    Column("last_error", Text),
    Column("resolution", Vocabulary((Resolution,), 10)),
    Column("resolved_at", UtcDateTime()),
    Column("replaced_by", String(36)),
    # 0 for rows that carry a code, claimed first; 1 for notices
    # (shared.messaging.outbox.priority_of).
    Column("priority", SmallInteger, nullable=False),
    Column("provider_message_id", String(200)),
    # shared.messaging.suppressions.Suppressor.hash of the recipient, so that a claim can tell
    # whether the address is suppressed; None for events and for rows queued before revision 0010.
    Column("recipient_hash", String(64)),
    # The relay ends the row `withheld` instead of sending it (shared.messaging.outbox.enqueue).
    Column("withhold", Boolean, nullable=False, server_default=false()),
    # When the relay decided the code's fallback (none may have gone), or wrote this fallback:
    # one a code, never one of a fallback; and the public id of the fallback sent (0033).
    Column("fallback_at", UtcDateTime()),
    Column("fallback_id", String(36)),
)

outbox_attempts = Table(
    "outbox_attempts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("outbox_id", Id, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("outcome", Vocabulary((AttemptOutcome,), 20), nullable=False),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
)

throttle_events = Table(
    "throttle_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("request_hmac", String(64), nullable=False),
    Column("response", JSON),
    Column("created_at", UtcDateTime(), nullable=False),
)

operator_actions = Table(
    "operator_actions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(100)),
    Column("details", JSON),
)

# The application's endpoints beside WEBHOOK_URL, each for the events it lists
# (shared/messaging/webhook_endpoints.py): `url` as shown (no query string, no credentials),
# `sealed` the whole URL and its Standard Webhooks secret.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Id, primary_key=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("sealed", Text, nullable=False),
)

# When each provider may next be handed a message under SMTP_RATE, shared by every relay.
provider_slots = Table(
    "provider_slots",
    metadata,
    Column("provider", String(20), primary_key=True),
    Column("next_at", Float, nullable=False),
)

# Providers paused now, shared by every relay: by an operator (until `until`, or until resumed),
# or by a relay on the provider's own failure (kept while that relay probes it); `told_at` is
# when the application was sent `provider.down` (shared/messaging/provider_pauses.py).
provider_pauses = Table(
    "provider_pauses",
    metadata,
    Column("provider", String(20), primary_key=True),
    Column("paused_by", Vocabulary((PausedBy,), 10), nullable=False),
    Column("actor", String(200)),
    # Free text, not a word: the relay's failure, or the operator's reason.
    Column("why", Text, nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("until", UtcDateTime()),
    Column("told_at", UtcDateTime()),
)

# What providers reported about sent messages after the fact (bounces, complaints, deliveries).
provider_events = Table(
    "provider_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("outbox_id", Id, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    Column("type", Vocabulary((ProviderEventType,), 20), nullable=False),
    Column("permanent", Boolean, nullable=False),
    Column("diagnostic", Text),
    Column("source", String(20), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

# Providers' notifications already recorded, by the provider's id of each: a retry records
# nothing more. Kept a day (SNS retries for an hour at most).
provider_notifications = Table(
    "provider_notifications",
    metadata,
    Column("source", String(20), primary_key=True),
    Column("notification_id", String(100), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False),
)

# Addresses no message goes to any more, kept until an operator removes them.
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("address", String(254)),
    Column("address_hash", String(64), nullable=False, unique=True),
    Column("reason", Vocabulary((SuppressionReason,), 20), nullable=False),
    Column("source", String(20), nullable=False),
    Column("event_id", Id, ForeignKey("provider_events.id", ondelete="SET NULL")),
    Column("created_at", UtcDateTime(), nullable=False),
)

# What the database keeps of SECRET_KEY (shared/database/keyring.py): a check value (a keyed HMAC of
# a fixed label, never the key) and the suppression list's key, sealed under SECRET_KEY.
keyring = Table(
    "keyring",
    metadata,
    Column("name", String(20), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Signed counts of messages by status, channel and whether resolved (dead letters), one row a
# change, appended by triggers (migration 0018) and folded by shared/operations/tallies.py.
outbox_counts = Table(
    "outbox_counts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("status", Vocabulary((Status,), 20), nullable=False),
    Column("channel", Vocabulary((Channel,), 10), nullable=False),
    Column("resolved", Boolean, nullable=False),
    Column("n", BigInteger, nullable=False),
)

# Signed counts of attempts by hour and outcome, and `retried`: the failed attempts of messages
# since sent; kept as outbox_counts is.
attempt_hours = Table(
    "attempt_hours",
    metadata,
    Column("id", Id, primary_key=True),
    Column("hour", UtcDateTime(), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("n", BigInteger, nullable=False),
)

# Signed counts of suppressed addresses, kept as outbox_counts is.
suppression_counts = Table(
    "suppression_counts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

# Signed counts of the last hour's messages sent (kind `sent`, by sent_at) and attempts that
# did not deliver (kind: the outcome), by minute; kept as outbox_counts is.
minute_counts = Table(
    "minute_counts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("minute", UtcDateTime(), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("n", BigInteger, nullable=False),
)
