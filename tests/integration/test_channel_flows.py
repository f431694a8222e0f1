"""Channel flows against a real server and real processors on loopback (spec §8, §2.8).

Every processor here is an aiohttp server (``flow_processor.py``) that checks bellwire's
signature and answers with ChannelFlowCallback through boto3, signed with the SigV4 keys of an
IAM user whose only permission is ``chime:ChannelFlowCallback``, as a Lambda's role would be.
Events are read with the Python MessagingSession client.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from flow_processor import SECRET, Processor
from server_process import free_port, scraped
from server_process import start as start_process
from sinks_helpers import RedisStream, decoded, wait_for

from bellwire import flows
from bellwire.client import Established, EventType, MessagingSession, ReconnectPolicy, SessionEvent
from bellwire.server import DB_FILE
from bellwire.store.engines import read_only
from bellwire.testing import RunningServer, start_server, store_for


def _integration_helpers() -> ModuleType:
    """This suite's conftest under a name of its own: ``import conftest`` finds whichever
    conftest was imported first when several suites run in one session."""
    spec = importlib.util.spec_from_file_location(
        "integration_conftest", Path(__file__).with_name("conftest.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_helpers = _integration_helpers()
App = _helpers.App
make_app = _helpers.make_app
raises = _helpers.raises

REGION = "us-east-1"
ACCOUNT = "123456789012"
SENDS = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sends"
QUIET = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:quiet"
SLOW = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slow"
DEAD = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:dead"
UNMAPPED = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:unmapped"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/chime-messaging-flows"
ROOT_KEY = "AKIAFLOWTESTROOT0001"
ROOT_SECRET = "flow-test-root-secret-key-0123456789abcd"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
FAST = ReconnectPolicy(base=0.05, cap=0.2, window=3.0)


def decide(event: flows.ProcessorEvent) -> flows.Decision:
    """Deny what says "forbidden", shout what says "shout", send the rest unchanged."""
    if "forbidden" in event.content:
        return flows.Deny()
    if "shout" in event.content:
        return flows.Send(content=event.content.upper(), metadata="processed")
    return flows.Send()


# --- the world: processors, a server that maps their ARNs, a callback identity ---------------


class Callers:
    """Keys of an IAM user allowed chime:ChannelFlowCallback only (the Lambda's role)."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.url = ""

    def client(self) -> Any:
        return boto3.client(
            "chime-sdk-messaging",
            endpoint_url=self.url,
            region_name=REGION,
            config=NO_RETRY,
            **self.keys,
        )


def allow_callbacks(running: RunningServer, name: str, action: str) -> dict[str, str]:
    iam = running.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="processor",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": action, "Resource": "arn:aws:chime:*:*:*"}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }


@pytest.fixture(scope="module")
def callers() -> Callers:
    return Callers()


@contextlib.contextmanager
def running_processors(started: dict[str, Processor]) -> Iterator[dict[str, Processor]]:
    """Processors by Lambda ARN, stopped on exit."""
    try:
        yield started
    finally:
        for p in started.values():
            p.stop()


@contextlib.contextmanager
def flow_server(
    data_dir: Path,
    resources: dict[str, str],
    callers: Callers | None = None,
    caller_name: str = "processor",
    **settings: Any,
) -> Iterator[RunningServer]:
    """A server whose resource map points Lambda ARNs at processors (signing with their secret
    unless ``webhook_secret`` says otherwise); with ``callers``, the processors call back as a
    new IAM user allowed only ``chime:ChannelFlowCallback``."""
    settings = {
        "webhook_secret": SECRET,
        "connects_per_user_per_second": 1000.0,
        "connect_burst": 1000,
        **settings,
    }
    running = start_server(data_dir, resources=resources, **settings)
    try:
        if callers is not None:
            callers.url = running.url
            callers.keys = allow_callbacks(running, caller_name, "chime:ChannelFlowCallback")
        yield running
    finally:
        running.stop()


def app_on(running: RunningServer) -> App:
    """A fresh app instance with its users, through clients that never retry."""
    return make_app(
        running.client("chime-sdk-identity", config=NO_RETRY),
        running.client("chime-sdk-messaging", config=NO_RETRY),
    )


@pytest.fixture(scope="module")
def processors(callers: Callers) -> Iterator[dict[str, Processor]]:
    with running_processors(
        {
            SENDS: Processor(decide=decide, client=callers.client).start(),
            QUIET: Processor(silent=True, client=callers.client).start(),
            SLOW: Processor(decide=decide, client=callers.client).start(),
        }
    ) as started:
        yield started


@pytest.fixture(scope="module")
def stream() -> Iterator[RedisStream]:
    """A Redis stream the server's resource map names (``STREAM``)."""
    made = RedisStream()
    yield made
    made.delete()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    processors: dict[str, Processor],
    callers: Callers,
    stream: RedisStream,
) -> Iterator[RunningServer]:
    resources = {arn: p.url for arn, p in processors.items()}
    resources[DEAD] = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    resources[STREAM] = stream.url
    with flow_server(
        tmp_path_factory.mktemp("flows"),
        resources,
        callers,
        webhook_retries=1,
        webhook_timeout_seconds=5.0,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def identity(server: RunningServer) -> Any:
    return server.client("chime-sdk-identity", config=NO_RETRY)


@pytest.fixture(scope="module")
def messaging(server: RunningServer) -> Any:
    return server.client("chime-sdk-messaging", config=NO_RETRY)


@pytest.fixture
def app(identity: Any, messaging: Any) -> App:
    return make_app(identity, messaging)


def processor(arn: str, fallback: str = "ABORT", name: str = "p") -> dict[str, Any]:
    return {
        "Name": name,
        "Configuration": {"Lambda": {"ResourceArn": arn, "InvocationType": "ASYNC"}},
        "ExecutionOrder": 1,
        "FallbackAction": fallback,
    }


def flow(app: App, arn: str, fallback: str = "ABORT", **kwargs: Any) -> str:
    created: str = app.messaging.create_channel_flow(
        AppInstanceArn=app.arn,
        Processors=[processor(arn, fallback)],
        Name=kwargs.pop("Name", "moderation"),
        ClientRequestToken=kwargs.pop("ClientRequestToken", uuid.uuid4().hex),
        **kwargs,
    )["ChannelFlowArn"]
    return created


def channel_with_flow(app: App, arn: str, fallback: str = "ABORT") -> str:
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.messaging.associate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=flow(app, arn, fallback), ChimeBearer=app.alice
    )
    return channel


