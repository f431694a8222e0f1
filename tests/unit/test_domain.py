"""The Chime rules of bellwire/domain/, called through the store's interface, without HTTP.

Each operation runs as the server runs it: one unit of work inside ``store.write`` (its own
savepoint in a group commit) or ``store.read``. The engine is SQLite on a temporary path, the
interface's reference engine; the tests see only what ``store/base.py`` promises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from store_engines import Engine

from bellwire.aws.errors import (
    AwsError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    UnauthorizedClient,
)
from bellwire.domain import channels, flows, identity, messages, tags
from bellwire.domain.delivery import BusEvent, ChannelEvent, UserEvent
from bellwire.domain.operation import Call, Result
from bellwire.events import EventType
from bellwire.resources import ResourceMap
from bellwire.store.base import Store, Tx

Operation = Callable[[Tx, Call, dict[str, Any]], Result]


class Domain:
    """Runs domain operations the way the REST shell does, and keeps what was committed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.now = 1_700_000_000.0
        self.committed: list[BusEvent] = []

    def call(self) -> Call:
        self.now += 1.0
        return Call(region="us-east-1", account_id="123456789012", now=self.now)

    async def write(self, op: Operation, **params: Any) -> Result:
        call = self.call()
        result = await self.store.write(lambda tx: op(tx, call, params))
        self.committed.extend(result.events)
        return result

    async def read(self, op: Operation, **params: Any) -> Result:
        call = self.call()
        return await self.store.read(lambda tx: op(tx, call, params))

    async def app(self, name: str = "app") -> str:
        out = await self.write(identity.create_app_instance, Name=name)
        arn: str = out.output["AppInstanceArn"]
        return arn

    async def user(self, app: str, user_id: str) -> str:
        out = await self.write(
            identity.create_user, AppInstanceArn=app, AppInstanceUserId=user_id, Name=user_id
        )
        arn: str = out.output["AppInstanceUserArn"]
        return arn

    async def channel(self, app: str, bearer: str, **params: Any) -> str:
        out = await self.write(
            channels.create_channel, AppInstanceArn=app, Name="c", ChimeBearer=bearer, **params
        )
        arn: str = out.output["ChannelArn"]
        return arn


@pytest.fixture
async def domain(engine: Engine) -> AsyncIterator[Domain]:
    """The rules over a real store: SQLite and PostgreSQL in turn."""
    store = engine.open()
    try:
        yield Domain(store)
    finally:
        await store.close()


def channel_events(result: Result) -> list[ChannelEvent]:
    found = [e for e in result.events if isinstance(e, ChannelEvent)]
    assert len(found) == len(result.events)
    return found


# --- app instances and users ---------------------------------------------------------------------


async def test_an_app_instance_is_created_described_and_retried_idempotently(
    domain: Domain,
) -> None:
    first = await domain.write(
        identity.create_app_instance, Name="chat", Metadata="m", ClientRequestToken="t-1"
    )
    again = await domain.write(
        identity.create_app_instance, Name="chat", Metadata="m", ClientRequestToken="t-1"
    )
    assert again.output == first.output
    arn = first.output["AppInstanceArn"]
    described = await domain.read(identity.describe_app_instance, AppInstanceArn=arn)
    assert described.output["AppInstance"]["Name"] == "chat"
    assert described.output["AppInstance"]["Metadata"] == "m"
    listed = await domain.read(identity.list_app_instances)
    assert [a["AppInstanceArn"] for a in listed.output["AppInstances"]] == [arn]
    with pytest.raises(Conflict, match="t-1"):
        await domain.write(identity.create_app_instance, Name="other", ClientRequestToken="t-1")


async def test_users_are_unique_and_their_ids_checked(domain: Domain) -> None:
    app = await domain.app()
    arn = await domain.user(app, "alice")
    assert arn == f"{app}/user/alice"
    with pytest.raises(Conflict, match="already exists"):
        await domain.user(app, "alice")
    with pytest.raises(BadRequest, match="not a valid user id"):
        await domain.user(app, "not valid/")
    with pytest.raises(NotFound):
        await domain.read(identity.describe_user, AppInstanceUserArn=f"{app}/user/nobody")
    described = await domain.read(identity.describe_user, AppInstanceUserArn=arn)
    assert described.output["AppInstanceUser"]["Name"] == "alice"


