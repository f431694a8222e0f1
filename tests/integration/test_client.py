"""The Python MessagingSession client against a real bellwire server (bellwire.testing).

Every session here goes through the whole path: GetMessagingSessionEndpoint with botocore,
a presigned ``ws://`` connect, the server's gateway, and the server's own close codes, which
are triggered by the operator endpoint ``POST /admin/sessions/close`` (bellwire.api.admin).
Backoffs are scaled down so the module runs in seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.credentials import CredentialProvider, RefreshableCredentials

from bellwire.api.admin import close_sessions
from bellwire.client import (
    CaughtUp,
    Connecting,
    Established,
    EventType,
    Gap,
    Item,
    MessagingSession,
    Reconnecting,
    ReconnectPolicy,
    SessionEvent,
    Stopped,
    StopReason,
)
from bellwire.iam.principal import Credential
from bellwire.testing import RunningServer, start_server

FAST = ReconnectPolicy(base=0.05, cap=0.2, window=3.0)
SETTINGS: dict[str, Any] = {
    # Every test connects and reconnects the same few users many times a second.
    "connects_per_user_per_second": 1000.0,
    "connect_burst": 1000,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("bellwire"), **SETTINGS)
    try:
        yield running
    finally:
        running.stop()


def root_session(running: RunningServer) -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_credentials(running.access_key_id, running.secret_access_key)
    return session


async def kick(
    running: RunningServer, user_arn: str, code: int, reason: str | None = None
) -> list[str]:
    return await asyncio.to_thread(
        close_sessions,
        running.url,
        user_arn,
        code,
        reason=reason,
        boto_session=root_session(running),
        region=running.region,
    )


def session_for(
    running: RunningServer, user_arn: str, boto_session: Any = None, **kwargs: Any
) -> MessagingSession:
    kwargs.setdefault("policy", FAST)
    return MessagingSession(
        user_arn,
        boto_session=boto_session or root_session(running),
        region=running.region,
        endpoint_url=running.url,
        **kwargs,
    )


async def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """A boto3 call off the event loop, so the client keeps reading its socket meanwhile."""
    return await asyncio.to_thread(fn, **kwargs)


# --- events -----------------------------------------------------------------------------------


async def test_every_event_type_the_server_emits(
    app: Any, server: RunningServer, watch: Any
) -> None:
    w = watch(session_for(server, app.alice))
    await w.next(Established)
    m = app.messaging
    channel = (
        await call(m.create_channel, AppInstanceArn=app.arn, Name="general", ChimeBearer=app.alice)
    )["ChannelArn"]
    created = await w.event(EventType.CREATE_CHANNEL)
    assert created.payload is not None and created.payload["Name"] == "general"
    assert created.channel_arn == channel and str(created.message_type) == "SYSTEM"

    await call(
        m.create_channel_membership,
        ChannelArn=channel,
        MemberArn=app.bob,
        Type="DEFAULT",
        ChimeBearer=app.alice,
    )
    joined = await w.event(EventType.CREATE_CHANNEL_MEMBERSHIP)
    assert joined.payload is not None and joined.payload["Member"]["Arn"] == app.bob

    await call(
        m.batch_create_channel_membership,
        ChannelArn=channel,
        MemberArns=[app.carol, app.dave],
        Type="DEFAULT",
        ChimeBearer=app.alice,
    )
    batch = await w.event(EventType.BATCH_CREATE_CHANNEL_MEMBERSHIP)
    assert batch.payload is not None
    assert {member["Arn"] for member in batch.payload["Members"]} == {app.carol, app.dave}

    sent = (
        await call(
            m.send_channel_message,
            ChannelArn=channel,
            Content="hello",
            Type="STANDARD",
            Persistence="PERSISTENT",
            ChimeBearer=app.bob,
        )
    )["MessageId"]
    message = await w.event(EventType.CREATE_CHANNEL_MESSAGE)
    assert (message.message_id, message.channel_arn) == (sent, channel)
    assert message.payload is not None and message.payload["Content"] == "hello"
    assert message.headers == {
        "x-amz-chime-event-type": "CREATE_CHANNEL_MESSAGE",
        "x-amz-chime-message-type": "STANDARD",
    }
    assert not message.caught_up

    await call(
        m.update_channel_message,
        ChannelArn=channel,
        MessageId=sent,
        Content="edited",
        ChimeBearer=app.bob,
    )
    updated = await w.event(EventType.UPDATE_CHANNEL_MESSAGE)
    assert updated.payload is not None and updated.payload["Content"] == "edited"

    await call(m.redact_channel_message, ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob)
    redacted = await w.event(EventType.REDACT_CHANNEL_MESSAGE)
    assert redacted.payload is not None and redacted.payload["Redacted"] is True

    control = (
        await call(
            m.send_channel_message,
            ChannelArn=channel,
            Content="ping",
            Type="CONTROL",
            Persistence="PERSISTENT",
            ChimeBearer=app.alice,
        )
    )["MessageId"]
    assert str((await w.event(EventType.CREATE_CHANNEL_MESSAGE)).message_type) == "CONTROL"
    await call(
        m.delete_channel_message, ChannelArn=channel, MessageId=control, ChimeBearer=app.admin
    )
    deleted = await w.event(EventType.DELETE_CHANNEL_MESSAGE)
    assert deleted.message_id == control

    await call(
        m.update_channel,
        ChannelArn=channel,
        Name="renamed",
        Mode="UNRESTRICTED",
        ChimeBearer=app.alice,
    )
    renamed = await w.event(EventType.UPDATE_CHANNEL)
    assert renamed.payload is not None and renamed.payload["Name"] == "renamed"

    await call(
        m.delete_channel_membership, ChannelArn=channel, MemberArn=app.bob, ChimeBearer=app.alice
    )
    left = await w.event(EventType.DELETE_CHANNEL_MEMBERSHIP)
    assert left.payload is not None and left.payload["Member"]["Arn"] == app.bob

    await call(m.delete_channel, ChannelArn=channel, ChimeBearer=app.alice)
    gone = await w.event(EventType.DELETE_CHANNEL)
    assert gone.channel_arn == channel
    # Nothing but events after establishment, and SESSION_ESTABLISHED only as the notice.
    assert not any(
        isinstance(i, SessionEvent) and i.type == EventType.SESSION_ESTABLISHED for i in w.items
    )


async def test_prefetch_delivers_channel_details_after_establishment(
    app: Any, server: RunningServer, watch: Any
) -> None:
    channel = app.channel()
    app.add(channel, app.bob)
    last = app.send(channel, app.bob, "latest")
    w = watch(session_for(server, app.alice, prefetch=True, prefetch_sort_by="unread"))
    established = await w.next(Established)
    details = await w.event(EventType.CHANNEL_DETAILS)
    assert w.items.index(details) > w.items.index(established)
    assert details.channel_arn == channel
    assert details.payload is not None
    assert details.payload["ChannelMessages"][0]["MessageId"] == last
    assert {m["Member"]["Arn"] for m in details.payload["ChannelMemberships"]} >= {app.bob}


async def test_stop_closes_with_1000_and_ends_the_iteration(
    app: Any, server: RunningServer
) -> None:
    session = session_for(server, app.alice)
    items: list[Item] = []
    async with session:
        async for item in session:
            items.append(item)
            if isinstance(item, Established):
                await session.stop()
    assert isinstance(items[0], Connecting)
    stopped = items[-1]
    assert isinstance(stopped, Stopped) and stopped.ok
    assert (stopped.reason, stopped.code) == (StopReason.STOPPED_BY_USER, 1000)
    assert server.server.hub.sessions_of(app.alice) == []


# --- close codes ---------------------------------------------------------------------------------

RECONNECT = [1001, 1006, 1011, 1012, 1013, 1014, 4001, 4419, 4429, 4500, 4998]
FINAL = [1000, 1002, 1003, 1008, 4000, 4002, 4003, 4401]


@pytest.mark.parametrize("code", RECONNECT)
async def test_server_close_that_is_retried(
    code: int, app: Any, server: RunningServer, watch: Any
) -> None:
    w = watch(session_for(server, app.alice))
    await w.next(Established)
    assert len(await kick(server, app.alice, code, "operator test")) == 1
    retry: Reconnecting = await w.next(Reconnecting)
    assert retry.code == code and retry.attempt == 1
    assert retry.reason == ("" if code == 1006 else "operator test")
    back: Established = await w.next(Established)
    assert back.reconnecting
    gap: Gap = await w.next(Gap)
    assert gap.code == code and not gap.catching_up
    assert gap.disconnected_at <= gap.reconnected_at
    # The session is live again.
    channel = await asyncio.to_thread(app.channel)
    assert (await w.event(EventType.CREATE_CHANNEL)).channel_arn == channel


@pytest.mark.parametrize("code", FINAL)
async def test_server_close_that_is_final(
    code: int, app: Any, server: RunningServer, watch: Any
) -> None:
    w = watch(session_for(server, app.alice))
    await w.next(Established)
    await kick(server, app.alice, code, "no more")
    stopped: Stopped = await w.next(Stopped)
    assert (stopped.reason, stopped.code, stopped.detail) == (
        StopReason.NOT_RECONNECTABLE,
        code,
        "no more",
    )
    await w.finished()
    assert w.error is not None and w.error.stopped is stopped
    assert not any(isinstance(i, Reconnecting) for i in w.items)


async def test_kick_one_session_by_id_leaves_the_others(
    app: Any, server: RunningServer, watch: Any
) -> None:
    first = watch(session_for(server, app.alice, session_id="first"))
    second = watch(session_for(server, app.alice, session_id="second"))
    await first.next(Established)
    await second.next(Established)
    closed = await asyncio.to_thread(
        close_sessions,
        server.url,
        app.alice,
        4003,
        session_id="second",
        boto_session=root_session(server),
        region=server.region,
    )
    assert closed == ["second"]
    assert (await second.next(Stopped)).code == 4003
    channel = await asyncio.to_thread(app.channel)
    assert (await first.event(EventType.CREATE_CHANNEL)).channel_arn == channel


async def test_stop_ends_a_pending_backoff(app: Any, server: RunningServer, watch: Any) -> None:
    slow = ReconnectPolicy(base=30.0, cap=30.0, window=60.0)
    w = watch(session_for(server, app.alice, policy=slow, rand=lambda: 0.5))
    await w.next(Established)
    await kick(server, app.alice, 1012)
    retry: Reconnecting = await w.next(Reconnecting)
    assert retry.delay == pytest.approx(15.0)
    started = time.monotonic()
    await w.session.stop()
    stopped: Stopped = await w.next(Stopped, timeout=2.0)
    assert time.monotonic() - started < 2.0
    assert (stopped.reason, stopped.code) == (StopReason.STOPPED_BY_USER, 1012)
    await w.finished()
    assert w.error is None


# --- credentials ----------------------------------------------------------------------------------


class Rotating(CredentialProvider):  # type: ignore[misc]
    """Temporary credentials: ``first`` until it expires, then ``second`` on every refresh."""

    METHOD = "bellwire-test"
    CANONICAL_NAME = "custom-bellwire-test"

    def __init__(self, first: Credential, second: Credential) -> None:
        super().__init__()
        self.first, self.second = first, second
        self.refreshes = 0

    def _metadata(self, credential: Credential) -> dict[str, Any]:
        assert credential.expires_at is not None
        expiry = datetime.fromtimestamp(credential.expires_at, UTC)
        return {
            "access_key": credential.access_key_id,
            "secret_key": credential.secret_access_key,
            "token": credential.session_token,
            "expiry_time": expiry.isoformat(),
        }

    def _refresh(self) -> dict[str, Any]:
        self.refreshes += 1
        return self._metadata(self.second)

    def load(self) -> RefreshableCredentials:
        first = self._metadata(self.first)
        return RefreshableCredentials(
            first["access_key"],
            first["secret_key"],
            first["token"],
            datetime.fromisoformat(first["expiry_time"]),
            self._refresh,
            self.METHOD,
            # Refresh only when the first credentials are really (nearly) gone.
            advisory_timeout=0.4,
            mandatory_timeout=0.2,
        )


async def test_expired_credentials_are_refreshed_on_reconnect(
    app: Any, server: RunningServer, watch: Any
) -> None:
    root = server.server._credentials[server.access_key_id]
    now = time.time()
    # Temporary credentials the server knows: the first expire while the session is open, and
    # the server then closes it with 4419 (its own timer, the real path).
    first = replace(
        root,
        access_key_id="ASIAFIRSTEXPIRING",
        secret_access_key="first-secret",
        session_token="first-token",
        expires_at=now + 2.0,
    )
    second = replace(
        root,
        access_key_id="ASIASECONDFRESH",
        secret_access_key="second-secret",
        session_token="second-token",
        expires_at=now + 3600,
    )
    server.server._credentials[first.access_key_id] = first
    server.server._credentials[second.access_key_id] = second
    provider = Rotating(first, second)
    boto = botocore.session.Session()
    boto.get_component("credential_provider").insert_before("env", provider)

    w = watch(session_for(server, app.alice, boto_session=boto))
    await w.next(Established)
    assert provider.refreshes == 0
    retry: Reconnecting = await w.next(Reconnecting, timeout=5.0)
    assert retry.code == 4419
    back: Established = await w.next(Established)
    # The new socket was signed with the second key: the first one, expired, would have been
    # refused with 4401 (final), and the lookup with ExpiredTokenException.
    assert back.reconnecting and provider.refreshes >= 1


async def test_operator_4419_reconnects_with_fresh_credentials(
    app: Any, server: RunningServer, watch: Any
) -> None:
    w = watch(session_for(server, app.alice))
    await w.next(Established)
    await kick(server, app.alice, 4419, "The session's credentials expired")
    assert (await w.next(Reconnecting)).code == 4419
    assert (await w.next(Established)).reconnecting


# --- endpoint lookup ------------------------------------------------------------------------------


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_endpoint_lookup_failures_are_retried_then_reported(
    app: Any, server: RunningServer, watch: Any
) -> None:
    session = MessagingSession(
        app.alice,
        boto_session=root_session(server),
        region=server.region,
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        policy=ReconnectPolicy(base=0.05, cap=0.1, window=1.0),
    )
    w = watch(session)
    started = time.monotonic()
    await w.finished(timeout=10.0)
    retries = [i for i in w.items if isinstance(i, Reconnecting)]
    assert len(retries) >= 3 and {r.code for r in retries} == {4999}
    assert "Failed to get messaging session endpoint URL" in retries[0].reason
    stopped = w.items[-1]
    assert isinstance(stopped, Stopped)
    assert (stopped.reason, stopped.code) == (StopReason.WINDOW_EXHAUSTED, 4999)
    assert "Failed to get messaging session endpoint URL" in stopped.detail
    assert w.error is not None and "reconnect window exhausted" in str(w.error)
    assert 1.0 <= time.monotonic() - started < 5.0
    assert not any(isinstance(i, Connecting) for i in w.items)  # as in JS: no socket at all


# --- restart and catch-up --------------------------------------------------------------------------


async def test_restart_gap_and_catch_up(
    tmp_path: Path, bellwire_server_factory: Callable[..., RunningServer], watch: Any
) -> None:
    first = bellwire_server_factory(tmp_path / "data", **SETTINGS)
    keys = {
        "root_access_key_id": first.access_key_id,
        "root_secret_access_key": first.secret_access_key,
        **SETTINGS,
    }
    identity, messaging = first.client("chime-sdk-identity"), first.client("chime-sdk-messaging")
    app_arn = identity.create_app_instance(Name="restart")["AppInstanceArn"]
    alice, bob = (
        identity.create_app_instance_user(AppInstanceArn=app_arn, AppInstanceUserId=u, Name=u)[
            "AppInstanceUserArn"
        ]
        for u in ("alice", "bob")
    )
    channel = messaging.create_channel(AppInstanceArn=app_arn, Name="c", ChimeBearer=alice)[
        "ChannelArn"
    ]
    messaging.create_channel_membership(
        ChannelArn=channel, MemberArn=bob, Type="DEFAULT", ChimeBearer=alice
    )
    quiet = messaging.create_channel(AppInstanceArn=app_arn, Name="quiet", ChimeBearer=alice)[
        "ChannelArn"
    ]

    def send(client: Any, content: str, target: str = channel) -> str:
        message_id: str = client.send_channel_message(
            ChannelArn=target,
            Content=content,
            Type="STANDARD",
            Persistence="PERSISTENT",
            ChimeBearer=bob if target == channel else alice,
        )["MessageId"]
        return message_id

    policy = ReconnectPolicy(base=0.1, cap=0.3, window=20.0)
    w = watch(session_for(first, alice, policy=policy, catch_up=True))
    await w.next(Established)
    seen = await asyncio.to_thread(send, messaging, "seen live")
    assert (await w.event(EventType.CREATE_CHANNEL_MESSAGE)).message_id == seen

    # Down: the drain closes with 1012 and every lookup then fails (4999) until we are back.
    await asyncio.to_thread(first.stop)
    assert (await w.next(Reconnecting)).code == 1012
    await w.next(lambda i: isinstance(i, Reconnecting) and i.code == 4999)

    # Messages sent while the client is away, through a server on another port on the same
    # data (so the client cannot get in before they are stored), then back on the old port.
    side = await asyncio.to_thread(bellwire_server_factory, tmp_path / "data", **keys)
    side_messaging = side.client("chime-sdk-messaging")
    missed = [await asyncio.to_thread(send, side_messaging, f"missed {i}") for i in range(3)]
    missed.append(await asyncio.to_thread(send, side_messaging, "in the quiet one", quiet))
    await asyncio.to_thread(side.stop)
    again = await asyncio.to_thread(
        bellwire_server_factory, tmp_path / "data", port=first.port, **keys
    )

    back: Established = await w.next(Established, timeout=10.0)
    assert back.reconnecting
    gap: Gap = await w.next(Gap)
    assert gap.code == 1012 and gap.catching_up
    caught_up: CaughtUp = await w.next(CaughtUp)
    between = w.items[w.items.index(gap) + 1 : w.items.index(caught_up)]
    assert between, w.items
    assert all(isinstance(i, SessionEvent) and i.caught_up for i in between)
    by_channel: dict[str | None, list[str | None]] = {}
    for i in between:
        assert isinstance(i, SessionEvent)
        by_channel.setdefault(i.channel_arn, []).append(i.message_id)
    assert by_channel == {channel: missed[:3], quiet: missed[3:]}  # oldest first, no repeat
    assert (caught_up.messages, caught_up.failures) == (4, ())
    first_missed = next(
        i for i in between if isinstance(i, SessionEvent) and i.channel_arn == channel
    )
    assert first_missed.type == EventType.CREATE_CHANNEL_MESSAGE
    assert first_missed.payload is not None and first_missed.payload["Content"] == "missed 0"
    assert first_missed.channel_arn == channel
    assert isinstance(first_missed.payload["CreatedTimestamp"], str)  # as on the WebSocket

    # Live again, and nothing is repeated.
    live = await asyncio.to_thread(send, again.client("chime-sdk-messaging"), "live again")
    after: SessionEvent = await w.event(EventType.CREATE_CHANNEL_MESSAGE)
    assert (after.message_id, after.caught_up) == (live, False)
    ids = [i.message_id for i in w.items if isinstance(i, SessionEvent) and i.message_id]
    assert sorted(ids) == sorted([seen, *missed, live])


async def test_no_gap_marker_before_the_first_establishment(
    app: Any, server: RunningServer, watch: Any
) -> None:
    w = watch(session_for(server, app.alice, catch_up=True))
    await w.next(Established)
    await w.session.stop()
    await w.finished()
    assert not any(isinstance(i, Gap | CaughtUp) for i in w.items)


# --- bellwire listen -------------------------------------------------------------------------------


def _cli_env(running: RunningServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=running.access_key_id,
        AWS_SECRET_ACCESS_KEY=running.secret_access_key,
        AWS_DEFAULT_REGION=running.region,
        AWS_ENDPOINT_URL_CHIME_SDK_MESSAGING=running.url,  # honoured by botocore itself
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


async def _read_line(stream: Any, contains: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        line = await asyncio.wait_for(stream.readline(), max(0.1, deadline - time.monotonic()))
        if not line:
            raise AssertionError(f"stream ended before {contains!r}")
        text: str = line.decode()
        if contains in text:
            return text


async def test_listen_prints_json_and_stops_cleanly_on_ctrl_c(
    app: Any, server: RunningServer
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bellwire",
        "listen",
        "--user-arn",
        app.alice,
        "--json",
        env=_cli_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        await _read_line(process.stderr, "session established")
        channel = await asyncio.to_thread(app.channel)
        line = await _read_line(process.stdout, "CREATE_CHANNEL")
        document = json.loads(line)
        assert document["type"] == "CREATE_CHANNEL"
        assert document["payload"]["ChannelArn"] == channel
        assert document["caughtUp"] is False
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        rest = (await process.stderr.read()).decode()  # type: ignore[union-attr]
        assert "stopped: stopped by user (code 1000)" in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_listen_exits_non_zero_when_kicked_by_the_sessions_close_command(
    app: Any, server: RunningServer
) -> None:
    env = _cli_env(server)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bellwire",
        "listen",
        "--user-arn",
        app.alice,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        await _read_line(process.stderr, "session established")
        closer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bellwire",
            "sessions",
            "close",
            "--user-arn",
            app.alice,
            "--code",
            "4003",
            "--reason",
            "bye",
            "--endpoint-url",
            server.url,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(closer.communicate(), 15)
        assert closer.returncode == 0, err
        assert b"closed 1 session(s) with code 4003" in out
        assert await asyncio.wait_for(process.wait(), 10) == 1
        rest = (await process.stderr.read()).decode()  # type: ignore[union-attr]
        assert "stopped: not reconnectable (code 4003): bye" in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_admin_endpoint_refuses_bad_requests(app: Any, server: RunningServer) -> None:
    with pytest.raises(RuntimeError, match="Code must be"):
        close_sessions(
            server.url, app.alice, 1005, boto_session=root_session(server), region=server.region
        )
    wrong = botocore.session.Session()
    wrong.set_credentials(server.access_key_id, "not-the-secret")
    with pytest.raises(RuntimeError, match="HTTP 403"):
        close_sessions(server.url, app.alice, 4003, boto_session=wrong, region=server.region)
    assert (
        close_sessions(
            server.url, app.alice, 4003, boto_session=root_session(server), region=server.region
        )
        == []
    )


# --- elastic channels --------------------------------------------------------------------------


async def test_elastic_channel_moves_and_catch_up_in_the_sub_channel(
    app: Any, server: RunningServer, watch: Any
) -> None:
    m = app.messaging
    erin = await asyncio.to_thread(app.user, "erin")
    channel = (
        await call(
            m.create_channel,
            AppInstanceArn=app.arn,
            Name="elastic",
            ChimeBearer=app.alice,
            ElasticChannelConfiguration={
                "MaximumSubChannels": 3,
                "TargetMembershipsPerSubChannel": 3,
                "MinimumMembershipPercentage": 10,
            },
        )
    )["ChannelArn"]
    w = watch(session_for(server, app.bob, catch_up=True))
    await w.next(Established)
    for member in (app.carol, app.dave, app.bob):  # bob last: the newest of a full sub-channel
        await call(app.add, channel=channel, member=member)
    joined = await w.event(EventType.CREATE_CHANNEL_MEMBERSHIP)
    assert joined.payload is not None and joined.payload["Member"]["Arn"] == app.bob
    first = joined.payload["SubChannelId"]

    await call(app.add, channel=channel, member=erin)  # SCALE_OUT moves bob
    moved = await w.event(EventType.UPDATE_CHANNEL_MEMBERSHIP)
    assert moved.payload is not None and moved.channel_arn == channel
    second = moved.payload["SubChannelId"]
    assert second != first and moved.payload["Member"]["Arn"] == app.bob

    # After a reconnect, catch-up lists the new sub-channel's messages (none is refused).
    assert len(await kick(server, app.bob, 4410, "elastic test")) == 1
    await w.next(Reconnecting)
    sent = await call(
        app.send, channel=channel, sender=erin, content="while away", SubChannelId=second
    )
    caught: CaughtUp = await w.next(CaughtUp)
    assert caught.failures == ()
    await call(app.send, channel=channel, sender=app.carol, content="elsewhere", SubChannelId=first)
    live = await call(app.send, channel=channel, sender=erin, content="live", SubChannelId=second)
    assert (await w.event(EventType.CREATE_CHANNEL_MESSAGE)).message_id in (sent, live)
    await w.wait_for(
        lambda i: isinstance(i, SessionEvent) and i.message_id == live, "the live message"
    )
    got = [i for i in w.items if isinstance(i, SessionEvent) and i.message_id]
    assert sorted(i.message_id for i in got) == sorted([sent, live])  # once each, not s0's
    assert all(i.payload is not None and i.payload["SubChannelId"] == second for i in got)
