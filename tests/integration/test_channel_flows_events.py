"""The EventBridge failure event of a channel flow processor (spec §8, the event-bridge-events
guide), delivered to a real webhook receiver on loopback that the ``[resources]`` map names for
the account's default event bus.
"""

from __future__ import annotations

import json
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hook_server import SECRET, Hook
from server_process import Process, free_port, scraped
from server_process import start as start_process
from test_channel_flows import (
    ACCOUNT,
    REGION,
    App,
    app_on,
    flow_server,
    make_app,
    processor,
    wait_status,
)

from bellwire.domain.flows import FAILURE_EVENT_DELIVERIES
from bellwire.testing import RunningServer, start_server

DEAD = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:events-dead"
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"


@pytest.fixture(scope="module")
def bus() -> Iterator[Hook]:
    started = Hook().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bus: Hook) -> Iterator[RunningServer]:
    with flow_server(
        tmp_path_factory.mktemp("flow-events"),
        {DEAD: f"http://127.0.0.1:{free_port()}/", BUS: bus.url},
        webhook_secret=SECRET,
        webhook_retries=0,
    ) as running:
        yield running


@pytest.fixture
def app(server: RunningServer) -> App:
    return app_on(server)


def channel_with(app: App, fallback: str) -> str:
    flow_arn = app.messaging.create_channel_flow(
        AppInstanceArn=app.arn,
        Processors=[processor(DEAD, fallback)],
        Name="failing",
        ClientRequestToken=uuid.uuid4().hex,
    )["ChannelFlowArn"]
    channel = app.channel(app.alice)
    app.messaging.associate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=flow_arn, ChimeBearer=app.alice
    )
    return channel


