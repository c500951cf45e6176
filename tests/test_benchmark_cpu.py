"""The benchmark sees all the cost: CPU per request from /proc (request threads and the ledger
writer apart), stage times from the request log, the share outside them, and authentication
runs with a fresh token per request from three issuers."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import jwt
import pytest

from cds_service.benchmark import auth, cpu, load
from cds_service.benchmark.load import LoadResult
from cds_service.benchmark.report import (
    AUTH,
    FLOOR,
    FULL,
    Measurement,
    evaluate_targets,
    signature_notes,
    table,
)
from cds_service.ledger_writer import WRITER_THREAD_NAME, _name_native_thread


def _run() -> LoadResult:
    return LoadResult(1000, 1.0, 0, 2.0, 3.0, 5.0, 9.0, 0.1)


def test_a_stat_line_gives_the_thread_name_and_its_cpu_seconds() -> None:
    ticks = cpu.CLOCK_TICKS
    line = f"42 (ledger) writer) S 1 1 1 0 -1 0 0 0 0 0 {3 * ticks} {ticks} 0 0 20 0 1 0"
    assert cpu._task_cpu(line) == ("ledger) writer", 4.0)


def test_the_ledger_writer_thread_is_counted_apart_from_the_others() -> None:
    stop = threading.Event()

    def writer() -> None:
        _name_native_thread(WRITER_THREAD_NAME)
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline and not stop.is_set():
            pass
        stop.wait()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(0.5)
    try:
        reading = cpu.thread_cpu([os.getpid()])
    finally:
        stop.set()
        thread.join()
    assert reading.ledger_s > 0.05
    assert reading.request_s > 0


def test_stage_times_come_from_the_request_log_lines_of_hook_calls() -> None:
    text = "\n".join(
        [
            '{"path": "/healthz", "duration_ms": 0.5}',
            '{"path": "/x", "stages_ms": {"resolve": 0.1, "rules": 0.3}, "duration_ms": 1.0,'
            ' "stages_cpu_ms": 0.25}',
            '{"path": "/x", "stages_ms": {"resolve": 0.3, "rules": 0.1}, "duration_ms": 2.0,'
            ' "stages_cpu_ms": 0.35}',
            "not json",
        ]
    )
    assert cpu.log_stages(text) == (0.4, 1.5, 0.3, 2)
    assert cpu.log_stages("") is None


def test_cpu_per_request_and_the_share_outside_the_stages() -> None:
    m = Measurement(FULL, "gbs", 8, 1, 100, runs=[_run()] * 3)
    m.cpu_ms, m.ledger_cpu_ms, m.stages_ms = [1.0, 2.0, 3.0], [0.1, 0.1, 0.1], [0.7, 0.7, 0.7]
    assert m.cpu_per_request_ms() == 2.1
    share = m.outside_stages_share()  # no CPU figure in the log: the wall time stands in
    assert share is not None and abs(share - (1 - 0.7 / 2.1)) < 1e-9
    assert "67%" in table([m])
    m.stages_cpu_ms = [1.4, 1.4, 1.4]
    share = m.outside_stages_share()
    assert share is not None and abs(share - (1 - 1.4 / 2.1)) < 1e-9


def test_the_share_beyond_the_floor_is_what_neither_the_stages_nor_the_floor_account_for() -> None:
    floor = Measurement(FLOOR, "gbs", 8, 1, 100, runs=[_run()], cpu_ms=[0.5], ledger_cpu_ms=[0.0])
    m = Measurement(FULL, "gbs", 8, 1, 100, runs=[_run()], cpu_ms=[1.9], ledger_cpu_ms=[0.1])
    m.stages_cpu_ms = [1.2]
    assert m.outside_stages_share() == pytest.approx(0.4)  # 0.8 of 2.0 ms outside the stages
    assert m.outside_beyond_floor_share(floor) == pytest.approx(0.15)  # 0.3 of them beyond
    assert m.outside_beyond_floor_share(None) is None
    assert m.summary(floor)["outside_beyond_floor_share"] == pytest.approx(0.15)
    row = table([floor, m]).splitlines()[-1].split()
    assert row[-2:] == ["40%", "15%"]
    m.stages_cpu_ms = [1.8]  # the stages and the floor cover it all: never below zero
    assert m.outside_beyond_floor_share(floor) == 0.0


def test_the_es384_target_is_cpu_above_the_same_call_without_authentication() -> None:
    plain = Measurement(FULL, "gbs", 8, 1, 100, runs=[_run()], cpu_ms=[2.0], ledger_cpu_ms=[0.0])
    es384 = Measurement(
        AUTH, "gbs ES384", 8, 1, 100, runs=[_run()], cpu_ms=[2.9], ledger_cpu_ms=[0.0]
    )
    es384.base_scenario = "gbs"
    (target,) = [t for t in evaluate_targets([plain, es384]) if "authentication" in t.name]
    assert target.met is False and target.measured == "0.90 ms"
    es384.cpu_ms = [2.5]
    (target,) = [t for t in evaluate_targets([plain, es384]) if "authentication" in t.name]
    assert target.met is True


def test_the_signature_check_alone_is_reported_beside_the_authentication_rows() -> None:
    plain = Measurement(FULL, "gbs", 8, 1, 100, runs=[_run()], cpu_ms=[2.0], ledger_cpu_ms=[0.0])
    es384 = Measurement(
        AUTH, "gbs ES384", 8, 1, 100, runs=[_run()], cpu_ms=[2.9], ledger_cpu_ms=[0.0]
    )
    es384.base_scenario = "gbs"
    assert signature_notes([plain, es384]) == []  # no figure measured: nothing said
    es384.signature_cpu_ms = [0.7, 0.6, 0.8]
    (note,) = signature_notes([plain, es384])
    assert "gbs ES384" in note and "above no authentication 0.90 ms" in note
    assert "signature check alone 0.70 ms" in note
    assert es384.summary()["signature_cpu_ms"] == 0.7
    assert signature_notes([es384])[0].count("n/a") == 1  # no plain row to compare with


def test_the_signature_check_is_timed_on_tokens_the_issuer_signed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuers = auth.make_issuers()
    for alg in auth.ALGORITHMS:
        assert auth.signature_check_cpu_ms(issuers[alg], "http://127.0.0.1:1/x", count=5) > 0.0

    # A check that fails is said, never timed as if it had passed.
    class Refusing:
        def prepare_key(self, key: object) -> object:
            return key

        def verify(self, message: bytes, key: object, signature: bytes) -> bool:
            return False

    monkeypatch.setattr(auth, "get_default_algorithms", lambda: {"ES256": Refusing()})
    with pytest.raises(RuntimeError, match="failed its own check"):
        auth.signature_check_cpu_ms(issuers["ES256"], "http://127.0.0.1:1/x", count=2)


def test_tokens_are_signed_in_advance_each_with_its_own_jti(tmp_path: Path) -> None:
    issuers = auth.make_issuers()
    assert set(issuers) == {"ES384", "ES256", "RS256"}
    trusted = auth.write_trusted_issuers(tmp_path / "issuers.json", issuers)
    from cds_service.auth.issuers import load_trusted_issuers

    assert set(load_trusted_issuers(str(trusted))) == {i.iss for i in issuers.values()}
    for issuer in issuers.values():
        tokens = issuer.tokens("http://127.0.0.1:1/x", 3)
        jtis = set()
        for token in tokens:
            claims = jwt.decode(
                token,
                issuer.private_key.public_key(),
                algorithms=[issuer.alg],
                audience="http://127.0.0.1:1/x",
            )
            jtis.add(claims["jti"])
        assert len(jtis) == 3


def test_the_lua_script_sends_a_fresh_token_per_request() -> None:
    script = load.lua_script(Path("bench/b.json"), "s", tokens_path=Path("bench/t.txt"))
    assert 'io.lines("bench/t.txt")' in script and "request = function()" in script
    assert "next_token % #tokens + 1" in script
    assert "request = function()" not in load.lua_script(Path("bench/b.json"), "s")


def test_the_largest_growth_body_is_compared_with_the_floor_reading_it() -> None:
    from cds_service.benchmark.report import FLOOR, GROWTH

    small = Measurement(GROWTH, "growth-10", 1, 1, 6_000, runs=[_run()])
    large = Measurement(GROWTH, "growth-10000", 1, 1, 4_700_000, runs=[_run()])
    floor = Measurement(FLOOR, "growth-10000", 1, 1, 4_700_000, runs=[_run()])
    large.runs = [LoadResult(10, 1.0, 0, 120.0, 130.0, 140.0, 150.0, 0.1)]
    floor.runs = [LoadResult(10, 1.0, 0, 100.0, 110.0, 120.0, 130.0, 0.1)]
    (target,) = [t for t in evaluate_targets([small, floor, large]) if "same body" in t.name]
    assert target.met is True and target.measured == "1.20x"
    assert "1.20x" in table([floor, large]).splitlines()[2]
    large.runs = [LoadResult(10, 1.0, 0, 140.0, 150.0, 160.0, 170.0, 0.1)]
    (target,) = [t for t in evaluate_targets([small, floor, large]) if "same body" in t.name]
    assert target.met is False
