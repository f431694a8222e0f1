"""The loop of a background worker that works in passes (the export relay, the sweeper, the
purger): a pass at start, then one each time it is woken or ``interval`` seconds have gone by.

A pass that fails is handed to ``failed`` (a database outage is an ordinary event for these
workers: each says so in its own words) and the loop goes on; cancelling the task ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


async def run_passes(
    one_pass: Callable[[], Awaitable[object]],
    *,
    interval: float,
    failed: Callable[[Exception], None],
    wake: asyncio.Event | None = None,
    linger: float = 0.0,
) -> None:
    """``linger``: once woken, wait that long more, so that the wakes of a burst of commits
    make one pass."""
    woken = wake if wake is not None else asyncio.Event()
    while True:
        woken.clear()
        try:
            await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed(exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), interval)
            await asyncio.sleep(linger)
