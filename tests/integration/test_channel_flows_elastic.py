"""Channel flows on elastic channels: the processor event names the message's sub-channel, the
callback may name it back, and the processed message reaches that sub-channel only.

A real aiohttp processor on loopback (``flow_processor.py``) that never calls back by itself:
the test calls back with boto3 under an IAM user allowed only ``chime:ChannelFlowCallback``.
Events are read with the Python MessagingSession client.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flow_processor import Processor
from test_channel_flows import (
    ACCOUNT,
    MESSAGE_EVENTS,
    REGION,
    App,
    Callers,
    app_on,
    call,
    flow_server,
    of_type,
    processor,
    raises,
    session_for,
)

from bellwire import flows
from bellwire.client import Established, EventType
from bellwire.testing import RunningServer

QUIET = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:elastic-quiet"
SHOUTS = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:elastic-shouts"
CONFIG = {
    "MaximumSubChannels": 3,
    "TargetMembershipsPerSubChannel": 2,
    "MinimumMembershipPercentage": 10,
}


@pytest.fixture(scope="module")
def callers() -> Callers:
    return Callers()


@pytest.fixture(scope="module")
def quiet(callers: Callers) -> Iterator[Processor]:
    started = Processor(silent=True, client=callers.client).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def shouts(callers: Callers) -> Iterator[Processor]:
    """A processor written with the kit: its callbacks name the sub-channel back."""
    started = Processor(
        decide=lambda e: flows.Send(content=e.content.upper()), client=callers.client
    ).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    quiet: Processor,
    shouts: Processor,
    callers: Callers,
) -> Iterator[RunningServer]:
    with flow_server(
        tmp_path_factory.mktemp("elastic-flows"),
        {QUIET: quiet.url, SHOUTS: shouts.url},
        callers,
        "elastic-processor",
    ) as running:
        yield running


@pytest.fixture
def app(server: RunningServer) -> App:
    return app_on(server)


def sub_channel_of(app: App, channel: str, member: str) -> str:
    found: str = app.messaging.describe_channel_membership(
        ChannelArn=channel, MemberArn=member, ChimeBearer=app.alice
    )["ChannelMembership"]["SubChannelId"]
    return found


async def test_a_flow_on_an_elastic_channel_delivers_to_the_sub_channel_only(
    app: App, server: RunningServer, quiet: Processor, callers: Callers, watch: Any
) -> None:
    m = app.messaging
    channel = app.channel(app.alice, ElasticChannelConfiguration=CONFIG)
    for member in (app.bob, app.carol, app.dave):  # two per sub-channel: dave goes elsewhere
        app.add(channel, member)
    here, there = sub_channel_of(app, channel, app.bob), sub_channel_of(app, channel, app.dave)
    assert sub_channel_of(app, channel, app.carol) == here != there
    flow_arn = m.create_channel_flow(
        AppInstanceArn=app.arn,
        Processors=[processor(QUIET)],
        Name="elastic",
        ClientRequestToken=uuid.uuid4().hex,
    )["ChannelFlowArn"]
    m.associate_channel_flow(ChannelArn=channel, ChannelFlowArn=flow_arn, ChimeBearer=app.alice)
    bob, carol, dave = (watch(session_for(server, user)) for user in (app.bob, app.carol, app.dave))
    for session in (bob, carol, dave):
        await session.next(Established)

    before = len(quiet.events)
    sent = await call(
        m.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.bob,
        Content="for my sub-channel",
        Type="STANDARD",
        Persistence="PERSISTENT",
        SubChannelId=here,
    )
    assert (sent["Status"], sent["SubChannelId"]) == ({"Value": "PENDING"}, here)
    pending = await bob.next(of_type(*MESSAGE_EVENTS))
    assert pending.type == EventType.PENDING_CREATE_CHANNEL_MESSAGE
    assert pending.payload["SubChannelId"] == here
    event = (await call(quiet.arrived, count=before + 1))[before]
    assert event["ChannelMessage"]["SubChannelId"] == here
    assert m.get_channel_message_status(
        ChannelArn=channel, MessageId=sent["MessageId"], ChimeBearer=app.bob, SubChannelId=here
    )["Status"] == {"Value": "PENDING"}

    client = callers.client()
    # Another sub-channel than the message's is refused: a processor cannot move a message.
    with raises(client, "BadRequestException", f"sub-channel {here}"):
        client.channel_flow_callback(
            CallbackId=event["CallbackId"],
            ChannelArn=channel,
            ChannelMessage={
                "MessageId": sent["MessageId"],
                "SubChannelId": there,
                "Content": "moved",
            },
        )
    await call(
        client.channel_flow_callback,
        CallbackId=event["CallbackId"],
        ChannelArn=channel,
        ChannelMessage={
            "MessageId": sent["MessageId"],
            "SubChannelId": here,
            "Content": "processed",
        },
    )
    for session in (bob, carol):
        created = await session.next(of_type(*MESSAGE_EVENTS))
        assert created.type == EventType.CREATE_CHANNEL_MESSAGE
        assert (created.payload["Content"], created.payload["SubChannelId"]) == (
            "processed",
            here,
        )
    # The other sub-channel heard nothing: its next message event is its own sentinel.
    sentinel = await call(
        m.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.dave,
        Content="sentinel",
        Type="CONTROL",
        Persistence="NON_PERSISTENT",
        SubChannelId=there,
    )
    first = await dave.next(of_type(*MESSAGE_EVENTS))
    assert first.payload["MessageId"] == sentinel["MessageId"]
    listed = m.list_channel_messages(ChannelArn=channel, ChimeBearer=app.carol, SubChannelId=here)
    assert [x["Content"] for x in listed["ChannelMessages"]] == ["processed"]
    assert (
        m.list_channel_messages(ChannelArn=channel, ChimeBearer=app.dave, SubChannelId=there)[
            "ChannelMessages"
        ]
        == []
    )


def test_a_callback_naming_a_sub_channel_on_a_plain_channel_is_refused(
    app: App, quiet: Processor, callers: Callers
) -> None:
    m = app.messaging
    channel = app.channel(app.alice)
    flow_arn = m.create_channel_flow(
        AppInstanceArn=app.arn,
        Processors=[processor(QUIET)],
        Name="plain",
        ClientRequestToken=uuid.uuid4().hex,
    )["ChannelFlowArn"]
    m.associate_channel_flow(ChannelArn=channel, ChannelFlowArn=flow_arn, ChimeBearer=app.alice)
    before = len(quiet.events)
    sent = app.send(channel, app.alice, "plain")
    event = quiet.arrived(before + 1)[before]
    assert "SubChannelId" not in event["ChannelMessage"]
    client = callers.client()
    with raises(client, "BadRequestException", "without sub-channels"):
        client.channel_flow_callback(
            CallbackId=event["CallbackId"],
            ChannelArn=channel,
            ChannelMessage={"MessageId": sent, "SubChannelId": "nope"},
        )


def test_a_kit_processor_on_an_elastic_channel(app: App, shouts: Processor) -> None:
    m = app.messaging
    channel = app.channel(app.alice, ElasticChannelConfiguration=CONFIG)
    app.add(channel, app.bob)
    sub = sub_channel_of(app, channel, app.bob)
    flow_arn = m.create_channel_flow(
        AppInstanceArn=app.arn,
        Processors=[processor(SHOUTS)],
        Name="kit",
        ClientRequestToken=uuid.uuid4().hex,
    )["ChannelFlowArn"]
    m.associate_channel_flow(ChannelArn=channel, ChannelFlowArn=flow_arn, ChimeBearer=app.alice)
    sent = app.send(channel, app.bob, "quiet words", SubChannelId=sub)
    deadline = time.monotonic() + 15
    status = "PENDING"
    while status == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.05)
        status = m.get_channel_message_status(
            ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob, SubChannelId=sub
        )["Status"]["Value"]
    assert status == "SENT", shouts.errors
    [callback] = [c for c in shouts.callbacks if c["ChannelMessage"]["MessageId"] == sent]
    assert callback["ChannelMessage"]["SubChannelId"] == sub
    got = m.get_channel_message(
        ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob, SubChannelId=sub
    )["ChannelMessage"]
    assert (got["Content"], got["SubChannelId"]) == ("QUIET WORDS", sub)
