"""Channel flows across nodes: a message sent through one node, its processor's callback
through another (as a balancer spreads them), each party's session on either node. The
sender alone hears PENDING and DENIED, wherever it is connected; the members hear the message
as the processor left it, once, in the order the callbacks completed. A message whose window
passes fails once, though every node sweeps for late invocations."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster import OPTIONS, Cluster, Node, cluster, on
from flow_processor import SECRET, Processor
from test_channel_flows import processor
from ws_helpers import World, contents, off, session

from bellwire import flows
from bellwire.events import EventType

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:cross-node"


def decide(event: flows.ProcessorEvent) -> flows.Decision:
    """Deny what says "forbidden", shout the rest."""
    if "forbidden" in event.content:
        return flows.Deny()
    return flows.Send(content=event.content.upper())


def create_flow(w: World) -> str:
    """A flow of one processor (``LAMBDA``) that fails its messages when it cannot decide."""
    arn: str = w.messaging.create_channel_flow(
        AppInstanceArn=w.app_arn,
        Name="cross-node",
        ClientRequestToken=uuid.uuid4().hex,
        Processors=[processor(LAMBDA)],
    )["ChannelFlowArn"]
    return arn


def send_answer(w: World, channel: str, sender: str, text: str) -> dict[str, Any]:
    answer: dict[str, Any] = w.messaging.send_channel_message(
        ChannelArn=channel,
        ChimeBearer=sender,
        Content=text,
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    return answer


def send(w: World, channel: str, sender: str, text: str) -> str:
    return str(send_answer(w, channel, sender, text)["MessageId"])


@contextlib.contextmanager
def processor_cluster(root: Path, started: Processor, *extra: str) -> Iterator[Cluster]:
    """Two nodes mapping ``LAMBDA`` to ``started`` (stopped on exit), with ``extra`` options."""
    options = (*OPTIONS, "--resource", f"{LAMBDA}={started.url}", *extra)
    with contextlib.ExitStack() as stack:
        stack.callback(started.stop)
        # Every node signs its calls with the one secret the processor knows (a secret is
        # never a flag: the environment, as a deployment passes it).
        with pytest.MonkeyPatch.context() as env:
            env.setenv("BELLWIRE_WEBHOOK_SECRET", SECRET)
            running = stack.enter_context(cluster(root, options=options))
        yield running


@pytest.fixture(scope="module")
def flowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Processor, Cluster]]:
    nodes: list[Node] = []
    # The processor calls back through the second node: the send goes through the first.
    started = Processor(decide=decide, client=lambda: nodes[1].client("chime-sdk-messaging"))
    with processor_cluster(tmp_path_factory.mktemp("flows"), started.start()) as running:
        nodes.extend(running.nodes)
        yield started, running


async def test_a_message_sent_on_one_node_and_called_back_on_another_reaches_each_party_once(
    flowing: tuple[Processor, Cluster],
) -> None:
    hook, running = flowing
    a, b = running.nodes[:2]
    wa = World.create(a)  # type: ignore[arg-type]
    wb = on(b, wa)
    alice, bob = wa.user(), wa.user()
    channel = wa.channel(alice, [bob])
    flow = create_flow(wa)
    wb.messaging.associate_channel_flow(ChannelArn=channel, ChannelFlowArn=flow, ChimeBearer=alice)
    # The sender on the node that takes the callbacks, the member on the one that takes sends.
    alice_on_b = await session(b, alice)  # type: ignore[arg-type]
    bob_on_a = await session(a, bob)  # type: ignore[arg-type]
    texts = ["one", "forbidden two", "three", "four"]
    answers: list[dict[str, Any]] = []
    for text in texts:
        answers.append(await off(send_answer, wa, channel, alice, text))
    assert [m["Status"]["Value"] for m in answers] == ["PENDING"] * len(texts)
    hook.arrived(len(texts))

    heard = await alice_on_b.take(2 * len(texts))
    kinds = [e.type for e in heard]
    assert kinds.count(EventType.PENDING_CREATE_CHANNEL_MESSAGE) == len(texts)
    assert kinds.count(EventType.DENIED_CREATE_CHANNEL_MESSAGE) == 1
    sent = [e for e in heard if e.type == EventType.CREATE_CHANNEL_MESSAGE]
    members = await bob_on_a.take(3)
    # Both hear the same messages, as processed, in the order of their callbacks (the
    # channel's), which is the order of the list.
    listed = await off(
        wa.messaging.list_channel_messages,
        ChannelArn=channel,
        ChimeBearer=bob,
        SortOrder="ASCENDING",
    )
    order = [m["Content"] for m in listed["ChannelMessages"]]
    assert sorted(order) == ["FOUR", "ONE", "THREE"]
    assert contents(sent) == order
    assert contents(members) == order
    assert {e.type for e in members} == {EventType.CREATE_CHANNEL_MESSAGE}
    for answer, text in zip(answers, texts, strict=True):
        ask = {"ChannelArn": channel, "MessageId": answer["MessageId"], "ChimeBearer": alice}
        if "forbidden" in text:  # nothing of a denied message is kept
            with pytest.raises(wb.messaging.exceptions.NotFoundException):
                await off(wb.messaging.get_channel_message_status, **ask)
        else:
            status = await off(wb.messaging.get_channel_message_status, **ask)
            assert status["Status"]["Value"] == "SENT"
    await bob_on_a.quiet(0.5)
    await alice_on_b.quiet(0.1)
    assert hook.errors == []
    await alice_on_b.close()
    await bob_on_a.close()


@pytest.fixture(scope="module")
def lapsing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two nodes whose processor never calls back, with a one-second window: both nodes'
    sweeps find the same invocations late at about the same moments."""
    with processor_cluster(
        tmp_path_factory.mktemp("lapsing"),
        Processor(silent=True).start(),
        "--flow-callback-window-seconds",
        "1",
    ) as running:
        yield running


