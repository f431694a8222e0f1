"""The chat flow in a real browser: a page from another https origin, the official JavaScript
clients bundled for the browser, headless Chromium enforcing CORS, bellwire over https/wss
with its development TLS (the CA trusted through NSS, as docs/browsers.md tells developers).

The page (js/src/chat.js) receives scoped temporary credentials, as an app's backend would hand
them over (STS AssumeRole with a session tag naming the user), creates a channel, opens a
DefaultMessagingSession, sends and receives, and keeps receiving after bellwire restarts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_world import Browser, PageServer, serve_site

from bellwire.testing import RunningServer, start_server

pytestmark = pytest.mark.timeout(180)


def user_policy(app_arn: str) -> str:
    own = f"{app_arn}/user/${{aws:PrincipalTag/UserId}}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "chime:CreateChannel",
                        "chime:SendChannelMessage",
                        "chime:ListChannelMessages",
                        "chime:DescribeAppInstanceUser",
                        "chime:Connect",
                    ],
                    "Resource": [app_arn, own, f"{app_arn}/channel/*"],
                },
                {
                    "Effect": "Allow",
                    "Action": "chime:GetMessagingSessionEndpoint",
                    "Resource": "*",
                },
            ],
        }
    )


def trust(account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )


class Backend:
    """What an app's backend does with root keys: users, a role, per-user credentials."""

    def __init__(self, running: RunningServer) -> None:
        self.ca = str(running.data_dir / "dev-tls" / "ca.pem")
        self.running = running
        identity = self.client("chime-sdk-identity")
        self.app = identity.create_app_instance(Name=f"web-{uuid.uuid4().hex[:6]}")[
            "AppInstanceArn"
        ]
        self.users = {
            uid: identity.create_app_instance_user(
                AppInstanceArn=self.app, AppInstanceUserId=uid, Name=uid.capitalize()
            )["AppInstanceUserArn"]
            for uid in ("alice", "bob")
        }
        identity.close()
        iam = self.client("iam")
        role = iam.create_role(
            RoleName="WebChatUser", AssumeRolePolicyDocument=trust(running.settings.account_id)
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName="WebChatUser", PolicyName="chat", PolicyDocument=user_policy(self.app)
        )
        iam.close()
        self.role = role

    def client(self, service: str, running: RunningServer | None = None) -> Any:
        return (running or self.running).client(service, verify=self.ca)

    def credentials_for(self, user_id: str) -> dict[str, str]:
        sts = self.client("sts")
        creds = sts.assume_role(
            RoleArn=self.role,
            RoleSessionName=f"{user_id}-web",
            Tags=[{"Key": "UserId", "Value": user_id}],
        )["Credentials"]
        sts.close()
        return {
            "accessKeyId": creds["AccessKeyId"],
            "secretAccessKey": creds["SecretAccessKey"],
            "sessionToken": creds["SessionToken"],
        }

    def page_config(self, user_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "endpoint": self.running.url,
            "region": self.running.region,
            "credentials": self.credentials_for(user_id),
            "userArn": self.users[user_id],
            **extra,
        }


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    started: list[RunningServer] = []
    yield started
    for running in reversed(started):
        running.stop()


@pytest.fixture
def page_server(site: Path, tmp_path: Path) -> Iterator[Callable[[RunningServer], PageServer]]:
    """Serves the page over https with the dev certificate, on a port of its own."""
    started: list[PageServer] = []

    def start(running: RunningServer) -> PageServer:
        tls = running.data_dir / "dev-tls"
        page = serve_site(site, tls / "server.pem", tls / "server.key")
        started.append(page)
        return page

    yield start
    for page in started:
        page.stop()


def ok(result: Any, what: str, browser: Browser) -> Any:
    assert isinstance(result, dict) and result.get("ok"), (
        f"{what}: {result}\n{browser.transcript()}"
    )
    return result


