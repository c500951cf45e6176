"""Two service processes (real `cds-service serve`, gunicorn, 2 workers each) on one PostgreSQL
database, authentication on, as behind a load balancer: a token replayed to the other instance is
refused, feedback for a card the other instance issued is joined to it, one patient gets one hash
on both, and concurrent feedback over both loses no row. PostgreSQL tier (CDS_TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import URL

from cds_service import migrate
from cds_service.database import open_engine
from cds_service.schema import feedback, issued_cards
from tests import databases
from tests.conftest import ROOT
from tests.fake_ehr import hospital_group, write_trusted_issuers
from tests.processes import free_port

PUBLIC = "https://cds.example.org"
SERVICE = "/cds-services/immunotherapy-guidance"
EXAMPLE = json.loads((ROOT / "hooks/examples/immunotherapy-guidance--ae-no-csf.json").read_text())


@dataclass
class Instance:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        token = hospital_group().token(PUBLIC + path, time.time(), tenant="north-hospital")
        return self.post_with(token, path, body)

    def post_with(self, token: str, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            self.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


def _start(name: str, env: dict[str, str], tmp_path: Path) -> Instance:
    port = free_port()
    log = (tmp_path / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return Instance(name, url, process)
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"{name} did not start: {(tmp_path / f'{name}.log').read_text()[-2000:]}")
        time.sleep(0.1)


@pytest.fixture
def shared_database(postgres_database: URL) -> Iterator[str]:
    with databases.fresh_schema(postgres_database) as url:
        engine = open_engine(url, Path("."))
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def instances(shared_database: str, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    env = {
        **os.environ,
        "CDS_DATABASE_URL": shared_database,
        "CDS_AUTH_ENABLED": "true",
        "CDS_TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
        "CDS_PUBLIC_BASE_URL": PUBLIC,
        "CDS_LOG_LEVEL": "WARNING",
    }
    started = [_start(name, env, tmp_path) for name in ("a", "b")]
    try:
        yield started[0], started[1]
    finally:
        for instance in started:
            instance.process.terminate()
        for instance in started:
            instance.process.wait(timeout=30)


def _committed(engine: Engine, card_uuids: list[str], timeout: float = 10.0) -> None:
    """Wait until the issuing instance's write-behind has committed these cards."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            found = conn.scalar(
                select(func.count()).where(issued_cards.c.card_uuid.in_(card_uuids))
            )
        if found == len(card_uuids) or time.monotonic() > deadline:
            assert found == len(card_uuids)
            return
        time.sleep(0.05)


def _issue(instance: Instance) -> dict[str, Any]:
    answer = instance.post(SERVICE, EXAMPLE)
    assert answer.status_code == 200, answer.text
    cards: list[dict[str, Any]] = answer.json()["cards"]
    assert cards
    return cards[0]


def test_two_instances_share_one_postgresql_ledger(
    instances: tuple[Instance, Instance], shared_database: str
) -> None:
    a, b = instances
    engine = open_engine(shared_database, Path("."))

    # A token is accepted once, whichever instance sees it first.
    token = hospital_group().token(PUBLIC + "/cds-services", time.time(), tenant="north-hospital")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(a.url + "/cds-services", headers=headers, timeout=10).status_code == 200
    assert requests.get(b.url + "/cds-services", headers=headers, timeout=10).status_code == 401

    # One patient, one hash, whichever instance issued the card; issuer and tenant recorded.
    card_a, card_b = _issue(a), _issue(b)
    _committed(engine, [card_a["uuid"], card_b["uuid"]])
    with engine.connect() as conn:
        rows = conn.execute(
            select(issued_cards.c.patient_hash, issued_cards.c.issuer, issued_cards.c.tenant)
        ).all()
    assert len({row.patient_hash for row in rows}) == 1
    assert {(row.issuer, row.tenant) for row in rows} == {(hospital_group().iss, "north-hospital")}

    # Feedback sent to B for A's card is joined to it (and the other way round).
    for instance, card in ((b, card_a), (a, card_b)):
        item = {
            "card": card["uuid"],
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-21T10:05:31Z",
        }
        answer = instance.post(SERVICE + "/feedback", {"feedback": [item]})
        assert answer.json() == {"stored": 1}, answer.text


def test_concurrent_feedback_over_both_instances_loses_no_row(
    instances: tuple[Instance, Instance], shared_database: str
) -> None:
    a, b = instances
    engine = open_engine(shared_database, Path("."))
    cards = [_issue(a if n % 2 else b)["uuid"] for n in range(20)]
    _committed(engine, cards)
    posts = [(a if n % 2 else b, cards[n % len(cards)]) for n in range(200)]

    def send(post: tuple[Instance, str]) -> int:
        instance, card = post
        item = {
            "card": card,
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "s-1"}],
            "outcomeTimestamp": "2026-11-21T10:05:31Z",
        }
        return instance.post(SERVICE + "/feedback", {"feedback": [item]}).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, posts))
    assert statuses == [200] * len(posts)
    with engine.connect() as conn:
        stored = conn.execute(select(feedback.c.card_uuid, feedback.c.card_known)).all()
    assert len(stored) == len(posts)
    assert all(row.card_known for row in stored)
    assert sorted(row.card_uuid for row in stored) == sorted(card for _, card in posts)
