"""Durability: an acknowledged write survives ``kill -9``; concurrent writers lose nothing;
SIGTERM drains and exits 0.

The crash tests run ``python -m bellwire serve`` as a real subprocess, with root keys given in
the environment so the test can sign requests.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from server_process import CLIENT_CONFIG, Process, free_port, readyz, start

from bellwire.testing import RunningServer


def _setup_channel(identity: Any, messaging: Any, senders: int) -> tuple[str, list[str]]:
    app = identity.create_app_instance(Name="durable")["AppInstanceArn"]
    users = [
        identity.create_app_instance_user(
            AppInstanceArn=app, AppInstanceUserId=f"user{i}", Name=f"User {i}"
        )["AppInstanceUserArn"]
        for i in range(senders)
    ]
    channel = messaging.create_channel(
        AppInstanceArn=app, Name="durable", ChimeBearer=users[0], MemberArns=users[1:]
    )["ChannelArn"]
    return channel, users


def _send_concurrently(
    messaging: Any, channel: str, users: list[str], per_thread: int
) -> dict[str, tuple[int, int]]:
    """Every acknowledged MessageId → (thread, index in that thread's sequence)."""
    acked: dict[str, tuple[int, int]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(users))

    def sender(thread: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            message_id = messaging.send_channel_message(
                ChannelArn=channel,
                Content=f"t{thread}-m{i}",
                Type="STANDARD",
                Persistence="PERSISTENT",
                ChimeBearer=users[thread],
            )["MessageId"]
            with lock:
                assert message_id not in acked
                acked[message_id] = (thread, i)

    with ThreadPoolExecutor(len(users)) as pool:
        for future in [pool.submit(sender, t) for t in range(len(users))]:
            future.result()
    return acked


def _list_all(messaging: Any, channel: str, bearer: str, order: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ChannelArn": channel, "ChimeBearer": bearer, "SortOrder": order}
    while True:
        page = messaging.list_channel_messages(MaxResults=50, **kwargs)
        found += page["ChannelMessages"]
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def _assert_history(messages: list[dict[str, Any]], acked: dict[str, tuple[int, int]]) -> None:
    ids = [m["MessageId"] for m in messages]
    assert len(ids) == len(set(ids)), "a message is listed twice"
    assert set(ids) == set(acked), (
        f"lost {len(set(acked) - set(ids))}, unexpected {len(set(ids) - set(acked))}"
    )
    stamps = [m["CreatedTimestamp"] for m in messages]
    assert stamps == sorted(stamps), "ASCENDING order must follow creation time"
    # Each thread sent one message after another: its messages appear in that order.
    for m in messages:
        thread, index = acked[m["MessageId"]]
        assert m["Content"] == f"t{thread}-m{index}"
    last: dict[int, int] = {}
    for message_id in ids:
        thread, index = acked[message_id]
        assert index > last.get(thread, -1), f"thread {thread} out of order"
        last[thread] = index


def test_acknowledged_messages_survive_kill_9(tmp_path: Path, processes: list[Process]) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    first = start(data_dir, port)
    processes.append(first)
    identity, messaging = first.client("chime-sdk-identity"), first.client("chime-sdk-messaging")
    channel, users = _setup_channel(identity, messaging, senders=8)

    acked = _send_concurrently(messaging, channel, users, per_thread=25)
    assert len(acked) == 200

    first.proc.send_signal(signal.SIGKILL)
    assert first.proc.wait(10) == -signal.SIGKILL

    second = start(data_dir, free_port())
    processes.append(second)
    messaging = second.client("chime-sdk-messaging")
    ascending = _list_all(messaging, channel, users[0], "ASCENDING")
    _assert_history(ascending, acked)
    descending = _list_all(messaging, channel, users[3], "DESCENDING")
    assert [m["MessageId"] for m in descending] == [m["MessageId"] for m in ascending][::-1]

    # The restarted server keeps working on the same data: a new message goes last.
    new_id = messaging.send_channel_message(
        ChannelArn=channel,
        Content="after the crash",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=users[1],
    )["MessageId"]
    latest = messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=users[0], MaxResults=1)
    assert [m["MessageId"] for m in latest["ChannelMessages"]] == [new_id]


def test_concurrent_writers_lose_and_duplicate_nothing(server: RunningServer) -> None:
    identity = server.client("chime-sdk-identity", config=CLIENT_CONFIG)
    messaging = server.client("chime-sdk-messaging", config=CLIENT_CONFIG)
    app = identity.create_app_instance(Name="concurrent")["AppInstanceArn"]
    owner = identity.create_app_instance_user(
        AppInstanceArn=app, AppInstanceUserId="owner", Name="Owner"
    )["AppInstanceUserArn"]
    channel = messaging.create_channel(AppInstanceArn=app, Name="busy", ChimeBearer=owner)[
        "ChannelArn"
    ]
    threads, per_thread = 16, 10
    barrier = threading.Barrier(threads)
    results: dict[int, tuple[str, list[str]]] = {}

    def writer(i: int) -> None:
        barrier.wait()
        user = identity.create_app_instance_user(
            AppInstanceArn=app, AppInstanceUserId=f"w{i}", Name=f"Writer {i}"
        )["AppInstanceUserArn"]
        messaging.create_channel_membership(
            ChannelArn=channel, MemberArn=user, Type="DEFAULT", ChimeBearer=owner
        )
        sent = [
            messaging.send_channel_message(
                ChannelArn=channel,
                Content=f"w{i}-{n}",
                Type="STANDARD",
                Persistence="PERSISTENT",
                ChimeBearer=user,
            )["MessageId"]
            for n in range(per_thread)
        ]
        results[i] = (user, sent)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(writer, i) for i in range(threads)]:
            future.result()

    writers = {user for user, _ in results.values()}
    listed: set[str] = set()
    kwargs: dict[str, Any] = {"ChannelArn": channel, "ChimeBearer": owner, "MaxResults": 7}
    while True:
        page = messaging.list_channel_memberships(**kwargs)
        arns = [m["Member"]["Arn"] for m in page["ChannelMemberships"]]
        assert not listed & set(arns), "a membership is listed twice"
        listed |= set(arns)
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert listed == writers | {owner}

    acked = {
        message_id: (i, n) for i, (_, sent) in results.items() for n, message_id in enumerate(sent)
    }
    assert len(acked) == threads * per_thread
    history = _list_all(messaging, channel, owner, "ASCENDING")
    ids = [m["MessageId"] for m in history]
    assert len(ids) == len(set(ids)) == threads * per_thread
    assert set(ids) == set(acked)
    by_writer: dict[int, list[int]] = {}
    for m in history:
        i, n = acked[m["MessageId"]]
        assert m["Content"] == f"w{i}-{n}"
        by_writer.setdefault(i, []).append(n)
    assert all(order == list(range(per_thread)) for order in by_writer.values())


def test_sigterm_drains_and_exits_zero(tmp_path: Path, processes: list[Process]) -> None:
    grace = 3.0
    running = start(tmp_path / "data", free_port(), "--shutdown-grace-seconds", str(grace))
    processes.append(running)
    # (asked at, answered at, status): a request asked just before the signal may be answered
    # after it, with 503, so "before" means answered before and "after" means asked after.
    samples: list[tuple[float, float, int | None]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            asked = time.monotonic()
            status = readyz(running.url)
            samples.append((asked, time.monotonic(), status))
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(0.5)
    signalled = time.monotonic()
    running.proc.send_signal(signal.SIGTERM)
    try:
        code = running.proc.wait(grace + 5)
    finally:
        stop.set()
        poller.join(5)
    exited = time.monotonic()
    assert code == 0, running.output()
    assert exited - signalled < grace + 5
    before = [status for _, answered, status in samples if answered < signalled]
    assert len(before) >= 5
    assert all(status == 200 for status in before), before
    # After the signal it stops being ready (503 while draining, then the port closes).
    after = [status for asked, _, status in samples if asked > signalled + 0.3]
    assert all(status != 200 for status in after), after
    assert readyz(running.url) is None
