"""Registering an account: user, code and activation message in one transaction."""

from __future__ import annotations

from typing import Any

from api_service.accounts import User, find_user, insert_user, issue_code
from api_service.services import Services
from shared.clock import utcnow
from shared.outbox import Delivery, enqueue

# The request field holding the address each channel delivers to.
ADDRESS_FIELD = {"email": "email", "sms": "phone"}


def register(services: Services, data: dict[str, Any]) -> Delivery:
    """Create a pending account and queue its activation, or notify the address's owner.

    The password is hashed before anything else on both paths, so that an existing address
    costs the same time as a new one and cannot be told apart.
    """
    password_hash = services.hasher.hash(data["password"])
    settings = services.settings
    now = utcnow()
    with services.unit_of_work() as uow:
        connection = uow.connection
        user_id = insert_user(
            connection,
            now,
            email=data.get("email"),
            phone=data.get("phone"),
            password_hash=password_hash,
            full_name=data.get("full_name"),
            locale=data["locale"],
        )
        if user_id is None:
            owner = find_user(connection, data.get("email"), data.get("phone"))
            if owner is None:
                raise RuntimeError("address conflict without an owner")
            channel, recipient = _owner_address(owner, data)
            delivery = enqueue(
                connection,
                services.box,
                now=now,
                channel=channel,
                purpose="account_exists",
                recipient=recipient,
                locale=owner.locale,
                params={"full_name": owner.full_name},
                user_id=owner.id,
            )
        else:
            issued = issue_code(
                connection,
                settings.secret_key,
                user_id=user_id,
                purpose="activation",
                ttl=settings.activation_ttl,
                now=now,
            )
            channel = data["channel"]
            delivery = enqueue(
                connection,
                services.box,
                now=now,
                channel=channel,
                purpose="activation",
                recipient=data[ADDRESS_FIELD[channel]],
                locale=data["locale"],
                params={
                    "full_name": data.get("full_name"),
                    "expires_minutes": settings.activation_ttl // 60,
                },
                secret_params={"code": issued.code},
                user_id=user_id,
                token_id=issued.token_id,
                expires_at=issued.expires_at,
            )
        uow.commit()
    return delivery


def _owner_address(owner: User, data: dict[str, Any]) -> tuple[str, str]:
    """The requested channel if it reaches the owner, else the address that collided."""
    for channel in (data["channel"], "email", "sms"):
        address = data.get(ADDRESS_FIELD[channel])
        if address is not None and address in (owner.email, owner.phone):
            return channel, address
    raise RuntimeError("address conflict without a matching address")
