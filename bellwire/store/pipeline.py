"""A PostgreSQL writer connection's statements on libpq's pipeline, without psycopg's cursors.

psycopg's cursor pays, per statement, its query conversion, its prepared-statement bookkeeping
and a turn of its I/O loop (a poll and a send): on a durable send's five statements that was
more CPU than the rest of the send's unit. Here statements are only queued (parsed once per
connection and then bound by name), the socket is written and read once per answer needed,
and parameters and rows go through psycopg's own adapters (``Transformer``), so values keep
the types psycopg gives them.

Every answer is asked for with a Sync: everything queued before it is answered, in order, and
the first statement that failed raises its own psycopg error (``psycopg.errors``); the
statements queued after it in the same stretch were skipped by the server. A lost connection
raises ``psycopg.OperationalError`` and leaves ``conn.closed`` true. A stretch may also be
closed by its Sync early (``close``) and its answers read on their own (``wait``) while what
was queued after it is still on its way: the reads a writer makes ahead of a batch's sends.
"""

from __future__ import annotations

import select
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

from bellwire.store.sql import Row

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY)
_FATAL = pq.ExecStatus.FATAL_ERROR
_SYNC_OK = pq.ExecStatus.PIPELINE_SYNC
_PREPARED_MAX = 256  # statements kept parsed per connection (IN lists of every length vary)
_POLL_MS = 1000  # a dead peer is noticed by the connection's TCP user timeout, not here


def placeholders(sql: str) -> str:
    """The shared SQL's ``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    parts = sql.split("?")
    if len(parts) == 1:
        return sql
    out = [parts[0]]
    for n, part in enumerate(parts[1:], 1):
        out.append(f"${n}")
        out.append(part)
    return "".join(out)


class Answer:
    """One queued statement's result, once its Sync has been read."""

    __slots__ = ("error", "result")

    def __init__(self) -> None:
        self.result: pq.abc.PGresult | None = None
        self.error: psycopg.Error | None = None


class _Prepare:
    __slots__ = ("key",)

    def __init__(self, key: tuple[str, tuple[int, ...]]) -> None:
        self.key = key


