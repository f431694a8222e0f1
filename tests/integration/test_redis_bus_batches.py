"""The commits of a burst cross the Redis bus as one message, in order, against a private
redis-server (a burst: what a node published while its previous publish was in flight)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cluster import RedisServer

from bellwire.bus.redis import RedisBus
from bellwire.bus.wire import BusMessage
from bellwire.domain.delivery import UserEvent


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@pytest.fixture
async def pair(server: RedisServer) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    one = RedisBus(server.url, prefix="t", ping_interval=0.2)
    two = RedisBus(server.url, prefix="t", ping_interval=0.2)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def until(check: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_a_burst_of_commits_is_one_bus_message_in_order(
    pair: tuple[RedisBus, RedisBus],
) -> None:
    one, two = pair
    seen: list[BusMessage] = []
    two.subscribe(seen.append)
    await one.start()
    await two.start()
    burst = [[UserEvent(f"arn:{n}:{k}") for k in range(n % 3 + 1)] for n in range(50)]
    for batch in burst:  # fifty commits in one loop turn
        one.publish(batch)
    expected = [message for batch in burst for message in batch]
    await until(lambda: len(seen) == len(expected))
    assert seen == expected
    assert two.received == 1  # one message on the bus, one decode, for the whole burst
    one.publish([UserEvent("arn:after")])  # the next burst is a message of its own
    await until(lambda: len(seen) == len(expected) + 1)
    assert two.received == 2 and one.outbox == 0