async def test_listing_pages_with_next_tokens_and_refuses_forged_ones(domain: Domain) -> None:
    app = await domain.app()
    for name in ("a", "b", "c"):
        await domain.user(app, name)
    seen: list[str] = []
    token = None
    while True:
        page = await domain.read(
            identity.list_users, AppInstanceArn=app, MaxResults=2, NextToken=token
        )
        seen += [u["AppInstanceUserArn"] for u in page.output["AppInstanceUsers"]]
        token = page.output["NextToken"]
        if token is None:
            break
    assert seen == [f"{app}/user/{n}" for n in ("a", "b", "c")]
    with pytest.raises(BadRequest, match="NextToken"):
        await domain.read(identity.list_users, AppInstanceArn=app, NextToken="forged!")


async def test_deleting_a_user_removes_its_memberships_and_closes_its_sessions(
    domain: Domain,
) -> None:
    app = await domain.app()
    alice, bob = await domain.user(app, "alice"), await domain.user(app, "bob")
    first = await domain.channel(app, alice, MemberArns=[bob])
    second = await domain.channel(app, alice, MemberArns=[bob])
    result = await domain.write(identity.delete_user, AppInstanceUserArn=bob)
    removals = [e for e in result.events if isinstance(e, ChannelEvent)]
    assert sorted(e.channel_arn for e in removals) == sorted([first, second])
    for e in removals:
        assert e.event.type is EventType.DELETE_CHANNEL_MEMBERSHIP
        assert e.unsubscribe == (bob,)
        assert e.seq == 2  # after CREATE_CHANNEL, the channel's next sequence number
    assert result.events[-1] == UserEvent(bob, deleted=True)
    members = await domain.read(channels.list_memberships, ChannelArn=first, ChimeBearer=alice)
    assert [m["Member"]["Arn"] for m in members.output["ChannelMemberships"]] == [alice]


async def test_deleting_an_app_instance_deletes_its_channels_and_users(domain: Domain) -> None:
    app = await domain.app()
    alice = await domain.user(app, "alice")
    channel = await domain.channel(app, alice)
    result = await domain.write(identity.delete_app_instance, AppInstanceArn=app)
    assert len(result.events) == 2
    deleted, gone = result.events
    assert isinstance(deleted, ChannelEvent) and deleted.close_channel
    assert deleted.channel_arn == channel and deleted.event.type is EventType.DELETE_CHANNEL
    assert deleted.seq == 2  # after CREATE_CHANNEL, the channel's next sequence number
    assert gone == UserEvent(alice, deleted=True)
    with pytest.raises(NotFound):
        await domain.read(identity.describe_app_instance, AppInstanceArn=app)
    with pytest.raises(NotFound):
        await domain.read(identity.describe_user, AppInstanceUserArn=alice)


async def tagged_flow(domain: Domain, app: str, name: str) -> str:
    """A channel flow of one processor, tagged ``k``: ``name``."""
    processor = "arn:aws:lambda:us-east-1:123456789012:function:filter"
    call = dataclasses.replace(
        domain.call(), resources=ResourceMap({processor: "http://127.0.0.1:1/filter"})
    )
    created = await domain.store.write(
        lambda tx: flows.create_flow(
            tx,
            call,
            {
                "AppInstanceArn": app,
                "Name": "filter",
                "ClientRequestToken": name,
                "Tags": [{"Key": "k", "Value": name}],
                "Processors": [
                    {
                        "Name": "p",
                        "Configuration": {
                            "Lambda": {"ResourceArn": processor, "InvocationType": "ASYNC"}
                        },
                        "ExecutionOrder": 1,
                        "FallbackAction": "ABORT",
                    }
                ],
            },
        )
    )
    flow: str = created.output["ChannelFlowArn"]
    return flow


# Rows that name an app instance's resources without belonging to it: remembered answers
# and what the export keeps are forgotten in their own time, the rest is the server's own.
_NOT_THE_INSTANCES = {
    "idempotency",
    "idempotency_answers",
    "export_outbox",
    "export_counter",
    "schema_version",
    "leases",
    "iam_version",
}


