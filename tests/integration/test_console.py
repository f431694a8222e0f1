"""The admin console over loopback against a real server: sign-in, the cookie, CSRF, writes
authorized by IAM as the signed-in principal, the sign-in throttle, the live tail, closing a
session, pagination, and turning the console off. boto3 checks what the console changed."""

from __future__ import annotations

import asyncio
import html
import http.client
import json
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from console_client import ConsoleClient
from ws_helpers import World, off, run_all, session

from bellwire.testing import RunningServer, temporary_database

pytestmark = pytest.mark.timeout(120)


def limited_user(running: RunningServer, actions: list[str]) -> tuple[str, str, str]:
    """An IAM user allowed only ``actions`` (on every resource): its name and access key."""
    iam = running.client("iam")
    name = f"limited-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    iam.put_user_policy(UserName=name, PolicyName="console", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key["AccessKeyId"], key["SecretAccessKey"]


def signed_in(
    running: RunningServer, key: str | None = None, secret: str | None = None
) -> ConsoleClient:
    client = ConsoleClient(running.url)
    answer = client.sign_in(key or running.access_key_id, secret or running.secret_access_key)
    assert answer.status == 303, answer.text[:1000]
    return client


def app_names(running: RunningServer) -> list[str]:
    identity = running.client("chime-sdk-identity")
    return [a["Name"] for a in identity.list_app_instances(MaxResults=50)["AppInstances"]]


# --- signing in ------------------------------------------------------------------------------


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(
    bellwire_server: RunningServer,
) -> None:
    client = ConsoleClient(bellwire_server.url)
    first = client.get("/console/apps")
    assert first.status == 303 and first.location == "/console/signin"

    wrong = client.sign_in(bellwire_server.access_key_id, "not-the-secret")
    assert wrong.status == 401 and client.cookie is None

    answer = client.sign_in(bellwire_server.access_key_id, bellwire_server.secret_access_key)
    assert answer.status == 303 and answer.location == "/console"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    page = client.get("/console")
    assert page.status == 200
    assert f"arn:aws:iam::{bellwire_server.settings.account_id}:root" in page.text
    assert "Content-Security-Policy" in page.headers and page.headers["Cache-Control"] == "no-store"
    # The root secret is a masked setting, never on the page.
    assert bellwire_server.secret_access_key not in page.text

    stolen = client.cookie
    out = client.post("/console/signout", {"csrf": client.csrf or ""})
    assert out.status == 303 and "Max-Age=0" in out.headers["Set-Cookie"]
    replay = ConsoleClient(bellwire_server.url)
    replay.cookie = stolen
    assert replay.get("/console").status == 303  # the old cookie opens nothing any more


