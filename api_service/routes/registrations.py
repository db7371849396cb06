"""POST /v1/registrations."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api_service.registration import register
from api_service.request_body import load_body
from api_service.schemas import RegistrationAcceptedSchema, RegistrationSchema
from api_service.services import services

bp = Blueprint("registrations", __name__)


@bp.post("/v1/registrations")
def create_registration() -> tuple[Response, int]:
    """Register an account; the answer is the same whether or not the address is known."""
    data = load_body(RegistrationSchema())
    delivery = register(services(), data)
    body = RegistrationAcceptedSchema().dump({"status": "pending_activation", "delivery": delivery})
    return jsonify(body), 202
