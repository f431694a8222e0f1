"""Channel flows with the official JavaScript clients: a processor written with the AWS SDK for
JavaScript v3 calls back, and amazon-chime-sdk-js sessions show what each party sees.

The processor (``js/processor.mjs``) checks bellwire's signature with the snippet of
``docs/webhooks.md`` and answers with ``ChannelFlowCallbackCommand``, SigV4-signed by the SDK.
The sender's DefaultMessagingSession sees PENDING_CREATE_CHANNEL_MESSAGE, then the processed
CREATE_CHANNEL_MESSAGE; another member's sees only the latter.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_js_clients import (
    NodeScenario,
    established,
    is_event,
    is_message,
    node,
    node_modules,
    payload_of,
)
from tlsworld import Tls, make_world

from bellwire.testing import RunningServer, start_server

__all__ = ["node", "node_modules"]  # fixtures used here

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:shout"
SECRET = "interop-flow-secret"
ACCESS_KEY = "AKIAINTEROPFLOWS0001"
SECRET_KEY = "interop-flows-secret-access-key-0123456789"

pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def processor(node_modules: Path, tls: Tls) -> Iterator[tuple[NodeScenario, int]]:
    """``processor.mjs``, told in advance where the server will listen (it needs the address
    for its SDK client; the server needs the processor's port for its [resources] map)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BELLWIRE_"))}
    env.update(
        NODE_EXTRA_CA_CERTS=str(tls.ca),
        NO_PROXY="localhost,127.0.0.1",
        no_proxy="localhost,127.0.0.1",
        BELLWIRE_URL=f"https://localhost:{port}",
        BELLWIRE_REGION="us-east-1",
        BELLWIRE_ACCESS_KEY_ID=ACCESS_KEY,
        BELLWIRE_SECRET_ACCESS_KEY=SECRET_KEY,
        BELLWIRE_WEBHOOK_SECRET=SECRET,
    )
    scenario = NodeScenario("processor.mjs", env)
    try:
        yield scenario, port
    finally:
        scenario.close()


@pytest.fixture
def flow_server(
    processor: tuple[NodeScenario, int], tls: Tls, tmp_path: Path
) -> Iterator[RunningServer]:
    scenario, port = processor
    (listening,) = scenario.wait_for(is_event("listening"), "the processor listening")
    running = start_server(
        tmp_path / "flows",
        port=port,
        tls_cert=tls.cert,
        tls_key=tls.key,
        root_access_key_id=ACCESS_KEY,
        root_secret_access_key=SECRET_KEY,
        webhook_secret=SECRET,
        resources={LAMBDA: f"http://127.0.0.1:{listening['port']}/"},
    )
    try:
        yield running
    finally:
        running.stop()


def test_the_sender_sees_pending_then_sent_and_a_member_only_the_result(
    node: Callable[..., NodeScenario],
    processor: tuple[NodeScenario, int],
    flow_server: RunningServer,
    tls: Tls,
) -> None:
    scenario, _ = processor
    world = make_world(flow_server, tls)
    try:
        alice, bob = world.users["alice"], world.users["bob"]
        channel = world.channel(alice, bob)
        flow = world.messaging.create_channel_flow(
            AppInstanceArn=world.app,
            Name="shout",
            ClientRequestToken="interop-flow-token",
            Processors=[
                {
                    "Name": "shout",
                    "Configuration": {"Lambda": {"ResourceArn": LAMBDA, "InvocationType": "ASYNC"}},
                    "ExecutionOrder": 1,
                    "FallbackAction": "ABORT",
                }
            ],
        )["ChannelFlowArn"]
        world.messaging.associate_channel_flow(
            ChannelArn=channel, ChannelFlowArn=flow, ChimeBearer=alice
        )
        sender, member = node(flow_server, alice), node(flow_server, bob)
        established(sender)
        established(member)
        since = member.mark()

        message_id = sender.send(channel, "hello through a flow")
        (pending,) = sender.wait_for(
            is_message("PENDING_CREATE_CHANNEL_MESSAGE", MessageId=message_id), "PENDING"
        )
        assert payload_of(pending)["Status"] == {"Value": "PENDING"}
        (invoked,) = scenario.wait_for(is_event("invoked", messageId=message_id), "invocation")
        assert invoked["eventType"] == "CHANNEL_MESSAGE_EVENT"
        scenario.wait_for(is_event("calledBack", callbackId=invoked["callbackId"]), "callback")
        (sent,) = sender.wait_for(
            is_message("CREATE_CHANNEL_MESSAGE", MessageId=message_id), "the processed message"
        )
        assert payload_of(sent)["Content"] == "HELLO THROUGH A FLOW"
        assert payload_of(sent)["Status"] == {"Value": "SENT"}
        (theirs,) = member.wait_for(
            is_message("CREATE_CHANNEL_MESSAGE", MessageId=message_id), "the member's message"
        )
        assert payload_of(theirs)["Content"] == "HELLO THROUGH A FLOW"
        assert not member.find(
            lambda e: e["event"] == "message" and e.get("type", "").startswith("PENDING_"), since
        )

        denied_id = sender.send(channel, "forbidden words")
        sender.wait_for(is_message("DENIED_CREATE_CHANNEL_MESSAGE", MessageId=denied_id), "DENIED")
        member.quiet(
            lambda e: e["event"] == "message" and denied_id in str(e.get("payload")),
            "the denied message",
            since=since,
            seconds=1.0,
        )
        scenario.assert_clean()
        sender.assert_clean()
        member.assert_clean()
    finally:
        world.close()