def test_chat_flow_in_chromium_with_a_server_restart(
    chromium: Callable[[Path], Browser],
    page_server: Callable[[RunningServer], PageServer],
    servers: list[RunningServer],
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "bellwire"
    first = start_server(data_dir, dev_tls=True)
    servers.append(first)
    backend = Backend(first)
    page = page_server(first)
    assert urlsplit(page.url).netloc != urlsplit(first.url).netloc  # another origin
    browser = chromium(data_dir / "dev-tls" / "ca.pem")
    browser.command("open", url=page.url)

    browser.call("configure", backend.page_config("alice"))
    assert ok(browser.call("describeMe"), "DescribeAppInstanceUser", browser)["name"] == "Alice"
    created = ok(
        browser.call("createChannel", backend.app, "web", [backend.users["bob"]]),
        "CreateChannel",
        browser,
    )
    channel = created["channelArn"]
    assert created["requestId"], "x-amzn-RequestId must be exposed to the page"
    ok(browser.call("connect"), "start()", browser)
    assert browser.call("snapshot")["starts"] == 1

    assert browser.console("error") == [], browser.transcript()

    # A modeled error reaches the page as the modeled exception (x-amzn-ErrorType exposed).
    missing = browser.call("provokeNotFound")
    assert (missing["name"], missing["status"]) == ("NotFoundException", 404), missing
    assert missing["requestId"]
    (logged,) = browser.console("error")  # Chromium logs the failed call itself
    assert "404" in logged, logged

    # Send from the page; receive it on the page's session, and one sent by Bob with boto3.
    sent = ok(browser.call("send", "hello from the browser"), "SendChannelMessage", browser)
    echoed = ok(browser.call("waitForMessage", "hello from the browser", 10_000), "echo", browser)
    assert (echoed["id"], echoed["sender"]) == (sent["messageId"], "Alice")
    messaging = backend.client("chime-sdk-messaging")
    messaging.send_channel_message(
        ChannelArn=channel,
        Content="hi Alice, from boto3",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=backend.users["bob"],
    )
    messaging.close()
    got = ok(browser.call("waitForMessage", "hi Alice, from boto3", 10_000), "receive", browser)
    assert got["sender"] == "Bob"
    assert len(browser.console("error")) == 1, browser.transcript()

    # Restart bellwire on the same port and data dir: the session reconnects by itself.
    first.stop()
    second = start_server(data_dir, port=first.port, dev_tls=True)
    servers.append(second)
    backend.running = second
    ok(browser.call("waitForStarts", 2, 25_000, timeout=40), "reconnect", browser)
    assert any("WebSocket close: 1012" in line for line in browser.console()), browser.transcript()
    snapshot = browser.call("snapshot")
    assert True in snapshot["connecting"] and snapshot["stops"] == [], snapshot
    messaging = backend.client("chime-sdk-messaging", second)
    messaging.send_channel_message(
        ChannelArn=channel,
        Content="after the restart",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=backend.users["bob"],
    )
    messaging.close()
    ok(browser.call("waitForMessage", "after the restart", 10_000), "after restart", browser)
    history = ok(browser.call("history"), "ListChannelMessages", browser)["contents"]
    assert set(history) == {"hello from the browser", "hi Alice, from boto3", "after the restart"}
    assert browser.page_errors() == []
    shot = browser.screenshot("chat-flow")
    assert shot.stat().st_size > 1000


def test_a_page_from_an_origin_outside_the_list_is_blocked(
    chromium: Callable[[Path], Browser],
    page_server: Callable[[RunningServer], PageServer],
    servers: list[RunningServer],
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "bellwire"
    running = start_server(data_dir, dev_tls=True, cors_allowed_origins="https://chat.example.com")
    servers.append(running)
    backend = Backend(running)
    page = page_server(running)
    browser = chromium(data_dir / "dev-tls" / "ca.pem")
    browser.command("open", url=page.url)
    # endpointUrl set: the session's first connect skips the REST call, so the WebSocket
    # upgrade itself meets the origin check.
    browser.call("configure", backend.page_config("alice", endpointUrl=running.endpoint_host))

    described = browser.call("describeMe")
    assert not described["ok"]
    assert described["error"]["name"] == "TypeError", described  # fetch failed: CORS
    assert any("CORS policy" in line for line in browser.console("error")), browser.transcript()

    started = browser.call("connect")
    assert not started["ok"] and started["code"] == 4003, started
    assert "origin" in started["reason"].lower(), started
    browser.screenshot("cors-blocked")