class Pipeline:
    """One writer connection in pipeline mode for as long as it lives."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._pg = conn.pgconn
        self._adapt = Transformer.from_context(conn)
        self._encoding = conn.info.encoding
        self._sql: dict[str, tuple[bytes, list[PyFormat]]] = {}  # the shared SQL, converted
        # (SQL, parameter types) -> statement name; oldest first, for eviction.
        self._named: OrderedDict[tuple[str, tuple[int, ...]], bytes] = OrderedDict()
        self._counter = 0
        self._queued: list[Answer | _Prepare] = []
        # Stretches closed by a Sync and not read yet (``close``), oldest first, and the first
        # error read since the last ``sync`` (which raises it).
        self._closed: deque[list[Answer | _Prepare]] = deque()
        self._early: psycopg.Error | None = None
        self._poll = select.poll()
        self._poll.register(self._pg.socket, select.POLLIN)
        self._pg.enter_pipeline_mode()

    @property
    def pending(self) -> bool:
        return bool(self._queued or self._closed)

    def queue(self, sql: str, params: Sequence[Any] = ()) -> Answer:
        """Queue a statement; its answer comes with the next :meth:`sync`."""
        converted = self._sql.get(sql)
        if converted is None:
            if len(self._sql) >= 4 * _PREPARED_MAX:
                self._sql.clear()
            converted = self._sql[sql] = (
                placeholders(sql).encode(self._encoding),
                [PyFormat.AUTO] * sql.count("?"),
            )
        query, formats = converted
        if len(params) != len(formats):
            raise psycopg.ProgrammingError(
                f"the statement takes {len(formats)} parameters, {len(params)} were given"
            )
        adapt = self._adapt
        if params:
            values = adapt.dump_sequence(params, formats)
            types = tuple(adapt.types or ())
            fmts = adapt.formats
        else:
            values, types, fmts = None, (), None
        key = (sql, types)
        name = self._named.get(key)
        if name is None:
            name = self._name(key, query, types)
        else:
            self._named.move_to_end(key)
        answer = Answer()
        self._pg.send_query_prepared(name, values, param_formats=fmts)
        self._queued.append(answer)
        return answer

    def _name(
        self, key: tuple[str, tuple[int, ...]], query: bytes, types: tuple[int, ...]
    ) -> bytes:
        if len(self._named) >= _PREPARED_MAX:
            _, old = self._named.popitem(last=False)
            self._pg.send_query_params(b"DEALLOCATE " + old, None)
            self._queued.append(Answer())
        self._counter += 1
        name = b"w%d" % self._counter
        self._pg.send_prepare(name, query, param_types=types)
        self._queued.append(_Prepare(key))
        self._named[key] = name
        return name

    def send(self) -> None:
        """Start sending what is queued, without waiting: the server works on it while the
        writer goes on (what the socket does not take now leaves with the next sync)."""
        self._pg.flush()

    def close(self) -> None:
        """End the stretch queued so far with a Sync of its own, without reading: its answers
        can then be read (``wait``) before what is queued after it is even sent."""
        if self._queued:
            self._pg.pipeline_sync()
            self._closed.append(self._queued)
            self._queued = []

    def wait(self, answer: Answer) -> None:
        """Read the closed stretches up to the one holding ``answer`` (its error, if any, is
        the answer's; an earlier one's is raised by the next ``sync``)."""
        while answer.result is None and answer.error is None and self._closed:
            self._read(self._closed.popleft())

    def sync(self) -> None:
        """Send everything queued, read every answer; raise the first statement's error."""
        self.close()
        while self._closed:
            self._read(self._closed.popleft())
        first, self._early = self._early, None
        if first is not None:
            raise first

    def _read(self, stretch: list[Answer | _Prepare]) -> None:
        try:
            first = self._answers(stretch)
        except BaseException:
            # Answers left unread would be taken for the next statements': the connection
            # goes (the writer connects again).
            self._closed.clear()
            self._early = None
            self.conn.close()
            raise
        if self._early is None:
            self._early = first

    def _answers(self, queued: list[Answer | _Prepare]) -> psycopg.Error | None:
        self._flush()
        first: psycopg.Error | None = None
        for item in queued:
            result = self._result()
            if result is None:
                raise psycopg.OperationalError("the connection ended in the middle of a pipeline")
            if self._result() is not None:  # each statement's results end with a NULL
                raise psycopg.InternalError("more than one result for a pipelined statement")
            status = result.status
            if isinstance(item, _Prepare):
                if status not in _OK:  # failed or skipped: not parsed after all
                    self._named.pop(item.key, None)
                    if status == _FATAL and first is None:  # a missing table, a syntax error
                        first = errors.error_from_result(result, encoding=self._encoding)
                continue
            item.result = result
            if status in _OK:
                continue
            if status == _FATAL:
                item.error = errors.error_from_result(result, encoding=self._encoding)
            else:  # skipped after an earlier statement's failure
                item.error = errors.PipelineAborted("skipped after an earlier error")
            if first is None:
                first = item.error
        end = self._result()
        if end is None or end.status != _SYNC_OK:
            raise psycopg.InternalError("the pipeline's Sync was not answered as expected")
        return first

    def rows(self, answer: Answer) -> list[Row]:
        """The rows of an answered statement, as psycopg's tuple rows."""
        if answer.error is not None:
            if answer.error is self._early:  # raised here: not again by the next sync
                self._early = None
            raise answer.error
        result = answer.result
        if result is None:
            raise psycopg.InterfaceError("the statement has not been answered yet")
        count = result.ntuples
        if not count:
            return []
        adapt = self._adapt
        adapt.set_pgresult(result)
        rows: list[Row] = adapt.load_rows(0, count, tuple)
        return rows

    def _flush(self) -> None:
        pg = self._pg
        while pg.flush():  # the socket's buffer is full: the server may be waiting to answer
            self._wait(select.POLLIN | select.POLLOUT)
            pg.consume_input()

    def _result(self) -> pq.abc.PGresult | None:
        pg = self._pg
        while pg.is_busy():
            self._wait(select.POLLIN)
            pg.consume_input()
        return pg.get_result()

    def _wait(self, events: int) -> None:
        poll = self._poll
        poll.modify(self._pg.socket, events)
        while not poll.poll(_POLL_MS):
            if self.conn.closed:
                raise psycopg.OperationalError("the connection is closed")


