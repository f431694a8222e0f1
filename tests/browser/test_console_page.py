"""The admin console in real browsers: headless Chromium (Debian's, driven by playwright-core
over CDP) and headless Firefox ESR (Debian's, driven by puppeteer-core over WebDriver BiDi) each
sign in with the root key, browses each section, follows a channel's live tail while boto3
sends, closes a messaging session with a chosen code after confirming (the client sees the
code), and, signed in as a limited IAM user, is refused a write its policy lacks.

The console is served over plain http on loopback, so neither browser needs a CA trusted.
Screenshots of each section land in test-artifacts/browser/console-*.png (Chromium's; Firefox's
are console-firefox-*.png; docs/console.md shows copies of Chromium's).
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from browser_world import CHROMIUM, FIREFOX, JS_DIR, Browser, tool
from websockets.sync.client import connect

from bellwire.aws.sigv4 import presign_connect_url
from bellwire.testing import RunningServer, start_server

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(params=["chromium", "firefox"])
def console_browser(
    request: pytest.FixtureRequest, node_modules: Path, tmp_path: Path
) -> Iterator[Browser]:
    kind: str = request.param
    executable = CHROMIUM if kind == "chromium" else FIREFOX
    if not os.access(executable, os.X_OK):
        pytest.fail(
            f"{executable} is missing: the browser suite runs Debian's chromium and firefox-esr, "
            "which scripts/test installs (apt-get install -y chromium firefox-esr libnss3-tools)"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BELLWIRE_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        BELLWIRE_BROWSER=kind,
        BELLWIRE_CHROMIUM=str(CHROMIUM),
        BELLWIRE_FIREFOX=str(FIREFOX),
        BELLWIRE_PROFILE=str(tmp_path / "profile"),
        NO_PROXY="*",
        no_proxy="*",
    )
    (tmp_path / "home").mkdir()
    proc = subprocess.Popen(
        [tool("node", "Node 20+ drives the browser"), "console_drive.mjs"],
        cwd=JS_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    browser = Browser(proc, name=kind)
    browser.start_reading()
    ready = browser.wait("ready", timeout=60)
    # The driver runs the browser it was asked for (a Firefox version reads "firefox/153...").
    assert ready["browser"] == kind, ready
    assert kind != "firefox" or "firefox" in ready["version"].lower(), ready
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "bellwire")
    try:
        yield server
    finally:
        server.stop()


class WatchedSession:
    """A messaging session (a plain WebSocket client in a thread) and the close code it got."""

    def __init__(self, running: RunningServer, user_arn: str) -> None:
        url = presign_connect_url(
            host=running.endpoint_host,
            access_key_id=running.access_key_id,
            secret_access_key=running.secret_access_key,
            session_token=None,
            region=running.region,
            params={"sessionId": str(uuid.uuid4()), "userArn": user_arn},
            now=datetime.now(UTC),
            scheme="ws",
        )
        # Entered as a context manager (websockets warns otherwise); closed by the test.
        self.ws = connect(url, open_timeout=10, compression=None, proxy=None).__enter__()
        first = json.loads(self.ws.recv(timeout=10))
        assert first["Headers"]["x-amz-chime-event-type"] == "SESSION_ESTABLISHED"
        self.closed: queue.Queue[int | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for _ in self.ws:
                pass
        except Exception:  # the close is what we wait for, however it arrives
            pass
        self.closed.put(self.ws.close_code)


def test_console_in_a_browser(running: RunningServer, console_browser: Browser) -> None:
    b = console_browser
    base = running.url
    identity = running.client("chime-sdk-identity")
    messaging = running.client("chime-sdk-messaging")
    app = identity.create_app_instance(Name="support-desk")["AppInstanceArn"]
    users = {
        uid: identity.create_app_instance_user(
            AppInstanceArn=app, AppInstanceUserId=uid, Name=uid.title()
        )["AppInstanceUserArn"]
        for uid in ("alice", "bob")
    }
    identity.create_app_instance_admin(AppInstanceArn=app, AppInstanceAdminArn=users["alice"])
    channel = messaging.create_channel(
        AppInstanceArn=app,
        Name="general",
        ChimeBearer=users["alice"],
        MemberArns=[users["bob"]],
    )["ChannelArn"]
    for text in ("Hello Bob", "Are you there?"):
        messaging.send_channel_message(
            ChannelArn=channel,
            ChimeBearer=users["alice"],
            Content=text,
            Type="STANDARD",
            Persistence="PERSISTENT",
        )
    bob = WatchedSession(running, users["bob"])

    # Sign in (the first page redirects there).
    assert b.command("goto", url=f"{base}/console").endswith("/console/signin")
    b.screenshot("console-signin")
    b.command("fill", selector="input[name=access_key_id]", value=running.access_key_id)
    b.command("fill", selector="input[name=secret_access_key]", value=running.secret_access_key)
    assert b.command("submit", selector="form.signin button").endswith("/console")
    server_page = b.command("text", selector="main")
    assert "Settings in force" in server_page and "Messaging sessions open" in server_page
    assert running.secret_access_key not in server_page
    b.screenshot("console-server")

    # App instances, one app's users, its channels.
    b.command("goto", url=f"{base}/console/apps")
    assert "support-desk" in b.command("text", selector="main")
    b.screenshot("console-apps")
    b.command("submit", selector="text=support-desk")
    assert "Alice" in b.command("text", selector="main")
    b.screenshot("console-app-users")
    b.command("goto", url=f"{base}/console/app?arn={quote(app)}&tab=admins")
    assert users["alice"] in b.command("text", selector="main")
    b.command("goto", url=f"{base}/console/app?arn={quote(app)}&tab=channels")
    assert "general" in b.command("text", selector="main")
    b.command("goto", url=f"{base}/console/app?arn={quote(app)}&tab=settings")
    assert "kept forever" in b.command("text", selector="main")
    b.command("goto", url=f"{base}/console/app?arn={quote(app)}&tab=flows")
    assert "No channel flows." in b.command("text", selector="main")
    b.command("goto", url=f"{base}/console/app?arn={quote(app)}&tab=bots")
    assert "No bots." in b.command("text", selector="main")

    # A channel: its messages newest first, its members, then the live tail.
    b.command("goto", url=f"{base}/console/channel?arn={quote(channel)}&tab=messages")
    main = b.command("text", selector="main")
    assert main.index("Are you there?") < main.index("Hello Bob")
    b.screenshot("console-channel")
    b.command("goto", url=f"{base}/console/channel?arn={quote(channel)}&tab=members")
    assert users["bob"] in b.command("text", selector="main")
    # The creator moderates the channel, as in AWS; nobody is banned.
    for tab, shown in (("moderators", users["alice"]), ("bans", "No bans")):
        b.command("goto", url=f"{base}/console/channel?arn={quote(channel)}&tab={tab}")
        assert shown in b.command("text", selector="main")
    b.command("goto", url=f"{base}/console/channel?arn={quote(channel)}&tab=subchannels")
    assert "Sub-channels:" in b.command("text", selector="main")  # not an elastic channel
    b.command("goto", url=f"{base}/console/channel?arn={quote(channel)}&tab=flows")
    assert "No channel flow is associated" in b.command("text", selector="main")
    b.command("goto", url=f"{base}/console/channel?arn={quote(channel)}&tab=tail")
    b.command("waitText", selector="#tail", text="Following")
    messaging.send_channel_message(
        ChannelArn=channel,
        ChimeBearer=users["alice"],
        Content="sent while the operator watches",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    tail = b.command("waitText", selector="#tail", text="sent while the operator watches")
    assert "CREATE_CHANNEL_MESSAGE" in tail
    b.screenshot("console-tail")
    assert bob.closed.empty()

    # Close bob's session with 4419 after confirming; bob's client sees 4419.
    b.command("goto", url=f"{base}/console/sessions?user={quote(users['bob'])}")
    b.screenshot("console-sessions")
    b.command("select", selector="select[name=Code]", value="4419")
    b.command("submit", selector="form[action='/console/do/close-session'] button")
    assert "Close this messaging session?" in b.command("text", selector="main")
    assert bob.closed.empty()  # asked, not done
    b.screenshot("console-confirm")
    assert b.command("submit", selector="#confirm").endswith("/console/sessions")
    assert bob.closed.get(timeout=10) == 4419

    # IAM: a limited user with a key; the simulator's explanation.
    iam = running.client("iam")
    iam.create_user(UserName="viewer")
    iam.put_user_policy(
        UserName="viewer",
        PolicyName="read-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["chime:List*", "chime:Describe*", "chime:Get*"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="viewer")["AccessKey"]
    b.command("goto", url=f"{base}/console/iam")
    assert "viewer" in b.command("text", selector="main")
    b.screenshot("console-iam")
    b.command("goto", url=f"{base}/console/iam?tab=roles")
    assert "No IAM roles" in b.command("text", selector="main")
    b.command("goto", url=f"{base}/console/iam/user?name=viewer")
    user_page = b.command("text", selector="main")
    assert key["AccessKeyId"] in user_page and key["SecretAccessKey"] not in user_page
    b.command(
        "goto",
        url=f"{base}/console/simulate?kind=user&principal=viewer"
        f"&action=chime:DeleteAppInstance&resource={quote(app)}",
    )
    simulated = b.command("text", selector="main")
    assert "Decision: denied" in simulated and "no identity-based policy allows" in simulated
    b.screenshot("console-simulator")

    # Sign out, sign in as the limited user: reading works, deleting is refused by IAM.
    b.command("submit", selector="form[action='/console/signout'] button")
    b.command("fill", selector="input[name=access_key_id]", value=key["AccessKeyId"])
    b.command("fill", selector="input[name=secret_access_key]", value=key["SecretAccessKey"])
    b.command("submit", selector="form.signin button")
    b.command("goto", url=f"{base}/console/app?arn={quote(app)}&tab=settings")
    assert "user/viewer" in b.command("text", selector="header")
    b.command("submit", selector="form[action='/console/do/delete-app-instance'] button")
    b.command("submit", selector="#confirm")
    refused = b.command("text", selector="main")
    assert "not authorized to perform: chime:DeleteAppInstance" in refused
    b.screenshot("console-denied")
    names = [a["Name"] for a in identity.list_app_instances()["AppInstances"]]
    assert "support-desk" in names

    assert b.page_errors() == []
    errors = [t for t in b.console("error") if not re.search(r"status of 40[13]", t)]
    assert errors == [], errors
    bob.ws.close()
