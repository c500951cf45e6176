"""The card ledger never silently loses a row (issue 12): faults on a real SQLite file.

A read-only database file, a write lock held past busy_timeout, a process killed with cards not
yet committed, a spool that cannot be written, a row the database refuses: every card the EHR
received ends up in the ledger (or, while the fault lasts, in the spool), and when neither can
take it the hook answers 503.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select

from cds_service import create_app, database, ledger
from cds_service.database import open_engine
from cds_service.extensions import SERVICES
from cds_service.ledger_writer import WriteBehind, encode, iter_rejected
from cds_service.schema import card_rules, issued_cards, issued_suggestions, metadata
from tests.conftest import ROOT, patient_seen_rule, patient_view_request

SERVICE = "immunotherapy-guidance"
GUIDANCE = f"/cds-services/{SERVICE}"


def make_app(db: Path, **settings: Any) -> Flask:
    """An app on `db` whose patient-view service also runs the test rule (one card per call)."""
    app = create_app(
        {"TESTING": True, "AUTH_ENABLED": False, "DATABASE_URL": f"sqlite:///{db}", **settings}
    )
    with_test_rule(app)
    return app


def with_test_rule(app: Flask) -> None:
    services = app.extensions[SERVICES]
    original = services[SERVICE]
    services[SERVICE] = replace(original, rules=(*original.rules, patient_seen_rule()))


def card_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        count: int = conn.execute("SELECT count(*) FROM issued_cards").fetchone()[0]
    return count


def issue(app: Flask, n: int) -> list[str]:
    client = app.test_client()
    uuids = []
    for _ in range(n):
        response = client.post(GUIDANCE, json=patient_view_request())
        assert response.status_code == 200, response.get_json()
        uuids += [card["uuid"] for card in response.get_json()["cards"]]
    return uuids


def wait_until(condition: Any, timeout: float = 15.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file really read-only: chmod for a normal user; root needs the immutable flag."""
    path.chmod(0o444)
    immutable = False
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        done = chattr and subprocess.run([chattr, "+i", str(path)], capture_output=True)
        if not done or done.returncode != 0:
            path.chmod(0o644)
            pytest.skip("running as root without chattr +i: cannot make a file read-only")
        immutable = True
    try:
        with pytest.raises(PermissionError):
            path.open("ab").close()
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)


@contextmanager
def write_lock_held(db: Path) -> Iterator[None]:
    """Another connection holds the database's write lock (BEGIN IMMEDIATE) until exit."""
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_read_only_database_loses_no_card_and_recovers(
    tmp_path: Path, short_busy_timeout: None
) -> None:
    db = tmp_path / "ledger.sqlite3"
    app = make_app(db)
    issue(app, 1)
    assert app.extensions["cds_ledger"].flush(5)
    with app.app_context(), ledger.get_ledger().engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    app.extensions["cds_ledger"].engine.dispose()
    with read_only(db):
        uuids = issue(app, 40)  # every call still answered with its card
        assert not app.extensions["cds_ledger"].flush(1.0)
        health = app.extensions["cds_ledger"].health()
        assert not health["database_ok"] and health["spooled_calls"] == 40
        assert card_count(db) == 1
    assert app.extensions["cds_ledger"].flush(15)
    assert card_count(db) == 41
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT card_uuid FROM issued_cards")}
    assert set(uuids) <= stored
    wait_until(lambda: app.extensions["cds_ledger"].health()["database_ok"])


def test_a_write_lock_held_past_busy_timeout_loses_no_card(
    tmp_path: Path, short_busy_timeout: None
) -> None:
    db = tmp_path / "ledger.sqlite3"
    app = make_app(db)
    with write_lock_held(db):
        uuids = issue(app, 30)
        time.sleep(0.5)  # the writer has tried and failed at least once
        assert card_count(db) == 0
    assert app.extensions["cds_ledger"].flush(15)
    assert card_count(db) == len(uuids) == 30


def test_a_full_spool_answers_503_and_keeps_what_it_accepted(
    tmp_path: Path, short_busy_timeout: None
) -> None:
    db = tmp_path / "ledger.sqlite3"
    app = make_app(db, LEDGER_SPOOL_MAX_BYTES=3000)
    client = app.test_client()
    statuses = []
    with write_lock_held(db):
        for _ in range(20):
            statuses.append(client.post(GUIDANCE, json=patient_view_request()).status_code)
    accepted = statuses.count(200)
    assert 0 < accepted < 20 and set(statuses) == {200, 503}
    answer = client.post(GUIDANCE, json=patient_view_request())
    assert answer.status_code in (200, 503)
    assert app.extensions["cds_ledger"].flush(15)
    assert card_count(db) == accepted + (answer.status_code == 200)


