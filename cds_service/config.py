"""Configuration: every setting is an environment variable prefixed `CDS_`, with a default.

`SETTINGS` is the single list of what can be configured; the README's configuration table is
checked against it by a test, so the two cannot drift. `load_config` reads the environment,
converts types and returns a plain dict that `create_app` puts into `app.config`; tests pass a
mapping of overrides to `create_app(test_config)` instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _choice(raw: str, allowed: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in allowed:
        raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
    return value


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class Setting:
    name: str  # without the CDS_ prefix; app.config uses the same name
    default: Any
    meaning: str
    parse: Callable[[str], Any] = str
    secret: bool = False  # masked wherever the configuration is shown

    @property
    def env(self) -> str:
        return f"CDS_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "HOOKS_DIR",
        str(PROJECT_ROOT / "hooks"),
        "Folder of service definitions (`<service-id>.json`).",
    ),
    Setting(
        "DATABASE_URL",
        "",
        "SQLAlchemy URL of the card ledger and feedback store; empty means a SQLite file "
        "`cds-ledger.sqlite3` in the instance folder.",
    ),
    # 16 MiB: EHRs that ignore _count send whole histories (10,000 Observations are ~4.8 MB).
    Setting(
        "PATIENT_HASH_KEY",
        "",
        "Secret key (at least 32 characters) of the keyed hash that stands for the patient id "
        "in the ledger; every instance must use the same. Empty: a random key kept in the "
        "database, made by the first instance that starts.",
        secret=True,
    ),
    Setting(
        "PATIENT_HASH_KEY_FILE",
        "",
        "File holding `CDS_PATIENT_HASH_KEY` (a mounted secret); set one of the two, not both.",
    ),
    Setting(
        "MAX_BODY_BYTES",
        16 * 1024 * 1024,
        "Largest request body accepted, in bytes; larger bodies get 413.",
        int,
    ),
    Setting(
        "LEDGER_SPOOL_DIR",
        "",
        "Folder of the ledger's local spool (cards written here before the response, then "
        "committed in batches); empty: beside the SQLite file, or `ledger-spool` in the "
        "instance folder.",
    ),
    Setting(
        "LEDGER_SPOOL_MAX_BYTES",
        256 * 1024 * 1024,
        "Most bytes one process keeps in the spool while the database cannot take them; "
        "beyond it hook calls answer 503.",
        int,
    ),
    Setting(
        "CORS_ORIGINS",
        ["https://sandbox.cds-hooks.org", "http://localhost:*", "http://127.0.0.1:*"],
        "Comma-separated origins allowed by CORS (`*` in a port means any port).",
        _list,
    ),
    Setting(
        "PUBLIC_BASE_URL",
        "",
        "The URL EHRs use to reach this service (behind a proxy), without a trailing slash; "
        "used to compute the JWT `aud`. Empty: taken from the request.",
    ),
    Setting(
        "AUTH_ENABLED",
        True,
        "Require a signed JWT from the EHR on every endpoint. Turn off only for local use.",
        _bool,
    ),
    Setting(
        "PREVIEW",
        "auto",
        "The card preview page at `/preview`: `auto` (on only when authentication is off), "
        "`true` or `false`. It never opens the hook endpoints: with authentication on, its calls "
        "carry a JWT you paste.",
        lambda raw: _choice(raw, ("auto", "true", "false")),
    ),
    Setting(
        "TRUSTED_ISSUERS_FILE",
        "",
        "JSON file of trusted JWT issuers (per `iss`: inline JWKS, JWKS URL and/or allowed `jku` "
        "URLs, optional tenants and audiences).",
    ),
    Setting("JWT_LEEWAY_SECONDS", 30, "Clock skew allowed on `exp`, `iat` and `nbf`.", int),
    Setting(
        "JWT_MAX_LIFETIME_SECONDS",
        3600,
        "Longest JWT lifetime accepted (`exp` - `iat`); bounds the `jti` replay cache.",
        int,
    ),
    Setting(
        "REPLAY_CACHE",
        "database",
        "Where seen JWT `jti` values are kept: `database` (the ledger's database, shared by "
        "all workers and instances) or `memory` (one process only).",
    ),
    Setting(
        "FHIR_ALLOWLIST",
        ["http://127.0.0.1", "http://localhost", "http://[::1]", "https://hapi.fhir.org/baseR4"],
        "Comma-separated FHIR base URLs the service may contact (a loopback URL without a port "
        "matches any port, one with a port only that port); any other `fhirServer` is treated "
        "as unreachable.",
        _list,
    ),
    Setting(
        "SILENT_SERVICES",
        [],
        "Comma-separated service ids in shadow mode: cards are computed and recorded in the "
        'ledger marked silent, and the EHR gets `{"cards": []}`.',
        _list,
    ),
    Setting(
        "DISABLED_RULES",
        [],
        "Comma-separated rule ids switched off in this deployment: their findings give no card.",
        _list,
    ),
    Setting(
        "FHIR_BUDGET_SECONDS",
        3.0,
        "Time budget for fetching all missing prefetch data in one hook call.",
        float,
    ),
    Setting("FHIR_CONNECT_TIMEOUT_SECONDS", 1.0, "Connect timeout of one FHIR request.", float),
    Setting("FHIR_READ_TIMEOUT_SECONDS", 2.5, "Read timeout of one FHIR request.", float),
    Setting("FHIR_MAX_PAGES", 10, "Most `next` pages followed for one search.", int),
    Setting("LOG_LEVEL", "INFO", "Log level of the JSON request log (DEBUG, INFO, WARNING)."),
)


def defaults() -> dict[str, Any]:
    return {s.name: s.default for s in SETTINGS}


def default(name: str) -> Any:
    """The one default of setting `name` (modules needing a fallback read it here)."""
    for setting in SETTINGS:
        if setting.name == name:
            return setting.default
    raise KeyError(name)


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every `CDS_*` setting from the environment; a bad value names its variable."""
    environ = os.environ if environ is None else environ
    config = defaults()
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or raw == "":
            continue
        try:
            config[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ValueError(f"{setting.env}: {exc}") from exc
    return config


def _shown(value: Any) -> str:
    if isinstance(value, list):
        value = ",".join(value)
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, str) and value.startswith(str(PROJECT_ROOT)):
        value = "<checkout>" + value[len(str(PROJECT_ROOT)) :]
    return f"`{value}`" if value != "" else "(empty)"


def markdown_table() -> str:
    """The README's configuration table, generated so a test can prove the two agree."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    rows += [f"| `{s.env}` | {_shown(s.default)} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(rows)
