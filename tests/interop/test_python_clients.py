"""The JavaScript interop scenarios (test_js_clients.py), played by the Python clients.

boto3 takes the place of the AWS SDK v3 and ``bellwire.client.MessagingSession`` the place of
amazon-chime-sdk-js's DefaultMessagingSession, against the same kind of server: TLS with a
throw-away CA, ``wss`` only. Each test is named after its JavaScript twin's scenario letter, so
docs/interop.md can list both results side by side.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from session_watch import Watch
from tlsworld import Tls, World, boto, check_channel_details, make_world, prefetch_world

from bellwire.client import (
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
from bellwire.testing import RunningServer, start_server

WRONG_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

pytestmark = pytest.mark.timeout(300)


def root_session(running: RunningServer, tls: Tls) -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_credentials(running.access_key_id, running.secret_access_key)
    session.set_config_variable("ca_bundle", str(tls.ca))
    return session


def session_for(
    running: RunningServer, tls: Tls, user_arn: str, boto_session: Any = None, **kwargs: Any
) -> MessagingSession:
    """A session configured as an app would: the API's https URL and the CA it trusts."""
    return MessagingSession(
        user_arn,
        boto_session=boto_session or root_session(running, tls),
        region=running.region,
        endpoint_url=running.url,
        ssl_context=ssl.create_default_context(cafile=str(tls.ca)),
        **kwargs,
    )


def is_event(type_: EventType, **payload: Any) -> Callable[[Item], bool]:
    def match(item: Item) -> bool:
        if not isinstance(item, SessionEvent) or item.type != type_:
            return False
        body = item.payload or {}
        return all(body.get(k) == v for k, v in payload.items())

    return match


def is_a(kind: type[Any], **fields: Any) -> Callable[[Item], bool]:
    return lambda i: isinstance(i, kind) and all(getattr(i, k) == v for k, v in fields.items())


async def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """A boto3 call off the event loop, so the client keeps reading its socket meanwhile."""
    return await asyncio.to_thread(fn, **kwargs)


async def established(w: Watch) -> None:
    await w.wait_for(is_a(Connecting, reconnecting=False), "a first connect")
    await w.wait_for(is_a(Established, reconnecting=False), "establishment")


# --- a: the REST clients --------------------------------------------------------------------------


