"""Several nodes, one PostgreSQL, one Redis: everything a node learns from a commit reaches every
node (events in each channel's order, IAM changes, deletions, the operator's close command),
per-user limits hold across the cluster, and no loss is silent (a gap in a channel's sequence,
a Redis restart)."""

from __future__ import annotations

import asyncio
import html
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import psycopg
import pytest
import redis
from botocore.exceptions import ClientError
from cluster import Cluster, Node, catches_up, cluster, on
from console_client import ConsoleClient
from ws_helpers import (
    Client,
    World,
    connect_url,
    contents,
    eventually,
    off,
    refused,
    run_all,
    session,
)

from bellwire.api.admin import close_sessions, fetch_sessions, format_coverage
from bellwire.bus import wire
from bellwire.domain.delivery import ChannelEvent
from bellwire.events import Event, EventType, MessageType

MESSAGE = EventType.CREATE_CHANNEL_MESSAGE


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def world(node: Node) -> World:
    return World.create(node)  # type: ignore[arg-type]


async def connect(node: Node, user: str, **options: Any) -> Client:
    return await session(node, user, **options)  # type: ignore[arg-type]


# --- delivery ---------------------------------------------------------------------------------


async def test_messages_sent_through_both_nodes_reach_every_session_once_in_channel_order(
    nodes: Cluster,
) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    alice, bob = wa.user(), wa.user()
    channel = wa.channel(alice, [bob])
    wb = on(b, wa)
    on_a = await connect(a, bob)
    on_b = await connect(b, alice)
    count = 40

    def send_from(w: World, who: str, tag: str) -> None:
        for i in range(count // 2):
            w.send(channel, who, f"{tag}{i}")

    # Two nodes commit to one channel at once: each node's sessions must see the channel's
    # order (the store's), not the order in which the bus happened to hand events over.
    threads = [
        threading.Thread(target=send_from, args=(wa, alice, "a")),
        threading.Thread(target=send_from, args=(wb, bob, "b")),
    ]
    await off(run_all, threads)
    stored = await off(
        wa.messaging.list_channel_messages,
        ChannelArn=channel,
        ChimeBearer=alice,
        SortOrder="ASCENDING",
        MaxResults=50,
    )
    order = [m["Content"] for m in stored["ChannelMessages"]]
    assert sorted(order) == sorted([f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)])
    for client in (on_a, on_b):
        events = await client.take(count)
        assert contents(events) == order
        await client.quiet(0.3)
    await on_a.close()
    await on_b.close()


async def test_every_channel_event_type_crosses_nodes_in_order(nodes: Cluster) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    wb = on(b, wa)
    alice, bob, carol, dave = wa.user(), wa.user(), wa.user(), wa.user()
    bob_on_b = await connect(b, bob)
    carol_on_a = await connect(a, carol)
    # Changes made through node A and node B alternately; bob's session is on B, carol's on A.
    channel = wa.channel(alice, [bob])
    wb.add(channel, carol, by=alice)
    await off(wa.messaging.update_channel, ChannelArn=channel, Name="renamed", ChimeBearer=alice)
    message = wb.send(channel, bob, "first")
    await off(
        wa.messaging.update_channel_message,
        ChannelArn=channel,
        MessageId=message,
        Content="edited",
        ChimeBearer=bob,
    )
    await off(
        wb.messaging.redact_channel_message, ChannelArn=channel, MessageId=message, ChimeBearer=bob
    )
    await off(
        wa.messaging.batch_create_channel_membership,
        ChannelArn=channel,
        MemberArns=[dave],
        ChimeBearer=alice,
    )
    wb.remove(channel, dave, by=alice)
    await off(wa.messaging.delete_channel, ChannelArn=channel, ChimeBearer=alice)
    expected_bob = [
        EventType.CREATE_CHANNEL,
        EventType.CREATE_CHANNEL_MEMBERSHIP,
        EventType.UPDATE_CHANNEL,
        EventType.CREATE_CHANNEL_MESSAGE,
        EventType.UPDATE_CHANNEL_MESSAGE,
        EventType.REDACT_CHANNEL_MESSAGE,
        EventType.BATCH_CREATE_CHANNEL_MEMBERSHIP,
        EventType.DELETE_CHANNEL_MEMBERSHIP,
        EventType.DELETE_CHANNEL,
    ]
    assert [e.type for e in await bob_on_b.take(len(expected_bob))] == expected_bob
    # carol joined with the membership event, which she receives too.
    expected_carol = expected_bob[1:]
    assert [e.type for e in await carol_on_a.take(len(expected_carol))] == expected_carol
    await bob_on_b.quiet(0.3)
    await carol_on_a.quiet(0)
    await bob_on_b.close()
    await carol_on_a.close()


