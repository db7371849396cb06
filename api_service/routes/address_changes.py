"""POST /v1/address-changes and /v1/address-changes/confirm."""

from __future__ import annotations

from typing import Any

from api_service.address_change_schemas import AddressChangeConfirmSchema, AddressChangeSchema
from api_service.address_rules import check_allowed
from api_service.clients import current_client
from api_service.dependencies import dependencies
from api_service.flows.address_change import confirm_change, request_change
from api_service.flows.answers import AnswerStatus
from api_service.flows.commands import ConfirmAddressChange, RequestAddressChange
from api_service.openapi import BODY_PROBLEMS, FOLLOW_DELIVERY, Blueprint
from api_service.schemas import DeliveryAcceptedSchema, StatusSchema
from shared.accounts.accounts import UserStatus

bp = Blueprint("address_changes", __name__, description="Changing an account's email or phone.")


@bp.post("/v1/address-changes")
@bp.arguments(AddressChangeSchema)
@bp.response(202, DeliveryAcceptedSchema)
@bp.problems(*BODY_PROBLEMS)
@bp.doc(responses=FOLLOW_DELIVERY)
def create_address_change(data: dict[str, Any]) -> dict[str, Any]:
    """Send a code to the new address; the answer names its delivery, and is the same for a
    wrong password, an unknown account or a taken address."""
    deps = dependencies()
    check_allowed(deps.settings.signup_rules, data.get("new_email"), "new_email")
    delivery = request_change(deps, RequestAddressChange.of(data), current_client())
    return {"status": AnswerStatus.ACCEPTED, "delivery": delivery.shown()}


@bp.post("/v1/address-changes/confirm")
@bp.arguments(AddressChangeConfirmSchema)
@bp.response(200, StatusSchema)
@bp.problems(*BODY_PROBLEMS)
def confirm_address_change(data: dict[str, Any]) -> dict[str, str]:
    """Take the new address with the code sent there (a pending account is activated by it);
    400 if wrong or expired, 429 after too many tries."""
    confirm_change(dependencies(), ConfirmAddressChange.of(data), current_client())
    return {"status": UserStatus.ACTIVE}