def timestamps(value: Any, path: str = "$") -> list[str]:
    """Paths of every *Timestamp member, each asserted to be a datetime near now."""
    found: list[str] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += timestamps(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, member in value.items():
            here = f"{path}.{key}"
            if key.endswith("Timestamp"):
                assert isinstance(member, datetime), f"{here} is {member!r}, not a datetime"
                assert abs(member - datetime.now(UTC)) < timedelta(days=1), f"{here} = {member}"
                found.append(here)
            elif key != "ResponseMetadata":
                found += timestamps(member, here)
    return found


def test_boto3_parses_every_response(server: RunningServer, tls: Tls) -> None:
    identity = boto(server, tls, "chime-sdk-identity")
    messaging = boto(server, tls, "chime-sdk-messaging")
    checked: list[str] = []

    def ok(response: dict[str, Any]) -> dict[str, Any]:
        assert 200 <= response["ResponseMetadata"]["HTTPStatusCode"] < 300, response
        checked.extend(timestamps(response))
        return response

    name = f"interop-{uuid.uuid4().hex[:8]}"
    app = ok(identity.create_app_instance(Name=name, Metadata="py"))["AppInstanceArn"]
    assert ok(identity.describe_app_instance(AppInstanceArn=app))["AppInstance"]["Name"] == name
    listed = ok(identity.list_app_instances(MaxResults=50))["AppInstances"]
    assert app in {a["AppInstanceArn"] for a in listed}
    alice, bob = (
        ok(
            identity.create_app_instance_user(
                AppInstanceArn=app, AppInstanceUserId=who, Name=who.upper()
            )
        )["AppInstanceUserArn"]
        for who in ("alice", "bob")
    )
    assert (alice, bob) == (f"{app}/user/alice", f"{app}/user/bob")
    described = ok(identity.describe_app_instance_user(AppInstanceUserArn=alice))
    assert described["AppInstanceUser"]["Name"] == "ALICE"
    ok(identity.update_app_instance_user(AppInstanceUserArn=bob, Name="Bob", Metadata="m"))
    users = ok(identity.list_app_instance_users(AppInstanceArn=app))["AppInstanceUsers"]
    assert sorted(u["AppInstanceUserArn"] for u in users) == sorted([alice, bob])
    ok(identity.create_app_instance_admin(AppInstanceArn=app, AppInstanceAdminArn=alice))
    ok(identity.describe_app_instance_admin(AppInstanceArn=app, AppInstanceAdminArn=alice))

    channel = ok(
        messaging.create_channel(
            AppInstanceArn=app,
            Name="general",
            Mode="UNRESTRICTED",
            Privacy="PUBLIC",
            ChimeBearer=alice,
        )
    )["ChannelArn"]
    ok(messaging.update_channel(ChannelArn=channel, Name="general-2", ChimeBearer=alice))
    described = ok(messaging.describe_channel(ChannelArn=channel, ChimeBearer=alice))["Channel"]
    assert (described["Name"], described["CreatedBy"]["Arn"]) == ("general-2", alice)
    ok(
        messaging.create_channel_membership(
            ChannelArn=channel, MemberArn=bob, Type="DEFAULT", ChimeBearer=alice
        )
    )
    ok(messaging.describe_channel_membership(ChannelArn=channel, MemberArn=bob, ChimeBearer=alice))
    members = ok(messaging.list_channel_memberships(ChannelArn=channel, ChimeBearer=alice))
    assert bob in {m["Member"]["Arn"] for m in members["ChannelMemberships"]}
    sent = [
        ok(
            messaging.send_channel_message(
                ChannelArn=channel,
                Content=content,
                Type=type_,
                Persistence=persistence,
                ChimeBearer=bob,
            )
        )
        for content, type_, persistence in [
            ("hello from python", "STANDARD", "PERSISTENT"),
            ("second", "STANDARD", "PERSISTENT"),
            ("ctl", "CONTROL", "NON_PERSISTENT"),
        ]
    ]
    assert all(s["Status"]["Value"] == "SENT" for s in sent)
    first, second = sent[0]["MessageId"], sent[1]["MessageId"]
    history = ok(
        messaging.list_channel_messages(
            ChannelArn=channel, ChimeBearer=alice, SortOrder="ASCENDING"
        )
    )["ChannelMessages"]
    assert [(m["MessageId"], m["Content"]) for m in history] == [
        (first, "hello from python"),
        (second, "second"),
    ]
    ok(
        messaging.update_channel_message(
            ChannelArn=channel, MessageId=first, Content="edited", ChimeBearer=bob
        )
    )
    message = ok(
        messaging.get_channel_message(ChannelArn=channel, MessageId=first, ChimeBearer=alice)
    )["ChannelMessage"]
    assert (message["Content"], message["Redacted"]) == ("edited", False)
    ok(messaging.redact_channel_message(ChannelArn=channel, MessageId=second, ChimeBearer=bob))
    ok(messaging.delete_channel_message(ChannelArn=channel, MessageId=second, ChimeBearer=alice))
    ok(messaging.update_channel_read_marker(ChannelArn=channel, ChimeBearer=bob))
    channels = ok(messaging.list_channels(AppInstanceArn=app, ChimeBearer=alice))["Channels"]
    assert channel in {c["ChannelArn"] for c in channels}
    ok(
        messaging.list_channel_memberships_for_app_instance_user(
            AppInstanceUserArn=bob, ChimeBearer=bob
        )
    )
    ok(messaging.tag_resource(ResourceARN=channel, Tags=[{"Key": "team", "Value": "interop"}]))
    assert ok(messaging.list_tags_for_resource(ResourceARN=channel))["Tags"] == [
        {"Key": "team", "Value": "interop"}
    ]
    endpoint = ok(messaging.get_messaging_session_endpoint())["Endpoint"]["Url"]
    assert endpoint == server.endpoint_host
    with pytest.raises(messaging.exceptions.NotFoundException) as missing:
        messaging.describe_channel(ChannelArn=f"{app}/channel/does-not-exist", ChimeBearer=alice)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # The same timestamps the JavaScript scenario checks, parsed from epoch numbers.
    for path in (
        "$.AppInstance.CreatedTimestamp",
        "$.AppInstanceUser.CreatedTimestamp",
        "$.AppInstanceAdmin.CreatedTimestamp",
        "$.Channel.CreatedTimestamp",
        "$.ChannelMembership.CreatedTimestamp",
        "$.ChannelMessages[0].CreatedTimestamp",
        "$.ChannelMessage.LastEditedTimestamp",
        "$.Channels[0].LastMessageTimestamp",
    ):
        assert path in checked, (path, sorted(set(checked)))
    identity.close()
    messaging.close()


# --- b: start -------------------------------------------------------------------------------------


async def test_session_starts_and_is_established(
    watch: Callable[[MessagingSession], Watch], server: RunningServer, world: World, tls: Tls
) -> None:
    w = watch(session_for(server, tls, world.users["alice"]))
    await established(w)
    (connecting,) = w.find(is_a(Connecting))
    assert connecting.host == server.endpoint_host  # the host GetMessagingSessionEndpoint gave
    assert [type(i).__name__ for i in w.items[:2]] == ["Connecting", "Established"]
    assert w.session.stopped is None


# --- c: prefetch ----------------------------------------------------------------------------------


async def test_prefetch_on_connect_sends_channel_details_per_channel(
    watch: Callable[[MessagingSession], Watch], server: RunningServer, world: World, tls: Tls
) -> None:
    alice = world.users["alice"]
    mine = prefetch_world(world)
    w = watch(session_for(server, tls, alice, prefetch=True))
    await established(w)
    await w.wait_for(is_event(EventType.CHANNEL_DETAILS), "CHANNEL_DETAILS", count=len(mine))
    await asyncio.sleep(1.0)  # anything beyond one per channel would have arrived by now
    bodies = []
    for item in w.find(is_event(EventType.CHANNEL_DETAILS)):
        assert isinstance(item, SessionEvent) and item.payload is not None
        assert str(item.message_type) == "SYSTEM"
        bodies.append(dict(item.payload))
    check_channel_details(bodies, mine, alice)
    # They follow establishment.
    first_detail = w.items.index(w.find(is_event(EventType.CHANNEL_DETAILS))[0])
    assert w.find(is_a(Established))[0] in w.items[:first_detail]


# --- d: messages from two senders -----------------------------------------------------------------


async def test_messages_from_boto3_arrive(
    watch: Callable[[MessagingSession], Watch], server: RunningServer, world: World, tls: Tls
) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    channel = world.channel(alice, bob)
    w = watch(session_for(server, tls, alice))
    await established(w)
    sent = {
        await call(world.send, channel=channel, sender=bob, content="from bob", Metadata="m1"): (
            "STANDARD",
            "from bob",
            bob,
        ),
        await call(
            world.send,
            channel=channel,
            sender=bob,
            content="ctl",
            Type="CONTROL",
            Persistence="NON_PERSISTENT",
        ): ("CONTROL", "ctl", bob),
        await call(world.send, channel=channel, sender=alice, content="from alice"): (
            "STANDARD",
            "from alice",
            alice,
        ),
    }
    arrived = await w.wait_for(
        is_event(EventType.CREATE_CHANNEL_MESSAGE), "CREATE_CHANNEL_MESSAGE x3", count=len(sent)
    )
    for item in arrived:
        assert isinstance(item, SessionEvent) and item.payload is not None
        body = item.payload
        message_type, content, sender = sent[body["MessageId"]]
        assert item.headers["x-amz-chime-event-type"] == "CREATE_CHANNEL_MESSAGE"
        assert item.headers["x-amz-chime-message-type"] == message_type
        assert (body["Type"], body["Content"]) == (message_type, content)
        assert (body["ChannelArn"], body["Sender"]["Arn"]) == (channel, sender)
    first = next(iter(sent))
    await call(
        world.messaging.update_channel_message,
        ChannelArn=channel,
        MessageId=first,
        Content="edited",
        ChimeBearer=bob,
    )
    (updated,) = await w.wait_for(
        is_event(EventType.UPDATE_CHANNEL_MESSAGE, MessageId=first), "UPDATE_CHANNEL_MESSAGE"
    )
    assert isinstance(updated, SessionEvent) and updated.payload is not None
    assert updated.payload["Content"] == "edited"


# --- e: reconnect after a server restart ----------------------------------------------------------


async def test_reconnects_after_server_restart(
    watch: Callable[[MessagingSession], Watch],
    servers: list[RunningServer],
    tls: Tls,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "restart"
    first = await asyncio.to_thread(start_server, data_dir, tls_cert=tls.cert, tls_key=tls.key)
    servers.append(first)
    world = await asyncio.to_thread(make_world, first, tls)
    alice, bob = world.users["alice"], world.users["bob"]
    channel = world.channel(alice, bob)
    w = watch(session_for(first, tls, alice))
    await established(w)

    before = len(w.items)
    world.close()
    await asyncio.to_thread(first.stop)
    second = await asyncio.to_thread(
        start_server, data_dir, port=first.port, tls_cert=tls.cert, tls_key=tls.key
    )
    servers.append(second)
    (reconnecting,) = await w.wait_for(is_a(Reconnecting), "a reconnect", since=before)
    assert isinstance(reconnecting, Reconnecting) and reconnecting.code == 1012
    await w.wait_for(is_a(Established, reconnecting=True), "establishment again", since=before)
    await w.wait_for(is_a(Gap), "the gap marker", since=before)
    assert not w.find(is_a(Stopped)), w.items

    world = World(
        world.app,
        boto(second, tls, "chime-sdk-identity"),
        boto(second, tls, "chime-sdk-messaging"),
        world.users,
    )
    message_id = await call(world.send, channel=channel, sender=bob, content="after restart")
    (event,) = await w.wait_for(
        is_event(EventType.CREATE_CHANNEL_MESSAGE, MessageId=message_id), "a message after it"
    )
    assert isinstance(event, SessionEvent) and event.payload is not None
    assert event.payload["Content"] == "after restart"
    world.close()


# --- f: wrong credentials -------------------------------------------------------------------------


class WrongSigningKey:
    """A credential chain whose API calls work but whose secret for the presigned URL is wrong,
    as the JavaScript scenario does with the SDK's endpointUrl: the bad secret first meets the
    server in /connect."""

    def __init__(self, good: botocore.session.Session) -> None:
        self._good = good
        self._wrong = botocore.session.Session()
        credentials = good.get_credentials()
        assert credentials is not None
        self._wrong.set_credentials(credentials.access_key, WRONG_SECRET)

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        return self._good.create_client(*args, **kwargs)

    def get_credentials(self) -> Any:
        return self._wrong.get_credentials()


async def test_wrong_key_stops_with_4401_without_retrying(
    watch: Callable[[MessagingSession], Watch], server: RunningServer, world: World, tls: Tls
) -> None:
    chain = WrongSigningKey(root_session(server, tls))
    w = watch(session_for(server, tls, world.users["alice"], boto_session=chain))
    (stopped,) = await w.wait_for(is_a(Stopped), "the session stopping")
    assert isinstance(stopped, Stopped) and stopped.code == 4401, stopped
    assert stopped.reason is not StopReason.STOPPED_BY_USER
    await asyncio.wait_for(w.task, 10)
    assert w.error is not None and w.error.stopped is stopped  # the final failure is raised
    assert not w.find(is_a(Reconnecting)) and not w.find(is_a(Established)), w.items
    assert len(w.find(is_a(Connecting))) == 1


# --- g: stop() ------------------------------------------------------------------------------------


async def test_stop_ends_the_session_and_does_not_reconnect(
    watch: Callable[[MessagingSession], Watch], server: RunningServer, world: World, tls: Tls
) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    channel = world.channel(alice, bob)
    w = watch(session_for(server, tls, alice, policy=ReconnectPolicy(base=0.05, cap=0.2)))
    await established(w)
    before = len(w.items)
    await w.session.stop()
    (stopped,) = await w.wait_for(is_a(Stopped), "the session stopping", since=before)
    assert isinstance(stopped, Stopped) and stopped.reason is StopReason.STOPPED_BY_USER
    assert stopped.ok and w.error is None
    await call(world.send, channel=channel, sender=bob, content="after stop")
    await w.quiet(
        lambda i: isinstance(i, Connecting | Established | SessionEvent),
        "activity after stop()",
        since=before,
    )
