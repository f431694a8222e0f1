"""Prefetch on connect (spec §2.7): SESSION_ESTABLISHED, then up to 50 CHANNEL_DETAILS.

One module-wide world: ``reader`` belongs to 55 channels, built so that each sort order picks
a different 50 (10 unread channels with the oldest messages, 44 read ones with newer messages,
1 without messages); ``viewer`` belongs to 3 channels that exercise the payload caps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ws_helpers import ISO_MS, Client, Sessions, World, off

from bellwire.events import Event, EventType, MessageType
from bellwire.testing import RunningServer, start_server

DETAILS = EventType.CHANNEL_DETAILS


@dataclass
class Setup:
    world: World
    reader: str
    unread: list[str]  # oldest messages first
    read: list[str]  # oldest messages first
    empty: str
    viewer: str
    busy: str  # 25 messages, 35 members
    targeted: str  # 19 public + 1 targeted at viewer + 3 targeted at someone else
    quiet_channel: str  # no messages
    busy_ids: list[str]  # oldest first
    targeted_ids: list[str]  # visible to viewer, oldest first
    hidden_ids: list[str]  # targeted at someone else


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(Path(tmp_path_factory.mktemp("gateway-prefetch")), connect_burst=100)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def setup(running: RunningServer) -> Setup:
    world = World.create(running, "prefetch")
    alice, reader, viewer, other = world.user(), world.user(), world.user(), world.user()
    with ThreadPoolExecutor(8) as pool:
        channels = list(pool.map(lambda _: world.channel(alice, [reader]), range(55)))
    unread, read, empty = channels[:10], channels[10:54], channels[54]
    for channel in unread + read:  # one at a time: LastMessageTimestamp follows this order
        world.send(channel, alice, "news")
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda c: world.messaging.update_channel_read_marker(
                    ChannelArn=c, ChimeBearer=reader
                ),
                read,
            )
        )

    with ThreadPoolExecutor(8) as pool:
        crowd = list(pool.map(lambda _: world.user(), range(33)))
    busy = world.channel(alice, [viewer, other])
    world.messaging.batch_create_channel_membership(
        ChannelArn=busy, MemberArns=crowd, Type="DEFAULT", ChimeBearer=alice
    )
    busy_ids = [world.send(busy, alice, f"busy {n}") for n in range(10)]
    world.messaging.update_channel_read_marker(ChannelArn=busy, ChimeBearer=viewer)
    busy_ids += [world.send(busy, alice, f"busy {n}") for n in range(10, 25)]

    targeted = world.channel(alice, [viewer, other])
    targeted_ids = [world.send(targeted, alice, f"public {n}") for n in range(19)]
    targeted_ids.append(world.send(targeted, alice, "for viewer", target=viewer))
    hidden_ids = [world.send(targeted, alice, f"for other {n}", target=other) for n in range(3)]
    quiet_channel = world.channel(alice, [viewer])
    return Setup(
        world,
        reader,
        unread,
        read,
        empty,
        viewer,
        busy,
        targeted,
        quiet_channel,
        busy_ids,
        targeted_ids,
        hidden_ids,
    )


@pytest.fixture
async def ws(running: RunningServer) -> AsyncIterator[Sessions]:
    sessions = Sessions(running)
    yield sessions
    await sessions.close_all()


async def prefetched(client: Client, count: int) -> dict[str, dict[str, Any]]:
    """Exactly ``count`` CHANNEL_DETAILS after SESSION_ESTABLISHED, and nothing more."""
    assert client.events[0].type == EventType.SESSION_ESTABLISHED
    events: list[Event] = await client.take(count)
    await client.quiet(0.3)
    assert [e.type for e in events] == [DETAILS] * count
    by_channel: dict[str, dict[str, Any]] = {}
    for event in events:
        assert event.message_type == MessageType.SYSTEM
        assert event.payload is not None
        by_channel[event.payload["Channel"]["ChannelArn"]] = dict(event.payload)
    assert len(by_channel) == count, "a channel was sent twice"
    return by_channel


async def test_default_order_picks_unread_first_then_latest(setup: Setup, ws: Sessions) -> None:
    client = await ws(setup.reader, prefetch=True)
    chosen = set(await prefetched(client, 50))
    assert chosen == set(setup.unread) | set(setup.read[4:])


async def test_sort_by_last_message_timestamp(setup: Setup, ws: Sessions) -> None:
    client = await ws(setup.reader, prefetch=True, sort_by="last-message-timestamp")
    chosen = set(await prefetched(client, 50))
    assert chosen == set(setup.read) | set(setup.unread[4:])


async def test_sort_by_unread(setup: Setup, ws: Sessions) -> None:
    client = await ws(setup.reader, prefetch=True, sort_by="unread")
    chosen = set(await prefetched(client, 50))
    assert set(setup.unread) <= chosen
    assert setup.empty not in chosen


async def test_unread_and_last_message_timestamp_in_payloads(setup: Setup, ws: Sessions) -> None:
    client = await ws(setup.reader, prefetch=True)
    details = await prefetched(client, 50)
    stamps = {}
    for arn, item in details.items():
        summary = item["Channel"]
        assert ISO_MS.fullmatch(summary["LastMessageTimestamp"]), summary
        stamps[arn] = summary["LastMessageTimestamp"]
        marker = item["ReadMarkerTimestamp"]
        if arn in setup.unread:
            assert marker is None
        else:
            assert ISO_MS.fullmatch(marker) and marker >= summary["LastMessageTimestamp"]
    ordered = [c for c in setup.unread + setup.read if c in stamps]
    assert [stamps[c] for c in ordered] == sorted(stamps[c] for c in ordered)


async def test_no_prefetch_without_prefetch_on(setup: Setup, ws: Sessions) -> None:
    # the JS SDK sends prefetch-sort-by even without prefetch-on
    for options in ({}, {"sort_by": "unread"}):
        client = await ws(setup.reader, **options)
        await client.quiet(0.3)
        assert [e.type for e in client.events] == [EventType.SESSION_ESTABLISHED]


async def test_all_channels_when_fewer_than_the_cap(setup: Setup, ws: Sessions) -> None:
    client = await ws(setup.viewer, prefetch=True)
    details = await prefetched(client, 3)
    assert set(details) == {setup.busy, setup.targeted, setup.quiet_channel}


async def test_payload_caps_and_members(setup: Setup, ws: Sessions) -> None:
    client = await ws(setup.viewer, prefetch=True)
    busy = (await prefetched(client, 3))[setup.busy]
    assert set(busy) >= {
        "Channel",
        "ChannelMessages",
        "ChannelMessagesHasMore",
        "ChannelMemberships",
        "ReadMarkerTimestamp",
    }
    assert busy["Channel"]["ChannelArn"] == setup.busy
    assert busy["Channel"]["Mode"] == "UNRESTRICTED"
    messages = busy["ChannelMessages"]
    # the 20 newest, newest first
    assert [m["MessageId"] for m in messages] == setup.busy_ids[::-1][:20]
    assert busy["ChannelMessagesHasMore"] is True
    for m in messages:
        assert {"MessageId", "Content", "Type", "CreatedTimestamp", "Sender"} <= set(m)
        assert ISO_MS.fullmatch(m["CreatedTimestamp"])
    created = [m["CreatedTimestamp"] for m in messages]
    assert created == sorted(created, reverse=True)
    assert len(busy["ChannelMemberships"]) == 30
    for membership in busy["ChannelMemberships"]:
        assert membership["Member"]["Arn"].startswith(setup.world.app_arn + "/user/")
    # the read marker sits between the 10th and the 11th message
    marker = busy["ReadMarkerTimestamp"]
    assert ISO_MS.fullmatch(marker)
    by_id = {m["MessageId"]: m["CreatedTimestamp"] for m in messages}
    assert marker < by_id[setup.busy_ids[10]]


async def test_targeted_messages_for_others_are_left_out(setup: Setup, ws: Sessions) -> None:
    client = await ws(setup.viewer, prefetch=True)
    details = await prefetched(client, 3)
    item = details[setup.targeted]
    ids = [m["MessageId"] for m in item["ChannelMessages"]]
    assert ids == setup.targeted_ids[::-1]
    assert not set(ids) & set(setup.hidden_ids)
    assert item["ChannelMessagesHasMore"] is False
    assert item["ChannelMessages"][0]["Target"] == [{"MemberArn": setup.viewer}]
    empty = details[setup.quiet_channel]
    assert empty["ChannelMessages"] == []
    assert empty["ChannelMessagesHasMore"] is False
    assert "LastMessageTimestamp" not in empty["Channel"]


async def test_prefetch_then_live_events(setup: Setup, ws: Sessions) -> None:
    """After the prefetch the session is live like any other."""
    client = await ws(setup.viewer, prefetch=True)
    await prefetched(client, 3)
    message_id = await off(setup.world.send, setup.quiet_channel, setup.viewer, "live")
    event = await client.next()
    assert event.type == EventType.CREATE_CHANNEL_MESSAGE
    assert event.payload is not None and event.payload["MessageId"] == message_id
