"""Durable write-behind for the card ledger: a local append-only spool, then batched commits.

What the EHR received must be in the ledger or in the spool, always. A hook call's rows are
encoded as one JSON line (orjson) and appended (one `write(2)` on an `O_APPEND` file descriptor)
to this process's spool segment before the response is sent; from then on they survive the
process being killed (they are in the kernel's page cache; like SQLite's `synchronous=NORMAL`,
only an operating system crash can lose the last writes). One writer thread per process reads
the spool and commits what has accumulated in one transaction per batch, so the database lock is
taken once per batch, not once per call, and the request thread pays only for encoding and one
system call.

What a call costs the writer is the batch's cost (waking the thread, the transaction) divided by
the calls in the batch. Measured here (a 2-core VM), a thread's wake-up or timed sleep costs
0.07-0.23 ms of CPU and an SQLAlchemy Core executemany about 0.03 ms per row. So the writer is
woken only when it is idle (a call that finds it gathering or committing signals nothing), then
gathers for `COMMIT_INTERVAL_SECONDS` (0.25 s: cards reach the database that much later; they are
durable in the spool from the start), and inserts each table's rows with one driver-level
executemany of a statement compiled once (`exec_driver_sql`; values converted by the column
types' own bind processors, as SQLAlchemy's execution does), on a connection it keeps. On
PostgreSQL the whole batch is one statement (`_PostgresBatchInsert`).

- **Database down, locked, read-only or full:** the writer keeps the rows in the spool, logs at
  ERROR once per outage, retries with backoff, and logs when the database is back. Memory stays
  bounded: rows wait on disk, not in a queue.
- **Back-pressure:** the spool a process has not yet committed is capped at `max_spool_bytes`;
  beyond it, or when the spool cannot be written (disk full, read-only instance folder),
  `submit` raises `SpoolUnavailable` and the hook answers 503: no cards nobody can audit.
- **A bad row is refused alone:** when a batch fails for its data (`IntegrityError`,
  `DataError`), the calls are committed one by one and a call that still fails is moved to a
  `rejected-*.jsonl` file in the spool folder and logged at ERROR; the others are recorded.
- **Crash, SIGKILL, SIGTERM during a lock:** a segment is `flock`ed by its process for its life;
  a segment whose lock can be taken belongs to a process that has ended, and is adopted: at start
  (`replay_orphans`, before gunicorn forks) and by every writer thread every
  `ORPHAN_SCAN_SECONDS` and when the database comes back. Inserts ignore rows already present
  (`ON CONFLICT DO NOTHING`), so a segment replayed twice (a crash between a commit and the
  segment's truncation) records each row once.
- Segments rotate at `SEGMENT_BYTES`; a segment fully committed is truncated (the current one) or
  deleted (older ones), so the spool is near-empty while the database keeps up.

`flush(timeout)` waits until everything this process has submitted is committed (reports, tests,
interpreter exit); `spooled(needle)` answers whether any process's spool on this host holds a
byte string (the feedback path uses it to know a card another worker issued a moment ago).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import logging
import operator
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Engine, Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError

from cds_service.database import KeptConnection

log = logging.getLogger("cds_service.ledger")

# One call's rows: table name -> rows, tables in the order they must be inserted (parents first).
Rows = Mapping[str, list[dict[str, Any]]]

SEGMENT_BYTES = 1 << 20  # rotate the current segment past 1 MiB
READ_CHUNK_BYTES = 1 << 20  # most bytes read from a segment for one batch
MAX_BATCH_CALLS = 256  # calls committed together at most; bounds one transaction's size
COMMIT_INTERVAL_SECONDS = 0.25  # time batching: once woken, wait this long for more calls
ORPHAN_SCAN_SECONDS = 30.0
BACKOFF_FIRST_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 5.0
SEGMENT_SUFFIX = ".jsonl"
REJECTED_PREFIX = "rejected-"


WRITER_THREAD_NAME = "ledger-writer"  # also the kernel's name: the benchmark reads its CPU


def _name_native_thread(name: str) -> None:
    """Name the calling thread in the kernel (Linux prctl PR_SET_NAME; 15 characters), so that
    /proc tells the writer's CPU time from the request threads'; elsewhere, nothing."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)


class SpoolUnavailable(Exception):
    """The rows could not be made durable: the spool is full or cannot be written."""


