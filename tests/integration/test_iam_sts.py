"""The documented Chime pattern end to end: a backend with root keys creates a role scoped by a
session tag, assumes it for one AppInstanceUser, and hands the temporary credentials to the
client. Everything goes through boto3 and real sockets to a real server.

The server runs in eu-central-1 on purpose: boto3's iam client signs for us-east-1 whatever
region it is given, and that must still be accepted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from ws_helpers import Client, World, off, open_ws, refused

from bellwire.aws.sigv4 import presign_connect_url
from bellwire.events import EventType
from bellwire.testing import RunningServer, start_server

REGION = "eu-central-1"
ACCOUNT = "123456789012"
# The model says DurationSeconds >= 900; this server is configured down to 1 s for the test.
LOOSE = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(
        Path(tmp_path_factory.mktemp("iam-sts")),
        region=REGION,
        sts_min_duration_seconds=1,
        connect_burst=100,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def world(running: RunningServer) -> World:
    return World.create(running, "iam")


def user_policy(app_arn: str) -> str:
    """The documented end-user policy, scoped to one user by a session tag."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Messaging",
                    "Effect": "Allow",
                    "Action": [
                        "chime:SendChannelMessage",
                        "chime:ListChannelMessages",
                        "chime:DescribeChannel",
                        "chime:Connect",
                    ],
                    "Resource": [
                        f"{app_arn}/user/${{aws:PrincipalTag/UserId}}",
                        f"{app_arn}/channel/*",
                    ],
                },
                {
                    "Sid": "Endpoint",
                    "Effect": "Allow",
                    "Action": "chime:GetMessagingSessionEndpoint",
                    "Resource": "*",
                },
            ],
        }
    )


TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
)


@pytest.fixture(scope="module")
def role_arn(running: RunningServer, world: World) -> str:
    iam = running.client("iam")
    arn: str = iam.create_role(RoleName="ChatUser", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="ChatUser", PolicyName="chime", PolicyDocument=user_policy(world.app_arn)
    )
    return arn


@pytest.fixture(scope="module")
def people(world: World) -> dict[str, str]:
    alice, bob = world.user("alice"), world.user("bob")
    channel = world.channel(alice, members=[bob])
    return {"alice": alice, "bob": bob, "channel": channel}


def assume(
    running: RunningServer, role_arn: str, user_id: str = "alice", **kwargs: Any
) -> dict[str, Any]:
    sts = running.client("sts", config=LOOSE)
    kwargs.setdefault("Tags", [{"Key": "UserId", "Value": user_id}])
    response = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"{user_id}-session", **kwargs)
    credentials: dict[str, Any] = response["Credentials"]
    return credentials


def as_session(running: RunningServer, credentials: dict[str, Any], service: str) -> Any:
    return running.client(
        service,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=LOOSE,
    )


def connect_url(running: RunningServer, credentials: dict[str, Any], user_arn: str) -> str:
    return presign_connect_url(
        host=running.endpoint_host,
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
        region=REGION,
        params={"sessionId": f"s-{time.monotonic_ns()}", "userArn": user_arn},
        now=datetime.now(UTC),
        scheme="ws",
    )


def error_of(exc: ClientError) -> tuple[str, str]:
    return exc.response["Error"]["Code"], exc.response["Error"]["Message"]


# --- the pattern ------------------------------------------------------------------------------


