"""One suite every registered SMS provider passes (issue 62; River's riverdrivertest is the
model): its URL read and refused, each message's request, every row of its error table and
the HTTP statuses, its receipts verified and refused. A provider's only part is its case in
support/sms_conformance.py; a provider registered without one fails here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

import pytest

from api_service.provider_feeds import FeedPost
from api_service.sms_receipts import receipt_post
from shared.reports.provider_events import ProviderEventType
from shared.settings.sms_url import parse_sms_url
from shared.sms_providers.receipts import receipts_url
from shared.sms_providers.registry import RECEIVING, SPECS, spec_for
from shared.sms_providers.spec import THROTTLED, Outbound, ReceivingSpec, SmsContext, SmsSpec
from shared.verdicts import classify_http
from support.constants import SECRET_KEY
from support.receipt_requests import Post, Refused, StandInReceipt
from support.sms_case import (
    AT_KEY,
    EVENTS_TOKEN,
    MESSAGE,
    PUBLIC_URL,
    SMS_TOKEN,
    Case,
    Receipt,
    ReceiptCase,
    settings,
)
from support.sms_conformance import CASES

each_spec = pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
each_receiving = pytest.mark.parametrize("spec", RECEIVING, ids=[spec.name for spec in RECEIVING])
# The HTTP statuses without an error code every provider's answer is judged by.
STATUSES = (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504)


def case_of(spec: SmsSpec) -> Case:
    """The spec's case; a spec without one fails every test of the suite, saying so."""
    if spec.name not in CASES:
        pytest.fail(f"{spec.name} has no case in support/sms_conformance.py: add one")
    return CASES[spec.name]


def receipt_case(spec: SmsSpec) -> ReceiptCase:
    """The receiving spec's receipts case."""
    receipt = case_of(spec).receipt
    if receipt is None:
        pytest.fail(f"{spec.name} posts receipts: its case must say how (`receipt`)")
    return receipt


def context() -> SmsContext:
    """What the specs read of the suite's settings."""
    return settings().sms_context


def outbound(spec: SmsSpec) -> Outbound:
    """The request that hands MESSAGE to the case's provider."""
    return spec.requests(spec.parse(case_of(spec).url), context())(MESSAGE)


def body_of(request: Outbound) -> str:
    """The request's body as text, its values unencoded."""
    if request.content is not None:
        return request.content.decode()
    return json.dumps(request.form if request.form is not None else request.json)


# Every secret the settings and the cases hold; none but those a provider requires goes in a
# request's body.
SECRETS = (SECRET_KEY, SMS_TOKEN, AT_KEY, EVENTS_TOKEN, *(case.secret for case in CASES.values()))


def test_every_registered_provider_has_a_case() -> None:
    assert [spec.name for spec in SPECS if spec.name not in CASES] == []


def test_every_case_names_a_registered_provider() -> None:
    names = {spec.name for spec in SPECS}
    assert [name for name in CASES if name not in names] == []


def test_receipt_cases_are_those_of_the_providers_that_post_receipts() -> None:
    with_receipts = {name for name, case in CASES.items() if case.receipt is not None}
    assert with_receipts == {spec.name for spec in RECEIVING}


# Parse: the URL reads to the provider, through the registry too; a bad one is refused in a
# ValueError that never holds the credential, nor does the provider's repr.


@each_spec
def test_the_url_reads_to_its_provider_through_the_registry(spec: SmsSpec) -> None:
    case = case_of(spec)
    provider = spec.parse(case.url)
    assert provider == case.parsed and provider.kind == spec.name
    scheme = urlsplit(case.url).scheme
    assert scheme in spec.schemes
    assert spec_for(scheme, spec.templated) is spec
    assert parse_sms_url(case.url, spec.templated) == case.parsed


# Each bad URL of each case, named by its provider.
BAD_URLS = [
    pytest.param(spec, url, id=f"{spec.name}-{i}")
    for spec in SPECS
    if spec.name in CASES
    for i, url in enumerate(CASES[spec.name].bad_urls)
]


@pytest.mark.parametrize(("spec", "url"), BAD_URLS)
def test_a_bad_url_is_refused_without_its_credential(spec: SmsSpec, url: str) -> None:
    secret = case_of(spec).secret
    assert secret in url
    with pytest.raises(ValueError) as refused:
        spec.parse(url)
    assert secret not in str(refused.value)


