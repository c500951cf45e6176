"""The patient-hash key, on SQLite and PostgreSQL: configured (CDS_PATIENT_HASH_KEY or _FILE) or
kept in the database, so every instance and restart gives one patient one hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service import create_app
from cds_service.database import open_engine
from cds_service.ledger import Ledger, open_ledger
from cds_service.patient_key import PatientKeyError, configured_key, stored_key

KEY = "k" * 40


def ledger(database_url: str, instance: Path, **settings: str) -> Ledger:
    keys = {"PATIENT_HASH_KEY": "", "PATIENT_HASH_KEY_FILE": ""}
    keys |= {k.upper(): v for k, v in settings.items()}
    return open_ledger(database_url, instance, key_settings=keys)


def test_without_a_configured_key_every_instance_uses_the_one_in_the_database(
    database_url: str, tmp_path: Path
) -> None:
    first = ledger(database_url, tmp_path / "a")
    second = ledger(database_url, tmp_path / "b")  # another host's instance folder
    assert first.patient_hash("pat-1") == second.patient_hash("pat-1")
    assert first.patient_hash("pat-1") != first.patient_hash("pat-2")


def test_instances_starting_at_once_agree_on_the_key(database_url: str, tmp_path: Path) -> None:
    engines = [open_engine(database_url, tmp_path) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(stored_key, engines))
    assert len(keys) == 1 and len(keys.pop()) == 32


def test_a_configured_key_is_used_and_decides_the_hash(database_url: str, tmp_path: Path) -> None:
    stored = ledger(database_url, tmp_path)
    configured = ledger(database_url, tmp_path, patient_hash_key=KEY)
    key_file = tmp_path / "patient-key"
    key_file.write_text(KEY + "\n")
    from_file = ledger(database_url, tmp_path, patient_hash_key_file=str(key_file))
    assert configured.patient_hash("pat-1") == from_file.patient_hash("pat-1")
    assert configured.patient_hash("pat-1") != stored.patient_hash("pat-1")


def test_an_older_sqlite_ledger_keeps_its_instance_folder_key(tmp_path: Path) -> None:
    legacy = secrets.token_bytes(32)
    (tmp_path / "ledger-patient-key").write_text(legacy.hex())
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path)
    from cds_service import migrate

    migrate.upgrade(engine)
    assert stored_key(engine, tmp_path) == legacy


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"PATIENT_HASH_KEY": "short"}, "at least 32 characters (got 5)"),
        ({"PATIENT_HASH_KEY": KEY, "PATIENT_HASH_KEY_FILE": "/x"}, "both set"),
        ({"PATIENT_HASH_KEY_FILE": "/nonexistent/key"}, "cannot read /nonexistent/key"),
    ],
)
def test_unusable_keys_are_refused_naming_the_setting(
    settings: dict[str, str], problem: str
) -> None:
    with pytest.raises(PatientKeyError, match="CDS_PATIENT_HASH_KEY") as raised:
        configured_key(settings)
    assert problem in str(raised.value)
    assert KEY not in str(raised.value)


def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("\n")
    with pytest.raises(PatientKeyError, match="is empty"):
        configured_key({"PATIENT_HASH_KEY_FILE": str(tmp_path / "key")})


def test_the_app_does_not_start_with_a_bad_key(database_url: str) -> None:
    with pytest.raises(PatientKeyError):
        create_app({"AUTH_ENABLED": False, "DATABASE_URL": database_url, "PATIENT_HASH_KEY": "x"})


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    folder = tmp_path_factory.mktemp("hash")
    return ledger(f"sqlite:///{folder / 'l.sqlite3'}", folder, patient_hash_key=KEY)


@settings(max_examples=200, deadline=None)
@given(patient_id=st.text(max_size=80))
def test_a_patient_hash_is_the_hmac_sha256_of_the_id_so_rows_already_stored_still_match(
    keyed: Ledger, patient_id: str
) -> None:
    expected = hmac.new(keyed._patient_key, patient_id.encode(), hashlib.sha256).hexdigest()
    assert keyed.patient_hash(patient_id) == expected
    assert keyed.encounter_hash(patient_id) == keyed.patient_hash("encounter\n" + patient_id)
