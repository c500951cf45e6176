"""Configuration: every setting is an environment variable prefixed `CDS_`, with a default.

`SETTINGS` is the single list of what can be configured; the README's configuration table is
checked against it by a test, so the two cannot drift. `load_config` reads the environment,
converts types and returns a plain dict that `create_app` puts into `app.config`; tests pass a
mapping of overrides to `create_app(test_config)` instead.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cds_service.frozen import fast_init

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# `CDS_*` variables that are not service settings: read by single commands (click `envvar`s) or by
# the test suite (`CDS_TEST_*`, `CDS_REQUIRE_*`). Any other unknown `CDS_*` name is an error.
COMMAND_VARIABLES = frozenset(
    {"CDS_INVOKE_TOKEN", "CDS_FIXTURES_TOKEN", "CDS_FIXTURES_FHIR_BASE", "CDS_BENCHMARK_TOKEN"}
)
TEST_PREFIXES = ("CDS_TEST_", "CDS_REQUIRE_")


class ConfigError(ValueError):
    """A setting that cannot be used; its text is one line that names the variable."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {raw.strip()}")
    return value


def _choice(*choices: str, case: Callable[[str], str] = str.lower) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = case(raw.strip())
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _public_base_url(raw: str) -> str:
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(
            f"must be an absolute http(s) URL such as https://cds.example.org, got {raw!r}"
        )
    if value.endswith("/"):
        raise ValueError(f"must not end with a slash (every `aud` would differ), got {raw!r}")
    if parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"must be a plain base URL (no query, fragment or user), got {raw!r}")
    return value


def _allowlist(raw: str) -> list[str]:
    from cds_service.fhir_allowlist import is_loopback_host, is_usable_entry

    entries = _list(raw)
    for entry in entries:
        parts = urlsplit(entry)
        if parts.scheme == "http" and parts.hostname and not is_loopback_host(parts.hostname):
            raise ValueError(
                f"{entry!r} would be ignored: http is allowed on loopback only; use https"
            )
        if not is_usable_entry(entry):
            raise ValueError(
                f"{entry!r} would be ignored: not a plain http(s) base URL (no query, fragment, "
                "user or dot segments)"
            )
    return entries


_ORIGIN = re.compile(r"^https?://[^/?#@\s]+$")


def _origins(raw: str) -> list[str]:
    origins = _list(raw)
    for origin in origins:
        if origin == "*":
            raise ValueError("'*' is not allowed; list the origins")
        if not _ORIGIN.match(origin.rstrip("/")):
            raise ValueError(f"{origin!r} is not an origin such as https://ehr.example.org")
    return origins


def _database(raw: str) -> str:
    from cds_service.database import database_url

    database_url(raw.strip(), Path("."))  # shape, backend and driver; no connection
    return raw.strip()


def _protocol_links(raw: str) -> dict[str, str]:
    """`topic=https://...` pairs, comma-separated: the hospital's own protocol page per topic."""
    links: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        topic, sep, url = pair.partition("=")
        parsed = urlsplit(url.strip())
        if not sep or not topic.strip() or parsed.scheme != "https" or not parsed.netloc:
            raise ValueError(f"expected topic=https://..., got {pair!r}")
        links[topic.strip()] = url.strip()
    return links


def _directory(raw: str) -> str:
    if not Path(raw).is_dir():
        raise ValueError(f"{raw!r} is not a folder")
    return raw


def _file(raw: str) -> str:
    if not Path(raw).is_file():
        raise ValueError(f"{raw!r} is not a readable file")
    return raw


