"""Push notifications against a real server and a real push gateway on loopback (§11A.3).

The endpoints' Pinpoint application ARN is mapped by ``[resources]`` to an aiohttp server
(``hook_server.py``) that checks bellwire's signature and records what it is handed.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from hook_server import SECRET, Hook, integration_helpers
from prometheus_client.parser import text_string_to_metric_families
from server_process import free_port

from bellwire.testing import RunningServer, start_server

_helpers = integration_helpers()
App = _helpers.App
make_app = _helpers.make_app
raises = _helpers.raises

REGION = "us-east-1"
ACCOUNT = "123456789012"
PINPOINT = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/0123456789abcdef"
DOWN = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/down"
UNMAPPED = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/unmapped"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
PUSH = {"Title": "general", "Body": "alice: hello", "Type": "DEFAULT"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[Hook]:
    hook = Hook().start()
    yield hook
    hook.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, gateway: Hook) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("push"),
        resources={PINPOINT: gateway.url, DOWN: f"http://127.0.0.1:{free_port()}/"},
        webhook_secret=SECRET,
        webhook_retries=0,
        webhook_timeout_seconds=5.0,
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def identity(server: RunningServer) -> Any:
    return server.client("chime-sdk-identity", config=NO_RETRY)


@pytest.fixture(scope="module")
def messaging(server: RunningServer) -> Any:
    return server.client("chime-sdk-messaging", config=NO_RETRY)


@pytest.fixture
def app(identity: Any, messaging: Any) -> App:
    return make_app(identity, messaging)


def register(app: App, user: str, token: str, **kwargs: Any) -> str:
    kwargs.setdefault("Type", "GCM")
    kwargs.setdefault("ResourceArn", PINPOINT)
    endpoint: str = app.identity.register_app_instance_user_endpoint(
        AppInstanceUserArn=user,
        EndpointAttributes={"DeviceToken": token, **kwargs.pop("EndpointAttributes", {})},
        ClientRequestToken=kwargs.pop("ClientRequestToken", uuid.uuid4().hex),
        **kwargs,
    )["EndpointId"]
    return endpoint


def for_message(gateway: Hook, message_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The gateway's batches for ``message_id``, once at least ``count`` arrived."""
    deadline = time.monotonic() + 15
    while True:
        found = [b for b in gateway.bodies if b["Message"]["MessageId"] == message_id]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} of {count} batches for {message_id}"
        time.sleep(0.02)


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def tokens(batch: dict[str, Any]) -> list[str]:
    return sorted(d["Address"] for d in batch["Deliveries"])


def messages_pushed(gateway: Hook, channel: str) -> list[str]:
    return [
        b["Message"]["MessageId"] for b in gateway.bodies if b["Message"]["ChannelArn"] == channel
    ]


# --- endpoints ------------------------------------------------------------------------------------


def test_endpoint_life_cycle(app: App) -> None:
    i = app.identity
    token = uuid.uuid4().hex
    endpoint = register(
        app,
        app.alice,
        "device-1",
        Type="APNS",
        Name="phone",
        EndpointAttributes={"VoipDeviceToken": "voip-1"},
        ClientRequestToken=token,
    )
    # The same token and parameters: the same endpoint.
    again = register(
        app,
        app.alice,
        "device-1",
        Type="APNS",
        Name="phone",
        EndpointAttributes={"VoipDeviceToken": "voip-1"},
        ClientRequestToken=token,
    )
    assert again == endpoint
    described = i.describe_app_instance_user_endpoint(
        AppInstanceUserArn=app.alice, EndpointId=endpoint
    )["AppInstanceUserEndpoint"]
    assert {k: v for k, v in described.items() if not k.endswith("Timestamp")} == {
        "AppInstanceUserArn": app.alice,
        "EndpointId": endpoint,
        "Name": "phone",
        "Type": "APNS",
        "ResourceArn": PINPOINT,
        "EndpointAttributes": {"DeviceToken": "device-1", "VoipDeviceToken": "voip-1"},
        "AllowMessages": "ALL",
        "EndpointState": {"Status": "ACTIVE"},
    }
    i.update_app_instance_user_endpoint(
        AppInstanceUserArn=app.alice, EndpointId=endpoint, Name="old phone", AllowMessages="NONE"
    )
    listed = i.list_app_instance_user_endpoints(AppInstanceUserArn=app.alice)
    assert listed["AppInstanceUserEndpoints"] == [
        {
            "AppInstanceUserArn": app.alice,
            "EndpointId": endpoint,
            "Name": "old phone",
            "Type": "APNS",
            "AllowMessages": "NONE",
            "EndpointState": {"Status": "ACTIVE"},
        }
    ]
    assert (
        i.list_app_instance_user_endpoints(AppInstanceUserArn=app.bob)["AppInstanceUserEndpoints"]
        == []
    )
    i.deregister_app_instance_user_endpoint(AppInstanceUserArn=app.alice, EndpointId=endpoint)
    with raises(i, "NotFoundException"):
        i.describe_app_instance_user_endpoint(AppInstanceUserArn=app.alice, EndpointId=endpoint)
    with raises(i, "NotFoundException"):
        i.deregister_app_instance_user_endpoint(AppInstanceUserArn=app.alice, EndpointId=endpoint)


