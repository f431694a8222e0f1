"""The Redis bus itself against a private redis-server: delivery between nodes, a node's own
batches delivered once, loss made visible (a killed Redis, an outbox that overflowed), and
batches that could not be published sent once Redis answers again, and a burst of commits
(what a node published while its previous publish was in flight) crossing as one message."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cluster import RedisServer
from redis.asyncio import Redis
from redis.exceptions import RedisError
from server_process import free_port

from bellwire.bus import redis as redis_bus
from bellwire.bus.redis import RedisBus, RedisLimits
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


async def test_a_store_outage_is_told_from_the_other_nodes_state(
    server: RedisServer, pair: tuple[RedisBus, RedisBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = pair
    # Answering before this node's outage began does not count: the same outage may have
    # reached the other node a moment later.
    await two.store_answered(True)
    await one.store_answered(True)
    assert not await one.store_answers_elsewhere()  # its store answers: nothing to weigh
    await one.store_answered(False)
    assert not await one.store_answers_elsewhere()
    # The other node's store answered after this one's stopped: the outage is this node's.
    await two.store_answered(True)
    assert await one.store_answers_elsewhere()
    # Still failing here: the outage began at the first failure, not at this one.
    await one.store_answered(False)
    assert await one.store_answers_elsewhere()
    # The other node's store stops answering too: nobody's does.
    await two.store_answered(False)
    assert not await one.store_answers_elsewhere()
    # An answer goes stale: a node that stopped telling (killed, cut off) counts no longer.
    await two.store_answered(True)
    assert await one.store_answers_elsewhere()
    monkeypatch.setattr(redis_bus, "STORE_FRESH_US", 200_000)
    await asyncio.sleep(0.3)
    assert not await one.store_answers_elsewhere()
    # Answering again ends this node's outage; a new one begins at its next failure.
    await one.store_answered(True)
    assert not await one.store_answers_elsewhere()
    # A node that stops is forgotten at once.
    monkeypatch.setattr(redis_bus, "STORE_FRESH_US", 3_000_000)
    await one.store_answered(False)
    await two.store_answered(True)
    assert await one.store_answers_elsewhere()
    await two.close()
    assert not await one.store_answers_elsewhere()


async def test_without_redis_a_store_outage_counts_as_everyones() -> None:
    alone = RedisBus(f"redis://127.0.0.1:{free_port()}/0", prefix="t")
    try:
        await alone.store_answered(False)
        assert not await alone.store_answers_elsewhere()
    finally:
        await alone.close()


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


async def test_a_busy_event_loop_is_not_taken_for_a_lost_bus(
    pair: tuple[RedisBus, RedisBus],
) -> None:
    """A node whose loop is too busy to read for a while (a connect storm) still hears every
    pong once it reads again: the bus must not be declared lost, which would close the
    node's sessions with 4410."""
    one, _ = pair
    seen = Recorder(one)
    await one.start()
    assert seen.status == [True]

    async def storm() -> None:
        # Stalls of 0.8 s, each longer than three ping intervals (0.2 s), with the loop
        # turning in between.
        for _ in range(6):
            time.sleep(0.8)
            await asyncio.sleep(0.01)

    await storm()
    await asyncio.sleep(0.5)
    assert one.losses == 0 and seen.status == [True]


async def test_a_redis_that_stops_answering_is_still_reported_lost(
    server: RedisServer, pair: tuple[RedisBus, RedisBus]
) -> None:
    one, _ = pair
    seen = Recorder(one)
    await one.start()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)  # connected, silent: only the pings can tell
    try:
        await until(lambda: seen.status == [True, False], timeout=3.0)
    finally:
        server.proc.send_signal(signal.SIGCONT)
    await until(lambda: seen.status == [True, False, True])


async def test_a_connect_storm_waits_for_a_pooled_connection_instead_of_failing(
    server: RedisServer,
) -> None:
    """Far more concurrent connects than pooled connections: each waits its turn (the
    default pool of redis-py refuses the 101st with "Too many connections")."""
    bus = RedisBus(server.url, prefix="t", max_connections=4, pool_wait=5.0)
    limits = RedisLimits(bus)
    try:

        async def connect(i: int) -> None:
            user = f"arn:user/{i % 50}"
            assert await limits.take_connect_token(user, 100.0, 100)
            await limits.admit(user, f"s{i}", 10)

        await asyncio.gather(*(connect(i) for i in range(400)))
        assert len(bus.client.connection_pool._in_use_connections) == 0  # type: ignore[attr-defined]
    finally:
        await bus.close()


async def test_a_full_pool_past_its_wait_fails_as_a_redis_error(server: RedisServer) -> None:
    """What the connect path turns into 1013: a bounded wait, then a RedisError."""
    bus = RedisBus(server.url, prefix="t", max_connections=1, pool_wait=0.2)
    try:
        blocked = asyncio.ensure_future(bus.client.blpop(["t:nothing"], timeout=1))
        await asyncio.sleep(0.1)
        started = asyncio.get_running_loop().time()
        with pytest.raises(RedisError):
            await bus.client.ping()
        assert asyncio.get_running_loop().time() - started < 1.0
        await blocked
    finally:
        await bus.close()


