"""For each rule of a service: did it fire, and if not, the first condition that kept it silent.

Rules are plain functions that return early when their clinical question does not arise (`if not
gbs: return`). Rather than asking every rule to describe itself, the rule is run once more under a
line tracer (`sys.settrace`, on this thread and only for the rule's own frame) and its source is
read with `ast`: the silent rule's last executed line is the `return` (or the end) it reached, and
the `if` whose body holds that line is the condition that kept it silent. The names that condition
tests are shown with the line that assigned them, e.g.
`if not gbs` where `gbs = facts.active(ConditionCategory.GUILLAIN_BARRE)`.

Only explain mode does this (`cds-service invoke --explain`, the preview's Explain panel), never a
hook call: tracing makes a rule several times slower.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from cds_service.facts.model import PatientFacts
from cds_service.frozen import fast_init
from cds_service.rules import Rule


@fast_init
@dataclass(frozen=True)
class RuleTrace:
    rule_id: str
    fired: bool
    findings: tuple[str, ...] = ()  # "<urgency>: <summary>" per finding
    stopped_at: str | None = None  # the condition (or statement) that kept the rule silent
    line: int | None = None
    where: tuple[str, ...] = ()  # assignments of the names that condition tests

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"rule": self.rule_id, "fired": self.fired}
        if self.fired:
            answer["findings"] = list(self.findings)
        else:
            answer.update(silentAt=self.stopped_at, line=self.line, where=list(self.where))
        return answer


@fast_init
@dataclass(frozen=True)
class _Source:
    function: ast.FunctionDef
    text: str


@lru_cache(maxsize=256)
def _source(code: CodeType) -> _Source | None:
    """The rule function's AST, located in its module's source by name and line."""
    try:
        module_text = Path(inspect.getsourcefile(code) or "").read_text(encoding="utf-8")
    except (OSError, TypeError):
        return None
    tree = ast.parse(module_text)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == code.co_name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first <= code.co_firstlineno <= node.body[0].lineno:
                return _Source(node, module_text)
    return None


def _run_traced(
    registered: Rule, facts: PatientFacts
) -> tuple[list[Any], list[tuple[CodeType, int]]]:
    """Run the rule, recording each line run in its module: its own frame and the module's helper
    functions (`return _alternative_first_line(...)` decides inside the helper)."""
    filename = registered.function.__code__.co_filename
    lines: list[tuple[CodeType, int]] = []

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            lines.append((frame.f_code, frame.f_lineno))
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        if code.co_filename == filename and not code.co_name.startswith("<"):
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        findings = list(registered.function(facts))
    finally:
        sys.settrace(previous)
    return findings, lines


def _segment(source: _Source, node: ast.AST) -> str:
    text = ast.get_source_segment(source.text, node) or ""
    return " ".join(textwrap.dedent(text).split())


def _enclosing_if(function: ast.FunctionDef, line: int) -> ast.If | None:
    """The innermost `if` whose (true) body contains `line`."""
    found: ast.If | None = None
    for node in ast.walk(function):
        if isinstance(node, ast.If) and node.body:
            start, end = node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno
            if start <= line <= end and (found is None or node.lineno > found.lineno):
                found = node
    return found


def _assignments(
    function: ast.FunctionDef, test: ast.expr, before: int, source: _Source
) -> tuple[str, ...]:
    names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)} - {"facts"}
    found: dict[str, tuple[int, str]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and node.lineno < before:
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    if target.id not in found or node.lineno > found[target.id][0]:
                        found[target.id] = (node.lineno, _segment(source, node))
    return tuple(text for _, text in sorted(found.values()))


def _header(source: _Source, node: ast.stmt) -> str:
    """A statement as one line: compound statements by their header (`for x in y:`)."""
    text = (ast.get_source_segment(source.text, node) or "").splitlines()
    first = text[0].strip() if text else ""
    return first if len(first) <= 160 else first[:157] + "..."


def trace_rule(registered: Rule, facts: PatientFacts) -> RuleTrace:
    findings, lines = _run_traced(registered, facts)
    if findings:
        return RuleTrace(
            registered.id,
            True,
            tuple(f"{f.urgency.value}: {f.summary}" for f in findings),
        )
    if not lines:
        return RuleTrace(registered.id, False, stopped_at="(no line was run)")
    code, last = lines[-1]  # in the rule, or in the module helper it returned through
    source = _source(code)
    if source is None:
        return RuleTrace(registered.id, False, stopped_at="(source not available)", line=last)
    run = {line for c, line in lines if c is code}
    inside = "" if code is registered.function.__code__ else f" (in {code.co_name})"
    guard = _enclosing_if(source.function, last)
    if guard is not None and guard.lineno in run:
        test = _segment(source, guard.test)
        where = _assignments(source.function, guard.test, guard.lineno, source)
        return RuleTrace(
            registered.id, False, stopped_at=f"if {test}{inside}", line=guard.lineno, where=where
        )
    statements = [
        n
        for n in ast.walk(source.function)
        if isinstance(n, ast.stmt) and n.lineno == last and n is not source.function
    ]
    loop = statements[0] if statements and isinstance(statements[0], ast.For | ast.While) else None
    if loop is not None:
        # The loop ended without a finding: say where its last pass stopped.
        inner = [line for c, line in lines[:-1] if c is code and line > loop.lineno]
        guard = _enclosing_if(source.function, inner[-1]) if inner else None
        if guard is not None and guard.lineno > loop.lineno:
            test = _segment(source, guard.test)
            return RuleTrace(
                registered.id,
                False,
                stopped_at=f"{_header(source, loop)} each pass stopped at: if {test}{inside}",
                line=guard.lineno,
                where=_assignments(source.function, guard.test, guard.lineno, source),
            )
    shown = _header(source, statements[0]) if statements else f"line {last}"
    return RuleTrace(
        registered.id,
        False,
        stopped_at=f"ran to its end without a finding{inside}; last: {shown}",
        line=last,
    )


def trace_rules(rules: tuple[Rule, ...], facts: PatientFacts) -> list[RuleTrace]:
    return [trace_rule(r, facts) for r in rules]
