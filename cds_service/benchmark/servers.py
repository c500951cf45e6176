"""Starting the processes under test on 127.0.0.1, and reading their peak memory from /proc.

The service runs as operators run it (`python -m cds_service serve`, the default workers and
threads) with authentication off, a fresh SQLite ledger in a temporary directory and the latency
proxy on its FHIR allowlist; the floor runs under the same gunicorn options. Each process group
is started in its own session and stopped with SIGTERM, then SIGKILL after a deadline. Peak RSS
is the sum of VmHWM over the gunicorn master and its workers; `reset_peak_rss` clears the
high-water marks (`/proc/<pid>/clear_refs`, value 5) so each measurement gets its own peak.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

READY_SECONDS = 30.0
STOP_SECONDS = 10.0


@dataclass
class ServerProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    def pids(self) -> list[int]:
        """The gunicorn master and its direct children (the workers)."""
        return [self.process.pid, *children_of(self.process.pid)]

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)
        if self._log is not None:
            self._log.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return found


def _status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def peak_rss_mb(pids: list[int]) -> float:
    return sum(_status_kb(pid, "VmHWM") for pid in pids) / 1024


def reset_peak_rss(pids: list[int]) -> None:
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            pass  # not our process or an old kernel: the peak then covers the whole run


def start(
    name: str,
    command: list[str],
    env: dict[str, str],
    workdir: Path,
    port: int,
    ready_path: str = "/healthz",
) -> ServerProcess:
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603 (commands built here, never from a request)
        command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True
    )
    server = ServerProcess(name, f"http://127.0.0.1:{port}", process, log_path, log)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(server.url + ready_path, timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} not ready after {READY_SECONDS:g} s:\n{server.log_tail()}")


PASSED_ON = frozenset({"CDS_HOOKS_DIR"})  # CDS_* settings the benchmarked service keeps


def service_environment(
    parent: Mapping[str, str],
    workdir: Path,
    name: str,
    fhir_allowlist: list[str],
    port: int,
    trusted_issuers: Path | None = None,
) -> dict[str, str]:
    """The benchmarked service's environment: the caller's, without its `CDS_*` settings but
    the hooks folder (the benchmark reads the same one to build its calls). A configured ledger
    database or spool folder must never receive benchmark rows, nor a replay cache benchmark
    tokens, and a pilot switch (shadow mode, a rule switched off) or another worker count would
    measure a different service from the one reported: the embedded defaults are measured, with
    the ledger and its spool in the run's own folder."""
    env = {k: v for k, v in parent.items() if not k.startswith("CDS_") or k in PASSED_ON}
    env.update(
        {
            "CDS_AUTH_ENABLED": "false" if trusted_issuers is None else "true",
            "CDS_DATABASE_URL": f"sqlite:///{workdir / (name + '-ledger.sqlite3')}",
            "CDS_LEDGER_SPOOL_DIR": str(workdir / f"{name}-ledger-spool"),
            "CDS_FHIR_ALLOWLIST": ",".join(fhir_allowlist),
        }
    )
    if trusted_issuers is not None:
        env["CDS_TRUSTED_ISSUERS_FILE"] = str(trusted_issuers)
        env["CDS_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    return env


def start_service(
    workdir: Path, fhir_allowlist: list[str], trusted_issuers: Path | None = None
) -> ServerProcess:
    """The service, authentication off; with `trusted_issuers`, on (its own ledger file)."""
    port = free_port()
    name = "service" if trusted_issuers is None else "service-auth"
    env = service_environment(os.environ, workdir, name, fhir_allowlist, port, trusted_issuers)
    command = [
        sys.executable,
        "-m",
        "cds_service",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *(["--no-auth"] if trusted_issuers is None else []),
    ]
    return start(name, command, env, workdir, port)


def start_floor(workdir: Path, responses_file: Path) -> ServerProcess:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "cds_service.benchmark.floor",
        "--responses",
        str(responses_file),
        "--port",
        str(port),
    ]
    return start("floor", command, dict(os.environ), workdir, port)
