"""Elastic channels (spec §7, the elastic rows of §2.8) over real sockets: boto3 for the REST
side, a ``websockets`` client for what members and moderators receive.

The scenario channel has TargetMembershipsPerSubChannel 4, MaximumSubChannels 3 and
MinimumMembershipPercentage 40 (SCALE_IN below ceil(1.6) = 2 members), so a handful of members
exercise SCALE_OUT and SCALE_IN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sinks_helpers import wait_for
from store_engines import stored_messages
from ws_helpers import Client, Sessions, World, off

from bellwire.events import EventType
from bellwire.testing import RunningServer, start_server

E = EventType
CONFIG = {
    "MaximumSubChannels": 3,
    "TargetMembershipsPerSubChannel": 4,
    "MinimumMembershipPercentage": 40,
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(Path(tmp_path_factory.mktemp("elastic")), connect_burst=100)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(running: RunningServer) -> World:
    return World.create(running, "elastic")


@pytest.fixture
async def ws(running: RunningServer) -> AsyncIterator[Sessions]:
    sessions = Sessions(running)
    yield sessions
    await sessions.close_all()


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response: Any = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def elastic(world: World, creator: str, **kw: Any) -> str:
    kw.setdefault("ElasticChannelConfiguration", CONFIG)
    return world.channel(creator, **kw)


def subs(world: World, channel: str, bearer: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = world.messaging.list_sub_channels(
        ChannelArn=channel, ChimeBearer=bearer
    )["SubChannels"]
    return out


def where(world: World, channel: str, member: str, bearer: str) -> str:
    m = world.messaging.describe_channel_membership(
        ChannelArn=channel, MemberArn=member, ChimeBearer=bearer
    )["ChannelMembership"]
    sub: str = m["SubChannelId"]
    return sub


def send(world: World, channel: str, sender: str, sub: str, content: str) -> str:
    return world.send(channel, sender, content, SubChannelId=sub)


def split(world: World) -> tuple[str, str, list[str], str, str]:
    """A moderator's elastic channel whose five members made it SCALE_OUT: the moderator, the
    channel, the members (the first three in the first sub-channel, the last two in the
    second) and the two SubChannelIds."""
    mod = world.user()
    channel = elastic(world, mod)
    members = [world.user() for _ in range(5)]
    for member in members:
        world.add(channel, member, mod)
    s0, s1 = [s["SubChannelId"] for s in subs(world, channel, mod)]
    return mod, channel, members, s0, s1


# --- creation ------------------------------------------------------------------------------------


def test_an_elastic_channel_is_restricted_its_creator_a_moderator_only(world: World) -> None:
    mod = world.user()
    channel = elastic(world, mod, ModeratorArns=[world.user()])
    c = world.messaging.describe_channel(ChannelArn=channel, ChimeBearer=mod)["Channel"]
    assert c["ElasticChannelConfiguration"] == CONFIG
    assert c["Mode"] == "RESTRICTED"
    moderators = world.messaging.list_channel_moderators(ChannelArn=channel, ChimeBearer=mod)
    assert mod in {m["Moderator"]["Arn"] for m in moderators["ChannelModerators"]}
    with pytest.raises(ClientError) as caught:
        world.messaging.describe_channel_membership(
            ChannelArn=channel, MemberArn=mod, ChimeBearer=mod
        )
    assert error_of(caught) == (404, "NotFoundException")
    # It starts with one empty sub-channel, for moderators to join.
    [first] = subs(world, channel, mod)
    assert first["MembershipCount"] == 0 and first["SubChannelId"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"Mode": "UNRESTRICTED"}, "Elastic channels must be RESTRICTED"),
        ({"MemberArns": ["MEMBER"]}, "MemberArns cannot be given"),
        (
            {"ElasticChannelConfiguration": {**CONFIG, "MaximumSubChannels": 101}},
            "at most 100 sub-channels",
        ),
        (
            {
                "ElasticChannelConfiguration": {
                    **CONFIG,
                    "MaximumSubChannels": 100,
                    "TargetMembershipsPerSubChannel": 10_001,
                }
            },
            "at most 1000000 memberships",
        ),
    ],
)
def test_creation_rules(world: World, extra: dict[str, Any], expected: str) -> None:
    creator = world.user()
    if "MemberArns" in extra:
        extra = {"MemberArns": [world.user()]}
    with pytest.raises(ClientError) as caught:
        elastic(world, creator, **extra)
    assert error_of(caught) == (400, "BadRequestException")
    assert expected in caught.value.response["Error"]["Message"]


def test_the_app_instance_quota_of_elastic_channels(world: World) -> None:
    creator = world.user()
    first = elastic(world, creator, name="e", ClientRequestToken="elastic-1")
    again = elastic(world, creator, name="e", ClientRequestToken="elastic-1")
    assert again == first  # a retry is answered, not counted as a second elastic channel
    with pytest.raises(ClientError) as caught:
        elastic(world, creator)
    assert error_of(caught) == (400, "ResourceLimitExceededException")
    world.channel(creator)  # regular channels are not counted


def test_the_configuration_cannot_change_nor_the_mode(world: World) -> None:
    mod = world.user()
    channel = elastic(world, mod)
    with pytest.raises(ClientError) as caught:
        world.messaging.update_channel(
            ChannelArn=channel, Name="x", Mode="UNRESTRICTED", ChimeBearer=mod
        )
    assert error_of(caught) == (400, "BadRequestException")
    world.messaging.update_channel(ChannelArn=channel, Name="renamed", ChimeBearer=mod)
    c = world.messaging.describe_channel(ChannelArn=channel, ChimeBearer=mod)["Channel"]
    assert (c["Name"], c["ElasticChannelConfiguration"]) == ("renamed", CONFIG)


# --- memberships ---------------------------------------------------------------------------------


def test_sub_channel_rules_of_memberships(world: World) -> None:
    mod, member = world.user(), world.user()
    channel = elastic(world, mod)
    [first] = subs(world, channel, mod)
    sub = first["SubChannelId"]
    m = world.messaging
    with pytest.raises(ClientError) as caught:  # the service chooses a member's sub-channel
        m.create_channel_membership(
            ChannelArn=channel, MemberArn=member, Type="DEFAULT", ChimeBearer=mod, SubChannelId=sub
        )
    assert error_of(caught) == (400, "BadRequestException")
    with pytest.raises(ClientError) as caught:  # a moderator names one
        world.add(channel, mod, mod)
    assert error_of(caught) == (400, "BadRequestException")
    with pytest.raises(ClientError) as caught:
        world.add(channel, member, mod, "HIDDEN")
    assert error_of(caught) == (400, "BadRequestException")
    with pytest.raises(ClientError) as caught:  # RESTRICTED: members do not add themselves
        world.add(channel, member, member)
    assert error_of(caught) == (403, "ForbiddenException")
    m.create_channel_membership(
        ChannelArn=channel, MemberArn=mod, Type="DEFAULT", ChimeBearer=mod, SubChannelId=sub
    )
    world.add(channel, member, mod)
    assert where(world, channel, member, mod) == sub
    assert subs(world, channel, mod) == [{"SubChannelId": sub, "MembershipCount": 2}]
    with pytest.raises(ClientError) as caught:
        world.add(channel, member, mod)
    assert error_of(caught) == (409, "ConflictException")
    with pytest.raises(ClientError) as caught:
        m.delete_channel_membership(
            ChannelArn=channel, MemberArn=member, ChimeBearer=mod, SubChannelId=sub
        )
    assert error_of(caught) == (400, "BadRequestException")
    listed = m.list_channel_memberships(ChannelArn=channel, ChimeBearer=member, SubChannelId=sub)
    assert {x["Member"]["Arn"] for x in listed["ChannelMemberships"]} == {mod, member}
    mine = m.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=member, ChimeBearer=member
    )["ChannelMemberships"]
    assert mine[0]["AppInstanceUserMembershipSummary"]["SubChannelId"] == sub


def test_what_elastic_channels_do_not_have(world: World) -> None:
    mod, member = world.user(), world.user()
    channel = elastic(world, mod)
    world.add(channel, member, mod)
    m = world.messaging
    with pytest.raises(ClientError) as caught:
        m.update_channel_read_marker(ChannelArn=channel, ChimeBearer=member)
    assert error_of(caught) == (403, "ForbiddenException")
    with pytest.raises(ClientError) as caught:
        m.get_channel_membership_preferences(
            ChannelArn=channel, MemberArn=member, ChimeBearer=member
        )
    assert error_of(caught) == (400, "BadRequestException")
    with pytest.raises(ClientError) as caught:
        m.describe_channel_moderated_by_app_instance_user(
            ChannelArn=channel, AppInstanceUserArn=mod, ChimeBearer=mod
        )
    assert error_of(caught) == (400, "BadRequestException")
    with pytest.raises(ClientError) as caught:  # rosters of every sub-channel: moderators only
        m.list_channel_memberships(ChannelArn=channel, ChimeBearer=member)
    assert error_of(caught) == (403, "ForbiddenException")
    with pytest.raises(ClientError) as caught:  # ListSubChannels: moderators and admins
        m.list_sub_channels(ChannelArn=channel, ChimeBearer=member)
    assert error_of(caught) == (403, "ForbiddenException")


def test_sub_channel_ids_only_on_elastic_channels(world: World) -> None:
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    with pytest.raises(ClientError) as caught:
        world.send(channel, alice, "x", SubChannelId="abc")
    assert error_of(caught) == (400, "BadRequestException")
    assert "only to elastic channels" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        world.messaging.list_sub_channels(ChannelArn=channel, ChimeBearer=alice)
    assert error_of(caught) == (400, "BadRequestException")


# --- balancing and per sub-channel messages ---------------------------------------------------


def test_scale_out_scale_in_and_messages_per_sub_channel(world: World) -> None:
    mod = world.user()
    channel = elastic(world, mod)
    members = [world.user() for _ in range(5)]
    for member in members[:4]:
        world.add(channel, member, mod)
    [s0] = [s["SubChannelId"] for s in subs(world, channel, mod)]
    world.add(channel, members[4], mod)  # all full: SCALE_OUT
    listed = subs(world, channel, mod)
    assert [s["MembershipCount"] for s in listed] == [3, 2]
    s1 = listed[1]["SubChannelId"]
    # The newest member of the full sub-channel moved, and the joiner went to the new one.
    assert [where(world, channel, m, mod) for m in members] == [s0, s0, s0, s1, s1]

    hello = send(world, channel, members[0], s0, "in s0")
    m = world.messaging
    with pytest.raises(ClientError) as caught:  # messages need their sub-channel
        world.send(channel, members[0], "nowhere")
    assert error_of(caught) == (400, "BadRequestException")
    with pytest.raises(ClientError) as caught:  # not a member of s1
        send(world, channel, members[0], s1, "elsewhere")
    assert error_of(caught) == (403, "ForbiddenException")
    with pytest.raises(ClientError) as caught:  # never seen from another sub-channel
        m.get_channel_message(ChannelArn=channel, MessageId=hello, ChimeBearer=mod, SubChannelId=s1)
    assert error_of(caught) == (404, "NotFoundException")
    with pytest.raises(ClientError) as caught:
        m.list_channel_messages(ChannelArn=channel, ChimeBearer=members[4], SubChannelId=s0)
    assert error_of(caught) == (403, "ForbiddenException")
    # Moderators read every sub-channel.
    seen = m.list_channel_messages(ChannelArn=channel, ChimeBearer=mod, SubChannelId=s0)
    assert seen["SubChannelId"] == s0
    assert [x["MessageId"] for x in seen["ChannelMessages"]] == [hello]
    assert (
        m.list_channel_messages(ChannelArn=channel, ChimeBearer=mod, SubChannelId=s1)[
            "ChannelMessages"
        ]
        == []
    )
    got = m.get_channel_message(
        ChannelArn=channel, MessageId=hello, ChimeBearer=members[1], SubChannelId=s0
    )["ChannelMessage"]
    assert (got["Content"], got["SubChannelId"]) == ("in s0", s0)
    m.update_channel_message(
        ChannelArn=channel,
        MessageId=hello,
        Content="edited",
        ChimeBearer=members[0],
        SubChannelId=s0,
    )
    gone = send(world, channel, members[4], s1, "in s1")

    # SCALE_IN: s1 falls below 2 and s0 (2 after a leave) can take its last member.
    world.remove(channel, members[0], mod)
    world.remove(channel, members[4], mod)
    listed = subs(world, channel, mod)
    assert listed == [{"SubChannelId": s0, "MembershipCount": 3}]
    assert where(world, channel, members[3], mod) == s0
    with pytest.raises(ClientError) as caught:  # deleted with its messages
        m.get_channel_message(ChannelArn=channel, MessageId=gone, ChimeBearer=mod, SubChannelId=s1)
    assert error_of(caught) == (404, "NotFoundException")
    # The sender, moved out of s1, edits only where it is now.
    with pytest.raises(ClientError) as caught:
        m.update_channel_message(
            ChannelArn=channel,
            MessageId=hello,
            Content="x",
            ChimeBearer=members[3],
            SubChannelId=s0,
        )
    assert error_of(caught) == (403, "ForbiddenException")


def test_an_emptied_sub_channels_messages_are_purged_after_the_leave(
    running: RunningServer, world: World
) -> None:
    mod, channel, members, s0, s1 = split(world)
    kept = [send(world, channel, members[0], s0, f"s0 {i}") for i in range(3)]
    for i in range(30):
        send(world, channel, members[4], s1, f"s1 {i}")

    def stored(sub: str) -> int:
        found = running.run(running.server.store.read(lambda tx: stored_messages(tx, channel, sub)))
        return len(found)

    assert stored(s1) == 30
    world.remove(channel, members[0], mod)
    # A ban is a leave too: s1 falls below its minimum and merges into s0. The ban answers
    # before the purge; the purge, woken by its commit, deletes s1's messages.
    world.messaging.create_channel_ban(ChannelArn=channel, MemberArn=members[4], ChimeBearer=mod)
    assert [s["SubChannelId"] for s in subs(world, channel, mod)] == [s0]
    wait_for(lambda: stored(s1) == 0, what="the emptied sub-channel's purge")
    listed = world.messaging.list_channel_messages(
        ChannelArn=channel, ChimeBearer=members[3], SubChannelId=s0
    )["ChannelMessages"]
    assert sorted(m["MessageId"] for m in listed) == sorted(kept)


def test_a_deleted_channels_memberships_are_purged_after_the_answer(
    running: RunningServer, world: World
) -> None:
    mod, channel, members, _, _ = split(world)

    def stored() -> int:
        read = running.server.store.read(lambda tx: tx.member_summaries(channel, "DEFAULT", 100))
        return len(running.run(read))

    assert stored() == 5
    world.messaging.delete_channel(ChannelArn=channel, ChimeBearer=mod)
    # No member's listing names the channel, whether or not the purge has run yet.
    listed = world.messaging.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=members[0], ChimeBearer=members[0]
    )["ChannelMemberships"]
    assert channel not in [m["ChannelSummary"]["ChannelArn"] for m in listed]
    wait_for(lambda: stored() == 0, what="the deleted channel's memberships' purge")


def test_a_full_channel_at_its_maximum_refuses_the_next_member(world: World) -> None:
    mod = world.user()
    small = {
        "MaximumSubChannels": 2,
        "TargetMembershipsPerSubChannel": 2,
        "MinimumMembershipPercentage": 10,
    }
    channel = elastic(world, mod, ElasticChannelConfiguration=small)
    for _ in range(4):
        world.add(channel, world.user(), mod)
    with pytest.raises(ClientError) as caught:
        world.add(channel, world.user(), mod)
    assert error_of(caught) == (400, "ResourceLimitExceededException")
    assert [s["MembershipCount"] for s in subs(world, channel, mod)] == [2, 2]


def test_promotion_demotion_and_bans_end_every_membership(world: World) -> None:
    mod, a, b = world.user(), world.user(), world.user()
    channel = elastic(world, mod)
    world.add(channel, a, mod)
    world.add(channel, b, mod)
    m = world.messaging
    m.create_channel_moderator(ChannelArn=channel, ChannelModeratorArn=a, ChimeBearer=mod)
    assert subs(world, channel, mod)[0]["MembershipCount"] == 1
    [s0] = [s["SubChannelId"] for s in subs(world, channel, mod)]
    m.create_channel_membership(
        ChannelArn=channel, MemberArn=a, Type="DEFAULT", ChimeBearer=mod, SubChannelId=s0
    )
    m.delete_channel_moderator(ChannelArn=channel, ChannelModeratorArn=a, ChimeBearer=mod)
    with pytest.raises(ClientError) as caught:
        where(world, channel, a, mod)
    assert error_of(caught) == (404, "NotFoundException")
    m.create_channel_ban(ChannelArn=channel, MemberArn=b, ChimeBearer=mod)
    assert subs(world, channel, mod)[0]["MembershipCount"] == 0
    with pytest.raises(ClientError) as caught:
        world.add(channel, b, mod)
    assert error_of(caught) == (403, "ForbiddenException")


def test_a_moderator_in_several_sub_channels(world: World) -> None:
    mod = world.user()
    channel = elastic(world, mod)
    for _ in range(5):
        world.add(channel, world.user(), mod)
    s0, s1 = [s["SubChannelId"] for s in subs(world, channel, mod)]
    m = world.messaging
    for sub in (s0, s1):
        m.create_channel_membership(
            ChannelArn=channel, MemberArn=mod, Type="DEFAULT", ChimeBearer=mod, SubChannelId=sub
        )
    assert [s["MembershipCount"] for s in subs(world, channel, mod)] == [4, 3]
    mine = m.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=mod, ChimeBearer=mod
    )["ChannelMemberships"]
    assert [x["ChannelSummary"]["ChannelArn"] for x in mine] == [channel]  # listed once
    roster = m.list_channel_memberships(ChannelArn=channel, ChimeBearer=mod)["ChannelMemberships"]
    assert len(roster) == 6 and len({x["Member"]["Arn"] for x in roster}) == 6
    m.delete_channel_membership(ChannelArn=channel, MemberArn=mod, ChimeBearer=mod, SubChannelId=s1)
    assert where(world, channel, mod, mod) == s0
    m.create_channel_membership(
        ChannelArn=channel, MemberArn=mod, Type="DEFAULT", ChimeBearer=mod, SubChannelId=s1
    )
    m.delete_channel_membership(ChannelArn=channel, MemberArn=mod, ChimeBearer=mod)  # all
    assert [s["MembershipCount"] for s in subs(world, channel, mod)] == [3, 2]


# --- events --------------------------------------------------------------------------------------


async def events_of(client: Client, count: int) -> list[tuple[str, Any, Any]]:
    got = await client.take(count)
    return [(e.type, e.payload and e.payload.get("SubChannelId"), e.reason) for e in got]


async def test_events_as_members_and_moderators_see_them(world: World, ws: Sessions) -> None:
    mod = world.user()
    channel = await off(elastic, world, mod)
    users = [await off(world.user) for _ in range(5)]
    [s0] = [s["SubChannelId"] for s in await off(subs, world, channel, mod)]
    clients = [await ws(u) for u in users]
    moderator = await ws(mod)
    m = world.messaging
    await off(
        m.create_channel_membership,
        ChannelArn=channel,
        MemberArn=mod,
        Type="DEFAULT",
        ChimeBearer=mod,
        SubChannelId=s0,
    )
    assert await events_of(moderator, 1) == [(E.CREATE_CHANNEL_MEMBERSHIP, s0, None)]
    for u in users[:4]:
        await off(world.add, channel, u, mod)
    await moderator.take(4)
    for i, client in enumerate(clients[:4]):
        kinds = [e.type for e in await client.take(4 - i)]
        assert kinds == [E.CREATE_CHANNEL_MEMBERSHIP] * (4 - i)

    # SCALE_OUT: the moved member alone hears UPDATE_CHANNEL_MEMBERSHIP, then its new
    # sub-channel's events; the old sub-channel's members do not hear the joiner.
    await off(world.add, channel, users[4], mod)
    s1 = await off(where, world, channel, users[4], mod)
    assert s1 != s0
    moved = await clients[3].take(2)
    assert [(e.type, e.payload["SubChannelId"]) for e in moved] == [
        (E.UPDATE_CHANNEL_MEMBERSHIP, s1),
        (E.CREATE_CHANNEL_MEMBERSHIP, s1),
    ]
    assert moved[0].payload["Member"]["Arn"] == users[3]
    assert await events_of(clients[4], 1) == [(E.CREATE_CHANNEL_MEMBERSHIP, s1, None)]

    # A message reaches its sub-channel only; the sentinel in s1 is the next event there.
    await off(send, world, channel, users[0], s0, "for s0")
    for client in (*clients[:3], moderator):
        e = await client.next()
        assert (e.type, e.payload["Content"], e.payload["SubChannelId"]) == (
            E.CREATE_CHANNEL_MESSAGE,
            "for s0",
            s0,
        )
    await off(send, world, channel, users[4], s1, "for s1")
    for client in clients[3:]:
        e = await client.next()
        assert (e.type, e.payload["Content"]) == (E.CREATE_CHANNEL_MESSAGE, "for s1")

    # The moderator joins s1 too; SCALE_IN then deletes s1 under it.
    await off(
        m.create_channel_membership,
        ChannelArn=channel,
        MemberArn=mod,
        Type="DEFAULT",
        ChimeBearer=mod,
        SubChannelId=s1,
    )
    assert await events_of(moderator, 1) == [(E.CREATE_CHANNEL_MEMBERSHIP, s1, None)]
    await clients[3].take(1)
    await clients[4].take(1)
    await off(world.remove, channel, users[0], mod)  # s0 keeps 2 (the minimum)
    await moderator.take(1)
    for client in clients[:3]:
        assert (await client.next()).type == E.DELETE_CHANNEL_MEMBERSHIP
    await off(world.remove, channel, users[4], mod)  # s1 keeps 1: merged into s0
    assert await events_of(clients[4], 1) == [(E.DELETE_CHANNEL_MEMBERSHIP, s1, None)]
    assert await events_of(clients[3], 2) == [
        (E.DELETE_CHANNEL_MEMBERSHIP, s1, None),
        (E.UPDATE_CHANNEL_MEMBERSHIP, s0, None),
    ]
    assert await events_of(moderator, 2) == [
        (E.DELETE_CHANNEL_MEMBERSHIP, s1, None),
        (E.DELETE_CHANNEL_MEMBERSHIP, s1, "subchannel_DELETED"),
    ]
    # The moved member now receives s0's messages, and nothing of s1 remains.
    await off(send, world, channel, users[1], s0, "after the merge")
    for client in (clients[1], clients[2], clients[3], moderator):
        e = await client.next()
        assert (e.type, e.payload["Content"]) == (E.CREATE_CHANNEL_MESSAGE, "after the merge")
    await clients[0].quiet()
    await clients[4].quiet()

    # Channel-wide events reach every sub-channel; a batch add is one CREATE per member.
    await off(m.update_channel, ChannelArn=channel, Name="renamed", ChimeBearer=mod)
    for client in (clients[1], clients[2], clients[3], moderator):
        assert (await client.next()).type == E.UPDATE_CHANNEL
    newcomers = [await off(world.user) for _ in range(2)]
    joining = [await ws(u) for u in newcomers]
    await off(
        m.batch_create_channel_membership,
        ChannelArn=channel,
        MemberArns=newcomers,
        ChimeBearer=mod,
    )
    # The first newcomer fills s0; the second scales out, taking the first along (to a
    # sub-channel the moderator is not in): one CREATE each, never BATCH_CREATE.
    s2 = await off(where, world, channel, newcomers[1], mod)
    assert s2 not in (s0, s1)
    first = await moderator.next()
    assert (first.type, first.payload["Member"]["Arn"]) == (
        E.CREATE_CHANNEL_MEMBERSHIP,
        newcomers[0],
    )
    assert await events_of(joining[0], 3) == [
        (E.CREATE_CHANNEL_MEMBERSHIP, s0, None),
        (E.UPDATE_CHANNEL_MEMBERSHIP, s2, None),
        (E.CREATE_CHANNEL_MEMBERSHIP, s2, None),
    ]
    assert await events_of(joining[1], 1) == [(E.CREATE_CHANNEL_MEMBERSHIP, s2, None)]
    await moderator.quiet()


async def test_prefetch_shows_the_sub_channel(world: World, ws: Sessions) -> None:
    _, channel, users, s0, s1 = split(world)
    send(world, channel, users[0], s0, "zero")
    send(world, channel, users[4], s1, "one")
    client = await ws(users[4], prefetch=True)
    details = await client.next()
    assert details.type == E.CHANNEL_DETAILS
    payload = details.payload
    assert payload is not None and payload["Channel"]["ChannelArn"] == channel
    assert [x["Content"] for x in payload["ChannelMessages"]] == ["one"]
    assert {x["Member"]["Arn"] for x in payload["ChannelMemberships"]} == {users[3], users[4]}


def test_status_and_deletion_of_a_message_in_a_sub_channel(world: World) -> None:
    mod, member, admin = world.user(), world.user(), world.user()
    world.admin(admin)
    channel = elastic(world, mod)
    world.add(channel, member, mod)
    sub = where(world, channel, member, mod)
    message_id = send(world, channel, member, sub, "short-lived")
    m = world.messaging
    status = m.get_channel_message_status(
        ChannelArn=channel, MessageId=message_id, ChimeBearer=member, SubChannelId=sub
    )["Status"]
    assert status["Value"] == "SENT"
    with pytest.raises(ClientError) as caught:  # the sub-channel is part of the message's name
        m.get_channel_message_status(ChannelArn=channel, MessageId=message_id, ChimeBearer=member)
    assert error_of(caught) == (400, "BadRequestException")
    with pytest.raises(ClientError) as caught:
        m.delete_channel_message(
            ChannelArn=channel, MessageId=message_id, ChimeBearer=admin, SubChannelId="nope"
        )
    assert error_of(caught) == (404, "NotFoundException")
    m.delete_channel_message(
        ChannelArn=channel, MessageId=message_id, ChimeBearer=admin, SubChannelId=sub
    )
    listed = m.list_channel_messages(ChannelArn=channel, ChimeBearer=member, SubChannelId=sub)
    assert listed["ChannelMessages"] == []
