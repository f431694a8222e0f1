"""Channel flows of two or three processors (ExecutionOrder 1-3) against a real server.

Each processor is a real aiohttp server on loopback (``flow_processor.py``) calling back with
boto3 under an IAM user allowed only ``chime:ChannelFlowCallback``. The processors append their
mark to the content, so what each one received, and in which order, shows in the text.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flow_processor import SECRET, Processor
from server_process import free_port
from server_process import start as start_process
from test_channel_flows import (
    ACCOUNT,
    MESSAGE_EVENTS,
    NO_RETRY,
    REGION,
    App,
    Callers,
    app_on,
    call,
    flow_server,
    make_app,
    of_type,
    processor,
    raises,
    running_processors,
    session_for,
    wait_status,
)

from bellwire import flows
from bellwire.client import Established, EventType
from bellwire.testing import RunningServer, start_server


def _lambda(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


FIRST, SECOND, THIRD = _lambda("first"), _lambda("second"), _lambda("third")
DENIES = _lambda("denies")
QUIET = _lambda("chain-quiet")
DEAD = _lambda("chain-dead")


def mark(tag: str) -> Callable[[flows.ProcessorEvent], flows.Decision]:
    """Append ``tag`` to the content and the metadata; deny what says "forbidden"."""

    def decide(event: flows.ProcessorEvent) -> flows.Decision:
        if "forbidden" in event.content:
            return flows.Deny()
        return flows.Send(content=f"{event.content} {tag}", metadata=(event.metadata or "") + tag)

    return decide


@pytest.fixture(scope="module")
def callers() -> Callers:
    return Callers()


@pytest.fixture(scope="module")
def processors(callers: Callers) -> Iterator[dict[str, Processor]]:
    with running_processors(
        {
            FIRST: Processor(decide=mark("+1"), client=callers.client).start(),
            SECOND: Processor(decide=mark("+2"), client=callers.client).start(),
            THIRD: Processor(decide=mark("+3"), client=callers.client).start(),
            DENIES: Processor(decide=lambda e: flows.Deny(), client=callers.client).start(),
            QUIET: Processor(silent=True, client=callers.client).start(),
        }
    ) as started:
        yield started


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, processors: dict[str, Processor], callers: Callers
) -> Iterator[RunningServer]:
    resources = {arn: p.url for arn, p in processors.items()}
    resources[DEAD] = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    with flow_server(
        tmp_path_factory.mktemp("chains"),
        resources,
        callers,
        "chain-processor",
        webhook_retries=0,
        webhook_timeout_seconds=5.0,
    ) as running:
        yield running


@pytest.fixture
def app(server: RunningServer) -> App:
    return app_on(server)


def chain(*steps: tuple[str, str]) -> list[dict[str, Any]]:
    """Processors in ExecutionOrder from (Lambda ARN, FallbackAction) pairs."""
    return [
        {**processor(arn, fallback, name=f"step{order}"), "ExecutionOrder": order}
        for order, (arn, fallback) in enumerate(steps, start=1)
    ]


def channel_with_chain(app: App, *steps: tuple[str, str]) -> str:
    arn = app.messaging.create_channel_flow(
        AppInstanceArn=app.arn,
        Processors=chain(*steps),
        Name="chain",
        ClientRequestToken=uuid.uuid4().hex,
    )["ChannelFlowArn"]
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.messaging.associate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=arn, ChimeBearer=app.alice
    )
    return channel


def received(p: Processor, message_id: str) -> list[dict[str, Any]]:
    return [e for e in p.events if e["ChannelMessage"]["MessageId"] == message_id]


def wait_received(p: Processor, message_id: str, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while len(received(p, message_id)) < count:
        assert time.monotonic() < deadline, f"{p.url} did not receive {message_id}"
        time.sleep(0.02)
    return received(p, message_id)


async def test_three_processors_see_the_message_in_execution_order(
    app: App, server: RunningServer, processors: dict[str, Processor], watch: Any
) -> None:
    channel = channel_with_chain(app, (FIRST, "ABORT"), (SECOND, "ABORT"), (THIRD, "ABORT"))
    described = app.messaging.describe_channel(ChannelArn=channel, ChimeBearer=app.alice)
    flow = app.messaging.describe_channel_flow(
        ChannelFlowArn=described["Channel"]["ChannelFlowArn"]
    )["ChannelFlow"]
    assert [p["ExecutionOrder"] for p in flow["Processors"]] == [1, 2, 3]
    alice, bob = watch(session_for(server, app.alice)), watch(session_for(server, app.bob))
    await alice.next(Established)
    await bob.next(Established)
    sent = await call(
        app.messaging.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="hello",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    assert sent["Status"] == {"Value": "PENDING"}
    message_id = sent["MessageId"]
    # The sender hears PENDING once, then the message as the last processor left it; nothing
    # in between. The other member hears only the final message.
    pending = await alice.next(of_type(*MESSAGE_EVENTS))
    assert pending.type == EventType.PENDING_CREATE_CHANNEL_MESSAGE
    created = await alice.next(of_type(*MESSAGE_EVENTS), timeout=20)
    assert created.type == EventType.CREATE_CHANNEL_MESSAGE
    assert (created.payload["Content"], created.payload["Metadata"]) == (
        "hello +1 +2 +3",
        "+1+2+3",
    )
    theirs = await bob.next(of_type(*MESSAGE_EVENTS))
    assert theirs.type == EventType.CREATE_CHANNEL_MESSAGE and theirs.payload == created.payload
    # Each processor got the message as the previous one changed it, with a CallbackId of its
    # own.
    seen = [received(processors[arn], message_id) for arn in (FIRST, SECOND, THIRD)]
    assert [len(s) for s in seen] == [1, 1, 1]
    assert [s[0]["ChannelMessage"]["Content"] for s in seen] == [
        "hello",
        "hello +1",
        "hello +1 +2",
    ]
    assert seen[1][0]["ChannelMessage"]["Metadata"] == "+1"
    assert len({s[0]["CallbackId"] for s in seen}) == 3
    got = await call(
        app.messaging.get_channel_message,
        ChannelArn=channel,
        MessageId=message_id,
        ChimeBearer=app.bob,
    )
    assert got["ChannelMessage"]["Content"] == "hello +1 +2 +3"
    # A step's callback repeated after the chain went on answers the same; another body is a
    # Conflict.
    client = processors[FIRST].client
    assert client is not None
    first_id = seen[0][0]["CallbackId"]
    repeated = processors[FIRST].callbacks
    again = [c for c in repeated if c["CallbackId"] == first_id]
    assert again
    answer = await call(client().channel_flow_callback, **again[0])
    assert answer["CallbackId"] == first_id
    with raises(
        client(),
        "ConflictException",
        "different callback",
    ):
        client().channel_flow_callback(
            CallbackId=first_id,
            ChannelArn=channel,
            ChannelMessage={"MessageId": message_id, "Content": "other"},
        )


def test_a_denial_stops_the_chain(app: App, processors: dict[str, Processor]) -> None:
    channel = channel_with_chain(app, (FIRST, "ABORT"), (DENIES, "ABORT"), (THIRD, "ABORT"))
    sent = app.send(channel, app.alice, "deny me in the middle")
    assert wait_status(app.messaging, channel, sent, app.alice) == "GONE"
    assert len(received(processors[FIRST], sent)) == 1
    assert len(received(processors[DENIES], sent)) == 1
    assert received(processors[THIRD], sent) == []
    assert (
        app.messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=app.bob)[
            "ChannelMessages"
        ]
        == []
    )


def test_an_abort_fallback_stops_the_chain(app: App, processors: dict[str, Processor]) -> None:
    channel = channel_with_chain(app, (FIRST, "ABORT"), (DEAD, "ABORT"), (THIRD, "CONTINUE"))
    sent = app.send(channel, app.alice, "lost in the middle")
    assert wait_status(app.messaging, channel, sent, app.alice) == "FAILED"
    assert len(received(processors[FIRST], sent)) == 1
    assert received(processors[THIRD], sent) == []


async def test_a_continue_fallback_hands_the_message_to_the_next_processor(
    app: App, server: RunningServer, processors: dict[str, Processor], watch: Any
) -> None:
    """AWS sends the message on a CONTINUE fallback of the *last* processor; one of an earlier
    processor goes on to the next, which gets the message as the unreachable one would have."""
    channel = channel_with_chain(app, (FIRST, "ABORT"), (DEAD, "CONTINUE"), (THIRD, "ABORT"))
    bob = watch(session_for(server, app.bob))
    await bob.next(Established)
    sent = await call(
        app.messaging.send_channel_message,
        ChannelArn=channel,
        ChimeBearer=app.alice,
        Content="around the gap",
        Type="STANDARD",
        Persistence="NON_PERSISTENT",
    )
    theirs = await bob.next(of_type(*MESSAGE_EVENTS), timeout=20)
    assert theirs.type == EventType.CREATE_CHANNEL_MESSAGE
    assert theirs.payload["Content"] == "around the gap +1 +3"
    assert wait_received(processors[THIRD], sent["MessageId"])[0]["ChannelMessage"]["Content"] == (
        "around the gap +1"
    )


def test_an_edit_passes_every_processor(app: App, processors: dict[str, Processor]) -> None:
    channel = channel_with_chain(app, (FIRST, "ABORT"), (SECOND, "ABORT"))
    sent = app.send(channel, app.alice, "v1")
    assert wait_status(app.messaging, channel, sent, app.alice) == "SENT"
    app.messaging.update_channel_message(
        ChannelArn=channel, MessageId=sent, Content="v2", ChimeBearer=app.alice
    )
    deadline = time.monotonic() + 15
    content = ""
    while content != "v2 +1 +2" and time.monotonic() < deadline:
        time.sleep(0.05)
        content = app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob
        )["ChannelMessage"]["Content"]
    assert content == "v2 +1 +2"


def test_a_chain_in_progress_is_pending_for_its_sender(
    app: App, processors: dict[str, Processor], callers: Callers
) -> None:
    """While the second processor holds the message it is PENDING; its callback sends it."""
    quiet = processors[QUIET]
    channel = channel_with_chain(app, (FIRST, "ABORT"), (QUIET, "ABORT"))
    sent = app.send(channel, app.alice, "waiting")
    event = wait_received(quiet, sent)[0]
    assert event["ChannelMessage"]["Content"] == "waiting +1"
    assert app.messaging.get_channel_message_status(
        ChannelArn=channel, MessageId=sent, ChimeBearer=app.alice
    )["Status"] == {"Value": "PENDING"}
    with raises(app.messaging, "NotFoundException"):
        app.messaging.get_channel_message(ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob)
    callers.client().channel_flow_callback(
        CallbackId=event["CallbackId"],
        ChannelArn=channel,
        ChannelMessage={"MessageId": sent, "Content": "done"},
    )
    assert app.messaging.get_channel_message(
        ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob
    )["ChannelMessage"]["Content"] == ("done")


def test_the_number_of_processors_is_a_setting(tmp_path: Path) -> None:
    target = Processor(silent=True).start()
    running = start_server(
        tmp_path / "one",
        resources={FIRST: target.url, SECOND: target.url},
        webhook_secret=SECRET,
        flow_max_processors=1,
    )
    try:
        m = running.client("chime-sdk-messaging", config=NO_RETRY)
        app = make_app(running.client("chime-sdk-identity"), m)
        with raises(m, "ResourceLimitExceededException", "at most 1 processor;"):
            m.create_channel_flow(
                AppInstanceArn=app.arn,
                Processors=chain((FIRST, "ABORT"), (SECOND, "ABORT")),
                Name="two",
                ClientRequestToken=uuid.uuid4().hex,
            )
        m.create_channel_flow(
            AppInstanceArn=app.arn,
            Processors=chain((FIRST, "ABORT")),
            Name="one",
            ClientRequestToken=uuid.uuid4().hex,
        )
    finally:
        running.stop()
        target.stop()


def test_a_restart_invokes_the_current_step_again(
    tmp_path: Path, processes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 1 answered, step 2 had not answered its call yet when the server was killed with
    SIGKILL: the next run invokes step 2 again with the same CallbackId (not step 1), and the
    chain finishes."""
    first_step = Processor(decide=mark("+1")).start()
    second_step = Processor(decide=mark("+2"), hang_first=1).start()
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    extra = ("--resource", f"{FIRST}={first_step.url}", "--resource", f"{SECOND}={second_step.url}")
    monkeypatch.setenv("BELLWIRE_WEBHOOK_SECRET", SECRET)  # secrets are not flags
    try:
        first = start_process(data, port, *extra)
        processes.append(first)
        # Both runs keep the same root keys (same data dir, same port).
        first_step.client = second_step.client = lambda: first.client("chime-sdk-messaging")
        app = make_app(first.client("chime-sdk-identity"), first.client("chime-sdk-messaging"))
        channel = channel_with_chain(app, (FIRST, "ABORT"), (SECOND, "ABORT"))
        sent = app.send(channel, app.alice, "across a crash")
        callback_id = wait_received(second_step, sent)[0]["CallbackId"]
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        second = start_process(data, port, *extra)
        processes.append(second)
        again = wait_received(second_step, sent, 2)[1]
        assert again["CallbackId"] == callback_id
        assert again["ChannelMessage"]["Content"] == "across a crash +1"
        m = second.client("chime-sdk-messaging")
        assert wait_status(m, channel, sent, app.alice) == "SENT", second_step.errors
        assert len(received(first_step, sent)) == 1
        got = m.get_channel_message(ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob)
        assert got["ChannelMessage"]["Content"] == "across a crash +1 +2"
    finally:
        first_step.stop()
        second_step.stop()
