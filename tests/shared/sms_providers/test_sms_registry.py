"""Each SMS provider is one spec module registered once: the URL schemes, the relay's channel,
the receipts routes and their OpenAPI operations, the events' sources and the metrics' labels
all follow the registry."""

from __future__ import annotations

import json

from flask import Flask

from api_service.metrics import PROVIDER_EVENTS
from api_service.openapi import DOCUMENT
from outbox_relay.channels.factory import sms_channel
from outbox_relay.channels.sms import SmsApiChannel
from shared.reports.provider_events import MAIL_REPORTERS, SOURCES
from shared.settings.config import Settings
from shared.sms_providers.registry import RECEIVING, SPECS, spec_for, spec_named


def test_each_provider_is_registered_once_under_its_own_name_and_schemes() -> None:
    names = [spec.name for spec in SPECS]
    assert len(set(names)) == len(names)
    assert all(spec_named(name).name == name for name in names)
    for spec in SPECS:
        for scheme in spec.schemes:
            assert spec_for(scheme, spec.templated) is spec


def test_every_provider_that_sends_receipts_is_a_source_a_route_and_an_operation(
    app: Flask,
) -> None:
    document = json.loads(DOCUMENT.read_text())
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert (
        "outpost",
        "ses",
        "mail",
        *(spec.name for spec in RECEIVING),
        *MAIL_REPORTERS,
    ) == SOURCES
    assert [spec.name for spec in RECEIVING] == ["twilio", "vonage"]
    for spec in RECEIVING:
        assert spec.receipts is not None
        path = f"/v1/provider-events/{spec.name}"
        assert path in rules
        assert document["paths"][path]["post"]["operationId"] == spec.receipts.doc.operation_id
    enum = document["components"]["schemas"]["ProviderEvent"]["properties"]["source"]["enum"]
    assert enum == list(SOURCES)
    labels = {sample.labels["source"] for sample in PROVIDER_EVENTS.collect()[0].samples}
    assert set(SOURCES) <= labels


def test_the_relay_speaks_to_each_configured_provider_through_its_spec(
    settings: Settings,
) -> None:
    urls = {
        "twilio": "twilio://AC0:token@127.0.0.1:9?from=%2B15005550006",
        "vonage": "vonage://key:secret@127.0.0.1:9?from=Outpost",
        "gateway": "http://127.0.0.1:9/sms",
    }
    assert set(urls) == {spec.name for spec in SPECS if not spec.templated}
    for name, url in urls.items():
        provider = settings.replace(sms_url=url).sms
        assert provider is not None and provider.kind == name
        channel = sms_channel(provider, settings)
        assert isinstance(channel, SmsApiChannel)
        channel.close()