async def test_deleting_an_app_instance_takes_all_of_it_and_nothing_else(engine: Engine) -> None:
    store = engine.open()
    try:
        domain = Domain(store)
        gone, kept = [await _populated_instance(domain, name) for name in ("gone", "kept")]
        result = await domain.write(identity.delete_app_instance, AppInstanceArn=gone.app)
        assert result.purges
        assert {e for e in result.events if isinstance(e, UserEvent)} == {
            UserEvent(user, deleted=True) for user in gone.users
        }
        with pytest.raises(NotFound):
            await domain.read(flows.describe_flow, ChannelFlowArn=gone.flow)
        for user in gone.users:
            with pytest.raises(NotFound):
                await domain.read(identity.describe_user, AppInstanceUserArn=user)
        # The other instance answers as before.
        described = await domain.read(flows.describe_flow, ChannelFlowArn=kept.flow)
        assert described.output["ChannelFlow"]["ChannelFlowArn"] == kept.flow
        listed = await domain.read(
            channels.list_memberships_for_user,
            AppInstanceUserArn=kept.users[-1],
            ChimeBearer=kept.users[-1],
        )
        assert len(listed.output["ChannelMemberships"]) == 2
        while await store.write(lambda tx: tx.purge_deleted_messages(7)):
            pass
    finally:
        await store.close()
    tables = engine.sql(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if engine.name == "sqlite"
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
        (),
    )
    naming: dict[str, dict[str, int]] = {"gone": {}, "kept": {}}
    for (table,) in tables:
        if table in _NOT_THE_INSTANCES or table.startswith("sqlite_"):
            continue
        for row in engine.sql(f"SELECT * FROM {table}", ()):
            for name, built in (("gone", gone), ("kept", kept)):
                if any(isinstance(cell, str) and built.app in cell for cell in row):
                    naming[name][table] = naming[name].get(table, 0) + 1
    assert naming["gone"] == {}
    assert set(naming["kept"]) >= {
        "app_instances",
        "users",
        "admins",
        "tags",
        "channels",
        "memberships",
        "moderators",
        "bans",
        "sub_channels",
        "messages",
        "channel_flows",
        "channel_flow_associations",
    }


@dataclasses.dataclass(frozen=True)
class Populated:
    app: str
    users: list[str]
    flow: str


async def _populated_instance(domain: Domain, name: str) -> Populated:
    """An app instance with a bit of everything: users, an admin, tags, a channel with members,
    a moderator, a ban, a message and a flow, and an elastic channel with sub-channels."""
    app = await domain.app(name)
    owner, *others = [await domain.user(app, f"{name}-{n}") for n in range(6)]
    await domain.write(identity.create_admin, AppInstanceArn=app, AppInstanceAdminArn=owner)
    await domain.write(tags.tag_resource, ResourceARN=owner, Tags=[{"Key": "k", "Value": name}])
    channel = await domain.channel(app, owner, Tags=[{"Key": "k", "Value": name}])
    await domain.write(
        channels.batch_create_memberships,
        ChannelArn=channel,
        MemberArns=others,
        Type="DEFAULT",
        ChimeBearer=owner,
    )
    await domain.write(
        channels.create_moderator,
        ChannelArn=channel,
        ChannelModeratorArn=others[0],
        ChimeBearer=owner,
    )
    await domain.write(
        channels.create_ban, ChannelArn=channel, MemberArn=others[1], ChimeBearer=owner
    )
    await domain.write(
        messages.send_message,
        ChannelArn=channel,
        Content="hello",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=owner,
    )
    flow = await tagged_flow(domain, app, name)
    await domain.write(
        flows.associate_flow, ChannelArn=channel, ChannelFlowArn=flow, ChimeBearer=owner
    )
    elastic = await domain.channel(
        app,
        owner,
        ElasticChannelConfiguration={
            "MaximumSubChannels": 3,
            "TargetMembershipsPerSubChannel": 2,
            "MinimumMembershipPercentage": 10,
        },
    )
    await domain.write(
        channels.batch_create_memberships,
        ChannelArn=elastic,
        MemberArns=others,
        Type="DEFAULT",
        ChimeBearer=owner,
    )
    return Populated(app, [owner, *others], flow)


# --- channels and memberships --------------------------------------------------------------------


