"""Which address and channel reach an account: its address on a channel, the channel of its
notices (a proven address first) and of a request's code."""

from __future__ import annotations

from dataclasses import replace

from shared.accounts.accounts import User
from shared.messaging.outbox import Channel


def address_for(user: User, channel: Channel) -> str | None:
    """The user's address on a channel, if they have one."""
    return user.email if channel == Channel.EMAIL else user.phone


def held_address(user: User, channel: Channel) -> str:
    """The user's address on `channel`, which the caller knows they have."""
    address = address_for(user, channel)
    if address is None:
        raise ValueError(f"user has no {channel} address")
    return address


def with_address(user: User, channel: Channel, address: str) -> User:
    """`user` as it is once `address` is theirs on `channel`, not yet proven."""
    if channel == Channel.EMAIL:
        return replace(user, email=address, email_proven_at=None)
    return replace(user, phone=address, phone_proven_at=None)


def email_or_sms(email: str | None) -> Channel:
    """The channel of an account's notices, or of a request's code: email when there is an
    email address, else SMS."""
    return Channel.EMAIL if email else Channel.SMS


def notice_channel(user: User) -> Channel:
    """The channel of an account's notices: its proven email, else its proven phone, else as
    a request's code (email_or_sms)."""
    if user.email_proven:
        return Channel.EMAIL
    if user.phone_proven:
        return Channel.SMS
    return email_or_sms(user.email)
