"""Authentication survives a database fault (issue 12): the replay cache answers from this
process's memory and a host-local store while the database cannot, and fails closed with 503
when nothing can record a token; never a 500, never an unchecked replay on this host."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine

from cds_service import create_app, database, migrate
from cds_service.auth import replay_layers
from cds_service.auth.replay import InMemoryReplayCache, ReplayCacheUnavailable
from cds_service.auth.replay_layers import HostReplayCache, LayeredReplayCache
from cds_service.auth.replay_sql import SqlReplayCache
from cds_service.database import open_engine
from tests.fake_ehr import hospital_group, write_trusted_issuers
from tests.test_ledger_durability import read_only, write_lock_held

BASE = "https://cds.example.org"


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(replay_layers, "PROBE_SECONDS", 0.3)


def sqlite_engine(db: Path) -> Engine:
    engine = open_engine(f"sqlite:///{db}", db.parent)
    migrate.upgrade(engine)
    return engine


def layered(db: Path, host: Path, now: float = 1000.0) -> LayeredReplayCache:
    def clock() -> float:
        return now

    return LayeredReplayCache(
        SqlReplayCache(sqlite_engine(db), clock), HostReplayCache(host, clock)
    )


def test_a_held_lock_falls_back_to_the_host_store_shared_by_the_workers(tmp_path: Path) -> None:
    db, host = tmp_path / "ledger.sqlite3", tmp_path / "replay"
    worker_a, worker_b = layered(db, host), layered(db, host)
    assert worker_a.first_use("before", 1300.0)
    with write_lock_held(db):
        assert worker_a.first_use("during", 1300.0)  # recorded on this host
        assert not worker_a.first_use("during", 1300.0)  # memory
        assert not worker_b.first_use("during", 1300.0)  # the other worker: host store
        assert not worker_b.first_use("before", 1300.0)  # read from the database still works
        assert not worker_a.health()["shared_ok"]
    time.sleep(0.35)  # the next call probes the database again
    assert worker_a.first_use("after", 1300.0)
    assert worker_a.health()["shared_ok"]
    assert not worker_b.first_use("after", 1300.0)


def test_during_an_outage_only_one_call_per_probe_interval_waits_for_the_database(
    tmp_path: Path,
) -> None:
    db, host = tmp_path / "ledger.sqlite3", tmp_path / "replay"
    cache = layered(db, host)
    with write_lock_held(db):
        started = time.monotonic()
        for i in range(20):
            assert cache.first_use(f"k{i}", 1300.0)
        took = time.monotonic() - started
    assert took < 20 * 0.2 / 2  # without the breaker every call waits busy_timeout (4 s)


def test_a_read_only_database_falls_back_too(tmp_path: Path) -> None:
    db, host = tmp_path / "ledger.sqlite3", tmp_path / "replay"
    sqlite_engine(db).dispose()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with read_only(db):
        cache = layered(db, host)
        assert cache.first_use("k", 1300.0)
        assert not layered(db, host).first_use("k", 1300.0)


def test_neither_store_answering_is_unavailable_not_a_guess(tmp_path: Path) -> None:
    db, host = tmp_path / "ledger.sqlite3", tmp_path / "replay"
    host.write_text("a file where the folder should be")
    cache = layered(db, host)
    with write_lock_held(db), pytest.raises(ReplayCacheUnavailable):
        cache.first_use("k", 1300.0)


def test_host_store_buckets_expire(tmp_path: Path) -> None:
    now = [1000.0]
    host = HostReplayCache(tmp_path / "replay", lambda: now[0])
    assert host.first_use("k", 1100.0)
    assert not host.first_use("k", 1100.0)
    now[0] = 1300.0
    assert host.first_use("other", 1500.0)  # prunes the old bucket
    assert sorted(p.name for p in (tmp_path / "replay").iterdir()) == [str(1500 // 60)]


def test_the_memory_layer_is_bounded() -> None:
    cache = InMemoryReplayCache(lambda: 0.0, max_entries=3)
    for i in range(10):
        assert cache.first_use(f"k{i}", 100.0 + i)
    assert len(cache) == 3
    assert not cache.first_use("k9", 200.0)


@pytest.fixture
def auth_app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": True,
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "PUBLIC_BASE_URL": BASE,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        }
    )


def discover(app: Flask, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return app.test_client().get("/cds-services", headers=headers).status_code


def token(**claims: Any) -> str:
    return hospital_group().token(
        f"{BASE}/cds-services", time.time(), tenant="north-hospital", **claims
    )


def test_authenticated_calls_keep_working_while_the_database_is_locked(
    auth_app: Flask, tmp_path: Path
) -> None:
    first = token()
    with write_lock_held(tmp_path / "ledger.sqlite3"):
        assert discover(auth_app, first) == 200
        assert discover(auth_app, first) == 401  # still refused as a replay
    assert discover(auth_app, first) == 401
    assert discover(auth_app, token()) == 200


def test_no_replay_store_answers_503_not_500(auth_app: Flask, tmp_path: Path) -> None:
    spool = auth_app.extensions["cds_ledger"].spool_dir
    (spool / "replay").write_text("not a folder")
    with write_lock_held(tmp_path / "ledger.sqlite3"):
        response = auth_app.test_client().get(
            "/cds-services", headers={"Authorization": f"Bearer {token()}"}
        )
    assert response.status_code == 503
    assert response.get_json()["error"] == "service-unavailable"


def test_a_600_character_jti_is_accepted_once(database_url: str, tmp_path: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": True,
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "PUBLIC_BASE_URL": BASE,
            "DATABASE_URL": database_url,
        }
    )
    long_jti = token(jti="j" * 600)
    assert discover(app, long_jti) == 200
    assert discover(app, long_jti) == 401
    assert discover(app, token(jti="j" * 1025)) == 401