async def test_a_new_channel_subscribes_its_creator_and_members(domain: Domain) -> None:
    app = await domain.app()
    alice, bob = await domain.user(app, "alice"), await domain.user(app, "bob")
    result = await domain.write(
        channels.create_channel,
        AppInstanceArn=app,
        Name="general",
        ChimeBearer=alice,
        MemberArns=[bob],
        Mode="RESTRICTED",
    )
    (event,) = channel_events(result)
    assert event.event.type is EventType.CREATE_CHANNEL
    assert event.subscribe == (alice, bob) and event.seq == 1
    assert event.channel_arn == result.output["ChannelArn"]
    described = await domain.read(
        channels.describe_channel, ChannelArn=event.channel_arn, ChimeBearer=bob
    )
    assert described.output["Channel"]["Name"] == "general"
    assert described.output["Channel"]["Mode"] == "RESTRICTED"
    moderator = await domain.read(
        channels.describe_moderator,
        ChannelArn=event.channel_arn,
        ChannelModeratorArn=alice,
        ChimeBearer=alice,
    )
    assert moderator.output["ChannelModerator"]["Moderator"]["Arn"] == alice


async def test_a_failing_operation_leaves_nothing_behind(domain: Domain) -> None:
    app = await domain.app()
    alice = await domain.user(app, "alice")
    # The channel row is written before the unknown member is found: the unit's savepoint
    # must take it back.
    with pytest.raises(NotFound, match="nobody"):
        await domain.write(
            channels.create_channel,
            AppInstanceArn=app,
            Name="c",
            ChimeBearer=alice,
            ChannelId="half",
            MemberArns=[f"{app}/user/nobody"],
        )
    with pytest.raises(NotFound):
        await domain.read(
            channels.describe_channel, ChannelArn=f"{app}/channel/half", ChimeBearer=alice
        )
    listed = await domain.read(channels.list_channels, AppInstanceArn=app, ChimeBearer=alice)
    assert listed.output["Channels"] == []
    assert domain.committed == []  # only the app instance and the user were created


async def test_the_bearer_must_be_a_user_of_the_channels_app_instance(domain: Domain) -> None:
    app, other = await domain.app("one"), await domain.app("two")
    alice, mallory = await domain.user(app, "alice"), await domain.user(other, "mallory")
    channel = await domain.channel(app, alice)
    with pytest.raises(UnauthorizedClient):
        await domain.read(channels.describe_channel, ChannelArn=channel, ChimeBearer="nobody")
    with pytest.raises(Forbidden, match="does not belong"):
        await domain.read(channels.describe_channel, ChannelArn=channel, ChimeBearer=mallory)


async def test_only_moderators_add_members_to_a_restricted_channel(domain: Domain) -> None:
    app = await domain.app()
    alice, bob, carol = [await domain.user(app, n) for n in ("alice", "bob", "carol")]
    channel = await domain.channel(app, alice, MemberArns=[bob], Mode="RESTRICTED")
    with pytest.raises(Forbidden, match="RESTRICTED"):
        await domain.write(
            channels.create_membership,
            ChannelArn=channel,
            MemberArn=carol,
            Type="DEFAULT",
            ChimeBearer=bob,
        )
    result = await domain.write(
        channels.create_membership,
        ChannelArn=channel,
        MemberArn=carol,
        Type="DEFAULT",
        ChimeBearer=alice,
    )
    (event,) = channel_events(result)
    assert event.event.type is EventType.CREATE_CHANNEL_MEMBERSHIP
    assert event.subscribe == (carol,) and event.seq == 2
    with pytest.raises(Conflict, match="already a member"):
        await domain.write(
            channels.create_membership,
            ChannelArn=channel,
            MemberArn=carol,
            Type="DEFAULT",
            ChimeBearer=alice,
        )


