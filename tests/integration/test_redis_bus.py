"""The Redis bus itself against a private redis-server: delivery between nodes, a node's own
batches delivered once, loss made visible (a killed Redis, an outbox that overflowed), and
batches that could not be published sent once Redis answers again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cluster import RedisServer
from redis.asyncio import Redis
from server_process import free_port

from bellwire.bus import redis as redis_bus
from bellwire.bus.redis import RedisBus
from bellwire.bus.wire import BusMessage
from bellwire.domain.delivery import CloseSessions, UserEvent


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


class Recorder:
    def __init__(self, bus: RedisBus) -> None:
        self.messages: list[BusMessage] = []
        self.status: list[bool] = []
        bus.subscribe(self.messages.append)
        bus.on_status(self.status.append)


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


async def test_a_batch_reaches_the_other_node_and_its_own_listeners_once(
    pair: tuple[RedisBus, RedisBus],
) -> None:
    one, two = pair
    seen_one, seen_two = Recorder(one), Recorder(two)
    await one.start()
    await two.start()
    messages = [UserEvent("arn:u", deleted=True), CloseSessions("arn:u", 4003, "x")]
    one.publish(messages)
    assert seen_one.messages == messages  # synchronously, before publish returns
    await until(lambda: seen_two.messages == messages)
    await asyncio.sleep(0.2)
    assert seen_one.messages == messages  # the echo from Redis is skipped


async def test_a_killed_redis_is_reported_and_what_was_published_meanwhile_follows(
    server: RedisServer, pair: tuple[RedisBus, RedisBus]
) -> None:
    one, two = pair
    seen_one, seen_two = Recorder(one), Recorder(two)
    await one.start()
    await two.start()
    server.kill()
    await until(lambda: seen_one.status == [True, False] and seen_two.status == [True, False])
    assert not one.connected and not two.connected
    one.publish([UserEvent("arn:while-down", deleted=True)])
    server.start()
    await until(lambda: one.connected and two.connected)
    # Node two may or may not have been subscribed again when the batch left: it knows it may
    # have missed something from its own status, not from the batch.
    assert seen_two.status == [True, False, True]
    await until(lambda: one.outbox == 0)
    assert one.losses == 1


async def test_an_outbox_that_overflowed_makes_every_node_resynchronize(
    server: RedisServer, pair: tuple[RedisBus, RedisBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_bus, "OUTBOX_LIMIT", 3)
    one, two = pair
    seen_two = Recorder(two)
    await one.start()
    await two.start()
    # Node one cannot publish for a while (its own network trouble); node two hears nothing.
    working = one.client
    one.client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    for n in range(5):  # two batches fall out of the outbox
        one.publish([UserEvent(f"arn:{n}")])
    await asyncio.sleep(0.5)
    assert seen_two.messages == [] and one.outbox <= 4  # three batches and the resync
    broken, one.client = one.client, working
    await broken.aclose()
    # The resync comes first: node two acts as on a lost connection, then gets the rest.
    await until(lambda: len(seen_two.messages) == 3)
    assert seen_two.status == [True, False, True]
    assert seen_two.messages == [UserEvent(f"arn:{n}") for n in (2, 3, 4)]


async def test_a_batch_that_does_not_decode_counts_as_a_loss(
    server: RedisServer, pair: tuple[RedisBus, RedisBus]
) -> None:
    one, two = pair
    seen_two = Recorder(two)
    await one.start()
    await two.start()
    await one.client.publish(two.channel, b'{"v":99}')
    await until(lambda: seen_two.status == [True, False, True])
    assert seen_two.messages == []
