"""What every aggregate's SQL shares: the cursor, its three calls, JSON columns."""

from __future__ import annotations

import functools
import json
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
