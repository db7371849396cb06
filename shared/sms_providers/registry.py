"""Every SMS provider Outpost speaks, registered once: the URL schemes SMS_URL may use, the
relay's SMS channels, the receipts routes, the provider events' sources and the metrics' labels
all come from SPECS. A new provider is its spec module, added here, and its tests."""

from __future__ import annotations

from shared.sms_providers import gateway, template, twilio, vonage
from shared.sms_providers.spec import ReceivingSpec, SmsSpec

SPECS: tuple[SmsSpec, ...] = (twilio.SPEC, vonage.SPEC, gateway.SPEC, template.SPEC)

# The providers that post delivery receipts, in SPECS' order.
RECEIVING: tuple[ReceivingSpec, ...] = tuple(s for s in SPECS if isinstance(s, ReceivingSpec))


def spec_named(name: str) -> SmsSpec:
    """The spec a provider's `kind` names."""
    return next(spec for spec in SPECS if spec.name == name)


def spec_for(scheme: str, templated: bool) -> SmsSpec | None:
    """The spec that takes URLs of `scheme`: the one rendering SMS_REQUEST_TEMPLATE when it is
    set (`templated`) and one does, else the other; None for a scheme no provider speaks."""
    specs = [spec for spec in SPECS if scheme in spec.schemes]
    chosen = [spec for spec in specs if spec.templated == templated] or specs
    return chosen[0] if chosen else None


def schemes() -> list[str]:
    """Every scheme some provider speaks, as an error lists them (`twilio://`, …)."""
    return list(dict.fromkeys(scheme for spec in SPECS for scheme in sorted(spec.schemes)))
