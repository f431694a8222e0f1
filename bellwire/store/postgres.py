"""The PostgreSQL engine: several writer connections with group commit, reader connections.

It keeps the embedded engine's contract (``store/sqlite.py``) on a database that several nodes
share. Writes are units of work (``fn(tx) -> result``) on one queue; each of ``writers`` threads
takes whatever is queued as one transaction and commits once (a unit that fails after it
wrote sends the batch round again with a SAVEPOINT per unit, so that it rolls back alone:
``_attempt``). Several writers let batches that touch different channels commit in parallel;
batches that touch the same channel serialize on its row lock (``next_seq`` is ``UPDATE ...
RETURNING``), which keeps each channel's sequence gap-free and in commit order across writers
and nodes. A unit's future resolves only after COMMIT returned.
Units that name their channel (``write(..., key=)``) go to that channel's writer, so a busy
channel's sends share one writer's group commits, and the first reads of a batch's sends and
flow callbacks (the bearer's, the invocation's) are queued before its units run
(``_read_ahead``), so that the server answers them while the writer works instead of one after
the other.

Conflicts between writers (a deadlock PostgreSQL detected, a serialization failure, a
unique key taken by a concurrent transaction) roll the whole batch back and run its units again,
one transaction each: nothing was committed and no consumer had run, so nothing runs twice.
A lost connection fails the batch with :class:`StoreUnavailable` (503 at the REST edge); the
next batch connects again, so the node recovers by itself when the database returns.

Publication order: ``committed`` consumers of batches that took sequence numbers of one channel
run in the order those numbers were taken (:class:`_Order`), whichever writer thread finished
first; batches of unrelated channels do not wait for each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import random
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors

from bellwire.log_throttle import Throttle
from bellwire.records.chime import Message
from bellwire.records.flows import FlowInvocation
from bellwire.store.base import IamTx, StoreClosed, StoreUnavailable
from bellwire.store.migrations import MIGRATIONS, VERSION_TABLE, pending, statements
from bellwire.store.pipeline import Mispredicted, Pipeline, PipelineCursor
from bellwire.store.sql import Row, SqlTx
from bellwire.store.sql.channels import BEARER_IN_CHANNEL, next_seq_statement
from bellwire.store.sql.flows import END_INVOCATION, FOR_CALLBACK, SETTLE_MESSAGE
from bellwire.store.sql.messages import MESSAGE_COLUMNS, message_params
from bellwire.store.units import Outcome, Unit, dispatch, live

T = TypeVar("T")
log = logging.getLogger(__name__)

# One key for "a node is migrating this database" (pg_advisory_xact_lock takes a bigint).
MIGRATION_LOCK = 0x62656C6C77697265  # "bellwire"
CONFLICT_RETRIES = 8
CONNECT_TIMEOUT_SECONDS = 3
# Conflicts that a second try resolves: serialization failure, deadlock, lock wait timed out,
# and a key a concurrent writer inserted first (the retry then sees it, as the embedded engine's
# single writer would have).
_RETRY = (
    pgerrors.SerializationFailure,
    pgerrors.DeadlockDetected,
    pgerrors.LockNotAvailable,
    pgerrors.UniqueViolation,
)
_STOP = object()
_END_PENDING_INVOCATION = END_INVOCATION + " RETURNING 1"
_TRANSLATED_MAX = 4096


def _translate(sql: str, cache: dict[str, str]) -> str:
    """The one dialect difference the shared SQL has: ``?`` placeholders become ``%s``."""
    out = cache.get(sql)
    if out is None:
        if len(cache) >= _TRANSLATED_MAX:  # IN (?, ?, ...) lists of every length: stay bounded
            cache.clear()
        out = cache[sql] = sql.replace("%", "%%").replace("?", "%s")
    return out


class PgCursor:
    """A psycopg cursor as ``store/sql`` expects one (``?`` placeholders): the readers' and
    the tools'. The writers queue theirs on a ``pipeline.Pipeline``."""

    __slots__ = ("_cache", "_cur")

    def __init__(self, cur: psycopg.Cursor[Any], cache: dict[str, str]) -> None:
        self._cur = cur
        self._cache = cache

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(_translate(sql, self._cache), params)

    def fetchone(self) -> Row | None:
        return self._cur.fetchone()

    def fetchall(self) -> list[Row]:
        return self._cur.fetchall()


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection that notices a vanished server within seconds (TCP keepalives, user
    timeout), whether it is idle or waiting for an answer."""
    try:
        return psycopg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            # Keepalives cover idle connections; this bounds a statement whose packets go
            # unanswered (a network cut that sends nothing back) to 10 s instead of TCP's minutes.
            tcp_user_timeout=10_000,
            application_name="bellwire",
        )
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the schema to the newest version under an advisory lock (so nodes starting at once
    do not race), in one transaction; returns the version. Refuses a newer schema."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(VERSION_TABLE)
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        for version in pending(row[0] if row and row[0] else 0):
            for statement in statements(version):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    return len(MIGRATIONS)


# --- publication order ---------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Ticket:
    """One attempt at a batch, as the publication order sees it."""

    # An ordered set (a DeleteAppInstance takes every channel of its instance at once).
    channels: dict[str, None] = field(default_factory=dict)
    done: bool = False
    release: Callable[[], None] | None = None


class _Order:
    """Per channel, the batches holding (or having held) its row lock, in the order they took it.

    A channel's row lock is held from ``next_seq`` to COMMIT or ROLLBACK, so the order in which
    this node's batches take it is the order of their sequence numbers and of their commits. A
    committed batch is released (its consumers scheduled on their loops) once it is at the head
    of every channel it took; everything runs under one lock, so two releases reach a loop in
    order. No cycle is possible: a batch behind another on a channel took its lock after the
    other had finished.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[_Ticket]] = {}

    def enter(self, ticket: _Ticket, channel: str) -> bool:
        """Record that ``ticket`` took ``channel``'s lock; False if it already had."""
        if channel in ticket.channels:
            return False
        with self._lock:
            self._queues.setdefault(channel, deque()).append(ticket)
        ticket.channels[channel] = None
        return True

    def leave(self, ticket: _Ticket, channels: Sequence[str]) -> None:
        """Forget channels whose lock ``ticket`` gave back (unit or batch rolled back)."""
        if not channels:
            return
        with self._lock:
            for channel in channels:
                del ticket.channels[channel]
                q = self._queues.get(channel)
                if q is not None:
                    with contextlib.suppress(ValueError):
                        q.remove(ticket)
                    self._release_heads([channel])

    def finish(self, ticket: _Ticket, release: Callable[[], None]) -> None:
        """``ticket`` committed: run ``release`` now, or once the batches before it have."""
        with self._lock:
            ticket.done = True
            ticket.release = release
            if self._ready(ticket):
                self._run(ticket)

    def _ready(self, ticket: _Ticket) -> bool:
        return ticket.done and all(self._queues[c][0] is ticket for c in ticket.channels)

    def _run(self, ticket: _Ticket) -> None:
        freed = []
        for channel in ticket.channels:
            q = self._queues[channel]
            q.popleft()
            if not q:
                del self._queues[channel]
            else:
                freed.append(channel)
        release, ticket.release = ticket.release, None
        if release is not None:
            release()
        self._release_heads(freed)

    def _release_heads(self, channels: list[str]) -> None:
        for channel in channels:
            q = self._queues.get(channel)
            if q and self._ready(q[0]):
                self._run(q[0])


