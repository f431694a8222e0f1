"""What every aggregate's SQL shares: the cursor, its three calls, JSON columns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

Row = Sequence[Any]


class Cursor(Protocol):
    """The slice of DB-API an engine provides; placeholders are ``?``."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...


def json_column(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def unjson_column(value: str | None) -> Any:
    return None if value is None else json.loads(value)


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
