"""The wings stay wings: shared/ holds its modules in folders named for what they serve, and the
API's flows take their collaborators from flows/ alone (routes and pages stand above them)."""

from __future__ import annotations

import ast
from pathlib import Path

from support.processes import ROOT

SHARED = ROOT / "shared"
FLOWS = ROOT / "api_service" / "flows"
# The words and the time every wing reads: vocabulary, verdicts, text, clock.
AT_THE_TOP_OF_SHARED = 4


def imports_outside_the_flows(path: Path) -> list[str]:
    """The modules of api_service outside flows/ that the module at `path` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = (
                [node.module]
                if node.module != "api_service"
                else [f"api_service.{alias.name}" for alias in node.names]
            )
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [
            name
            for name in names
            if name.split(".")[0] == "api_service" and not name.startswith("api_service.flows")
        ]
    return found


def test_shared_keeps_its_modules_in_wings() -> None:
    at_the_top = sorted(path.name for path in SHARED.glob("*.py") if path.name != "__init__.py")
    assert len(at_the_top) <= AT_THE_TOP_OF_SHARED, f"shared/ holds {at_the_top}: give each a wing"
    wings = [path for path in SHARED.iterdir() if (path / "__init__.py").exists()]
    assert all((wing / "__init__.py").read_text().startswith('"""') for wing in wings)


def test_the_flows_import_nothing_of_the_api_outside_flows() -> None:
    reaches = {
        path.relative_to(ROOT).as_posix(): names
        for path in sorted(FLOWS.rglob("*.py"))
        if (names := imports_outside_the_flows(path))
    }
    assert reaches == {}, "a flow reaches up into the API: move its collaborator into flows/"


def test_the_check_sees_an_arrow_back_up(tmp_path: Path) -> None:
    module = tmp_path / "flow.py"
    module.write_text("from api_service import metrics\nfrom api_service.problems import p\n")
    assert imports_outside_the_flows(module) == ["api_service.metrics", "api_service.problems"]
