"""`cds-service benchmark`: latency, throughput and memory against the stack's floor .

Runs, side by side on this machine, the floor (a minimal Flask app under the service's gunicorn
settings), the service with full prefetch on representative calls, the same calls with no
prefetch against a loopback FHIR server behind a fixed-delay proxy, and growing prefetch; prints
a table and the targets met or missed, and writes the figures with the machine's CPU count and
library versions to a JSON file. `--url` points the full-prefetch and growth calls at an
operator's own deployment instead (with `--token` when it checks JWTs). Needs `wrk`.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import click

from cds_service.server import DEFAULT_THREADS, DEFAULT_WORKERS


def _default_output() -> Path:
    return Path("bench-results") / f"benchmark-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"


@click.command()
@click.option(
    "--duration",
    default=5.0,
    show_default=True,
    type=click.FloatRange(1, 600),
    help="Seconds of load per measurement.",
)
@click.option(
    "--connections",
    default=8,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Concurrent connections for the floor and full-prefetch calls.",
)
@click.option(
    "--repetitions",
    default=3,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Runs per measurement; the report quotes medians.",
)
@click.option(
    "--fhir-delay-ms",
    default=50.0,
    show_default=True,
    type=click.FloatRange(0, 5000),
    help="Latency the proxy adds to each FHIR response (no-prefetch calls).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON results file [default: bench-results/benchmark-<UTC time>.json].",
)
@click.option("--url", help="Base URL of a running deployment to measure instead of a local one.")
@click.option(
    "--instructions",
    is_flag=True,
    help="Only count instructions per call, service and floor, under valgrind's callgrind "
    "(repeatable whatever the machine's load; needs valgrind and a C compiler).",
)
@click.option(
    "--token",
    envvar="CDS_BENCHMARK_TOKEN",
    help="JWT sent to --url (or CDS_BENCHMARK_TOKEN); never printed.",
)
def benchmark(
    duration: float,
    connections: int,
    repetitions: int,
    fhir_delay_ms: float,
    output: Path | None,
    url: str | None,
    token: str | None,
    instructions: bool,
) -> None:
    """Measure the service against the floor of its stack, and as prefetch grows."""
    if instructions:
        _count_instructions(output)
        return
    # Imported here: the benchmark builds requests with cli.invoke, which imports this package.
    from cds_service.benchmark import load, report
    from cds_service.benchmark.run import Settings, run_benchmark

    settings = Settings(duration, connections, repetitions, fhir_delay_ms, url, token)
    load_before = os.getloadavg()  # other work on a shared machine skews every figure: record it
    try:
        measurements, notes = run_benchmark(settings, lambda line: click.echo(line, err=True))
    except load.WrkMissing as exc:
        raise click.ClickException(str(exc)) from None
    targets = report.evaluate_targets(measurements)
    notes += report.signature_notes(measurements)
    wrk = shutil.which("wrk")
    env = report.environment(
        {
            "wrk": wrk,
            "duration_s": duration,
            "connections": connections,
            "repetitions": repetitions,
            "fhir_delay_ms": fhir_delay_ms,
            "workers": None if url else DEFAULT_WORKERS,
            "threads": None if url else DEFAULT_THREADS,
            "target_url": url,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        }
    )
    output = output or _default_output()
    report.write_json(output, env, measurements, targets, notes)
    click.echo(
        f"\n{env['cpu_count']} CPUs, Python {env['python']}, "
        + ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v)
        + f"; {repetitions} x {duration:g} s per figure, medians; "
        f"workers {env['workers']}, threads {env['threads']}"
    )
    click.echo(report.table(measurements))
    click.echo("\n" + report.targets_text(targets))
    for note in notes:
        click.echo(f"note: {note}")
    click.echo(f"\nresults written to {output}")


def _count_instructions(output: Path | None) -> None:
    from cds_service.benchmark import instructions, report

    missing = instructions.available()
    if missing:
        raise click.ClickException(f"cannot count instructions: {missing}")
    counts = instructions.count_all(say=lambda line: click.echo(line, err=True))
    output = output or _default_output()
    output.parent.mkdir(parents=True, exist_ok=True)
    env = report.environment({"mode": "instructions", "calls": instructions.DEFAULT_CALLS})
    output.write_text(
        json.dumps({"environment": env, "instructions": instructions.as_json(counts)})
    )
    click.echo(instructions.report(counts))
    click.echo(f"\nresults written to {output}")


commands = [benchmark]