class _PgTx(SqlTx):
    """The shared SQL, plus the bookkeeping of which channel locks this batch holds."""

    __slots__ = ("_order", "_pg", "entered", "predicting", "seqs", "ticket")

    def __init__(self, cursor: PipelineCursor, order: _Order, *, predicting: bool) -> None:
        super().__init__(cursor)
        self._pg = cursor
        self._order = order
        self.ticket = _Ticket()
        self.entered: list[str] = []  # channels the running unit took first in this batch
        # Each channel's number as this batch left it. The batch holds the channel's row lock
        # from its first UPDATE to COMMIT, so no other writer moves it: a send may predict its
        # number and not wait for the answer (``predicting``; checked at the next answer).
        self.predicting = predicting
        self.seqs: dict[str, int] = {}

    # The writes a send makes change nothing that the reads made ahead of a batch's sends
    # read (``_read_ahead``): the channel's number and last message (which a send does not
    # look at), messages, invocations, and remembered answers under other tokens.

    def next_seq(self, channel_arn: str, *, last_message: float | None = None) -> int:
        # As a send's number: predicted once the batch knows the channel's (a settle after a
        # send of its channel, in one batch, waits for nothing).
        known = self.seqs.get(channel_arn)
        if known is not None and self.predicting:
            seq = known + 1
            self._pg.predict(*next_seq_statement(channel_arn, last_message), seq)
        else:
            self._pg.keeps = True
            try:
                seq = super().next_seq(channel_arn, last_message=last_message)
            finally:
                self._pg.keeps = False
        self._took(channel_arn)
        self.seqs[channel_arn] = seq
        return seq

    def next_seqs(self, app_instance_arn: str) -> dict[str, int]:
        seqs = super().next_seqs(app_instance_arn)
        for channel_arn, seq in seqs.items():  # each row lock now held, as next_seq's
            self._took(channel_arn)
            self.seqs[channel_arn] = seq
        return seqs

    def insert_message_at_next_seq(self, m: Message, *, last_message: float | None) -> int:
        # One statement for the channel's UPDATE and the message's INSERT; its answer waited
        # for only when the batch does not know the channel's number yet.
        params = message_params(m)
        sql = _SEND[last_message is not None]
        values = (
            *(() if last_message is None else (last_message,)),
            m.channel_arn,
            *params[:2],
            *params[3:],
        )
        known = self.seqs.get(m.channel_arn)
        if known is not None and self.predicting:
            seq = known + 1
            self._pg.predict(sql, values, seq)
        else:
            self._pg.keeps = True
            try:
                row = self._one(sql, values)
            finally:
                self._pg.keeps = False
            if row is None:  # the channel is gone: as next_seq says it
                raise LookupError(m.channel_arn)
            seq = int(row[0])
        self._took(m.channel_arn)
        self.seqs[m.channel_arn] = seq
        return seq

    def remember_result(
        self, scope: str, token: str, fingerprint: str, result: Any, now: float
    ) -> None:
        ahead = self._pg.ahead
        if ahead is not None:  # a read ahead that probed this token is stale now
            reads = ahead.get(BEARER_IN_CHANNEL, {})
            for params in [p for p in reads if p[2:] == (token, scope)]:
                del reads[params]
        self._pg.keeps = True
        try:
            super().remember_result(scope, token, fingerprint, result, now)
        finally:
            self._pg.keeps = False

    def insert_invocation(self, i: FlowInvocation) -> None:
        self._pg.keeps = True
        try:
            super().insert_invocation(i)
        finally:
            self._pg.keeps = False

    # A settle changes only its own invocation and message (``_KEEPING``): no send's roles,
    # and no other callback's invocation, channel or message's existence.

    def _end_invocation(self, callback_id: str, params: tuple[Any, ...]) -> None:
        ahead = self._pg.ahead
        if ahead is not None:  # a read ahead of this invocation is stale now
            ahead.get(FOR_CALLBACK, {}).pop((callback_id,), None)
        # Another writer may have ended it since this unit read it PENDING (a callback and the
        # invoker's fallback on two writers or two nodes): then nothing is updated, and the
        # batch runs again, its units alone, each reading the invocation as it is now.
        if self.predicting:
            self._pg.predict(_END_PENDING_INVOCATION, params, 1)
            return
        self._pg.keeps = True
        try:
            ended = self._one(_END_PENDING_INVOCATION, params)
        finally:
            self._pg.keeps = False
        if ended is None:
            raise _EndedMeanwhile(callback_id)

    def channel_positions(self, arns: Sequence[str]) -> dict[str, int]:
        """One statement whatever the count: the ARNs travel as one array parameter (the shared
        SQL's chunks of ``IN (?, ...)`` cost a round trip and a plan each)."""
        rows = self._all("SELECT arn, seq FROM channels WHERE arn = ANY(?)", (list(arns),))
        return {arn: int(seq) for arn, seq in rows}

    def sub_channel_positions(self, channel_arns: Sequence[str]) -> dict[tuple[str, str], int]:
        """One statement whatever the count, as ``channel_positions``."""
        rows = self._all(
            "SELECT channel_arn, sub_channel_id, seq FROM sub_channels WHERE channel_arn = ANY(?)",
            (list(channel_arns),),
        )
        return {(arn, sub): int(seq) for arn, sub, seq in rows}

    def _took(self, channel_arn: str) -> None:
        if self._order.enter(self.ticket, channel_arn):
            self.entered.append(channel_arn)