def test_cookie_is_secure_over_tls(bellwire_server_factory: Callable[..., RunningServer]) -> None:
    running = bellwire_server_factory(dev_tls=True)
    context = ssl.create_default_context(cafile=str(running.data_dir / "dev-tls" / "ca.pem"))
    connection = http.client.HTTPSConnection("localhost", running.port, context=context, timeout=30)
    body = f"access_key_id={running.access_key_id}&secret_access_key={quote(running.secret_access_key)}"
    connection.request(
        "POST",
        "/console/signin",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"https://localhost:{running.port}",
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 303
    assert "; Secure" in response.headers["Set-Cookie"]


def test_failed_sign_ins_are_throttled_per_address(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    running = bellwire_server_factory(console_signin_failures=3)
    client = ConsoleClient(running.url)
    for _ in range(3):
        assert client.sign_in(running.access_key_id, "wrong").status == 401
    refused = client.sign_in(running.access_key_id, running.secret_access_key)
    assert refused.status == 429  # even the right secret, until a minute has passed
    assert int(refused.headers["Retry-After"]) >= 1
    assert client.cookie is None


def test_behind_a_trusted_proxy_the_throttle_counts_per_forwarded_client(
    bellwire_server_factory: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # The test's own connections come from 127.0.0.1: that is the proxy here.
    running = bellwire_server_factory(
        console_signin_failures=2, console_trusted_proxies="127.0.0.0/8, ::1"
    )
    client = ConsoleClient(running.url)
    mallory = {"X-Forwarded-For": "1.1.1.1, 198.51.100.7"}  # the first hop is mallory's lie
    for _ in range(2):
        assert client.post("/console/signin", {"access_key_id": "AKIAX"}, **mallory).status == 401
    assert client.post("/console/signin", {}, **mallory).status == 429
    # The same client named through RFC 7239 is the same address, and still refused.
    assert client.post("/console/signin", {}, Forwarded='for="198.51.100.7:5000"').status == 429
    # Another client behind the same proxy keeps its own budget and signs in.
    other = ConsoleClient(running.url)
    answer = other.post(
        "/console/signin",
        {"access_key_id": running.access_key_id, "secret_access_key": running.secret_access_key},
        Forwarded="for=198.51.100.8;proto=http",
    )
    assert answer.status == 303
    # Mallory cannot escape by prepending another address: the rightmost untrusted one counts.
    lie = {"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}
    assert client.post("/console/signin", {}, **lie).status == 429
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed sign-in from 198.51.100.7" in logged
    assert "signed in from 198.51.100.8" in logged


def test_forwarded_headers_are_ignored_from_an_untrusted_peer(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    running = bellwire_server_factory(
        console_signin_failures=2, console_trusted_proxies="192.0.2.1"
    )
    client = ConsoleClient(running.url)
    for i in range(2):
        forged = {"X-Forwarded-For": f"198.51.100.{i}"}
        assert client.post("/console/signin", {}, **forged).status == 401
    # A new forged address each time changes nothing: the peer (loopback) is out of budget.
    assert client.post("/console/signin", {}, **{"X-Forwarded-For": "198.51.100.99"}).status == 429


def test_temporary_credentials_cannot_sign_in(bellwire_server: RunningServer) -> None:
    token = bellwire_server.client("sts").get_session_token()["Credentials"]
    client = ConsoleClient(bellwire_server.url)
    answer = client.sign_in(token["AccessKeyId"], token["SecretAccessKey"])
    assert answer.status == 401 and client.cookie is None


def test_no_secret_in_urls_or_logs(
    bellwire_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = signed_in(bellwire_server)
    assert client.write("iam-create-user", {"UserName": "carol"}).status == 303
    created = client.write("iam-create-key", {"UserName": "carol"})
    assert created.status == 200 and created.location is None
    secret = re.search(r'class="secret">([^<]+)<', created.text)
    assert secret is not None
    assert "only time" in created.text
    listing = client.get("/console/iam/user?name=carol")
    assert listing.status == 200 and secret.group(1) not in listing.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed sign-in" not in logged and "signed in" in logged
    assert secret.group(1) not in logged
    assert bellwire_server.secret_access_key not in logged


# --- CSRF and origin ---------------------------------------------------------------------------


def test_writes_without_the_csrf_token_or_from_another_origin_are_refused(
    bellwire_server: RunningServer,
) -> None:
    client = signed_in(bellwire_server)
    client.get("/console/apps")
    assert client.csrf
    fields = {"Name": "forged", "confirmed": "yes"}
    assert client.post("/console/do/create-app-instance", {**fields, "csrf": "x"}).status == 403
    assert client.post("/console/do/create-app-instance", fields).status == 403
    other = client.post(
        "/console/do/create-app-instance",
        {**fields, "csrf": client.csrf},
        Origin="https://evil.example",
    )
    assert other.status == 403
    assert "forged" not in app_names(bellwire_server)
    done = client.post("/console/do/create-app-instance", {**fields, "csrf": client.csrf})
    assert done.status == 303 and "forged" in app_names(bellwire_server)


def test_every_write_asks_for_confirmation_first(bellwire_server: RunningServer) -> None:
    client = signed_in(bellwire_server)
    client.get("/console/apps")
    asked = client.post(
        "/console/do/create-app-instance", {"csrf": client.csrf or "", "Name": "x1"}
    )
    assert asked.status == 200 and "Create an app instance?" in asked.text
    assert "x1" not in app_names(bellwire_server)


# --- IAM decides -------------------------------------------------------------------------------


def test_a_write_is_denied_to_a_limited_iam_user_and_allowed_to_root(
    bellwire_server: RunningServer,
) -> None:
    identity = bellwire_server.client("chime-sdk-identity")
    app = identity.create_app_instance(Name="kept")["AppInstanceArn"]
    _, key, secret = limited_user(
        bellwire_server, ["chime:ListAppInstances", "chime:DescribeAppInstance"]
    )
    limited = signed_in(bellwire_server, key, secret)
    assert (
        f"arn:aws:iam::{bellwire_server.settings.account_id}:user/limited"
        in limited.get("/console/apps").text
    )
    denied = limited.write("delete-app-instance", {"AppInstanceArn": app})
    assert denied.status == 403
    assert "not authorized to perform: chime:DeleteAppInstance" in denied.text
    assert "kept" in app_names(bellwire_server)
    # Reads are checked the same way: no iam:ListUsers, no IAM page.
    assert limited.get("/console/iam").status == 403
    assert limited.get(f"/console/app?arn={quote(app)}&tab=users").status == 403

    root = signed_in(bellwire_server)
    allowed = root.write("delete-app-instance", {"AppInstanceArn": app})
    assert allowed.status == 303
    assert "kept" not in app_names(bellwire_server)


def test_a_policy_change_applies_to_an_open_console_session(bellwire_server: RunningServer) -> None:
    name, key, secret = limited_user(bellwire_server, ["chime:ListAppInstances"])
    limited = signed_in(bellwire_server, key, secret)
    assert limited.get("/console/apps").status == 200
    bellwire_server.client("iam").delete_access_key(UserName=name, AccessKeyId=key)
    assert limited.get("/console/apps").status == 303  # the key is gone: signed out


def test_policy_simulator_explains_its_answer(bellwire_server: RunningServer) -> None:
    user, _, _ = limited_user(bellwire_server, ["chime:ListChannels"])
    root = signed_in(bellwire_server)
    allowed = root.get(
        f"/console/simulate?kind=user&principal={user}&action=chime:ListChannels&resource=*"
    )
    assert "Decision: allowed" in allowed.text
    assert 'policy "console"' in html.unescape(allowed.text)
    denied = root.get(
        f"/console/simulate?kind=user&principal={user}&action=chime:DeleteChannel&resource=*"
    )
    assert "Decision: denied" in denied.text
    assert "because no identity-based policy allows the chime:DeleteChannel action" in denied.text


# --- views -------------------------------------------------------------------------------------


def test_listings_are_paginated_by_key(bellwire_server: RunningServer) -> None:
    world = World.create(bellwire_server, "paged")
    threads = [threading.Thread(target=world.user, args=(f"user-{i:03d}",)) for i in range(55)]
    run_all(threads)
    root = signed_in(bellwire_server)
    first = root.get(f"/console/app?arn={quote(world.app_arn)}&tab=users")
    assert first.status == 200
    shown = set(re.findall(r"user/(user-\d{3})", first.text))
    assert len(shown) == 50
    after = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert after is not None
    second = root.get(after.group(1).replace("&amp;", "&"))
    rest = set(re.findall(r"user/(user-\d{3})", second.text))
    assert len(rest) == 5 and not rest & shown
    assert 'rel="next"' not in second.text


def test_channel_messages_newest_first_and_sub_channels_tab(
    bellwire_server: RunningServer,
) -> None:
    world = World.create(bellwire_server, "chan")
    alice = world.user("alice")
    channel = world.channel(alice, name="general")
    for i in range(53):
        world.send(channel, alice, f"msg-{i:03d}")
    root = signed_in(bellwire_server)
    page = root.get(f"/console/channel?arn={quote(channel)}&tab=messages")
    assert page.status == 200
    shown = re.findall(r"msg-(\d{3})", page.text)
    assert shown == [f"{i:03d}" for i in range(52, 2, -1)]  # newest first, 50 of them
    after = re.search(r'href="([^"]+)" rel="next"', page.text)
    assert after is not None
    older = root.get(after.group(1).replace("&amp;", "&"))
    assert re.findall(r"msg-(\d{3})", older.text) == ["002", "001", "000"]
    # Sub-channels are listed through ListSubChannels, which needs an admin as bearer.
    sub = root.get(f"/console/channel?arn={quote(channel)}&tab=subchannels")
    assert sub.status == 200 and "add an AppInstanceAdmin" in sub.text


def test_an_app_instance_tab_lists_its_bots(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    alias = "arn:aws:lex:us-east-1:123456789012:bot-alias/CONSOLEBOT/ALIAS00001"
    running = bellwire_server_factory(resources={alias: "http://127.0.0.1:9/"})  # never called
    world = World.create(running, "bots")
    root = signed_in(running)
    tab = f"/console/app?arn={quote(world.app_arn)}&tab=bots"
    empty = root.get(tab)
    assert empty.status == 200 and "No bots." in empty.text
    bot = world.identity.create_app_instance_bot(
        AppInstanceArn=world.app_arn,
        Name="Helpdesk <bot>",
        Configuration={"Lex": {"LexBotAliasArn": alias, "LocaleId": "en_US"}},
        ClientRequestToken=uuid.uuid4().hex,
    )["AppInstanceBotArn"]
    page = root.get(tab)
    assert page.status == 200 and "not supported" not in page.text
    # ListAppInstanceBots' columns: the bot's ARN and its name, escaped.
    assert bot in page.text and "Helpdesk &lt;bot&gt;" in page.text


def test_a_channel_flows_tab_shows_the_channel_own_flow(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    lam = "arn:aws:lambda:us-east-1:123456789012:function:console-flow"
    running = bellwire_server_factory(resources={lam: "http://127.0.0.1:9/"})  # never called
    world = World.create(running, "flows")
    alice = world.user("alice")
    channel = world.channel(alice, name="moderated")
    processor = {
        "Name": "screen <p>",
        "Configuration": {"Lambda": {"ResourceArn": lam, "InvocationType": "ASYNC"}},
        "ExecutionOrder": 1,
        "FallbackAction": "CONTINUE",
    }

    def make(name: str) -> str:
        arn: str = world.messaging.create_channel_flow(
            AppInstanceArn=world.app_arn,
            Processors=[processor],
            Name=name,
            ClientRequestToken=uuid.uuid4().hex,
        )["ChannelFlowArn"]
        return arn

    own, other = make("own-flow"), make("other-flow")
    root = signed_in(running)
    tab = f"/console/channel?arn={quote(channel)}&tab=flows"
    none = root.get(tab)
    assert none.status == 200 and "No channel flow is associated" in none.text
    assert own not in none.text and other not in none.text  # not the app instance's flows

    world.messaging.associate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=own, ChimeBearer=alice
    )
    page = root.get(tab)
    assert page.status == 200 and "No channel flow" not in page.text
    assert own in page.text and "own-flow" in page.text
    assert other not in page.text and "other-flow" not in page.text
    assert "screen &lt;p&gt;" in page.text and lam in page.text and "CONTINUE" in page.text

    # Its processors are what DescribeChannelFlow shows: a user without it is refused.
    _, key, secret = limited_user(running, ["chime:DescribeChannel"])
    limited = signed_in(running, key, secret)
    assert limited.get(tab).status == 403
    world.messaging.disassociate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=own, ChimeBearer=alice
    )
    assert "No channel flow is associated" in root.get(tab).text
    assert limited.get(tab).status == 200


def test_console_can_be_turned_off(bellwire_server_factory: Callable[..., RunningServer]) -> None:
    running = bellwire_server_factory(console_enabled=False)
    client = ConsoleClient(running.url)
    assert client.get("/console").status not in (200, 303)
    assert client.sign_in(running.access_key_id, running.secret_access_key).status not in (
        200,
        303,
    )
    assert client.cookie is None


# --- live ------------------------------------------------------------------------------------


async def test_close_a_session_with_a_chosen_code(bellwire_server: RunningServer) -> None:
    world = await off(World.create, bellwire_server, "live")
    bob = await off(world.user, "bob")
    ws = await session(bellwire_server, bob)
    root = await off(signed_in, bellwire_server)
    listing = await off(root.get, f"/console/sessions?user={quote(bob)}")
    session_id = re.search(r'name="SessionId" value="([^"]+)"', listing.text)
    assert session_id is not None
    closed = await off(
        root.write,
        "close-session",
        {"UserArn": bob, "SessionId": session_id.group(1), "Code": "4419"},
    )
    assert closed.status == 303
    assert await ws.closed_with() == 4419
    # Any code an endpoint may send, typed in.
    again = await session(bellwire_server, bob)
    listing = await off(root.get, f"/console/sessions?user={quote(bob)}")
    session_id = re.search(r'name="SessionId" value="([^"]+)"', listing.text)
    assert session_id is not None
    closed = await off(
        root.write,
        "close-session",
        {"UserArn": bob, "SessionId": session_id.group(1), "Code": "4003", "OtherCode": "3999"},
    )
    assert closed.status == 303
    assert await again.closed_with() == 3999


async def test_close_session_is_refused_without_bellwire_close_sessions(
    bellwire_server: RunningServer,
) -> None:
    world = await off(World.create, bellwire_server, "live")
    bob = await off(world.user, "bob")
    ws = await session(bellwire_server, bob)
    _, key, secret = await off(limited_user, bellwire_server, ["bellwire:ListSessions"])
    limited = await off(signed_in, bellwire_server, key, secret)
    listing = await off(limited.get, "/console/sessions")
    session_id = re.search(r'name="SessionId" value="([^"]+)"', listing.text)
    assert session_id is not None
    refused = await off(
        limited.write,
        "close-session",
        {"UserArn": bob, "SessionId": session_id.group(1), "Code": "4003"},
    )
    assert refused.status == 403 and "bellwire:CloseSessions" in refused.text
    with pytest.raises(TimeoutError):
        await ws.closed_with(timeout=0.5)
    await ws.close()


def _read_events(running: RunningServer, cookie: str, channel: str, want: int) -> list[Any]:
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=20)
    connection.request(
        "GET", f"/console/channel/events?arn={quote(channel)}", headers={"Cookie": cookie}
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    found: list[Any] = []
    try:
        while len(found) < want:
            line = response.fp.readline().decode()
            if line.startswith("data: {") and '"frame"' in line:
                found.append(json.loads(line[6:]))
            if line.startswith("event: ready"):
                found.append("ready")
    finally:
        connection.close()
    return found


async def test_live_tail_shows_what_members_receive(bellwire_server: RunningServer) -> None:
    world = await off(World.create, bellwire_server, "tail")
    alice = await off(world.user, "alice")
    channel = await off(world.channel, alice)
    root = await off(signed_in, bellwire_server)
    assert root.cookie
    reader = asyncio.ensure_future(off(_read_events, bellwire_server, root.cookie, channel, 2))
    while len(bellwire_server.server.console.tail) == 0:  # the stream is registered
        await asyncio.sleep(0.02)
    await off(world.send, channel, alice, "seen live")
    events = await asyncio.wait_for(reader, 20)
    assert events[0] == "ready"
    frame = json.loads(events[1]["frame"])
    assert frame["Headers"]["x-amz-chime-event-type"] == "CREATE_CHANNEL_MESSAGE"
    assert json.loads(frame["Payload"])["Content"] == "seen live"


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_gets_a_page_never_a_500(bellwire_server: RunningServer) -> None:
    root = signed_in(bellwire_server)
    root.get("/console")
    csrf = root.csrf or ""
    cases = [
        root.get("/console/app?arn=arn:nope&tab=users"),
        root.get("/console/app?arn=%ff%fe&tab=nonsense"),
        root.get("/console/channel?arn=x&tab=messages&after=notanumber"),
        root.get("/console/sessions?start=-5&user="),
        root.get("/console/sessions?start=x"),
        root.get("/console/iam/user?name=" + "n" * 5000),
        root.get("/console/simulate?kind=role&principal=missing&action=a:b&resource=*"),
        root.get("/console/nothing-here"),
        root.get("/console/static/../shell.py"),
        root.request("PUT", "/console/apps"),
        root.post("/console/do/no-such-action", {"csrf": csrf}),
        root.post("/console/do/create-app-instance", {"csrf": csrf, "confirmed": "yes"}),
        root.post(
            "/console/do/close-session",
            {"csrf": csrf, "confirmed": "yes", "UserArn": "u", "SessionId": "s", "Code": "99"},
        ),
        root.post(
            "/console/do/iam-create-user",
            {"csrf": csrf, "confirmed": "yes", "UserName": "bad name with spaces"},
        ),
        root.request(
            "POST",
            "/console/do/create-app-instance",
            None,
            Origin=root.origin,
            **{"Content-Type": "multipart/form-data; boundary=x"},
        ),
    ]
    for answer in cases:
        assert answer.status < 500, (answer.status, answer.text[:500])
    assert [a.status for a in cases[:3]] == [404, 404, 404]  # no such app or channel
    assert cases[10].status == 404 and cases[11].status == 400 and cases[12].status == 400
    # The sign-in survives junk too.
    anonymous = ConsoleClient(bellwire_server.url)
    junk = anonymous.request(
        "POST", "/console/signin", None, Origin=anonymous.origin, **{"Content-Type": "text/plain"}
    )
    assert junk.status == 401
    assert app_names(bellwire_server) == []


def test_console_pages_carry_no_cors_allowances(bellwire_server: RunningServer) -> None:
    root = signed_in(bellwire_server)
    page = root.get("/console/apps", Origin="https://elsewhere.example")
    assert page.status == 200 and "Access-Control-Allow-Origin" not in page.headers


def test_a_stopping_server_ends_live_tails_rather_than_waiting_for_them(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    running = bellwire_server_factory(shutdown_grace_seconds=30.0)
    world = World.create(running, "stop")
    alice = world.user("alice")
    channel = world.channel(alice)
    root = signed_in(running)
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
    connection.request(
        "GET",
        f"/console/channel/events?arn={quote(channel)}",
        headers={"Cookie": root.cookie or ""},
    )
    response = connection.getresponse()
    assert response.readline().startswith(b"event: ready")
    started = time.monotonic()
    running.stop()
    # Without the console closing its streams, the drain would wait the whole grace period.
    assert time.monotonic() - started < 20.0
    assert response.read() == b"data: {}\n\n"  # the rest of the ready event, then the end
    connection.close()


def test_channel_writes_use_an_app_instance_admin_as_bearer(bellwire_server: RunningServer) -> None:
    world = World.create(bellwire_server, "admin")
    alice, bob = world.user("alice"), world.user("bob")
    channel = world.channel(alice, [bob], name="doomed")
    root = signed_in(bellwire_server)
    # No AppInstanceAdmin yet: the console offers no channel delete (it has no bearer).
    page = root.get(f"/console/app?arn={quote(world.app_arn)}&tab=channels")
    assert "doomed" in page.text and "delete-channel" not in page.text
    made = root.write(
        "create-admin", {"AppInstanceArn": world.app_arn, "AppInstanceAdminArn": alice}
    )
    assert made.status == 303
    members = root.get(f"/console/channel?arn={quote(channel)}&tab=members")
    assert "delete-membership" in members.text
    removed = root.write(
        "delete-membership", {"ChannelArn": channel, "MemberArn": bob, "ChimeBearer": alice}
    )
    assert removed.status == 303
    listed = world.messaging.list_channel_memberships(ChannelArn=channel, ChimeBearer=alice)
    assert [m["Member"]["Arn"] for m in listed["ChannelMemberships"]] == [alice]
    deleted = root.write(
        "delete-channel",
        {"ChannelArn": channel, "ChimeBearer": alice, "AppInstanceArn": world.app_arn},
    )
    assert deleted.status == 303 and "tab=channels" in (deleted.location or "")
    channels = world.messaging.list_channels(AppInstanceArn=world.app_arn, ChimeBearer=alice)
    assert channels["Channels"] == []


def test_the_console_on_postgresql(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    with temporary_database() as url:
        running = bellwire_server_factory(store=url)
        try:
            world = World.create(running, "pg")
            alice = world.user("alice")
            channel = world.channel(alice, name="on-pg")
            for i in range(52):
                world.send(channel, alice, f"pg-{i:03d}")
            root = signed_in(running)
            assert root.write("create-app-instance", {"Name": "made-on-pg"}).status == 303
            assert "made-on-pg" in root.get("/console/apps").text
            page = root.get(f"/console/channel?arn={quote(channel)}&tab=messages")
            assert re.findall(r"pg-(\d{3})", page.text)[:2] == ["051", "050"]
            after = re.search(r'href="([^"]+)" rel="next"', page.text)
            assert after is not None
            older = root.get(after.group(1).replace("&amp;", "&"))
            assert re.findall(r"pg-(\d{3})", older.text) == ["001", "000"]
        finally:
            running.stop()


def test_sub_channels_of_an_elastic_channel_through_the_api_operation(
    bellwire_server: RunningServer,
) -> None:
    world = World.create(bellwire_server, "elastic")
    alice = world.user("alice")
    world.admin(alice)
    elastic = world.messaging.create_channel(
        AppInstanceArn=world.app_arn,
        Name="big",
        ChimeBearer=alice,
        ElasticChannelConfiguration={
            "MaximumSubChannels": 2,
            "TargetMembershipsPerSubChannel": 2,
            "MinimumMembershipPercentage": 10,
        },
    )["ChannelArn"]
    world.add(elastic, world.user("bob"), alice)
    plain = world.channel(alice, name="plain")
    root = signed_in(bellwire_server)
    listed = root.get(f"/console/channel?arn={quote(elastic)}&tab=subchannels")
    expected = world.messaging.list_sub_channels(ChannelArn=elastic, ChimeBearer=alice)
    ids = [s["SubChannelId"] for s in expected["SubChannels"]]
    assert ids and all(i in listed.text for i in ids)
    refused = root.get(f"/console/channel?arn={quote(plain)}&tab=subchannels")
    assert refused.status == 200 and "is not an elastic channel" in refused.text
