"""The flows take frozen commands (api_service/flows/commands.py), never the body's dict: each
public route's schema reads exactly its command's fields, and `Command.of` types them."""

from __future__ import annotations

import ast
import dataclasses

import pytest
from marshmallow import Schema

from api_service.address_change_schemas import AddressChangeConfirmSchema, AddressChangeSchema
from api_service.code_schemas import ActivationSchema, LoginCodeConfirmSchema, ResetConfirmSchema
from api_service.flows.commands import (
    Activate,
    Command,
    ConfirmAddressChange,
    ConfirmLoginCode,
    ConfirmReset,
    LogIn,
    Register,
    RequestAddressChange,
    RequestLoginCode,
    RequestReset,
    ResendActivation,
)
from api_service.schemas import (
    LoginCodeRequestSchema,
    LoginSchema,
    RegistrationSchema,
    ResendSchema,
    ResetRequestSchema,
)
from shared.messaging.outbox import Channel
from support.processes import ROOT

FLOWS = ROOT / "api_service" / "flows"
# Each public route's body schema, and the command its route builds from what it validated.
COMMANDS: dict[type[Schema], type[Command]] = {
    RegistrationSchema: Register,
    ActivationSchema: Activate,
    ResendSchema: ResendActivation,
    ResetRequestSchema: RequestReset,
    ResetConfirmSchema: ConfirmReset,
    LoginSchema: LogIn,
    LoginCodeRequestSchema: RequestLoginCode,
    LoginCodeConfirmSchema: ConfirmLoginCode,
    AddressChangeSchema: RequestAddressChange,
    AddressChangeConfirmSchema: ConfirmAddressChange,
}


def _body_parameters() -> list[str]:
    """Every parameter in api_service/flows named `data` and annotated `dict[str, Any]`, as
    `module:function`."""
    found = []
    for path in sorted(FLOWS.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            arguments = function.args
            for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                annotation = argument.annotation
                if (
                    argument.arg == "data"
                    and annotation is not None
                    and ast.unparse(annotation).replace(" ", "") == "dict[str,Any]"
                ):
                    found.append(f"{path.relative_to(ROOT).as_posix()}:{function.name}")
    return found


def test_no_flow_takes_the_body_as_a_dict() -> None:
    assert len(list(FLOWS.rglob("*.py"))) > 10, "the check no longer finds the flows"
    assert _body_parameters() == [], "a flow takes `data: dict[str, Any]`, not a command"


@pytest.mark.parametrize(
    ("schema", "command"), list(COMMANDS.items()), ids=lambda kind: kind.__name__
)
def test_a_routes_schema_reads_exactly_its_commands_fields(
    schema: type[Schema], command: type[Command]
) -> None:
    assert set(schema().fields) == {field.name for field in dataclasses.fields(command)}


def test_a_command_is_typed_and_frozen() -> None:
    command = ResendActivation.of({"email": "ada@example.com", "channel": "sms"})
    assert type(command.channel) is Channel
    assert command.channel == Channel.SMS
    assert command.addresses == ["ada@example.com"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.email = "eve@example.com"  # type: ignore[misc]


def test_a_field_the_command_lacks_is_refused() -> None:
    with pytest.raises(TypeError):
        LogIn.of({"email": "ada@example.com", "password": "pw", "captcha_token": "t"})
