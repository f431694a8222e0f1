"""The embedded SQLite engine: WAL, one writer thread with group commit, reader threads.

Writes are units of work (``fn(tx) -> result``) queued to one thread. It runs whatever is queued
as one transaction and commits once: one fsync for many acknowledged writes. A unit that fails
before it changed anything is dropped alone; if one fails after, the batch runs again with each
unit inside its own SAVEPOINT, so that a failing unit rolls back alone. A unit's future resolves
only after the commit returned, so a 2xx answer always means the change is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bellwire.store.base import IamTx, StoreClosed
from bellwire.store.migrations import MIGRATIONS, VERSION_TABLE, pending, statements
from bellwire.store.sql import SqlTx
from bellwire.store.units import Outcome, Unit, dispatch, live

T = TypeVar("T")
log = logging.getLogger(__name__)


_STOP = object()


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; returns it."""
    conn.execute(VERSION_TABLE)
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    for version in pending(row[0] or 0):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements(version):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


class SqliteStore:
    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "full",
        readers: int = 4,
        max_batch: int = 256,
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._on_commit: Callable[[float, int], None] | None = None
        self.reads_in_flight = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        setup = _connect(path, synchronous)
        try:
            migrate(setup)
        finally:
            setup.close()
        self._writer = threading.Thread(
            target=self._write_loop, name="bellwire-writer", daemon=True
        )
        self._writer.start()
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="bellwire-reader")
        self._reader_count = readers
        self._pending_reads: list[tuple[Callable[[IamTx], Any], asyncio.Future[Any]]] = []

    def set_commit_observer(self, observer: Callable[[float, int], None]) -> None:
        """``observer(seconds, writes)`` runs on the writer thread after each durable commit."""
        self._on_commit = observer

    @property
    def queued_writes(self) -> int:
        """Writes waiting for the writer thread (approximate, as the queue reports it)."""
        return self._queue.qsize()

    # --- writes -------------------------------------------------------------------------------

    async def write(
        self,
        fn: Callable[[IamTx], T],
        committed: Callable[[T], None] | None = None,
        *,
        key: str | None = None,  # one writer: every unit shares its commits already
        ahead: bool = False,  # in-process reads: nothing to gain from making them ahead
    ) -> T:
        if self._closed:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(Unit(fn, future, loop, committed))
        return await future

    def _write_loop(self) -> None:
        conn = _connect(self.path, self._synchronous)
        cursor = conn.cursor()
        tx = SqlTx(cursor)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch: list[Unit[Any]] = [first]
                stop_after = False
                while len(batch) < self._max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop_after = True
                        break
                    batch.append(nxt)
                batch = live(batch)
                if batch:
                    self._run_batch(conn, cursor, tx, batch)
                if stop_after:
                    return
        finally:
            conn.close()

    def _run_batch(
        self, conn: sqlite3.Connection, cursor: sqlite3.Cursor, tx: SqlTx, batch: list[Unit[Any]]
    ) -> None:
        started = time.perf_counter()
        committed: float | None = None
        try:
            outcomes = _run_units(conn, cursor, tx, batch, savepoints=False)
            if outcomes is None:  # a unit failed after it wrote: again, each in a savepoint
                cursor.execute("ROLLBACK")
                outcomes = _run_units(conn, cursor, tx, batch, savepoints=True)
                assert outcomes is not None
            cursor.execute("COMMIT")
            committed = time.perf_counter() - started
        except BaseException as exc:  # the commit itself failed: nothing of the batch is durable
            log.exception("store commit failed")
            if conn.in_transaction:
                conn.rollback()
            outcomes = [(unit, False, exc) for unit in batch]
        # Observed before the answers go out (a histogram sample costs microseconds), so that a
        # client that got its 2xx finds its commit counted in the next scrape.
        if committed is not None and self._on_commit is not None:
            try:
                self._on_commit(committed, len(batch))
            except Exception:
                log.exception("commit observer failed")
        dispatch(outcomes)

    # --- reads --------------------------------------------------------------------------------

    async def read(self, fn: Callable[[IamTx], T]) -> T:
        """Reads asked for in one loop turn go to the reader threads together: one hop there
        and one back for the lot (a connect storm's snapshots arrive many to a turn), and one
        read transaction for each thread's share; each read's failure is its own."""
        if self._closed:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending_reads:
            loop.call_soon(self._submit_reads, loop)
        self._pending_reads.append((fn, future))
        self.reads_in_flight += 1
        try:
            return await future  # type: ignore[no-any-return]
        finally:
            self.reads_in_flight -= 1

    def _submit_reads(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending_reads = self._pending_reads, []
        if self._closed:
            for _, future in batch:
                if not future.done():
                    future.set_exception(StoreClosed("the store is closed"))
            return
        # Shared among the reader threads, in contiguous slices (one thread: one job).
        jobs = min(self._reader_count, len(batch))
        size = -(-len(batch) // jobs)
        for start in range(0, len(batch), size):
            self._readers.submit(self._read_batch, batch[start : start + size], loop)

    def _read_batch(
        self, batch: list[tuple[Callable[[IamTx], Any], asyncio.Future[Any]]], loop: Any
    ) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        live = [(fn, future) for fn, future in batch if not future.cancelled()]
        try:
            cursor = self._reader_cursor()
            # One snapshot for the batch, so a listing and its counts agree. Every read in it
            # was asked for before the snapshot was taken, so each still sees every write
            # acknowledged before it was asked for; the BEGIN and COMMIT are paid once.
            cursor.execute("BEGIN")
        except BaseException as exc:
            outcomes = [(future, False, exc) for _, future in live]
        else:
            try:
                for fn, future in live:
                    try:
                        outcomes.append((future, True, fn(SqlTx(cursor))))
                    except BaseException as exc:  # the read's own failure, for its caller alone
                        outcomes.append((future, False, exc))
            finally:
                with contextlib.suppress(sqlite3.Error):  # nothing to keep: it only read
                    cursor.execute("COMMIT")
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, outcomes)

    def _reader_cursor(self) -> sqlite3.Cursor:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._synchronous)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            self._reader_conns.append(conn)
        return conn.cursor()

    async def ping(self) -> bool:
        try:
            return bool(await self.read(lambda tx: tx.app_instance("") is None))
        except Exception:
            return False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()


def _run_units(
    conn: sqlite3.Connection,
    cursor: sqlite3.Cursor,
    tx: SqlTx,
    batch: list[Unit[Any]],
    *,
    savepoints: bool,
) -> list[Outcome] | None:
    """Run ``batch`` in one transaction, left open. Without ``savepoints`` (the usual way) a
    unit that fails before it changed a row is dropped alone, and one that fails after makes
    this return None (the caller rolls back and runs the batch again with them): while a
    savepoint is open SQLite copies every page a statement first touches into its
    sub-journal, a fifth of a send's writer time."""
    cursor.execute("BEGIN IMMEDIATE")
    outcomes: list[Outcome] = []
    for unit in batch:
        if savepoints:
            cursor.execute("SAVEPOINT unit")
        changes = conn.total_changes
        try:
            result = unit.fn(tx)
        except BaseException as exc:  # the unit's own failure: undo it alone
            if savepoints:
                cursor.execute("ROLLBACK TO unit")
                cursor.execute("RELEASE unit")
            elif conn.total_changes != changes:
                return None
            outcomes.append((unit, False, exc))
        else:
            if savepoints:
                cursor.execute("RELEASE unit")
            outcomes.append((unit, True, result))
    return outcomes


def _resolve(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in outcomes:
        if future.done():  # cancelled while the read ran
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