async def test_a_message_whose_window_passes_fails_once_though_every_node_sweeps(
    lapsing: Cluster,
) -> None:
    a, b = lapsing.nodes[:2]
    wa = World.create(a)  # type: ignore[arg-type]
    alice, bob = wa.user(), wa.user()
    channel = wa.channel(alice, [bob])
    flow = create_flow(wa)
    wa.messaging.associate_channel_flow(ChannelArn=channel, ChannelFlowArn=flow, ChimeBearer=alice)
    alice_on_b = await session(b, alice)  # type: ignore[arg-type]
    count = 12
    sent = [await off(send, wa, channel, alice, f"m{i}") for i in range(count)]
    heard = await alice_on_b.take(2 * count, timeout=15)
    failed = [e for e in heard if e.type == EventType.FAILED_CREATE_CHANNEL_MESSAGE]
    assert sorted(e.payload["MessageId"] for e in failed) == sorted(sent)
    await alice_on_b.quiet(1.0)  # a second sweep of each node adds nothing
    for message_id in sent:
        status = await off(
            wa.messaging.get_channel_message_status,
            ChannelArn=channel,
            MessageId=message_id,
            ChimeBearer=alice,
        )
        assert status["Status"]["Value"] == "FAILED"
    await alice_on_b.close()


async def _taken_over(root: Path, stop: Callable[[Cluster, Node], None], *options: str) -> None:
    """A message sent through node A whose processor never answers A's call; ``stop`` ends A.
    Another node invokes it again, with the same CallbackId, within 20 s, and the processor's
    callback sends it: the member hears it once, as processed."""
    nodes: list[Node] = []
    started = Processor(
        hang_first=1, decide=decide, client=lambda: nodes[1].client("chime-sdk-messaging")
    )
    with processor_cluster(root, started.start(), *options) as running:
        nodes.extend(running.nodes)
        a, b = nodes[:2]
        wb = World.create(b)  # type: ignore[arg-type]
        alice, bob = wb.user(), wb.user()
        channel = wb.channel(alice, [bob])
        flow = create_flow(wb)
        wb.messaging.associate_channel_flow(
            ChannelArn=channel, ChannelFlowArn=flow, ChimeBearer=alice
        )
        bob_on_b = await session(b, bob)  # type: ignore[arg-type]
        sent = await off(send, on(a, wb), channel, alice, "taken over")
        first = started.arrived(1)[0]
        await off(stop, running, a)
        again = await off(started.arrived, 2, 20.0)
        assert again[1]["CallbackId"] == first["CallbackId"]
        heard = await bob_on_b.take(1, timeout=15)
        assert [(e.type, e.payload["MessageId"]) for e in heard] == [
            (EventType.CREATE_CHANNEL_MESSAGE, sent)
        ]
        assert contents(heard) == ["TAKEN OVER"]
        await bob_on_b.quiet(0.5)
        assert len(started.events) == 2 and started.errors == []
        await bob_on_b.close()


async def test_a_killed_nodes_invocation_is_taken_over_by_another_node(tmp_path: Path) -> None:
    """Killed, A keeps its claim on the invocation: one call's longest time after it was made
    (4 s here), node B's sweep takes it over. Nothing waits for the window (48 h)."""
    calls = ("--webhook-timeout-seconds", "3", "--webhook-retries", "0")
    await _taken_over(tmp_path, lambda _, a: a.kill(), *calls)


async def test_a_stopped_node_hands_its_invocation_back_to_the_next_node_that_starts(
    tmp_path: Path,
) -> None:
    """Stopped (SIGTERM, as in a rolling restart), A hands the invocation back: the node started
    next takes it over at once, though A's claim would have held for 91 s (the defaults)."""

    def stop_and_start_another(running: Cluster, a: Node) -> None:
        a.stop()
        _start(running)

    await _taken_over(tmp_path, stop_and_start_another)


async def test_a_node_restarted_after_kill_9_takes_its_own_invocation_back_at_once(
    tmp_path: Path,
) -> None:
    """Killed, then started again on its data dir (its name in the store's claims), A takes
    back the invocation it was making as it starts, though its claim would have held for 91 s."""

    def kill_and_restart(running: Cluster, a: Node) -> None:
        a.kill()
        _start(running, data_dir=a.data_dir)

    await _taken_over(tmp_path, kill_and_restart)


def _start(running: Cluster, data_dir: Path | None = None) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BELLWIRE_WEBHOOK_SECRET", SECRET)  # as processor_cluster's nodes
        running.start_node(data_dir=data_dir)