@each_spec
def test_every_provider_refuses_some_bad_urls(spec: SmsSpec) -> None:
    assert case_of(spec).bad_urls


@each_spec
def test_the_provider_never_shows_its_credential(spec: SmsSpec) -> None:
    case = case_of(spec)
    provider = spec.parse(case.url)
    assert case.secret in case.url
    assert case.secret not in repr(provider) and case.secret not in str(provider)


# Request: where it goes, the number as the provider documents it, the text intact, Outpost's
# id where the provider takes one; the same request for every try; no secret in the body but
# the provider's own where it authenticates there.


@each_spec
def test_a_message_is_handed_over_as_the_provider_documents(spec: SmsSpec) -> None:
    case = case_of(spec)
    request = outbound(spec)
    assert request.url == case.endpoint
    sent = case.read(request)
    assert (sent.to, sent.text) == (case.number(MESSAGE.to), MESSAGE.body)
    assert sent.references == ((MESSAGE.id,) * len(sent.references))
    assert bool(sent.references) == case.references


@each_spec
def test_every_try_of_a_message_is_the_same_request(spec: SmsSpec) -> None:
    request = spec.requests(spec.parse(case_of(spec).url), context())
    assert request(MESSAGE) == request(MESSAGE)


@each_spec
def test_the_body_holds_no_secret_but_those_the_provider_requires_there(spec: SmsSpec) -> None:
    body = body_of(outbound(spec))
    assert [secret for secret in SECRETS if secret in body] == list(case_of(spec).body_secrets)


@each_spec
def test_receipts_are_asked_for_at_the_providers_route_alone(spec: SmsSpec) -> None:
    body = body_of(outbound(spec))
    if spec in RECEIVING:
        assert receipts_url(PUBLIC_URL, spec.name) in body
    else:
        assert PUBLIC_URL not in body


# Answers: each row of the error table as the table says, a code it does not name and a bare
# HTTP status as the spec's rule says, success as success with the provider's id.


@each_spec
def test_a_success_is_no_failure_and_gives_the_providers_id(spec: SmsSpec) -> None:
    case = case_of(spec)
    assert spec.judge(case.success) is None
    assert spec.provider_id(case.success) == case.provider_id


@each_spec
def test_every_row_of_the_error_table_judges_as_the_table_says(spec: SmsSpec) -> None:
    coded = case_of(spec).coded
    if coded is None:
        assert spec.errors == {}, f"{spec.name} has an error table: its case must write codes"
        return
    for code, rule in spec.errors.items():
        judgement = spec.judge(coded(code))
        assert judgement is not None, code
        assert (judgement.verdict, judgement.refusal) == (rule.verdict, rule.refusal), code
        assert judgement.slow_down == (rule.meaning == THROTTLED), code
        assert judgement.description.startswith(f"{spec.label} {code} {rule.meaning}: "), code


@each_spec
def test_a_code_the_table_does_not_name_is_judged_by_the_rule(spec: SmsSpec) -> None:
    case = case_of(spec)
    if case.unknown_code is None:
        assert not spec.errors, f"{spec.name} has an error table: name a code outside it"
        return
    assert case.coded is not None and isinstance(spec, ReceivingSpec)
    code = case.unknown_code
    assert code not in spec.errors
    answer = case.coded(code)
    judgement = spec.judge(answer)
    assert judgement is not None
    ruled = spec.coded(answer.status, code, "")
    assert (judgement.verdict, judgement.refusal, judgement.slow_down) == (
        ruled.verdict,
        None,
        False,
    )
    assert judgement.description.startswith(f"{spec.label} {code} ")


@each_spec
def test_a_bare_http_status_is_judged_as_the_providers_rule_says(spec: SmsSpec) -> None:
    case = case_of(spec)
    for status in STATUSES:
        judgement = spec.judge(case.failed(status))
        assert judgement is not None, status
        if isinstance(spec, ReceivingSpec):
            expected = spec.coded(status, None, "").verdict
        else:
            expected = classify_http(status)
        assert judgement.verdict == expected, status
        assert (judgement.refusal, judgement.slow_down) == (None, status == 429), status
        assert f"HTTP {status}" in judgement.description, status
        # Throttling aside, every provider judges a bare status as the gateway contract does.
        assert status == 429 or judgement.verdict == classify_http(status), status


