"""Trailing loss: a node commits a message and dies before its publish reaches Redis. No later
event shows the other nodes the hole, so only the position check (the store's channel positions
against what each hub applied, every ``channel_check_seconds``) can find it: the sessions of that
channel on the other node are closed with 4410 and the Python client catches up from the store.

The dying node reaches Redis through a TCP forwarder that the test cuts before the send and
never restores, then the node is killed: its commit is durable, its publish is gone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster import OPTIONS, Cluster, Node, catches_up, cluster
from server_process import readyz
from tcp_forwarder import Forwarder
from ws_helpers import World, contents, off, session

from bellwire.events import EventType

MESSAGE = EventType.CREATE_CHANNEL_MESSAGE
CHECK = 0.5  # channel_check_seconds here; the reorder window is 0.5 s too (cluster.OPTIONS)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    options = (*OPTIONS, "--channel-check-seconds", str(CHECK))
    with cluster(tmp_path_factory.mktemp("trailing"), nodes=1, options=options) as running:
        yield running


async def test_a_tail_that_never_reached_the_bus_closes_the_channels_sessions_with_4410(
    nodes: Cluster, watch: Any
) -> None:
    from bellwire.client import Established, Reconnecting

    (b,) = nodes.nodes
    forwarder = Forwarder("127.0.0.1", nodes.redis.port)
    await forwarder.start()
    try:
        # Node A is a member of the cluster like any other, except that its Redis link can be cut.
        a: Node = await off(nodes.start_node, "--bus", f"redis://127.0.0.1:{forwarder.port}/0")
        wa = World.create(a)  # type: ignore[arg-type]
        ann, ben, other = wa.user(), wa.user(), wa.user()
        channel = wa.channel(ann, [ben])
        quiet_channel = wa.channel(other)
        raw = await session(b, ann)  # type: ignore[arg-type]
        bystander = await session(b, other)  # type: ignore[arg-type]
        w = watch(b.catching_up(ben, retry_after=0.2))
        await w.next(Established)
        live = await off(wa.send, channel, ann, "live")
        assert (await w.event(MESSAGE)).message_id == live
        assert contents(await raw.take(1)) == ["live"]
        await off(wa.send, quiet_channel, other, "elsewhere")
        assert contents(await bystander.take(1)) == ["elsewhere"]

        forwarder.sever()
        deadline = time.monotonic() + 10
        while readyz(a.url) != 503:  # A knows its bus is gone; its REST still commits
            assert time.monotonic() < deadline, "node A did not notice the cut"
            await off(time.sleep, 0.05)
        sent_at = time.monotonic()
        lost = await off(wa.send, channel, ann, "committed, never published")
        a.kill()

        # Nothing else happens in the channel: only the position check can notice.
        assert await raw.closed_with(timeout=10) == 4410
        noticed = time.monotonic() - sent_at
        assert noticed < 2 * CHECK + 0.5 + 2  # a check or two, the reorder window, slack
        assert (await w.next(Reconnecting, timeout=10)).code == 4410
        await catches_up(w, lost)
        # A channel that lost nothing is left alone (checks have run meanwhile).
        await off(time.sleep, 3 * CHECK)
        assert not bystander.closed
        await bystander.close()
    finally:
        await forwarder.stop()


async def test_a_channel_that_lost_nothing_is_never_closed(nodes: Cluster) -> None:
    """Many checks over a channel that is busy on the node and idle afterwards: no false 4410."""
    (b,) = nodes.nodes[:1]
    w = World.create(b)  # type: ignore[arg-type]
    kim, lee = w.user(), w.user()
    channel = w.channel(kim, [lee])
    watcher = await session(b, lee)  # type: ignore[arg-type]
    for i in range(20):
        await off(w.send, channel, kim, f"m{i}")
    assert contents(await watcher.take(20)) == [f"m{i}" for i in range(20)]
    await off(time.sleep, 4 * CHECK + 0.5)
    assert not watcher.closed
    await watcher.close()


def test_the_check_is_a_setting(tmp_path: Path) -> None:
    from bellwire.config import Settings

    assert Settings().channel_check_seconds == 5.0


async def test_elastic_sub_channels_are_not_mistaken_for_a_lost_tail(nodes: Cluster) -> None:
    """A sub-channel's events also carry its channel's numbers, shared with the other
    sub-channels, which move on whenever another sub-channel speaks: the check compares the
    sub-channel's own numbers and must leave its sessions alone."""
    (b,) = nodes.nodes[:1]
    w = World.create(b)  # type: ignore[arg-type]
    mod = w.user()
    members = [w.user() for _ in range(4)]
    channel = w.channel(
        mod,
        ElasticChannelConfiguration={
            "MaximumSubChannels": 2,
            "TargetMembershipsPerSubChannel": 2,
            "MinimumMembershipPercentage": 10,
        },
    )
    for member in members:
        w.add(channel, member, by=mod)

    def sub_of(member: str) -> str:
        m = w.messaging.describe_channel_membership(
            ChannelArn=channel, MemberArn=member, ChimeBearer=mod
        )["ChannelMembership"]
        return str(m["SubChannelId"])

    subs = {member: sub_of(member) for member in members}
    assert len(set(subs.values())) == 2
    watched = members[0]
    others = [m for m in members if subs[m] != subs[watched]]
    watcher = await session(b, watched)  # type: ignore[arg-type]
    # The watched sub-channel speaks, then only the other one: the channel's position moves on
    # while the watched sub-channel's last number stays behind it.
    await off(w.send, channel, watched, "mine", SubChannelId=subs[watched])
    for i in range(3):
        await off(w.send, channel, others[0], f"theirs{i}", SubChannelId=subs[others[0]])
    assert contents(await watcher.take(1)) == ["mine"]
    await off(time.sleep, 4 * CHECK + 0.5)
    assert not watcher.closed
    await watcher.quiet(0.1)
    await watcher.close()
