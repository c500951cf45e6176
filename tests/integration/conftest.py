"""A real FHIR R4 server on loopback for the integration tier: sekmet-fhir, started per session.

See `shared/docs/fhir-test-server.md`. The server lives in its own virtual environment
(`.fhir-venv` at the repository root, created here on first use with a pinned version), gets a
free port, a fresh data directory and its own settings file, and must answer `GET /fhir/metadata`
with 200 within 30 s, or the session fails with the server's log. Two servers run: an open one and
one that requires a bearer token (`server_auth`). Both are seeded through the service's own
`load-fixtures` command with `fhir_fixtures/*.json` and this tier's `tests/data/resolution/`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from cds_service.benchmark.fhir_server import SEKMET_REQUIREMENT, sekmet_command
from cds_service.cli.fixtures import load_fixtures
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".fhir-venv"
SEKMET = SEKMET_REQUIREMENT
READY_SECONDS = 30.0
PROTECTED_TOKEN = "integration-fhir-token-7f3a9c"
FIXTURE_DIRS = (ROOT / "fhir_fixtures", ROOT / "tests" / "data" / "resolution")


@dataclass(frozen=True)
class FhirTestServer:
    base_url: str
    token: str | None
    started_in_seconds: float


def sekmet_executable() -> Path:
    """`.fhir-venv/bin/sekmet`, installing the pinned sekmet-fhir first if it is not there."""
    exe = VENV / "bin" / "sekmet"
    if exe.exists() and list(
        VENV.glob(f"lib/python*/site-packages/sekmet_fhir-{SEKMET.partition('==')[2]}.dist-info")
    ):
        return exe
    python = shutil.which("python3") or sys.executable
    for step in (
        [python, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "pip"), "install", "--quiet", SEKMET],
    ):
        done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.fail(
                f"cannot install the FHIR test server ({' '.join(step)}):\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}",
                pytrace=False,
            )
    return exe


def start_sekmet(workdir: Path, token: str | None) -> Iterator[FhirTestServer]:
    base_url, command = sekmet_command(sekmet_executable(), workdir, free_port(), token)
    log_path = workdir / "sekmet.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"sekmet-fhir exited with {process.returncode}; its log:\n"
                    f"{log_path.read_text()[-4000:]}",
                    pytrace=False,
                )
            try:
                if (
                    requests.get(f"{base_url}/metadata", headers=headers, timeout=2).status_code
                    == 200
                ):
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() - started > READY_SECONDS:
                pytest.fail(
                    f"sekmet-fhir did not answer /fhir/metadata in {READY_SECONDS:g} s; "
                    f"its log:\n{log_path.read_text()[-4000:]}",
                    pytrace=False,
                )
            time.sleep(0.2)
        server = FhirTestServer(base_url, token, round(time.monotonic() - started, 2))
        seed(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def seed(server: FhirTestServer) -> None:
    """Seed with the service's own `load-fixtures` command, as docker-compose does for HAPI."""
    for directory in FIXTURE_DIRS:
        if not list(directory.glob("*.json")):
            continue  # fhir_fixtures/ may still be empty while the clinical bundles are written
        args = ["--fhir-base", server.base_url, "--dir", str(directory)]
        if server.token:
            args += ["--token", server.token]
        result = CliRunner().invoke(load_fixtures, args)
        if result.exit_code != 0:
            pytest.fail(f"load-fixtures {directory.name} failed:\n{result.output}", pytrace=False)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirTestServer]:
    yield from start_sekmet(tmp_path_factory.mktemp("sekmet-open"), token=None)


@pytest.fixture(scope="session")
def protected_fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirTestServer]:
    yield from start_sekmet(tmp_path_factory.mktemp("sekmet-bearer"), token=PROTECTED_TOKEN)
