"""Proof with the official JavaScript clients: AWS SDK v3 and amazon-chime-sdk-js, unchanged.

The Node scenarios live in ``tests/interop/js`` (pinned versions in its ``package.json`` and
``package-lock.json``). This driver installs them with ``npm ci`` (once, when ``node_modules`` is
missing or was installed from another lockfile), makes a throw-away CA and a server certificate
for ``localhost``/``127.0.0.1`` with the ``openssl`` CLI, starts a real bellwire over https/wss,
and runs the scenarios as subprocesses. Node trusts the CA through ``NODE_EXTRA_CA_CERTS``; the
scenarios write one JSON object per stdout line (see ``js/lib/harness.mjs``) and the tests
assert on those events.

Nothing here is skipped: if Node, npm or the npm registry is missing the tests fail and say why.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from node_packages import installed
from tlsworld import Tls, World, boto, check_channel_details, make_world, prefetch_world, tool

from bellwire.testing import RunningServer, start_server

JS_DIR = Path(__file__).parent / "js"
REST_TIMEOUT = 60.0
# How long a session scenario may take to reach a milestone (Node start-up included).
EVENT_TIMEOUT = 20.0
# A "nothing more happens" window: longer than the SDK's first backoff steps ([0,1 s), [0,2 s)).
QUIET = 3.0
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

pytestmark = pytest.mark.timeout(300)


# --- tools -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``npm ci`` unless node_modules was installed from exactly this package-lock.json."""
    node = tool("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < 20:
        pytest.fail(f"Node 20+ is required, found {version.stdout.strip()}")
    return installed(JS_DIR, tool("npm"))


# --- Node scenarios ------------------------------------------------------------------------------


def node_env(running: RunningServer, tls: Tls, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BELLWIRE_"))}
    env.update(
        NODE_EXTRA_CA_CERTS=str(tls.ca),
        NO_PROXY="localhost,127.0.0.1",
        no_proxy="localhost,127.0.0.1",
        BELLWIRE_URL=running.url,
        BELLWIRE_ENDPOINT_HOST=running.endpoint_host,
        BELLWIRE_REGION=running.region,
        BELLWIRE_ACCESS_KEY_ID=running.access_key_id,
        BELLWIRE_SECRET_ACCESS_KEY=running.secret_access_key,
    )
    env.update(extra)
    return env


Event = dict[str, Any]
Match = Callable[[Event], bool]

PROBLEMS = ("error", "uncaughtException", "unhandledRejection", "stdout-not-json")


def is_event(kind: str, **fields: Any) -> Match:
    return lambda e: e["event"] == kind and all(e.get(k) == v for k, v in fields.items())


def is_message(type_: str, **payload: Any) -> Match:
    def match(e: Event) -> bool:
        if e["event"] != "message" or e.get("type") != type_:
            return False
        if not payload:
            return True
        body = json.loads(e["payload"]) if isinstance(e.get("payload"), str) else {}
        return all(body.get(k) == v for k, v in payload.items())

    return match


class NodeScenario:
    """A Node scenario subprocess: JSON events in, JSON commands out, with bounded waits."""

    def __init__(self, script: str, env: dict[str, str]) -> None:
        self.script = script
        self.events: list[Event] = []
        self.stderr: list[str] = []
        self._arrived = threading.Condition()
        self._ids = itertools.count(1)
        self.proc = subprocess.Popen(
            [tool("node"), script],
            cwd=JS_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
                assert isinstance(event, dict) and "event" in event
            except (ValueError, AssertionError):
                event = {"event": "stdout-not-json", "line": line.rstrip("\n")}
            with self._arrived:
                self.events.append(event)
                self._arrived.notify_all()
        with self._arrived:
            self.events.append({"event": "eof", "returncode": self.proc.poll()})
            self._arrived.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    # -- waiting --

    def mark(self) -> int:
        with self._arrived:
            return len(self.events)

    def find(self, match: Match, since: int = 0) -> list[Event]:
        with self._arrived:
            return [e for e in self.events[since:] if match(e)]

    def wait_for(
        self,
        match: Match,
        what: str,
        *,
        since: int = 0,
        count: int = 1,
        timeout: float = EVENT_TIMEOUT,
    ) -> list[Event]:
        """The first ``count`` events after index ``since`` that match; fail with the transcript."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [e for e in self.events[since:] if match(e)]
                if len(found) >= count:
                    return found[:count]
                if self.events and self.events[-1]["event"] == "eof":
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
        pytest.fail(f"{self.script}: no {what} within {timeout:.0f} s\n{self.transcript()}")

    def quiet(self, match: Match, what: str, *, since: int, seconds: float = QUIET) -> None:
        """Assert that nothing matching arrives for ``seconds``."""
        time.sleep(seconds)
        found = self.find(match, since)
        assert not found, f"{self.script}: unexpected {what}: {found}\n{self.transcript()}"

    # -- talking --

    def command(self, cmd: str, **fields: Any) -> int:
        identifier = next(self._ids)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, "id": identifier, **fields}) + "\n")
        self.proc.stdin.flush()
        return identifier

    def send(self, channel: str, content: str, **fields: Any) -> str:
        """Send through the Node process's v3 client; returns the MessageId."""
        identifier = self.command("send", channel=channel, content=content, **fields)
        (sent,) = self.wait_for(is_event("sent", id=identifier), f"sent #{identifier}")
        message_id: str = sent["messageId"]
        return message_id

    def assert_clean(self) -> None:
        problems = [e for e in self.find(lambda e: e["event"] in PROBLEMS)]
        assert not problems, f"{self.script}: problems: {problems}\n{self.transcript()}"

    def transcript(self, last: int = 80) -> str:
        with self._arrived:
            lines = [json.dumps(e)[:600] for e in self.events[-last:]]
        return "--- events\n" + "\n".join(lines) + "\n--- stderr\n" + "\n".join(self.stderr[-40:])

    def sdk_logs(self) -> list[str]:
        return [e["msg"] for e in self.find(is_event("log"))]

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def node(node_modules: Path, tls: Tls) -> Iterator[Callable[..., NodeScenario]]:
    """Start ``session.mjs`` for a user; every process is ended after the test."""
    started: list[NodeScenario] = []

    def launch(running: RunningServer, user_arn: str, **extra: str) -> NodeScenario:
        scenario = NodeScenario(
            "session.mjs", node_env(running, tls, BELLWIRE_USER_ARN=user_arn, **extra)
        )
        started.append(scenario)
        return scenario

    yield launch
    for scenario in started:
        scenario.close()


def established(scenario: NodeScenario) -> None:
    """Wait for the whole start sequence of a first connect."""
    scenario.wait_for(is_event("didStartConnecting", reconnecting=False), "first connect")
    scenario.wait_for(is_event("didStart"), "messagingSessionDidStart")
    scenario.wait_for(is_event("startResolved"), "start() resolving")
    scenario.wait_for(is_message("SESSION_ESTABLISHED"), "the SESSION_ESTABLISHED message")


def payload_of(event: Event) -> dict[str, Any]:
    assert event["payloadIsString"], f"Payload must be a JSON string: {event}"
    body = json.loads(event["payload"])
    assert isinstance(body, dict), body
    return body


# --- a: the v3 REST clients ----------------------------------------------------------------------


def test_v3_clients_parse_every_response(
    node_modules: Path, server: RunningServer, tls: Tls
) -> None:
    try:
        done = subprocess.run(
            [tool("node"), "rest.mjs"],
            cwd=JS_DIR,
            env=node_env(server, tls),
            capture_output=True,
            text=True,
            timeout=REST_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"rest.mjs did not finish in {REST_TIMEOUT:.0f} s:\n{exc.stdout}\n{exc.stderr}")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    failures = [e for e in events if e["event"] == "step" and not e["ok"]]
    assert not failures, "\n".join(
        f"{e['name']}: {e['error'].get('name')}: {e['error'].get('message')}" for e in failures
    )
    final = [e for e in events if e["event"] == "done"]
    assert done.returncode == 0 and final and final[0]["ok"], (done.stdout, done.stderr)
    steps = {e["name"] for e in events if e["event"] == "step"}
    assert {"CreateAppInstance", "SendChannelMessage", "ListChannelMessages"} <= steps
    # Epoch-number timestamps came back as Date objects (checked in Node), and enough of them.
    checked = [t for e in events if e["event"] == "step" for t in e.get("timestamps", [])]
    assert "$.ChannelMessage.LastEditedTimestamp" in checked
    assert "$.Channels[0].LastMessageTimestamp" in checked


# --- b: start() -----------------------------------------------------------------------------------


def test_start_resolves_and_did_start_fires(
    node: Callable[..., NodeScenario], server: RunningServer, world: World
) -> None:
    session = node(server, world.users["alice"])
    established(session)
    (hello,) = session.wait_for(is_message("SESSION_ESTABLISHED"), "SESSION_ESTABLISHED")
    assert hello["headers"]["x-amz-chime-event-type"] == "SESSION_ESTABLISHED"
    assert hello["headers"]["x-amz-chime-message-type"] == "SYSTEM"
    assert hello["payload"] is None
    # The SDK signed the URL for the host GetMessagingSessionEndpoint returned, over wss.
    opening = [m for m in session.sdk_logs() if m.startswith("opening connection to ")]
    assert opening and opening[0].startswith(
        f"opening connection to wss://{server.endpoint_host}/connect?"
    )
    order = [
        e["event"] for e in session.find(lambda e: e["event"] in ("didStartConnecting", "didStart"))
    ]
    assert order == ["didStartConnecting", "didStart"]
    session.assert_clean()


# --- c: prefetch ------------------------------------------------------------------------------------


def test_prefetch_on_connect_sends_channel_details_per_channel(
    node: Callable[..., NodeScenario], server: RunningServer, world: World
) -> None:
    alice = world.users["alice"]
    mine = prefetch_world(world)
    session = node(server, alice, BELLWIRE_PREFETCH="connect")
    established(session)
    session.wait_for(is_message("CHANNEL_DETAILS"), "CHANNEL_DETAILS", count=len(mine))
    time.sleep(1.0)  # anything beyond one per channel would have arrived by now
    details = session.find(is_message("CHANNEL_DETAILS"))
    for event in details:
        assert event["headers"]["x-amz-chime-message-type"] == "SYSTEM", event
    check_channel_details([payload_of(e) for e in details], mine, alice)
    # They follow SESSION_ESTABLISHED (the SDK would queue them otherwise, but AWS sends it first).
    types = [e["type"] for e in session.find(is_event("message"))]
    assert types[0] == "SESSION_ESTABLISHED", types
    session.assert_clean()


# --- d: messages from boto3 and from the v3 client ------------------------------------------------


def test_messages_from_boto3_and_v3_arrive(
    node: Callable[..., NodeScenario], server: RunningServer, world: World
) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    channel = world.channel(alice, bob)
    session = node(server, alice)
    established(session)
    sent = {
        world.send(channel, bob, "from boto3", Metadata="m1"): ("STANDARD", "from boto3", bob),
        world.send(channel, bob, "ctl", Type="CONTROL", Persistence="NON_PERSISTENT"): (
            "CONTROL",
            "ctl",
            bob,
        ),
        session.send(channel, "from js"): ("STANDARD", "from js", alice),
    }
    arrived = session.wait_for(
        is_message("CREATE_CHANNEL_MESSAGE"), "CREATE_CHANNEL_MESSAGE x3", count=len(sent)
    )
    for event in arrived:
        body = payload_of(event)
        message_type, content, sender = sent[body["MessageId"]]
        assert event["headers"]["x-amz-chime-event-type"] == "CREATE_CHANNEL_MESSAGE"
        assert event["headers"]["x-amz-chime-message-type"] == message_type, event
        assert body["Type"] == message_type
        assert body["Content"] == content
        assert body["ChannelArn"] == channel
        assert body["Sender"]["Arn"] == sender
        # WebSocket payloads carry ISO-8601 timestamps with milliseconds (spec §2.5).
        assert ISO_MILLIS.match(body["CreatedTimestamp"]), body["CreatedTimestamp"]
    assert {payload_of(e)["MessageId"] for e in arrived} == set(sent)

    # An edit made with boto3 arrives as UPDATE_CHANNEL_MESSAGE.
    first = next(iter(sent))
    world.messaging.update_channel_message(
        ChannelArn=channel, MessageId=first, Content="edited", ChimeBearer=bob
    )
    (updated,) = session.wait_for(
        is_message("UPDATE_CHANNEL_MESSAGE", MessageId=first), "UPDATE_CHANNEL_MESSAGE"
    )
    assert updated["headers"]["x-amz-chime-message-type"] == "STANDARD"
    assert payload_of(updated)["Content"] == "edited"
    session.assert_clean()


# --- e: reconnect after a server restart ------------------------------------------------------------


def test_reconnects_after_server_restart(
    node: Callable[..., NodeScenario],
    servers: list[RunningServer],
    tls: Tls,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "restart"
    first = start_server(data_dir, tls_cert=tls.cert, tls_key=tls.key)
    servers.append(first)
    world = make_world(first, tls)
    alice, bob = world.users["alice"], world.users["bob"]
    channel = world.channel(alice, bob)
    session = node(first, alice)
    established(session)

    before = session.mark()
    world.close()  # boto3's idle keep-alive connections; Node's stay open on purpose
    first.stop()
    second = start_server(data_dir, port=first.port, tls_cert=tls.cert, tls_key=tls.key)
    servers.append(second)
    assert (second.port, second.access_key_id) == (first.port, first.access_key_id)

    session.wait_for(
        lambda e: e["event"] == "log" and e["msg"].startswith("WebSocket close: 1012"),
        "the 1012 close",
        since=before,
    )
    session.wait_for(
        is_event("didStartConnecting", reconnecting=True), "a reconnect attempt", since=before
    )
    session.wait_for(is_event("didStart"), "messagingSessionDidStart again", since=before)
    assert not session.find(is_event("didStop")), session.transcript()

    world = World(
        world.app,
        boto(second, tls, "chime-sdk-identity"),
        boto(second, tls, "chime-sdk-messaging"),
        world.users,
    )
    message_id = world.send(channel, bob, "after restart")
    (event,) = session.wait_for(
        is_message("CREATE_CHANNEL_MESSAGE", MessageId=message_id), "a message after the restart"
    )
    assert payload_of(event)["Content"] == "after restart"
    session.assert_clean()


# --- f: wrong credentials -------------------------------------------------------------------------


def test_wrong_key_rejects_start_with_4401_without_retrying(
    node: Callable[..., NodeScenario], server: RunningServer, world: World
) -> None:
    # The (deprecated) endpointUrl makes the first connect skip GetMessagingSessionEndpoint, so
    # the wrong secret first meets the server in the presigned /connect URL.
    session = node(
        server,
        world.users["alice"],
        BELLWIRE_SESSION_SECRET="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        BELLWIRE_CONFIG_ENDPOINT=server.endpoint_host,
    )
    (rejected,) = session.wait_for(is_event("startRejected"), "start() rejecting")
    assert rejected["code"] == 4401, rejected
    assert any(m.startswith("WebSocket close: 4401") for m in session.sdk_logs()), (
        session.transcript()
    )
    session.quiet(is_event("didStartConnecting", reconnecting=True), "a retry after 4401", since=0)
    assert len(session.find(is_event("didStartConnecting"))) == 1
    assert not session.find(is_event("didStart"))
    session.assert_clean()


# --- g: stop() -----------------------------------------------------------------------------------


def test_stop_fires_did_stop_and_does_not_reconnect(
    node: Callable[..., NodeScenario], server: RunningServer, world: World
) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    channel = world.channel(alice, bob)
    session = node(server, alice)
    established(session)
    before = session.mark()
    session.command("stop")
    (stopped,) = session.wait_for(is_event("didStop"), "messagingSessionDidStop", since=before)
    assert stopped["code"] in (1000, 1005), stopped
    world.send(channel, bob, "after stop")
    session.quiet(
        lambda e: e["event"] in ("didStartConnecting", "didStart", "message"),
        "activity after stop()",
        since=before,
    )
    session.assert_clean()


# --- elastic channels: join, receive in one's sub-channel, get moved, keep receiving ----------------


def test_elastic_channel_member_is_moved_and_keeps_receiving(
    node: Callable[..., NodeScenario], server: RunningServer, world: World
) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    others = [world.user(name) for name in ("carol", "dave", "erin", "frank")]
    channel: str = world.messaging.create_channel(
        AppInstanceArn=world.app,
        Name="elastic",
        ChimeBearer=alice,
        ElasticChannelConfiguration={
            "MaximumSubChannels": 3,
            "TargetMembershipsPerSubChannel": 4,
            "MinimumMembershipPercentage": 10,
        },
    )["ChannelArn"]

    def add(member: str) -> None:
        world.messaging.create_channel_membership(
            ChannelArn=channel, MemberArn=member, Type="DEFAULT", ChimeBearer=alice
        )

    session = node(server, bob)
    established(session)
    for member in others[:3]:
        add(member)
    add(bob)  # the newest of a full sub-channel: the one the next join moves
    (joined,) = session.wait_for(is_message("CREATE_CHANNEL_MEMBERSHIP"), "own membership")
    first = payload_of(joined)["SubChannelId"]

    # The v3 client sends into its sub-channel (SubChannelId) and lists the sub-channels.
    identifier = session.command("listSubChannels", channel=channel, bearer=alice)
    (listed,) = session.wait_for(is_event("subChannels", id=identifier), "ListSubChannels")
    assert listed["subChannels"] == [{"SubChannelId": first, "MembershipCount": 4}]
    mark = session.mark()
    message_id = session.send(channel, "before the move", subChannelId=first)
    (got,) = session.wait_for(
        is_message("CREATE_CHANNEL_MESSAGE", MessageId=message_id), "own message", since=mark
    )
    assert payload_of(got)["SubChannelId"] == first

    # SCALE_OUT: the fifth join moves bob into the new sub-channel; only bob hears of it.
    mark = moving = session.mark()
    add(others[3])
    (moved,) = session.wait_for(is_message("UPDATE_CHANNEL_MEMBERSHIP"), "the move", since=mark)
    second = payload_of(moved)["SubChannelId"]
    assert second != first
    assert payload_of(moved)["Member"]["Arn"] == bob
    assert moved["headers"]["x-amz-chime-message-type"] == "SYSTEM"
    session.wait_for(
        is_message("CREATE_CHANNEL_MEMBERSHIP", SubChannelId=second), "frank's join", since=mark
    )

    # Bob keeps receiving, from its new sub-channel only.
    mark = session.mark()
    world.send(channel, others[0], "in the old sub-channel", SubChannelId=first)
    world.send(channel, others[3], "in the new sub-channel", SubChannelId=second)
    (after,) = session.wait_for(is_message("CREATE_CHANNEL_MESSAGE"), "a message", since=mark)
    assert payload_of(after)["Content"] == "in the new sub-channel"
    mark = session.mark()
    message_id = session.send(channel, "after the move", subChannelId=second)
    session.wait_for(
        is_message("CREATE_CHANNEL_MESSAGE", MessageId=message_id), "own message", since=mark
    )
    session.quiet(
        is_message("CREATE_CHANNEL_MESSAGE", SubChannelId=first), "old sub-channel", since=moving
    )
    session.assert_clean()
