"""The loop of the background workers: a pass at start, when woken, at each interval; a failed
pass is reported and the loop goes on."""

import asyncio
import itertools

from bellwire.passes import run_passes


async def test_passes_run_at_start_when_woken_and_each_interval_and_survive_failures() -> None:
    ran: list[float] = []
    failures: list[Exception] = []
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def one_pass() -> None:
        ran.append(loop.time())
        if len(ran) == 2:
            raise RuntimeError("the second pass fails")

    task = asyncio.create_task(
        run_passes(one_pass, interval=0.3, failed=failures.append, wake=wake, linger=0.05)
    )
    try:
        await asyncio.sleep(0.05)
        assert len(ran) == 1  # at start, not again until woken or the interval
        woken_at = loop.time()
        wake.set()
        await asyncio.sleep(0.02)
        assert len(ran) == 1  # lingering: a burst of wakes makes one pass
        await asyncio.sleep(0.08)
        assert len(ran) == 2 and ran[1] - woken_at >= 0.049
        assert [str(e) for e in failures] == ["the second pass fails"]
        await asyncio.sleep(0.35)  # no wake: the interval brings the next pass
        assert len(ran) == 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def test_without_a_wake_a_pass_comes_each_interval() -> None:
    loop = asyncio.get_running_loop()
    ran: list[float] = []

    async def one_pass() -> None:
        ran.append(loop.time())

    task = asyncio.create_task(run_passes(one_pass, interval=0.05, failed=lambda e: None))
    try:
        async with asyncio.timeout(5):
            while len(ran) < 3:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # (asyncio may run a timer up to its clock's resolution early)
    assert all(later - earlier >= 0.049 for earlier, later in itertools.pairwise(ran))
