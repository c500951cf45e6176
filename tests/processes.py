"""What the tests that start real processes share: a free loopback port and the `serve` command."""

from __future__ import annotations

import socket
import sys


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody is listening on (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_command(port: int, *, workers: int) -> list[str]:
    """`cds-service serve --no-auth` on one port with a number of workers, as a subprocess argv."""
    return [
        sys.executable,
        "-m",
        "cds_service",
        "serve",
        "--no-auth",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