# The types of the message columns, for INSERT ... SELECT (whose parameters PostgreSQL cannot
# type from the target columns as it does in VALUES); the seq column comes from the UPDATE.
_MESSAGE_TYPES = (
    ("TEXT",) * 2 + ("-",) + ("TEXT",) * 6 + ("INTEGER",) + ("DOUBLE PRECISION",) * 3
) + ("TEXT",) * 6
_MESSAGE_VALUES = ", ".join("s.seq" if t == "-" else f"CAST(? AS {t})" for t in _MESSAGE_TYPES)
assert len(_MESSAGE_TYPES) == len(MESSAGE_COLUMNS.split(","))
_SEND = {
    last: (
        "WITH s AS (UPDATE channels SET seq = seq + 1"
        + (", last_message = ?" if last else "")
        + " WHERE arn = ? RETURNING seq) "
        f"INSERT INTO messages ({MESSAGE_COLUMNS}) SELECT {_MESSAGE_VALUES} FROM s RETURNING seq"
    )
    for last in (False, True)
}


# --- the engine ------------------------------------------------------------------------------


class _Ahead(BaseException):
    """Ends a unit's run ahead (``_first_read``) at its first statement. Not an Exception: the
    unit's code must not catch it."""


class _FirstStatement:
    """A cursor that keeps the first statement a unit queues, if it is a read made ahead."""

    __slots__ = ("first",)

    def __init__(self) -> None:
        self.first: tuple[str, tuple[Any, ...]] | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if sql in _AHEAD_READS:
            self.first = (sql, tuple(params))
        raise _Ahead()

    def fetchone(self) -> Row | None:
        raise _Ahead()

    def fetchall(self) -> list[Row]:
        raise _Ahead()