# --- identity and IAM -------------------------------------------------------------------------


async def test_deleting_a_user_closes_its_sessions_on_every_node_with_4003(
    nodes: Cluster,
) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    erin = wa.user()
    first, second = await connect(a, erin), await connect(b, erin)
    await off(wa.delete_user, erin)
    assert await first.closed_with() == 4003
    assert await second.closed_with() == 4003


async def test_deleting_an_app_instance_closes_its_users_sessions_everywhere(
    nodes: Cluster,
) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    frank = wa.user()
    remote = await connect(b, frank)
    await off(wa.identity.delete_app_instance, AppInstanceArn=wa.app_arn)
    assert await remote.closed_with() == 4003


def _iam(node: Node) -> Any:
    return node.client("iam")


def _as(node: Node, key: dict[str, str]) -> Any:
    """A Chime identity client of ``node`` signing with an IAM user's access key."""
    return boto3.client(
        "chime-sdk-identity",
        endpoint_url=node.url,
        region_name=node.region,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )


async def test_policy_changes_and_a_deleted_access_key_apply_on_every_node_within_a_second(
    nodes: Cluster,
) -> None:
    a, b = nodes.nodes[:2]
    iam = _iam(a)
    name = f"dev-{time.monotonic_ns()}"
    await off(iam.create_user, UserName=name)
    await off(
        iam.put_user_policy,
        UserName=name,
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = (await off(iam.create_access_key, UserName=name))["AccessKey"]
    # Created through A, it works through B as soon as the bus brought it over.
    as_user_b = _as(b, key)

    def works() -> bool:
        try:
            as_user_b.list_app_instances()
            return True
        except ClientError:
            return False

    await eventually(works, timeout=1.0)
    # A policy put through A applies on B, and so does its removal.
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
    }
    await off(
        iam.put_user_policy, UserName=name, PolicyName="deny", PolicyDocument=json.dumps(deny)
    )
    await eventually(lambda: not works(), timeout=1.0)
    await off(iam.delete_user_policy, UserName=name, PolicyName="deny")
    await eventually(works, timeout=1.0)
    await off(iam.delete_access_key, UserName=name, AccessKeyId=key["AccessKeyId"])
    # A request that starts within a second of the deletion's answer is refused.
    await eventually(lambda: not works(), timeout=1.0)


