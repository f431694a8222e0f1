"""Balancing through the store: random joins and leaves of an elastic channel, run as the server
runs them (each one unit of work in the SQLite store), against the invariants of balancing and
of the store's counts. What the pure module decides is tested in test_elastic.py; here, that
the operations apply it completely and consistently (counts, memberships, events).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from store_engines import Engine, stored_messages

from bellwire.aws.errors import ResourceLimitExceeded
from bellwire.domain import channels, export, identity, messages, sub_channels
from bellwire.domain.delivery import ChannelEvent, SubChannelChange, SubChannelEvent
from bellwire.domain.elastic import minimum_members
from bellwire.domain.operation import Call, Result
from bellwire.events import EventType
from bellwire.records.chime import ElasticConfiguration, route_key
from bellwire.store.base import Store, Tx


class Harness:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.now = 1_700_000_000.0

    async def write(self, op: Any, **params: Any) -> Result:
        self.now += 1.0
        call = Call(region="us-east-1", account_id="123456789012", now=self.now)
        result: Result = await self.store.write(lambda tx: op(tx, call, params))
        return result


@pytest.fixture
async def harness(engine: Engine) -> AsyncIterator[Harness]:
    """On each store engine in turn (tests/conftest.py)."""
    store = engine.open()
    try:
        yield Harness(store)
    finally:
        await store.close()


async def setup(h: Harness, config: ElasticConfiguration, users: int) -> tuple[str, str, list[str]]:
    app = (await h.write(identity.create_app_instance, Name="a")).output["AppInstanceArn"]
    arns = []
    for i in range(users + 1):
        out = await h.write(
            identity.create_user, AppInstanceArn=app, AppInstanceUserId=f"u{i}", Name=f"u{i}"
        )
        arns.append(out.output["AppInstanceUserArn"])
    out = await h.write(
        channels.create_channel,
        AppInstanceArn=app,
        Name="elastic",
        ChimeBearer=arns[0],
        ElasticChannelConfiguration={
            "MaximumSubChannels": config.maximum_sub_channels,
            "TargetMembershipsPerSubChannel": config.target_memberships,
            "MinimumMembershipPercentage": config.minimum_percentage,
        },
    )
    return out.output["ChannelArn"], arns[0], arns[1:]


def check(tx: Tx, channel: str, config: ElasticConfiguration, members: set[str]) -> None:
    subs = tx.sub_channels(channel)
    assert 1 <= len(subs) <= config.maximum_sub_channels
    placed: dict[str, str] = {}
    for s in subs:
        rows = tx.list_sub_channel_memberships(channel, s.sub_channel_id, None, None, 10**6)
        regular = [m for m in rows if not m.moderator]
        assert s.members == len(regular)  # the kept count is the truth
        assert s.moderators == len(rows) - len(regular)
        assert s.members <= config.target_memberships
        for m in regular:
            assert m.member_arn not in placed  # exactly one sub-channel
            placed[m.member_arn] = s.sub_channel_id
    assert set(placed) == members
    if len(subs) > 1:
        sizes = sorted(s.members for s in subs)
        assert sizes[0] >= minimum_members(config) or sizes[0] + sizes[1] > (
            config.target_memberships
        )


@pytest.mark.parametrize("seed", range(4))
async def test_random_joins_and_leaves_keep_the_store_consistent(
    harness: Harness, seed: int
) -> None:
    rng = random.Random(seed)
    config = ElasticConfiguration(rng.randint(2, 4), rng.randint(2, 6), rng.randint(1, 40))
    channel, mod, users = await setup(harness, config, 30)
    members: set[str] = set()
    moved_to: dict[str, str] = {}
    for _ in range(150):
        user = rng.choice(users)
        if user not in members:
            try:
                result = await harness.write(
                    channels.create_membership,
                    ChannelArn=channel,
                    MemberArn=user,
                    Type="DEFAULT",
                    ChimeBearer=mod,
                )
            except ResourceLimitExceeded:
                assert len(members) == config.maximum_sub_channels * config.target_memberships
                continue
            members.add(user)
        else:
            result = await harness.write(
                channels.delete_membership, ChannelArn=channel, MemberArn=user, ChimeBearer=mod
            )
            members.discard(user)
        moved_to.pop(user, None)  # joined or left since any move
        for e in result.events:
            if isinstance(e, ChannelEvent) and e.event.type == EventType.UPDATE_CHANNEL_MEMBERSHIP:
                assert e.only is not None and len(e.only) == 1  # only the moved member
                (who,) = e.only
                assert e.moved_from is not None and e.moved_from != e.channel_arn
                moved_to[who] = e.channel_arn
        await harness.store.read(lambda tx: check(tx, channel, config, members))
    # Every member told of a move is where the last move said (unless it left or joined since).
    for who, route in moved_to.items():
        if who in members:
            where = await harness.store.read(
                lambda tx, w=who: tx.memberships_in_channel(channel, w)
            )
            assert route == route_key(channel, where[0].sub_channel_id)


async def test_scale_in_deletes_the_sub_channel_tells_its_moderators_and_purges_its_messages(
    harness: Harness,
) -> None:
    config = ElasticConfiguration(3, 4, 40)  # SCALE_IN below 2
    channel, mod, users = await setup(harness, config, 5)
    for user in users:
        await harness.write(
            channels.create_membership,
            ChannelArn=channel,
            MemberArn=user,
            Type="DEFAULT",
            ChimeBearer=mod,
        )
    s0, s1 = [
        s.sub_channel_id for s in await harness.store.read(lambda tx: tx.sub_channels(channel))
    ]
    await harness.write(
        channels.create_membership,
        ChannelArn=channel,
        MemberArn=mod,
        Type="DEFAULT",
        ChimeBearer=mod,
        SubChannelId=s1,
    )
    sent = await harness.write(
        messages.send_message,
        ChannelArn=channel,
        Content="in s1",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ClientRequestToken="t1",
        ChimeBearer=users[4],
        SubChannelId=s1,
    )
    await harness.write(
        channels.delete_membership, ChannelArn=channel, MemberArn=users[0], ChimeBearer=mod
    )
    result = await harness.write(
        channels.delete_membership, ChannelArn=channel, MemberArn=users[4], ChimeBearer=mod
    )
    kinds = [
        (e.event.type, e.event.reason, e.channel_arn)
        for e in result.events
        if isinstance(e, ChannelEvent)
    ]
    old = route_key(channel, s1)
    assert kinds == [
        (EventType.DELETE_CHANNEL_MEMBERSHIP, None, old),  # the leaver
        (EventType.UPDATE_CHANNEL_MEMBERSHIP, None, route_key(channel, s0)),  # the moved one
        (EventType.DELETE_CHANNEL_MEMBERSHIP, "subchannel_DELETED", old),  # the moderator
        (EventType.DELETE_CHANNEL_MEMBERSHIP, None, old),  # the route closes, to no one
    ]
    closing = [e for e in result.events if isinstance(e, ChannelEvent)][-1]
    assert closing.close_channel and closing.only == frozenset()
    streamed = [e for e in result.events if isinstance(e, SubChannelEvent)]
    assert [(e.kind, e.sub_channel_id) for e in streamed] == [
        (SubChannelChange.DELETE_SUB_CHANNEL, s1)
    ]

    def after(tx: Tx) -> tuple[Any, ...]:
        return (
            [s.sub_channel_id for s in tx.sub_channels(channel)],
            tx.message(channel, sent.output["MessageId"]),
            tx.memberships_in_channel(channel, mod),
        )

    remaining, message, mod_memberships = await harness.store.read(after)
    assert remaining == [s0]
    assert message is None  # unreachable with its sub-channel
    assert mod_memberships == []
    # Its deletion is the purger's, woken by the commit.
    assert result.purges
    assert len(await harness.store.read(lambda tx: stored_messages(tx, channel, s1))) == 1
    while await harness.store.write(lambda tx: tx.purge_deleted_messages(500)):
        pass
    assert await harness.store.read(lambda tx: stored_messages(tx, channel, s1)) == []


async def test_deleting_a_user_rebalances_its_elastic_channels(harness: Harness) -> None:
    config = ElasticConfiguration(3, 4, 40)
    channel, mod, users = await setup(harness, config, 5)
    for user in users:
        await harness.write(
            channels.create_membership,
            ChannelArn=channel,
            MemberArn=user,
            Type="DEFAULT",
            ChimeBearer=mod,
        )
    await harness.write(
        channels.delete_membership, ChannelArn=channel, MemberArn=users[0], ChimeBearer=mod
    )
    deleted = await harness.write(identity.delete_user, AppInstanceUserArn=users[4])
    subs = await harness.store.read(lambda tx: tx.sub_channels(channel))
    assert [s.members for s in subs] == [3]  # counts follow, and the sub-channels merged
    assert deleted.purges  # the emptied sub-channel's messages are the purger's


async def test_channel_wide_events_go_to_every_sub_channel(harness: Harness) -> None:
    config = ElasticConfiguration(3, 2, 10)
    channel, mod, users = await setup(harness, config, 3)
    for user in users:
        await harness.write(
            channels.create_membership,
            ChannelArn=channel,
            MemberArn=user,
            Type="DEFAULT",
            ChimeBearer=mod,
        )
    routes = await harness.store.read(lambda tx: sub_channels.routes(tx, tx.channel(channel)))
    assert len(routes) == 2
    updated = await harness.write(
        channels.update_channel, ChannelArn=channel, Name="renamed", ChimeBearer=mod
    )
    assert sorted(e.channel_arn for e in updated.events if isinstance(e, ChannelEvent)) == sorted(
        routes
    )
    deleted = await harness.write(channels.delete_channel, ChannelArn=channel, ChimeBearer=mod)
    closing = [e for e in deleted.events if isinstance(e, ChannelEvent)]
    assert sorted(e.channel_arn for e in closing) == sorted(routes)
    assert all(e.close_channel for e in closing)


async def staged_write(h: Harness, op: Any, **params: Any) -> Result:
    """As the server writes: the unit, then its events numbered and staged in its transaction."""
    h.now += 1.0
    call = Call(region="us-east-1", account_id="123456789012", now=h.now)
    unit = export.staged(lambda tx: op(tx, call, params), lambda: h.now)
    result: Result = await h.store.write(unit)
    return result


async def test_each_sub_channel_numbers_its_own_events_without_holes(harness: Harness) -> None:
    config = ElasticConfiguration(3, 3, 40)  # SCALE_OUT (with a move) at the 4th, SCALE_IN below 2
    channel, mod, users = await setup(harness, config, 4)
    numbered: dict[str, list[int]] = {}
    unnumbered: list[ChannelEvent] = []
    moves: list[ChannelEvent] = []
    left_at: list[int] = []

    def note(result: Result) -> None:
        for e in result.events:
            if isinstance(e, ChannelEvent):
                if e.moved_from is not None:
                    moves.append(e)
                    # The number the sub-channel left had reached: its events so far.
                    left_at.append(len(numbered.get(e.moved_from, [])))
                if e.sub_seq is None:
                    unnumbered.append(e)
                else:
                    numbered.setdefault(e.channel_arn, []).append(e.sub_seq)

    for user in users:  # the third join moves a member to a new sub-channel (SCALE_OUT)
        note(
            await staged_write(
                harness,
                channels.create_membership,
                ChannelArn=channel,
                MemberArn=user,
                Type="DEFAULT",
                ChimeBearer=mod,
            )
        )
    subs = await harness.store.read(lambda tx: tx.sub_channels(channel))
    for i, s in enumerate(subs):
        sender = await harness.store.read(
            lambda tx, s=s: tx.list_sub_channel_memberships(
                channel, s.sub_channel_id, None, None, 9
            )
        )
        note(
            await staged_write(
                harness,
                messages.send_message,
                ChannelArn=channel,
                Content=f"in {i}",
                Type="STANDARD",
                Persistence="PERSISTENT",
                ClientRequestToken=f"t{i}",
                ChimeBearer=sender[0].member_arn,
                SubChannelId=s.sub_channel_id,
            )
        )
    note(
        await staged_write(
            harness, channels.update_channel, ChannelArn=channel, Name="n", ChimeBearer=mod
        )
    )
    routes = {route_key(channel, s.sub_channel_id) for s in subs}
    assert set(numbered) == routes and not unnumbered
    assert len(moves) == 1 and moves[0].sub_seq == 1  # the first event of the new sub-channel
    assert moves[0].moved_from_seq == left_at[0] > 0  # and the move took none of its numbers
    for seqs in numbered.values():
        # 1, 2, 3...: a move takes a number of the sub-channel it joins, none of the one it left.
        assert seqs == list(range(1, len(seqs) + 1))
    positions = await harness.store.read(lambda tx: tx.sub_channel_positions([channel]))
    assert {route_key(c, s): seq for (c, s), seq in positions.items()} == {
        route: seqs[-1] for route, seqs in numbered.items()
    }
    [position] = await harness.store.read(lambda tx: tx.positions(users[0])) or []
    # A session follows its sub-channel by its own numbers, the channel's at its side.
    assert position.seq == numbered[position.route_key][-1]
    assert position.sub_channel_id and position.channel_seq != position.seq
    # SCALE_IN: the emptied sub-channel's last events get no number (it is gone).
    for user in users[:3]:
        note(
            await staged_write(
                harness,
                channels.delete_membership,
                ChannelArn=channel,
                MemberArn=user,
                ChimeBearer=mod,
            )
        )
    remaining = await harness.store.read(lambda tx: tx.sub_channels(channel))
    assert len(remaining) == 1
    assert unnumbered and all(
        e.channel_arn != route_key(channel, remaining[0].sub_channel_id) for e in unnumbered
    )
    kept = numbered[route_key(channel, remaining[0].sub_channel_id)]
    assert kept == list(range(1, len(kept) + 1))
