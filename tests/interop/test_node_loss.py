"""Node loss behind a load balancer (issue 13 point 5): three ``bellwire serve`` nodes on
PostgreSQL and a private redis-server, behind HAProxy configured from ``deploy/haproxy.cfg``
(``balancer.py``). amazon-chime-sdk-js's DefaultMessagingSession (under Node) and the Python
client both connect through the balancer, messages flow through it, and the node holding both
sessions is killed with SIGKILL. Both clients must reconnect through the balancer to a surviving
node and, after catch-up (the Python client's own; for the JS SDK, which has none, the app's
ListChannelMessages), hold every acknowledged message exactly once, in the channel's order.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import balancer as haproxy
import boto3
import botocore.session
import pytest
from botocore.config import Config
from cluster import Cluster, cluster
from server_process import ACCESS_KEY, REGION, SECRET_KEY
from test_js_clients import NodeScenario, established, is_event, is_message, node, node_modules
from tlsworld import Tls

from bellwire.client import (
    CaughtUp,
    Established,
    EventType,
    Gap,
    MessagingSession,
    Reconnecting,
    ReconnectPolicy,
    SessionEvent,
)

__all__ = ["node", "node_modules"]  # fixtures used here

pytestmark = pytest.mark.timeout(300)

ONE_TRY = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10
)


@dataclass
class Entry:
    """The balancer as a client sees it: what ``node_env`` and boto3 need."""

    url: str
    endpoint_host: str
    region: str = REGION
    access_key_id: str = ACCESS_KEY
    secret_access_key: str = SECRET_KEY


@dataclass
class Site:
    nodes: Cluster
    balancer: haproxy.Balancer
    entry: Entry
    tls: Tls

    def client(self, service: str, config: Config | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.entry.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            verify=str(self.tls.ca),
            config=config,
        )


@pytest.fixture
def site(tls: Tls, tmp_path: Path) -> Iterator[Site]:
    # The balancer's port is held while the nodes and Redis start (they take free ports, and
    # their connections ephemeral ones), and let go only for haproxy to bind it.
    with socket.socket() as reserved:
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reserved.bind(("127.0.0.1", 0))
        port = int(reserved.getsockname()[1])
        options = (
            "--public-endpoint",
            f"127.0.0.1:{port}",  # what GetMessagingSessionEndpoint answers: the balancer
            "--session-lease-seconds",
            "3",
            "--bus-reorder-window-seconds",
            "0.5",
            "--channel-check-seconds",
            "1",
        )
        with cluster(tmp_path, nodes=3, options=options) as nodes:
            reserved.close()
            running = haproxy.start(
                tmp_path,
                port=port,
                cert=tls.cert,
                key=tls.key,
                ca=tls.ca,
                servers=[n.process.port for n in nodes.nodes],
            )
            try:
                yield Site(nodes, running, Entry(running.url, f"127.0.0.1:{port}"), tls)
            finally:
                running.stop()


def sessions_open(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("bellwire_sessions_open "):
                return float(line.split()[1])
    raise AssertionError("bellwire_sessions_open is not in /metrics")


class Sender(threading.Thread):
    """Sends m0, m1, ... through the balancer one at a time, keeping what was acknowledged
    (a 2xx) apart from what failed (which may or may not have been committed)."""

    def __init__(self, site: Site, channel: str, bearer: str) -> None:
        super().__init__(daemon=True)
        self.messaging = site.client("chime-sdk-messaging", ONE_TRY)
        self.channel, self.bearer = channel, bearer
        self.acknowledged: list[str] = []
        self.failed = 0
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            try:
                out = self.messaging.send_channel_message(
                    ChannelArn=self.channel,
                    ChimeBearer=self.bearer,
                    Content=f"m{i}",
                    Type="STANDARD",
                    Persistence="PERSISTENT",
                )
                self.acknowledged.append(out["MessageId"])
            except Exception:  # a reset, a 503, a timeout: not acknowledged
                self.failed += 1
            i += 1
            time.sleep(0.03)


def history(messaging: Any, channel: str, bearer: str) -> list[str]:
    """The channel's messages, oldest first, as the store holds them."""
    ids: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = messaging.list_channel_messages(
            ChannelArn=channel, ChimeBearer=bearer, SortOrder="ASCENDING", MaxResults=50, **kwargs
        )
        ids += [m["MessageId"] for m in page["ChannelMessages"]]
        if not page.get("NextToken"):
            return ids
        kwargs["NextToken"] = page["NextToken"]


def in_order(ids: list[str], order: list[str]) -> bool:
    position = {m: i for i, m in enumerate(order)}
    ranks = [position[m] for m in ids]
    return ranks == sorted(ranks)


def js_message_ids(scenario: NodeScenario, since: int = 0) -> list[str]:
    found = scenario.find(is_message("CREATE_CHANNEL_MESSAGE"), since)
    return [json.loads(e["payload"])["MessageId"] for e in found]


