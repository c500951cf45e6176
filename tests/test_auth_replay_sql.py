"""The database-backed `jti` replay cache, on SQLite and on PostgreSQL: shared by every worker,
atomic, expiring."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from cds_service import migrate
from cds_service.auth.replay_sql import SqlReplayCache
from cds_service.database import open_engine


def engine(database_url: str, tmp_path: Path) -> Engine:
    opened = open_engine(database_url, tmp_path)
    migrate.upgrade(opened)
    return opened


def test_a_token_replayed_to_another_worker_is_refused(database_url: str, tmp_path: Path) -> None:
    worker_a = SqlReplayCache(engine(database_url, tmp_path), clock=lambda: 1000.0)
    worker_b = SqlReplayCache(engine(database_url, tmp_path), clock=lambda: 1000.0)
    assert worker_a.first_use("https://ehr.example|jti-1", expires_at=1300.0) is True
    assert worker_b.first_use("https://ehr.example|jti-1", expires_at=1300.0) is False
    assert worker_b.first_use("https://ehr.example|jti-2", expires_at=1300.0) is True


def test_an_expired_entry_no_longer_blocks_its_key(database_url: str, tmp_path: Path) -> None:
    now = [1000.0]
    cache = SqlReplayCache(engine(database_url, tmp_path), clock=lambda: now[0])
    assert cache.first_use("k", expires_at=1010.0)
    now[0] = 1005.0
    assert not cache.first_use("k", expires_at=1010.0)
    now[0] = 1011.0
    assert cache.first_use("k", expires_at=1400.0)
    assert not cache.first_use("k", expires_at=1400.0)


def test_a_token_replayed_to_another_app_instance_on_the_same_database_is_401(
    database_url: str, tmp_path: Path
) -> None:
    import time

    from cds_service import create_app
    from tests.fake_ehr import hospital_group, write_trusted_issuers

    issuers = write_trusted_issuers(tmp_path)
    config = {
        "AUTH_ENABLED": True,
        "TRUSTED_ISSUERS_FILE": str(issuers),
        "PUBLIC_BASE_URL": "https://cds.example.org",
        "DATABASE_URL": database_url,
    }
    worker_a, worker_b = create_app(config).test_client(), create_app(config).test_client()
    token = hospital_group().token(
        "https://cds.example.org/cds-services", time.time(), tenant="north-hospital"
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert worker_a.get("/cds-services", headers=headers).status_code == 200
    assert worker_b.get("/cds-services", headers=headers).status_code == 401


def test_each_request_thread_keeps_one_autocommit_connection_within_the_pools_share(
    database_url: str, tmp_path: Path
) -> None:
    """A thread's second token costs no pool checkout (its connection is kept, in autocommit:
    the one statement is its own transaction); at most POOL_SIZE - 4 threads keep one, the
    others check one out per call; a disposed pool is followed."""
    import threading

    from cds_service.database import POOL_SIZE

    opened = engine(database_url, tmp_path)
    cache = SqlReplayCache(opened, clock=lambda: 1000.0)
    answers: list[bool] = []
    barrier = threading.Barrier(POOL_SIZE)

    def worker(n: int) -> None:
        barrier.wait()  # every thread holds on at once
        answers.append(cache.first_use(f"iss|a-{n}", expires_at=1300.0))
        answers.append(cache.first_use(f"iss|a-{n}", expires_at=1300.0))
        barrier.wait()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(POOL_SIZE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(answers) == [False] * POOL_SIZE + [True] * POOL_SIZE
    assert opened.pool.checkedout() == POOL_SIZE - 4  # type: ignore[attr-defined]  # QueuePool
    opened.dispose()
    assert cache.first_use("iss|after-dispose", expires_at=1300.0) is True
    assert cache.first_use("iss|a-0", expires_at=1300.0) is False  # replays still refused
    opened.dispose()
