"""Write-behind for the card ledger: hook calls hand their rows to one writer thread per process.

Measured with `cds-service benchmark` (issue 6): with 2 gunicorn workers x 4 threads committing
their own transactions to one SQLite file, 74% of a card-issuing call was spent waiting for the
write lock and p99 reached 0.8-1.1 s. Here request threads only enqueue; one thread per process
drains the queue and commits whatever has accumulated in a single transaction, so the lock is
taken once per batch instead of once per call. The thread starts lazily in the process that uses
it (gunicorn forks after building the app), `flush()` waits until everything queued is committed
(the feedback path and reports call it), and pending rows are flushed at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Table, insert

log = logging.getLogger("cds_service.ledger")

# One call's rows: (table, rows) pairs in the order they must be inserted (parents first).
Batch = Sequence[tuple[Table, list[dict[str, Any]]]]
MAX_BATCH = 256  # calls committed together at most; bounds one transaction's size


class WriteBehind:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.Queue[Batch] = queue.Queue()
        self._pid: int | None = None
        self._lock = threading.Lock()

    def submit(self, write: Batch) -> None:
        self._ensure_thread()
        self._queue.put(write)

    def flush(self) -> None:
        """Return once every write submitted so far in this process is committed."""
        if self._pid == os.getpid():
            self._queue.join()

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A fresh queue after fork: the parent's (and its unfinished counters) is not ours.
            self._queue = queue.Queue()
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="ledger-writer", daemon=True).start()
            atexit.register(self.flush)

    def _run(self) -> None:
        pending = self._queue
        while True:
            batch = [pending.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            # All calls' rows for a table go in one executemany: the per-statement overhead is
            # paid once per batch, not once per call.
            merged: dict[Table, list[dict[str, Any]]] = {}
            for rows_by_table in batch:
                for table, rows in rows_by_table:
                    merged.setdefault(table, []).extend(rows)
            try:
                with self._engine.begin() as conn:
                    for table, rows in merged.items():
                        if rows:
                            conn.execute(insert(table), rows)
            except Exception as exc:  # the writer must survive a failed batch
                log.error(
                    "card ledger write failed; %d call(s) not recorded: %s",
                    len(batch),
                    type(exc).__name__,
                )
            finally:
                for _ in batch:
                    pending.task_done()
