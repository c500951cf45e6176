"""A dose is written in exactly one place: the regimen table. Rule prose takes it from there.

Scans every string literal in the rule modules (docstrings aside: they describe, cards never
show them) for a dose figure such as "0.4 g/kg/day", "1 g daily" or "375 mg/m2". Thresholds
(sodium below 125 mmol/L) and time windows are not doses and are not matched.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

RULES = Path(__file__).resolve().parent.parent / "cds_service" / "rules"
DOSE = re.compile(
    r"(?<![\w-])\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?\s?(?:mg|g)(?:/(?:kg|m2|day|d))*(?![\w/])"
)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_no_rule_module_writes_a_dose_in_its_card_text() -> None:
    found = []
    for path in sorted(RULES.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                found += [
                    f"{path.name}:{node.lineno}: {m.group(0)!r}" for m in DOSE.finditer(node.value)
                ]
    assert not found, "\n".join(found)


def test_the_scan_catches_a_dose() -> None:
    assert DOSE.search("IVIG 0.4 g/kg/day for 5 days")
    assert DOSE.search("1 g daily")
    assert DOSE.search("rituximab 375 mg/m2 weekly")
    assert not DOSE.search("sodium below 125 mmol/L")
    assert not DOSE.search("fibrinogen below 1.0 g/L")
