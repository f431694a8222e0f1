"""The REST requests' store deadline: one timer cancels the requests that waited too long."""

from __future__ import annotations

import asyncio

import pytest

from bellwire.api.operations import Deadlines


async def test_a_request_past_its_deadline_is_cancelled_and_marked_expired() -> None:
    deadlines = Deadlines(0.2)
    stuck = asyncio.Event()

    async def request(wait: asyncio.Event | None) -> bool:
        waiting = deadlines.enter()
        try:
            if wait is not None:
                await wait.wait()
            else:
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            assert waiting.expired
            waiting.task.uncancel()
            return False
        finally:
            waiting.done = True
        return True

    quick = asyncio.ensure_future(request(None))
    slow = asyncio.ensure_future(request(stuck))
    started = asyncio.get_running_loop().time()
    assert await quick is True
    assert await slow is False  # cancelled by the deadline, not by anything else
    took = asyncio.get_running_loop().time() - started
    assert 0.2 <= took < 0.2 + 0.05 + 0.1  # the timeout, and at most one check interval late
    assert not slow.cancelled()
    await asyncio.sleep(0.1)
    assert deadlines._timer is None  # nobody waits: no timer left running


def test_the_check_interval_follows_short_timeouts() -> None:
    assert Deadlines(0.2)._every == pytest.approx(0.05)
    assert Deadlines(10)._every == 1.0
