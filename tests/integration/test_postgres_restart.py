"""PostgreSQL restarted for real (``pg_ctl -m immediate``: every backend gone at once, crash
recovery on the way back), under one node and under two nodes of a cluster: REST answers the
modeled 503 ``ServiceUnavailableException`` while it is down, open sessions stay open, nothing is
half-written, and the nodes recover by themselves. The server is a private one
(``private_postgres.py``); test_postgres_outage.py covers a network cut in front of the shared
one."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import server_process
from botocore.config import Config
from botocore.exceptions import ClientError
from cluster import Cluster, Node, cluster
from console_client import Answer, ConsoleClient
from hook_server import SECRET as HOOK_SECRET
from hook_server import Hook, integration_helpers, lex_configuration
from private_postgres import PrivatePostgres, private_postgres
from ws_helpers import Client, World, connect_url, contents, off, refused, session

from bellwire import webhook, wordfilter
from bellwire.events import EventType
from bellwire.testing import temporary_database

MESSAGE = EventType.CREATE_CHANNEL_MESSAGE
make_app = integration_helpers().make_app
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=15)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


def status(node: Node, path: str) -> int | None:
    try:
        with urllib.request.urlopen(node.url + path, timeout=5) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def invoke_word_filter(node: Node, channel: str) -> int:
    """POST the server's own signed invocation of a message to its word filter: the status."""
    event = {
        "EventType": "CHANNEL_MESSAGE_EVENT",
        "CallbackId": "c" * 64,
        "ChannelMessage": {
            "MessageId": "m1",
            "ChannelArn": channel,
            "Content": "oh darn",
            "Sender": {"Arn": channel.split("/channel/")[0] + "/user/u", "Name": "u"},
            "Persistence": "PERSISTENT",
            "Type": "STANDARD",
            "CreatedTimestamp": "2026-12-05T00:00:00.000Z",
        },
    }
    body = json.dumps(event).encode()
    secret = (node.data_dir / webhook.SECRET_FILE).read_text().strip().encode()
    headers = webhook.sign(secret, body, int(time.time()))
    request = urllib.request.Request(
        node.url + wordfilter.PATH, data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


def unavailable(page: Answer) -> None:
    """The console's answer while the database does not answer: a page that says so."""
    assert page.status == 503, page.text[:500]
    assert "The database does not answer" in page.text
    assert page.headers["Retry-After"] == "5"


def stored(w: World, channel: str, bearer: str) -> list[str]:
    out: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = w.messaging.list_channel_messages(
            ChannelArn=channel, ChimeBearer=bearer, SortOrder="ASCENDING", MaxResults=50, **kwargs
        )
        out += [m["Content"] for m in page["ChannelMessages"]]
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


def send(messaging: Any, channel: str, bearer: str, content: str) -> ClientError | None:
    try:
        messaging.send_channel_message(
            ChannelArn=channel,
            ChimeBearer=bearer,
            Content=content,
            Type="STANDARD",
            Persistence="PERSISTENT",
        )
    except ClientError as exc:
        return exc
    return None


async def test_one_node_answers_503_while_postgres_is_down_and_recovers_by_itself(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    with temporary_database(postgres.url) as url:
        data = tmp_path / "node"
        data.mkdir()
        node = Node(
            await off(server_process.start, data, server_process.free_port(), "--store", url), data
        )
        try:
            await _one_node(postgres, node)
        finally:
            await off(node.stop)
            if not postgres.running():
                postgres.start()


async def _chatting(node: Node) -> tuple[World, str, str, Client, Any]:
    """A world where alice's "before" reached bob's session: (world, alice, channel, bob's
    session, a messaging client that does not retry)."""
    w = await off(World.create, node)  # type: ignore[arg-type]
    alice, bob = await off(w.user), await off(w.user)
    channel = await off(w.channel, alice, [bob])
    bob_session = await session(node, bob)  # type: ignore[arg-type]
    await off(w.send, channel, alice, "before")
    assert contents(await bob_session.take(1)) == ["before"]
    return w, alice, channel, bob_session, node.client("chime-sdk-messaging", config=NO_RETRY)


async def _one_node(postgres: PrivatePostgres, node: Node) -> None:
    w, alice, channel, bob_session, messaging = await _chatting(node)
    console = ConsoleClient(node.url)
    assert console.sign_in(node.access_key_id, node.secret_access_key).status == 303

    await off(postgres.stop, "immediate")
    unavailable(await off(console.get, "/console/server"))
    # The shipped word filter, invoked now, cannot call back: it says so rather than accept
    # the invocation and lose its callback (the server invokes it again).
    assert await off(invoke_word_filter, node, channel) == 503
    refused = await off(send, messaging, channel, alice, "during")
    assert refused is not None
    assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert refused.response["Error"]["Code"] == "ServiceUnavailableException"
    iam = node.client("iam", config=NO_RETRY)
    with pytest.raises(ClientError) as iam_refused:
        await off(iam.create_user, UserName="during-outage")
    assert iam_refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    # No other node reaches the database: this one stays in a balancer's rotation.
    assert await off(status, node, "/readyz") == 200
    assert await off(status, node, "/healthz") == 200
    await bob_session.quiet(0.5)
    assert not bob_session.closed  # the open session is left alone
    # The export relay's pass (once a second) meets the outage too: it says so in one line.
    began = time.monotonic()
    while "export relay: the database does not answer" not in node.process.output():
        assert time.monotonic() - began < 10, node.process.output()[-3000:]
        await off(time.sleep, 0.1)

    await off(postgres.start)
    # No restart of the node, no operator: sends succeed again within seconds. A first attempt
    # may still meet a connection of the old server (503, nothing written): it is retried.
    began, attempts = time.monotonic(), 0
    while (failure := await off(send, messaging, channel, alice, f"after{attempts}")) is not None:
        assert failure.response["ResponseMetadata"]["HTTPStatusCode"] == 503, failure.response
        assert time.monotonic() - began < 15, "the node did not recover"
        attempts += 1
        await off(time.sleep, 0.2)
    delivered = contents(await bob_session.take(1))
    assert delivered == [f"after{attempts}"]
    assert await off(status, node, "/readyz") == 200
    # Nothing half-written: only the acknowledged sends are stored.
    assert await off(stored, w, channel, alice) == ["before", f"after{attempts}"]
    assert await off(iam.create_user, UserName="after-outage")
    assert (await off(console.get, "/console/server")).status == 200  # still signed in
    await bob_session.quiet(0.3)
    await bob_session.close()
    # An outage is an operator's event, not a fault of the server: short lines, no traceback
    # (the export relay's pass wrote one each second).
    assert "Traceback" not in node.process.output(), node.process.output()[:3000]


async def test_a_frozen_postgres_is_answered_503_in_time_and_what_it_had_not_begun_is_dropped(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """A database that stops answering without closing its connections (a hung host): each
    REST request answers 503 after ``store_timeout_seconds`` instead of waiting for it, the
    sessions stay open, a send the database had begun commits when it answers again, and one
    it had not begun is never applied."""
    with temporary_database(postgres.url) as url:
        data = tmp_path / "node"
        data.mkdir()
        options = ("--store", url, "--store-timeout-seconds", "1")
        port = server_process.free_port()
        node = Node(await off(server_process.start, data, port, *options), data)
        pids: list[int] = []
        try:
            w, alice, channel, bob_session, messaging = await _chatting(node)
            console = ConsoleClient(node.url)
            assert console.sign_in(node.access_key_id, node.secret_access_key).status == 303
            pids = await off(postgres.freeze)
            began = time.monotonic()
            begun = await off(send, messaging, channel, alice, "begun")  # on its way to PG
            dropped = await off(send, messaging, channel, alice, "dropped")  # still queued
            with pytest.raises(ClientError) as read:
                await off(messaging.list_channel_messages, ChannelArn=channel, ChimeBearer=alice)
            assert time.monotonic() - began < 12  # three deadlines of 1 s, not forever
            for answer in (begun, dropped, read.value):
                assert answer is not None
                assert answer.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                assert answer.response["Error"]["Code"] == "ServiceUnavailableException"
                assert "did not answer in time" in answer.response["Error"]["Message"]
            unavailable(await off(console.get, "/console/server"))
            # A connect's snapshot waits as long: then 1013, on which the clients reconnect.
            code, reason = await refused(connect_url(node, alice))  # type: ignore[arg-type]
            assert (code, reason) == (1013, "The database is unavailable; try again later.")
            assert time.monotonic() - began < 16
            await bob_session.quiet(0.3)
            assert not bob_session.closed

            postgres.thaw(pids)
            pids = []
            await off(w.send, channel, alice, "after")
            assert contents(await bob_session.take(2)) == ["begun", "after"]
            assert await off(stored, w, channel, alice) == ["before", "begun", "after"]
            await bob_session.close()
        finally:
            postgres.thaw(pids)
            await off(node.stop)


def echo(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A Lex bot alias that echoes, as RecognizeText answers."""
    return 200, {
        "messages": [{"content": f"echo: {body['text']}", "contentType": "PlainText"}],
        "sessionState": {"intent": {"name": "Echo", "state": "Fulfilled"}},
        "sessionId": body["sessionId"],
    }


async def test_a_bot_answer_that_meets_an_outage_is_posted_once_postgres_is_back(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    alias = "arn:aws:lex:us-east-1:123456789012:bot-alias/ECHOBOT001/ALIAS00001"
    hook = Hook(echo).start()
    try:
        with temporary_database(postgres.url) as url:
            data = tmp_path / "node"
            data.mkdir()
            (data / webhook.SECRET_FILE).write_text(HOOK_SECRET)  # the hook checks it
            options = ("--store", url, "--resource", f"{alias}={hook.url}")
            port = server_process.free_port()
            node = Node(await off(server_process.start, data, port, *options), data)
            try:
                await off(_bot_through_an_outage, postgres, node, hook, alias)
            finally:
                await off(node.stop)
                if not postgres.running():
                    postgres.start()
    finally:
        hook.stop()


def _bot_through_an_outage(postgres: PrivatePostgres, node: Node, hook: Hook, alias: str) -> None:
    app = make_app(node.client("chime-sdk-identity"), node.client("chime-sdk-messaging"))
    bot = app.identity.create_app_instance_bot(
        AppInstanceArn=app.arn,
        Name="Echo",
        Configuration=lex_configuration(alias),
    )["AppInstanceBotArn"]
    channel = app.channel(app.alice)
    app.add(channel, bot)
    hook.hold()
    app.send(channel, app.alice, "hello")
    hook.arrived(1)  # the bot is thinking
    postgres.stop("immediate")
    hook.release()  # it answers while the database is down: the answer's write fails
    time.sleep(1.5)
    postgres.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            listed = app.messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=app.alice)
        except ClientError:  # the node's first request may meet the old server's connection
            listed = {"ChannelMessages": []}
        answers = [m for m in listed["ChannelMessages"] if m["Sender"]["Arn"] == bot]
        if answers:
            break
        assert time.monotonic() < deadline, "the bot's answer was lost"
        time.sleep(0.2)
    assert [json.loads(m["Content"]) for m in answers] == [
        {"Messages": [{"Content": "echo: hello", "ContentType": "PlainText"}]}
    ]


@pytest.fixture
def two_nodes(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Cluster]:
    options = ("--bus-reorder-window-seconds", "0.5", "--channel-check-seconds", "1")
    with cluster(tmp_path, nodes=2, options=options, postgres=postgres.url) as running:
        yield running


class Sender(threading.Thread):
    """Sends through both nodes in turn, one message at a time, recording what was
    acknowledged and what was refused (with which status)."""

    def __init__(self, worlds: list[World], channel: str, bearer: str) -> None:
        super().__init__(daemon=True)
        self.clients = [w.running.client("chime-sdk-messaging", config=NO_RETRY) for w in worlds]
        self.channel, self.bearer = channel, bearer
        self.acknowledged: list[str] = []
        self.refused: dict[str, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            content = f"m{i}"
            try:
                failure = send(self.clients[i % 2], self.channel, self.bearer, content)
            except Exception:  # the connection itself failed: not acknowledged either
                self.refused[content] = 0
            else:
                if failure is None:
                    self.acknowledged.append(content)
                else:
                    self.refused[content] = failure.response["ResponseMetadata"]["HTTPStatusCode"]
            i += 1
            time.sleep(0.02)


async def test_two_nodes_through_an_immediate_restart_lose_nothing_acknowledged(
    postgres: PrivatePostgres, two_nodes: Cluster
) -> None:
    a, b = two_nodes.nodes
    wa = await off(World.create, a)  # type: ignore[arg-type]
    wb = World(b, b.client("chime-sdk-identity"), b.client("chime-sdk-messaging"), wa.app_arn)  # type: ignore[arg-type]
    ann, ben, cid = await off(wa.user), await off(wa.user), await off(wa.user)
    channel = await off(wa.channel, ann, [ben, cid])
    on_a: Client = await session(a, ben)  # type: ignore[arg-type]
    on_b: Client = await session(b, cid)  # type: ignore[arg-type]
    sender = Sender([wa, wb], channel, ann)
    sender.start()
    try:
        await off(time.sleep, 1.0)
        before = len(sender.acknowledged)
        assert before > 5
        await off(postgres.restart, "immediate")
        restarted = len(sender.acknowledged) + len(sender.refused)
        deadline = time.monotonic() + 20
        # Both nodes acknowledge sends again by themselves.
        while True:
            recent = sender.acknowledged[-10:]
            if len(sender.acknowledged) > restarted + 10 and {int(c[1:]) % 2 for c in recent} == {
                0,
                1,
            }:
                break
            assert time.monotonic() < deadline, f"not recovered: refused {sender.refused}"
            await off(time.sleep, 0.1)
    finally:
        sender.halt.set()
        await off(sender.join, 20)
    await off(time.sleep, 1.0)
    assert set(sender.refused.values()) <= {503, 0}, sender.refused  # never a 500
    assert await off(status, a, "/readyz") == 200 and await off(status, b, "/readyz") == 200

    history = await off(stored, wa, channel, ann)
    acknowledged = sender.acknowledged
    # Everything acknowledged survived the crash recovery, once, in order; anything else stored
    # is a send that was refused while its commit may have landed (never a stray row).
    assert [c for c in history if c in set(acknowledged)] == acknowledged
    assert set(history) - set(acknowledged) <= set(sender.refused)
    assert len(history) == len(set(history))
    for client in (on_a, on_b):
        got = contents(client.events)
        assert len(got) == len(set(got)) and [c for c in history if c in set(got)] == got
        if client.closed:
            # Only a channel that lost events (a commit whose answer the restart swallowed)
            # closes its sessions, with 4410, to catch up: never silently.
            assert client.close_code == 4410
        else:
            assert set(acknowledged) <= set(got)
            await client.close()
    print(
        f"acknowledged {len(acknowledged)} (before the restart {before}), refused "
        f"{len(sender.refused)}, stored {len(history)}"
    )