def events_for(bus: Hook, message_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        found = [b for b in bus.bodies if b.get("detail", {}).get("messageId") == message_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def assert_envelope(event: dict[str, Any], app: App, channel: str, message_id: str) -> None:
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert (event["version"], event["source"], event["detail-type"]) == (
        "0",
        "aws.chime",
        "Chime ChannelFlow Processing Status",
    )
    assert (event["account"], event["region"], event["resources"]) == (ACCOUNT, REGION, [])
    assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    detail = dict(event["detail"])
    assert detail.pop("failureReason").startswith(f"The processor {DEAD} could not be invoked")
    assert detail == {
        "eventType": "ProcessorInvocationFailure",
        "appInstanceArn": app.arn,
        "channelArn": channel,
        "messageId": message_id,
        "processorResourceArn": DEAD,
    }


@pytest.mark.parametrize("fallback", ["ABORT", "CONTINUE"])
def test_an_unreachable_processor_emits_the_eventbridge_failure_event(
    app: App, server: RunningServer, bus: Hook, fallback: str
) -> None:
    """Sent whatever the FallbackAction, signed like every webhook call, in EventBridge's
    envelope with the documented detail."""
    delivered = scraped(server, "bellwire_flow_failure_events_total")
    channel = channel_with(app, fallback)
    sent = app.send(channel, app.alice, "nowhere to go")
    expected = "FAILED" if fallback == "ABORT" else "SENT"
    assert wait_status(app.messaging, channel, sent, app.alice) == expected
    [event] = events_for(bus, sent)
    assert_envelope(event, app, channel, sent)
    deadline = time.monotonic() + 10
    while scraped(server, "bellwire_flow_failure_events_total") < delivered + 1:
        assert time.monotonic() < deadline, "the delivered event was not counted"
        time.sleep(0.05)


def wait_metric(running: RunningServer | Process, name: str, value: float) -> None:
    deadline = time.monotonic() + 15
    while scraped(running, name) < value:
        assert time.monotonic() < deadline, f"{name} did not reach {value}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("status", "deliveries"),
    [(500, FAILURE_EVENT_DELIVERIES), (429, FAILURE_EVENT_DELIVERIES), (400, 1)],
)
def test_a_bus_that_refuses_the_event_is_counted(
    tmp_path: Path, status: int, deliveries: int
) -> None:
    """A bus that fails (5xx, 429) gets the event again on each sweep, up to the bound; one
    that refuses it (another 4xx) gets it once. Then it is dropped and counted lost."""
    refusing = Hook(answer=lambda body: (status, {})).start()
    running = start_server(
        tmp_path / "refusing",
        resources={DEAD: f"http://127.0.0.1:{free_port()}/", BUS: refusing.url},
        webhook_secret=SECRET,
        webhook_retries=0,
        flow_callback_window_seconds=1,  # a sweep every 0.25 s
    )
    try:
        app = app_on(running)
        channel = channel_with(app, "ABORT")
        sent = app.send(channel, app.alice, "lost event")
        assert wait_status(app.messaging, channel, sent, app.alice) == "FAILED"
        wait_metric(running, "bellwire_flow_failure_events_lost_total", 1)
        tried = events_for(refusing, sent)
        assert len(tried) == deliveries
        assert len({json.dumps(e, sort_keys=True) for e in tried}) == 1  # the same event
        time.sleep(0.6)  # two more sweeps: nothing more is sent
        assert len(events_for(refusing, sent)) == deliveries
        assert scraped(running, "bellwire_flow_failure_events_total") == 0
    finally:
        running.stop()
        refusing.stop()


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_the_failure_event_survives_a_restart(
    tmp_path: Path,
    processes: list[Process],
    monkeypatch: pytest.MonkeyPatch,
    stop: signal.Signals,
) -> None:
    """The bus's receiver is down when the processor fails; the server is stopped (kill -9, or
    SIGTERM) before the event could be delivered; the receiver comes up; the restarted server
    delivers the event, once, as it would have been delivered at first."""
    port, bus_port = free_port(), free_port()
    data = tmp_path / "data"
    data.mkdir()
    extra = (
        "--resource",
        f"{DEAD}=http://127.0.0.1:{free_port()}/",
        "--resource",
        f"{BUS}=http://127.0.0.1:{bus_port}/hook",
    )
    monkeypatch.setenv("BELLWIRE_WEBHOOK_SECRET", SECRET)  # secrets are not flags
    monkeypatch.setenv("BELLWIRE_WEBHOOK_RETRIES", "0")
    first = start_process(data, port, *extra)
    processes.append(first)
    app = make_app(first.client("chime-sdk-identity"), first.client("chime-sdk-messaging"))
    channel = channel_with(app, "ABORT")
    sent = app.send(channel, app.alice, "the bus is down")
    assert wait_status(app.messaging, channel, sent, app.alice) == "FAILED"
    deadline = time.monotonic() + 15
    while "to be tried again" not in first.output():  # its first delivery failed
        assert time.monotonic() < deadline, first.output()
        time.sleep(0.05)
    first.proc.send_signal(stop)
    assert first.proc.wait(30) in (-signal.SIGKILL, 0)

    bus = Hook().start(port=bus_port)
    try:
        second = start_process(data, port, *extra)
        processes.append(second)
        [event] = events_for(bus, sent)
        assert_envelope(event, app, channel, sent)
        wait_metric(second, "bellwire_flow_failure_events_total", 1)
        time.sleep(0.5)
        assert len(bus.bodies) == 1  # once: it was forgotten when the bus accepted it
    finally:
        bus.stop()


def test_events_waiting_for_a_bus_unmapped_at_restart_are_dropped_and_counted(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    dead = {DEAD: f"http://127.0.0.1:{free_port()}/"}
    running = start_server(
        data,
        resources={**dead, BUS: f"http://127.0.0.1:{free_port()}/hook"},  # a bus that is down
        webhook_secret=SECRET,
        webhook_retries=0,
    )
    try:
        app = app_on(running)
        channel = channel_with(app, "ABORT")
        sent = app.send(channel, app.alice, "its bus goes away")
        assert wait_status(app.messaging, channel, sent, app.alice) == "FAILED"
    finally:
        running.stop()  # the event is written with the failure, and waits
    again = start_server(data, resources=dead, webhook_secret=SECRET, webhook_retries=0)
    try:
        wait_metric(again, "bellwire_flow_failure_events_lost_total", 1)
        assert scraped(again, "bellwire_flow_failure_events_total") == 0
    finally:
        again.stop()
