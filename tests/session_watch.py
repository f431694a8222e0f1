"""Watching a MessagingSession from a test: every item it yields, recorded, with waits.

Shared by the client's integration tests and the interop scenarios (``tests/conftest.py``
provides the ``watch`` fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from bellwire.client import EventType, Item, MessagingSession, MessagingSessionError, SessionEvent

Match = Callable[[Item], bool]


class Watch:
    """Iterates a session in a task, recording every item; tests wait for matches."""

    def __init__(self, session: MessagingSession) -> None:
        self.session = session
        self.items: list[Item] = []
        self.error: MessagingSessionError | None = None
        self._cursor = 0
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for item in self.session:
                self.items.append(item)
                self._changed.set()
        except MessagingSessionError as exc:
            self.error = exc
        finally:
            self._changed.set()

    async def _changes(self, deadline: float) -> bool:
        """Wait for the next item or the end; False once the deadline has passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def next(self, match: type[Any] | Match, timeout: float = 10.0) -> Any:
        """The next recorded item (after the previous ``next`` match) that matches."""
        test = match if not isinstance(match, type) else (lambda i: isinstance(i, match))
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._cursor, len(self.items)):
                if test(self.items[index]):
                    self._cursor = index + 1
                    return self.items[index]
            if self.task.done():
                raise AssertionError(f"session ended before a match; items: {self.items!r}")
            if not await self._changes(deadline):
                raise AssertionError(f"no match within {timeout}s; items: {self.items!r}")

    async def event(self, type_: EventType, timeout: float = 10.0) -> SessionEvent:
        item: SessionEvent = await self.next(
            lambda i: isinstance(i, SessionEvent) and i.type == type_, timeout
        )
        return item

    def find(self, match: Match, since: int = 0) -> list[Item]:
        return [item for item in self.items[since:] if match(item)]

    async def wait_for(
        self, match: Match, what: str, *, since: int = 0, count: int = 1, timeout: float = 20.0
    ) -> list[Item]:
        """The first ``count`` items from index ``since`` that match."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(match, since)
            if len(found) >= count:
                return found[:count]
            if self.task.done() or not await self._changes(deadline):
                pytest.fail(f"no {what} within {timeout:.0f} s; items: {self.items!r}")

    async def quiet(self, match: Match, what: str, *, since: int, seconds: float = 3.0) -> None:
        """Nothing matching arrives for ``seconds``."""
        await asyncio.sleep(seconds)
        found = self.find(match, since)
        assert not found, f"unexpected {what}: {found!r}"

    async def finished(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)

    def since(self, item: Item) -> list[Item]:
        return self.items[self.items.index(item) + 1 :]