def session_for(running: RunningServer, user_arn: str) -> MessagingSession:
    boto_session = botocore.session.Session()
    boto_session.set_credentials(running.access_key_id, running.secret_access_key)
    return MessagingSession(
        user_arn,
        boto_session=boto_session,
        region=running.region,
        endpoint_url=running.url,
        policy=FAST,
    )


async def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, **kwargs)


def of_type(*types: EventType) -> Callable[[Any], bool]:
    return lambda i: isinstance(i, SessionEvent) and i.type in types


MESSAGE_EVENTS = (
    EventType.CREATE_CHANNEL_MESSAGE,
    EventType.UPDATE_CHANNEL_MESSAGE,
    EventType.PENDING_CREATE_CHANNEL_MESSAGE,
    EventType.PENDING_UPDATE_CHANNEL_MESSAGE,
    EventType.DENIED_CREATE_CHANNEL_MESSAGE,
    EventType.DENIED_UPDATE_CHANNEL_MESSAGE,
    EventType.FAILED_CREATE_CHANNEL_MESSAGE,
    EventType.FAILED_UPDATE_CHANNEL_MESSAGE,
)


# --- the API ------------------------------------------------------------------------------------


def test_flow_life_cycle(app: App) -> None:
    m = app.messaging
    token = uuid.uuid4().hex
    arn = flow(app, SENDS, ClientRequestToken=token, Tags=[{"Key": "team", "Value": "trust"}])
    # The same token and parameters: the same flow; other parameters: a Conflict.
    assert (
        flow(app, SENDS, ClientRequestToken=token, Tags=[{"Key": "team", "Value": "trust"}]) == arn
    )
    with raises(m, "ConflictException", "ClientRequestToken"):
        flow(app, SENDS, ClientRequestToken=token, Name="other")
    assert arn.startswith(app.arn + "/channel-flow/")
    described = m.describe_channel_flow(ChannelFlowArn=arn)["ChannelFlow"]
    assert described["Name"] == "moderation"
    assert described["Processors"] == [processor(SENDS)]
    assert described["CreatedTimestamp"] == described["LastUpdatedTimestamp"]
    assert m.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "trust"}]
    m.tag_resource(ResourceARN=arn, Tags=[{"Key": "tier", "Value": "gold"}])
    m.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert m.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "tier", "Value": "gold"}]

    m.update_channel_flow(
        ChannelFlowArn=arn, Name="renamed", Processors=[processor(QUIET, "CONTINUE")]
    )
    described = m.describe_channel_flow(ChannelFlowArn=arn)["ChannelFlow"]
    assert (described["Name"], described["Processors"]) == (
        "renamed",
        [processor(QUIET, "CONTINUE")],
    )
    assert m.list_channel_flows(AppInstanceArn=app.arn)["ChannelFlows"] == [
        {"ChannelFlowArn": arn, "Name": "renamed", "Processors": [processor(QUIET, "CONTINUE")]}
    ]

    channel = app.channel(app.alice, Metadata="about")
    app.add(channel, app.bob)
    # Members who are not moderators cannot associate; moderators (the creator) can.
    with raises(m, "ForbiddenException", "moderators"):
        m.associate_channel_flow(ChannelArn=channel, ChannelFlowArn=arn, ChimeBearer=app.bob)
    m.associate_channel_flow(ChannelArn=channel, ChannelFlowArn=arn, ChimeBearer=app.alice)
    assert (
        m.describe_channel(ChannelArn=channel, ChimeBearer=app.bob)["Channel"]["ChannelFlowArn"]
        == arn
    )
    with raises(m, "ConflictException", "at most one flow"):
        m.associate_channel_flow(
            ChannelArn=channel, ChannelFlowArn=flow(app, SENDS), ChimeBearer=app.admin
        )
    listed = m.list_channels_associated_with_channel_flow(ChannelFlowArn=arn)["Channels"]
    assert [(c["ChannelArn"], c["Metadata"], c["Privacy"]) for c in listed] == [
        (channel, "about", "PRIVATE")
    ]
    with raises(m, "ConflictException", "disassociate"):
        m.delete_channel_flow(ChannelFlowArn=arn)
    with raises(m, "ForbiddenException"):
        m.disassociate_channel_flow(ChannelArn=channel, ChannelFlowArn=arn, ChimeBearer=app.bob)
    m.disassociate_channel_flow(ChannelArn=channel, ChannelFlowArn=arn, ChimeBearer=app.admin)
    assert (
        "ChannelFlowArn"
        not in m.describe_channel(ChannelArn=channel, ChimeBearer=app.bob)["Channel"]
    )
    with raises(m, "NotFoundException", "not associated"):
        m.disassociate_channel_flow(ChannelArn=channel, ChannelFlowArn=arn, ChimeBearer=app.alice)
    m.delete_channel_flow(ChannelFlowArn=arn)
    with raises(m, "NotFoundException", "does not exist"):
        m.describe_channel_flow(ChannelFlowArn=arn)


def test_a_deleted_channel_leaves_its_flow(app: App) -> None:
    """A channel made again with the same ChannelId does not inherit the old association, and
    the flow can be deleted once its only channel is gone."""
    m = app.messaging
    arn = flow(app, SENDS)
    channel = app.channel(app.alice, ChannelId="again")
    m.associate_channel_flow(ChannelArn=channel, ChannelFlowArn=arn, ChimeBearer=app.alice)
    m.delete_channel(ChannelArn=channel, ChimeBearer=app.alice)
    assert app.channel(app.alice, ChannelId="again") == channel
    assert (
        "ChannelFlowArn"
        not in m.describe_channel(ChannelArn=channel, ChimeBearer=app.alice)["Channel"]
    )
    assert m.list_channels_associated_with_channel_flow(ChannelFlowArn=arn)["Channels"] == []
    m.delete_channel_flow(ChannelFlowArn=arn)


