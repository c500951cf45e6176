"""Slow clients (slowloris) against the real `cds-service serve`: 16 connections that send their
request a byte at a time starve gunicorn's threads when it faces them directly, and do not when
the buffering reverse proxy of deploy/nginx.conf.template stands in front (docker-compose.yml).

Needs the `nginx` binary (a system package, like PostgreSQL for its tier): skipped with the
reason when it is absent, unless CDS_REQUIRE_NGINX=1 makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, patient_view_request
from tests.processes import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
SLOW_CLIENTS = 16
WORKERS, THREADS = 2, 4  # serve's defaults on a 2-CPU machine: 8 request threads


def wait_for(url: str, timeout: float = 30.0) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def nginx() -> str:
    if NGINX is None:
        if os.environ.get("CDS_REQUIRE_NGINX") == "1":
            pytest.fail("CDS_REQUIRE_NGINX=1 but no nginx binary is installed")
        pytest.skip("slow-client tier not run: no nginx binary (apt-get install nginx-light)")
    return NGINX


@pytest.fixture
def serve(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[int]:
    workers = getattr(request, "param", WORKERS)
    port = free_port()
    env = {
        **os.environ,
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "CDS_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--threads", str(THREADS)]
    proc = subprocess.Popen(
        [*command, "--no-auth"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def proxy(nginx: str, serve: int, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    run = tmp_path / "nginx"
    run.mkdir()
    config = (ROOT / "deploy" / "nginx.conf.template").read_text()
    for name, value in {
        "PROXY_LISTEN": f"127.0.0.1:{port}",
        "PROXY_UPSTREAM": f"127.0.0.1:{serve}",
        "PROXY_RUN": str(run),
    }.items():
        config = config.replace("${" + name + "}", value)
    conf = run / "nginx.conf"
    conf.write_text(config)
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    proc = subprocess.Popen(
        [nginx, "-p", str(run), "-c", str(conf), "-g", directives],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", timeout=10)
        yield port
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def slow_clients(port: int, count: int = SLOW_CLIENTS) -> Iterator[None]:
    """`count` connections sending a hook request's headers one byte every 0.3 s."""
    stop = threading.Event()
    head = (
        b"POST /cds-services/immunotherapy-guidance HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nX-Padding: " + b"x" * 10_000
    )

    def trickle(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            for byte in head:
                if stop.wait(0.3):
                    return
                sock.sendall(bytes([byte]))

    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    threads = [threading.Thread(target=trickle, args=(s,), daemon=True) for s in sockets]
    for t in threads:
        t.start()
    try:
        time.sleep(1.5)  # every slow client has begun its request
        yield
    finally:
        stop.set()
        for s in sockets:
            s.close()


def answers(port: int) -> bool:
    """A normal client: discovery and a hook call, each answered within 5 s?"""
    base = f"http://127.0.0.1:{port}"
    try:
        discovery = requests.get(f"{base}/cds-services", timeout=5)
        call = requests.post(
            f"{base}/cds-services/immunotherapy-guidance", json=patient_view_request(), timeout=5
        )
    except requests.RequestException:
        return False
    return discovery.status_code == 200 and call.status_code == 200


@pytest.mark.parametrize("serve", [1], indirect=True)
def test_slow_clients_starve_gunicorn_facing_them_directly(serve: int, nginx: str) -> None:
    # The finding, reproduced (and proof that the next test's slow clients really are slow). One
    # worker: with two, the kernel may hand one of them fewer than 4 of the 16, leaving it a
    # thread free some of the time.
    with slow_clients(serve):
        assert not answers(serve)


def test_behind_the_buffering_proxy_16_slow_clients_deny_no_one(proxy: int) -> None:
    with slow_clients(proxy):
        started = time.monotonic()
        assert answers(proxy)
        assert time.monotonic() - started < 2.0
