"""DESIGN §6: one function moves an order. No module but app/services/lifecycle.py assigns an order's
status or exception status (refunds and settle transactions have statuses of their own)."""
from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
MOVER = APP / "services" / "lifecycle.py"
GUARDED = {"status", "exception_status"}
OTHER_ROWS = {"refund", "attempt"}  # Refund.status and SettleTx.state are not an order's


def assigned_statuses(tree: ast.AST) -> list[str]:
    """Return `name.attr` for every assignment to a guarded attribute of something not named like a refund."""
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(element, ast.Attribute) and element.attr in GUARDED:
                    owner = ast.unparse(element.value)
                    if owner not in OTHER_ROWS:
                        found.append(f"{owner}.{element.attr} (line {element.lineno})")
    return found


def test_only_the_lifecycle_module_assigns_an_orders_status():
    offenders = {str(path.relative_to(APP)): assigned for path in APP.rglob("*.py") if path != MOVER
                 if (assigned := assigned_statuses(ast.parse(path.read_text())))}
    assert offenders == {}


def test_the_check_sees_an_assignment():
    assert assigned_statuses(ast.parse("order.status, x = 'paid', 1\nself.order.exception_status = None")) == [
        "order.status (line 1)", "self.order.exception_status (line 2)"]
    assert assigned_statuses(ast.parse("refund.status = 'confirmed'")) == []
