"""PostgreSQL unreachable, then back: 503s, nothing half-written, sessions kept, recovery; and
what `/readyz` says, for one node and for the nodes of a cluster.

The PostgreSQL server is shared by everything on the machine, so it is never stopped here.
Instead the node reaches its database through a TCP forwarder that this test runs (asyncio, to
the real server) and cuts: every open connection is aborted and new ones are closed at once, as
a database that went away looks from the node. Restoring it is the database coming back.
"""

from __future__ import annotations

import asyncio
import http.client
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import server_process
from botocore.config import Config
from botocore.exceptions import ClientError
from cluster import Node, cluster
from tcp_forwarder import Forwarder
from ws_helpers import World, connect_url, off, refused, session

from bellwire.events import EventType
from bellwire.testing import RunningServer, postgres_url, temporary_database

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
async def forwarder() -> AsyncIterator[Forwarder]:
    target = urllib.parse.urlsplit(postgres_url())
    made = Forwarder(target.hostname or "127.0.0.1", target.port or 5432)
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


def _status(running: RunningServer, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _error(call: Callable[[], Any]) -> ClientError:
    try:
        call()
    except ClientError as exc:
        return exc
    raise AssertionError("the call succeeded while the database was cut off")


async def test_database_outage_answers_503_keeps_sessions_and_recovers(
    forwarder: Forwarder, bellwire_server_factory: Callable[..., RunningServer]
) -> None:
    with temporary_database() as url:
        through = urllib.parse.urlsplit(url)._replace(netloc=f"postgres@127.0.0.1:{forwarder.port}")
        running = await off(bellwire_server_factory, store=through.geturl())
        try:
            await _outage(forwarder, running)
        finally:
            await off(running.stop)


async def test_a_node_started_before_its_database_waits_for_it(
    forwarder: Forwarder, tmp_path: Path
) -> None:
    with temporary_database() as url:
        through = urllib.parse.urlsplit(url)._replace(netloc=f"postgres@127.0.0.1:{forwarder.port}")
        forwarder.sever()
        asyncio.get_running_loop().call_later(2.0, forwarder.restore)
        data_dir = tmp_path / "data"
        data_dir.mkdir(mode=0o700)
        node = await off(
            server_process.start, data_dir, server_process.free_port(), "--store", through.geturl()
        )
        try:
            assert "trying again for" in node.output()  # it said why it was not ready yet
            iam = node.client("iam", config=NO_RETRY)
            assert await off(lambda: iam.create_user(UserName="after-the-wait"))
        finally:
            node.proc.terminate()
            await off(node.proc.wait, 20)


async def _outage(forwarder: Forwarder, running: RunningServer) -> None:
    world = await off(World.create, running, "outage")
    alice = await off(world.user, "alice")
    bob = await off(world.user, "bob")
    channel = await off(world.channel, alice, [bob])
    bob_session = await session(running, bob)
    await off(world.send, channel, alice, "before")
    await bob_session.until(EventType.CREATE_CHANNEL_MESSAGE)

    forwarder.sever()
    messaging = running.client("chime-sdk-messaging", config=NO_RETRY)
    sent = await off(
        _error,
        lambda: messaging.send_channel_message(
            ChannelArn=channel,
            ChimeBearer=alice,
            Content="during",
            Type="STANDARD",
            Persistence="PERSISTENT",
        ),
    )
    meta = sent.response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 503
    assert meta["HTTPHeaders"]["x-amzn-errortype"].startswith("ServiceUnavailableException")
    assert sent.response["Error"]["Code"] == "ServiceUnavailableException"
    assert "database is unavailable" in sent.response["Error"]["Message"]
    # Reads too; and IAM (the query protocol) answers its own 503 code.
    listed = await off(
        _error, lambda: messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=alice)
    )
    assert listed.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    iam = running.client("iam", config=NO_RETRY)
    iam_refused = await off(_error, lambda: iam.create_user(UserName="during-outage"))
    assert iam_refused.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert iam_refused.response["Error"]["Code"] == "ServiceUnavailable"
    # No other node reaches the database either (there is none): a balancer must keep this
    # one, so that its sessions stay open and REST answers the modeled 503.
    assert await off(_status, running, "/readyz") == 200
    assert await off(_status, running, "/healthz") == 200
    # A new session cannot read its channels: it is closed with a code clients reconnect on.
    code, reason = await refused(connect_url(running, alice))
    assert (code, reason) == (1013, "The database is unavailable; try again later.")
    # The open session is left alone: no close, no event.
    await bob_session.quiet(0.5)
    assert not bob_session.closed

    forwarder.restore()
    # No restart, no operator: the next requests find the database again.
    await off(world.send, channel, alice, "after")
    events = await bob_session.until(EventType.CREATE_CHANNEL_MESSAGE)
    assert [e.payload["Content"] for e in events if e.type == EventType.CREATE_CHANNEL_MESSAGE] == [
        "after"
    ]
    assert await off(_status, running, "/readyz") == 200
    page = await off(lambda: messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=alice))
    # Nothing half-written: the refused send left no message.
    assert [m["Content"] for m in page["ChannelMessages"]] == ["after", "before"]
    assert await off(lambda: iam.create_user(UserName="after-outage"))
    await bob_session.close()


