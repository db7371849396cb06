"""Each channel's providers, in the order a message tries them; a paused one is skipped."""

from __future__ import annotations

import threading
from collections.abc import Callable

from outbox_relay.providers import Provider
from shared.messaging.outbox import Channel
from shared.messaging.provider_pauses import providers_of
from shared.settings.config import Settings


class Providers:
    """The providers of each channel, in the order they are tried: a paused one is skipped."""

    def __init__(
        self,
        settings: Settings,
        *,
        stopping: threading.Event,
        on_change: Callable[[], None],
    ) -> None:
        def provider(name: str) -> Provider:
            return Provider(
                name,
                backoff_base=settings.relay_backoff_base,
                backoff_cap=settings.relay_backoff_cap,
                stopping=stopping,
                on_change=on_change,
            )

        self._by_channel: dict[str, list[Provider]] = {
            channel: [provider(name) for name in names]
            for channel, names in providers_of(settings).items()
        }

    def pick(self, channel: Channel, failures: int = 0) -> tuple[Provider, int] | None:
        """A provider of `channel` a sender may use now, taken for one send (and its `take`).

        A message's first try goes to the first provider; after `failures` transient failures
        it goes to the next in turn, so that a fallback also takes what the primary keeps
        deferring. A paused provider is skipped.
        """
        providers = self._by_channel.get(channel, [])
        if not providers:
            return None
        start = failures % len(providers)
        turn = providers[start:] + providers[:start]
        return next(((p, taken) for p in turn if (taken := p.take()) is not None), None)

    def another_takes(self, channel: Channel, provider: Provider) -> bool:
        """Whether a provider of `channel` other than `provider` may be used now."""
        return any(p.usable for p in self._by_channel.get(channel, []) if p is not provider)

    def channels(self) -> list[str]:
        """The channels some provider serves."""
        return [channel for channel, providers in self._by_channel.items() if providers]

    def every(self) -> list[Provider]:
        """Every provider configured, whatever its channel."""
        return [p for providers in self._by_channel.values() for p in providers]

    def names(self) -> list[str]:
        """Every provider's name, whatever its channel."""
        return [p.name for p in self.every()]

    def paused_channels(self) -> list[str]:
        """Channels no provider can take now: their rows wait, unclaimed."""
        return sorted(c for c, ps in self._by_channel.items() if not any(p.usable for p in ps))

    def status(self) -> list[str]:
        """One line per provider down, and per channel with none configured."""
        lines = [
            line
            for providers in self._by_channel.values()
            for p in providers
            if (line := p.describe()) is not None
        ]
        lines += [
            f"no {channel} provider configured"
            for channel, providers in self._by_channel.items()
            if not providers and channel != Channel.WEBHOOK
        ]
        return lines

    def join(self, timeout: float) -> None:
        """Wait for the probers once the relay is stopping."""
        for providers in self._by_channel.values():
            for p in providers:
                p.join(timeout)
