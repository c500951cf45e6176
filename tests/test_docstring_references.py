"""Docstrings and comments cite documents that exist in the repository or stable URLs.

Internal planning documents (issue numbers, the team's shared notes) are not in the repository,
so a reader of the code cannot follow them; sources are named by what they are (a guideline, a
code system, a module) instead.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN_REFERENCE = re.compile(r"(?<![\w/.-])([\w./-]+\.md)\b")
REPOSITORY_FOLDERS = ("cds_service", "hooks", "fhir_fixtures", "tests")
INTERNAL = re.compile(r"\bissue \d+\b|shared/(?:docs|seeds|spec)")


def test_every_markdown_document_a_module_cites_exists_and_no_internal_references() -> None:
    problems = []
    for path in sorted((ROOT / "cds_service").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in MARKDOWN_REFERENCE.finditer(text):
            name = match.group(1)
            found = (ROOT / name).exists() or any(
                next((ROOT / top).rglob(Path(name).name), None) for top in REPOSITORY_FOLDERS
            )
            if not found:
                problems.append(f"{path.relative_to(ROOT)}: cites {name}, not in the repository")
        problems += [
            f"{path.relative_to(ROOT)}: internal reference {m.group(0)!r}"
            for m in INTERNAL.finditer(text)
        ]
    assert not problems, "\n".join(problems)