def test_assumed_role_credentials_look_like_aws(running: RunningServer, role_arn: str) -> None:
    sts = running.client("sts")
    response = sts.assume_role(
        RoleArn=role_arn,
        RoleSessionName="alice-session",
        Tags=[{"Key": "UserId", "Value": "alice"}],
    )
    credentials = response["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert len(credentials["SecretAccessKey"]) == 40
    assert len(credentials["SessionToken"]) >= 64  # 48 random bytes, base64
    remaining = credentials["Expiration"].timestamp() - time.time()
    assert 3500 < remaining <= 3600  # the default duration
    user = response["AssumedRoleUser"]
    assert user["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ChatUser/alice-session"
    assert user["AssumedRoleId"].startswith("AROA") and user["AssumedRoleId"].endswith(
        ":alice-session"
    )
    identity = as_session(running, credentials, "sts").get_caller_identity()
    assert identity["Arn"] == user["Arn"]
    assert identity["UserId"] == user["AssumedRoleId"]
    assert identity["Account"] == ACCOUNT


def test_credentials_act_as_the_tagged_user_only(
    running: RunningServer, role_arn: str, people: dict[str, str]
) -> None:
    messaging = as_session(running, assume(running, role_arn), "chime-sdk-messaging")
    sent = messaging.send_channel_message(
        ChannelArn=people["channel"],
        ChimeBearer=people["alice"],
        Content="hi from alice",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    assert sent["MessageId"]
    listed = messaging.list_channel_messages(
        ChannelArn=people["channel"], ChimeBearer=people["alice"]
    )
    assert "hi from alice" in [m["Content"] for m in listed["ChannelMessages"]]
    endpoint = messaging.get_messaging_session_endpoint()["Endpoint"]["Url"]
    assert endpoint == running.endpoint_host

    with pytest.raises(ClientError) as caught:
        messaging.send_channel_message(
            ChannelArn=people["channel"],
            ChimeBearer=people["bob"],
            Content="pretending to be bob",
            Type="STANDARD",
            Persistence="PERSISTENT",
        )
    code, message = error_of(caught.value)
    assert code == "AccessDeniedException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ChatUser/alice-session is not authorized "
        f"to perform: chime:SendChannelMessage on resource: {people['bob']} because no "
        "identity-based policy allows the chime:SendChannelMessage action"
    )
    # An action the role does not grant at all, even as alice.
    with pytest.raises(ClientError) as caught:
        messaging.delete_channel(ChannelArn=people["channel"], ChimeBearer=people["alice"])
    assert error_of(caught.value)[0] == "AccessDeniedException"


async def test_websocket_as_the_tagged_user_only(
    running: RunningServer, role_arn: str, people: dict[str, str]
) -> None:
    credentials = await off(assume, running, role_arn)
    client = Client(
        await open_ws(connect_url(running, credentials, people["alice"])), people["alice"]
    )
    try:
        first = await client.next()
        assert first.type == EventType.SESSION_ESTABLISHED
    finally:
        await client.close()
    code, reason = await refused(connect_url(running, credentials, people["bob"]))
    assert code == 4003
    # The close reason is cut to fit a control frame (123 bytes); it starts with the denial.
    assert reason.startswith(f"Forbidden: User: arn:aws:sts::{ACCOUNT}:assumed-role/ChatUser/")


async def test_credentials_stop_working_at_expiry(
    running: RunningServer, role_arn: str, people: dict[str, str]
) -> None:
    credentials = await off(assume, running, role_arn, DurationSeconds=2)
    expires = credentials["Expiration"].timestamp()
    messaging = as_session(running, credentials, "chime-sdk-messaging")
    await off(messaging.get_messaging_session_endpoint)
    client = Client(
        await open_ws(connect_url(running, credentials, people["alice"])), people["alice"]
    )
    assert (await client.next()).type == EventType.SESSION_ESTABLISHED
    # The open session is closed by the server when the credentials expire.
    assert await client.closed_with(timeout=10.0) == 4419
    assert time.time() >= expires - 0.1
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(ClientError) as caught:
        await off(messaging.get_messaging_session_endpoint)
    code, message = error_of(caught.value)
    assert code == "ExpiredTokenException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "expired" in message
    code, _ = await refused(connect_url(running, credentials, people["alice"]))
    assert code == 4401
    # STS (query protocol, XML errors) says the same.
    with pytest.raises(ClientError) as caught:
        await off(as_session(running, credentials, "sts").get_caller_identity)
    assert error_of(caught.value)[0] == "ExpiredToken"


def test_a_token_must_match_its_key(running: RunningServer, role_arn: str) -> None:
    credentials = assume(running, role_arn)
    for token in (None, credentials["SessionToken"][:-4] + "AAAA"):
        messaging = running.client(
            "chime-sdk-messaging",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=token,
            config=LOOSE,
        )
        with pytest.raises(ClientError) as caught:
            messaging.get_messaging_session_endpoint()
        assert error_of(caught.value)[0] == "UnrecognizedClientException"


def test_role_policy_changes_apply_to_sessions_already_issued(
    running: RunningServer, world: World, role_arn: str, people: dict[str, str]
) -> None:
    iam = running.client("iam")
    messaging = as_session(running, assume(running, role_arn), "chime-sdk-messaging")
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Action": "chime:SendChannelMessage", "Resource": "*"},
        ],
    }
    iam.put_role_policy(RoleName="ChatUser", PolicyName="freeze", PolicyDocument=json.dumps(deny))
    try:
        with pytest.raises(ClientError) as caught:
            messaging.send_channel_message(
                ChannelArn=people["channel"],
                ChimeBearer=people["alice"],
                Content="frozen",
                Type="STANDARD",
                Persistence="PERSISTENT",
            )
        code, message = error_of(caught.value)
        assert code == "AccessDeniedException"
        assert message.endswith("with an explicit deny in an identity-based policy")
    finally:
        iam.delete_role_policy(RoleName="ChatUser", PolicyName="freeze")
    messaging.send_channel_message(
        ChannelArn=people["channel"],
        ChimeBearer=people["alice"],
        Content="thawed",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )


def test_a_session_policy_narrows_the_role(
    running: RunningServer, role_arn: str, people: dict[str, str]
) -> None:
    read_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "chime:List*", "Resource": "*"}],
    }
    credentials = assume(running, role_arn, Policy=json.dumps(read_only))
    messaging = as_session(running, credentials, "chime-sdk-messaging")
    messaging.list_channel_messages(ChannelArn=people["channel"], ChimeBearer=people["alice"])
    with pytest.raises(ClientError) as caught:
        messaging.send_channel_message(
            ChannelArn=people["channel"],
            ChimeBearer=people["alice"],
            Content="x",
            Type="STANDARD",
            Persistence="PERSISTENT",
        )
    code, message = error_of(caught.value)
    assert code == "AccessDeniedException"
    assert message.endswith("because no session policy allows the chime:SendChannelMessage action")


def test_tags_need_sts_tag_session_in_the_trust_policy(
    running: RunningServer, world: World
) -> None:
    iam = running.client("iam")
    trust = json.loads(TRUST)
    trust["Statement"][0]["Action"] = "sts:AssumeRole"
    arn = iam.create_role(RoleName="NoTags", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    sts = running.client("sts")
    sts.assume_role(RoleArn=arn, RoleSessionName="plain")  # no tags: allowed
    with pytest.raises(sts.exceptions.ClientError) as caught:
        sts.assume_role(
            RoleArn=arn, RoleSessionName="tagged", Tags=[{"Key": "UserId", "Value": "alice"}]
        )
    code, message = error_of(caught.value)
    assert code == "AccessDenied"
    assert "sts:TagSession" in message


def test_duration_is_bounded(running: RunningServer, role_arn: str) -> None:
    sts = running.client("sts", config=LOOSE)
    with pytest.raises(ClientError) as caught:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="long", DurationSeconds=3601)
    code, message = error_of(caught.value)
    assert code == "ValidationError"
    assert "MaxSessionDuration" in message
    with pytest.raises(ClientError) as caught:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="short", DurationSeconds=0)
    assert error_of(caught.value)[0] == "ValidationError"