# Reads worth making ahead: a send's one statement before its writes (docs/performance.md,
# "Reads ahead of a batch's sends"), and a flow callback's.
_AHEAD_READS = frozenset({BEARER_IN_CHANNEL, FOR_CALLBACK})
# Writes that change nothing those reads read: a settled message's content and status.
_KEEPING = frozenset({SETTLE_MESSAGE})


def _first_read(unit: Unit[Any]) -> tuple[str, tuple[Any, ...]] | None:
    """The unit's first statement, if it is one of ``_AHEAD_READS``: the unit runs up to it
    (units run again already when their batch does: they depend on nothing but the tx)."""
    recorder = _FirstStatement()
    try:
        unit.fn(SqlTx(recorder))
    except _Ahead:
        return recorder.first
    except Exception:
        return None  # it fails before it reads anything: it will again, in its turn
    return None


def _read_ahead(cursor: PipelineCursor, batch: list[Unit[Any]]) -> None:
    """Queue the first reads of the batch's units that allow it (``Unit.ahead``: sends and
    flow callbacks), each with a Sync of its own, before any unit runs: the server answers
    them while the writer runs the units, instead of each unit waiting for its own in turn. A
    read asked by two units (one send retried with its token, one callback sent twice) is left
    to each of them."""
    units = [unit for unit in batch if unit.ahead]
    if len(units) < 2:
        return  # one read ahead gains nothing: the unit would ask for it first anyway
    firsts: dict[tuple[str, tuple[Any, ...]], int] = {}
    for unit in units:
        first = _first_read(unit)
        if first is not None:
            firsts[first] = firsts.get(first, 0) + 1
    for (sql, params), count in firsts.items():
        if count == 1:
            cursor.read_ahead(sql, params)
    cursor.pipe.send()