@fast_init
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
        _directory,
    ),
    Setting(
        "DATABASE_URL",
        "",
        "SQLAlchemy URL of the card ledger and feedback store; empty means a SQLite file "
        "`cds-ledger.sqlite3` in the instance folder.",
        _database,
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
        _file,
    ),
    Setting(
        "MAX_BODY_BYTES",
        16 * 1024 * 1024,
        "Largest request body accepted, in bytes; larger bodies get 413.",
        _whole(1024),
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
        _whole(1024 * 1024),
    ),
    Setting(
        "CORS_ORIGINS",
        ["https://sandbox.cds-hooks.org", "http://localhost:*", "http://127.0.0.1:*"],
        "Comma-separated origins allowed by CORS (`*` in a port means any port).",
        _origins,
    ),
    Setting(
        "PUBLIC_BASE_URL",
        "",
        "The URL EHRs use to reach this service (behind a proxy), without a trailing slash; "
        "used to compute the JWT `aud`. Empty: taken from the request.",
        _public_base_url,
    ),
    Setting(
        "AUTH_ENABLED",
        True,
        "Require a signed JWT from the EHR on every endpoint. Turn off only for local use.",
        _bool,
    ),
    Setting(
        "PROTOCOL_LINKS",
        "",
        "Local protocol pages linked from cards, as comma-separated `topic=https://...` pairs "
        "(topics: autoimmune-encephalitis, guillain-barre, acute-necrotizing-encephalopathy, "
        "immune-plexopathy, immunotherapy-order-safety), e.g. the hospital's IVIG or plasma "
        "exchange protocol.",
        _protocol_links,
    ),
    Setting(
        "PREVIEW",
        "auto",
        "The card preview page at `/preview`: `auto` (on only when authentication is off), "
        "`true` or `false`. It never opens the hook endpoints: with authentication on, its calls "
        "carry a JWT you paste.",
        _choice("auto", "true", "false"),
    ),
    Setting(
        "TRUSTED_ISSUERS_FILE",
        "",
        "JSON file of trusted JWT issuers (per `iss`: inline JWKS, JWKS URL and/or allowed `jku` "
        "URLs, optional tenants and audiences).",
        _file,
    ),
    Setting("JWT_LEEWAY_SECONDS", 30, "Clock skew allowed on `exp`, `iat` and `nbf`.", _whole(0)),
    Setting(
        "JWT_MAX_LIFETIME_SECONDS",
        3600,
        "Longest JWT lifetime accepted (`exp` - `iat`); bounds the `jti` replay cache.",
        _whole(1),
    ),
    Setting(
        "REPLAY_CACHE",
        "database",
        "Where seen JWT `jti` values are kept: `database` (the ledger's database, shared by "
        "all workers and instances) or `memory` (one process only).",
        _choice("database", "memory"),
    ),
    Setting(
        "FHIR_ALLOWLIST",
        ["http://127.0.0.1", "http://localhost", "http://[::1]", "https://hapi.fhir.org/baseR4"],
        "Comma-separated FHIR base URLs the service may contact (a loopback URL without a port "
        "matches any port, one with a port only that port); any other `fhirServer` is treated "
        "as unreachable.",
        _allowlist,
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
        _seconds,
    ),
    Setting("FHIR_CONNECT_TIMEOUT_SECONDS", 1.0, "Connect timeout of one FHIR request.", _seconds),
    Setting("FHIR_READ_TIMEOUT_SECONDS", 2.5, "Read timeout of one FHIR request.", _seconds),
    Setting("FHIR_MAX_PAGES", 10, "Most `next` pages followed for one search.", _whole(1)),
    Setting(
        "LOG_LEVEL",
        "INFO",
        "Log level of the JSON logs (DEBUG, INFO, WARNING, ERROR).",
        _choice("DEBUG", "INFO", "WARNING", "ERROR", case=str.upper),
    ),
    Setting(
        "METRICS",
        "off",
        "Prometheus metrics at `/metrics`: `on` or `off`. Never behind the EHR's JWT "
        "authentication; see `CDS_METRICS_PORT` and `CDS_METRICS_TOKEN`.",
        _choice("on", "off"),
    ),
    Setting(
        "METRICS_PORT",
        0,
        "Serve `/metrics` on this port only (`serve` listens on it too, on `CDS_HOST`); `0`: on "
        "the service's port.",
        _whole(0, 65535),
    ),
    Setting(
        "METRICS_TOKEN",
        "",
        "When set, `/metrics` requires `Authorization: Bearer <this token>` (at least 16 "
        "characters).",
        secret=True,
    ),
    Setting("HOST", "127.0.0.1", "Address `serve` listens on (`0.0.0.0`: all interfaces)."),
    Setting("PORT", 8080, "Port `serve` listens on.", _whole(1, 65535)),
    Setting(
        "WORKERS",
        0,
        "gunicorn worker processes of `serve`; `0`: one per CPU this process may use (CPU "
        "affinity and the cgroup CPU quota of a container). `GUNICORN_CMD_ARGS` and "
        "`serve --workers` override it.",
        _whole(0),
    ),
    # 8 MiB per answer holds a page of 10,000 Observations (~4.8 MB); 16 MiB per call matches
    # CDS_MAX_BODY_BYTES: a call never holds more fetched JSON than it would accept as a body.
    Setting(
        "FHIR_MAX_RESPONSE_BYTES",
        8 * 1024 * 1024,
        "Largest FHIR answer read, in bytes after decompression; a larger one counts as "
        "not obtained.",
        _whole(1024),
    ),
    Setting(
        "FHIR_MAX_CALL_BYTES",
        16 * 1024 * 1024,
        "Most bytes (after decompression) read from `fhirServer` for one hook call, all keys "
        "and pages together.",
        _whole(1024),
    ),
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
    """Read and check every `CDS_*` setting from the environment. A bad value, or a `CDS_*`
    variable that is no setting (a typo), raises ConfigError naming the variable."""
    environ = os.environ if environ is None else environ
    check_names(environ)
    config = defaults()
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or raw == "":
            continue
        try:
            config[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}: {exc}") from None
    check_together(config)
    return config


def check_together(config: Mapping[str, Any]) -> None:
    """Settings that only make sense with others."""
    if config["METRICS"] != "on":
        for name in ("METRICS_PORT", "METRICS_TOKEN"):
            if config[name]:
                raise ConfigError(f"CDS_{name} is set but CDS_METRICS is off")
    token = config["METRICS_TOKEN"]
    if token and len(token) < 16:
        raise ConfigError(f"CDS_METRICS_TOKEN: at least 16 characters (got {len(token)})")
    if config["METRICS_PORT"] and config["METRICS_PORT"] == config["PORT"]:
        raise ConfigError("CDS_METRICS_PORT: must differ from CDS_PORT")


def check_names(environ: Mapping[str, str]) -> None:
    known = {s.env for s in SETTINGS}
    for name in sorted(environ):
        if not name.startswith("CDS_") or name in known or name in COMMAND_VARIABLES:
            continue
        if name.startswith(TEST_PREFIXES):
            continue
        nearest = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean {nearest[0]}?" if nearest else "see `cds-service config`"
        raise ConfigError(f"{name}: not a setting of this service; {hint}")


def shown_value(setting: Setting, value: Any) -> str:
    """A setting's value as `cds-service config` prints it: secrets masked, database passwords
    hidden, lists comma-separated."""
    if setting.secret:
        return f"(set, {len(str(value))} characters)" if value else "(empty)"
    if setting.name == "DATABASE_URL" and value:
        from sqlalchemy.engine import make_url

        return make_url(value).render_as_string(hide_password=True)
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


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
