"""gunicorn, configured once for every way this package is served: `cds-service serve`, the
Docker image and the benchmark's floor (so the floor runs under exactly the service's settings).

Settings apply in this order, later ones winning: ours (`gunicorn_options`), then the operator's
`GUNICORN_CMD_ARGS` (as gunicorn itself reads it), then options given explicitly on the command
line (`overrides`). The default worker count is the CPUs this process may use: its CPU affinity,
capped by the cgroup CPU quota when it runs in a container (a container limited to 2 CPUs on a
64-CPU host gets 2 workers, not 64). gunicorn's control socket (gunicorn 25.1+, in `$HOME`) is
switched off: nothing here uses it, and the image's user has no writable home.

Library code: the CLI imports this module, never the other way round.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from cds_service.gc_tuning import tune_for_serving

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the cgroup quota allows (cgroup v2 `cpu.max`, else v1 `cpu.cfs_quota_us`), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in (root / "cpu", root / "cpu,cpuacct"):
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def usable_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on: affinity, capped by the cgroup quota (rounded up)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        count = min(count, math.ceil(limit))
    return max(1, count)


DEFAULT_WORKERS = usable_cpus()
DEFAULT_THREADS = 4  # gthread: FHIR callbacks wait on I/O, rules are short CPU bursts


class JsonGunicornLogger(GunicornLogger):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's error and access logs as JSON lines through the service's own formatter (ISO
    timestamps, the request id). The access line (off unless `--access-logfile` is given) has
    method, path without its query, status, bytes and duration; never headers or the query."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        from cds_service.request_log import JsonLineFormatter

        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(JsonLineFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        headers = dict((name.lower(), value) for name, value in (resp.headers or ()))
        fields: dict[str, Any] = {
            "message": "access",
            "method": req.method,
            "path": req.path,
            "status": resp.status_code,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
        }
        if "x-request-id" in headers:
            fields["request_id"] = headers["x-request-id"]
        self.access_log.info("access", extra={"fields": fields})


class GunicornServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """Serve a WSGI app built by `load` with the given gunicorn settings."""

    def __init__(
        self,
        load: Callable[[], Flask],
        options: dict[str, Any],
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self._load = load
        self.options = options
        self.overrides = overrides or {}
        super().__init__()

    def load_config(self) -> None:
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)
        for key, value in self.options.items():
            self.cfg.set(key, value)
        from_env = self.cfg.get_cmd_args_from_env()
        if from_env:
            parsed = self.cfg.parser().parse_args(from_env)
            for key, value in vars(parsed).items():
                if value is not None and key != "args":
                    self.cfg.set(key.lower(), value)
        for key, value in self.overrides.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._load()


def _prepare_worker(server: Any, worker: Any) -> None:
    """gunicorn post_fork hook: fresh DB connections, and GC tuned for request work."""
    from cds_service.database import dispose_all_pools

    dispose_all_pools()  # a forked worker must not reuse the master's pooled connections
    tune_for_serving()  # the app does this on a worker's first request too (gc_tuning)


def prepare_multiprocess_dir() -> Path:
    """An empty folder for prometheus-client's per-process files, named in
    PROMETHEUS_MULTIPROC_DIR before anything imports prometheus-client: the operator's (emptied
    of a previous run's files, as prometheus-client requires), else a new temporary one."""
    from cds_service.metrics import MULTIPROC_ENV

    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="cds-metrics-"))
        os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def _worker_exited(server: Any, worker: Any) -> None:
    """gunicorn child_exit hook: a dead worker's live gauges no longer count."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_options(
    host: str, port: int, workers: int, threads: int, *, log_level: str = "INFO"
) -> dict[str, Any]:
    return {
        "loglevel": log_level.lower(),
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 30,
        "keepalive": 5,
        "accesslog": None,  # the app writes its own JSON line per request
        "logger_class": JsonGunicornLogger,
        "preload_app": True,  # fail before forking if hooks/ or the config is broken
        "post_fork": _prepare_worker,
        "child_exit": _worker_exited,
    }