async def test_an_expired_lease_is_taken_again_and_a_replaced_one_is_not(
    server: RedisServer,
) -> None:
    """A node that could not renew in time (Redis unreachable, or its pool busy) keeps its
    sessions: only a session that a newer one replaced is reported lost."""
    bus = RedisBus(server.url, prefix="t")
    limits = RedisLimits(bus, lease_seconds=1.0)
    try:
        user = "arn:user/ann"
        old = await limits.admit(user, "old", 2)
        await asyncio.sleep(1.2)  # expired, not renewed: still the only holder
        assert await limits.renew([(user, "old", old.lease)]) == []
        # Renewed means counted again: two more sessions replace it, as the oldest.
        await limits.admit(user, "two", 2)
        three = await limits.admit(user, "three", 2)
        assert [sid for sid, _ in three.replaced] == ["old"]
        assert await limits.renew([(user, "old", old.lease)]) == [(user, "old", old.lease)]
        # Its key gone (expired whole while its node was away): taken again.
        async with Redis.from_url(server.url) as raw:
            await raw.delete(*limits._keys(user))
        assert await limits.renew([(user, "two", "x")]) == []
        async with Redis.from_url(server.url) as raw:
            assert await raw.zrange(limits._keys(user)[0], 0, -1) == [b"two"]
    finally:
        await bus.close()


async def test_failed_sign_ins_count_per_address_until_the_oldest_ages_out(
    server: RedisServer,
) -> None:
    """The console's throttle as console.security.SignInThrottle counts it, for every node."""
    bus = RedisBus(server.url, prefix="t")
    one, two = RedisLimits(bus), RedisLimits(bus)
    try:
        waits = []
        for limits in (one, two, one):
            assert await limits.sign_in_wait("192.0.2.1", 3, 1.0) == 0
            waits.append(await limits.sign_in_wait("192.0.2.1", 3, 1.0, failed=True))
        assert waits[:2] == [0, 0] and 0.8 < waits[2] <= 1.0  # the third failure reached 3
        assert 0.5 < await two.sign_in_wait("192.0.2.1", 3, 1.0) <= waits[2]
        assert await one.sign_in_wait("192.0.2.2", 3, 1.0) == 0  # per address
        # More failures while refused keep the latest three only: no key grows without bound.
        for _ in range(10):
            await one.sign_in_wait("192.0.2.1", 3, 1.0, failed=True)
        async with Redis.from_url(server.url) as raw:
            assert await raw.zcard("t:signin:{192.0.2.1}") == 3
            assert 0 < await raw.pttl("t:signin:{192.0.2.1}") <= 1000
        await asyncio.sleep(1.05)
        assert await two.sign_in_wait("192.0.2.1", 3, 1.0) == 0
    finally:
        await bus.close()


async def test_without_redis_sign_ins_are_not_refused_by_the_cluster_count() -> None:
    """Each process's own count then holds alone (the console keeps one): an operator can
    still sign in to look at an outage."""
    alone = RedisBus(f"redis://127.0.0.1:{free_port()}/0", prefix="t")
    try:
        limits = RedisLimits(alone)
        assert await limits.sign_in_wait("192.0.2.1", 1, 60.0, failed=True) == 0
        assert await limits.sign_in_wait("192.0.2.1", 1, 60.0) == 0
    finally:
        await alone.close()


async def test_leases_are_renewed_many_per_call_and_the_replaced_ones_reported(
    server: RedisServer,
) -> None:
    """A node's renewal is a few script calls, not one per session (at 50,000 sessions the
    per-session calls took longer than a lease on a busy node)."""
    bus = RedisBus(server.url, prefix="t")
    limits = RedisLimits(bus)
    try:
        held = []
        for i in range(1234):
            user = f"arn:user/{i}"
            held.append((user, f"s{i}", (await limits.admit(user, f"s{i}", 1)).lease))
        # Three sessions replaced by newer ones of their users, one across each chunk edge.
        replaced = [held[7], held[500], held[1233]]
        for user, _, _ in replaced:
            await limits.admit(user, "newer", 1)
        async with Redis.from_url(server.url) as raw:
            await raw.config_resetstat()
            lost = await limits.renew(held)
            calls = (await raw.info("commandstats"))["cmdstat_evalsha"]["calls"]
        assert lost == replaced
        assert calls == 3  # 1,234 sessions: 500 per call
    finally:
        await bus.close()


async def test_concurrent_connects_share_a_few_connections(server: RedisServer) -> None:
    """The scripts of concurrent connects travel together: a storm of 400 takes at most a
    handful of Redis connections, not one per connect in flight."""
    bus = RedisBus(server.url, prefix="t")
    limits = RedisLimits(bus)
    try:
        async with Redis.from_url(server.url) as raw:
            before = (await raw.info("stats"))["total_connections_received"]

            async def connect(i: int) -> None:
                user = f"arn:user/{i}"
                assert await limits.take_connect_token(user, 100.0, 100)
                assert not (await limits.admit(user, "s", 1)).replaced

            await asyncio.gather(*(connect(i) for i in range(400)))
            opened = (await raw.info("stats"))["total_connections_received"] - before
        assert opened <= 4
    finally:
        await bus.close()


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
