"""Strict configuration: every CDS_* value is checked at start (enumerations, ranges, URL shapes,
allowlist entries that would be ignored); an unknown CDS_* variable names the nearest setting; a
bad setting stops `serve` with one line before anything says it is starting; `cds-service config`
prints the effective configuration with secrets masked; worker count from CDS_WORKERS or the usable
CPUs (cgroup quota honoured); GUNICORN_CMD_ARGS respected."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cds_service.cli import main
from cds_service.config import COMMAND_VARIABLES, ConfigError, load_config
from cds_service.server import GunicornServer, cgroup_cpu_limit, gunicorn_options, usable_cpus
from tests.conftest import ROOT
from tests.fake_ehr import write_trusted_issuers


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("CDS_REPLAY_CACHE", "redis", "must be one of database, memory"),
        ("CDS_FHIR_BUDGET_SECONDS", "-1", "positive number of seconds"),
        ("CDS_FHIR_READ_TIMEOUT_SECONDS", "nan", "positive number of seconds"),
        ("CDS_FHIR_CONNECT_TIMEOUT_SECONDS", "soon", "expected a number of seconds"),
        ("CDS_MAX_BODY_BYTES", "0", "at least 1024"),
        ("CDS_FHIR_MAX_PAGES", "0", "at least 1"),
        ("CDS_JWT_LEEWAY_SECONDS", "-5", "at least 0"),
        ("CDS_PORT", "70000", "at most 65535"),
        ("CDS_WORKERS", "two", "whole number"),
        ("CDS_PUBLIC_BASE_URL", "cds.example.org/", "absolute http(s) URL"),
        ("CDS_PUBLIC_BASE_URL", "https://cds.example.org/", "must not end with a slash"),
        ("CDS_PUBLIC_BASE_URL", "https://cds.example.org?x=1", "plain base URL"),
        ("CDS_FHIR_ALLOWLIST", "https://ok.example.org,http://fhir.example.org", "loopback only"),
        ("CDS_FHIR_ALLOWLIST", "https://fhir.example.org/r4?x=1", "would be ignored"),
        ("CDS_CORS_ORIGINS", "*", "not allowed"),
        ("CDS_CORS_ORIGINS", "ehr.example.org", "not an origin"),
        ("CDS_LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR"),
        ("CDS_AUTH_ENABLED", "maybe", "expected true/false"),
        ("CDS_DATABASE_URL", "mysql://db/cds", "unsupported database 'mysql'"),
        ("CDS_HOOKS_DIR", "/nonexistent/hooks", "is not a folder"),
        ("CDS_TRUSTED_ISSUERS_FILE", "/nonexistent/issuers.json", "not a readable file"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(
    variable: str, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({variable: value})
    assert str(raised.value).startswith(f"{variable}: ")
    assert problem in str(raised.value)


def test_good_values_are_accepted_and_typed() -> None:
    config = load_config(
        {
            "CDS_REPLAY_CACHE": "Memory",
            "CDS_LOG_LEVEL": "debug",
            "CDS_PUBLIC_BASE_URL": "https://cds.example.org/hooks",
            "CDS_FHIR_ALLOWLIST": "https://fhir.example.org/r4, http://127.0.0.1:5000/fhir",
            "CDS_WORKERS": "3",
            "CDS_FHIR_BUDGET_SECONDS": "2.5",
        }
    )
    assert config["REPLAY_CACHE"] == "memory" and config["LOG_LEVEL"] == "DEBUG"
    assert config["FHIR_ALLOWLIST"] == ["https://fhir.example.org/r4", "http://127.0.0.1:5000/fhir"]
    assert (config["WORKERS"], config["FHIR_BUDGET_SECONDS"]) == (3, 2.5)


@pytest.mark.parametrize(
    ("variable", "nearest"),
    [
        ("CDS_AUTH_ENABLE", "CDS_AUTH_ENABLED"),
        ("CDS_DATABASE_URI", "CDS_DATABASE_URL"),
        ("CDS_FHIR_ALLOW_LIST", "CDS_FHIR_ALLOWLIST"),
    ],
)
def test_an_unknown_variable_names_the_nearest_setting(variable: str, nearest: str) -> None:
    with pytest.raises(
        ConfigError, match=f"^{variable}: not a setting .* did you mean {nearest}\\?$"
    ):
        load_config({variable: "false"})


def test_command_and_test_variables_are_not_settings_but_allowed() -> None:
    load_config({name: "x" for name in COMMAND_VARIABLES} | {"CDS_TEST_DATABASE_URL": "x"})
    load_config({"NOT_CDS_ANYTHING": "x", "CDS_REQUIRE_BROWSER": "1"})


def test_every_command_envvar_is_declared() -> None:
    declared = set()
    for path in (ROOT / "cds_service").rglob("*.py"):
        declared |= set(re.findall(r"envvar=\"(CDS_[A-Z0-9_]+)\"", path.read_text()))
    assert declared <= COMMAND_VARIABLES


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN"))}
    return subprocess.run(
        [sys.executable, "-m", "cds_service", "serve", "--port", "1", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"CDS_AUTH_ENABLE": "false"}, "CDS_AUTH_ENABLE: not a setting"),
        ({"CDS_PUBLIC_BASE_URL": "cds.example.org/"}, "CDS_PUBLIC_BASE_URL: "),
        (
            {"CDS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
            "cannot reach the ledger database (CDS_DATABASE_URL): ",
        ),
        (
            {"CDS_REPLAY_CACHE": "memory", "GUNICORN_CMD_ARGS": "--workers 2"},
            "CDS_REPLAY_CACHE=memory with 2 workers",
        ),
    ],
)
def test_serve_stops_on_a_bad_setting_with_one_line_before_saying_it_starts(
    env: dict[str, str], line: str, tmp_path: Path
) -> None:
    env = {"CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'l.sqlite3'}"} | env
    if "CDS_REPLAY_CACHE" in env:
        env["CDS_TRUSTED_ISSUERS_FILE"] = str(write_trusted_issuers(tmp_path))
    result = _serve(env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    record = json.loads(lines[0])  # a JSON line like every other
    assert record["level"] == "ERROR" and record["logger"] == "cds_service.serve"
    assert record["message"].startswith(line)
    assert "discovery" not in result.stderr and "Starting" not in result.stderr


def test_config_prints_the_effective_configuration_with_secrets_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "a-patient-hash-key-of-forty-characters!!"
    monkeypatch.setenv("CDS_PATIENT_HASH_KEY", key)
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql://cds:s3cret-pw@db.example.org:5432/cds")
    monkeypatch.setenv("CDS_WORKERS", "3")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    assert key not in result.output and "s3cret-pw" not in result.output
    assert "CDS_PATIENT_HASH_KEY=(set, 40 characters)" in result.output
    assert re.search(
        r"CDS_DATABASE_URL=postgresql://cds:\*\*\*@db.example.org:5432/cds +\(environment\)",
        result.output,
    )
    assert re.search(r"CDS_REPLAY_CACHE=database +\(default\)", result.output)
    assert "# serve: 3 workers (CDS_WORKERS)" in result.output
    as_json = json.loads(CliRunner().invoke(main, ["config", "--json"]).output)
    assert {"variable": "CDS_WORKERS", "value": "3", "source": "environment"} in as_json["settings"]


def test_config_refuses_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_REPLAY_CACHE", "redis")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == "Error: CDS_REPLAY_CACHE: must be one of database, memory, got 'redis'"
    )


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_the_cgroup_cpu_quota_is_read(
    tmp_path: Path, files: dict[str, str], limit: float | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_limit(tmp_path) == limit


def test_default_workers_are_the_usable_cpus_capped_by_the_quota(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == affinity
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU: one worker
    assert usable_cpus(tmp_path) == 1


def test_gunicorn_cmd_args_apply_over_ours_and_explicit_options_over_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = gunicorn_options("127.0.0.1", 8080, 4, 4)
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--workers 1 --timeout 90")
    server = GunicornServer(lambda: None, options)  # type: ignore[arg-type,return-value]
    assert (server.cfg.workers, server.cfg.timeout, server.cfg.threads) == (1, 90, 4)
    explicit = GunicornServer(lambda: None, options, {"workers": 3})  # type: ignore[arg-type,return-value]
    assert (explicit.cfg.workers, explicit.cfg.timeout) == (3, 90)
    if "control_socket_disable" in server.cfg.settings:
        assert server.cfg.control_socket_disable is True
