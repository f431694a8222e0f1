"""Fixtures for every suite. Being here also puts ``tests/`` on the import path, so suites share
helper modules such as ``session_watch``."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from session_watch import Watch
from store_engines import Engine, postgres_engine, sqlite_engine

from bellwire.client import MessagingSession
from bellwire.testing import TEST_STORE_ENV


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


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs ``bellwire serve`` in-process has it configure the root logger with the
    stderr pytest captured for that test; later records would go to a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Each store engine in turn (PostgreSQL in a database made for the test)."""
    if request.param == "sqlite":
        yield sqlite_engine(tmp_path)
    else:
        with postgres_engine() as made:
            yield made


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With BELLWIRE_TEST_STORE, tests of the SQLite file itself are skipped by name (the -ra
    summary lists them); their PostgreSQL counterparts are in test_transfer_postgres.py."""
    if not os.environ.get(TEST_STORE_ENV):
        return
    skip = pytest.mark.skip(reason=f"sqlite_only: {TEST_STORE_ENV} runs the servers on PostgreSQL")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)