async def test_an_iam_change_the_bus_lost_is_read_from_the_store(nodes: Cluster) -> None:
    """A change committed without any bus message (written into the database directly, as a
    lost message would leave it): the periodic IAM version check finds it."""
    import psycopg

    a, b = nodes.nodes[:2]
    iam = _iam(a)
    name = f"lost-{time.monotonic_ns()}"
    await off(iam.create_user, UserName=name)
    await off(
        iam.put_user_policy,
        UserName=name,
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = (await off(iam.create_access_key, UserName=name))["AccessKey"]
    clients = [_as(node, key) for node in (a, b)]

    def works(client: Any) -> bool:
        try:
            client.list_app_instances()
            return True
        except ClientError:
            return False

    await eventually(lambda: all(works(c) for c in clients), timeout=2.0)
    with psycopg.connect(nodes.store, autocommit=True) as conn, conn.transaction():
        conn.execute("DELETE FROM iam_access_keys WHERE access_key_id = %s", (key["AccessKeyId"],))
        conn.execute("UPDATE iam_version SET version = version + 1 WHERE id = 1")
    await eventually(lambda: not any(works(c) for c in clients), timeout=5.0)


# --- the operator's close command -------------------------------------------------------------


async def test_admin_close_through_one_node_closes_sessions_on_every_node(nodes: Cluster) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    gina = wa.user()
    here = await connect(a, gina, session_id="on-a")
    there = await connect(b, gina, session_id="on-b")
    boto = boto3.Session(
        aws_access_key_id=a.access_key_id,
        aws_secret_access_key=a.secret_access_key,
        region_name=a.region,
    )
    # The answer names the sessions of the node asked; the others close theirs from the bus.
    closed = await off(close_sessions, a.url, gina, 4419, boto_session=boto._session)
    assert closed == ["on-a"]
    assert await here.closed_with() == 4419
    assert await there.closed_with() == 4419


# --- the operator's cluster-wide listing -------------------------------------------------------


def _root_boto(node: Node) -> Any:
    return boto3.Session(
        aws_access_key_id=node.access_key_id,
        aws_secret_access_key=node.secret_access_key,
        region_name=node.region,
    )._session


async def test_sessions_are_listed_and_closed_cluster_wide(nodes: Cluster) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    ivy, jon = wa.user(), wa.user()
    here = await connect(a, ivy, session_id="ivy-on-a")
    there = await connect(b, jon, session_id="jon-on-b")
    name_a, name_b = (f"{socket.gethostname()} (pid {n.process.proc.pid})" for n in (a, b))

    # GET /admin/sessions through A names B's session and the node holding each.
    answer = await off(fetch_sessions, a.url, boto_session=_root_boto(a))
    listed = {s["SessionId"]: s["Node"] for s in answer["Sessions"]}
    assert listed["ivy-on-a"] == name_a and listed["jon-on-b"] == name_b
    assert {name_a, name_b} <= set(answer["Nodes"]["Answered"])
    assert answer["Nodes"]["Missing"] == [] and answer["Truncated"] is False
    only = await off(fetch_sessions, b.url, jon, boto_session=_root_boto(b))
    assert [s["SessionId"] for s in only["Sessions"]] == ["jon-on-b"]

    # The console of A lists B's session, and closes it after confirming: B's client sees it.
    console = ConsoleClient(a.url)
    assert (await off(console.sign_in, a.access_key_id, a.secret_access_key)).status == 303
    page = await off(console.get, f"/console/sessions?user={quote(jon)}")
    assert page.status == 200 and "jon-on-b" in page.text and html.escape(name_b) in page.text
    closed = await off(
        console.write, "close-session", {"UserArn": jon, "SessionId": "jon-on-b", "Code": "4419"}
    )
    assert closed.status == 303
    assert await there.closed_with() == 4419
    assert not here.closed
    await here.close()


async def test_a_node_that_does_not_answer_is_named(nodes: Cluster) -> None:
    a = nodes.nodes[0]
    c = await off(nodes.start_node)
    name_c = f"{socket.gethostname()} (pid {c.process.proc.pid})"
    answer = await off(fetch_sessions, a.url, boto_session=_root_boto(a))
    assert name_c in answer["Nodes"]["Answered"]
    # Frozen, it stays subscribed and registered, but answers nothing.
    c.process.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = await off(fetch_sessions, a.url, boto_session=_root_boto(a))
        waited = time.monotonic() - started
        assert answer["Nodes"]["Missing"] == [name_c]
        assert name_c not in answer["Nodes"]["Answered"]
        assert 0.9 <= waited < 5.0  # bus_admin_timeout_seconds (1.0), not longer
        table = await off(format_coverage, answer)
        assert any(name_c in line for line in table)
    finally:
        c.process.proc.send_signal(signal.SIGCONT)
        c.stop()


# --- cluster-wide limits ----------------------------------------------------------------------


async def test_sessions_per_user_are_counted_across_nodes(nodes: Cluster) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    hal = wa.user()
    first = await connect(a, hal)
    second = await connect(b, hal)
    # The limit is 2 across the cluster: a third session, on A, replaces the oldest (on A).
    third = await connect(b, hal)
    assert await first.closed_with() == 4003
    assert not second.closed and not third.closed
    # The same sessionId on another node replaces the older session with that id.
    again = await connect(a, hal, session_id="fixed-id")
    assert await second.closed_with() == 4003
    replacing = await connect(b, hal, session_id="fixed-id")
    assert await again.closed_with() == 4003
    assert not third.closed and not replacing.closed
    await third.close()
    await replacing.close()


async def test_the_connect_rate_is_counted_across_nodes(nodes: Cluster) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    ivy = wa.user()
    # Burst 6, then 0.2 per second: six connects spread over both nodes pass, the seventh not.
    for node in (a, b, a, b, a, b):
        client = await connect(node, ivy)
        await client.close()
    code, _ = await refused(connect_url(b, ivy))  # type: ignore[arg-type]
    assert code == 4429


async def test_a_connect_storm_beyond_the_nodes_redis_connections_is_admitted(
    nodes: Cluster,
) -> None:
    """More concurrent connects than the node has Redis connections: they wait their turn
    (redis-py's default pool refused the surplus with "Too many connections": 1013)."""
    narrow = nodes.start_node("--bus-max-connections", "2", "--bus-pool-wait-seconds", "10")
    w = world(narrow)
    users = [w.user() for _ in range(40)]
    clients = await asyncio.gather(*(connect(narrow, u) for u in users))
    assert len(clients) == 40 and not any(c.closed for c in clients)
    for client in clients:
        await client.close()
    narrow.stop()
    nodes.nodes.remove(narrow)


async def test_a_connect_the_cluster_cannot_count_is_refused_with_1013_not_4429(
    nodes: Cluster,
) -> None:
    """Not the client's fault, so not "back off" (4429): retry (1013)."""
    a = nodes.nodes[0]
    kai = world(a).user()
    with redis.Redis.from_url(nodes.redis.url) as registry:
        # The user's bucket is not a hash: the rate script fails as a broken Redis would.
        registry.set(f"{nodes.prefix}:connects:{{{kai}}}", "not a bucket")
        code, _ = await refused(connect_url(a, kai))  # type: ignore[arg-type]
        registry.delete(f"{nodes.prefix}:connects:{{{kai}}}")
    assert code == 1013
    client = await connect(a, kai)
    await client.close()


async def test_a_dead_nodes_sessions_stop_counting_when_their_leases_expire(
    nodes: Cluster,
) -> None:
    a = nodes.nodes[0]
    doomed = nodes.start_node()
    wa = world(a)
    jay = wa.user()
    on_doomed = await connect(doomed, jay)
    live = await connect(a, jay)
    key = f"{nodes.prefix}:sessions:{{{jay}}}"
    with redis.Redis.from_url(nodes.redis.url) as registry:
        assert registry.zcard(key) == 2
        # Live sessions keep their leases past the lease time (their node renews them).
        await asyncio.sleep(4)
        assert registry.zcard(key) == 2
        doomed.kill()
        await on_doomed.closed_with()
        # The dead node's lease expires (3 s): the next admission finds only the live one.
        await asyncio.sleep(3.5)
        after = await connect(a, jay, session_id="after")
        members = {m.decode() for m in registry.zrange(key, 0, -1)}
    assert len(members) == 2 and "after" in members
    assert not live.closed  # the dead session's slot went first, not a live one
    await live.close()
    await after.close()


# --- no silent loss ---------------------------------------------------------------------------


async def test_a_gap_in_a_channels_sequence_closes_its_sessions_with_4410(nodes: Cluster) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    kim, lee, outsider = wa.user(), wa.user(), wa.user()
    channel = wa.channel(kim, [lee])
    watcher = await connect(b, lee)
    member = await connect(b, kim)
    unconcerned = await connect(b, outsider)
    wa.send(channel, kim, "one")
    assert contents(await watcher.take(1)) == ["one"]
    # An event far ahead of the channel's sequence, as if those before it were lost on the bus.
    batch = wire.encode(
        "elsewhere",
        [ChannelEvent(channel, 1000, Event(MESSAGE, MessageType.STANDARD, {"Content": "?"}))],
    )
    with redis.Redis.from_url(nodes.redis.url) as registry:
        registry.publish(f"{nodes.prefix}:bus", batch)
    # After the reorder window, every session of the channel on that node is told.
    assert await watcher.closed_with(timeout=5) == 4410
    assert await member.closed_with(timeout=5) == 4410
    assert not unconcerned.closed
    assert _metric(b, "bellwire_channel_gaps_total") >= 1
    # Reconnected, a session reads the channel afresh and receives what follows.
    fresh = await connect(b, lee)
    wa.send(channel, kim, "two")
    assert contents(await fresh.take(1)) == ["two"]
    await fresh.close()
    await unconcerned.close()


async def test_a_redis_restart_closes_sessions_with_4410_and_the_cluster_recovers(
    nodes: Cluster,
) -> None:
    a, b = nodes.nodes[:2]
    wa = world(a)
    mia, ned = wa.user(), wa.user()
    channel = wa.channel(mia, [ned])
    on_a, on_b = await connect(a, ned), await connect(b, mia)
    nodes.redis.kill()
    # Whatever the other node publishes now is lost: every session is told so, none believes
    # it has everything.
    assert await on_a.closed_with(timeout=10) == 4410
    assert await on_b.closed_with(timeout=10) == 4410
    await eventually(lambda: _readyz(a) == 503 and _readyz(b) == 503, timeout=5)
    code, _ = await refused(connect_url(a, ned))  # type: ignore[arg-type]
    assert code == 1013
    # Meanwhile REST still works (the store is the truth), and says so to a balancer.
    assert _readyz(a, "/readyz/rest") == 200 and _readyz(b, "/readyz/rest") == 200
    wa.send(channel, mia, "while redis was down")
    nodes.redis.start()
    await eventually(lambda: _readyz(a) == 200 and _readyz(b) == 200, timeout=15)
    assert _metric(a, "bellwire_bus_losses_total") >= 1
    assert _metric(b, "bellwire_bus_connected") == 1
    back_a, back_b = await connect(a, ned), await connect(b, mia)
    on(b, wa).send(channel, mia, "after")
    assert contents(await back_a.take(1)) == ["after"]
    assert contents(await back_b.take(1)) == ["after"]
    await back_a.close()
    await back_b.close()


def _metric(node: Node, name: str) -> float:
    with urllib.request.urlopen(node.url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def _readyz(node: Node, path: str = "/readyz") -> int | None:
    try:
        with urllib.request.urlopen(node.url + path, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def test_a_console_sign_in_holds_on_every_node(nodes: Cluster) -> None:
    """Signed in through node A, a browser is signed in on node B too (a balancer without
    stickiness, another worker of one node); signed out through B, it is signed out on A."""
    a, b = nodes.nodes[:2]
    on_a = ConsoleClient(a.url)
    assert on_a.sign_in(a.access_key_id, a.secret_access_key).status == 303
    on_b = ConsoleClient(b.url)
    on_b.cookie = on_a.cookie
    page = on_b.get("/console/server")
    assert page.status == 200 and on_b.csrf is not None
    assert on_b.post("/console/signout", {"csrf": on_b.csrf}).status == 303
    again = on_a.get("/console/server")
    assert (again.status, again.location) == (303, "/console/signin")


def test_failed_console_sign_ins_count_on_every_node(nodes: Cluster) -> None:
    """The sign-in throttle counts one address's failures across the cluster: spread over the
    nodes (a balancer, the workers of one node), they add up, and every node refuses."""
    a, b = nodes.nodes[:2]
    # An address of its own: the other tests' sign-ins from 127.0.0.1 stay unthrottled.
    on_a, on_b = ConsoleClient(a.url, source="127.0.0.7"), ConsoleClient(b.url, source="127.0.0.7")
    failures = 5  # console_signin_failures' default
    for i in range(failures):
        assert (on_a if i % 2 else on_b).sign_in(a.access_key_id, "wrong").status == 401
    for client in (on_a, on_b):
        refused = client.sign_in(a.access_key_id, a.secret_access_key)
        assert refused.status == 429, refused.text[:500]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    elsewhere = ConsoleClient(a.url, source="127.0.0.8")
    assert elsewhere.sign_in(a.access_key_id, a.secret_access_key).status == 303


# --- several workers on one port --------------------------------------------------------------


async def test_workers_share_one_port_and_are_nodes_of_the_cluster(nodes: Cluster) -> None:
    a = nodes.nodes[0]
    workers = nodes.start_node("--workers", "2", "--max-sessions-per-user", "10")
    try:
        wa = world(a)
        users = [wa.user() for _ in range(16)]
        channel = wa.channel(users[0], users[1:10])
        await off(
            wa.messaging.batch_create_channel_membership,
            ChannelArn=channel,
            MemberArns=users[10:],
            ChimeBearer=users[0],
        )
        # The node answers once its first worker listens; the second may bind a moment later,
        # so connect again (a fresh spread by the kernel) until both hold sessions.
        for _ in range(8):
            clients = [await connect(workers, user) for user in users]
            leases: set[str] = set()
            with redis.Redis.from_url(nodes.redis.url) as registry:
                for user in users:
                    for holder in registry.hvals(f"{nodes.prefix}:leases:{{{user}}}"):
                        leases.add(holder.decode().split(" ", 1)[1].split("/")[0])
            if len(leases) == 2:
                break
            for client in clients:
                await client.close()
            await asyncio.sleep(0.5)
        assert len(leases) == 2  # the kernel spread the connections over both workers
        wa.send(channel, users[0], "to all")  # through another node
        for client in clients:
            assert contents(await client.take(1)) == ["to all"]
        for client in clients:
            await client.close()
    finally:
        workers.stop()
    assert workers.process.proc.returncode == 0


def test_each_worker_holds_the_stores_leases_as_a_node_of_its_own(tmp_path: Path) -> None:
    """Workers share the data dir and its node name; each adds its index, so that one worker,
    not every worker at once, holds a lease (the sweeper's here, claimed at start)."""
    with cluster(tmp_path, nodes=0) as running:
        workers = running.start_node("--workers", "2")
        try:
            base = (workers.data_dir / "node-id").read_text().strip()
            owners: list[tuple[str]] = []
            deadline = time.monotonic() + 15
            while not owners and time.monotonic() < deadline:
                time.sleep(0.1)
                with psycopg.connect(running.store) as conn:
                    owners = conn.execute(
                        "SELECT owner FROM leases WHERE name = 'sweeper'"
                    ).fetchall()
            assert owners in ([(f"{base}-w0",)], [(f"{base}-w1",)])
        finally:
            workers.stop()
        assert workers.process.proc.returncode == 0


def test_workers_refuse_sqlite_clearly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bellwire", "serve", "--data-dir", str(tmp_path), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "workers above 1 need a PostgreSQL store" in done.stderr
    assert "need a Redis bus" in done.stderr


async def test_the_python_client_reconnects_after_4410_and_catches_up(
    nodes: Cluster, watch: Any
) -> None:
    """No silent loss, end to end: a gap closes the session with 4410, the client reconnects,
    marks the gap and reads what it missed from the store."""
    from bellwire.client import Established, Reconnecting

    a, b = nodes.nodes[:2]
    wa = world(a)
    olga, pat = wa.user(), wa.user()
    channel = wa.channel(olga, [pat])
    w = watch(b.catching_up(pat, retry_after=1.5))
    await w.next(Established)
    live = await off(wa.send, channel, olga, "live")
    assert (await w.event(MESSAGE)).message_id == live
    batch = wire.encode(
        "elsewhere",
        [ChannelEvent(channel, 1000, Event(MESSAGE, MessageType.STANDARD, {"Content": "?"}))],
    )
    with redis.Redis.from_url(nodes.redis.url) as registry:
        registry.publish(f"{nodes.prefix}:bus", batch)
    assert (await w.next(Reconnecting)).code == 4410
    missed = await off(wa.send, channel, olga, "missed while away")
    await catches_up(w, missed)


def test_workers_that_cannot_start_stop_the_node_instead_of_restarting(
    nodes: Cluster, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as taken:  # a port held without SO_REUSEPORT: no worker can bind it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "BELLWIRE_LOG_LEVEL": "warning"}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bellwire",
                "serve",
                "--data-dir",
                str(tmp_path),
                "--port",
                str(port),
                "--store",
                nodes.store,
                "--bus",
                nodes.redis.url,
                "--bus-prefix",
                nodes.prefix,
                "--workers",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            env=env,
        )
    assert done.returncode == 1, done.stderr
    assert "cannot start" in done.stderr