class PipelineCursor:
    """The slice of DB-API ``store/sql`` needs, on a :class:`Pipeline` (``?`` placeholders).

    A statement whose result nobody fetches (an INSERT, an UPDATE without RETURNING) is only
    queued: it travels with the next statement that is fetched. ``unsynced`` says that
    something was queued since the last answer, so that the writer can learn a unit's own
    failures before the unit ends."""

    __slots__ = (
        "_last",
        "_taken",
        "ahead",
        "answered",
        "keeping",
        "keeps",
        "pipe",
        "taking",
        "unchecked",
        "unsynced",
        "wrong",
        "wrote",
    )

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self._last: Answer | None = None
        self._taken = False  # _last is a read made ahead
        # Reads queued ahead of the units (``read_ahead``), by SQL and parameters: a unit
        # that may (``taking``) gets one as its own statement's answer, until a statement
        # that may change what they read is queued (anything but a SELECT, unless ``keeps``
        # says the running statement changes none of it): then they are all dropped.
        self.ahead: dict[str, dict[tuple[Any, ...], Answer]] | None = None
        self.taking = False
        self.keeps = False
        # Statements that change nothing a read ahead reads, whoever queues them.
        self.keeping: frozenset[str] = frozenset()
        self.unsynced = False
        self.answered = False  # the server answered something on this connection
        # Statements queued with the first column of their one row predicted (``predict``),
        # checked at the next answer; ``wrong`` once an answer or an error contradicted one.
        self.unchecked: list[tuple[Answer, int]] = []
        self.wrong = False
        # A statement other than a SELECT was queued (since the writer last cleared it).
        self.wrote = False

    def read_ahead(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue a SELECT now, closed by a Sync of its own (its answer can be read before
        anything queued after it), for the unit that will ask for it (``execute``)."""
        if self.ahead is None:
            self.ahead = {}
        self.ahead.setdefault(sql, {})[params] = self.pipe.queue(sql, params)
        self.pipe.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        ahead = self.ahead
        if ahead is not None:
            if self.taking and (found := ahead.get(sql)) is not None:
                answer = found.pop(tuple(params), None)
                if answer is not None:
                    self._last = answer
                    self._taken = True
                    return
            if not self.keeps and sql not in self.keeping and sql.lstrip()[:6].upper() != "SELECT":
                self.ahead = None  # what they read may change: read again when asked
        self.unsynced = True
        if not self.wrote and sql.lstrip()[:6].upper() != "SELECT":
            self.wrote = True
        self._last = self.pipe.queue(sql, params)
        self._taken = False

    def predict(self, sql: str, params: Sequence[Any], value: int) -> None:
        """Queue a statement returning one row whose first column will be ``value``, and go
        on without its answer: it travels with the next statement answered."""
        self.unsynced = True
        self.wrote = True
        self.unchecked.append((self.pipe.queue(sql, params), value))
        # Nothing waits for it: the server runs it (and what was queued before it) while the
        # unit builds its answer and the next unit starts.
        self.pipe.send()

    def sync(self) -> None:
        """Answer everything queued and check the predictions: raises the first statement's
        error, or ``Mispredicted`` (either way with ``wrong`` set if a prediction was
        unchecked)."""
        try:
            self.pipe.sync()
        except psycopg.Error:
            if self.unchecked:  # whose error it is cannot be told: a prediction's, maybe
                self.unchecked = []
                self.wrong = True
            raise
        self.unsynced = False
        self.answered = True
        if self.unchecked:
            unchecked, self.unchecked = self.unchecked, []
            for answer, predicted in unchecked:
                rows = [] if answer.error is not None else self.pipe.rows(answer)
                if not rows or int(rows[0][0]) != predicted:
                    self.wrong = True
            if self.wrong:
                raise Mispredicted()

    def _rows(self) -> list[Row]:
        last = self._last
        if last is None:
            raise psycopg.ProgrammingError("no statement to fetch from")
        if self._taken:
            # Read ahead: answered before anything queued since, which need not be waited
            # for (their failures and predictions are checked at the next sync, at the
            # latest before COMMIT).
            self.pipe.wait(last)
        elif self.unsynced:
            self.sync()
        return self.pipe.rows(last)

    def fetchone(self) -> Row | None:
        rows = self._rows()
        return rows[0] if rows else None

    def fetchall(self) -> list[Row]:
        return self._rows()


class Mispredicted(Exception):
    """A statement queued with its answer predicted was answered otherwise, or an error came
    while one was unchecked: the batch is rolled back and its units run again one by one."""
