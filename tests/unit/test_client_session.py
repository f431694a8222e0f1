"""The MessagingSession client without a bellwire server: pure pieces, then the connection loop
against a scripted WebSocket server (websockets) with a fake botocore session."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bellwire.aws import sigv4
from bellwire.client import (
    CaughtUp,
    Connecting,
    Established,
    EventType,
    Gap,
    Item,
    MessageType,
    MessagingSession,
    MessagingSessionError,
    Reconnecting,
    ReconnectPolicy,
    SessionEvent,
    Stopped,
    StopReason,
)
from bellwire.client.session import EstablishmentGate, connect_url, websocket_target
from bellwire.events import Event, decode

USER = "arn:aws:chime:us-east-1:123456789012:app-instance/app-1/user/alice"
CHANNEL = "arn:aws:chime:us-east-1:123456789012:app-instance/app-1/channel/c1"
NOW = datetime(2026, 11, 25, 9, 43, 23, tzinfo=UTC)


def frame(event_type: str, payload: dict[str, Any] | None = None, **headers: str) -> str:
    hdrs = {"x-amz-chime-event-type": event_type, **headers}
    body = None if payload is None else json.dumps(payload)
    return json.dumps({"Headers": hdrs, "Payload": body})


ESTABLISHED = frame("SESSION_ESTABLISHED")


# --- importing ------------------------------------------------------------------------------------


def test_the_client_loads_nothing_of_the_server() -> None:
    code = (
        "import sys, bellwire.client, bellwire.client.catchup, bellwire.listen\n"
        "bellwire.client.MessagingSession(bellwire.client.EventType.__name__)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp' or m.startswith("
        "('bellwire.server', 'bellwire.gateway', 'bellwire.domain', 'bellwire.store', "
        "'bellwire.api', 'bellwire.iam')))\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# --- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "api", "expected"),
    [
        ("node001.ue1.ws-messaging.chime.aws", None, ("wss", "node001.ue1.ws-messaging.chime.aws")),
        (
            "node001.ue1.ws-messaging.chime.aws",
            "https://messaging-chime.us-east-1.amazonaws.com",
            ("wss", "node001.ue1.ws-messaging.chime.aws"),
        ),
        ("127.0.0.1:8080", "http://127.0.0.1:8080", ("ws", "127.0.0.1:8080")),
        ("chat.example.com", "https://chat.example.com", ("wss", "chat.example.com")),
        ("localhost:8443", "HTTP://localhost:8080", ("ws", "localhost:8443")),
        ("wss://chat.example.com:9443", "http://x", ("wss", "chat.example.com:9443")),
        ("http://127.0.0.1:1/", "https://x", ("ws", "127.0.0.1:1")),
        ("[::1]:8080", "http://[::1]:8080", ("ws", "[::1]:8080")),
    ],
)
def test_websocket_target(url: str, api: str | None, expected: tuple[str, str]) -> None:
    assert websocket_target(url, api) == expected


@pytest.mark.parametrize("url", ["", "  ", "host/connect", "wss://"])
def test_websocket_target_rejects_what_is_not_a_host(url: str) -> None:
    with pytest.raises(ValueError):
        websocket_target(url, "https://x")


def test_connect_url_is_the_js_sdks_and_verifies() -> None:
    url = connect_url(
        scheme="wss",
        host="node001.ue1.ws-messaging.chime.aws",
        user_arn=USER,
        session_id="1234567890",
        region="us-east-1",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token="IQoJb3JpZ2luX2VjE+abc/def==",
        now=NOW,
        prefetch=True,
        prefetch_sort_by="unread",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "wss",
        "node001.ue1.ws-messaging.chime.aws",
        "/connect",
    )
    query = dict(parse_qsl(parts.query))
    assert query["userArn"] == USER and query["sessionId"] == "1234567890"
    assert query["prefetch-on"] == "connect" and query["prefetch-sort-by"] == "unread"
    assert query["X-Amz-Security-Token"] == "IQoJb3JpZ2luX2VjE+abc/def=="
    assert query["X-Amz-Expires"] == "10"
    assert query["X-Amz-Credential"] == "AKIDEXAMPLE/20261125/us-east-1/chime/aws4_request"
    assert parts.query.endswith("&X-Amz-Signature=" + query["X-Amz-Signature"])
    # The server's verifier accepts it (same code path as a real /connect).
    signed = sigv4.parse_presigned_query("GET", parts.path, parts.query, parts.netloc)
    sigv4.verify(
        signed,
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        now=NOW + timedelta(seconds=5),
        region="us-east-1",
        service="chime",
        max_skew=timedelta(minutes=15),
    )


def test_connect_url_without_prefetch_or_token() -> None:
    url = connect_url(
        scheme="ws",
        host="127.0.0.1:8080",
        user_arn=USER,
        session_id="7",
        region="eu-central-1",
        access_key_id="AKID",
        secret_access_key="secret",
        session_token=None,
        now=NOW,
    )
    assert url.startswith("ws://127.0.0.1:8080/connect?")
    keys = [k for k, _ in parse_qsl(urlsplit(url).query)]
    assert "prefetch-on" not in keys and "X-Amz-Security-Token" not in keys
    assert "/eu-central-1/chime/" in dict(parse_qsl(urlsplit(url).query))["X-Amz-Credential"]


def test_prefetch_sort_by_is_checked_early() -> None:
    with pytest.raises(ValueError, match="prefetch_sort_by"):
        MessagingSession(USER, prefetch_sort_by="newest")


# --- events ---------------------------------------------------------------------------------------


def test_frames_decode_into_typed_events() -> None:
    message = {"ChannelArn": CHANNEL, "MessageId": "m1", "Content": "hi", "Type": "CONTROL"}
    event = SessionEvent.of(
        decode(frame("CREATE_CHANNEL_MESSAGE", message, **{"x-amz-chime-message-type": "CONTROL"}))
    )
    assert isinstance(event, Event)
    assert event.type is EventType.CREATE_CHANNEL_MESSAGE
    assert event.message_type is MessageType.CONTROL
    assert event.payload == message  # the JSON string is decoded
    assert (event.channel_arn, event.message_id, event.caught_up) == (CHANNEL, "m1", False)
    assert event.headers["x-amz-chime-event-type"] == "CREATE_CHANNEL_MESSAGE"

    details = SessionEvent.of(
        decode(frame("CHANNEL_DETAILS", {"Channel": {"ChannelArn": CHANNEL}}))
    )
    assert details.channel_arn == CHANNEL and details.message_id is None

    left = SessionEvent.of(
        decode(
            frame(
                "DELETE_CHANNEL_MEMBERSHIP",
                {"ChannelArn": CHANNEL, "Member": {"Arn": USER}},
                **{"x-amz-chime-event-reason": "subchannel_DELETED"},
            )
        )
    )
    assert left.reason == "subchannel_DELETED"
    assert left.headers["x-amz-chime-event-reason"] == "subchannel_DELETED"
    assert left.message_type is MessageType.SYSTEM  # the header's default

    future = SessionEvent.of(decode(frame("SOMETHING_NEW", {"x": 1})))
    assert future.type == "SOMETHING_NEW" and future.payload == {"x": 1}


def test_the_gate_holds_frames_until_session_established() -> None:
    gate = EstablishmentGate()
    early = [
        Event(EventType.CREATE_CHANNEL_MESSAGE, MessageType.STANDARD, {"MessageId": str(i)})
        for i in range(3)
    ]
    assert [gate.feed(e) for e in early] == ["hold"] * 3
    assert not gate.established
    assert gate.feed(Event(EventType.SESSION_ESTABLISHED, MessageType.SYSTEM)) == "establish"
    assert gate.release() == early  # in arrival order
    assert gate.release() == []
    assert gate.feed(early[0]) == "deliver"
    assert gate.feed(Event(EventType.SESSION_ESTABLISHED, MessageType.SYSTEM)) == "ignore"


def test_stopped_says_what_happened() -> None:
    stopped = Stopped(StopReason.NOT_RECONNECTABLE, 4003, "Forbidden")
    assert not stopped.ok
    assert str(stopped) == "not reconnectable (code 4003): Forbidden"
    assert str(MessagingSessionError(stopped)).endswith("(code 4003): Forbidden")
    assert Stopped(StopReason.STOPPED_BY_USER, None, "").ok


# --- the loop against a scripted server -----------------------------------------------------------

Script = Callable[[ServerConnection, int], Any]


class FakeClient:
    def __init__(self, url: str, failures: int) -> None:
        self.url = url
        self.failures = failures
        self.calls = 0
        self.meta = SimpleNamespace(endpoint_url="http://127.0.0.1:1", region_name="us-east-1")

    def get_messaging_session_endpoint(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("endpoint down")
        return {"Endpoint": {"Url": self.url}}


class FakeBoto:
    """What MessagingSession needs of a botocore session: create_client and get_credentials."""

    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.credential_reads = 0

    def create_client(self, service: str, **kwargs: Any) -> FakeClient:
        assert service == "chime-sdk-messaging"
        return self.client

    def get_credentials(self) -> Any:
        self.credential_reads += 1
        frozen = SimpleNamespace(access_key="AKID", secret_key="secret", token=None)
        return SimpleNamespace(get_frozen_credentials=lambda: frozen)


class Scripted:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[str] = []

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.requests.append(ws.request.path)
        await self.script(ws, len(self.requests))


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[..., Any]]:
    servers: list[Any] = []

    async def start(
        script: Script, failures: int = 0, **kwargs: Any
    ) -> tuple[Scripted, MessagingSession, FakeBoto]:
        state = Scripted(script)
        server = await serve(state.handler, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        boto = FakeBoto(FakeClient(f"127.0.0.1:{port}", failures))
        kwargs.setdefault("policy", ReconnectPolicy(base=0.01, cap=0.05, window=2.0))
        session = MessagingSession(USER, boto_session=boto, session_id="42", **kwargs)
        return state, session, boto

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def collect(
    session: MessagingSession, timeout: float = 10.0
) -> tuple[list[Item], Exception | None]:
    items: list[Item] = []

    async def run() -> None:
        async for item in session:
            items.append(item)

    try:
        await asyncio.wait_for(run(), timeout)
    except MessagingSessionError as exc:
        return items, exc
    return items, None


def kinds(items: list[Item]) -> list[str]:
    return [
        f"{type(i).__name__}:{i.type}" if isinstance(i, SessionEvent) else type(i).__name__
        for i in items
    ]


async def test_early_frames_reconnect_gap_and_final_close(scripted: Any) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        if n == 1:
            await ws.send(
                frame("CREATE_CHANNEL_MESSAGE", {"ChannelArn": CHANNEL, "MessageId": "early"})
            )
            await ws.send("this is not JSON")  # dropped, as the JS SDK does
            await ws.send(ESTABLISHED)
            await ws.send(frame("UPDATE_CHANNEL", {"ChannelArn": CHANNEL, "Name": "x"}))
            await ws.close(1012, "restarting")
        else:
            await ws.send(ESTABLISHED)
            await ws.close(4003, "Forbidden")

    state, session, boto = await scripted(script)
    items, error = await collect(session)
    assert kinds(items) == [
        "Connecting",
        "Established",
        "SessionEvent:CREATE_CHANNEL_MESSAGE",  # held, then delivered right after establishment
        "SessionEvent:UPDATE_CHANNEL",
        "Reconnecting",
        "Connecting",
        "Established",
        "Gap",
        "Stopped",
    ]
    assert items[1] == Established("42", reconnecting=False)
    assert items[4] == Reconnecting(1012, "restarting", 1, items[4].delay)  # type: ignore[union-attr]
    assert items[5] == Connecting(boto.client.url, reconnecting=True, attempt=1)
    gap = items[7]
    assert isinstance(gap, Gap) and (gap.code, gap.reason, gap.catching_up) == (
        1012,
        "restarting",
        False,
    )
    assert items[-1] == Stopped(StopReason.NOT_RECONNECTABLE, 4003, "Forbidden")
    assert isinstance(error, MessagingSessionError) and error.stopped == items[-1]
    # Every attempt looked the endpoint up again, re-read credentials and signed a new URL
    # with the same sessionId.
    assert boto.client.calls == 2 and boto.credential_reads == 2
    queries = [dict(parse_qsl(urlsplit(path).query)) for path in state.requests]
    assert [q["sessionId"] for q in queries] == ["42", "42"]
    assert all(q["userArn"] == USER and "X-Amz-Signature" in q for q in queries)


async def test_lookup_failures_are_4999_and_retried(scripted: Any) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(ESTABLISHED)
        await ws.close(1000)

    _, session, _ = await scripted(script, failures=2, raise_on_failure=False)
    items, error = await collect(session)
    assert error is None  # raise_on_failure=False: the Stopped notice is the only report
    assert kinds(items) == [
        "Reconnecting",
        "Reconnecting",
        "Connecting",
        "Established",
        "Stopped",
    ]
    first = items[0]
    assert isinstance(first, Reconnecting) and first.code == 4999
    assert (
        first.reason
        == "Failed to get messaging session endpoint URL: ConnectionError: endpoint down"
    )
    assert items[-1] == Stopped(StopReason.NOT_RECONNECTABLE, 1000, "")


async def test_refusals_before_establishment_use_up_the_window(scripted: Any) -> None:
    # The server completes the upgrade and closes with a retryable code every time. With the JS
    # rule (reset on open) this would loop forever; resetting on SESSION_ESTABLISHED ends it.
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.close(1012, "draining")

    policy = ReconnectPolicy(base=0.01, cap=0.02, window=0.3)
    _, session, _ = await scripted(script, policy=policy)
    items, error = await collect(session)
    stopped = items[-1]
    assert isinstance(stopped, Stopped)
    assert (stopped.reason, stopped.code, stopped.detail) == (
        StopReason.WINDOW_EXHAUSTED,
        1012,
        "draining",
    )
    assert error is not None
    assert not any(isinstance(i, Established | Gap) for i in items)


async def test_stop_before_iterating_ends_at_once(scripted: Any) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        raise AssertionError("no connection expected")

    state, session, boto = await scripted(script)
    await session.stop()
    items, error = await collect(session)
    assert items == [Stopped(StopReason.STOPPED_BY_USER, None, "stopped by the caller")]
    assert error is None and state.requests == [] and boto.client.calls == 0


async def test_stop_while_connected_and_leaving_the_loop_early(scripted: Any) -> None:
    closed: list[int | None] = []

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(ESTABLISHED)
        await ws.wait_closed()
        closed.append(ws.close_code)

    _, session, _ = await scripted(script)
    async with session:
        async for item in session:
            if isinstance(item, Established):
                break  # leaving the loop: __aexit__ stops and closes with 1000
    await asyncio.sleep(0.05)
    assert closed == [1000]


async def test_a_session_iterates_once(scripted: Any) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.close(4003)

    _, session, _ = await scripted(script)
    session.__aiter__()
    with pytest.raises(RuntimeError, match="only once"):
        session.__aiter__()


# Catch-up never reaches back before the first establishment, so the messages are "recent":
# later than any establishment in the run, however long the suite takes before this test.
RECENT = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)


class CatchUpClient(FakeClient):
    """Adds the two catch-up calls: C1 has three listed messages over two pages, C2 fails."""

    C2 = CHANNEL + "-2"

    def __init__(self, url: str) -> None:
        super().__init__(url, failures=0)
        self.list_calls: list[dict[str, Any]] = []

    def list_channel_memberships_for_app_instance_user(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["ChimeBearer"] == kwargs["AppInstanceUserArn"] == USER
        return {
            "ChannelMemberships": [
                {"ChannelSummary": {"ChannelArn": CHANNEL}},
                {"ChannelSummary": {"ChannelArn": self.C2}},
            ]
        }

    def list_channel_messages(self, **kwargs: Any) -> dict[str, Any]:
        self.list_calls.append(kwargs)
        if kwargs["ChannelArn"] == self.C2:
            raise RuntimeError("ForbiddenException")
        created = RECENT
        if "NextToken" not in kwargs:
            return {
                "ChannelMessages": [
                    {"MessageId": "m1", "CreatedTimestamp": created},  # seen live: dropped
                    {"MessageId": "m2", "CreatedTimestamp": created, "Type": "CONTROL"},
                ],
                "NextToken": "page-2",
            }
        return {"ChannelMessages": [{"MessageId": "m3", "CreatedTimestamp": created}]}


async def test_catch_up_order_and_dedup_with_held_frames(scripted: Any) -> None:
    def create(message_id: str) -> str:
        return frame(
            "CREATE_CHANNEL_MESSAGE",
            {
                "ChannelArn": CHANNEL,
                "MessageId": message_id,
                "CreatedTimestamp": RECENT.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            },
            **{"x-amz-chime-message-type": "STANDARD"},
        )

    async def script(ws: ServerConnection, n: int) -> None:
        if n == 1:
            await ws.send(ESTABLISHED)
            await ws.send(create("m1"))
            await ws.close(1011, "oops")
        else:
            await ws.send(create("m3"))  # before SESSION_ESTABLISHED, and also listed
            await ws.send(ESTABLISHED)
            await ws.send(create("m4"))
            await ws.close(4003, "done")

    _, session, boto = await scripted(script, catch_up=True, raise_on_failure=False)
    client = CatchUpClient(boto.client.url)
    boto.client = client
    items, _ = await collect(session)
    assert kinds(items) == [
        "Connecting",
        "Established",
        "SessionEvent:CREATE_CHANNEL_MESSAGE",
        "Reconnecting",
        "Connecting",
        "Established",
        "Gap",
        "SessionEvent:CREATE_CHANNEL_MESSAGE",
        "SessionEvent:CREATE_CHANNEL_MESSAGE",
        "CaughtUp",
        "SessionEvent:CREATE_CHANNEL_MESSAGE",
        "Stopped",
    ]
    events = [i for i in items if isinstance(i, SessionEvent)]
    assert [(e.message_id, e.caught_up) for e in events] == [
        ("m1", False),
        ("m2", True),
        ("m3", True),  # the held live copy of m3 is dropped as a duplicate
        ("m4", False),
    ]
    assert events[1].message_type is MessageType.CONTROL
    assert events[1].payload is not None and events[1].payload["ChannelArn"] == CHANNEL
    assert events[1].payload["CreatedTimestamp"] == RECENT.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    caught_up = items[9]
    assert caught_up == CaughtUp(2, 2, ((CatchUpClient.C2, "RuntimeError: ForbiddenException"),))
    first = client.list_calls[0]
    assert (first["SortOrder"], first["ChimeBearer"], first["MaxResults"]) == (
        "ASCENDING",
        USER,
        50,
    )
    # NotBefore: the newest message seen on the channel, minus the one-second margin.
    assert first["NotBefore"] == RECENT - timedelta(seconds=1)
    assert client.list_calls[1]["NextToken"] == "page-2"


async def test_leaving_the_context_while_another_task_iterates(scripted: Any) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(ESTABLISHED)
        await ws.wait_closed()

    _, session, _ = await scripted(script)
    async with session:
        consumer = asyncio.create_task(collect(session))
        for _ in range(500):  # until connected
            if session._ws is not None:
                break
            await asyncio.sleep(0.01)
        # Leaving the context here stops the session; the consumer's iteration then ends.
    items, error = await asyncio.wait_for(consumer, 5)
    assert error is None
    assert isinstance(items[-1], Stopped) and items[-1].ok
