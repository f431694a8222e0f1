"""The Redis bus itself against a private redis-server: delivery between nodes, a node's own
batches delivered once, loss made visible (a killed Redis, an outbox that overflowed), and
batches that could not be published sent once Redis answers again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cluster import RedisServer
from redis.asyncio import Redis
from server_process import free_port

from bellwire.bus import redis as redis_bus
from bellwire.bus.redis import RedisBus
from bellwire.bus.wire import BusMessage, SessionInfo, SessionsAnswer, SessionsAsk
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


# --- the operator's ask: every node's sessions -------------------------------------------------


def _answers(name: str, *session_ids: str) -> Any:
    def provider(ask: SessionsAsk) -> SessionsAnswer:
        rows = tuple(
            SessionInfo("arn:u", sid, float(i), True, 0) for i, sid in enumerate(session_ids)
        )
        page = rows[ask.start : ask.start + ask.limit]
        return SessionsAnswer(ask.ask_id, "", name, page, len(rows) > ask.start + ask.limit)

    return provider


def _own(bus: RedisBus, name: str, *session_ids: str) -> None:
    inner = _answers(name, *session_ids)
    bus.answer_sessions(lambda ask: replace(inner(ask), node=bus.node))


async def test_an_ask_gathers_every_node_and_names_the_silent_ones(
    server: RedisServer, pair: tuple[RedisBus, RedisBus]
) -> None:
    one, two = pair
    _own(one, "one", "s-a")
    _own(two, "two", "s-b", "s-c")
    await one.start()
    await two.start()
    await until(lambda: one.connected and two.connected)
    await until_registered(one, {one.node, two.node})
    started = asyncio.get_running_loop().time()
    cluster = await one.ask_sessions(None, 0, 10, timeout=5.0)
    # Everyone answered: no waiting for the timeout.
    assert asyncio.get_running_loop().time() - started < 2.0
    assert sorted(r.session.session_id for r in cluster.sessions) == ["s-a", "s-b", "s-c"]
    assert cluster.answered == ("one", "two") and cluster.missing == () and not cluster.truncated
    paged = await one.ask_sessions(None, 0, 1, timeout=5.0)
    assert paged.truncated and len(paged.sessions) == 2  # one of each node's

    # A node registered a moment ago that does not answer: named after the timeout. One gone
    # for longer than NODE_LIVE_MS is forgotten.
    client = Redis.from_url(server.url)
    try:
        await client.hset(one.nodes_key, "ghost-old", "1000 long gone")
        silent = RedisBus(server.url, prefix="t", node="silent", name="silent host")
        await silent._announce_node()  # registered, never subscribed
        await silent.client.aclose()
        started = asyncio.get_running_loop().time()
        cluster = await one.ask_sessions(None, 0, 10, timeout=0.5)
        waited = asyncio.get_running_loop().time() - started
        assert cluster.missing == ("silent host",) and 0.45 <= waited < 2.0
        assert cluster.answered == ("one", "two")
        assert await client.hget(one.nodes_key, "ghost-old") is None
        assert await client.keys("t:admin:reply:*") == []  # the reply key is removed
    finally:
        await client.aclose()


async def until_registered(bus: RedisBus, nodes: set[str]) -> None:
    for _ in range(200):
        if nodes <= set(await bus.live_nodes()):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("nodes not registered in time")


async def test_without_redis_an_ask_answers_for_its_own_node() -> None:
    alone = RedisBus(f"redis://127.0.0.1:{free_port()}/0", prefix="t")
    _own(alone, "alone", "s-1")
    try:
        cluster = await alone.ask_sessions(None, 0, 10, timeout=0.5)
    finally:
        await alone.close()
    assert [r.session.session_id for r in cluster.sessions] == ["s-1"]
    assert cluster.answered == ("alone",)
    assert cluster.missing == ("the other nodes (the bus is not reachable)",)
