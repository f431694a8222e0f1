"""Which mutation reaches which session, in which frame (spec §2.5, §2.8), over real sockets.

Every mutation goes through the REST API with boto3; every frame is read by a ``websockets``
client. "Receives nothing" is checked with a sentinel: a later event that the session must
receive, with nothing unexpected before it (a session's frames arrive in the order the server
queued them).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ws_helpers import ISO_MS, Client, Sessions, World, contents, join_all, message_ids, off

from bellwire.events import EventType, MessageType
from bellwire.testing import RunningServer, start_server

E = EventType

MESSAGE_MEMBERS = {
    "ChannelArn",
    "MessageId",
    "Content",
    "Type",
    "CreatedTimestamp",
    "LastUpdatedTimestamp",
    "Sender",
    "Redacted",
    "Persistence",
    "Status",
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(Path(tmp_path_factory.mktemp("gateway-events")), connect_burst=100)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(running: RunningServer) -> World:
    return World.create(running)


@pytest.fixture
async def ws(running: RunningServer) -> AsyncIterator[Sessions]:
    sessions = Sessions(running)
    yield sessions
    await sessions.close_all()


def assert_recent_iso(value: Any) -> None:
    assert isinstance(value, str) and ISO_MS.fullmatch(value), value
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1), value


async def sentinel(world: World, channel: str, sender: str, *clients: Client) -> None:
    """Send a message on ``channel`` and check it is the very next event of every client."""
    text = f"sentinel-{id(clients)}-{datetime.now(UTC).timestamp()}"
    await off(world.send, channel, sender, text)
    for client in clients:
        event = await client.next()
        assert (event.type, event.payload and event.payload.get("Content")) == (
            E.CREATE_CHANNEL_MESSAGE,
            text,
        ), f"{client.user_arn} got {event.type} {event.payload} before the sentinel"


# --- message events ------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["STANDARD", "CONTROL"])
async def test_message_events_reach_every_member_with_the_message_type(
    world: World, ws: Sessions, type_: str
) -> None:
    alice, bob, carol, admin, mod = (world.user() for _ in range(5))
    world.admin(admin)
    channel = world.channel(alice, [bob])
    world.add(channel, carol, alice, "HIDDEN")
    world.messaging.create_channel_moderator(
        ChannelArn=channel, ChannelModeratorArn=mod, ChimeBearer=alice
    )
    members = [await ws(alice), await ws(bob), await ws(carol)]
    outsiders = [await ws(admin), await ws(mod)]

    metadata = {"Metadata": "m1"} if type_ == "STANDARD" else {}  # CONTROL carries none
    first = await off(world.send, channel, alice, "v1", type_, **metadata)
    await off(
        world.messaging.update_channel_message,
        ChannelArn=channel,
        MessageId=first,
        Content="v2",
        ChimeBearer=alice,
    )
    await off(
        world.messaging.redact_channel_message,
        ChannelArn=channel,
        MessageId=first,
        ChimeBearer=alice,
    )
    second = await off(world.send, channel, bob, "bye", type_)
    await off(
        world.messaging.delete_channel_message,
        ChannelArn=channel,
        MessageId=second,
        ChimeBearer=admin,
    )

    expected = [
        (E.CREATE_CHANNEL_MESSAGE, first),
        (E.UPDATE_CHANNEL_MESSAGE, first),
        (E.REDACT_CHANNEL_MESSAGE, first),
        (E.CREATE_CHANNEL_MESSAGE, second),
        (E.DELETE_CHANNEL_MESSAGE, second),
    ]
    frames = []
    for client in members:
        events = await client.until(E.DELETE_CHANNEL_MESSAGE)
        assert [(e.type, e.payload["MessageId"]) for e in events if e.payload] == expected, (
            client.user_arn
        )
        for event in events:
            assert event.message_type == MessageType(type_)
            assert event.reason is None
        frames.append(client.raw[-len(events) :])
    # every member (sender, hidden member) received byte-identical frames
    assert frames[0] == frames[1] == frames[2]

    events = members[1].events[-5:]
    created, updated, redacted, created2, deleted = (e.payload for e in events)
    assert created is not None and updated is not None and redacted is not None
    assert created2 is not None and deleted is not None
    assert set(created) >= MESSAGE_MEMBERS, created
    assert created["ChannelArn"] == channel
    assert created["Content"] == "v1" and created["Type"] == type_
    assert created.get("Metadata") == metadata.get("Metadata")
    assert created["Sender"] == {"Arn": alice, "Name": alice.rsplit("/", 1)[1]}
    assert created["Redacted"] is False and created["Persistence"] == "PERSISTENT"
    assert created["Status"] == {"Value": "SENT"}
    assert_recent_iso(created["CreatedTimestamp"])
    assert_recent_iso(created["LastUpdatedTimestamp"])
    assert updated["Content"] == "v2"
    assert_recent_iso(updated["LastEditedTimestamp"])
    assert updated["CreatedTimestamp"] == created["CreatedTimestamp"]
    assert redacted["Redacted"] is True and "Content" not in redacted
    assert created2["Sender"]["Arn"] == bob
    assert deleted["MessageId"] == second and deleted["Content"] == "bye"

    # the app instance admin and the moderator are not members: nothing at all reached them
    for client in outsiders:
        await client.quiet(0.2)
        assert client.events == [client.events[0]], [e.type for e in client.events]
        assert client.events[0].type == E.SESSION_ESTABLISHED


async def test_payload_is_a_json_string_and_frames_are_text(world: World, ws: Sessions) -> None:
    alice = world.user()
    channel = world.channel(alice)
    client = await ws(alice)
    await off(world.send, channel, alice, 'quote " and \\ and ünïcode', Metadata="meta")
    await client.until(E.CREATE_CHANNEL_MESSAGE)
    raw = client.raw[-1]
    assert isinstance(raw, str), "frames must be text frames"
    envelope = json.loads(raw)
    assert set(envelope) == {"Headers", "Payload"}
    assert envelope["Headers"] == {
        "x-amz-chime-event-type": "CREATE_CHANNEL_MESSAGE",
        "x-amz-chime-message-type": "STANDARD",
    }
    assert isinstance(envelope["Payload"], str)
    payload = json.loads(envelope["Payload"])
    assert payload["Content"] == 'quote " and \\ and ünïcode'
    assert payload["Metadata"] == "meta"
    # SESSION_ESTABLISHED: SYSTEM, no meaningful payload
    established = json.loads(client.raw[0])
    assert established["Headers"]["x-amz-chime-event-type"] == "SESSION_ESTABLISHED"
    assert established["Headers"]["x-amz-chime-message-type"] == "SYSTEM"
    assert not established.get("Payload")


async def test_targeted_message_reaches_only_target_and_sender(world: World, ws: Sessions) -> None:
    alice, bob, carol = world.user(), world.user(), world.user()
    channel = world.channel(alice, [bob, carol])
    a, b, c = await ws(alice), await ws(bob), await ws(carol)
    secret = await off(world.send, channel, alice, "psst", target=bob)
    for client in (a, b):
        event = await client.next()
        assert event.type == E.CREATE_CHANNEL_MESSAGE and event.payload is not None
        assert event.payload["MessageId"] == secret
        assert event.payload["Target"] == [{"MemberArn": bob}]
    await sentinel(world, channel, alice, a, b, c)
    # an update of the targeted message follows the same rule
    await off(
        world.messaging.update_channel_message,
        ChannelArn=channel,
        MessageId=secret,
        Content="psst!",
        ChimeBearer=alice,
    )
    for client in (a, b):
        assert (await client.next()).type == E.UPDATE_CHANNEL_MESSAGE
    await sentinel(world, channel, bob, a, b, c)


async def test_non_persistent_message_reaches_only_connected_members(
    world: World, ws: Sessions
) -> None:
    alice, bob, carol = world.user(), world.user(), world.user()
    channel = world.channel(alice, [bob, carol])
    a, b = await ws(alice), await ws(bob)
    fleeting = await off(world.send, channel, alice, "now or never", persistence="NON_PERSISTENT")
    for client in (a, b):
        event = await client.next()
        assert event.payload is not None
        assert (event.type, event.payload["MessageId"]) == (E.CREATE_CHANNEL_MESSAGE, fleeting)
        assert event.payload["Persistence"] == "NON_PERSISTENT"
    # carol connects afterwards: nothing is replayed to her
    c = await ws(carol)
    await sentinel(world, channel, bob, a, b, c)
    listed = await off(world.messaging.list_channel_messages, ChannelArn=channel, ChimeBearer=carol)
    assert fleeting not in [m["MessageId"] for m in listed["ChannelMessages"]]


async def test_events_of_one_channel_arrive_in_order(world: World, ws: Sessions) -> None:
    senders = [world.user() for _ in range(4)]
    watcher = world.user()
    channel = world.channel(senders[0], [*senders[1:], watcher])
    clients = [await ws(u) for u in [*senders, watcher]]
    per_sender = 15
    clients_by_thread = [world.running.client("chime-sdk-messaging") for _ in senders]

    def burst(index: int) -> None:
        for n in range(per_sender):
            clients_by_thread[index].send_channel_message(
                ChannelArn=channel,
                ChimeBearer=senders[index],
                Content=f"{index}:{n}",
                Type="STANDARD",
                Persistence="PERSISTENT",
            )

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(len(senders))]
    for t in threads:
        t.start()
    await off(join_all, threads)
    orders = []
    for client in clients:
        events = await client.take(per_sender * len(senders))
        texts = contents(events)
        assert len(texts) == per_sender * len(senders)
        for index in range(len(senders)):
            mine = [t for t in texts if t.startswith(f"{index}:")]
            assert mine == [f"{index}:{n}" for n in range(per_sender)]
        orders.append(texts)
    # all sessions saw one and the same order: the channel's sequence
    assert all(order == orders[0] for order in orders)
    listed = await off(
        world.messaging.list_channel_messages,
        ChannelArn=channel,
        ChimeBearer=watcher,
        SortOrder="ASCENDING",
        MaxResults=50,
    )
    rest_order = [m["Content"] for m in listed["ChannelMessages"]]
    assert rest_order == orders[0][:50]


# --- membership events ---------------------------------------------------------------------------


async def test_new_member_open_session_receives_from_its_membership_on(
    world: World, ws: Sessions
) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice)
    a, b = await ws(alice), await ws(bob)
    before = await off(world.send, channel, alice, "before")
    assert message_ids([await a.next()]) == [before]
    await off(world.add, channel, bob, alice)
    for client in (a, b):
        event = await client.next()
        assert event.type == E.CREATE_CHANNEL_MEMBERSHIP and event.payload is not None
        assert event.message_type == MessageType.SYSTEM
        assert event.payload["ChannelArn"] == channel
        assert event.payload["Member"]["Arn"] == bob
        assert event.payload["InvitedBy"]["Arn"] == alice
        assert event.payload["Type"] == "DEFAULT"
        assert_recent_iso(event.payload["CreatedTimestamp"])
    await sentinel(world, channel, alice, a, b)


async def test_batch_create_membership_subscribes_every_added_member(
    world: World, ws: Sessions
) -> None:
    alice, bob, carol, dave = (world.user() for _ in range(4))
    channel = world.channel(alice)
    a, b, c, d = await ws(alice), await ws(bob), await ws(carol), await ws(dave)
    await off(
        world.messaging.batch_create_channel_membership,
        ChannelArn=channel,
        MemberArns=[bob, carol],
        Type="DEFAULT",
        ChimeBearer=alice,
    )
    for client in (a, b, c):
        event = await client.next()
        assert event.type == E.BATCH_CREATE_CHANNEL_MEMBERSHIP and event.payload is not None
        assert event.message_type == MessageType.SYSTEM
        batch = event.payload
        assert batch["ChannelArn"] == channel
        assert batch["InvitedBy"]["Arn"] == alice
        assert batch["Type"] == "DEFAULT"
        assert sorted(m["Arn"] for m in batch["Members"]) == sorted([bob, carol])
    await sentinel(world, channel, carol, a, b, c)
    await d.quiet(0.1)
    assert len(d.events) == 1


@pytest.mark.parametrize("how", ["delete", "ban"])
async def test_removed_member_gets_its_deletion_and_nothing_after(
    world: World, ws: Sessions, how: str
) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    other = world.channel(alice, [bob])  # bob stays here: the sentinel's channel
    a, b = await ws(alice), await ws(bob)
    if how == "delete":
        await off(world.remove, channel, bob, alice)
    else:
        await off(
            world.messaging.create_channel_ban, ChannelArn=channel, MemberArn=bob, ChimeBearer=alice
        )
    for client in (a, b):
        event = await client.next()
        assert event.type == E.DELETE_CHANNEL_MEMBERSHIP and event.payload is not None
        assert event.message_type == MessageType.SYSTEM
        assert event.payload["ChannelArn"] == channel
        assert event.payload["Member"]["Arn"] == bob
    await off(world.send, channel, alice, "after")
    await off(world.messaging.update_channel, ChannelArn=channel, Name="renamed", ChimeBearer=alice)
    assert (await a.next()).type == E.CREATE_CHANNEL_MESSAGE
    assert (await a.next()).type == E.UPDATE_CHANNEL
    await sentinel(world, other, alice, a, b)


async def test_member_leaving_by_itself_gets_its_deletion(world: World, ws: Sessions) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    other = world.channel(alice, [bob])
    a, b = await ws(alice), await ws(bob)
    await off(world.remove, channel, bob, bob)
    for client in (a, b):
        assert (await client.next()).type == E.DELETE_CHANNEL_MEMBERSHIP
    await off(world.send, channel, alice, "after")
    assert (await a.next()).type == E.CREATE_CHANNEL_MESSAGE
    await sentinel(world, other, alice, a, b)


# --- channel events ------------------------------------------------------------------------------


async def test_create_channel_reaches_creator_and_initial_members(
    world: World, ws: Sessions
) -> None:
    alice, bob, carol = world.user(), world.user(), world.user()
    a, b, c = await ws(alice), await ws(bob), await ws(carol)
    channel = await off(world.channel, alice, [bob], "hello-room", Metadata="md")
    for client in (a, b):
        event = await client.next()
        assert event.type == E.CREATE_CHANNEL and event.payload is not None
        assert event.message_type == MessageType.SYSTEM
        assert event.payload["ChannelArn"] == channel
        assert event.payload["Name"] == "hello-room"
        assert event.payload["Metadata"] == "md"
        assert event.payload["CreatedBy"]["Arn"] == alice
        assert_recent_iso(event.payload["CreatedTimestamp"])
    # and the initial members are subscribed from there on
    await sentinel(world, channel, bob, a, b)
    await c.quiet(0.1)
    assert len(c.events) == 1


async def test_update_channel_reaches_members(world: World, ws: Sessions) -> None:
    alice, bob, carol = world.user(), world.user(), world.user()
    channel = world.channel(alice, [bob])
    a, b, c = await ws(alice), await ws(bob), await ws(carol)
    await off(
        world.messaging.update_channel,
        ChannelArn=channel,
        Name="new name",
        Metadata="new md",
        ChimeBearer=alice,
    )
    for client in (a, b):
        event = await client.next()
        assert event.type == E.UPDATE_CHANNEL and event.payload is not None
        assert event.message_type == MessageType.SYSTEM
        assert event.payload["ChannelArn"] == channel
        assert event.payload["Name"] == "new name"
        assert event.payload["Metadata"] == "new md"
        assert_recent_iso(event.payload["LastUpdatedTimestamp"])
    await c.quiet(0.1)
    assert len(c.events) == 1


async def test_delete_channel_reaches_members_then_nothing_more(world: World, ws: Sessions) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob], ChannelId="doomed")
    other = world.channel(alice, [bob])
    a, b = await ws(alice), await ws(bob)
    await off(world.messaging.delete_channel, ChannelArn=channel, ChimeBearer=alice)
    for client in (a, b):
        event = await client.next()
        assert event.type == E.DELETE_CHANNEL and event.payload is not None
        assert event.message_type == MessageType.SYSTEM
        assert event.payload["ChannelArn"] == channel
    # A channel re-created with the same ARN without bob: his session must not be subscribed.
    again = await off(world.channel, alice, (), None, ChannelId="doomed")
    assert again == channel
    assert (await a.next()).type == E.CREATE_CHANNEL
    await off(world.send, channel, alice, "new life")
    assert (await a.next()).type == E.CREATE_CHANNEL_MESSAGE
    await sentinel(world, other, alice, a, b)


async def test_deleting_a_user_closes_its_sessions_and_tells_the_members(
    world: World, ws: Sessions
) -> None:
    alice, bob = world.user(), world.user()
    one = world.channel(alice, [bob])
    two = world.channel(bob, [alice])
    a, b1, b2 = await ws(alice), await ws(bob), await ws(bob)
    await off(world.delete_user, bob)
    assert await b1.closed_with() == 4003
    assert await b2.closed_with() == 4003
    events = await a.take(2)
    assert sorted(e.type for e in events) == [E.DELETE_CHANNEL_MEMBERSHIP] * 2
    assert {e.payload["ChannelArn"] for e in events if e.payload} == {one, two}
    assert {e.payload["Member"]["Arn"] for e in events if e.payload} == {bob}
    await sentinel(world, one, alice, a)


# --- several sessions ----------------------------------------------------------------------------


async def test_every_session_of_a_user_receives_every_event(world: World, ws: Sessions) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    sessions = [await ws(bob) for _ in range(3)]
    await off(world.send, channel, alice, "one")
    await off(world.messaging.update_channel, ChannelArn=channel, Name="x", ChimeBearer=alice)
    await off(world.send, channel, alice, "two", "CONTROL")
    for client in sessions:
        events = await client.take(3)
        assert [e.type for e in events] == [
            E.CREATE_CHANNEL_MESSAGE,
            E.UPDATE_CHANNEL,
            E.CREATE_CHANNEL_MESSAGE,
        ]
        assert contents(events) == ["one", "two"]
    # closing one of them does not disturb the others
    await sessions[0].close()
    await sentinel(world, channel, alice, *sessions[1:])


async def test_session_established_is_followed_by_live_events(world: World, ws: Sessions) -> None:
    """Events sent right after SESSION_ESTABLISHED are delivered (the documented guarantee)."""
    alice = world.user()
    channel = world.channel(alice)
    clients = await asyncio.gather(*(ws(alice) for _ in range(5)))
    await off(world.send, channel, alice, "first")
    for client in clients:
        assert contents([await client.next()]) == ["first"]


async def test_membership_changes_racing_the_connect_are_not_lost(
    world: World, ws: Sessions
) -> None:
    """A membership created or deleted while a session is connecting (between its register and
    its store snapshot) still decides what the established session receives. A race: each
    round has a chance to hit the window, so there are many rounds."""
    alice, bob = world.user(), world.user()
    anchor = world.channel(alice, [bob])
    for _ in range(25):
        join, leave = world.channel(alice), world.channel(alice, [bob])
        connecting = asyncio.ensure_future(ws(bob))
        await asyncio.gather(
            connecting,
            off(world.add, join, bob, alice),
            off(world.remove, leave, bob, alice),
        )
        client = connecting.result()
        for channel in (join, leave):
            await off(world.send, channel, alice, channel)
        await off(world.send, anchor, alice, "anchor")
        events = await client.until(
            lambda e: bool(e.payload) and e.payload.get("Content") == "anchor"
        )
        texts = contents(events)
        assert join in texts, "a membership made while connecting was lost"
        assert leave not in texts, "a membership deleted while connecting still delivers"
        await client.close()