@pytest.mark.parametrize("signal", [signal.SIGKILL, signal.SIGSTOP], ids=["kill", "stop"])
async def test_a_lost_node_loses_no_acknowledged_message_for_js_and_python_clients(
    site: Site, node: Callable[..., NodeScenario], watch: Any, signal: signal.Signals
) -> None:
    """SIGKILL: the node's sockets close at once. SIGSTOP: a node that hangs (its sockets stay
    open, silent): HAProxy's health check marks it down and ``on-marked-down
    shutdown-sessions`` closes its tunnels, so the clients notice within seconds."""
    identity = site.client("chime-sdk-identity")
    messaging = site.client("chime-sdk-messaging")
    app = identity.create_app_instance(Name="node-loss")["AppInstanceArn"]
    users = {
        name: identity.create_app_instance_user(
            AppInstanceArn=app, AppInstanceUserId=name, Name=name
        )["AppInstanceUserArn"]
        for name in ("sender", "js", "py")
    }
    channel = messaging.create_channel(
        AppInstanceArn=app,
        Name="busy",
        ChimeBearer=users["sender"],
        MemberArns=[users["js"], users["py"]],
    )["ChannelArn"]

    js = node(site.entry, users["js"], BELLWIRE_RECONNECT_TIMEOUT_MS="60000")
    established(js)
    credentials = botocore.session.Session()
    credentials.set_credentials(ACCESS_KEY, SECRET_KEY)
    credentials.set_config_variable("ca_bundle", str(site.tls.ca))
    py = watch(
        MessagingSession(
            users["py"],
            boto_session=credentials,
            region=REGION,
            endpoint_url=site.entry.url,
            ssl_context=ssl.create_default_context(cafile=str(site.tls.ca)),
            policy=ReconnectPolicy(base=0.2, cap=1.0, window=60.0),
            catch_up=True,
        )
    )
    await py.next(Established, timeout=20)
    first, *others = site.nodes.nodes
    # The balancer sends every connection to the first node that is up: both sessions are there.
    assert sessions_open(first.url) == 2
    assert [sessions_open(n.url) for n in others] == [0, 0]

    sender = Sender(site, channel, users["sender"])
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while len(js_message_ids(js)) < 20 or len(py_ids(py)) < 20:
            assert time.monotonic() < deadline, "messages do not flow"
            await _sleep(0.1)
        mark = js.mark()
        first.process.proc.send_signal(signal)  # while messages flow

        assert (await py.next(Reconnecting, timeout=15)).code == 1006
        back = await py.next(Established, timeout=30)
        assert back.reconnecting
        gap = await py.next(Gap, timeout=10)
        assert gap.catching_up
        caught = await py.next(CaughtUp, timeout=30)
        assert caught.failures == ()
        js.wait_for(is_event("didStartConnecting", reconnecting=True), "a reconnect", since=mark)
        js.wait_for(is_event("didStart"), "the session back", since=mark, timeout=40)
        # Messages keep flowing to both after the move.
        after = len(sender.acknowledged)
        deadline = time.monotonic() + 20
        while len(sender.acknowledged) < after + 20:
            assert time.monotonic() < deadline, "sends through the balancer do not succeed"
            await _sleep(0.1)
    finally:
        sender.halt.set()
        sender.join(20)
        if signal == signal.SIGSTOP:
            first.kill()  # a stopped process would not drain on SIGTERM
    await _sleep(2.0)  # the last sends reach every session

    assert sum(sessions_open(n.url) for n in others) == 2  # both moved to the survivors
    acknowledged = sender.acknowledged
    stored = history(messaging, channel, users["sender"])
    assert set(acknowledged) <= set(stored) and in_order(acknowledged, stored)

    # Python: live and caught-up deliveries, each message once, each stream in channel order.
    live = [e.message_id for e in py_events(py) if not e.caught_up]
    recovered = [e.message_id for e in py_events(py) if e.caught_up]
    both = live + recovered
    assert len(both) == len(set(both)), "a message was delivered twice to the Python client"
    assert set(acknowledged) <= set(both)
    assert in_order(live, stored) and in_order(recovered, stored)

    # JS: what the session delivered, then what the app lists after the reconnect.
    seen = js_message_ids(js)
    assert len(seen) == len(set(seen)), "a message was delivered twice to the JS session"
    assert in_order(seen, stored)
    missed = [m for m in history(messaging, channel, users["js"]) if m not in set(seen)]
    assert set(acknowledged) <= set(seen) | set(missed)
    js.assert_clean()
    print(
        f"acknowledged {len(acknowledged)}, failed sends {sender.failed}, stored {len(stored)}; "
        f"python live {len(live)} + caught up {len(recovered)}; js live {len(seen)} + listed "
        f"{len(missed)}"
    )


def py_events(watched: Any) -> list[SessionEvent]:
    return [
        i
        for i in watched.items
        if isinstance(i, SessionEvent) and i.type == EventType.CREATE_CHANNEL_MESSAGE
    ]


def py_ids(watched: Any) -> list[str | None]:
    return [e.message_id for e in py_events(watched)]


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
