"""What every aggregate's SQL shares: the cursor, its three calls, JSON columns."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bellwire.compact_json import compact_sorted

Row = Sequence[Any]


class Cursor(Protocol):
    """The slice of DB-API an engine provides; placeholders are ``?``."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...


def json_column(value: Any) -> str | None:
    return None if value is None else compact_sorted(value)


def unjson_column(value: str | None) -> Any:
    return None if value is None else json.loads(value)


@functools.lru_cache(maxsize=256)
def flow_processors_column(text: str) -> tuple[Mapping[str, Any], ...]:
    """A flow's processors (a JSON array), parsed once per distinct text: every send through a
    flow reads them. The parsed processors are shared, so nothing may change them in place
    (nothing does: they are read, or serialized into an invocation)."""
    return tuple(json.loads(text))


@functools.lru_cache(maxsize=256)
def flow_processor_column(text: str) -> Mapping[str, Any]:
    """An invocation's processor: one of its flow's, so as few distinct texts as those (shared
    alike, never changed in place)."""
    return json.loads(text)  # type: ignore[no-any-return]


_PROCESSOR_TEXTS: dict[int, tuple[Mapping[str, Any], str]] = {}


def flow_processor_text(processor: Mapping[str, Any]) -> str:
    """``json_column`` of a processor, by the processor itself: every send through a flow
    writes one of its flow's, the same parsed objects each time (``flow_processors_column``),
    and dumping its nested dicts again cost more than the message's. Kept by identity, with
    the object (so its id is not reused while kept); processors are never changed in place."""
    found = _PROCESSOR_TEXTS.get(id(processor))
    if found is not None and found[0] is processor:
        return found[1]
    text = compact_sorted(processor)
    if len(_PROCESSOR_TEXTS) >= 256:
        _PROCESSOR_TEXTS.clear()
    _PROCESSOR_TEXTS[id(processor)] = (processor, text)
    return text


class JustWritten:
    """JSON columns' values by the text they were written as, for the read that soon follows
    the write: a flow invocation's message is read back by its callback a few milliseconds
    later, and parsing it again cost 17 µs of the writer's time. The same text always parses to
    an equal value, so a value found here is what parsing would give; each is handed out once
    (a later read parses), the oldest dropped past ``size``. Shared by writer threads."""

    __slots__ = ("_lock", "_size", "_values")

    def __init__(self, size: int) -> None:
        self._values: dict[str, Any] = {}
        self._size = size
        self._lock = threading.Lock()

    def dump(self, value: Any) -> str:
        text = compact_sorted(value)
        with self._lock:
            self._values[text] = value
            if len(self._values) > self._size:
                del self._values[next(iter(self._values))]
        return text

    def load(self, text: str) -> Any:
        with self._lock:
            value = self._values.pop(text, _MISSING)
        return json.loads(text) if value is _MISSING else value


_MISSING: Any = object()


def like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class SqlBase:
    """Holds the cursor of one open transaction; the aggregates' SQL classes extend it."""

    __slots__ = ("_cur",)

    def __init__(self, cursor: Cursor) -> None:
        self._cur = cursor

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._cur.execute(sql, params)
        return self._cur.fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cur.execute(sql, params)
        return self._cur.fetchall()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(sql, params)

    def _forget_oldest(
        self, table: str, column: str, moment: float, limit: int, also: str = ""
    ) -> bool:
        """Delete the rows of ``table`` whose ``column`` (an indexed time) is before ``moment``
        and that meet ``also`` (SQL, " AND ..."), oldest first: about ``limit`` of them (more
        only where several share the last one's time), so that a background prune holds the
        writer briefly. True when that many were there, so that more may be left."""
        last = self._one(
            f"SELECT {column} FROM {table} WHERE {column} < ?{also} "
            f"ORDER BY {column} LIMIT 1 OFFSET ?",
            (moment, limit - 1),
        )
        if last is None:  # fewer than ``limit`` left: all of them
            self._run(f"DELETE FROM {table} WHERE {column} < ?{also}", (moment,))
            return False
        self._run(f"DELETE FROM {table} WHERE {column} <= ?{also}", (last[0],))
        return True