@dataclass(eq=False)
class _Segment:
    path: Path
    fd: int
    size: int  # bytes of whole lines in the file
    read: int = 0  # bytes already committed (or rejected)
    adopted: bool = False  # a segment of a process that has ended


def encode(rows: Rows) -> bytes:
    """One call's rows as one spool line: compact UTF-8 JSON (orjson; control characters in
    strings are escaped, so the line holds no raw newline, and a UTF-8 byte sequence never
    contains the newline byte), datetimes in ISO 8601 as `datetime.isoformat` writes them."""
    return orjson.dumps(rows, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


def card_needle(card_uuid: str) -> bytes:
    """The bytes that show a card's row in a spool line (see `encode`)."""
    return b'"card_uuid":' + orjson.dumps(card_uuid) + b","


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


class WriteBehind:
    _idle: bool
    _backlog: int
    _submitted: int
    _processed: int
    _refusals: int
    _rejected: int

    def __init__(
        self,
        engine: Engine,
        tables: Sequence[Table],
        spool_dir: Path,
        *,
        max_spool_bytes: int,
        commit_interval: float = COMMIT_INTERVAL_SECONDS,
    ) -> None:
        self._engine = engine
        self._tables = {table.name: table for table in tables}
        self._datetime_columns = {
            table.name: [c.name for c in table.columns if isinstance(c.type, DateTime)]
            for table in tables
        }
        self._batch = _batch_insert(engine, tables)
        # The writer thread's own connection: no pool checkout and liveness ping per batch.
        self._connection = KeptConnection(engine, autocommit=self._batch.autocommit)
        self.spool_dir = spool_dir
        self._max_spool_bytes = max_spool_bytes
        self._commit_interval = commit_interval
        self._pid: int | None = None
        self._start_lock = threading.Lock()
        self._reset_process_state()

    # ----------------------------------------------------------------- request threads

    def submit(self, rows: Rows) -> None:
        """Make one call's rows durable in the spool; the writer thread commits them later.

        Raises SpoolUnavailable if they cannot be made durable (the caller answers 503).
        """
        line = encode(rows)
        self._ensure_thread()
        with self._lock:
            if self._backlog + len(line) > self._max_spool_bytes:
                self._refusals += 1
                raise SpoolUnavailable(
                    f"ledger spool holds {self._backlog} bytes not yet committed "
                    f"(limit {self._max_spool_bytes})"
                )
            try:
                segment = self._writable_segment()
                written = os.write(segment.fd, line)
                if written != len(line):  # disk full mid-line: take the fragment back
                    self._discard_tail(segment)
                    raise OSError(errno.ENOSPC, "short write to the ledger spool")
            except OSError as exc:
                self._refusals += 1
                raise SpoolUnavailable(f"ledger spool cannot be written: {exc.strerror}") from exc
            segment.size += written
            self._backlog += written
            self._submitted += 1
            wake = self._idle
            self._idle = False
        if wake:  # only the first call after a quiet spell wakes the writer (a system call)
            self._wake.set()

    def start(self) -> None:
        """Start this process's writer thread if it is not running (it also adopts the spools
        of ended processes, so a restarted service that issues no card still replays them)."""
        self._ensure_thread()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every call submitted so far in this process is committed; False on timeout."""
        if self._pid != os.getpid():
            return True
        with self._done:
            target = self._submitted
            self._urgent.set()
            self._wake.set()
            return self._done.wait_for(lambda: self._processed >= target, timeout)

    def spooled(self, needle: bytes) -> bool:
        """Whether a spool segment of any process on this host still holds `needle`."""
        for path in self._segment_paths():
            try:
                if needle in path.read_bytes():
                    return True
            except FileNotFoundError:  # committed and deleted meanwhile
                continue
        return False

    def health(self) -> dict[str, Any]:
        """For readiness probes: is the database taking rows, and how much waits in the spool."""
        with self._lock:
            return {
                "database_ok": self._outage_since is None,
                "outage_seconds": round(time.monotonic() - self._outage_since, 1)
                if self._outage_since is not None
                else 0.0,
                "spooled_bytes": self._backlog,
                "spooled_calls": self._submitted - self._processed,
                "refused_calls": self._refusals,
                "rejected_calls": self._rejected,
            }

    # ----------------------------------------------------------------- start and orphans

    def replay_orphans(self) -> int:
        """Commit every segment left by ended processes now; returns calls recorded.

        Run at start, before gunicorn forks: every file it opens is closed again before it
        returns, so no lock is inherited by the workers. A database fault leaves the segments
        for the workers' writers to adopt later.
        """
        recorded = 0
        for path in self._segment_paths():
            segment = self._adopt(path)
            if segment is None:
                continue
            try:
                while segment.read < segment.size:
                    lines, consumed = self._read_lines(segment)
                    if not lines:
                        break
                    self._commit_lines(lines)
                    recorded += len(lines)
                    segment.read += consumed
                path.unlink(missing_ok=True)
            except Exception as exc:
                log.error(
                    "ledger spool replay at start failed (%s); a worker will retry",
                    type(exc).__name__,
                )
                return recorded
            finally:
                os.close(segment.fd)
        if recorded:
            log.info("ledger spool replayed at start: %d call(s) recorded", recorded)
        return recorded

    # ----------------------------------------------------------------- internals

    def _reset_process_state(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._done = threading.Condition()
        self._idle = False  # the writer waits for a call to wake it (set under _lock)
        self._segments: list[_Segment] = []  # oldest first; the last one is appended to
        self._current: _Segment | None = None
        self._backlog = 0  # bytes appended by this process and not yet committed
        self._submitted = 0  # calls appended by this process
        self._processed = 0  # of those, calls committed or rejected
        self._refusals = 0
        self._rejected = 0
        self._outage_since: float | None = None

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            # After fork: the parent's segments, counters and thread are not ours. Its files
            # stay locked by the parent; we only drop our copies of the descriptors.
            for segment in self._segments:
                os.close(segment.fd)
            self._reset_process_state()
            with contextlib.suppress(OSError):  # if it cannot be made, submit says so (503)
                self.spool_dir.mkdir(parents=True, exist_ok=True)
            self._pid = os.getpid()
            threading.Thread(target=self._run, name=WRITER_THREAD_NAME, daemon=True).start()
            atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        # Everything is durable already; give the database a moment to take it, no more
        # (a SIGTERM during a held lock must not hang the worker: the next start replays).
        if self._submitted > self._processed and not self.flush(timeout=2.0):
            # At interpreter exit a handler's stream may be closed already (pytest's capture):
            # the line is then dropped quietly instead of printing a "Logging error" trace.
            logging.raiseExceptions = False
            log.warning(
                "ledger: %d call(s) left in the spool at exit; they are replayed at the next "
                "start or by another worker",
                self._submitted - self._processed,
            )

    def _writable_segment(self) -> _Segment:
        segment = self._current
        if segment is None or segment.size >= SEGMENT_BYTES:
            segment = self._new_segment()
        return segment

    def _new_segment(self) -> _Segment:
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SEGMENT_SUFFIX}"
        path = self.spool_dir / name
        # Locked under a name no scan matches, then renamed: a scan must never see the new
        # segment unlocked and take it for an ended process's (same inode, same lock).
        hidden = self.spool_dir / f".{name}.new"
        fd = os.open(hidden, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if not _lock(fd):  # pragma: no cover - a fresh, exclusively created file
                raise OSError(errno.EAGAIN, "new spool segment is locked")
            os.rename(hidden, path)
        except OSError:
            os.close(fd)
            hidden.unlink(missing_ok=True)
            raise
        segment = _Segment(path, fd, 0)
        self._segments.append(segment)
        self._current = segment
        return segment

    def _discard_tail(self, segment: _Segment) -> None:
        try:
            os.ftruncate(segment.fd, segment.size)
        except OSError:
            # The fragment stays; never append after it: readers drop a line without its newline.
            self._current = None

    def _segment_paths(self) -> list[Path]:
        try:
            return sorted(
                p
                for p in self.spool_dir.iterdir()
                if p.name.endswith(SEGMENT_SUFFIX) and not p.name.startswith(REJECTED_PREFIX)
            )
        except FileNotFoundError:
            return []

    def _adopt(self, path: Path) -> _Segment | None:
        """Open a segment of an ended process (its lock is free), else None."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except (FileNotFoundError, PermissionError):
            return None
        if not _lock(fd):  # its process is alive
            os.close(fd)
            return None
        data_size = os.fstat(fd).st_size
        if data_size == 0:
            path.unlink(missing_ok=True)
            os.close(fd)
            return None
        return _Segment(path, fd, data_size, adopted=True)

    def _adopt_orphans(self) -> None:
        mine = {segment.path for segment in self._segments}
        found = [
            segment
            for path in self._segment_paths()
            if path not in mine
            for segment in [self._adopt(path)]
            if segment is not None
        ]
        if found:
            log.info("ledger: adopted %d spool segment(s) of ended processes", len(found))
            with self._lock:
                # Before our own: older rows first (not needed for correctness).
                self._segments[:0] = found
            self._wake.set()  # commit them now, not at the next call

    def _run(self) -> None:
        _name_native_thread(WRITER_THREAD_NAME)
        next_scan = 0.0
        backoff = BACKOFF_FIRST_SECONDS
        while True:
            if time.monotonic() >= next_scan:
                try:
                    self._adopt_orphans()
                except OSError as exc:
                    log.error("ledger: cannot scan the spool folder: %s", exc.strerror)
                next_scan = time.monotonic() + ORPHAN_SCAN_SECONDS
            with self._lock:
                # Nothing unread: sleep until a call wakes us (cleared and flagged under the
                # lock the append holds, so no call is left unsignalled between check and wait).
                idle = not any(s.read < s.size for s in self._segments)
                if idle:
                    self._wake.clear()
                    self._idle = True
            if idle:
                self._wake.wait(timeout=ORPHAN_SCAN_SECONDS)
                with self._lock:
                    self._idle = False
            self._urgent.wait(timeout=self._commit_interval)  # gather the calls that follow
            self._urgent.clear()
            try:
                while self._commit_some():
                    pass
            except Exception as exc:
                self._outage(exc)
                # A connection opened while the file was read-only stays read-only: reconnect.
                self._connection.drop()
                self._engine.dispose()
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
                self._wake.set()  # try again
                continue
            if self._outage_since is not None:
                log.error(
                    "ledger database is back after %.1f s; spooled calls recorded",
                    time.monotonic() - self._outage_since,
                )
                with self._lock:
                    self._outage_since = None
                next_scan = 0.0  # a peer may have died during the outage
            backoff = BACKOFF_FIRST_SECONDS

    def _outage(self, exc: Exception) -> None:
        with self._lock:
            first = self._outage_since is None
            if first:
                self._outage_since = time.monotonic()
            waiting = self._submitted - self._processed
        if first:
            log.error(
                "ledger database write failed (%s); %d call(s) kept in the spool at %s, retrying",
                type(exc).__name__,
                waiting,
                self.spool_dir,
            )

    def _commit_some(self) -> bool:
        """Commit one batch from the oldest segment with unread rows; False if none is left."""
        with self._lock:
            segment = next((s for s in self._segments if s.read < s.size), None)
            finished = [s for s in self._segments if s.read >= s.size and s is not self._current]
        for old in finished:
            self._retire(old)
        if segment is None:
            self._truncate_current()
            return False
        lines, consumed = self._read_lines(segment)
        if not lines:
            if not segment.adopted:  # pragma: no cover - our own lines always end in "\n"
                raise OSError(errno.EIO, "ledger spool segment shorter than written")
            # A torn fragment without its newline (its call was answered 503): nothing follows.
            with self._lock:
                segment.read = segment.size
            return True
        rejected = self._commit_lines(lines)
        with self._lock:
            segment.read += consumed
            if not segment.adopted:
                self._backlog -= consumed
                self._rejected += rejected
        if not segment.adopted:
            with self._done:
                self._processed += len(lines)
                self._done.notify_all()
        return True

    def _read_lines(self, segment: _Segment) -> tuple[list[bytes], int]:
        data = os.pread(
            segment.fd, min(segment.size - segment.read, READ_CHUNK_BYTES), segment.read
        )
        end = data.rfind(b"\n")
        if end < 0:
            return [], 0
        lines = data[: end + 1].splitlines(keepends=True)[:MAX_BATCH_CALLS]
        return lines, sum(len(line) for line in lines)

    def _retire(self, segment: _Segment) -> None:
        segment.path.unlink(missing_ok=True)
        os.close(segment.fd)
        with self._lock:
            self._segments.remove(segment)

    def _truncate_current(self) -> None:
        with self._lock:
            segment = self._current
            if segment is not None and segment.size and segment.read >= segment.size:
                try:
                    os.ftruncate(segment.fd, 0)
                except OSError:
                    self._current = None  # retired once read to the end; a new one is made
                    return
                segment.size = segment.read = 0

    def _commit_lines(self, lines: list[bytes]) -> int:
        """Commit calls' rows together, or one by one if the batch fails for its data.

        Returns how many calls were rejected (written to a rejected file). Raises on a
        database fault (locked, read-only, full, unreachable): nothing is lost, the caller
        retries.
        """
        calls = [self._decode(line) for line in lines]
        try:
            self._insert([c for c in calls if c is not None])
            bad = [line for line, call in zip(lines, calls, strict=True) if call is None]
        except (IntegrityError, DataError):
            bad = []
            for line, call in zip(lines, calls, strict=True):
                if call is None:
                    bad.append(line)
                    continue
                try:
                    self._insert([call])
                except (IntegrityError, DataError) as exc:
                    log.error(
                        "ledger: one call's rows refused by the database (%s); kept in %s",
                        type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
                        REJECTED_PREFIX + "*",
                    )
                    bad.append(line)
        if bad:
            self._keep_rejected(bad)
        return len(bad)

    def _decode(self, line: bytes) -> dict[str, list[dict[str, Any]]] | None:
        try:
            call = orjson.loads(line)
            if not isinstance(call, dict):
                raise ValueError("not an object")
            for name, rows in call.items():
                for column in self._datetime_columns[name]:
                    for row in rows:
                        row[column] = datetime.fromisoformat(row[column])
        except (ValueError, KeyError, TypeError, AttributeError):  # orjson's error is a ValueError
            log.error("ledger: an unreadable spool line was set aside")
            return None
        decoded: dict[str, list[dict[str, Any]]] = call
        return decoded

    def _insert(self, calls: list[dict[str, list[dict[str, Any]]]]) -> None:
        merged: dict[str, list[dict[str, Any]]] = {name: [] for name in self._tables}
        for call in calls:
            for name, rows in call.items():
                merged[name].extend(rows)
        try:
            self._batch.execute(self._connection.get(), merged)
        except (IntegrityError, DataError):
            raise  # the connection is sound; the caller retries the calls one by one
        except Exception:
            self._connection.drop()
            raise

    def _keep_rejected(self, lines: list[bytes]) -> None:
        path = self.spool_dir / f"{REJECTED_PREFIX}{os.getpid()}{SEGMENT_SUFFIX}"
        try:
            with path.open("ab") as out:
                out.writelines(lines)
        except OSError as exc:
            log.error(
                "ledger: %d refused call(s) could not be kept either (%s)", len(lines), exc.strerror
            )


def _bind_processor(column: Any, dialect: Any) -> Any:
    """The column type's value converter for this dialect (None: sent as it is)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _insert_ignoring_duplicates(engine: Engine, table: Table) -> Insert:
    dialect = engine.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return insert(table)


class _DriverInsert:
    """One table's INSERT of a given set of columns, compiled once for the engine's dialect and
    run as one driver-level executemany. Each value goes through its column type's bind
    processor (what SQLAlchemy's own execution does: SQLite's DateTime to its string format,
    Boolean to 0/1)."""

    def __init__(self, table: Table, columns: tuple[str, ...], engine: Engine) -> None:
        compiled = _insert_ignoring_duplicates(engine, table).compile(
            dialect=engine.dialect,
            column_keys=list(columns),  # placeholders for these columns
        )
        self.sql = str(compiled)
        names = list(compiled.positiontup or ()) if compiled.positional else list(columns)
        self._positional = bool(compiled.positional)
        self._processors = [
            (name, _bind_processor(table.c[name], engine.dialect)) for name in names
        ]
        plain = len(names) > 1 and all(convert is None for _, convert in self._processors)
        self._pick = operator.itemgetter(*names) if self._positional and plain else None

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        if self._positional:
            if self._pick is not None:  # no value to convert: the tuple is picked out in C
                return [self._pick(row) for row in rows]
            return [
                tuple(
                    row[name] if convert is None else convert(row[name])
                    for name, convert in self._processors
                )
                for row in rows
            ]
        return [
            {
                name: row[name] if convert is None else convert(row[name])
                for name, convert in self._processors
            }
            for row in rows
        ]

    def execute(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        conn.exec_driver_sql(self.sql, self.parameters(rows))


class _BatchInsert:
    """A batch's rows, table by table (parents first), as driver-level executemany calls in one
    transaction. Rows are grouped by the columns they carry: a column a row lacks (a spool line
    written before the column existed) takes its default, as a Core insert of those rows would."""

    autocommit = False

    def __init__(self, engine: Engine, tables: Sequence[Table]) -> None:
        self._engine = engine
        self._tables = {t.name: t for t in tables}
        self._statements: dict[tuple[str, tuple[str, ...]], _DriverInsert] = {}

    def _statement(self, name: str, columns: tuple[str, ...]) -> _DriverInsert:
        key = (name, columns)
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = _DriverInsert(self._tables[name], columns, self._engine)
        return found

    def execute(self, conn: Connection, merged: Mapping[str, list[dict[str, Any]]]) -> None:
        with conn.begin():
            self.insert_each(conn, merged)

    def insert_each(self, conn: Connection, merged: Mapping[str, list[dict[str, Any]]]) -> None:
        for name in self._tables:
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in merged.get(name) or ():
                groups.setdefault(tuple(row), []).append(row)
            for columns, rows in groups.items():
                self._statement(name, columns).execute(conn, rows)


class _PostgresBatchInsert(_BatchInsert):
    """PostgreSQL: the whole batch, every table, as one statement sent in autocommit mode: one
    round trip per batch instead of BEGIN, an executemany per table and COMMIT (on this host each
    round trip's wait and wake-up costs 0.1-0.3 ms of CPU, and psycopg's executemany about 0.045 ms
    per row). Each table's rows arrive as one array per column, cast to the column's own type
    (so values are checked as a plain INSERT checks them), through data-modifying CTEs:

        WITH t0 AS (INSERT INTO issued_cards (...) SELECT * FROM unnest(%s::VARCHAR(64)[], ...)
                    ON CONFLICT DO NOTHING),
             t1 AS (INSERT INTO card_rules ...)
        INSERT INTO issued_suggestions ...

    One statement is one transaction: all of the batch is recorded, or none of it. Foreign keys
    are checked at the statement's end, when the parent rows are in. A batch holding a row that
    lacks a column (an old spool line) goes the generic way, statement by statement (inserts ignore
    rows already present, so a retry after a fault completes what a fault interrupted)."""

    autocommit = True

    def __init__(self, engine: Engine, tables: Sequence[Table]) -> None:
        super().__init__(engine, tables)
        dialect = engine.dialect
        prepare = dialect.identifier_preparer
        self._columns: list[tuple[str, list[tuple[str, Any]]]] = []
        parts = []
        for table in tables:
            columns = [c for c in table.columns if c is not table.autoincrement_column]
            self._columns.append(
                (
                    table.name,
                    [(c.name, _bind_processor(c, dialect)) for c in columns],
                )
            )
            arrays = ", ".join(f"%s::{c.type.compile(dialect=dialect)}[]" for c in columns)
            # Names from the schema, quoted by the dialect; every value is a bound parameter.
            parts.append(
                f"INSERT INTO {prepare.format_table(table)} "  # noqa: S608
                f"({', '.join(prepare.quote(c.name) for c in columns)}) "
                f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"
            )
        *first, last = parts
        ctes = ", ".join(f"t{i} AS ({part})" for i, part in enumerate(first))
        self.sql = f"WITH {ctes} {last}" if ctes else last

    def execute(self, conn: Connection, merged: Mapping[str, list[dict[str, Any]]]) -> None:
        parameters: list[list[Any]] = []
        for name, columns in self._columns:
            rows = merged.get(name) or []
            if any(len(row) != len(columns) for row in rows):
                self.insert_each(conn, merged)
                return
            for column, convert in columns:
                values = [row[column] for row in rows]
                parameters.append(values if convert is None else [convert(v) for v in values])
        conn.exec_driver_sql(self.sql, tuple(parameters))


def _batch_insert(engine: Engine, tables: Sequence[Table]) -> _BatchInsert:
    if engine.dialect.name == "postgresql":
        return _PostgresBatchInsert(engine, tables)
    return _BatchInsert(engine, tables)


def iter_rejected(spool_dir: Path) -> Iterator[Path]:
    """Files of calls the database refused, for an operator to inspect."""
    yield from sorted(spool_dir.glob(f"{REJECTED_PREFIX}*{SEGMENT_SUFFIX}"))
