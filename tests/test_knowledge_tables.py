"""The knowledge tables are complete: every concept the rules use is defined once, with sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds_service.contracts import PREFETCH_TEMPLATES, PrefetchKey, observation_template
from cds_service.facts.model import LabKind
from cds_service.facts.units import to_canonical, unit_key
from cds_service.knowledge import Verification
from cds_service.knowledge.labs import LAB_DEFINITIONS, LABS, observation_codes

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("kind", list(LabKind), ids=str)
def test_every_lab_kind_has_a_label_unit_freshness_window_and_a_code(kind: LabKind) -> None:
    lab = LAB_DEFINITIONS[kind]
    assert lab.label.strip()
    assert lab.freshness_hours > 0 and len(lab.freshness_reason) > 20
    assert lab.codes, f"{kind} has no LOINC code"
    assert all(c.status in (Verification.VERIFIED, Verification.CORROBORATED) for c in lab.codes)
    if lab.qualitative:
        assert lab.unit is None and not lab.unit_factors
    else:
        assert lab.unit and lab.unit_factors
        # the canonical unit converts to itself with factor 1
        assert to_canonical(kind, 1.0, lab.unit) == 1.0, (kind, unit_key(lab.unit))


def test_the_lab_table_has_one_row_per_kind_and_nothing_else() -> None:
    assert [lab.kind for lab in LABS] == list(dict.fromkeys(lab.kind for lab in LABS))
    assert set(LAB_DEFINITIONS) == set(LabKind)


def test_the_observation_template_is_generated_from_the_lab_table() -> None:
    template = PREFETCH_TEMPLATES[PrefetchKey.OBSERVATIONS]
    assert template == observation_template()
    for code in observation_codes():
        assert f"http://loinc.org|{code}" in template
    assert template.count("http://loinc.org|") == len(observation_codes())


def test_hooks_files_and_examples_are_what_check_write_generates(tmp_path: Path) -> None:
    from cds_service.cli.check import write_definitions, write_examples

    hooks = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", hooks)
    assert write_definitions(hooks) == []
    assert write_examples(hooks) == []


def test_check_fails_when_a_fact_builder_reads_a_key_no_service_declares(tmp_path: Path) -> None:
    import json

    from cds_service.cli.check import find_problems

    hooks = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", hooks)
    for path in hooks.glob("*.json"):
        data = json.loads(path.read_text())
        del data["prefetch"]["serviceRequests"]
        path.write_text(json.dumps(data))
    problems = find_problems(hooks)
    assert "the fact builders read 'serviceRequests', which no service declares" in problems
