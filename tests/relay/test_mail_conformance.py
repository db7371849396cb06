"""One suite every registered mail provider passes, as the SMS providers' does: its URL read and
refused, and for an API, each mail's request to a stand-in built from the provider's
documentation, every row of its error table and the HTTP statuses, a throttle's Retry-After, a
wrong key, and `outpost check`'s read. A provider's only part is its case in
support/mail_conformance.py; a provider registered without one fails here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from outbox_relay.channels.mail_api import MailApiChannel
from outbox_relay.failures import DeliveryFailure, Verdict
from outpost.check_api import reached
from shared.mail_providers.registry import APIS, SPECS, parse_mail_url
from shared.mail_providers.spec import THROTTLED, Answer, ApiSpec, MailApi, MailSpec
from support.mail_case import CONTENT, MAIL_FROM, ApiCase, Case, mail_to
from support.mail_conformance import CASES
from support.mail_stand_in import REFUSED, MailStandIn

each_spec = pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
each_api = pytest.mark.parametrize("spec", APIS, ids=[spec.name for spec in APIS])
# The bare HTTP statuses every API's answer is judged by, and whose failure each is.
STATUSES = {500: Verdict.TRANSIENT, 502: Verdict.TRANSIENT, 503: Verdict.TRANSIENT}
RECIPIENT = "someone@example.org"


def case_of(spec: MailSpec) -> Case:
    """The spec's case; a spec without one fails every test of the suite, saying so."""
    if spec.name not in CASES:
        pytest.fail(f"{spec.name} has no case in support/mail_conformance.py: add one")
    return CASES[spec.name]


def api_case(spec: MailSpec) -> ApiCase:
    """The API spec's case of requests and answers."""
    api = case_of(spec).api
    if api is None:
        pytest.fail(f"{spec.name} is an API: its case must say how it is reached (`api`)")
    return api


@pytest.fixture
def stand_in(request: pytest.FixtureRequest) -> Iterator[MailStandIn]:
    """The API spec's stand-in, listening, with the case's key."""
    spec = request.node.callspec.params["spec"]
    served = api_case(spec).stand_in(case_of(spec).secret)
    served.start()
    yield served
    served.stop()


def channel_to(spec: ApiSpec, stand_in: MailStandIn, url: str | None = None) -> MailApiChannel:
    """The relay's channel to the stand-in, through MAIL_URL as the registry reads it."""
    provider = parse_mail_url(url or stand_in.mail_url())
    assert isinstance(provider, MailApi)
    return MailApiChannel(spec, provider, MAIL_FROM)


def refused(channel: MailApiChannel, recipient: str = RECIPIENT) -> DeliveryFailure:
    """The failure a send raises."""
    with pytest.raises(DeliveryFailure) as failed:
        channel.send(mail_to(recipient), time.monotonic() + 30)
    return failed.value


def test_every_registered_provider_has_a_case() -> None:
    assert [spec.name for spec in SPECS if spec.name not in CASES] == []


def test_every_case_names_a_registered_provider() -> None:
    assert [name for name in CASES if name not in {spec.name for spec in SPECS}] == []


def test_api_cases_are_those_of_the_apis() -> None:
    assert {n for n, c in CASES.items() if c.api is not None} == {s.name for s in APIS}


# Parse: the URL reads to the provider, through the registry too; a bad one is refused in a
# ValueError that never holds the credential, nor does the provider's repr.


@each_spec
def test_the_url_reads_to_its_provider_through_the_registry(spec: MailSpec) -> None:
    case = case_of(spec)
    assert urlsplit(case.url).scheme in spec.schemes
    assert spec.parse(case.url) == case.parsed == parse_mail_url(case.url)


BAD_URLS = [
    pytest.param(spec, url, id=f"{spec.name}-{i}")
    for spec in SPECS
    if spec.name in CASES
    for i, url in enumerate(CASES[spec.name].bad_urls)
]


@pytest.mark.parametrize(("spec", "url"), BAD_URLS)
def test_a_bad_url_is_refused_without_its_credential(spec: MailSpec, url: str) -> None:
    secret = case_of(spec).secret
    assert secret in url
    with pytest.raises(ValueError) as refusal:
        parse_mail_url(url)
    assert secret not in str(refusal.value)


@each_spec
def test_the_provider_never_shows_its_credential(spec: MailSpec) -> None:
    case = case_of(spec)
    assert case.bad_urls and case.secret in case.url
    assert case.secret not in repr(spec.parse(case.url))


# Requests: the mail SMTP would carry, as the provider documents it, to its stand-in.


