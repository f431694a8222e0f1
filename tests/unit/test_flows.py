"""Channel flows' pure parts: the processor's input event, and the processor kit."""

from __future__ import annotations

import json

import pytest

from bellwire import flows
from bellwire.domain.flows import lambda_event
from bellwire.records.flows import FlowInvocation

CHANNEL = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c"
SENDER = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/alice"


def invocation(**message: object) -> FlowInvocation:
    columns = {
        "channel_arn": CHANNEL,
        "message_id": "m1",
        "seq": 3,
        "sender_arn": SENDER,
        "sender_name": "Alice",
        "content": "hello",
        "metadata": None,
        "type": "STANDARD",
        "persistence": "PERSISTENT",
        "redacted": False,
        "created": 1700000000.25,
        "last_updated": 1700000000.25,
        "last_edited": None,
        "status": "PENDING",
        "attributes": {"a": {"StringValues": ["b"]}},
        "content_type": None,
        "target_arn": None,
        "push": None,
        **message,
    }
    return FlowInvocation(
        "c" * 64, CHANNEL, "m1", "CREATE", "flow", {}, columns, "PENDING", 1700000000.25
    )


def test_the_processor_event_is_the_documented_lambda_input() -> None:
    assert lambda_event(invocation()) == {
        "EventType": "CHANNEL_MESSAGE_EVENT",
        "CallbackId": "c" * 64,
        "ChannelMessage": {
            "MessageId": "m1",
            "ChannelArn": CHANNEL,
            "Content": "hello",
            "Sender": {"Arn": SENDER, "Name": "Alice"},
            "Persistence": "PERSISTENT",
            "Type": "STANDARD",
            "CreatedTimestamp": "2023-11-14T22:13:20.250Z",
        },
    }


def test_an_edit_carries_metadata_and_its_edit_time() -> None:
    message = lambda_event(invocation(metadata="m", last_edited=1700000060.0))["ChannelMessage"]
    assert (message["Metadata"], message["LastEditedTimestamp"]) == (
        "m",
        "2023-11-14T22:14:20.000Z",
    )


def test_an_elastic_channel_message_names_its_sub_channel() -> None:
    message = lambda_event(invocation(sub_channel_id="s0"))["ChannelMessage"]
    assert message["SubChannelId"] == "s0"


def test_the_kit_parses_what_the_server_sends() -> None:
    event = flows.parse_event(json.dumps(lambda_event(invocation())).encode())
    assert (event.callback_id, event.channel_arn, event.message_id) == ("c" * 64, CHANNEL, "m1")
    assert (event.content, event.metadata, event.sender_arn) == ("hello", None, SENDER)


@pytest.mark.parametrize(
    "body",
    [
        b'{"EventType": "OTHER"}',
        b'{"EventType": "CHANNEL_MESSAGE_EVENT", "ChannelMessage": {}}',
        b'{"EventType": "CHANNEL_MESSAGE_EVENT", "CallbackId": "x", "ChannelMessage": {}}',
        b"[]",
    ],
)
def test_the_kit_refuses_other_bodies(body: bytes) -> None:
    with pytest.raises(flows.EventError):
        flows.parse_event(body)


def test_callback_requests() -> None:
    event = flows.parse_event(lambda_event(invocation()))
    assert flows.callback_request(event, flows.Deny()) == {
        "CallbackId": "c" * 64,
        "ChannelArn": CHANNEL,
        "ChannelMessage": {"MessageId": "m1"},
        "DeleteResource": True,
    }
    assert flows.callback_request(event, flows.Send(content="HELLO", metadata="x")) == {
        "CallbackId": "c" * 64,
        "ChannelArn": CHANNEL,
        "ChannelMessage": {"MessageId": "m1", "Content": "HELLO", "Metadata": "x"},
    }


@pytest.mark.parametrize(
    ("content", "decision"),
    [
        ("all fine", flows.Send()),
        ("buy SPAM now", flows.Deny()),
        ("spammer is not a word of the list", flows.Send()),
        ("darn it, Darn", flows.Send(content="**** it, ****")),
        ("spam and darn", flows.Deny()),
    ],
)
def test_the_example_word_filter(content: str, decision: flows.Decision) -> None:
    decide = flows.word_filter(deny=["spam"], mask=["darn"])
    event = flows.parse_event(lambda_event(invocation(content=content)))
    assert decide(event) == decision


def test_the_failure_event_is_eventbridges() -> None:
    from bellwire.domain.flows import default_event_bus, failure_event

    app = "arn:aws:chime:us-east-1:123456789012:app-instance/a"
    failed = FlowInvocation(
        "c" * 64,
        f"{app}/channel/c",
        "m1",
        "CREATE",
        "flow",
        {"Configuration": {"Lambda": {"ResourceArn": "arn:aws:lambda:us-east-1:1:function:f"}}},
        {},
        "PENDING",
        0.0,
    )
    event = failure_event(
        failed, "HTTP 503", region="us-east-1", account_id="1", event_id="e", now=1700000000.75
    )
    assert default_event_bus("us-east-1", "1") == "arn:aws:events:us-east-1:1:event-bus/default"
    assert event == {
        "version": "0",
        "id": "e",
        "detail-type": "Chime ChannelFlow Processing Status",
        "source": "aws.chime",
        "account": "1",
        "time": "2023-11-14T22:13:20Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventType": "ProcessorInvocationFailure",
            "appInstanceArn": app,
            "channelArn": f"{app}/channel/c",
            "messageId": "m1",
            "processorResourceArn": "arn:aws:lambda:us-east-1:1:function:f",
            "failureReason": "HTTP 503",
        },
    }


def test_the_built_in_word_filter_may_only_call_back() -> None:
    """The in-process example processor calls back as a role session allowed
    chime:ChannelFlowCallback on this server's app instances, and nothing else."""
    from bellwire.aws.errors import AccessDenied
    from bellwire.iam.authorize import authorize
    from bellwire.wordfilter import callback_principal

    principal = callback_principal("123456789012", "us-east-1")
    assert not principal.is_root and principal.kind == "assumed-role"
    assert principal.arn == (
        "arn:aws:sts::123456789012:assumed-role/bellwire-word-filter/word-filter"
    )
    authorize(principal, "chime:ChannelFlowCallback", [CHANNEL])
    for action, resource in [
        ("chime:SendChannelMessage", CHANNEL),
        ("chime:DeleteChannel", CHANNEL),
        ("iam:CreateUser", "*"),
        ("chime:ChannelFlowCallback", CHANNEL.replace("123456789012", "999999999999")),
        ("chime:ChannelFlowCallback", CHANNEL.replace("us-east-1", "eu-west-1")),
    ]:
        with pytest.raises(AccessDenied):
            authorize(principal, action, [resource])


def test_the_kit_names_the_sub_channel_back() -> None:
    event = flows.parse_event(lambda_event(invocation(sub_channel_id="s0")))
    assert event.sub_channel_id == "s0"
    assert flows.callback_request(event, flows.Send(content="x"))["ChannelMessage"] == {
        "MessageId": "m1",
        "SubChannelId": "s0",
        "Content": "x",
    }
