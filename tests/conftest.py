"""Fixtures for every suite. Being here also puts ``tests/`` on the import path, so suites share
helper modules such as ``session_watch``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from session_watch import Watch

from bellwire.client import MessagingSession


@pytest.fixture
async def watch() -> AsyncIterator[Callable[[MessagingSession], Watch]]:
    """Start watching sessions; each is stopped and its iteration awaited after the test."""
    watches: list[Watch] = []

    def start(session: MessagingSession) -> Watch:
        watches.append(Watch(session))
        return watches[-1]

    yield start
    for w in watches:
        await w.session.stop()
        await asyncio.wait_for(w.task, 10)
