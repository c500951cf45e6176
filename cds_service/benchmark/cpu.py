"""CPU time of the processes under test, per thread, read from /proc, and the stage times the
service's request log reports.

`thread_cpu(pids)` sums user + system time of every thread of the given processes (the gunicorn
master and its workers), split into the ledger's writer thread (named `ledger-writer` in the
kernel, see `ledger_writer`) and all the others (request handling, gunicorn itself); the
difference of two readings around a wrk run, divided by the requests wrk counted, is the CPU
each request cost, background work included. `log_stages(text)` reads the JSON request-log lines
the service wrote during the run: the mean of the summed `stages_ms` (wall), of `duration_ms`
and of `stages_cpu_ms` (the request thread's CPU time across the stages).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cds_service.frozen import fast_init

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LEDGER_THREAD = "ledger-writer"


@fast_init
@dataclass(frozen=True)
class CpuReading:
    request_s: float  # every thread but the ledger writer's
    ledger_s: float

    def __sub__(self, other: CpuReading) -> CpuReading:
        return CpuReading(self.request_s - other.request_s, self.ledger_s - other.ledger_s)


def _task_cpu(stat: str) -> tuple[str, float]:
    """(thread name, user + system seconds) from one /proc/<pid>/task/<tid>/stat line."""
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def thread_cpu(pids: list[int], proc: Path = Path("/proc")) -> CpuReading:
    request_s = ledger_s = 0.0
    for pid in pids:
        for task in (proc / str(pid) / "task").glob("*"):
            try:
                name, seconds = _task_cpu((task / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue  # the thread ended between the listing and the read
            if name == LEDGER_THREAD:
                ledger_s += seconds
            else:
                request_s += seconds
    return CpuReading(request_s, ledger_s)


def log_stages(text: str) -> tuple[float, float, float | None, int] | None:
    """(mean summed stage wall ms, mean duration ms, mean stage CPU ms, calls) over the hook
    calls logged in `text`; the CPU figure is None when the log does not carry it."""
    stages = durations = stage_cpu = 0.0
    calls = with_cpu = 0
    for line in text.splitlines():
        if '"stages_ms"' not in line:
            continue
        try:
            record = json.loads(line)
            stages += sum(float(v) for v in record["stages_ms"].values())
            durations += float(record["duration_ms"])
            if "stages_cpu_ms" in record:
                stage_cpu += float(record["stages_cpu_ms"])
                with_cpu += 1
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        calls += 1
    if not calls:
        return None
    cpu_mean = stage_cpu / with_cpu if with_cpu else None
    return stages / calls, durations / calls, cpu_mean, calls
