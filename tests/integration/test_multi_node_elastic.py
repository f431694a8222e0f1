"""Elastic channels across nodes: each sub-channel numbers its own events, so every node applies a
sub-channel's events in the store's order, a lost one closes that sub-channel's sessions (and
only them) with 4410, the position check covers sub-channels, and balancing (members moved
between sub-channels while messages flow) is never mistaken for a loss."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from botocore.exceptions import ClientError
from cluster import OPTIONS, Cluster, Node, catches_up, cluster, on
from ws_helpers import World, contents, off, run_all, session

from bellwire.bus import wire
from bellwire.domain.delivery import ChannelEvent
from bellwire.events import Event, EventType, MessageType

MESSAGE = EventType.CREATE_CHANNEL_MESSAGE
CHECK = 0.5  # channel_check_seconds here; the reorder window is 0.5 s too (cluster.OPTIONS)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    options = (*OPTIONS, "--channel-check-seconds", str(CHECK))
    with cluster(tmp_path_factory.mktemp("elastic"), options=options) as running:
        yield running


def gaps(node: Node) -> float:
    with urllib.request.urlopen(node.url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("bellwire_channel_gaps_total "):
                return float(line.split()[1])
    raise AssertionError("bellwire_channel_gaps_total is not in /metrics")


def elastic(w: World, moderator: str, members: list[str], target: int, minimum: int) -> str:
    channel = w.channel(
        moderator,
        ElasticChannelConfiguration={
            "MaximumSubChannels": 10,
            "TargetMembershipsPerSubChannel": target,
            "MinimumMembershipPercentage": minimum,
        },
    )
    for member in members:
        w.add(channel, member, by=moderator)
    return channel


def sub_of(w: World, channel: str, member: str, moderator: str) -> str:
    m = w.messaging.describe_channel_membership(
        ChannelArn=channel, MemberArn=member, ChimeBearer=moderator
    )["ChannelMembership"]
    return str(m["SubChannelId"])


def four_in_two(node: Node) -> tuple[World, str, list[str], dict[str, str]]:
    """An elastic channel made through ``node`` by a moderator, with four members, two in each
    of two sub-channels. Returns the world, the channel, the members and each member's
    sub-channel."""
    w = World.create(node)  # type: ignore[arg-type]
    mod = w.user()
    members = [w.user() for _ in range(4)]
    channel = elastic(w, mod, members, target=2, minimum=1)
    return w, channel, members, {m: sub_of(w, channel, m, mod) for m in members}


def lost(route: str, sub_seq: int) -> bytes:
    """A sub-channel event far ahead of the sub-channel's numbers, as if those before it were
    lost on the bus."""
    event = Event(MESSAGE, MessageType.STANDARD, {"Content": "?"})
    return wire.encode("elsewhere", [ChannelEvent(route, sub_seq, event, sub_seq=sub_seq)])


async def test_a_sub_channels_messages_through_both_nodes_arrive_in_its_order(
    nodes: Cluster,
) -> None:
    a, b = nodes.nodes[:2]
    wa, channel, members, subs = four_in_two(a)
    first = subs[members[0]]
    pair = [m for m in members if subs[m] == first]
    rest = [m for m in members if subs[m] != first]
    assert len(pair) == 2 and len(rest) == 2
    wb = on(b, wa)
    on_a = await session(a, pair[1])  # type: ignore[arg-type]
    on_b = await session(b, pair[0])  # type: ignore[arg-type]
    elsewhere = await session(b, rest[0])  # type: ignore[arg-type]
    count = 40

    def send_from(w: World, who: str, tag: str) -> None:
        for i in range(count // 2):
            w.send(channel, who, f"{tag}{i}", SubChannelId=first)

    # Two nodes commit to one sub-channel at once (and the other sub-channel speaks too, so the
    # channel's own numbers skip on each): each node must deliver the sub-channel's order.
    threads = [
        threading.Thread(target=send_from, args=(wa, pair[0], "a")),
        threading.Thread(target=send_from, args=(wb, pair[1], "b")),
        threading.Thread(
            target=lambda: [
                wb.send(channel, rest[1], f"x{i}", SubChannelId=subs[rest[1]]) for i in range(10)
            ]
        ),
    ]
    await off(run_all, threads)
    stored = await off(
        wa.messaging.list_channel_messages,
        ChannelArn=channel,
        ChimeBearer=pair[0],
        SubChannelId=first,
        SortOrder="ASCENDING",
        MaxResults=50,
    )
    order = [m["Content"] for m in stored["ChannelMessages"]]
    assert len(order) == count
    for client in (on_a, on_b):
        assert contents(await client.take(count)) == order
        await client.quiet(0.3)
    assert contents(await elsewhere.take(10)) == [f"x{i}" for i in range(10)]
    await off(time.sleep, 2 * CHECK + 0.5)  # position checks ran: nothing was lost
    for client in (on_a, on_b, elsewhere):
        assert not client.closed
        await client.close()


async def test_a_lost_event_in_a_sub_channel_closes_its_sessions_and_the_client_catches_up(
    nodes: Cluster, watch: Any
) -> None:
    from bellwire.client import Established, Reconnecting

    a, b = nodes.nodes[:2]
    wa, channel, members, subs = four_in_two(a)
    watched = members[0]
    mine = subs[watched]
    mate = next(m for m in members if m != watched and subs[m] == mine)
    other = next(m for m in members if subs[m] != mine)
    w = watch(b.catching_up(watched, retry_after=1.5))
    await w.next(Established)
    unconcerned = await session(b, other)  # type: ignore[arg-type]
    live = await off(wa.send, channel, mate, "live", SubChannelId=mine)
    assert (await w.event(MESSAGE)).message_id == live
    with redis.Redis.from_url(nodes.redis.url) as bus:
        bus.publish(f"{nodes.prefix}:bus", lost(f"{channel}/subchannel/{mine}", 1000))
    assert (await w.next(Reconnecting)).code == 4410
    missed = await off(wa.send, channel, mate, "missed while away", SubChannelId=mine)
    await catches_up(w, missed)
    assert not unconcerned.closed  # the other sub-channel lost nothing
    await unconcerned.close()


async def test_balancing_under_traffic_is_never_mistaken_for_a_loss(nodes: Cluster) -> None:
    a, b = nodes.nodes[:2]
    wa = World.create(a)  # type: ignore[arg-type]
    wb = on(b, wa)
    mod = wa.user()
    members = [wa.user() for _ in range(8)]
    # Target 3, SCALE_IN below 2: leaves and joins move members both ways.
    channel = elastic(wa, mod, members[:6], target=3, minimum=40)
    before = gaps(a) + gaps(b)
    clients = [
        await session(node, member)  # type: ignore[arg-type]
        for i, member in enumerate(members)
        for node in ((a, b)[i % 2],)
    ]
    stop = threading.Event()
    sent = [0]

    def talk(w: World, who: str) -> None:
        sub = sub_of(w, channel, who, mod)
        while not stop.is_set():
            try:
                w.send(channel, who, "chat", SubChannelId=sub)
                sent[0] += 1
            except ClientError:  # moved meanwhile: ask where it is now
                sub = sub_of(w, channel, who, mod)

    inside = set(members[:6])

    def churn() -> None:
        # Each round two members leave and every absent one comes back, through the nodes in
        # turn, so that sub-channels are created, merged and deleted and members move between
        # them (SCALE_OUT, SCALE_IN) while the talkers send.
        for round_ in range(6):
            w = (wa, wb)[round_ % 2]
            start = 2 + 2 * (round_ % 3)
            for member in members[start : start + 2]:
                if member in inside:
                    w.remove(channel, member, by=mod)
                    inside.discard(member)
            for member in members[2:]:
                if member not in inside:
                    w.add(channel, member, by=mod)
                    inside.add(member)

    talkers = [
        threading.Thread(target=talk, args=(wa, members[0])),
        threading.Thread(target=talk, args=(wb, members[1])),
    ]
    for thread in talkers:
        thread.start()
    await off(churn)
    await off(time.sleep, 4 * CHECK + 0.5)  # the reorder window and several position checks
    stop.set()
    for thread in talkers:
        await off(thread.join)
    assert sent[0] > 0
    closed = {c.user_arn: c.close_code for c in clients if c.closed}
    assert closed == {}
    moves = [
        e
        for c in clients
        for e in c.events
        if e.type == EventType.UPDATE_CHANNEL_MEMBERSHIP and e.payload
    ]
    assert len(moves) >= 2  # balancing moved members while the talkers sent
    assert gaps(a) + gaps(b) == before
    for client in clients:
        await client.close()


async def test_a_sub_channels_tail_that_never_reached_the_bus_is_found_by_the_check(
    nodes: Cluster,
) -> None:
    """A commit whose publish never left its node (test_trailing_loss.py kills such a node): here
    the sub-channel's number is taken in the store directly, and nothing else happens in it, so
    only the position check can notice."""
    import psycopg

    a, b = nodes.nodes[:2]
    wa, channel, members, subs = four_in_two(a)
    watched = members[0]
    other = next(m for m in members if subs[m] != subs[watched])
    watcher = await session(b, watched)  # type: ignore[arg-type]
    bystander = await session(b, other)  # type: ignore[arg-type]
    await off(wa.send, channel, watched, "live", SubChannelId=subs[watched])
    assert contents(await watcher.take(1)) == ["live"]
    with psycopg.connect(nodes.store, autocommit=True) as pg:
        pg.execute(
            "UPDATE sub_channels SET seq = seq + 1 WHERE channel_arn = %s AND sub_channel_id = %s",
            (channel, subs[watched]),
        )
    assert await watcher.closed_with(timeout=2 * CHECK + 0.5 + 3) == 4410
    await off(time.sleep, 2 * CHECK)
    assert not bystander.closed  # its sub-channel is not behind
    await bystander.close()


async def test_a_session_connecting_with_prefetch_meets_its_sub_channel_by_its_numbers(
    nodes: Cluster,
) -> None:
    """A prefetching connect reads its channels another way (with their details); it must start
    a sub-channel at the sub-channel's number, not the channel's, which is further on."""
    a, b = nodes.nodes[:2]
    wa, channel, members, subs = four_in_two(a)
    watched = members[0]
    other = next(m for m in members if subs[m] != subs[watched])
    for i in range(5):  # the channel's numbers move on; the watched sub-channel's do not
        await off(wa.send, channel, other, f"theirs{i}", SubChannelId=subs[other])
    watcher = await session(b, watched, prefetch=True)  # type: ignore[arg-type]
    for i in range(3):
        await off(wa.send, channel, watched, f"mine{i}", SubChannelId=subs[watched])
    seen = await watcher.until(lambda e: e.type == MESSAGE and e.payload["Content"] == "mine2")
    assert contents(seen) == ["mine0", "mine1", "mine2"]
    assert not watcher.closed
    await watcher.close()
