"""Streaming export, retention and expiration through the store's interface (SQLite engine):
staging in the write's own transaction, leases, the outbox's order and bound, the sweeper's
units with an injected "now", the relay against a sink that fails and recovers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bellwire.aws.errors import BadRequest
from bellwire.clock import DAY
from bellwire.domain import channels, expiry, export, identity, messages, streaming
from bellwire.domain.operation import Call, Result
from bellwire.export.backoff import Backoff
from bellwire.export.relay import Relay
from bellwire.export.sinks import SinkError
from bellwire.records.chime import OutboxRecord
from bellwire.resources import ResourceMap
from bellwire.store.base import IamTx, Store
from bellwire.store.sqlite import SqliteStore

STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/chime-messaging-test"
RESOURCES = ResourceMap.parse({STREAM: "redis://127.0.0.1:6379/0?stream=unused"})


class World:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.now = 1_700_000_000.0
        self.resources = RESOURCES

    def call(self) -> Call:
        self.now += 1.0
        return Call("us-east-1", "123456789012", self.now, resources=self.resources)

    async def write(self, op: Any, **params: Any) -> Result:
        call = self.call()
        unit = export.staged(lambda tx: op(tx, call, params), lambda: call.now)
        result: Result = await self.store.write(unit)
        return result

    async def setup(self) -> tuple[str, str, str]:
        app = (await self.write(identity.create_app_instance, Name="a")).output["AppInstanceArn"]
        users = []
        for uid in ("alice", "bob"):
            out = await self.write(
                identity.create_user, AppInstanceArn=app, AppInstanceUserId=uid, Name=uid
            )
            users.append(out.output["AppInstanceUserArn"])
        return app, users[0], users[1]

    async def outbox(self) -> list[OutboxRecord]:
        return await self.store.read(lambda tx: tx.outbox_batch([STREAM], 1000))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = SqliteStore(tmp_path / "bellwire.db")
    try:
        yield World(store)
    finally:
        await store.close()


def types(records: Sequence[OutboxRecord]) -> list[str]:
    return [json.loads(r.record)["EventType"] for r in records]


async def test_only_events_after_the_configuration_are_staged_in_order(world: World) -> None:
    app, alice, bob = await world.setup()
    created = await world.write(
        channels.create_channel, AppInstanceArn=app, Name="c", ChimeBearer=alice
    )
    channel = created.output["ChannelArn"]
    await world.write(
        streaming.put_configurations,
        AppInstanceArn=app,
        StreamingConfigurations=[
            {"DataType": "Channel", "ResourceArn": STREAM},
            {"DataType": "ChannelMessage", "ResourceArn": STREAM},
        ],
    )
    joined = await world.write(
        channels.create_membership,
        ChannelArn=channel,
        MemberArn=bob,
        Type="DEFAULT",
        ChimeBearer=alice,
    )
    sent = await world.write(
        messages.send_message,
        ChannelArn=channel,
        Content="hi",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=alice,
        ClientRequestToken="t1",
    )
    banned = await world.write(
        channels.create_ban, ChannelArn=channel, MemberArn=bob, ChimeBearer=alice
    )
    staged = await world.outbox()
    assert types(staged) == [
        "CREATE_CHANNEL_MEMBERSHIP",
        "CREATE_CHANNEL_MESSAGE",
        "DELETE_CHANNEL_MEMBERSHIP",
        "CREATE_CHANNEL_BAN",
    ]  # CREATE_CHANNEL came before the configuration: not streamed
    assert [r.id for r in staged] == sorted(r.id for r in staged)
    assert {r.channel_arn for r in staged} == {channel}
    # What each write says it staged, which alone wakes the relay (events without a
    # configuration stage nothing).
    assert created.events and created.staged == 0
    assert [joined.staged, sent.staged, banned.staged] == [1, 1, 2]


async def test_a_failing_write_stages_nothing(world: World) -> None:
    app, alice, _bob = await world.setup()
    await world.write(
        streaming.put_configurations,
        AppInstanceArn=app,
        StreamingConfigurations=[{"DataType": "Channel", "ResourceArn": STREAM}],
    )
    channel = (
        await world.write(channels.create_channel, AppInstanceArn=app, Name="c", ChimeBearer=alice)
    ).output["ChannelArn"]

    call = world.call()
    update = export.staged(
        lambda tx: channels.update_channel(
            tx, call, {"ChannelArn": channel, "Name": "n", "ChimeBearer": alice}
        ),
        lambda: call.now,
    )

    def fails_after_staging(tx: IamTx) -> Result:
        update(tx)  # staged UPDATE_CHANNEL in this unit's savepoint...
        raise BadRequest("...then the unit fails")

    with pytest.raises(BadRequest):
        await world.store.write(fails_after_staging)
    assert types(await world.outbox()) == ["CREATE_CHANNEL"]


async def test_configurations_are_checked_and_replaced_whole(world: World) -> None:
    app, _, _ = await world.setup()
    unmapped = "arn:aws:kinesis:us-east-1:123456789012:stream/chime-messaging-nowhere"
    no_key = "arn:aws:kinesis:us-east-1:123456789012:stream/chime-messaging-nokey"
    no_subject = "arn:aws:kinesis:us-east-1:123456789012:stream/chime-messaging-nosubject"
    world.resources = ResourceMap.parse(
        {STREAM: RESOURCES.urls[STREAM], no_key: "redis://h:1/0", no_subject: "nats://h:2"}
    )
    for arn, words in (
        (no_key, r"\?stream=NAME"),
        (no_subject, r"\?subject=NAME"),
        (unmapped, "--resource"),
        ("arn:aws:sqs:us-east-1:123456789012:q", "Kinesis"),
        ("arn:aws:kinesis:eu-west-1:123456789012:stream/chime-messaging-x", "Region"),
        ("arn:aws:kinesis:us-east-1:123456789012:stream/other", "chime-messaging-"),
    ):
        with pytest.raises(BadRequest, match=words):
            await world.write(
                streaming.put_configurations,
                AppInstanceArn=app,
                StreamingConfigurations=[{"DataType": "Channel", "ResourceArn": arn}],
            )
    with pytest.raises(BadRequest, match="more than once"):
        await world.write(
            streaming.put_configurations,
            AppInstanceArn=app,
            StreamingConfigurations=[{"DataType": "Channel", "ResourceArn": STREAM}] * 2,
        )
    await world.write(
        streaming.put_configurations,
        AppInstanceArn=app,
        StreamingConfigurations=[{"DataType": "ChannelMessage", "ResourceArn": STREAM}],
    )
    await world.write(
        streaming.put_configurations,
        AppInstanceArn=app,
        StreamingConfigurations=[{"DataType": "Channel", "ResourceArn": STREAM}],
    )
    assert await world.store.read(lambda tx: tx.streaming_configurations(app)) == {
        "Channel": STREAM
    }


async def test_a_lease_has_one_holder_until_it_expires(world: World) -> None:
    async def claim(owner: str, now: float) -> bool:
        return await world.store.write(lambda tx: tx.claim_lease("x", owner, now, 30.0))

    assert await claim("a", 100.0)
    assert not await claim("b", 110.0)
    assert await claim("a", 120.0)  # renewed until 150
    assert not await claim("b", 149.0)
    assert await claim("b", 151.0)
    assert not await claim("a", 152.0)


async def test_the_outbox_is_acknowledged_in_order_and_bounded(world: World) -> None:
    rows = [(STREAM, f"ch{i % 2}", f'{{"n":{i}}}') for i in range(10)]
    ids = await world.store.write(lambda tx: tx.append_outbox(rows, 5.0))
    assert ids == list(range(ids[0], ids[0] + 10))
    assert await world.store.write(lambda tx: tx.acknowledge_outbox([STREAM], ids[3])) == 4
    assert await world.store.read(lambda tx: tx.outbox_state()) == (6, 5.0)
    assert await world.store.write(lambda tx: tx.trim_outbox(4)) == 2
    left = await world.outbox()
    assert [r.id for r in left] == ids[6:]


async def test_the_sweeper_units_apply_retention_and_expiration(world: World) -> None:
    app, alice, bob = await world.setup()
    await world.write(
        streaming.put_configurations,
        AppInstanceArn=app,
        StreamingConfigurations=[{"DataType": "Channel", "ResourceArn": STREAM}],
    )
    start = world.now
    old = (
        await world.write(
            channels.create_channel,
            AppInstanceArn=app,
            Name="old",
            ChimeBearer=alice,
            ExpirationSettings={"ExpirationDays": 1, "ExpirationCriterion": "CREATED_TIMESTAMP"},
        )
    ).output["ChannelArn"]
    lively = (
        await world.write(
            channels.create_channel,
            AppInstanceArn=app,
            Name="lively",
            ChimeBearer=alice,
            ExpirationSettings={
                "ExpirationDays": 1,
                "ExpirationCriterion": "LAST_MESSAGE_TIMESTAMP",
            },
        )
    ).output["ChannelArn"]
    for i in range(5):
        await world.write(
            messages.send_message,
            ChannelArn=lively,
            Content=f"m{i}",
            Type="STANDARD",
            Persistence="PERSISTENT",
            ChimeBearer=alice,
            ClientRequestToken=f"t{i}",
        )
    await world.write(
        identity.put_retention,
        AppInstanceArn=app,
        AppInstanceRetentionSettings={"ChannelRetentionSettings": {"RetentionDays": 2}},
    )
    await world.write(
        identity.put_user_expiration,
        AppInstanceUserArn=bob,
        ExpirationSettings={"ExpirationDays": 3, "ExpirationCriterion": "CREATED_TIMESTAMP"},
    )

    async def run(unit: Any, now: float, batch: int = 2) -> expiry.Swept:
        return await world.store.write(lambda tx: unit(tx, now, batch))

    # a day and a bit later: the old channel is due, the lively one (messages later) not yet
    soon = start + DAY + 2
    swept = await run(expiry.expire_channels, soon)
    assert swept.channels == 1
    assert [e.channel_arn for e in swept.result.events] == [old]
    assert (await run(expiry.expire_channels, soon)).channels == 0  # deleted once
    assert (await run(expiry.purge_retained, soon)).messages == 0
    assert (await run(expiry.expire_users, soon)).users == 0
    # two days later the messages are past retention: deleted in batches of 2
    later = start + 2 * DAY + 60
    assert [(await run(expiry.purge_retained, later)).messages for _ in range(4)] == [2, 2, 1, 0]
    assert await world.store.read(lambda tx: tx.channel(lively)) is not None
    # three days: bob expires; the lively channel (last message ~day 0) too
    gone = await run(expiry.expire_users, start + 3 * DAY + 60)
    assert gone.users == 1 and await world.store.read(lambda tx: tx.user(bob)) is None
    assert (await run(expiry.expire_channels, start + 3 * DAY + 60)).channels == 1


class FlakySink:
    """A sink outside bellwire: down while ``down`` is set, keeps what it took."""

    def __init__(self) -> None:
        self.down = True
        self.taken: list[OutboxRecord] = []

    async def deliver(self, records: Sequence[OutboxRecord]) -> None:
        if self.down:
            raise SinkError("down")
        self.taken += records

    async def close(self) -> None:
        pass


async def test_the_relay_retries_a_down_sink_and_loses_nothing(world: World) -> None:
    sink = FlakySink()
    clock = [1000.0]
    relay = Relay(
        world.store,
        RESOURCES,
        node="n1",
        now=lambda: clock[0],
        batch=3,
        backoff=Backoff(initial=1.0, maximum=4.0),
        open_sink=lambda url: sink,
    )
    rows = [(STREAM, f"ch{i % 3}", f'{{"n":{i}}}') for i in range(7)]
    await world.store.write(lambda tx: tx.append_outbox(rows, 1000.0))
    assert await relay.relay_once() == 0 and relay.failures == 1
    clock[0] += 0.1
    assert await relay.relay_once() == 0 and relay.failures == 1  # backing off: not tried
    sink.down = False
    clock[0] += 1.0
    assert relay.waiting == 7
    delivered = [await relay.relay_once() for _ in range(4)]
    assert delivered == [3, 3, 1, 0]
    assert [json.loads(r.record)["n"] for r in sink.taken] == list(range(7))
    assert relay.waiting == 0 and relay.lag_seconds == 0.0


async def test_a_second_node_does_not_relay_a_sink_another_holds(world: World) -> None:
    first, second = FlakySink(), FlakySink()
    first.down = second.down = False
    relays = [
        Relay(world.store, RESOURCES, node=name, now=lambda: 50.0, open_sink=lambda url, s=s: s)
        for name, s in (("n1", first), ("n2", second))
    ]
    await world.store.write(lambda tx: tx.append_outbox([(STREAM, "c", "{}")], 1.0))
    assert await relays[0].relay_once() == 1
    await world.store.write(lambda tx: tx.append_outbox([(STREAM, "c", "{}")], 1.0))
    assert await relays[1].relay_once() == 0  # n1's lease still runs
    assert await relays[0].relay_once() == 1
    assert (len(first.taken), len(second.taken)) == (2, 0)


async def test_deleting_an_app_instance_deletes_its_configurations(world: World) -> None:
    app, alice, _ = await world.setup()
    await world.write(
        streaming.put_configurations,
        AppInstanceArn=app,
        StreamingConfigurations=[{"DataType": "Channel", "ResourceArn": STREAM}],
    )
    await world.write(channels.create_channel, AppInstanceArn=app, Name="c", ChimeBearer=alice)
    await world.write(identity.delete_app_instance, AppInstanceArn=app)
    assert await world.store.read(lambda tx: tx.streaming_configurations(app)) == {}
    assert types(await world.outbox()) == ["CREATE_CHANNEL"]  # its DELETE_CHANNEL is not streamed


async def test_one_sweeper_of_two_on_one_store_sweeps(world: World) -> None:
    from bellwire.sweeper import Sweeper

    app, alice, _ = await world.setup()
    await world.write(
        channels.create_channel,
        AppInstanceArn=app,
        Name="c",
        ChimeBearer=alice,
        ExpirationSettings={"ExpirationDays": 1, "ExpirationCriterion": "CREATED_TIMESTAMP"},
    )
    published: list[str] = []
    later = world.now + 2 * DAY

    def sweeper(node: str) -> Sweeper:
        return Sweeper(
            world.store,
            lambda r: published.extend(node for _ in r.events),
            node=node,
            now=lambda: later,
            interval=3600.0,
            batch=10,
        )

    first, second = sweeper("n1"), sweeper("n2")
    assert (await first.sweep()).channels == 1
    await world.write(
        channels.create_channel,
        AppInstanceArn=app,
        Name="d",
        ChimeBearer=alice,
        ExpirationSettings={"ExpirationDays": 1, "ExpirationCriterion": "CREATED_TIMESTAMP"},
    )
    # Due too, but n1 holds the sweeper's lease: n2 leaves it alone, n1 deletes it.
    assert (await second.sweep()).channels == 0
    assert (await first.sweep()).channels == 1
    assert published == ["n1", "n1"]