class _Conflict(Exception):
    """The batch met a concurrent writer; it was rolled back and may run again."""


class _EndedMeanwhile(Exception):
    """A unit found the invocation it read PENDING ended by another writer's commit (a unit
    running alone: in a batch, the same shows as a misprediction)."""


class _Redo(Exception):
    """A unit failed after it had written, in a batch without savepoints: the batch is rolled
    back and runs again with them."""


class _Stale(Exception):
    """The connection was found dead before anything ran: a fresh one may take the batch."""


class PostgresStore:
    def __init__(
        self,
        url: str,
        *,
        readers: int = 4,
        writers: int = 4,
        max_batch: int = 256,
    ) -> None:
        if not psycopg.Pipeline.is_supported():  # the writers' pipeline needs libpq 14
            raise StoreUnavailable(
                f"the PostgreSQL store needs libpq 14 or newer; psycopg uses libpq "
                f"{psycopg.pq.version()} here (psycopg[binary], as bellwire pins it, bundles one)"
            )
        self.url = url
        self._max_batch = max_batch
        self._on_commit: Callable[[float, int], None] | None = None
        self.reads_in_flight = 0
        # One queue per writer: units of one channel (``key``) always go to the same writer, so
        # a busy channel's sends share that writer's group commits rather than every writer
        # taking a few and queueing on the channel's row lock (one fsync each). Units without
        # a key go round the writers.
        self._queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(writers)]
        self._next = itertools.count()
        self._closed = False
        self._order = _Order()
        # An outage fails every batch: one line per 10 s says so, with the count of the others.
        self._log_throttle = Throttle(10.0)
        self._log_lock = threading.Lock()
        setup = connect(url)
        try:
            migrate(setup)
            _warn_on_collation(setup)
        finally:
            setup.close()
        self._writers = [
            threading.Thread(
                target=self._write_loop, args=(q,), name=f"bellwire-pg-writer-{n}", daemon=True
            )
            for n, q in enumerate(self._queues)
        ]
        for thread in self._writers:
            thread.start()
        self._local = threading.local()
        self._reader_conns: list[psycopg.Connection[Any]] = []
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="bellwire-pg-reader")

    def set_commit_observer(self, observer: Callable[[float, int], None]) -> None:
        """``observer(seconds, writes)`` runs on a writer thread after each durable commit."""
        self._on_commit = observer

    @property
    def queued_writes(self) -> int:
        return sum(q.qsize() for q in self._queues)

    # --- writes -------------------------------------------------------------------------------

    async def write(
        self,
        fn: Callable[[IamTx], T],
        committed: Callable[[T], None] | None = None,
        *,
        key: str | None = None,
        ahead: bool = False,
    ) -> T:
        if self._closed:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        slot = zlib.crc32(key.encode()) if key is not None else next(self._next)
        self._queues[slot % len(self._queues)].put(Unit(fn, future, loop, committed, ahead))
        return await future

    def _write_loop(self, units: queue.SimpleQueue[Any]) -> None:
        pipe: Pipeline | None = None
        try:
            while True:
                first = units.get()
                if first is _STOP:
                    return
                batch: list[Unit[Any]] = [first]
                stop_after = False
                while len(batch) < self._max_batch:
                    try:
                        nxt = units.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop_after = True
                        break
                    batch.append(nxt)
                batch = live(batch)
                if batch:
                    pipe = self._run_batch(pipe, batch)
                if stop_after:
                    return
        finally:
            if pipe is not None:
                pipe.conn.close()

    def _run_batch(self, pipe: Pipeline | None, batch: list[Unit[Any]]) -> Pipeline | None:
        """Commit ``batch`` (again unit by unit after a conflict, again with savepoints after
        a unit failed that had written); returns the connection to keep, None if it was lost."""
        groups = [(batch, False)]
        tries = 0
        while groups:
            group, savepoints = groups.pop(0)
            try:
                pipe = self._usable(pipe)
                # A unit that still meets a taken key when it runs alone after a conflict
                # inserts a duplicate of its own: that is its failure, not a conflict.
                alone = len(group) == 1 and tries > 0
                try:
                    self._attempt(pipe, group, alone, savepoints)
                except _Stale:
                    pipe = self._usable(None)
                    self._attempt(pipe, group, alone, savepoints)
            except _Redo:
                groups.insert(0, (group, True))
            except _Stale:
                pipe = None
                self._fail(group, StoreUnavailable("PostgreSQL closed the connection"))
            except _Conflict:
                tries += 1
                if tries > CONFLICT_RETRIES * len(batch):
                    self._fail(group, StoreUnavailable("the database kept reporting conflicts"))
                    continue
                # Alone, a unit conflicts only with other batches; a short random pause lets
                # the one it met commit first.
                time.sleep(random.uniform(0.001, 0.01) * min(tries, 5))
                groups[:0] = [([unit], False) for unit in group]
            except StoreUnavailable as exc:
                if pipe is not None:
                    with contextlib.suppress(Exception):
                        pipe.conn.close()
                pipe = None
                self._fail(group, exc)
        return pipe

    def _usable(self, pipe: Pipeline | None) -> Pipeline:
        """The writer's connection, made anew if it is gone (the database restarted)."""
        if pipe is not None and not pipe.conn.closed and not pipe.conn.broken:
            return pipe
        if pipe is not None:
            with contextlib.suppress(Exception):
                pipe.conn.close()
        conn = connect(self.url)
        try:
            return Pipeline(conn)
        except psycopg.Error as exc:
            conn.close()
            raise StoreUnavailable(f"PostgreSQL: {_first_line(exc)}") from exc

    def _attempt(
        self, pipe: Pipeline, batch: list[Unit[Any]], alone: bool, savepoints: bool
    ) -> None:
        """One transaction for ``batch``. Without ``savepoints`` (the usual way) a unit that
        fails before it writes is dropped alone and one that fails after raises ``_Redo``;
        with them (the batch again, after a ``_Redo``) each unit is undone alone to its own.
        A savepoint per unit is a subtransaction in PostgreSQL (and with more than 64 of them
        every snapshot of the database's other sessions pays for it): most batches need none."""
        conn = pipe.conn
        cursor = PipelineCursor(pipe)
        cursor.keeping = _KEEPING
        tx = _PgTx(cursor, self._order, predicting=not alone)
        outcomes: list[Outcome] = []
        started = time.perf_counter()
        try:
            # Pipeline mode: a statement whose answer is not needed yet (BEGIN, SAVEPOINT,
            # RELEASE, an INSERT) is queued and leaves with the next one whose answer is, so a
            # unit pays a round trip per read, not per statement. A unit's failures are still
            # its own: whatever it queued is answered before it ends, but for a send whose
            # number was predicted (``_PgTx.insert_message_at_next_seq``): its answer leaves
            # with the next unit's first, and if anything goes wrong while it is unchecked,
            # the batch runs again one unit at a time, without predictions.
            pipe.queue("BEGIN")
            if not savepoints and not alone:
                _read_ahead(cursor, batch)
            open_savepoint = False
            for unit in batch:
                if savepoints:
                    if open_savepoint:  # the previous unit's, released with this one's start
                        pipe.queue("RELEASE SAVEPOINT unit")
                    pipe.queue("SAVEPOINT unit")
                    open_savepoint = False
                cursor.wrote = False
                cursor.taking = unit.ahead
                tx.entered = []
                seqs = dict(tx.seqs)
                try:
                    result = unit.fn(tx)
                    if cursor.unsynced and not cursor.unchecked:
                        cursor.sync()
                except BaseException as exc:
                    if cursor.wrong or cursor.unchecked:
                        # Whose failure it is cannot be told (a prediction's, this unit's).
                        raise _Conflict() from exc
                    if isinstance(exc, (*_RETRY, _EndedMeanwhile)) and not (
                        alone and isinstance(exc, pgerrors.UniqueViolation)
                    ):
                        raise _Conflict() from exc
                    if isinstance(exc, psycopg.OperationalError):
                        raise
                    if not savepoints:
                        self._drop_unit(cursor, exc)
                        outcomes.append((unit, False, exc))
                        continue
                    # The unit's own failure: undo it alone.
                    self._undo_unit(cursor, tx)
                    tx.seqs = seqs
                    outcomes.append((unit, False, exc))
                else:
                    if cursor.wrong:  # the unit's code caught Mispredicted
                        raise _Conflict()
                    open_savepoint = True
                    outcomes.append((unit, True, result))
            if cursor.unchecked:  # checked before COMMIT: a wrong number must not commit
                try:
                    cursor.sync()
                except (Mispredicted, psycopg.Error) as exc:
                    raise _Conflict() from exc
            # COMMIT releases the last savepoint.
            pipe.queue("COMMIT")
            pipe.sync()
        except (_Conflict, _Stale, _Redo):
            self._abandon(pipe, tx)
            raise
        except _RETRY as exc:  # at COMMIT (a deferred check) or a savepoint statement
            self._abandon(pipe, tx)
            raise _Conflict() from exc
        except psycopg.OperationalError as exc:
            if not cursor.answered and conn.closed:
                # An idle connection the server dropped (restart, pg_terminate_backend), found
                # at the batch's first answer: nothing was committed, so one fresh connection
                # may take the batch.
                self._abandon(pipe, tx)
                raise _Stale() from exc
            self._abandon(pipe, tx)
            raise StoreUnavailable(f"PostgreSQL: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            # The connection or the server failed: the batch is not durable. (Lost during
            # COMMIT, it may have been: the client's retry with its ClientRequestToken is safe.)
            self._abandon(pipe, tx)
            raise StoreUnavailable(f"PostgreSQL: {_first_line(exc)}") from exc
        except BaseException:
            self._abandon(pipe, tx)
            raise
        seconds = time.perf_counter() - started
        if self._on_commit is not None:  # before the answers, as in the SQLite engine
            try:
                self._on_commit(seconds, len(batch))
            except Exception:
                log.exception("commit observer failed")
        self._order.finish(tx.ticket, lambda: dispatch(outcomes))

    def _drop_unit(self, cursor: PipelineCursor, exc: BaseException) -> None:
        """A unit failed in a batch without savepoints: nothing to undo if it only read and
        its reads all succeeded; otherwise ``_Redo``."""
        if cursor.unsynced:
            try:
                cursor.sync()
            except psycopg.Error as late:
                raise _Redo() from late
        if cursor.wrote or isinstance(exc, psycopg.Error):
            raise _Redo() from exc

    def _undo_unit(self, cursor: PipelineCursor, tx: _PgTx) -> None:
        """Roll the running unit back to its savepoint (once the server has answered, or
        skipped, whatever the unit queued)."""
        if cursor.pipe.pending:
            with contextlib.suppress(psycopg.errors.Error):
                cursor.sync()
        cursor.pipe.queue("ROLLBACK TO SAVEPOINT unit")
        cursor.pipe.queue("RELEASE SAVEPOINT unit")
        self._order.leave(tx.ticket, tx.entered)

    def _abandon(self, pipe: Pipeline, tx: _PgTx) -> None:
        conn = pipe.conn
        if not conn.closed:
            try:
                if pipe.pending:  # answered (or skipped after an error) before the ROLLBACK
                    with contextlib.suppress(psycopg.Error):
                        pipe.sync()
                pipe.queue("ROLLBACK")
                pipe.sync()
            except psycopg.Error:
                # Whatever state the pipeline is in, the connection is not worth keeping: the
                # next batch connects again.
                conn.close()
        self._order.leave(tx.ticket, list(tx.ticket.channels))

    def _fail(self, batch: list[Unit[Any]], exc: BaseException) -> None:
        with self._log_lock:  # writer threads share it
            dropped = self._log_throttle.allow("write failed", time.monotonic())
        if dropped is not None:
            more = f" ({dropped} more failed batches not logged)" if dropped else ""
            log.warning("store write failed: %s%s", exc, more)
        dispatch([(unit, False, exc) for unit in batch])

    # --- reads --------------------------------------------------------------------------------

    async def read(self, fn: Callable[[IamTx], T]) -> T:
        if self._closed:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        self.reads_in_flight += 1
        try:
            return await loop.run_in_executor(self._readers, self._read_sync, fn)
        finally:
            self.reads_in_flight -= 1

    def _reader(self, fresh: bool) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and (fresh or conn.closed or conn.broken):
            with contextlib.suppress(Exception):
                conn.close()
            conn = None
        if conn is None:
            conn = connect(self.url)
            self._local.conn = conn
            self._local.cache = {}
            self._reader_conns = [c for c in self._reader_conns if not c.closed]
            self._reader_conns.append(conn)
        return conn

    def _read_sync(self, fn: Callable[[IamTx], T]) -> T:
        for attempt in (0, 1):
            conn = self._reader(fresh=attempt > 0)
            pg = conn.cursor()
            try:
                # One snapshot for the whole unit, so a listing and its counts agree.
                pg.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            except psycopg.OperationalError as exc:
                if attempt == 0:  # an idle connection the server dropped: try a fresh one
                    continue
                raise StoreUnavailable(f"PostgreSQL: {_first_line(exc)}") from exc
            try:
                return fn(SqlTx(PgCursor(pg, self._local.cache)))
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"PostgreSQL: {_first_line(exc)}") from exc
            finally:
                if not conn.broken:
                    with contextlib.suppress(psycopg.Error):
                        pg.execute("COMMIT")
        raise AssertionError("unreachable")

    async def ping(self) -> bool:
        try:
            return bool(await self.read(lambda tx: tx.app_instance("") is None))
        except Exception:
            return False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for q in self._queues:
            q.put(_STOP)
        loop = asyncio.get_running_loop()
        for thread in self._writers:
            await loop.run_in_executor(None, thread.join)
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            with contextlib.suppress(Exception):
                conn.close()


def _warn_on_collation(conn: psycopg.Connection[Any]) -> None:
    """ARNs and names list in byte order (as on AWS and in the embedded engine) only under the
    C collation; any other still pages correctly, in its own order."""
    row = conn.execute(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()"
    ).fetchone()
    if row and str(row[0]) not in ("C", "POSIX", "C.UTF-8", "C.utf8"):
        log.warning(
            "the database's collation is %s: listings will not be in byte order "
            "(create it with LC_COLLATE 'C' for the order AWS uses)",
            row[0],
        )
