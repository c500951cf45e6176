"""The real FHIR server of the no-prefetch runs: sekmet-fhir on loopback, seeded with the scenarios.

As in the integration tier (tests/integration/conftest.py): sekmet-fhir 0.1.1 in its own
virtual environment `.fhir-venv` at the repository root, a free port, a fresh data directory and
settings file, ready when `GET /fhir/metadata` answers 200. It is seeded through the service's
own `fixture_loader` with `fhir_fixtures/*.json` (when there are any) and the benchmark's
scenario bundles. The benchmark does not install it: when it is missing, `SekmetMissing` says
how, and the no-prefetch part is skipped with that message in the report.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from cds_service.benchmark.servers import ServerProcess, free_port, start
from cds_service.config import PROJECT_ROOT
from cds_service.fixture_loader import load_bundle

SEKMET_REQUIREMENT = "sekmet-fhir==0.1.1"  # pinned exactly: young project, one maintainer
SEKMET_INSTALL_HINT = (
    "the FHIR test server is not installed: python3 -m venv .fhir-venv && "
    f".fhir-venv/bin/pip install {SEKMET_REQUIREMENT} (at the repository root)"
)
FIXTURES_DIR = PROJECT_ROOT / "fhir_fixtures"


class SekmetMissing(RuntimeError):
    """No sekmet executable; the message says how to install it."""


def sekmet_executable() -> Path:
    local = PROJECT_ROOT / ".fhir-venv" / "bin" / "sekmet"
    if local.exists():
        return local
    found = shutil.which("sekmet")
    if found is None:
        raise SekmetMissing(SEKMET_INSTALL_HINT)
    return Path(found)


def sekmet_command(
    executable: Path, workdir: Path, port: int, token: str | None = None
) -> tuple[str, list[str]]:
    """Write a fresh sekmet-fhir settings file into `workdir` (run the command from there);
    returns the FHIR base URL and the command. A token makes the server require it as bearer."""
    base_url = f"http://127.0.0.1:{port}/fhir"
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "base_url": base_url,
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(workdir / "data"),
        "log_inbound": False,
        "simulator": {"enabled": False},
    }
    if token:
        settings["server_auth"] = {"types": ["bearer"], "tokens": [token]}
    (workdir / "settings.yaml").write_text(json.dumps(settings))  # JSON is valid YAML
    return base_url, [
        str(executable),
        "serve",
        "--config",
        "settings.yaml",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def start_fhir_server(workdir: Path) -> ServerProcess:
    """sekmet-fhir on a free loopback port; its `url` is the FHIR base (`.../fhir`)."""
    port = free_port()
    base_url, command = sekmet_command(sekmet_executable(), workdir, port)
    server = start(
        "fhir-server", command, dict(os.environ), workdir, port, ready_path="/fhir/metadata"
    )
    server.url = base_url
    return server


def fixture_bundles() -> list[tuple[str, dict[str, Any]]]:
    """The transaction Bundles in fhir_fixtures/ (other JSON there, e.g. an index, is skipped)."""
    found = []
    for path in sorted(FIXTURES_DIR.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(content, dict) and content.get("type") == "transaction":
            found.append((path.name, content))
    return found


def seed(base_url: str, bundles: list[tuple[str, dict[str, Any]]]) -> int:
    """Load the repository's fixtures (if any) and the given bundles; returns entries loaded."""
    loaded = 0
    for name, bundle in [*fixture_bundles(), *bundles]:
        loaded += load_bundle(base_url, bundle, name=name).entries
    return loaded
