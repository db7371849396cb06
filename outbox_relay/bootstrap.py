"""The relay's composition root: every collaborator built once, from the settings, and passed in."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine

from outbox_relay import claims, metrics, send_spans
from outbox_relay.channel_providers import Providers
from outbox_relay.channels.factory import ChannelFactory, default_channels
from outbox_relay.deaths import Deaths
from outbox_relay.fallbacks import Fallbacks
from outbox_relay.leases import LeaseKeeper
from outbox_relay.pacing import Pacer
from outbox_relay.relay import Relay
from outbox_relay.senders import Senders
from outbox_relay.sent_events import SentEvents
from outbox_relay.shared_pauses import SharedPauses
from outbox_relay.strangers import StrangerMail
from shared.messaging.suppressions import LazySuppressor
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings


def _unheard() -> None:
    """A heartbeat or wake-up nobody listens to (a relay driven by its caller)."""


def build_relay(
    settings: Settings,
    engine: Engine,
    *,
    channels: ChannelFactory | None = None,
    heartbeat: Callable[[], None] = _unheard,
    wake: Callable[[], None] = _unheard,
) -> Relay:
    """A relay on `engine`, its providers' channels made by `channels` (by default from the
    settings); `heartbeat` is called at each step it makes, `wake` when a provider is paused
    or back, so that a waiting daemon claims at once."""
    pooled = settings.database_pooler == "transaction"
    claims.prepare(engine, transaction_pooler=pooled)
    box = SecretBox(*settings.secret_keys)
    suppression = LazySuppressor(settings.secret_keys)
    pacer = Pacer(engine, settings.smtp_rate) if settings.smtp_rate else None
    make_channel = channels or default_channels(settings, pacer.pace if pacer else None)
    stopping = threading.Event()
    providers = Providers(
        settings,
        stopping=stopping,
        on_change=wake,
    )
    metrics.known(providers.channels())
    outcomes = send_spans.outcome_book()(
        engine,
        settings.relay_batch_size,
        heartbeat=heartbeat,
        deaths=Deaths(settings, box, suppression),
        sent=SentEvents(settings, box, engine),
        fallbacks=Fallbacks(settings, box, suppression),
    )
    senders = Senders(
        settings,
        box,
        providers,
        make_channel,
        outcomes,
        StrangerMail(settings, engine),
        stopping=stopping,
        heartbeat=heartbeat,
        keeper=LeaseKeeper(engine, settings.relay_lease_seconds),
    )
    claimer = claims.Claimer(engine, transaction_pooler=pooled)
    return Relay(
        settings,
        engine,
        claimer=claimer,
        providers=providers,
        pauses=SharedPauses(settings, engine, box, providers, claimer.run),
        outcomes=outcomes,
        senders=senders,
        suppression=suppression,
        stopping=stopping,
        heartbeat=heartbeat,
    )