@each_api
def test_a_mail_is_handed_over_as_the_provider_documents(
    spec: ApiSpec, stand_in: MailStandIn
) -> None:
    given = channel_to(spec, stand_in).send(mail_to(RECIPIENT), time.monotonic() + 30)
    assert stand_in.problems == []
    assert given is not None and stand_in.sent == [given]
    sent = api_case(spec).read(stand_in.requests[0])
    assert (sent.to, sent.sender, sent.subject) == (RECIPIENT, MAIL_FROM.address, CONTENT.subject)
    assert (sent.text, sent.html) == (CONTENT.text, CONTENT.html)
    assert sent.headers == dict(CONTENT.headers)
    # The outbox id as custom data, which the provider's reports carry back; SES takes none
    # (its events name the MessageId it answered).
    assert sent.reference == (None if spec.name == "ses" else mail_to(RECIPIENT).id)


@each_api
def test_the_body_holds_no_key(spec: ApiSpec, stand_in: MailStandIn) -> None:
    channel_to(spec, stand_in).send(mail_to(RECIPIENT), time.monotonic() + 30)
    assert stand_in.key.encode() not in stand_in.requests[0].body


# Answers: each row of the error table as the table says, the bare statuses, a wrong key, the
# recipient the provider refuses, a throttle's Retry-After, no answer at all.


@each_api
def test_every_row_of_the_error_table_judges_as_the_table_says(
    spec: ApiSpec, stand_in: MailStandIn
) -> None:
    channel = channel_to(spec, stand_in)
    assert spec.errors, f"{spec.name} documents errors: its table must name them"
    for code, rule in spec.errors.items():
        stand_in.script = [api_case(spec).behaviour(code)]
        failure = refused(channel)
        assert (failure.verdict, failure.refusal) == (rule.verdict, rule.refusal), code
        assert failure.slow_down == (rule.meaning == THROTTLED), code
        assert failure.description.startswith(f"{spec.label} {code} "), failure.description
    assert stand_in.problems == []


@each_api
def test_a_bare_status_is_judged_by_the_http_rule(spec: ApiSpec, stand_in: MailStandIn) -> None:
    channel = channel_to(spec, stand_in)
    for status, verdict in STATUSES.items():
        stand_in.script = [status]
        assert refused(channel).verdict is verdict, status


@each_api
def test_a_wrong_key_pauses_the_provider(spec: ApiSpec, stand_in: MailStandIn) -> None:
    failure = refused(channel_to(spec, stand_in, stand_in.mail_url("not-the-key")))
    assert failure.verdict is Verdict.PROVIDER_DOWN
    assert "not-the-key" not in failure.description


@each_api
def test_the_recipient_the_provider_refuses_is_the_address_or_it_takes_them_all(
    spec: ApiSpec, stand_in: MailStandIn
) -> None:
    channel = channel_to(spec, stand_in)
    if not api_case(spec).refuses:
        assert channel.send(mail_to(REFUSED), time.monotonic() + 30) == stand_in.sent[0]
        return
    failure = refused(channel, REFUSED)
    assert (failure.verdict, failure.refusal) == (Verdict.PERMANENT, "address")


@each_api
def test_no_answer_is_transient(spec: ApiSpec, stand_in: MailStandIn) -> None:
    stand_in.script = ["reset"]
    assert refused(channel_to(spec, stand_in)).verdict is Verdict.TRANSIENT


@each_api
def test_a_throttle_asks_for_its_retry_after(spec: ApiSpec) -> None:
    answer = Answer(429, "Too Many Requests", b"{}", {"retry-after": "7"})
    judgement = spec.judge(answer)
    assert judgement is not None and judgement.slow_down
    assert (judgement.verdict, judgement.retry_after) == (Verdict.PROVIDER_DOWN, 7.0)


# `outpost check`: a documented read, nothing sent, the key in no line.


@each_api
def test_check_reaches_the_api_without_sending(spec: ApiSpec, stand_in: MailStandIn) -> None:
    provider = parse_mail_url(stand_in.mail_url())
    assert isinstance(provider, MailApi)
    found = reached("MAIL_URL", provider)
    assert not found.problem, found.said
    assert stand_in.sent == [] and [r.method for r in stand_in.requests] == ["GET"]
    wrong = parse_mail_url(stand_in.mail_url("not-the-key"))
    assert isinstance(wrong, MailApi)
    refusal = reached("MAIL_URL", wrong)
    assert refusal.problem and "not-the-key" not in refusal.said + refusal.subject
    assert stand_in.key not in found.said + found.subject