def test_endpoint_rules(app: App) -> None:
    i = app.identity
    with raises(i, "BadRequestException", "Pinpoint application ARN"):
        register(app, app.alice, "t", ResourceArn="arn:aws:sns:us-east-1:123456789012:topic")
    with raises(i, "BadRequestException", "VoipDeviceToken"):
        register(app, app.alice, "t", EndpointAttributes={"VoipDeviceToken": "v"})
    with raises(i, "NotFoundException"):
        register(app, app.arn + "/user/nobody", "t")
    register(app, app.alice, "same")
    with raises(i, "ConflictException", "already registered"):
        register(app, app.alice, "same")
    for n in range(9):
        register(app, app.alice, f"device-{n}")
    with raises(i, "ResourceLimitExceededException", "10 endpoints"):
        register(app, app.alice, "one too many")
    # An application that is not mapped to a push gateway: the endpoint is INACTIVE.
    endpoint = register(app, app.bob, "t", ResourceArn=UNMAPPED)
    state = i.describe_app_instance_user_endpoint(AppInstanceUserArn=app.bob, EndpointId=endpoint)
    assert state["AppInstanceUserEndpoint"]["EndpointState"] == {
        "Status": "INACTIVE",
        "StatusReason": "INVALID_PINPOINT_ARN",
    }
    # A deleted user's endpoints go with it.
    i.delete_app_instance_user(AppInstanceUserArn=app.bob)
    app.user("bob")
    assert (
        i.list_app_instance_user_endpoints(AppInstanceUserArn=app.bob)["AppInstanceUserEndpoints"]
        == []
    )


def test_an_invalid_filter_rule_is_refused(app: App) -> None:
    channel = app.channel(app.alice)
    for rule, match in [
        (None, "FilterRule"),
        ("not json", "JSON"),
        ('{"mention": "Bob"}', "list"),
        (json.dumps({"k": [f"v{n}" for n in range(20)]}), "complexity"),
        (json.dumps({"$or": [{"a": ["1"]}] * 6}), "$or"),
    ]:
        push: dict[str, Any] = {"AllowNotifications": "FILTERED"}
        if rule is not None:
            push["FilterRule"] = rule
        with raises(app.messaging, "BadRequestException", match):
            app.messaging.put_channel_membership_preferences(
                ChannelArn=channel,
                MemberArn=app.alice,
                ChimeBearer=app.alice,
                Preferences={"PushNotifications": push},
            )


# --- delivery -------------------------------------------------------------------------------------


def prefer(app: App, channel: str, member: str, allow: str, rule: str | None = None) -> None:
    push: dict[str, Any] = {"AllowNotifications": allow}
    if rule is not None:
        push["FilterRule"] = rule
    app.messaging.put_channel_membership_preferences(
        ChannelArn=channel,
        MemberArn=member,
        ChimeBearer=member,
        Preferences={"PushNotifications": push},
    )