async def test_a_ban_removes_the_member_and_keeps_them_out(domain: Domain) -> None:
    app = await domain.app()
    alice, bob = await domain.user(app, "alice"), await domain.user(app, "bob")
    channel = await domain.channel(app, alice, MemberArns=[bob])
    with pytest.raises(Forbidden, match="ban members"):
        await domain.write(
            channels.create_ban, ChannelArn=channel, MemberArn=alice, ChimeBearer=bob
        )
    result = await domain.write(
        channels.create_ban, ChannelArn=channel, MemberArn=bob, ChimeBearer=alice
    )
    (event,) = channel_events(result)
    assert event.event.type is EventType.DELETE_CHANNEL_MEMBERSHIP
    assert event.unsubscribe == (bob,)
    with pytest.raises(Forbidden, match="banned"):
        await domain.write(
            channels.create_membership,
            ChannelArn=channel,
            MemberArn=bob,
            Type="DEFAULT",
            ChimeBearer=alice,
        )


# --- messages ------------------------------------------------------------------------------------


async def test_messages_reach_everyone_or_only_sender_and_target(domain: Domain) -> None:
    app = await domain.app()
    alice, bob, carol = [await domain.user(app, n) for n in ("alice", "bob", "carol")]
    channel = await domain.channel(app, alice, MemberArns=[bob, carol])
    common = {"ChannelArn": channel, "Type": "STANDARD", "Persistence": "PERSISTENT"}
    to_all = await domain.write(messages.send_message, ChimeBearer=bob, Content="hi", **common)
    (event,) = channel_events(to_all)
    assert event.event.type is EventType.CREATE_CHANNEL_MESSAGE
    assert event.only is None and event.seq == 2
    assert event.event.payload is not None and event.event.payload["Content"] == "hi"
    targeted = await domain.write(
        messages.send_message,
        ChimeBearer=bob,
        Content="psst",
        Target=[{"MemberArn": carol}],
        **common,
    )
    (event,) = channel_events(targeted)
    assert event.only == frozenset({bob, carol}) and event.seq == 3
    listed = await domain.read(
        messages.list_messages, ChannelArn=channel, ChimeBearer=alice, SortOrder="ASCENDING"
    )
    contents = [m["Content"] for m in listed.output["ChannelMessages"]]
    assert contents == ["hi"]  # a targeted message is not listed to a third member
    got = await domain.read(
        messages.get_message,
        ChannelArn=channel,
        MessageId=to_all.output["MessageId"],
        ChimeBearer=carol,
    )
    assert got.output["ChannelMessage"]["Sender"]["Arn"] == bob


async def test_a_target_must_name_one_member(domain: Domain) -> None:
    app = await domain.app()
    alice, bob = [await domain.user(app, n) for n in ("alice", "bob")]
    channel = await domain.channel(app, alice, MemberArns=[bob])
    common = {"ChannelArn": channel, "Type": "STANDARD", "Persistence": "PERSISTENT"}
    # The model leaves Target's MemberArn optional, so the codec lets an empty one through.
    for target in ([{}], [{"MemberArn": bob}, {"MemberArn": alice}]):
        with pytest.raises(BadRequest, match="exactly one member"):
            await domain.write(
                messages.send_message, ChimeBearer=alice, Content="x", Target=target, **common
            )
    listed = await domain.read(messages.list_messages, ChannelArn=channel, ChimeBearer=alice)
    assert listed.output["ChannelMessages"] == []  # nothing was sent


async def test_a_non_member_cannot_send(domain: Domain) -> None:
    app = await domain.app()
    alice, eve = await domain.user(app, "alice"), await domain.user(app, "eve")
    channel = await domain.channel(app, alice, Privacy="PUBLIC")
    with pytest.raises(Forbidden, match="member"):
        await domain.write(
            messages.send_message,
            ChannelArn=channel,
            ChimeBearer=eve,
            Content="hello",
            Type="STANDARD",
            Persistence="PERSISTENT",
        )


async def test_every_error_is_a_modeled_client_error(domain: Domain) -> None:
    """What the REST shell turns into a modeled answer: the domain raises AwsError only."""
    app = await domain.app()
    alice = await domain.user(app, "alice")
    cases: list[tuple[Operation, dict[str, Any]]] = [
        (channels.describe_channel, {"ChannelArn": f"{app}/channel/x", "ChimeBearer": alice}),
        (identity.describe_app_instance, {"AppInstanceArn": f"{app}x"}),
        (messages.list_messages, {"ChannelArn": f"{app}/channel/x", "ChimeBearer": alice}),
    ]
    for op, params in cases:
        with pytest.raises(AwsError) as raised:
            await domain.read(op, **params)
        assert raised.value.status < 500
