"""Layering the house style asks for: library code never imports the command line, and
`app.config` holds configuration values only (objects live in `app.extensions`)."""

from __future__ import annotations

import ast
from pathlib import Path

from flask import Flask

from cds_service.config import SETTINGS
from tests.conftest import ROOT

PACKAGE = ROOT / "cds_service"


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_library_code_never_imports_the_cli() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[1] == "cli" or relative.name == "__main__.py":
            continue
        if any(
            m == "cds_service.cli" or m.startswith("cds_service.cli.")
            for m in _imported_modules(path)
        ):
            offenders.append(str(relative))
    assert offenders == []


_PLAIN = (str, int, float, bool, type(None), list, tuple, dict)


def test_app_config_holds_only_plain_values(app: Flask) -> None:
    names = {s.name for s in SETTINGS}
    for key, value in app.config.items():
        if key in names:
            assert isinstance(value, _PLAIN), key
    assert "SERVICES" not in app.config and "LEDGER_ENGINE" not in app.config
    assert app.extensions["cds_services"] and app.extensions["cds_ledger"]