def test_an_unmapped_lambda_is_refused_with_how_to_map_it(app: App) -> None:
    with raises(app.messaging, "BadRequestException", f"--resource {UNMAPPED}=URL"):
        flow(app, UNMAPPED)
    assert app.messaging.list_channel_flows(AppInstanceArn=app.arn)["ChannelFlows"] == []


@pytest.mark.parametrize(
    ("given", "shape", "match"),
    [
        (
            [processor(SENDS), {**processor(QUIET, name="q"), "ExecutionOrder": 3}],
            "BadRequestException",
            "ExecutionOrder",
        ),
        (
            [processor(SENDS), {**processor(QUIET), "ExecutionOrder": 2}],
            "BadRequestException",
            "unique",
        ),
        ([{**processor(SENDS), "ExecutionOrder": 2}], "BadRequestException", "ExecutionOrder"),
        (
            [processor("arn:aws:lambda:us-east-1:999999999999:function:sends")],
            "BadRequestException",
            "account",
        ),
    ],
)
def test_processor_rules(app: App, given: list[dict[str, Any]], shape: str, match: str) -> None:
    with raises(app.messaging, shape, match):
        app.messaging.create_channel_flow(
            AppInstanceArn=app.arn,
            Processors=given,
            Name="x",
            ClientRequestToken=uuid.uuid4().hex,
        )


# --- messages through a processor ---------------------------------------------------------------


async def test_a_processed_message_is_pending_for_the_sender_then_sent_to_all(
    app: App, server: RunningServer, processors: dict[str, Processor], watch: Any
) -> None:
    channel = channel_with_flow(app, SENDS)
    alice, bob = watch(session_for(server, app.alice)), watch(session_for(server, app.bob))
    await alice.next(Established)
    await bob.next(Established)
    before = len(processors[SENDS].events)
    sent = await call(
        app.messaging.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="please shout",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ClientRequestToken=uuid.uuid4().hex,
    )
    assert sent["Status"] == {"Value": "PENDING"}
    pending = await alice.event(EventType.PENDING_CREATE_CHANNEL_MESSAGE)
    assert pending.payload["MessageId"] == sent["MessageId"]
    assert (
        pending.payload["Status"] == {"Value": "PENDING"}
        and pending.payload["Content"] == "please shout"
    )
    created = await alice.event(EventType.CREATE_CHANNEL_MESSAGE)
    assert (
        created.payload["Content"] == "PLEASE SHOUT" and created.payload["Metadata"] == "processed"
    )
    assert created.payload["Status"] == {"Value": "SENT"}
    theirs = await bob.next(of_type(*MESSAGE_EVENTS))
    assert theirs.type == EventType.CREATE_CHANNEL_MESSAGE and theirs.payload == created.payload

    # The processor got the documented Lambda event, signed.
    event = processors[SENDS].events[before]
    assert event["EventType"] == "CHANNEL_MESSAGE_EVENT" and len(event["CallbackId"]) >= 32
    message = event["ChannelMessage"]
    assert set(message) == {
        "MessageId",
        "ChannelArn",
        "Content",
        "Sender",
        "Persistence",
        "Type",
        "CreatedTimestamp",
    }
    assert message["Sender"] == {"Arn": app.alice, "Name": "Alice"}
    assert isinstance(message["CreatedTimestamp"], str) and message["CreatedTimestamp"].endswith(
        "Z"
    )
    assert (message["Content"], message["Type"], message["Persistence"]) == (
        "please shout",
        "STANDARD",
        "PERSISTENT",
    )
    # Stored as processed; every reader sees it SENT.
    got = await call(
        app.messaging.get_channel_message,
        ChannelArn=channel,
        MessageId=sent["MessageId"],
        ChimeBearer=app.bob,
    )
    assert got["ChannelMessage"]["Content"] == "PLEASE SHOUT"
    status = await call(
        app.messaging.get_channel_message_status,
        ChannelArn=channel,
        MessageId=sent["MessageId"],
        ChimeBearer=app.alice,
    )
    assert status["Status"] == {"Value": "SENT"}


def test_what_a_flow_lets_through_is_streamed_as_it_left_the_flow(
    app: App, server: RunningServer, stream: RedisStream
) -> None:
    """A message SENT by its processor's callback reaches the app instance's stream once, as
    processed; a denied one never does."""
    app.messaging.put_messaging_streaming_configurations(
        AppInstanceArn=app.arn,
        StreamingConfigurations=[{"DataType": "ChannelMessage", "ResourceArn": STREAM}],
    )
    channel = channel_with_flow(app, SENDS)
    sent = [
        app.messaging.send_channel_message(
            ChannelArn=channel,
            ChimeBearer=app.alice,
            Content=content,
            Type="STANDARD",
            Persistence="PERSISTENT",
        )["MessageId"]
        for content in ("please shout", "forbidden words", "as is")
    ]

    def mine() -> list[tuple[str, dict[str, Any]]]:
        records = [(e["partition_key"], decoded(e["record"])) for e in stream.entries()]
        return [record for key, record in records if key == channel]

    wait_for(lambda: len(mine()) >= 2)
    time.sleep(0.3)  # a record of the denied message would have come by now
    assert [(kind, p["MessageId"], p["Content"]) for kind, p in mine()] == [
        ("CREATE_CHANNEL_MESSAGE", sent[0], "PLEASE SHOUT"),
        ("CREATE_CHANNEL_MESSAGE", sent[2], "as is"),
    ]


