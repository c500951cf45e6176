"""The key of the patient hash: the ledger stores HMAC-SHA256(key, patient id), never the id.

Every instance and every restart must use the same key, or one patient gets several hashes and
counts of distinct patients are wrong. Where it comes from, in order:

1. `CDS_PATIENT_HASH_KEY`, or the file named by `CDS_PATIENT_HASH_KEY_FILE` (a mounted secret;
   surrounding whitespace ignored): the operator's key, at least 32 characters, used as UTF-8.
2. Otherwise the key kept in the database (`service_keys`, name `patient_hash`): the first instance
   to start inserts a random 32-byte key; a concurrent start that loses the insert race reads the
   winner's. A SQLite ledger from before this existed seeds it with the key file of the instance
   folder (`ledger-patient-key`), so hashes already stored keep matching.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from cds_service.config import ConfigError
from cds_service.schema import service_keys

KEY_NAME = "patient_hash"
MIN_KEY_CHARS = 32
LEGACY_KEY_FILE = "ledger-patient-key"


class PatientKeyError(ConfigError):
    """The configured key cannot be used."""


def configured_key(config: Mapping[str, Any]) -> bytes | None:
    """The operator's key from CDS_PATIENT_HASH_KEY(_FILE), or None when neither is set."""
    value: str = config.get("PATIENT_HASH_KEY") or ""
    path: str = config.get("PATIENT_HASH_KEY_FILE") or ""
    if value and path:
        raise PatientKeyError(
            "CDS_PATIENT_HASH_KEY and CDS_PATIENT_HASH_KEY_FILE are both set; set one"
        )
    source = "CDS_PATIENT_HASH_KEY"
    if path:
        source = "CDS_PATIENT_HASH_KEY_FILE"
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise PatientKeyError(f"{source}: cannot read {path}: {type(exc).__name__}") from None
    if not value:
        if path:
            raise PatientKeyError(f"{source}: {path} is empty")
        return None
    if len(value) < MIN_KEY_CHARS:
        raise PatientKeyError(
            f"{source}: the key must be at least {MIN_KEY_CHARS} characters (got {len(value)})"
        )
    return value.encode("utf-8")


def stored_key(engine: Engine, instance_path: Path | None = None) -> bytes:
    """The key kept in the database, made now if no instance has made it yet."""
    with engine.connect() as conn:
        found = conn.scalar(select(service_keys.c.value).where(service_keys.c.name == KEY_NAME))
    if found is not None:
        return bytes.fromhex(found)
    candidate = _legacy_key(engine, instance_path) or secrets.token_bytes(32)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(service_keys).values(
                    name=KEY_NAME, value=candidate.hex(), created_at=datetime.now(UTC)
                )
            )
    except IntegrityError:
        pass  # another instance made it first: use theirs
    with engine.connect() as conn:
        value = conn.scalar(select(service_keys.c.value).where(service_keys.c.name == KEY_NAME))
    assert value is not None
    return bytes.fromhex(value)


def _legacy_key(engine: Engine, instance_path: Path | None) -> bytes | None:
    if engine.dialect.name != "sqlite" or instance_path is None:
        return None
    key_file = instance_path / LEGACY_KEY_FILE
    try:
        return bytes.fromhex(key_file.read_text().strip())
    except (OSError, ValueError):
        return None


def patient_hash_key(
    config: Mapping[str, Any], engine: Engine, instance_path: Path | None = None
) -> bytes:
    return configured_key(config) or stored_key(engine, instance_path)
