"""Which limits apply to what: per address and purpose, per region, per code, per client IP."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import Connection

from api_service.flows.client_limit import SLOW_DOWN
from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import TooManyRequests
from api_service.flows.sms_counts import SMS_TOTAL, SmsOutcome
from api_service.flows.unit_of_work import UnitOfWork
from shared.accounts.addresses import phone_region
from shared.accounts.history import REQUESTED
from shared.database.throttle import Limit, code_tries, sms_region
from shared.messaging.budgets import bucket, recipient_limits, region_limits
from shared.messaging.outbox import CODED, Channel, Purpose

# The region cap's: it speaks of the service, never of the client, who did nothing wrong (the
# cap is everybody's; a real user after an attack on their region must not be told it is theirs).
SERVICE_BUSY = "Too many text messages are being sent right now; try again later."
# The subject counting the SMS one client caused.
_SMS_CLIENT = "sms-client:"
# Notices to an address whose owner did not ask for them, whatever route causes them: each is
# one bucket per recipient, withheld past it (a 429 would tell whether an account exists).
UNASKED = (Purpose.ACCOUNT_EXISTS, Purpose.NO_ACCOUNT)
# Codes whose request writes no event in the account's history (an activation code's resend):
# the only ones a known address would get sooner than an unknown one its notice, by mail.
_UNRECORDED = frozenset(CODED) - REQUESTED.keys()
# The region label of an SMS asked for before its number is known (ISO 3166's "unknown").
UNKNOWN_REGION = "ZZ"


def limit_recipients(
    deps: Dependencies,
    connection: Connection,
    purpose: Purpose,
    addresses: Iterable[str],
    now: datetime,
    *,
    carried: Iterable[Purpose] = (),
) -> list[str]:
    """Count a message of `purpose` to each address named in the request, or answer 429; the
    buckets taken (RequestCause's `taken`).

    The addresses are the ones the client named, whatever the channel and whether or not an
    account owns them, so the answer reveals nothing about who has an account. A message let
    through may carry a new code (of `purpose`, or of one of `carried`), so the tries counted
    against these addresses start again.
    """
    limits = _recipient_limits(deps)
    addresses = list(addresses)
    forget = [tries for code in (purpose, *carried) for tries in code_tries(code, addresses)]
    taken = [bucket(purpose, address) for address in addresses]
    wait = deps.throttle.take(connection, taken, limits, now, forget=forget)
    if wait:
        raise TooManyRequests(wait, "A message was sent to this address recently.")
    return taken


class RequestCause:
    """The messages one public request causes, admitted as each is written
    (shared.messaging.messages): every SMS takes its client's hour (SMS_CLIENT_HOURLY_LIMIT), every
    SMS that goes to a provider its number's region's (SMS_REGION_HOURLY_LIMIT), and each is counted
    in `outpost_sms_total`, whatever route wrote it and whatever the request named; an "account
    exists" or "no account" notice takes its recipient's one bucket for that purpose, whichever
    route causes it (UNASKED), and so does a code whose bucket the request did not take
    (`taken`, by limit_recipients): one to an address it did not name, such as a resend naming
    the number of an account reached by mail, or of another purpose, such as the activation code
    a pending account gets for a sign-in code; past it the message is withheld, as a 429 would
    tell that the address has an account.

    A request that asks for an SMS or names a `phone` pays one SMS of its client's hour up
    front, which its first SMS then uses, and is refused while the named number's region has
    no room left: a request answered with a mail instead (an address without a number, a new
    account asked to be reached by mail) costs the same as one whose owner gets an SMS, so
    that neither count tells anything of the account. `discreet`: its answer must not tell
    known from unknown addresses, so its deliveries show clients no more than a withheld
    message would (shared.messaging.views).
    """

    def __init__(
        self,
        deps: Dependencies,
        uow: UnitOfWork,
        client: str,
        *,
        discreet: bool,
        now: datetime,
        asks_sms: bool = False,
        phone: str | None = None,
        taken: Collection[str] = (),
    ) -> None:
        self.discreet = discreet
        self.paid_by = _SMS_CLIENT + client
        self._taken = frozenset(taken)
        self._deps = deps
        self._uow = uow
        self._client = client
        self._prepaid = asks_sms or phone is not None
        region = phone_region(phone) if phone else UNKNOWN_REGION
        if self._prepaid:
            self._take_client(region, now)
        if phone is not None:
            limits = self._region_limits()
            wait = self._deps.throttle.wait(uow.connection, [sms_region(region)], limits, now)
            if wait:
                self._refuse_region(region, wait)

    def admit(
        self,
        connection: Connection,
        recipient: str,
        *,
        channel: Channel,
        purpose: Purpose,
        withhold: bool,
        now: datetime,
    ) -> bool:
        """Take the message's share of its budgets, or refuse the request; whether the message
        is to be withheld."""
        subject = bucket(purpose, recipient)
        untaken_code = purpose in CODED and subject not in self._taken
        limits = _recipient_limits(self._deps)
        if (purpose in UNASKED or untaken_code) and not withhold:
            withhold = bool(self._deps.throttle.take(connection, [subject], limits, now))
        elif self.discreet and channel == Channel.EMAIL and purpose in _UNRECORDED:
            # It reads the bucket a notice in its place would take, counting nothing: a known
            # address answers no sooner than an unknown one (SPEC "No enumeration"). By SMS,
            # the region's take costs as much (_admit_sms).
            self._deps.throttle.wait(connection, [subject], limits, now)
        if channel == Channel.SMS:
            self._admit_sms(connection, phone_region(recipient), withhold, now)
        return withhold

    def _admit_sms(
        self, connection: Connection, region: str, withhold: bool, now: datetime
    ) -> None:
        """Count an SMS to `region` against the client's hour (unless paid up front) and, if it
        goes to a provider, the region's; or answer 429.

        A withheld SMS costs nothing and fills no region's hour: else numbers without accounts,
        which nobody pays for, would close a region to its real users.
        """
        if self._prepaid:
            self._prepaid = False
        else:
            self._take_client(region, now)
        if not withhold:
            wait = self._deps.throttle.take(
                connection, [sms_region(region)], self._region_limits(), now
            )
            if wait:
                self._refuse_region(region, wait)
        outcome = SmsOutcome.WITHHELD if withhold else SmsOutcome.QUEUED
        self._uow.after_commit(SMS_TOTAL.labels(region, outcome).inc)

    def _region_limits(self) -> list[Limit]:
        return region_limits(self._deps.settings)

    def _refuse_region(self, region: str, wait: int) -> None:
        """Answer the generic 429 of a region whose hour is full for `wait` seconds more."""
        SMS_TOTAL.labels(region, SmsOutcome.CAPPED).inc()
        raise TooManyRequests(wait, SERVICE_BUSY)

    def _take_client(self, region: str, now: datetime) -> None:
        """Count one SMS against the client's hour, or answer 429."""
        limits = [Limit(self._deps.settings.sms_client_hourly_limit, 3600)]
        subjects = [_SMS_CLIENT + self._client]
        wait = self._deps.throttle.take(self._uow.connection, subjects, limits, now)
        if wait:
            SMS_TOTAL.labels(region, SmsOutcome.CLIENT_CAPPED).inc()
            raise TooManyRequests(wait, SLOW_DOWN)


def recipient_wait(
    deps: Dependencies, connection: Connection, purpose: Purpose, address: str, now: datetime
) -> int:
    """Seconds until a message of `purpose` to `address` would pass its limits; 0 if now."""
    limits = _recipient_limits(deps)
    return deps.throttle.wait(connection, [bucket(purpose, address)], limits, now)


def _recipient_limits(deps: Dependencies) -> tuple[Limit, Limit]:
    """Per address and purpose: one message per cooldown, so many an hour."""
    return recipient_limits(deps.settings)
