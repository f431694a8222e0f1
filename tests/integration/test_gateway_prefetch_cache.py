"""CHANNEL_DETAILS rendered once per channel version and shared by its members' connects.

Each test warms the cache with one member's connect, changes something through the REST API,
and checks that the next connect sees the change: the cache must never show an old version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from ws_helpers import Sessions, World, off

from bellwire.events import EventType
from bellwire.testing import RunningServer


@pytest.fixture
async def ws(server: RunningServer) -> AsyncIterator[Sessions]:
    sessions = Sessions(server)
    yield sessions
    await sessions.close_all()


@pytest.fixture
def world(server: RunningServer) -> World:
    return World.create(server, "cache")


async def details(ws: Sessions, user: str) -> dict[str, Any]:
    """The one CHANNEL_DETAILS payload a member of exactly one channel gets on connect."""
    client = await ws(user, prefetch=True)
    (event,) = await client.take(1)
    assert event.type == EventType.CHANNEL_DETAILS and event.payload is not None
    await client.close()
    return dict(event.payload)


def members(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["Member"]["Arn"]: m for m in payload["ChannelMemberships"]}


async def test_members_share_the_rendering_but_each_gets_its_read_marker(
    world: World, ws: Sessions
) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    world.send(channel, alice, "hi")
    await off(world.messaging.update_channel_read_marker, ChannelArn=channel, ChimeBearer=bob)
    of_alice, of_bob = await details(ws, alice), await details(ws, bob)
    assert of_alice["ReadMarkerTimestamp"] is None
    assert of_bob["ReadMarkerTimestamp"] is not None
    assert of_bob["ReadMarkerTimestamp"] == members(of_alice)[bob]["ReadMarkerTimestamp"]
    del of_alice["ReadMarkerTimestamp"], of_bob["ReadMarkerTimestamp"]
    assert of_alice == of_bob


async def test_a_new_message_shows(world: World, ws: Sessions) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    world.send(channel, alice, "first")
    assert [m["Content"] for m in (await details(ws, alice))["ChannelMessages"]] == ["first"]
    world.send(channel, bob, "second")
    shown = (await details(ws, alice))["ChannelMessages"]
    assert [m["Content"] for m in shown] == ["second", "first"]


async def test_an_edit_shows(world: World, ws: Sessions) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    message_id = world.send(channel, alice, "draft")
    await details(ws, bob)
    await off(
        world.messaging.update_channel_message,
        ChannelArn=channel,
        MessageId=message_id,
        Content="final",
        ChimeBearer=alice,
    )
    assert [m["Content"] for m in (await details(ws, bob))["ChannelMessages"]] == ["final"]


async def test_a_renamed_member_shows_with_the_new_name(world: World, ws: Sessions) -> None:
    alice, bob = world.user(), world.user(name="Bob")
    channel = world.channel(alice, [bob])
    assert members(await details(ws, alice))[bob]["Member"]["Name"] == "Bob"
    await off(
        world.identity.update_app_instance_user, AppInstanceUserArn=bob, Name="Robert", Metadata=""
    )
    assert members(await details(ws, alice))[bob]["Member"]["Name"] == "Robert"
    assert channel  # the channel itself did not change: no event announced the rename


async def test_another_members_read_marker_shows(world: World, ws: Sessions) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    world.send(channel, alice, "hi")
    assert "ReadMarkerTimestamp" not in members(await details(ws, alice))[bob]
    await off(world.messaging.update_channel_read_marker, ChannelArn=channel, ChimeBearer=bob)
    assert "ReadMarkerTimestamp" in members(await details(ws, alice))[bob]


async def test_joining_and_leaving_members_show(world: World, ws: Sessions) -> None:
    alice, bob, carol = world.user(), world.user(), world.user()
    channel = world.channel(alice, [bob])
    assert set(members(await details(ws, alice))) == {alice, bob}
    await off(world.add, channel, carol, alice)
    assert set(members(await details(ws, alice))) == {alice, bob, carol}
    await off(world.remove, channel, bob, alice)
    assert set(members(await details(ws, alice))) == {alice, carol}
    await off(world.delete_user, carol)
    assert set(members(await details(ws, alice))) == {alice}


async def test_a_renamed_channel_shows(world: World, ws: Sessions) -> None:
    alice = world.user()
    channel = world.channel(alice, name="before")
    assert (await details(ws, alice))["Channel"]["Name"] == "before"
    await off(world.messaging.update_channel, ChannelArn=channel, Name="after", ChimeBearer=alice)
    assert (await details(ws, alice))["Channel"]["Name"] == "after"


async def test_targeted_messages_are_rendered_for_each_reader(world: World, ws: Sessions) -> None:
    alice, bob, carol = world.user(), world.user(), world.user()
    channel = world.channel(alice, [bob, carol])
    world.send(channel, alice, "for everyone")
    await details(ws, carol)  # warm, before anything is targeted
    world.send(channel, alice, "for bob", target=bob)
    for_bob = [m["Content"] for m in (await details(ws, bob))["ChannelMessages"]]
    for_carol = [m["Content"] for m in (await details(ws, carol))["ChannelMessages"]]
    assert for_bob == ["for bob", "for everyone"]
    assert for_carol == ["for everyone"]
