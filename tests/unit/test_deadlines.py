"""How long a request waits for the store: one timer ends the waits past the timeout."""

from __future__ import annotations

import asyncio

import pytest

from bellwire.store.base import StoreTimeout
from bellwire.store.deadlines import Deadlines


async def answered(value: str, after: float) -> str:
    await asyncio.sleep(after)
    return value


async def test_a_wait_past_the_timeout_ends_in_store_timeout_and_the_others_answer() -> None:
    deadlines = Deadlines(0.2)
    never = asyncio.Event()
    loop = asyncio.get_running_loop()
    started = loop.time()
    quick = asyncio.ensure_future(deadlines.wait(answered("quick", 0.01)))
    stuck = asyncio.ensure_future(deadlines.wait(never.wait()))
    assert await quick == "quick"
    with pytest.raises(StoreTimeout, match=r"within 0\.2 s"):
        await stuck
    took = loop.time() - started
    assert 0.2 <= took < 0.2 + 0.05 + 0.1  # the timeout, and at most one check interval late
    assert not stuck.cancelled()  # the task goes on: it answers a 503
    await asyncio.sleep(0.1)
    assert deadlines._timer is None  # nothing waits: no timer left running


async def test_a_wait_cancelled_by_anything_else_stays_cancelled() -> None:
    deadlines = Deadlines(5.0)
    waiting = asyncio.ensure_future(deadlines.wait(asyncio.Event().wait()))
    await asyncio.sleep(0.01)
    waiting.cancel()  # a client gone, a shutdown
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_no_timeout_waits_as_long_as_it_takes_without_a_timer() -> None:
    deadlines = Deadlines(0)
    assert await deadlines.wait(answered("late", 0.05)) == "late"
    assert deadlines._timer is None


def test_the_check_interval_follows_short_timeouts() -> None:
    assert Deadlines(0.2)._every == pytest.approx(0.05)
    assert Deadlines(10)._every == 1.0