async def _readiness(node: Node) -> tuple[int, int]:
    """/readyz and /readyz/rest (REST alone): with the bus up they agree on the store. Each
    answers within a balancer's check timeout (deploy/haproxy.cfg: 2 s), whatever the store
    does: a check that times out takes the node out as dead."""

    def get(path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", node.process.port, timeout=10)
        started = time.monotonic()
        try:
            conn.request("GET", path)
            status = conn.getresponse().status
        finally:
            conn.close()
        assert time.monotonic() - started < 2.0, f"{path} took longer than a check may"
        return status

    return await off(get, "/readyz"), await off(get, "/readyz/rest")


async def _until_ready(nodes: dict[str, Node], expected: dict[str, int]) -> None:
    deadline = asyncio.get_running_loop().time() + 15
    both = {name: (code, code) for name, code in expected.items()}
    while (seen := {name: await _readiness(n) for name, n in nodes.items()}) != both:
        assert asyncio.get_running_loop().time() < deadline, seen
        await asyncio.sleep(0.1)


async def test_a_node_cut_off_alone_is_not_ready_and_nodes_all_cut_off_stay_ready(
    tmp_path: Path,
) -> None:
    target = urllib.parse.urlsplit(postgres_url())
    fa, fb = (Forwarder(target.hostname or "127.0.0.1", target.port or 5432) for _ in range(2))
    await fa.start()
    await fb.start()
    try:
        with cluster(tmp_path, nodes=0) as running:
            store = urllib.parse.urlsplit(running.store)
            a, b = [
                await off(
                    running.start_node,
                    "--store",
                    store._replace(netloc=f"postgres@127.0.0.1:{f.port}").geturl(),
                )
                for f in (fa, fb)
            ]
            await _cut_off(fa, fb, {"a": a, "b": b})
            await _stalled(fa, fb, {"a": a, "b": b})
    finally:
        await fa.stop()
        await fb.stop()


async def _cut_off(fa: Forwarder, fb: Forwarder, nodes: dict[str, Node]) -> None:
    a, b = nodes["a"], nodes["b"]
    world = await off(World.create, a)  # type: ignore[arg-type]
    alice, bob = await off(world.user, "alice"), await off(world.user, "bob")
    channel = await off(world.channel, alice, [bob])
    on_b = await session(b, bob)  # type: ignore[arg-type]
    await _until_ready(nodes, {"a": 200, "b": 200})

    # Only A lost the database; B reaches it: traffic should go to B.
    fa.sever()
    await _until_ready(nodes, {"a": 503, "b": 200})

    # Both lost it: neither is worse than the other, both stay in the balancer's rotation
    # (within STORE_FRESH_US of B's last answer) and hold there.
    fb.sever()
    await _until_ready(nodes, {"a": 200, "b": 200})
    for _ in range(10):
        held = {name: await _readiness(n) for name, n in nodes.items()}
        assert held == {"a": (200, 200), "b": (200, 200)}
        await asyncio.sleep(0.2)
    for node in (a, b):
        messaging = node.client("chime-sdk-messaging", config=NO_RETRY)
        refusal = await off(
            _error,
            lambda m=messaging: m.send_channel_message(  # type: ignore[attr-defined]
                ChannelArn=channel,
                ChimeBearer=alice,
                Content="during",
                Type="STANDARD",
                Persistence="PERSISTENT",
            ),
        )
        assert refusal.response["Error"]["Code"] == "ServiceUnavailableException"
    await on_b.quiet(0.3)
    assert not on_b.closed

    # The database is back for both: ready, and the session hears the next message.
    fa.restore()
    fb.restore()
    await _until_ready(nodes, {"a": 200, "b": 200})
    await off(world.send, channel, alice, "after")
    events = await on_b.until(EventType.CREATE_CHANNEL_MESSAGE)
    assert [e.payload["Content"] for e in events if e.type == EventType.CREATE_CHANNEL_MESSAGE] == [
        "after"
    ]
    await on_b.close()


async def _stalled(fa: Forwarder, fb: Forwarder, nodes: dict[str, Node]) -> None:
    """The same, with a database whose network drops packets instead of refusing: reads hang,
    yet each node answers its checks in time, and as before."""
    await _until_ready(nodes, {"a": 200, "b": 200})
    fa.stall()
    await _until_ready(nodes, {"a": 503, "b": 200})
    fb.stall()
    await _until_ready(nodes, {"a": 200, "b": 200})
    fa.restore()
    fb.restore()
    await _until_ready(nodes, {"a": 200, "b": 200})
