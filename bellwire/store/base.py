"""The Store interface every engine satisfies (SQLite embedded, PostgreSQL for multi-node).

The domain never sees an engine: it hands ``read``/``write`` a function of a :class:`Tx` and
gets its result back. ``write`` resolves only once the transaction is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from bellwire.store.tx import Tx

T = TypeVar("T")

# Called on the event loop, in commit order, with each committed unit's result, before the
# unit's caller resumes: the place where events are published.
AfterCommit = Callable[[Any], None]


class StoreClosed(Exception):
    """The store is shutting down; the request was not applied."""


class Store(Protocol):
    async def read(self, fn: Callable[[Tx], T]) -> T: ...
    async def write(self, fn: Callable[[Tx], T]) -> T: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...
    def set_after_commit(self, hook: AfterCommit) -> None: ...