def test_an_unwritable_spool_answers_503_not_a_card_nobody_can_audit(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    app = make_app(tmp_path / "ledger.sqlite3", LEDGER_SPOOL_DIR=str(spool))
    spool.rmdir()
    spool.write_text("not a folder")  # any open() below it fails (ENOTDIR)
    response = app.test_client().post(GUIDANCE, json=patient_view_request())
    assert response.status_code == 503
    assert response.get_json()["error"] == "service-unavailable"
    assert "cards" not in response.get_json()


CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
from cds_service import create_app
from pathlib import Path
from tests.conftest import patient_view_request
from tests.test_ledger_durability import make_app
app = make_app(Path("{db}"))
client = app.test_client()
cards = 0
for _ in range({n}):
    response = client.post("/cds-services/immunotherapy-guidance", json=patient_view_request())
    assert response.status_code == 200
    cards += len(response.get_json()["cards"])
print("issued", cards, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_worker_killed_with_cards_not_committed_loses_none(
    tmp_path: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "ledger.sqlite3"
    make_app(db)  # creates the schema
    child = CHILD.format(root=str(ROOT), db=db, n=50)
    with write_lock_held(db):  # nothing the child issues can be committed
        proc = subprocess.Popen(
            [sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == [b"issued", b"50"]
        proc.send_signal(sig)
        proc.wait(timeout=20)
        assert sum(p.stat().st_size for p in Path(f"{db}-spool").iterdir()) > 0
        assert card_count(db) == 0
    # The next start replays the dead process's spool before serving.
    make_app(db)
    assert card_count(db) == 50
    assert not [p for p in Path(f"{db}-spool").iterdir() if p.stat().st_size]


def test_a_running_writer_adopts_a_dead_peers_spool(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    make_app(db)
    child = CHILD.format(root=str(ROOT), db=db, n=10)
    with write_lock_held(db):
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == [b"issued", b"10"]
        survivor = make_app(db)  # a live peer: cannot replay now (locked)
        proc.kill()
        proc.wait(timeout=20)
    # Any request, a probe included, starts the survivor's writer, which adopts the dead spool.
    assert survivor.test_client().get("/healthz").status_code == 200
    wait_until(lambda: card_count(db) == 10)


def call_rows(uuid: str, summary: str | None = "s", hook_instance: str = "h") -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "issued_cards": [
            {
                "card_uuid": uuid,
                "service_id": "svc",
                "hook_instance": hook_instance,
                "patient_hash": "p" * 64,
                "indicator": "info",
                "summary": summary,
                "issued_at": now,
            }
        ],
        "card_rules": [{"card_uuid": uuid, "rule_id": "r1"}],
        "issued_suggestions": [],
    }


@pytest.mark.parametrize("bad", ["null summary", "long hookInstance"])
def test_a_row_the_database_refuses_is_refused_alone(
    database_url: str, tmp_path: Path, bad: str
) -> None:
    engine = open_engine(database_url, tmp_path)
    if bad == "long hookInstance" and engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce String(128); the PostgreSQL case shows DataError")
    writer = WriteBehind(
        engine,
        [issued_cards, card_rules, issued_suggestions],
        tmp_path / "spool",
        max_spool_bytes=1 << 20,
        commit_interval=0.05,
    )
    refused = (
        call_rows("bad", summary=None)  # NOT NULL
        if bad == "null summary"
        else call_rows("bad", hook_instance="h" * 129)  # String(128): DataError on PostgreSQL
    )
    for i in range(10):
        writer.submit(call_rows(f"good-{i}"))
    writer.submit(refused)
    for i in range(10, 20):
        writer.submit(call_rows(f"good-{i}"))
    assert writer.flush(10)
    with engine.connect() as conn:
        stored = set(conn.scalars(select(issued_cards.c.card_uuid)))
    assert stored == {f"good-{i}" for i in range(20)}
    [rejected] = iter_rejected(tmp_path / "spool")
    assert b'"card_uuid":"bad"' in rejected.read_bytes()
    assert writer.health()["rejected_calls"] == 1


def test_replaying_a_segment_twice_records_each_row_once(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    engine = create_engine(f"sqlite:///{db}")
    metadata.create_all(engine)
    tables = [issued_cards, card_rules, issued_suggestions]
    spool = tmp_path / "spool"
    writer = WriteBehind(engine, tables, spool, max_spool_bytes=1 << 20)
    writer.submit(call_rows("c1"))
    assert writer.flush(10)
    # A crash between the commit and the spool's truncation: the same line is spooled again.
    spool.joinpath("00000000000000000001-1-dead.jsonl").write_bytes(encode(call_rows("c1")))
    assert WriteBehind(engine, tables, spool, max_spool_bytes=1 << 20).replay_orphans() == 1
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(issued_cards)) == 1


def test_feedback_right_after_a_card_from_another_worker_finds_the_card(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    worker_a, worker_b = make_app(db), make_app(db)
    writer_a: WriteBehind = worker_a.extensions["cds_ledger"]._writer
    writer_a._commit_interval = 3600.0  # A has not committed yet when the feedback arrives
    issue(worker_a, 1)  # starts A's writer thread, which then waits
    time.sleep(0.2)
    [uuid] = issue(worker_a, 1)
    assert card_count(db) in (0, 1)
    response = worker_b.test_client().post(
        GUIDANCE + "/feedback",
        json={
            "feedback": [
                {
                    "card": uuid,
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-21T10:05:31Z",
                }
            ]
        },
    )
    assert response.status_code == 200
    assert "unknownCards" not in response.get_json()


def test_concurrent_calls_during_a_lock_lose_nothing(
    tmp_path: Path, short_busy_timeout: None
) -> None:
    db = tmp_path / "ledger.sqlite3"
    app = make_app(db)
    issued: list[str] = []
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            issued.extend(issue(app, 25))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with write_lock_held(db):
        threads = [threading.Thread(target=caller) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert app.extensions["cds_ledger"].flush(15)
    assert card_count(db) == len(issued) == 200


def full_call_rows(uuid: str, **card: Any) -> dict[str, Any]:
    """One call's rows with every column, as `Ledger.record_cards` writes them."""
    row = {
        "card_uuid": uuid,
        "service_id": "svc",
        "hook_instance": "h",
        "patient_hash": "p" * 64,
        "indicator": "warning",
        "summary": "Steroids alone are not recommended in Guillain-Barré syndrome",
        "issued_at": datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC),
        "issuer": "https://ehr.example.org",
        "tenant": None,
        "silent": True,
        "selection_behavior": "at-most-one",
        "encounter_hash": "e" * 64,
        "draft_orders": '["f1"]',
        **card,
    }
    return {
        "issued_cards": [row],
        "card_rules": [{"card_uuid": uuid, "rule_id": "r1"}, {"card_uuid": uuid, "rule_id": "r2"}],
        "issued_suggestions": [
            {"suggestion_uuid": f"{uuid}-s1", "card_uuid": uuid, "label": "Replace with IVIG"}
        ],
    }


def test_the_writer_stores_what_a_core_insert_stores(database_url: str, tmp_path: Path) -> None:
    """The writer's driver-level batch (values through the column types' bind processors; one
    statement per batch on PostgreSQL) stores each value exactly as an SQLAlchemy Core insert of
    the same rows does, and reads back equal to what was submitted."""
    engine = open_engine(database_url, tmp_path)
    tables = [issued_cards, card_rules, issued_suggestions]
    writer = WriteBehind(engine, tables, tmp_path / "spool", max_spool_bytes=1 << 20)
    for i in range(3):
        writer.submit(full_call_rows(f"batch-{i}"))
    assert writer.flush(10)
    reference = full_call_rows("core")
    with engine.begin() as conn:
        for table in tables:
            conn.execute(table.insert(), reference[table.name])

    def stored(uuid: str) -> dict[str, Any]:
        with engine.connect() as conn:
            card = (
                conn.execute(select(issued_cards).where(issued_cards.c.card_uuid == uuid))
                .one()
                ._asdict()
            )
            raw = conn.execute(
                select(func.cast(issued_cards.c.issued_at, issued_cards.c.summary.type)).where(
                    issued_cards.c.card_uuid == uuid
                )
            ).scalar_one()
            rules = sorted(
                conn.scalars(select(card_rules.c.rule_id).where(card_rules.c.card_uuid == uuid))
            )
            labels = list(
                conn.scalars(
                    select(issued_suggestions.c.label).where(issued_suggestions.c.card_uuid == uuid)
                )
            )
        return {**card, "card_uuid": "-", "raw_issued_at": raw, "rules": rules, "labels": labels}

    core = stored("core")
    for i in range(3):
        assert stored(f"batch-{i}") == core
    expected = full_call_rows("x")["issued_cards"][0]
    assert core["silent"] is True and core["summary"] == expected["summary"]
    assert core["issued_at"].replace(tzinfo=UTC) == expected["issued_at"]
    assert core["rules"] == ["r1", "r2"] and core["labels"] == ["Replace with IVIG"]
    engine.dispose()


def test_a_spool_line_without_a_later_column_takes_its_default(
    database_url: str, tmp_path: Path
) -> None:
    """A line spooled before a column existed (no `silent`: migration 0003) is stored with the
    column's server default, not refused for a NULL."""
    engine = open_engine(database_url, tmp_path)
    tables = [issued_cards, card_rules, issued_suggestions]
    writer = WriteBehind(engine, tables, tmp_path / "spool", max_spool_bytes=1 << 20)
    old = full_call_rows("old")
    for column in ("silent", "selection_behavior", "encounter_hash", "draft_orders"):
        del old["issued_cards"][0][column]
    writer.submit(old)
    writer.submit(full_call_rows("new"))
    assert writer.flush(10)
    with engine.connect() as conn:
        rows = dict(conn.execute(select(issued_cards.c.card_uuid, issued_cards.c.silent)).all())
    assert rows == {"old": False, "new": True}
    assert writer.health()["rejected_calls"] == 0
    engine.dispose()
