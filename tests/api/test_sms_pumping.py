"""SMS pumping (issue 46, items 2 and 4): numbers that cost more than an SMS are refused on every
route with nothing written, and one client cannot drain a region's hour. The red team got 51 SMS
out in 62 s from one address to Iridium (+8816…), +979 and +882 numbers, and used up France's
hourly cap from one address so that a real French user elsewhere was refused."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import phonenumbers
import pytest
from flask import Flask
from flask.testing import FlaskClient
from phonenumbers import PhoneNumberType
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from api_service import create_app
from shared.accounts.addresses import costly, normalise_phone
from support.phones import requests_naming
from support.rows import written

PASSWORD = "correct horse battery staple"
REFUSED_TYPES = (
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.UAN,
    PhoneNumberType.PAGER,
    PhoneNumberType.VOICEMAIL,
    PhoneNumberType.PERSONAL_NUMBER,
)
ACCEPTED_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _examples(types: tuple[int, ...]) -> list[str]:
    """phonenumbers' example number of each of these types, for every region that has one."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in types:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.append(
                    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                )
    return found


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _non_geographic() -> list[str]:
    """phonenumbers' example number of every calling code of no country (+800, +881, …)."""
    examples = (
        phonenumbers.example_number_for_non_geo_entity(code)
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    )
    return [_e164(example) for example in examples if example is not None]


def test_every_costly_example_of_every_region_is_refused_and_mobiles_are_not() -> None:
    refused = _examples(REFUSED_TYPES) + _non_geographic()
    assert len(refused) > 250 and "+881612345678" in refused
    for number in refused:
        assert costly(number) is not None, number
    for number in _examples(ACCEPTED_TYPES):
        assert costly(number) is None, number


def _one_of_each() -> list[str]:
    """One refused example of each type and of the non-geographic codes, and the red team's."""
    picked = {}
    for number in _examples(REFUSED_TYPES):
        kind = phonenumbers.number_type(phonenumbers.parse(number))
        picked.setdefault(kind, number)
    return [*picked.values(), *_non_geographic()[:4], "+881612345678", "+97912345678"]


@pytest.fixture
def make_app(env: dict[str, str]) -> Iterator[Any]:
    """API instances on the test database, every region allowed unless told otherwise."""
    made: list[Flask] = []

    def make(**extra: str) -> Flask:
        made.append(create_app({**env, "SMS_ALLOWED_REGIONS": "*", **extra}))
        return made[-1]

    yield make
    for app in made:
        app.extensions["outpost"].engine.dispose()


def test_a_costly_number_is_refused_on_every_route_naming_phone_and_nothing_is_written(
    make_app: Any, engine: Engine
) -> None:
    client = make_app().test_client()
    before = written(engine)
    numbers = _one_of_each()
    assert len(numbers) >= 10
    for number in numbers:
        for path, body in requests_naming(number):
            answer = client.post(path, json=body)
            assert answer.status_code == 422, (number, path, answer.json)
            assert [e["pointer"] for e in answer.json["errors"]] == ["#/phone"], number
    assert written(engine) == before


def test_mobiles_of_the_same_regions_still_sign_up(make_app: Any) -> None:
    client = make_app().test_client()
    for region in ("GB", "FR", "CM", "US", "IN"):
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        assert example is not None
        phone = _e164(example)
        body = {"phone": phone, "password": PASSWORD}
        assert client.post("/v1/registrations", json=body).status_code == 202, phone
    assert normalise_phone("+881612345678", None) == "+881612345678"  # operators may name one


_FRESH = count(10)


def _sms_from(client: FlaskClient, address: str) -> int:
    """A registration by SMS to a fresh French mobile, from `address`."""
    body = {"phone": f"+3361234{next(_FRESH):04d}", "password": PASSWORD}
    return client.post(
        "/v1/registrations", json=body, environ_base={"REMOTE_ADDR": address}
    ).status_code


def _counted(outcome: str) -> float:
    labels = {"region": "FR", "outcome": outcome}
    return REGISTRY.get_sample_value("outpost_sms_total", labels) or 0.0


def test_one_client_gets_its_share_and_another_still_gets_its_sms(make_app: Any) -> None:
    client = make_app(SMS_ALLOWED_REGIONS="FR").test_client()
    capped = _counted("client_capped")
    answers = [
        client.post(
            "/v1/registrations",
            json={"phone": f"+3361235{n:04d}", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "198.51.100.7"},
        )
        for n in range(12)
    ]
    assert [a.status_code for a in answers] == [202] * 10 + [429] * 2
    assert answers[-1].json["detail"] == "Too many requests from this address; slow down."
    assert _counted("client_capped") == capped + 2
    # Rotating addresses of one /64 is one client.
    rotating = [_sms_from(client, f"2001:db8:5:6::{n:x}") for n in range(1, 12)]
    assert rotating == [202] * 10 + [429]
    # Another client's SMS to the same region is still queued.
    assert _sms_from(client, "203.0.113.20") == 202


def test_a_capped_client_takes_nothing_of_the_regions_hour(make_app: Any) -> None:
    client = make_app(SMS_ALLOWED_REGIONS="FR", SMS_REGION_HOURLY_LIMIT="12").test_client()
    assert [_sms_from(client, "198.51.100.8") for _ in range(15)].count(202) == 10
    # Ten of twelve taken: two more from anyone else.
    assert [_sms_from(client, "203.0.113.30"), _sms_from(client, "203.0.113.31")] == [202, 202]
    assert _sms_from(client, "203.0.113.32") == 429