# Receipts: a genuine one verifies and reads to what Outpost records; forged ones are refused.


def receipt_of(spec: SmsSpec, status: str, code: str = "") -> Receipt:
    """A receipt about MESSAGE, sent through the case's provider, which gave it its id."""
    case = case_of(spec)
    provider = spec.parse(case.url)
    request = spec.requests(provider, context())(MESSAGE)
    message_id = spec.provider_id(case.success)
    assert message_id is not None, "receipts find their message by the provider's id"
    return Receipt(request, provider, message_id, status, code)


def read(spec: ReceivingSpec, post: Post, providers: list[str] | None = None) -> Mapping[str, str]:
    """The receipt's fields once `spec` verified `post` against the case's provider (or the
    providers of the URLs `providers`)."""
    urls = [case_of(spec).url] if providers is None else providers
    request = StandInReceipt(post, EVENTS_TOKEN)
    return spec.read_receipt(request, [spec.parse(url) for url in urls], context())


def posted(spec: ReceivingSpec, status: str, code: str = "") -> FeedPost:
    """What the API makes of a genuine receipt of `status` and `code`."""
    post = receipt_case(spec).genuine(receipt_of(spec, status, code))
    return receipt_post(spec.name, spec.receipts, read(spec, post))


@each_receiving
def test_a_genuine_receipt_verifies_and_reads_to_the_delivery(spec: ReceivingSpec) -> None:
    fields = read(spec, receipt_case(spec).genuine(receipt_of(spec, "delivered")))
    kind = spec.receipts
    assert (fields[kind.id_field], fields[kind.status_field]) == (
        spec.provider_id(case_of(spec).success),
        "delivered",
    )
    [event] = receipt_post(spec.name, kind, fields).events
    assert (event.type, event.permanent, event.source) == (
        ProviderEventType.DELIVERY,
        False,
        spec.name,
    )
    assert event.provider_id == fields[kind.id_field] and not event.address_refused


@each_receiving
def test_a_failure_receipt_refuses_the_number_for_the_codes_that_say_so(
    spec: ReceivingSpec,
) -> None:
    kind = spec.receipts
    assert kind.failed and kind.refused
    for status in sorted(kind.failed):
        for code in (*sorted(kind.refused), "99999"):
            [event] = posted(spec, status, code).events
            assert (event.type, event.permanent) == (ProviderEventType.BOUNCE, True)
            assert event.address_refused == (code in kind.refused), (status, code)
            assert event.diagnostic == f"{spec.name} {status} (error {code})"


@each_receiving
def test_a_status_on_the_way_reads_to_no_event(spec: ReceivingSpec) -> None:
    for status in sorted(spec.receipts.passing):
        post = posted(spec, status)
        assert (post.events, post.ignored) == ([], (status,))


@each_receiving
def test_a_genuine_receipt_of_an_account_not_configured_is_refused(spec: ReceivingSpec) -> None:
    post = receipt_case(spec).genuine(receipt_of(spec, "delivered"))
    with pytest.raises(Refused) as refused:
        read(spec, post, providers=[])
    assert refused.value.status == 401


def _forged(spec: SmsSpec) -> list[str]:
    """The names of the case's forged receipts; none without a case (which fails elsewhere)."""
    case = CASES.get(spec.name)
    return list(case.receipt.forged) if case and case.receipt else []


# Each forged receipt of each receiving provider's case, named by both.
FORGERIES = [
    pytest.param(spec, name, id=f"{spec.name}-{name}")
    for spec in RECEIVING
    for name in _forged(spec)
]


@pytest.mark.parametrize(("spec", "forgery"), FORGERIES)
def test_a_forged_receipt_is_refused(spec: ReceivingSpec, forgery: str) -> None:
    forge = receipt_case(spec).forged[forgery]
    with pytest.raises(Refused) as refused:
        read(spec, forge(receipt_of(spec, "delivered")))
    assert refused.value.status == 401


@each_receiving
def test_every_receiving_provider_has_forgeries_to_refuse(spec: ReceivingSpec) -> None:
    assert receipt_case(spec).forged
