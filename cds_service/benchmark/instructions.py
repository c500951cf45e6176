"""Instructions per call, counted by valgrind's callgrind: a measure of the service's own cost
that the machine's load cannot move.

On a shared host the CPU time of the same call swings by 30% or more between runs, and the
load-test ratios with it; the number of instructions a call executes does not. `count` runs a
child Python under `valgrind --tool=callgrind --instr-atstart=no`: the child builds the app (or
the floor) uninstrumented, sends `warmup` calls through its WSGI entry point (no server, no
socket: the application's own work, its request log line and the ledger's writer thread
included), then turns the instrumentation on for exactly `calls` calls through callgrind's
client requests (a three-line C helper compiled on the spot from valgrind's `callgrind.h`), and
the parent reads the totals. With `PYTHONHASHSEED=0` a figure repeats within about 1%.

The floor is measured the same way: `create_floor_app` answering the cards the service gave, so
the ratio service / floor says how much more work than the stack's minimum a call is, whatever
the machine is doing. Needs Debian's `valgrind` package (which ships `callgrind.h`) and a C
compiler; `available()` says what is missing.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds_service.frozen import fast_init

HELPER_SOURCE = """#include <valgrind/callgrind.h>
void cds_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void cds_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS; }
"""
CALLGRIND_HEADER = Path("/usr/include/valgrind/callgrind.h")
DEFAULT_CALLS = 200
DEFAULT_WARMUP = 350
SCENARIO_KEYWORDS = ("none", "gbs", "ae-")  # the benchmark's three representative calls


def available() -> str | None:
    """None when instructions can be counted here, else what is missing."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (Debian: apt-get install -y valgrind)"
    if not CALLGRIND_HEADER.exists():
        return f"{CALLGRIND_HEADER} is missing (Debian's valgrind package ships it)"
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        return "no C compiler (cc or gcc) to build the callgrind helper"
    return None


def build_helper(folder: Path) -> Path:
    source, library = folder / "cds_callgrind.c", folder / "cds_callgrind.so"
    source.write_text(HELPER_SOURCE)
    compiler = shutil.which("cc") or shutil.which("gcc") or "cc"
    subprocess.run(  # noqa: S603 (a fixed command)
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
    )
    return library


def totals(dump_text: str) -> int | None:
    """The `totals:` line of a callgrind dump (the instructions counted), or None."""
    for line in dump_text.splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    return None


@fast_init
@dataclass(frozen=True)
class Count:
    scenario: str
    target: str  # "service" | "floor"
    calls: int
    instructions: int

    @property
    def per_call(self) -> float:
        return self.instructions / self.calls


def count(
    target: str,
    keyword: str,
    *,
    calls: int = DEFAULT_CALLS,
    warmup: int = DEFAULT_WARMUP,
    python: str = sys.executable,
) -> Count:
    """Instructions `calls` hook calls of the scenario named by `keyword` cost in `target`."""
    with tempfile.TemporaryDirectory(prefix="cds-callgrind-") as tmp:
        folder = Path(tmp)
        helper = build_helper(folder)
        out = folder / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}.%p",
            python,
            "-m",
            "cds_service.benchmark.instructions",
            "--child",
            target,
            keyword,
            "--calls",
            str(calls),
            "--warmup",
            str(warmup),
            "--helper",
            str(helper),
            "--workdir",
            str(folder),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(  # noqa: S603 (built here)
            command, env=env, capture_output=True, text=True, check=False
        )
        answer = done.stdout.strip().splitlines()
        if done.returncode != 0 or not answer:
            raise RuntimeError(
                f"callgrind run failed ({done.returncode}): {done.stderr[-2000:]}{done.stdout}"
            )
        counted = [totals(Path(p).read_text()) for p in glob.glob(f"{out}.*")]
        instructions = max((c for c in counted if c is not None), default=None)
        if instructions is None:
            raise RuntimeError("callgrind wrote no totals")
        return Count(answer[-1], target, calls, instructions)