def test_a_push_reaches_the_members_that_allow_it(app: App, gateway: Hook) -> None:
    channel = app.channel(app.alice, Name="general")
    for member in (app.bob, app.carol, app.dave, app.admin):
        app.add(channel, member)
    register(app, app.alice, "alice-phone")  # the sender: never pushed
    register(app, app.bob, "bob-phone")  # no preference: ALL
    register(app, app.bob, "bob-tablet", Type="APNS")
    muted = register(app, app.bob, "bob-muted")
    app.identity.update_app_instance_user_endpoint(
        AppInstanceUserArn=app.bob, EndpointId=muted, AllowMessages="NONE"
    )
    register(app, app.carol, "carol-phone")
    prefer(app, channel, app.carol, "NONE")
    register(app, app.dave, "dave-phone")
    prefer(app, channel, app.dave, "FILTERED", '{"mention":["@Dave"]}')
    register(app, app.admin, "admin-phone")
    prefer(app, channel, app.admin, "FILTERED", '{"type":[{"anything-but":["Room"]}]}')

    plain = app.send(channel, app.alice, "no push for this")
    mention = app.send(
        channel,
        app.alice,
        "hello @Dave",
        PushNotification=PUSH,
        MessageAttributes={
            "mention": {"StringValues": ["@Dave", "@Bob"]},
            "type": {"StringValues": ["Room"]},
        },
    )
    [batch] = for_message(gateway, mention)
    assert tokens(batch) == ["bob-phone", "bob-tablet", "dave-phone"]
    assert plain not in messages_pushed(gateway, channel)
    assert batch["ApplicationArn"] == PINPOINT
    assert batch["Notification"] == PUSH
    assert batch["Message"] == {"ChannelArn": channel, "MessageId": mention, "SenderArn": app.alice}
    by_token = {d["Address"]: d for d in batch["Deliveries"]}
    assert by_token["bob-phone"]["Payload"] == {
        "data": {
            "pinpoint.notification.title": "general",
            "pinpoint.notification.body": "alice: hello",
            "pinpoint.openApp": "true",
            "pinpoint.campaign.campaign_id": "_DIRECT",
            "pinpoint.notification.silentPush": "0",
            "pinpoint.jsonBody": json.dumps(
                {"chime.message_id": mention, "chime.channel_arn": channel},
                separators=(",", ":"),
            ),
        }
    }
    assert by_token["bob-tablet"]["Payload"] == {
        "aps": {"alert": {"title": "general", "body": "alice: hello"}},
        "chime.message_id": mention,
        "chime.channel_arn": channel,
    }
    assert by_token["bob-tablet"]["ChannelType"] == "APNS"

    # No "type" attribute: the admin's anything-but rule passes, dave's mention rule fails.
    other = app.send(channel, app.alice, "news", PushNotification=PUSH)
    [batch] = for_message(gateway, other)
    assert tokens(batch) == ["admin-phone", "bob-phone", "bob-tablet"]


def test_a_targeted_message_pushes_its_target_only_and_voip_uses_the_voip_token(
    app: App, gateway: Hook
) -> None:
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.add(channel, app.carol)
    register(app, app.bob, "bob-phone", Type="APNS", EndpointAttributes={"VoipDeviceToken": "v"})
    register(app, app.carol, "carol-phone")
    sent = app.send(
        channel,
        app.alice,
        "call me",
        Target=[{"MemberArn": app.bob}],
        PushNotification={**PUSH, "Type": "VOIP"},
    )
    [batch] = for_message(gateway, sent)
    assert [(d["Address"], d["ChannelType"]) for d in batch["Deliveries"]] == [("v", "APNS_VOIP")]


def test_a_dead_gateway_never_fails_the_send(
    app: App, gateway: Hook, server: RunningServer
) -> None:
    failed = metric(server.url, "bellwire_pushes_failed_total")
    delivered = metric(server.url, "bellwire_pushes_delivered_total")
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.add(channel, app.carol)
    register(app, app.bob, "bob-dead", ResourceArn=DOWN)
    register(app, app.bob, "bob-unmapped", ResourceArn=UNMAPPED)
    register(app, app.carol, "carol-phone")
    sent = app.send(channel, app.alice, "still sent", PushNotification=PUSH)
    [batch] = for_message(gateway, sent)
    assert tokens(batch) == ["carol-phone"]
    got = app.messaging.get_channel_message(
        ChannelArn=channel, MessageId=sent, ChimeBearer=app.bob
    )["ChannelMessage"]
    assert got["Content"] == "still sent"
    # The two devices that could not be pushed are counted, the delivered one too.
    deadline = time.monotonic() + 15
    while metric(server.url, "bellwire_pushes_failed_total") < failed + 2:
        assert time.monotonic() < deadline, "the failed pushes were not counted"
        time.sleep(0.05)
    assert metric(server.url, "bellwire_pushes_failed_total") == failed + 2
    assert metric(server.url, "bellwire_pushes_delivered_total") >= delivered + 1
