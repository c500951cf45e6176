"""`feedback-report --html FILE`: the feedback report as one self-contained HTML page, with the
acceptance and override rate of each rule per period drawn as a chart.

Charts are drawn with matplotlib (the `report` extra) as inline SVG: matplotlib is the maintained
standard of Python plotting (regular releases, NumFOCUS-backed), and it draws on the server with no
browser code, so the page needs no JavaScript, no CDN and no network: it opens on a locked-down
hospital workstation, prints, and can be mailed to a clinical lead as one file. Text in the SVG
stays text (`svg.fonttype: none`), so the page is searchable and small.
"""

from __future__ import annotations

import html
import io
import math
from typing import Any

from cds_service.feedback_report import FLAGS, FeedbackReport, RuleReport, SeriesPoint

MISSING_LIBRARY = (
    "feedback-report --html draws its charts with matplotlib, which is not installed: "
    "pip install 'cds-service[report]'"
)


class ChartLibraryMissing(RuntimeError):
    pass


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _plotted(rate: float | None) -> float:
    return math.nan if rate is None else 100 * rate  # NaN: a gap in the line


def _chart(rule_id: str, points: list[SeriesPoint]) -> str:
    try:
        from matplotlib import rc_context
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartLibraryMissing(MISSING_LIBRARY) from None
    labels = [p.period.isoformat() for p in points]
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": rule_id}):
        figure = Figure(figsize=(7.5, 2.8), layout="constrained")
        shown = figure.add_subplot()
        shown.bar(labels, [p.issued for p in points], color="#d9d9d9", label="cards shown")
        shown.set_ylabel("cards shown")
        rates = shown.twinx()
        rates.plot(
            labels,
            [_plotted(p.acceptance_rate) for p in points],
            marker="o",
            color="#1b7837",
            label="accepted %",
        )
        rates.plot(
            labels,
            [_plotted(p.override_rate) for p in points],
            marker="s",
            color="#b2182b",
            label="overridden %",
        )
        rates.set_ylim(0, 100)
        rates.set_ylabel("% of cards shown")
        shown.set_title(rule_id, fontsize=10, loc="left")
        shown.tick_params(axis="x", labelrotation=45, labelsize=8)
        figure.legend(loc="outside right upper", fontsize=8)
        buffer = io.StringIO()
        # No RDF block (creator, date, type URIs): the page is the report, not an image archive.
        metadata = {"Creator": None, "Date": None, "Format": None, "Type": None}
        figure.savefig(buffer, format="svg", metadata=metadata)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _rule_row(row: RuleReport) -> str:
    reasons = "; ".join(
        f"{html.escape(reason)} ({n})"
        for reason, n in sorted(row.override_reasons.items(), key=lambda item: -item[1])
    )
    flags = ", ".join(f"{html.escape(flag)} ({n})" for flag, n in sorted(row.flags.items()))
    cells = [
        html.escape(row.rule_id),
        row.issued,
        row.silent,
        row.accepted,
        row.overridden,
        row.conflicting,
        row.no_feedback,
        _percent(row.acceptance_rate),
        _percent(row.override_rate),
        row.feedback_items,
        flags or "-",
        reasons or "-",
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render(report: FeedbackReport) -> str:
    """The whole page; raises ChartLibraryMissing without matplotlib."""
    window = (
        f"cards issued from {report.since.isoformat() if report.since else 'the first card'} "
        f"to {report.until.isoformat() + ' (exclusive)' if report.until else 'now'}"
    )
    tenant = f"tenant {report.tenant}" if report.tenant else "all tenants"
    header = [
        "rule",
        "shown",
        "silent",
        "accepted",
        "overridden",
        "conflicting",
        "no feedback",
        "accepted %",
        "overridden %",
        "feedback items",
        "flags (cards)",
        "override reasons (cards)",
    ]
    parts: list[Any] = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>CDS feedback report</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}",
        "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;",
        "padding:.25em .5em;text-align:right}td:first-child,td:last-child{text-align:left}",
        "</style></head><body><h1>CDS feedback report</h1>",
        f"<p>{html.escape(window)}; {html.escape(tenant)}; periods: {report.period}s. ",
        "Counted by card: a card's outcome comes from all its feedback items together; rates are ",
        "per card shown; silent cards (shadow mode) were never shown and are counted apart.</p>",
        "<table><thead><tr>",
        "".join(f"<th>{html.escape(h)}</th>" for h in header),
        "</tr></thead><tbody>",
        "".join(_rule_row(row) for row in report.rules) or "<tr><td>(no cards)</td></tr>",
        "</tbody></table>",
    ]
    if report.unknown_card_feedback:
        parts.append(
            f"<p>{report.unknown_card_feedback} feedback item(s) name cards the ledger never "
            "issued.</p>"
        )
    if report.flagged_cards:
        totals = {f: sum(f in c.flags for c in report.flagged_cards) for f in FLAGS}
        parts.append("<h2>Contradictions</h2><ul>")
        parts += [f"<li>{html.escape(f)}: {n} card(s)</li>" for f, n in totals.items() if n]
        parts.append("</ul>")
    parts.append("<h2>Acceptance and override rates over time</h2>")
    charted = [(rule_id, points) for rule_id, points in report.series.items() if points]
    for rule_id, points in charted:
        parts.append(f"<figure>{_chart(rule_id, points)}</figure>")
    if not charted:
        parts.append("<p>(no cards shown in this window)</p>")
    parts.append("</body></html>")
    return "".join(str(p) for p in parts)