def count_all(
    keywords: Iterable[str] = SCENARIO_KEYWORDS,
    *,
    calls: int = DEFAULT_CALLS,
    say: Callable[[str], None] = print,
) -> list[Count]:
    found: list[Count] = []
    for keyword in keywords:
        for target in ("service", "floor"):
            say(f"counting instructions: {target} {keyword} ...")
            found.append(count(target, keyword, calls=calls))
    return found


def report(counts: list[Count]) -> str:
    by_scenario: dict[str, dict[str, Count]] = {}
    for c in counts:
        by_scenario.setdefault(c.scenario, {})[c.target] = c
    lines = [
        f"{'scenario':40} {'service M instr/call':>21} {'floor M instr/call':>19} {'ratio':>7}"
    ]
    for scenario, pair in by_scenario.items():
        service, floor = pair.get("service"), pair.get("floor")
        ratio = f"{service.per_call / floor.per_call:.2f}x" if service and floor else "-"
        lines.append(
            f"{scenario:40} {service.per_call / 1e6 if service else float('nan'):21.3f} "
            f"{floor.per_call / 1e6 if floor else float('nan'):19.3f} {ratio:>7}"
        )
    return "\n".join(lines)


def as_json(counts: list[Count]) -> list[dict[str, Any]]:
    return [
        {
            "scenario": c.scenario,
            "target": c.target,
            "calls": c.calls,
            "instructions_per_call": round(c.per_call),
        }
        for c in counts
    ]


# ----------------------------------------------------------------------------- the child


def _wsgi_caller(app: Any, path: str, body: bytes, scenario: str) -> Callable[[], bytes]:
    """One POST through the app's WSGI entry point, as a server would make it (the floor reads
    the scenario's name from the header the load generator sends)."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> bytes:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": "127.0.0.1:8080",
            "HTTP_X_BENCHMARK_SCENARIO": scenario,
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "REMOTE_ADDR": "127.0.0.1",
        }
        answer = b"".join(app(environ, start_response))
        if not statuses[-1].startswith("200"):
            raise RuntimeError(f"{path} answered {statuses[-1]}: {answer[:300]!r}")
        return answer

    return call


def _child(target: str, keyword: str, calls: int, warmup: int, helper: Path, workdir: Path) -> str:
    os.environ.update(
        {
            "CDS_AUTH_ENABLED": "false",
            "CDS_DATABASE_URL": f"sqlite:///{workdir / 'ledger.sqlite3'}",
            # The spool too: never a configured one, where its rows could meet another ledger.
            "CDS_LEDGER_SPOOL_DIR": str(workdir / "ledger-spool"),
            "CDS_FHIR_ALLOWLIST": "http://127.0.0.1",
        }
    )
    from cds_service import create_app
    from cds_service.benchmark.floor import create_floor_app
    from cds_service.benchmark.run import representative
    from cds_service.extensions import SERVICES

    service_app = create_app()
    scenarios = [s for s in representative(datetime.now(UTC)) if keyword in s.name]
    if not scenarios:
        raise SystemExit(f"no representative scenario matches {keyword!r}")
    scenario = scenarios[0]
    body = json.dumps(scenario.request(service_app.extensions[SERVICES])).encode()
    path = f"/cds-services/{scenario.service_id}"
    call = _wsgi_caller(service_app, path, body, scenario.name)
    if target == "floor":
        floor_app = create_floor_app({scenario.name: json.loads(call())})
        call = _wsgi_caller(floor_app, path, body, scenario.name)
    for _ in range(warmup):
        call()
    callgrind = ctypes.CDLL(str(helper))
    callgrind.cds_start()
    for _ in range(calls):
        call()
    callgrind.cds_stop()
    return scenario.name


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the child of `count` (under callgrind)")
    parser.add_argument("--child", nargs=2, metavar=("TARGET", "KEYWORD"), required=True)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--helper", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    target, keyword = args.child
    if target not in ("service", "floor"):
        raise SystemExit("TARGET is service or floor")
    # The request log goes to stderr as in service; stdout carries only the scenario's name.
    name = _child(target, keyword, args.calls, args.warmup, args.helper, args.workdir)
    print(name)


if __name__ == "__main__":
    main()
