"""Driving `wrk` (a separate process) with a Lua script, and measuring wrk's own CPU time.

The script POSTs one fixed body with the hook's JSON content type (plus the scenario header the
floor reads, and a bearer token for an operator's deployment), and its `done()` prints one JSON
line: requests, duration, latency percentiles in microseconds, and the error counts wrk keeps
(connect, read, write, timeout, non-2xx/3xx status). wrk's CPU time comes from the kernel's
resource usage of the exited child (`os.wait4`), so a run where the load generator itself was
the bottleneck shows up as wrk using close to a whole core per thread.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cds_service.frozen import fast_init

WRK_INSTALL_HINT = (
    "wrk is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y "
    "wrk (other systems: https://github.com/wg/wrk)"
)
RESULT_MARKER = "BENCH-RESULT "
WRK_THREADS = 1  # one event-loop thread drives 8 connections easily and leaves the cores to the
#                  service under test, which shares this machine
GRACE_SECONDS = 30.0  # beyond the duration and wrk's own timeout, before wrk is killed

LUA_TEMPLATE = """
local f = assert(io.open({body_path}, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Benchmark-Scenario"] = {scenario}
{auth}
{tokens}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
    .. '"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


class WrkMissing(RuntimeError):
    """wrk is not on PATH; the message says how to install it."""


@fast_init
@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    errors: int  # connect + read + write + timeout + non-2xx/3xx
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_s: float  # user + system CPU seconds of the wrk process

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def client_cpu_share(self) -> float:
        """wrk's CPU time per second of wall time (1.0 = one core busy all the time)."""
        return self.client_cpu_s / self.duration_s if self.duration_s > 0 else 0.0


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing(WRK_INSTALL_HINT)
    return found


TOKENS_LUA = """
local tokens = {{}}
for line in io.lines({tokens_path}) do tokens[#tokens + 1] = line end
local next_token = 0
request = function()
  next_token = next_token % #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[next_token]
  return wrk.format()
end
"""


PAUSE_LUA = """
function delay()
  return math.random({low}, {high})
end
"""


def lua_script(
    body_path: Path,
    scenario: str,
    token: str | None = None,
    tokens_path: Path | None = None,
    pause_ms: float | None = None,
) -> str:
    """The wrk script; `tokens_path`: a file of JWTs, one a line, a fresh one per request;
    `pause_ms`: each connection pauses a random 0.5-1.5x that long before each request (think
    time between calls, as EHRs send them), instead of sending the next one at once."""
    auth = f'wrk.headers["Authorization"] = {json.dumps("Bearer " + token)}' if token else ""
    tokens = TOKENS_LUA.format(tokens_path=json.dumps(str(tokens_path))) if tokens_path else ""
    if pause_ms:
        low, high = max(1, round(pause_ms / 2)), max(1, round(pause_ms * 1.5))
        tokens += PAUSE_LUA.format(low=low, high=high)
    return LUA_TEMPLATE.format(
        body_path=json.dumps(str(body_path)),
        scenario=json.dumps(scenario),
        auth=auth,
        tokens=tokens,
        marker=RESULT_MARKER,
    )


def parse_wrk_output(stdout: str, client_cpu_s: float) -> LoadResult:
    line = next((ln for ln in stdout.splitlines() if ln.startswith(RESULT_MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result line; its output:\n{stdout[-2000:]}")
    raw = json.loads(line[len(RESULT_MARKER) :])
    errors = sum(int(raw[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        requests=int(raw["requests"]),
        duration_s=raw["duration_us"] / 1e6,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        client_cpu_s=client_cpu_s,
    )


def run_wrk(
    url: str,
    body: bytes,
    scenario: str,
    *,
    connections: int,
    duration_s: float,
    timeout_s: float = 10.0,
    token: str | None = None,
    tokens: list[str] | None = None,
    pause_ms: float | None = None,
) -> LoadResult:
    """POST `body` to `url` from `connections` connections for `duration_s` seconds (each
    connection pausing about `pause_ms` before each request, if given)."""
    executable = wrk_path()
    with tempfile.TemporaryDirectory(prefix="cds-bench-wrk-") as tmp:
        body_path, script_path = Path(tmp, "body.json"), Path(tmp, "post.lua")
        body_path.write_bytes(body)
        tokens_path = Path(tmp, "tokens.txt") if tokens else None
        if tokens_path is not None and tokens:
            tokens_path.write_text("\n".join(tokens) + "\n")
        script_path.write_text(lua_script(body_path, scenario, token, tokens_path, pause_ms))
        command = [
            executable,
            "-t",
            str(min(WRK_THREADS, connections)),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(duration_s))}s",
            "--timeout",
            f"{timeout_s:g}s",
            "-s",
            str(script_path),
            url,
        ]
        with tempfile.TemporaryFile(mode="w+") as out:
            process = subprocess.Popen(  # noqa: S603 (wrk from PATH, arguments built here)
                command, stdout=out, stderr=subprocess.STDOUT
            )
            deadline = time.monotonic() + duration_s + timeout_s + GRACE_SECONDS
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    process.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    _, status, usage = os.wait4(process.pid, 0)
                    process.returncode = os.waitstatus_to_exitcode(status)
                    break
                time.sleep(0.05)
            out.seek(0)
            stdout = out.read()
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{stdout[-2000:]}")
    return parse_wrk_output(stdout, usage.ru_utime + usage.ru_stime)
