"""PostgreSQL unreachable, then back: 503s, nothing half-written, sessions kept, recovery.

The PostgreSQL server is shared by everything on the machine, so it is never stopped here.
Instead the node reaches its database through a TCP forwarder that this test runs (asyncio, to
the real server) and cuts: every open connection is aborted and new ones are closed at once, as
a database that went away looks from the node. Restoring it is the database coming back.
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
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
    assert await off(_status, running, "/readyz") == 503
    assert await off(_status, running, "/healthz") == 200  # the process itself is fine
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
