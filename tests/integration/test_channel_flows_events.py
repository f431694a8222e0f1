"""The EventBridge failure event of a channel flow processor (spec §8, the event-bridge-events
guide), delivered to a real webhook receiver on loopback that the ``[resources]`` map names for
the account's default event bus.
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hook_server import SECRET, Hook
from server_process import free_port
from test_channel_flows import ACCOUNT, REGION, App, app_on, flow_server, processor, wait_status

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


def scraped(running: RunningServer, name: str) -> float:
    with urllib.request.urlopen(running.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return next(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
    )


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
    detail = event["detail"]
    assert detail.pop("failureReason").startswith(f"The processor {DEAD} could not be invoked")
    assert detail == {
        "eventType": "ProcessorInvocationFailure",
        "appInstanceArn": app.arn,
        "channelArn": channel,
        "messageId": sent,
        "processorResourceArn": DEAD,
    }
    deadline = time.monotonic() + 10
    while scraped(server, "bellwire_flow_failure_events_total") < delivered + 1:
        assert time.monotonic() < deadline, "the delivered event was not counted"
        time.sleep(0.05)


def test_a_bus_that_refuses_the_event_is_counted(tmp_path: Path) -> None:
    refusing = Hook(answer=lambda body: (500, {})).start()
    running = start_server(
        tmp_path / "refusing",
        resources={DEAD: f"http://127.0.0.1:{free_port()}/", BUS: refusing.url},
        webhook_secret=SECRET,
        webhook_retries=0,
    )
    try:
        app = app_on(running)
        channel = channel_with(app, "ABORT")
        sent = app.send(channel, app.alice, "lost event")
        assert wait_status(app.messaging, channel, sent, app.alice) == "FAILED"
        assert len(events_for(refusing, sent)) == 1
        deadline = time.monotonic() + 10
        while scraped(running, "bellwire_flow_failure_events_lost_total") < 1:
            assert time.monotonic() < deadline, "the lost event was not counted"
            time.sleep(0.05)
        assert scraped(running, "bellwire_flow_failure_events_total") == 0
    finally:
        running.stop()
        refusing.stop()
