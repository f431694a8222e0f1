"""Retention and expiration enforced (spec §11A.5), against a real server whose clock the test
moves: old messages disappear from list, get and prefetch; expired channels and users are
deleted as by DeleteChannel / DeleteAppInstanceUser, with their events on the messaging session
and on the export stream; a server restarted with its clock moved forward applies what is due."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from server_process import scraped
from sinks_helpers import RedisStream, decoded, stream_arn, wait_for
from store_engines import stored_messages
from ws_helpers import Sessions, World, off

from bellwire.clock import DAY, Clock
from bellwire.events import EventType
from bellwire.testing import RunningServer

ONE_DAY = {"ExpirationDays": 1, "ExpirationCriterion": "CREATED_TIMESTAMP"}


@pytest.fixture
def running(bellwire_server: RunningServer) -> RunningServer:
    return bellwire_server


@pytest.fixture
async def ws(running: RunningServer) -> AsyncIterator[Sessions]:
    sessions = Sessions(running)
    yield sessions
    await sessions.close_all()


@pytest.fixture
def redis_stream() -> Iterator[RedisStream]:
    stream = RedisStream()
    yield stream
    stream.delete()


def contents(world: World, channel: str, bearer: str) -> list[str]:
    answer = world.messaging.list_channel_messages(
        ChannelArn=channel, ChimeBearer=bearer, SortOrder="ASCENDING"
    )
    return [m["Content"] for m in answer["ChannelMessages"]]


def retention(world: World, days: int | None) -> Any:
    settings = {"RetentionDays": days} if days is not None else {}
    return world.identity.put_app_instance_retention_settings(
        AppInstanceArn=world.app_arn,
        AppInstanceRetentionSettings={"ChannelRetentionSettings": settings},
    )


async def test_messages_past_retention_are_deleted_everywhere_until_it_is_removed(
    running: RunningServer, ws: Sessions
) -> None:
    world = World.create(running, "retention")
    alice, bob = world.user("alice"), world.user("bob")
    channel = world.channel(alice, [bob])
    old = [world.send(channel, alice, f"old{i}") for i in range(3)]
    running.advance_clock(days=2)
    world.send(channel, alice, "new")
    # A prefetch now fills the shared CHANNEL_DETAILS cache with the old messages too.
    before = await ws(bob, prefetch=True)
    cached = await before.next()
    assert cached.payload is not None
    assert len(cached.payload["ChannelMessages"]) == 4
    retention(world, 1)
    assert running.sweep().messages == 3
    assert contents(world, channel, alice) == ["new"]
    with pytest.raises(world.messaging.exceptions.NotFoundException):
        world.messaging.get_channel_message(ChannelArn=channel, MessageId=old[0], ChimeBearer=bob)
    client = await ws(bob, prefetch=True)
    details = await client.next()
    assert details.type == EventType.CHANNEL_DETAILS and details.payload is not None
    assert [m["Content"] for m in details.payload["ChannelMessages"]] == ["new"]
    await client.quiet(0.2)  # no event announces a purge
    # Removing the setting stops it.
    retention(world, None)
    running.advance_clock(days=3)
    assert running.sweep().messages == 0
    assert contents(world, channel, alice) == ["new"]


async def test_an_expired_channel_is_deleted_with_its_events(
    bellwire_server_factory: Callable[..., RunningServer], redis_stream: RedisStream
) -> None:
    arn = stream_arn()
    running = bellwire_server_factory(resources={arn: redis_stream.url})
    sessions = Sessions(running)
    try:
        world = World.create(running, "expire-channel")
        alice, bob = world.user("alice"), world.user("bob")
        world.messaging.put_messaging_streaming_configurations(
            AppInstanceArn=world.app_arn,
            StreamingConfigurations=[{"DataType": "Channel", "ResourceArn": arn}],
        )
        doomed = world.channel(alice, [bob], ExpirationSettings=ONE_DAY)
        lively = world.channel(
            alice,
            [bob],
            ExpirationSettings={
                "ExpirationDays": 1,
                "ExpirationCriterion": "LAST_MESSAGE_TIMESTAMP",
            },
        )
        client = await sessions(bob)
        running.advance_clock(days=0.75)
        await off(world.send, lively, alice, "still here")
        running.advance_clock(days=0.5)
        assert running.sweep().channels == 1
        deleted = await client.until(EventType.DELETE_CHANNEL)
        assert deleted[-1].payload is not None and deleted[-1].payload["ChannelArn"] == doomed
        with pytest.raises(world.messaging.exceptions.NotFoundException):
            world.messaging.describe_channel(ChannelArn=doomed, ChimeBearer=alice)
        world.messaging.describe_channel(ChannelArn=lively, ChimeBearer=alice)  # last message
        running.advance_clock(days=0.6)
        assert running.sweep().channels == 1
        await client.until(
            lambda e: (
                e.type == EventType.DELETE_CHANNEL
                and e.payload is not None
                and e.payload["ChannelArn"] == lively
            )
        )

        def deletions() -> list[str]:
            return [
                decoded(e["record"])[1]["ChannelArn"]
                for e in redis_stream.entries()
                if decoded(e["record"])[0] == "DELETE_CHANNEL"
            ]

        wait_for(lambda: len(deletions()) == 2)
        assert deletions() == [doomed, lively]
    finally:
        await sessions.close_all()


async def test_an_expired_user_is_deleted_and_its_sessions_closed(
    running: RunningServer, ws: Sessions
) -> None:
    world = World.create(running, "expire-user")
    alice = world.user("alice")
    temp = world.identity.create_app_instance_user(
        AppInstanceArn=world.app_arn,
        AppInstanceUserId="temp",
        Name="Temp",
        ExpirationSettings=ONE_DAY,
    )["AppInstanceUserArn"]
    channel = world.channel(alice, [temp])
    watcher, session = await ws(alice), await ws(temp)
    running.advance_clock(days=0.9)
    assert running.sweep().users == 0
    running.advance_clock(days=0.2)
    assert running.sweep().users == 1
    assert await session.closed_with() == 4003
    left = await watcher.until(EventType.DELETE_CHANNEL_MEMBERSHIP)
    assert left[-1].payload is not None and left[-1].payload["Member"]["Arn"] == temp
    assert left[-1].payload["ChannelArn"] == channel
    with pytest.raises(world.identity.exceptions.NotFoundException):
        world.identity.describe_app_instance_user(AppInstanceUserArn=temp)


def test_a_server_restarted_with_its_clock_forward_applies_what_is_due_at_once(
    bellwire_server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = bellwire_server_factory(data)
    world = World.create(first, "restart")
    alice = world.user("alice")
    channel = world.channel(alice, ExpirationSettings=ONE_DAY)
    first.stop()
    later = bellwire_server_factory(data, clock=Clock(offset=2 * DAY))
    messaging = later.client("chime-sdk-messaging")
    # The sweep at start deleted it, with no call from the test.
    wait_for(lambda: _gone(messaging, channel, alice), what="the expired channel's deletion")


def _gone(messaging: Any, channel: str, bearer: str) -> bool:
    try:
        messaging.describe_channel(ChannelArn=channel, ChimeBearer=bearer)
    except messaging.exceptions.NotFoundException:
        return True
    return False


def test_a_deleted_channels_messages_are_removed_after_its_answer_a_batch_at_a_time(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    running = bellwire_server_factory(sweep_batch=20)
    world = World.create(running, "purge")
    alice = world.user("alice")
    channel = world.channel(alice, ChannelId="reused")
    expiring = world.channel(alice, ExpirationSettings=ONE_DAY)
    for i in range(50):
        world.send(channel, alice, f"m{i}")
    for i in range(5):
        world.send(expiring, alice, f"e{i}")

    def stored(arn: str) -> int:
        return len(running.run(running.server.store.read(lambda tx: stored_messages(tx, arn))))

    world.messaging.delete_channel(ChannelArn=channel, ChimeBearer=alice)
    wait_for(lambda: stored(channel) == 0, what="the deleted channel's purge")
    # Its 52 numbers (its creation, 50 messages, its deletion) 20 at a time: three writes.
    assert scraped(running, "bellwire_deleted_channel_purges_total") == 3
    # An expired channel's messages go the same way.
    running.advance_clock(days=1.1)
    assert running.sweep().channels == 1
    wait_for(lambda: stored(expiring) == 0, what="the expired channel's purge")
    # The same ChannelId names the same ARN again: a new, empty channel.
    assert world.channel(alice, ChannelId="reused") == channel
    assert contents(world, channel, alice) == []
    world.send(channel, alice, "fresh")
    assert contents(world, channel, alice) == ["fresh"]
    # And a deleted app instance's channels.
    other = World.create(running, "purge-instance")
    bob = other.user("bob")
    doomed = other.channel(bob)
    for i in range(3):
        other.send(doomed, bob, f"d{i}")
    other.identity.delete_app_instance(AppInstanceArn=other.app_arn)
    wait_for(lambda: stored(doomed) == 0, what="the deleted instance's channel's purge")
    assert contents(world, channel, alice) == ["fresh"]