async def test_a_denied_message_reaches_its_sender_alone_and_is_not_kept(
    app: App, server: RunningServer, watch: Any
) -> None:
    channel = channel_with_flow(app, SENDS)
    alice, bob = watch(session_for(server, app.alice)), watch(session_for(server, app.bob))
    await alice.next(Established)
    await bob.next(Established)
    sent = await call(
        app.messaging.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="something forbidden",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    await alice.event(EventType.PENDING_CREATE_CHANNEL_MESSAGE)
    denied = await alice.event(EventType.DENIED_CREATE_CHANNEL_MESSAGE)
    assert denied.payload["MessageId"] == sent["MessageId"]
    assert denied.payload["Status"] == {"Value": "DENIED"}
    # A CONTROL message bypasses the flow: the first message event bob sees is that one.
    control = await call(
        app.messaging.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="typing",
        Type="CONTROL",
        Persistence="NON_PERSISTENT",
    )
    assert control["Status"] == {"Value": "SENT"}
    first = await bob.next(of_type(*MESSAGE_EVENTS))
    assert (first.type, first.payload["MessageId"]) == (
        EventType.CREATE_CHANNEL_MESSAGE,
        control["MessageId"],
    )
    for reader in (app.alice, app.bob):
        with raises(app.messaging, "NotFoundException"):
            await call(
                app.messaging.get_channel_message,
                ChannelArn=channel,
                MessageId=sent["MessageId"],
                ChimeBearer=reader,
            )
    listed = await call(
        app.messaging.list_channel_messages, ChannelArn=channel, ChimeBearer=app.alice
    )
    assert listed["ChannelMessages"] == []


def test_pending_messages_show_to_their_sender_only_until_the_callback(
    app: App, processors: dict[str, Processor], callers: Callers
) -> None:
    m = app.messaging
    channel = channel_with_flow(app, QUIET)
    quiet = processors[QUIET]
    before = len(quiet.events)
    sent = m.send_channel_message(
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="hello",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    event = quiet.arrived(before + 1)[before]
    assert event["ChannelMessage"]["MessageId"] == sent["MessageId"]
    mine = m.list_channel_messages(ChannelArn=channel, ChimeBearer=app.alice)["ChannelMessages"]
    assert [(x["MessageId"], x["Status"]["Value"]) for x in mine] == [
        (sent["MessageId"], "PENDING")
    ]
    assert m.list_channel_messages(ChannelArn=channel, ChimeBearer=app.bob)["ChannelMessages"] == []
    with raises(m, "NotFoundException"):
        m.get_channel_message(ChannelArn=channel, MessageId=sent["MessageId"], ChimeBearer=app.bob)
    assert m.get_channel_message_status(
        ChannelArn=channel, MessageId=sent["MessageId"], ChimeBearer=app.alice
    )["Status"] == {"Value": "PENDING"}
    # The processor-side identity answers late, as a slow Lambda would.
    processor_client = callers.client()
    with raises(processor_client, "BadRequestException", "not"):
        processor_client.channel_flow_callback(
            CallbackId=event["CallbackId"],
            ChannelArn=channel,
            ChannelMessage={"MessageId": "0" * 32, "Content": "x"},
        )
    request = {
        "CallbackId": event["CallbackId"],
        "ChannelArn": channel,
        "ChannelMessage": {
            "MessageId": sent["MessageId"],
            "Content": "hello, edited",
            "MessageAttributes": {"lang": {"StringValues": ["en"]}},
        },
    }
    answer = processor_client.channel_flow_callback(**request)
    assert (answer["ChannelArn"], answer["CallbackId"]) == (channel, event["CallbackId"])
    # The same CallbackId again: the same answer; with another body: a Conflict.
    assert processor_client.channel_flow_callback(**request)["CallbackId"] == event["CallbackId"]
    with raises(processor_client, "ConflictException", "CallbackId"):
        processor_client.channel_flow_callback(**{**request, "DeleteResource": True})
    theirs = m.get_channel_message(
        ChannelArn=channel, MessageId=sent["MessageId"], ChimeBearer=app.bob
    )
    assert theirs["ChannelMessage"]["Content"] == "hello, edited"
    assert theirs["ChannelMessage"]["MessageAttributes"] == {"lang": {"StringValues": ["en"]}}
    assert theirs["ChannelMessage"]["Status"] == {"Value": "SENT"}


def test_callbacks_need_permission_and_a_valid_signature(
    app: App, server: RunningServer, processors: dict[str, Processor]
) -> None:
    channel = channel_with_flow(app, QUIET)
    quiet = processors[QUIET]
    before = len(quiet.events)
    sent = app.messaging.send_channel_message(
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="hi",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    event = quiet.arrived(before + 1)[before]
    request = {
        "CallbackId": event["CallbackId"],
        "ChannelArn": channel,
        "ChannelMessage": {"MessageId": sent["MessageId"]},
        "DeleteResource": True,
    }
    keys = allow_callbacks(server, f"reader-{uuid.uuid4().hex[:8]}", "chime:GetChannelMessage")
    reader = boto3.client(
        "chime-sdk-messaging", endpoint_url=server.url, region_name=REGION, config=NO_RETRY, **keys
    )
    with pytest.raises(ClientError) as denied:
        reader.channel_flow_callback(**request)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    forged = boto3.client(
        "chime-sdk-messaging",
        endpoint_url=server.url,
        region_name=REGION,
        config=NO_RETRY,
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key="not-the-secret",
    )
    with pytest.raises(ClientError) as refused:
        forged.channel_flow_callback(**request)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert app.messaging.get_channel_message_status(
        ChannelArn=channel, MessageId=sent["MessageId"], ChimeBearer=app.alice
    )["Status"] == {"Value": "PENDING"}
    # Only bellwire's signature reaches the processor's logic.
    body = json.dumps({"EventType": "CHANNEL_MESSAGE_EVENT"}).encode()
    unsigned = urllib.request.Request(quiet.url, data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as unsigned_refused:
        urllib.request.urlopen(unsigned, timeout=5)
    assert unsigned_refused.value.code == 401
    unsigned_refused.value.close()
    assert quiet.headers[before]["X-Bellwire-Signature"].startswith("v1=")


async def test_an_unreachable_processor_fails_the_message_with_abort(
    app: App, server: RunningServer, watch: Any
) -> None:
    channel = channel_with_flow(app, DEAD, "ABORT")
    alice, bob = watch(session_for(server, app.alice)), watch(session_for(server, app.bob))
    await alice.next(Established)
    await bob.next(Established)
    sent = await call(
        app.messaging.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="lost",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    await alice.event(EventType.PENDING_CREATE_CHANNEL_MESSAGE)
    failed = await alice.event(EventType.FAILED_CREATE_CHANNEL_MESSAGE, timeout=20)
    assert failed.payload["MessageId"] == sent["MessageId"]
    assert (
        failed.payload["Status"]["Value"] == "FAILED"
        and "could not be invoked" in failed.payload["Status"]["Detail"]
    )
    status = await call(
        app.messaging.get_channel_message_status,
        ChannelArn=channel,
        MessageId=sent["MessageId"],
        ChimeBearer=app.alice,
    )
    assert status["Status"] == {"Value": "FAILED"}
    control = await call(
        app.messaging.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="sentinel",
        Type="CONTROL",
        Persistence="NON_PERSISTENT",
    )
    first = await bob.next(of_type(*MESSAGE_EVENTS))
    assert first.payload["MessageId"] == control["MessageId"]


def test_flow_metrics(app: App, server: RunningServer, processors: dict[str, Processor]) -> None:
    fallbacks = scraped(server, "bellwire_flow_fallbacks_total")
    invoked = scraped(server, "bellwire_flow_invocations_total")
    failing = channel_with_flow(app, DEAD, "ABORT")
    sent = app.send(failing, app.alice, "nowhere")
    assert wait_status(app.messaging, failing, sent, app.alice) == "FAILED"
    passing = channel_with_flow(app, SENDS)
    sent = app.send(passing, app.alice, "somewhere")
    assert wait_status(app.messaging, passing, sent, app.alice) == "SENT"
    # Counted once the fallback's write is committed and its task resumes: poll briefly.
    deadline = time.monotonic() + 10
    while scraped(server, "bellwire_flow_fallbacks_total") < fallbacks + 1:
        assert time.monotonic() < deadline, "the fallback was not counted"
        time.sleep(0.05)
    assert scraped(server, "bellwire_flow_fallbacks_total") == fallbacks + 1
    assert scraped(server, "bellwire_flow_invocations_total") >= invoked + 1
    assert scraped(server, "bellwire_flow_invocations_in_flight") >= 0


async def test_an_unreachable_processor_sends_the_message_as_is_with_continue(
    app: App, server: RunningServer, watch: Any
) -> None:
    channel = channel_with_flow(app, DEAD, "CONTINUE")
    bob = watch(session_for(server, app.bob))
    await bob.next(Established)
    sent = await call(
        app.messaging.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="as it was",
        Type="STANDARD",
        Persistence="NON_PERSISTENT",
    )
    assert sent["Status"] == {"Value": "PENDING"}
    theirs = await bob.next(of_type(*MESSAGE_EVENTS), timeout=20)
    assert theirs.type == EventType.CREATE_CHANNEL_MESSAGE
    assert (theirs.payload["MessageId"], theirs.payload["Content"]) == (
        sent["MessageId"],
        "as it was",
    )
    assert theirs.payload["Status"] == {"Value": "SENT"}


async def test_an_edit_goes_through_the_flow(app: App, server: RunningServer, watch: Any) -> None:
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    message_id = app.send(channel, app.alice, "before the flow")  # SENT: no flow yet
    app.messaging.associate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=flow(app, SENDS), ChimeBearer=app.alice
    )
    alice, bob = watch(session_for(server, app.alice)), watch(session_for(server, app.bob))
    await alice.next(Established)
    await bob.next(Established)
    edited = await call(
        app.messaging.update_channel_message,
        ChannelArn=channel,
        MessageId=message_id,
        Content="now shout",
        ChimeBearer=app.alice,
    )
    assert edited["Status"] == {"Value": "PENDING"}
    pending = await alice.event(EventType.PENDING_UPDATE_CHANNEL_MESSAGE)
    assert pending.payload["Content"] == "now shout"
    theirs = await bob.next(of_type(*MESSAGE_EVENTS))
    assert (
        theirs.type == EventType.UPDATE_CHANNEL_MESSAGE and theirs.payload["Content"] == "NOW SHOUT"
    )
    assert theirs.payload["LastEditedTimestamp"]
    denied = await call(
        app.messaging.update_channel_message,
        ChannelArn=channel,
        MessageId=message_id,
        Content="forbidden words",
        ChimeBearer=app.alice,
    )
    assert denied["Status"] == {"Value": "PENDING"}
    await alice.event(EventType.DENIED_UPDATE_CHANNEL_MESSAGE)
    kept = await call(
        app.messaging.get_channel_message,
        ChannelArn=channel,
        MessageId=message_id,
        ChimeBearer=app.bob,
    )
    assert kept["ChannelMessage"]["Content"] == "NOW SHOUT"


def test_a_slow_processor_holds_only_its_own_messages(
    app: App, processors: dict[str, Processor]
) -> None:
    slow = processors[SLOW]
    held_channel = channel_with_flow(app, SLOW)
    free_channel = channel_with_flow(app, SENDS)
    plain = app.channel(app.alice)
    before = len(slow.events)
    slow.hold()
    try:
        held = app.send(held_channel, app.alice, "waits")
        slow.arrived(before + 1)  # the processor has it, and does not answer
        # Meanwhile another channel's flow, a channel without one and reads all go on.
        passed = app.send(free_channel, app.alice, "shout through")
        app.send(plain, app.alice, "plain")
        for _ in range(50):
            status = app.messaging.get_channel_message_status(
                ChannelArn=free_channel, MessageId=passed, ChimeBearer=app.alice
            )["Status"]["Value"]
            if status == "SENT":
                break
            time.sleep(0.1)
        assert status == "SENT"
        assert app.messaging.get_channel_message_status(
            ChannelArn=held_channel, MessageId=held, ChimeBearer=app.alice
        )["Status"] == {"Value": "PENDING"}
    finally:
        slow.release()


# --- a window, a bound, a restart ----------------------------------------------------------------


def test_a_processor_that_never_calls_back_falls_back_after_the_window(
    tmp_path: Path, processors: dict[str, Processor], callers: Callers
) -> None:
    running = start_server(
        tmp_path / "window",
        resources={QUIET: processors[QUIET].url},
        webhook_secret=SECRET,
        flow_callback_window_seconds=1,
    )
    try:
        app = make_app(running.client("chime-sdk-identity"), running.client("chime-sdk-messaging"))
        channel = channel_with_flow(app, QUIET, "ABORT")
        before = len(processors[QUIET].events)
        sent = app.messaging.send_channel_message(
            ChannelArn=channel,
            ChimeBearer=app.alice,
            Content="x",
            Type="STANDARD",
            Persistence="PERSISTENT",
        )
        event = processors[QUIET].arrived(before + 1)[before]
        status = "PENDING"
        deadline = time.monotonic() + 15
        while status == "PENDING" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = app.messaging.get_channel_message_status(
                ChannelArn=channel, MessageId=sent["MessageId"], ChimeBearer=app.alice
            )["Status"]["Value"]
        assert status == "FAILED"
        root = running.client("chime-sdk-messaging", config=NO_RETRY)
        with raises(root, "ForbiddenException", "did not call back within 1 s"):
            root.channel_flow_callback(
                CallbackId=event["CallbackId"],
                ChannelArn=channel,
                ChannelMessage={"MessageId": sent["MessageId"]},
            )
    finally:
        running.stop()


def test_over_the_bound_on_invocations_a_message_fails_at_once(
    tmp_path: Path, processors: dict[str, Processor]
) -> None:
    slow = processors[SLOW]
    running = start_server(
        tmp_path / "bound",
        resources={SLOW: slow.url},
        webhook_secret=SECRET,
        webhook_max_in_flight=1,
    )
    slow.hold()
    try:
        app = make_app(running.client("chime-sdk-identity"), running.client("chime-sdk-messaging"))
        channel = channel_with_flow(app, SLOW, "ABORT")
        before = len(slow.events)
        first = app.send(channel, app.alice, "first")
        slow.arrived(before + 1)
        second = app.send(channel, app.alice, "second")
        deadline = time.monotonic() + 15
        status = "PENDING"
        while status == "PENDING" and time.monotonic() < deadline:
            time.sleep(0.05)
            status = app.messaging.get_channel_message_status(
                ChannelArn=channel, MessageId=second, ChimeBearer=app.alice
            )["Status"]["Value"]
        assert status == "FAILED"
        assert app.messaging.get_channel_message_status(
            ChannelArn=channel, MessageId=first, ChimeBearer=app.alice
        )["Status"] == {"Value": "PENDING"}
    finally:
        slow.release()
        running.stop()


def _accepted(data: Path, callback_id: str) -> bool:
    with read_only(store_for(data) or "", data / DB_FILE) as tx:
        found = tx.invocation(callback_id)
    return found is not None and found.accepted is not None


def test_pending_messages_survive_kill_9(
    tmp_path: Path, processes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent while its processor has not answered yet, killed with SIGKILL, restarted: the
    message is invoked again with the same CallbackId, the processor answers, and it is SENT."""
    target = Processor(hang_first=1, decide=decide).start()
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    extra = ("--resource", f"{SENDS}={target.url}")
    monkeypatch.setenv("BELLWIRE_WEBHOOK_SECRET", SECRET)  # secrets are not flags
    try:
        first = start_process(data, port, *extra)
        processes.append(first)
        # The next run answers, with the keys of the same server (same port, same data dir).
        target.client = lambda: first.client("chime-sdk-messaging")
        app = make_app(first.client("chime-sdk-identity"), first.client("chime-sdk-messaging"))
        channel = channel_with_flow(app, SENDS, "ABORT")
        sent = app.send(channel, app.alice, "shout after the crash")
        callback_id = target.arrived(1)[0]["CallbackId"]
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        second = start_process(data, port, *extra)
        processes.append(second)
        again = target.arrived(2)[1]
        assert again["CallbackId"] == callback_id
        assert again["ChannelMessage"]["MessageId"] == sent
        m = second.client("chime-sdk-messaging")
        assert wait_status(m, channel, sent, app.alice) == "SENT", target.errors
        theirs = m.list_channel_messages(ChannelArn=channel, ChimeBearer=app.bob)["ChannelMessages"]
        assert [x["Content"] for x in theirs] == ["SHOUT AFTER THE CRASH"]
        assert len(target.events) == 2
    finally:
        target.stop()


def test_a_message_its_processor_accepted_is_not_invoked_again_after_kill_9(
    tmp_path: Path, processes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The processor accepted the message (202) and has not called back yet when the server
    is killed: the restarted server does not invoke it again (as a Lambda's asynchronous
    invocation, accepted once), and the processor's callback, when it comes, sends it."""
    target = Processor(silent=True, decide=decide).start()
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    extra = ("--resource", f"{SENDS}={target.url}")
    monkeypatch.setenv("BELLWIRE_WEBHOOK_SECRET", SECRET)
    try:
        first = start_process(data, port, *extra)
        processes.append(first)
        app = make_app(first.client("chime-sdk-identity"), first.client("chime-sdk-messaging"))
        channel = channel_with_flow(app, SENDS, "ABORT")
        sent = app.send(channel, app.alice, "accepted before the crash")
        event = target.arrived(1)[0]
        wait_for(lambda: _accepted(data, event["CallbackId"]), timeout=10)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        second = start_process(data, port, *extra)
        processes.append(second)
        m = second.client("chime-sdk-messaging")
        # Time for the new run to have invoked it again, had it not been accepted (a node takes
        # back its own invocations as it starts).
        time.sleep(3)
        ask = {"ChannelArn": channel, "MessageId": sent, "ChimeBearer": app.alice}
        assert m.get_channel_message_status(**ask)["Status"]["Value"] == "PENDING"
        parsed = flows.parse_event(json.dumps(event).encode())
        m.channel_flow_callback(**flows.callback_request(parsed, decide(parsed)))
        assert wait_status(m, channel, sent, app.alice) == "SENT"
        assert len(target.events) == 1  # never invoked again
    finally:
        target.stop()


def test_messages_take_their_place_when_their_callback_completes(
    app: App, processors: dict[str, Processor], callers: Callers
) -> None:
    """Documented ordering: a flow's messages are delivered (and listed) in the order their
    processors finish, not the order they were sent."""
    quiet = processors[QUIET]
    channel = channel_with_flow(app, QUIET)
    before = len(quiet.events)
    first = app.send(channel, app.alice, "one")
    second = app.send(channel, app.alice, "two")
    by_id = {e["ChannelMessage"]["MessageId"]: e for e in quiet.arrived(before + 2)[before:]}
    client = callers.client()
    for message_id in (second, first):
        client.channel_flow_callback(
            CallbackId=by_id[message_id]["CallbackId"],
            ChannelArn=channel,
            ChannelMessage={"MessageId": message_id},
        )
    listed = app.messaging.list_channel_messages(
        ChannelArn=channel, ChimeBearer=app.bob, SortOrder="ASCENDING"
    )["ChannelMessages"]
    assert [x["Content"] for x in listed] == ["two", "one"]


# --- the processor kit: the pytest plugin's processor, and `bellwire processor` ----------------


def wait_status(messaging: Any, channel: str, message_id: str, bearer: str) -> str:
    deadline = time.monotonic() + 20
    status = "PENDING"
    while status == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            status = messaging.get_channel_message_status(
                ChannelArn=channel, MessageId=message_id, ChimeBearer=bearer
            )["Status"]["Value"]
        except messaging.exceptions.NotFoundException:
            return "GONE"  # DENIED: nothing is kept
    return status


def test_the_plugin_starts_a_processor_next_to_the_server(
    bellwire_processor_factory: Any, bellwire_server_factory: Any
) -> None:
    processor_ = bellwire_processor_factory(flows.word_filter(deny=["spam"], mask=["darn"]))
    running = bellwire_server_factory(**processor_.server_settings(SENDS))
    processor_.target = running
    app = make_app(running.client("chime-sdk-identity"), running.client("chime-sdk-messaging"))
    channel = channel_with_flow(app, SENDS)
    masked = app.send(channel, app.alice, "darn it")
    denied = app.send(channel, app.alice, "buy spam")
    assert wait_status(app.messaging, channel, masked, app.alice) == "SENT"
    assert wait_status(app.messaging, channel, denied, app.alice) == "GONE"
    listed = app.messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=app.bob)
    assert [x["Content"] for x in listed["ChannelMessages"]] == ["**** it"]
    assert processor_.stats.called_back == 2


def test_a_processor_whose_callback_fails_calls_back_again_as_lambda_retries(
    bellwire_processor_factory: Any, bellwire_server_factory: Any
) -> None:
    """The kit accepted the event (202): the server will not invoke it again, so the kit
    itself tries again after a failure, as Lambda runs a failed asynchronous invocation
    again. Here the first attempt has no server to call back to."""
    processor_ = bellwire_processor_factory(flows.word_filter(mask=["darn"]), retry_delays=[1.0])
    running = bellwire_server_factory(**processor_.server_settings(SENDS))
    app = make_app(running.client("chime-sdk-identity"), running.client("chime-sdk-messaging"))
    channel = channel_with_flow(app, SENDS)
    masked = app.send(channel, app.alice, "darn it")  # called back to nowhere: it fails
    deadline = time.monotonic() + 20
    while processor_.stats.retried == 0:
        assert time.monotonic() < deadline, "the callback was never tried"
        time.sleep(0.02)
    processor_.target = running  # before the second attempt, a second later
    assert wait_status(app.messaging, channel, masked, app.alice) == "SENT"
    listed = app.messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=app.bob)
    assert [x["Content"] for x in listed["ChannelMessages"]] == ["**** it"]
    assert (processor_.stats.called_back, processor_.stats.failed) == (1, 0)


def test_the_example_processor_command(
    bellwire_server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    keys = {"AKIAEXAMPLEPROCESSOR": "example-processor-secret-key-0123456789ab"}
    ((key_id, secret_key),) = keys.items()
    running = bellwire_server_factory(
        resources={SENDS: f"http://127.0.0.1:{port}/"},
        webhook_secret=SECRET,
        root_access_key_id=key_id,
        root_secret_access_key=secret_key,
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "BELLWIRE_WEBHOOK_SECRET": SECRET,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret_key,
    }
    command = [sys.executable, "-m", "bellwire", "processor", "--port", str(port)]
    command += ["--endpoint-url", running.url, "--deny", "spam", "--mask", "darn"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "word filter processor on" in proc.stdout.readline()
        app = make_app(running.client("chime-sdk-identity"), running.client("chime-sdk-messaging"))
        channel = channel_with_flow(app, SENDS)
        masked = app.send(channel, app.alice, "oh darn")
        denied = app.send(channel, app.alice, "spam spam")
        assert wait_status(app.messaging, channel, masked, app.alice) == "SENT"
        assert wait_status(app.messaging, channel, denied, app.alice) == "GONE"
        got = app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=masked, ChimeBearer=app.bob
        )
        assert got["ChannelMessage"]["Content"] == "oh ****"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_ships_a_word_filter_processor(tmp_path: Path) -> None:
    port = free_port()
    word_filter = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:word-filter"
    running = start_server(
        tmp_path / "word-filter",
        port=port,
        resources={word_filter: f"http://127.0.0.1:{port}/processors/word-filter"},
        word_filter_deny="spam, scam",
        word_filter_mask="darn",
    )
    try:
        app = make_app(running.client("chime-sdk-identity"), running.client("chime-sdk-messaging"))
        channel = channel_with_flow(app, word_filter)
        masked = app.send(channel, app.alice, "darn, it works")
        denied = app.send(channel, app.alice, "a scam")
        kept = app.send(channel, app.alice, "all good")
        assert wait_status(app.messaging, channel, masked, app.alice) == "SENT"
        assert wait_status(app.messaging, channel, denied, app.alice) == "GONE"
        assert wait_status(app.messaging, channel, kept, app.alice) == "SENT"
        listed = app.messaging.list_channel_messages(
            ChannelArn=channel, ChimeBearer=app.bob, SortOrder="ASCENDING"
        )["ChannelMessages"]
        assert sorted(x["Content"] for x in listed) == ["****, it works", "all good"]
        # Anyone but the server itself is refused.
        request = urllib.request.Request(
            f"{running.url}/processors/word-filter", data=b"{}", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
        refused.value.close()
    finally:
        running.stop()


def test_a_processor_that_fails_at_first_is_retried(tmp_path: Path, callers: Callers) -> None:
    flaky = Processor(decide=decide, client=callers.client, fail_first=2).start()
    running = start_server(
        tmp_path / "retry",
        resources={SENDS: flaky.url},
        webhook_secret=SECRET,
        webhook_retries=2,
        root_access_key_id=ROOT_KEY,
        root_secret_access_key=ROOT_SECRET,
    )
    flaky.client = lambda: running.client("chime-sdk-messaging", config=NO_RETRY)
    try:
        app = make_app(running.client("chime-sdk-identity"), running.client("chime-sdk-messaging"))
        channel = channel_with_flow(app, SENDS)
        sent = app.send(channel, app.alice, "shout twice refused")
        assert wait_status(app.messaging, channel, sent, app.alice) == "SENT"
        assert flaky.failed == 2 and len(flaky.events) == 1
        got = app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob
        )
        assert got["ChannelMessage"]["Content"] == "SHOUT TWICE REFUSED"
    finally:
        running.stop()
        flaky.stop()


async def test_a_failed_edit_leaves_the_message_and_tells_the_sender(
    app: App, server: RunningServer, watch: Any
) -> None:
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    message_id = app.send(channel, app.alice, "original")
    app.messaging.associate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=flow(app, DEAD, "ABORT"), ChimeBearer=app.alice
    )
    alice = watch(session_for(server, app.alice))
    await alice.next(Established)
    await call(
        app.messaging.update_channel_message,
        ChannelArn=channel,
        MessageId=message_id,
        Content="never seen",
        ChimeBearer=app.alice,
    )
    await alice.event(EventType.PENDING_UPDATE_CHANNEL_MESSAGE)
    failed = await alice.event(EventType.FAILED_UPDATE_CHANNEL_MESSAGE, timeout=20)
    assert failed.payload["Content"] == "never seen"
    assert failed.payload["Status"]["Value"] == "FAILED"
    got = await call(
        app.messaging.get_channel_message,
        ChannelArn=channel,
        MessageId=message_id,
        ChimeBearer=app.bob,
    )
    assert (got["ChannelMessage"]["Content"], got["ChannelMessage"]["Status"]) == (
        "original",
        {"Value": "SENT"},
    )


def test_a_message_pending_when_the_flow_is_disassociated_still_finishes(
    app: App, processors: dict[str, Processor], callers: Callers
) -> None:
    quiet = processors[QUIET]
    channel = channel_with_flow(app, QUIET)
    arn = app.messaging.describe_channel(ChannelArn=channel, ChimeBearer=app.alice)["Channel"][
        "ChannelFlowArn"
    ]
    before = len(quiet.events)
    sent = app.send(channel, app.alice, "in flight", Persistence="NON_PERSISTENT")
    event = quiet.arrived(before + 1)[before]
    assert app.messaging.get_channel_message_status(
        ChannelArn=channel, MessageId=sent, ChimeBearer=app.alice
    )["Status"] == {"Value": "PENDING"}
    app.messaging.disassociate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=arn, ChimeBearer=app.alice
    )
    app.messaging.delete_channel_flow(ChannelFlowArn=arn)
    callers.client().channel_flow_callback(
        CallbackId=event["CallbackId"], ChannelArn=channel, ChannelMessage={"MessageId": sent}
    )
    # NON_PERSISTENT: delivered to whoever was connected, never stored, no status kept.
    with raises(app.messaging, "NotFoundException"):
        app.messaging.get_channel_message_status(
            ChannelArn=channel, MessageId=sent, ChimeBearer=app.alice
        )


def test_flows_on_postgresql(tmp_path: Path, callers: Callers) -> None:
    """The same life of a message on the PostgreSQL engine: PENDING, the callback, SENT in
    callback order; a denial; a fallback."""
    from bellwire.testing import temporary_database

    target = Processor(decide=decide, silent=True).start()
    with temporary_database() as url:
        running = start_server(
            tmp_path / "pg",
            store=url,
            resources={QUIET: target.url, DEAD: f"http://127.0.0.1:{free_port()}/"},
            webhook_secret=SECRET,
            webhook_retries=0,
        )
        try:
            app = make_app(
                running.client("chime-sdk-identity"), running.client("chime-sdk-messaging")
            )
            channel = channel_with_flow(app, QUIET)
            first = app.send(channel, app.alice, "one")
            second = app.send(channel, app.alice, "forbidden two")
            events = {e["ChannelMessage"]["MessageId"]: e for e in target.arrived(2)}
            assert (
                app.messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=app.bob)[
                    "ChannelMessages"
                ]
                == []
            )
            root = running.client("chime-sdk-messaging", config=NO_RETRY)
            root.channel_flow_callback(
                CallbackId=events[second]["CallbackId"],
                ChannelArn=channel,
                ChannelMessage={"MessageId": second},
                DeleteResource=True,
            )
            root.channel_flow_callback(
                CallbackId=events[first]["CallbackId"],
                ChannelArn=channel,
                ChannelMessage={"MessageId": first, "Content": "ONE"},
            )
            listed = app.messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=app.bob)
            assert [x["Content"] for x in listed["ChannelMessages"]] == ["ONE"]
            failing = channel_with_flow(app, DEAD, "ABORT")
            lost = app.send(failing, app.alice, "lost")
            assert wait_status(app.messaging, failing, lost, app.alice) == "FAILED"
        finally:
            running.stop()
            target.stop()
