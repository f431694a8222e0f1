"""The measurements: fan-out, many channels, connect storm, durable sends and idle memory.

Every phase records the load generator's own CPU (``getrusage``) next to the server's
(``/proc/PID/stat``), so a reader can tell when the load generator, not the server, was the
limit. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench import procs, receivers, wsclient
from bench.rest import messages_path
from bench.targets import Bellwire, ManyChannelsApp, Publisher, Target
from bench.wsclient import COUNT, PARSE, SAMPLE, Frame, Totals, WsClient

SAMPLED_SOCKETS = 100  # sockets whose every message's latency is read


@dataclass(frozen=True)
class Sizes:
    quick: bool
    fanout: tuple[int, ...]
    senders: int
    window_msgs: int
    warmup: float
    duration: float
    offered_dps: int
    offered_duration: float
    durable: tuple[int, ...]
    durable_duration: float
    mc_users: int
    mc_per_user: int
    mc_channel_size: int
    mc_connected: float
    mc_senders: int
    mc_duration: float
    storm_sessions: int
    storm_concurrency: int
    memory_sessions: int
    scale_sessions: int = 0  # the idle sessions of the memory-at-scale scenario (0: skipped)


FULL = Sizes(
    quick=False,
    fanout=(1000, 5000),
    senders=32,
    window_msgs=64,
    warmup=1.0,
    duration=5.0,
    offered_dps=50_000,
    offered_duration=5.0,
    durable=(1, 16, 64),
    durable_duration=5.0,
    mc_users=10_000,
    mc_per_user=5,
    mc_channel_size=50,
    mc_connected=0.2,
    mc_senders=32,
    mc_duration=8.0,
    storm_sessions=5_000,
    storm_concurrency=256,
    memory_sessions=10_000,
    scale_sessions=50_000,
)

QUICK = Sizes(
    quick=True,
    fanout=(50,),
    senders=4,
    window_msgs=16,
    warmup=0.2,
    duration=1.0,
    offered_dps=2_000,
    offered_duration=1.0,
    durable=(1, 8),
    durable_duration=0.7,
    mc_users=200,
    mc_per_user=5,
    mc_channel_size=10,
    mc_connected=0.2,
    mc_senders=4,
    mc_duration=1.0,
    storm_sessions=100,
    storm_concurrency=50,
    memory_sessions=200,
)


# --- small tools ------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def quick_verdict(problems: list[str], produced: str) -> int:
    """The exit status of a benchmark's ``--quick`` run, which CI makes only so that the
    benchmark keeps working: its problems, or that it ``produced`` its numbers."""
    if problems:
        print("quick check failed: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"quick check passed: {produced}")
    return 0


def latency_summary(latencies_ns: list[int]) -> dict[str, float | int | None]:
    values = sorted(v / 1e6 for v in latencies_ns)
    return {
        "samples": len(values),
        "p50_ms": _round(percentile(values, 50)),
        "p99_ms": _round(percentile(values, 99)),
        "max_ms": _round(values[-1] if values else None),
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def lg_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Wall time, load-generator CPU and server CPU over one measured window.

    With ``subs``, the load generator includes the receiver process that holds the sockets
    (``receiver_cpu`` is its part of ``loadgen_cpu``)."""

    def __init__(self, server: procs.Proc, subs: receivers.Subscribers | None = None) -> None:
        self.server = server
        self.subs = subs
        self.t0 = time.monotonic()
        self.lg0 = lg_cpu()
        self.rx0 = subs.helper_cpu_seconds() if subs else 0.0
        self.srv0 = server.cpu_seconds()
        self.srv_main0 = server.main_thread_cpu_seconds()
        self.lg_wait0 = procs.runqueue_wait_seconds(os.getpid())
        self.rx_wait0 = subs.helper_wait_seconds() if subs else 0.0
        self.srv_wait0 = server.wait_seconds()

    def read(self) -> dict[str, float]:
        """CPU used and run-queue wait, each in cores (seconds per second of the window)."""
        elapsed = time.monotonic() - self.t0
        lg_wait = procs.runqueue_wait_seconds(os.getpid()) - self.lg_wait0
        rx = rx_wait = 0.0
        if self.subs is not None:
            rx = self.subs.helper_cpu_seconds() - self.rx0
            rx_wait = self.subs.helper_wait_seconds() - self.rx_wait0
        usage = {
            "seconds": round(elapsed, 3),
            "loadgen_cpu": round((lg_cpu() - self.lg0 + rx) / elapsed, 3),
            "server_cpu": round((self.server.cpu_seconds() - self.srv0) / elapsed, 3),
            "loadgen_runq_wait": round((lg_wait + rx_wait) / elapsed, 3),
            "server_runq_wait": round((self.server.wait_seconds() - self.srv_wait0) / elapsed, 3),
        }
        if self.subs is not None:
            usage["receiver_cpu"] = round(rx / elapsed, 3)
        main = self.server.main_thread_cpu_seconds()
        if main is not None and self.srv_main0 is not None:
            # The rest of server_cpu is its other threads' (the store's writer and readers).
            usage["server_loop_cpu"] = round((main - self.srv_main0) / elapsed, 3)
        return usage


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


def content(now_ns: int | None, pad: int) -> str:
    return wsclient.stamp(now_ns) + "x" * pad


def sample_every(count: int) -> Callable[[int], int]:
    step = max(1, count // SAMPLED_SOCKETS)
    return lambda i: SAMPLE if i % step == 0 else COUNT


def close_publishers(publishers: list[Publisher]) -> None:
    for publisher in publishers:
        publisher.close()


# --- fan-out ----------------------------------------------------------------------------------


async def sync_subscribers(
    publisher: Publisher, totals: Totals, count: int, pad: int, tries: int = 10
) -> None:
    """Send until one message reaches every subscriber (all sessions are subscribed)."""
    for _ in range(tries):
        totals.delivered = 0
        if not await publisher.send(content(None, pad)):
            raise RuntimeError("the sync message was refused")
        if await wait_until(lambda: totals.delivered >= count, 3.0):
            await asyncio.sleep(0.05)
            if totals.delivered == count:
                return
    raise RuntimeError(f"only {totals.delivered} of {count} subscribers receive messages")


async def closed_loop(
    publishers: list[Publisher],
    totals: Totals,
    subscribers: int,
    sizes: Sizes,
    pad: int,
    server: procs.Proc,
    during: Callable[[float], Awaitable[Any]] | None = None,
    subs: receivers.Subscribers | None = None,
    rcvlowat: int = 1,
) -> dict[str, Any]:
    """Every publisher sends as fast as it is answered, while the deliveries of all but the
    last ``window_msgs`` messages have arrived (so server buffers stay bounded).

    With ``rcvlowat`` > 1 the counting (not the sampling) sockets are read only once that many
    bytes wait (``SO_RCVLOWAT``), for the measurement only; the drain reads everything."""
    if subs and rcvlowat > 1:
        subs.set_rcvlowat(rcvlowat)
    sent = 0
    accepted = 0
    refused = 0
    stop = False
    progress = asyncio.Event()
    totals.wake = progress.set

    async def sender(publisher: Publisher) -> None:
        nonlocal sent, accepted, refused
        while not stop:
            while (sent - sizes.window_msgs) * subscribers > totals.delivered and not stop:
                totals.wake_at = (sent - sizes.window_msgs) * subscribers
                progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(progress.wait(), 0.5)
            if stop:
                break
            sent += 1
            if await publisher.send(content(None, pad)):
                accepted += 1
            else:
                refused += 1

    start_delivered = totals.delivered
    tasks = [asyncio.ensure_future(sender(p)) for p in publishers]
    try:
        await asyncio.sleep(sizes.warmup)
        meter = Meter(server, subs)
        d0, a0 = totals.delivered, accepted
        totals.latencies_ns = []
        if during is not None:
            await during(sizes.duration)
        else:
            await asyncio.sleep(sizes.duration)
        usage = meter.read()
        d1, a1 = totals.delivered, accepted
        latencies = list(totals.latencies_ns)
    finally:
        stop = True
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60.0)
        totals.wake = None
        totals.wake_at = 1 << 62
        if subs and rcvlowat > 1:
            subs.set_rcvlowat(1)
    expected = start_delivered + accepted * subscribers
    drained = await wait_until(lambda: totals.delivered >= expected, 30.0)
    elapsed = usage["seconds"]
    return {
        "deliveries_per_s": round((d1 - d0) / elapsed),
        "messages_per_s": round((a1 - a0) / elapsed, 1),
        **latency_summary(latencies),
        **usage,
        "refused": refused,
        "sender_errors": [repr(o) for o in outcomes if isinstance(o, BaseException)][:3],
        "undelivered": max(0, expected - totals.delivered) if not drained else 0,
    }


async def on_schedule(count: int, rate: float, one: Callable[[int], Awaitable[None]]) -> None:
    """Start ``one(when_ns)`` for message i at its due time, t0 + i / rate, whatever the answers
    of those before it (an open loop), and wait for them all; ``when_ns`` is the due time, so a
    message that waits for its turn counts the wait."""
    t0 = time.monotonic_ns()
    tasks: list[asyncio.Task[None]] = []
    try:
        for i in range(count):
            when = t0 + int(i * 1e9 / rate)
            delay = (when - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(when)))
        await asyncio.wait_for(asyncio.gather(*tasks), 60.0)
    finally:
        for task in tasks:
            task.cancel()


async def open_loop(
    publishers: list[Publisher],
    totals: Totals,
    subscribers: int,
    deliveries_per_s: int,
    duration: float,
    pad: int,
    server: procs.Proc,
    subs: receivers.Subscribers | None = None,
    rcvlowat: int = 1,
) -> dict[str, Any]:
    """Messages at fixed times (``deliveries_per_s / subscribers`` per second), whatever the
    answers; each carries its *scheduled* time, so queueing delays count (no coordinated
    omission). Latencies come from the sampling sockets, which are read at once; with
    ``rcvlowat`` the counting sockets are read in batches, so that reading thousands of them
    does not delay the samples."""
    if subs and rcvlowat > 1:
        subs.set_rcvlowat(rcvlowat)
    rate = deliveries_per_s / subscribers
    count = max(1, int(rate * duration))
    idle: asyncio.Queue[Publisher] = asyncio.Queue()
    for publisher in publishers:
        idle.put_nowait(publisher)
    accepted = 0
    refused = 0

    async def one(when_ns: int) -> None:
        nonlocal accepted, refused
        publisher = await idle.get()
        try:
            if await publisher.send(content(when_ns, pad)):
                accepted += 1
            else:
                refused += 1
        finally:
            idle.put_nowait(publisher)

    start_delivered = totals.delivered
    totals.latencies_ns = []
    meter = Meter(server, subs)
    await on_schedule(count, rate, one)
    if subs and rcvlowat > 1:
        subs.set_rcvlowat(1)
    expected = start_delivered + accepted * subscribers
    drained = await wait_until(lambda: totals.delivered >= expected, 30.0)
    usage = meter.read()
    return {
        "offered_deliveries_per_s": deliveries_per_s,
        "achieved_deliveries_per_s": round((totals.delivered - start_delivered) / usage["seconds"]),
        **latency_summary(totals.latencies_ns),
        **usage,
        "refused": refused,
        "undelivered": 0 if drained else max(0, expected - totals.delivered),
    }


async def fanout(
    target: Target,
    subscribers: int,
    sizes: Sizes,
    pad: int,
    during: Callable[[float], Awaitable[Any]] | None = None,
    rcvlowat: int = 1,
    receiver: str = "python",
) -> dict[str, Any]:
    """``receiver``: who holds the subscribers' sockets (``c`` or ``python``, see
    ``bench/receivers.py``); its CPU is part of the load generator's."""
    totals = Totals()
    t0 = time.monotonic()
    subs = await target.subscribe(subscribers, totals, sample_every(subscribers), receiver)
    connect_s = time.monotonic() - t0
    publishers: list[Publisher] = []
    try:
        publishers = await target.publishers(sizes.senders)
        await sync_subscribers(publishers[0], totals, subscribers, pad)
        full = await closed_loop(
            publishers,
            totals,
            subscribers,
            sizes,
            pad,
            target.proc,
            during=during,
            subs=subs,
            rcvlowat=rcvlowat,
        )
        offered = await open_loop(
            publishers,
            totals,
            subscribers,
            sizes.offered_dps,
            sizes.offered_duration,
            pad,
            target.proc,
            subs=subs,
            rcvlowat=rcvlowat,
        )
        dropped = subs.dropped()
    finally:
        close_publishers(publishers)
        await subs.close()
    await asyncio.sleep(1.0 if not sizes.quick else 0.2)
    return {
        "receiver": subs.kind,
        "subscribers": subscribers,
        "senders": sizes.senders,
        "connect_seconds": round(connect_s, 2),
        "full_speed": full,
        "offered": offered,
        "sessions_dropped": dropped,
    }


# --- bellwire only: probe, durable sends, many channels -----------------------------------------


async def probe_frame(server: Bellwire) -> dict[str, Any]:
    """One message through the whole path; returns the frame size the baselines must match."""
    assert server.fanout is not None
    totals = Totals()
    size = min(server.fanout.channels)
    user = server.fanout.users[0]
    client = await wsclient.connect(
        server.port, server.connect_target(user), totals, PARSE, host_header=server.host
    )
    chime = server.chime()
    try:
        if not await wait_until(lambda: len(client.frames) >= 1, 10.0):
            raise RuntimeError("no SESSION_ESTABLISHED from bellwire")
        first = client.frames[0].payload
        if b"SESSION_ESTABLISHED" not in first:
            raise RuntimeError(f"first frame is not SESSION_ESTABLISHED: {first[:200]!r}")
        text = content(None, 0)
        status = await chime.send_message(messages_path(server.fanout.channels[size]), user, text)
        if status != 201:
            raise RuntimeError(f"SendChannelMessage answered {status}")
        if not await wait_until(lambda: totals.delivered >= 1, 10.0):
            raise RuntimeError("the probe message was not delivered")
        frame = next(f for f in client.frames if wsclient.MARKER in f.payload)
        header = 2 if len(frame.payload) < 126 else 4 if len(frame.payload) < 65536 else 10
        return {
            "frame_bytes": len(frame.payload) + header,
            "payload_bytes": len(frame.payload),
            "content_bytes": len(text),
        }
    finally:
        chime.close()
        client.abort()


async def durable_sends(
    server: Bellwire, clients_count: int, duration: float, during: Callable[[float], Any] | None
) -> dict[str, Any]:
    """Closed-loop SendChannelMessage from ``clients_count`` connections (one bearer each)."""
    assert server.fanout is not None
    path = messages_path(server.fanout.durable_channel)
    users = server.fanout.users
    chimes = [server.chime() for _ in range(clients_count)]
    latencies: list[int] = []
    statuses: dict[int, int] = {}
    stop = False
    measuring = False

    async def client(k: int) -> None:
        while not stop:
            t0 = time.monotonic_ns()
            status = await chimes[k].send_message(path, users[k], content(t0, 0))
            if measuring:
                latencies.append(time.monotonic_ns() - t0)
                statuses[status] = statuses.get(status, 0) + 1

    tasks = [asyncio.ensure_future(client(k)) for k in range(clients_count)]
    try:
        await asyncio.sleep(0.5 if duration >= 2 else 0.1)
        measuring = True
        meter = Meter(server.proc)
        if during is not None:
            await during(duration)
        else:
            await asyncio.sleep(duration)
        usage = meter.read()
        measuring = False
    finally:
        stop = True
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60.0)
        for chime in chimes:
            chime.close()
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "clients": clients_count,
        "requests_per_s": round(ok / usage["seconds"], 1),
        **latency_summary(latencies),
        **usage,
        "non_2xx": {str(s): n for s, n in statuses.items() if not 200 <= s < 300},
    }


async def many_channels(
    server: Bellwire, mc: ManyChannelsApp, sizes: Sizes, seed: int = 11
) -> dict[str, Any]:
    """20 % of the users connected; senders pick a random channel and a random member of it:
    90 % SendChannelMessage, 10 % ListChannelMessages (a read), closed loop."""
    rng = random.Random(seed)
    connected = sorted(
        rng.sample(range(len(mc.users)), max(1, int(len(mc.users) * sizes.mc_connected)))
    )
    online = set(connected)
    reach = [sum(1 for m in members if m in online) for members in mc.channels]
    totals = Totals()
    clients = await wsclient.connect_many(
        len(connected),
        lambda i: server.connect_target(mc.users[connected[i]]),
        server.port,
        totals,
        lambda _i: SAMPLE,
        host_header=server.host,
    )
    # Sessions subscribe once their snapshot is read; give them a moment, then check below.
    await asyncio.sleep(0.5)
    chimes = [server.chime() for _ in range(sizes.mc_senders)]
    paths = [messages_path(arn) for arn in mc.arns]
    sends = 0
    reads = 0
    failures = 0
    expected = 0
    rest_latencies: list[int] = []
    stop = False
    measuring = False

    async def sender(k: int) -> None:
        nonlocal sends, reads, failures, expected
        local = random.Random(seed * 1000 + k)
        while not stop:
            j = local.randrange(len(mc.channels))
            bearer = mc.users[local.choice(mc.channels[j])]
            t0 = time.monotonic_ns()
            if local.random() < 0.9:
                status = await chimes[k].send_message(paths[j], bearer, content(t0, 0))
                ok = status == 201
                if ok:
                    expected += reach[j]
                    sends += measuring
            else:
                ok = await chimes[k].list_messages(paths[j], bearer) == 200
                reads += measuring
            failures += not ok
            if measuring:
                rest_latencies.append(time.monotonic_ns() - t0)

    tasks = [asyncio.ensure_future(sender(k)) for k in range(sizes.mc_senders)]
    try:
        await asyncio.sleep(sizes.warmup)
        measuring = True
        totals.latencies_ns = []
        d0 = totals.delivered
        meter = Meter(server.proc)
        await asyncio.sleep(sizes.mc_duration)
        usage = meter.read()
        measuring = False
        d1 = totals.delivered
        latencies = list(totals.latencies_ns)
    finally:
        stop = True
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60.0)
        for chime in chimes:
            chime.close()
    drained = await wait_until(lambda: totals.delivered >= expected, 30.0)
    dropped = sum(1 for c in clients if c.lost)
    wsclient.close_all(clients)
    await asyncio.sleep(1.0 if not sizes.quick else 0.2)
    rest = latency_summary(rest_latencies)
    return {
        "users": len(mc.users),
        "channels": len(mc.channels),
        "members_per_channel": sizes.mc_channel_size,
        "channels_per_user": sizes.mc_per_user,
        "connected_sessions": len(connected),
        "senders": sizes.mc_senders,
        "deliveries_per_s": round((d1 - d0) / usage["seconds"]),
        "sends_per_s": round(sends / usage["seconds"], 1),
        "reads_per_s": round(reads / usage["seconds"], 1),
        "delivery": latency_summary(latencies),
        "request_p99_ms": rest["p99_ms"],
        **usage,
        "failures": failures,
        "undelivered": 0 if drained else max(0, expected - totals.delivered),
        "sessions_dropped": dropped,
    }


# --- connect storm and memory (all targets) -----------------------------------------------------


@dataclass
class _Arrival:
    started: int
    established: int = 0
    done: int = 0
    details: int = 0


async def connect_storm(
    port: int,
    targets: list[str],
    server: procs.Proc,
    concurrency: int,
    details_expected: int,
    host_header: str | None = None,
    established_marker: bytes | None = b"SESSION_ESTABLISHED",
    during: Callable[[float], Awaitable[Any]] | None = None,
) -> dict[str, Any]:
    """Open every connection (``concurrency`` in flight); a session counts as established at
    its SESSION_ESTABLISHED (or, for a baseline, at the 101) and as done once its
    ``details_expected`` CHANNEL_DETAILS arrived."""
    totals = Totals()
    arrivals: dict[int, _Arrival] = {}
    clients: list[WsClient] = []
    failures: list[str] = []
    semaphore = asyncio.Semaphore(concurrency)
    finished = asyncio.Event()
    remaining = len(targets)

    def finish_one() -> None:
        nonlocal remaining
        semaphore.release()
        remaining -= 1
        if remaining == 0:
            finished.set()

    def check(arrival: _Arrival) -> None:
        if arrival.established and not arrival.done and arrival.details >= details_expected:
            arrival.done = time.monotonic_ns()
            finish_one()

    def on_frame(client: WsClient, frame: Frame) -> None:
        arrival = arrivals[id(client)]
        head = frame.payload[:120]
        if established_marker is not None and established_marker in head:
            arrival.established = time.monotonic_ns()
        elif b'"CHANNEL_DETAILS"' in head:
            arrival.details += 1
        elif frame.opcode == 0x8 and not arrival.done:
            failures.append(f"closed {frame.payload[:2].hex()} {frame.payload[2:80]!r}")
            arrival.done = -1
            finish_one()
            return
        check(arrival)

    async def one(target: str) -> None:
        await semaphore.acquire()
        arrival = _Arrival(time.monotonic_ns())
        try:
            client = await wsclient.connect(
                port, target, totals, PARSE, host_header=host_header, timeout=60.0
            )
        except (OSError, TimeoutError) as exc:
            failures.append(repr(exc))
            finish_one()
            return
        clients.append(client)
        arrivals[id(client)] = arrival
        if established_marker is None:
            arrival.established = time.monotonic_ns()
        client.on_frame = on_frame
        frames, client.frames = client.frames, []
        for frame in frames:  # frames that came with the 101
            on_frame(client, frame)
        check(arrival)

    meter = Meter(server)
    t0 = time.monotonic_ns()
    tasks = [asyncio.ensure_future(one(t)) for t in targets]
    if during is not None:  # a profiler sampling the first seconds of the storm
        tasks.append(asyncio.ensure_future(during(3.0)))
    try:
        await asyncio.wait_for(finished.wait(), 120.0)
        usage = meter.read()
        await asyncio.wait_for(asyncio.gather(*tasks[len(targets) :]), 60.0)
    finally:
        for task in tasks:
            task.cancel()
        wsclient.close_all(clients)
        await asyncio.sleep(0.5)  # let the server see the resets before it is stopped
    done = [a for a in arrivals.values() if a.done > 0]
    last_established = max((a.established for a in done), default=t0 + 1)
    last_done = max((a.done for a in done), default=t0 + 1)
    return {
        "sessions": len(targets),
        "completed": len(done),
        "concurrency": concurrency,
        "established_per_s": round(len(done) / ((last_established - t0) / 1e9), 1),
        "completed_per_s": round(len(done) / ((last_done - t0) / 1e9), 1),
        "to_established": latency_summary([a.established - a.started for a in done]),
        "to_all_details": latency_summary([a.done - a.started for a in done]),
        "details_per_session": details_expected,
        **usage,
        "failures": len(failures),
        "first_failures": failures[:3],
    }


async def idle_memory(
    port: int,
    targets: list[str],
    server: procs.Proc,
    host_header: str | None = None,
    established_marker: bytes | None = b"SESSION_ESTABLISHED",
    settle: float = 2.0,
    sources: int = 1,
) -> dict[str, Any]:
    """Server RSS before and after ``len(targets)`` idle established sessions, and the time
    to establish them. ``sources``: loopback addresses to connect from, 25,000 sessions each."""
    # One session first, so lazily built state (reader threads, caches) is in "before".
    warm = await wsclient.connect(port, targets[0], Totals(), PARSE, host_header=host_header)
    await asyncio.sleep(0.3)
    warm.abort()
    await asyncio.sleep(0.5)
    before = server.rss_kib()
    started = time.monotonic()
    clients = await wsclient.connect_many(
        len(targets),
        lambda i: targets[i],
        port,
        Totals(),
        lambda _i: PARSE,
        concurrency=200,
        host_header=host_header,
        timeout=600.0,
        source_of=(lambda i: f"127.0.0.{2 + i % sources}") if sources > 1 else None,
    )
    seconds = time.monotonic() - started
    try:
        if established_marker is not None:
            marker = established_marker
            ok = await wait_until(
                lambda: all(any(marker in f.payload for f in c.frames) for c in clients),
                300.0,
                step=0.2,
            )
            if not ok:
                raise RuntimeError("not every session was established")
        seconds = time.monotonic() - started
        await asyncio.sleep(settle)
        after = server.rss_kib()
        lost = sum(1 for c in clients if c.lost)
    finally:
        wsclient.close_all(clients)
        await asyncio.sleep(0.5)  # let the server see the resets before it is stopped
    sessions = len(targets)
    return {
        "sessions": sessions,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_session": round((after - before) / sessions, 2),
        "sessions_lost": lost,
        "seconds_to_establish": round(seconds, 1),
    }


async def idle_memory_scale(
    port: int,
    paths: list[str],
    rss_kib: Callable[[], int],
    *,
    host_header: str,
    sources: int,
    per_process: int,
    concurrency: int = 200,
    timeout: float = 600.0,
    settle: float = 3.0,
    server_closes: Callable[[], dict[str, int]] | None = None,
) -> dict[str, Any]:
    """Server RSS (``rss_kib``: of every server process) before and after ``len(paths)``
    idle established sessions held by C receivers, ``per_process`` each (each process has an
    open-files limit of its own), and the time to establish them. ``sources``: loopback
    addresses to connect from (one has about 28,000 ephemeral ports towards one port)."""
    warm = await wsclient.connect(port, paths[0], Totals(), PARSE, host_header=host_header)
    await asyncio.sleep(0.3)
    warm.abort()
    await asyncio.sleep(1.0)
    before = rss_kib()
    totals = Totals()
    started = time.monotonic()
    groups = await receivers.subscribe_spread(
        port,
        paths[1:],
        totals,
        per_process=per_process,
        host_header=host_header,
        source_of=(lambda i: f"127.0.0.{2 + i % sources}") if sources > 1 else None,
        concurrency=concurrency,
        timeout=timeout,
    )
    upgraded = time.monotonic() - started
    try:
        # bellwire's 101 leaves in the same write as SESSION_ESTABLISHED (one frame each).
        sessions = len(paths) - 1

        async def frames() -> int:
            for group in groups:
                await group.settle()
            return sum(g.frames for g in groups)

        deadline = time.monotonic() + 120.0
        while (got := await frames()) < sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if got < sessions:
            raise RuntimeError(
                f"{got} of {sessions} sessions got SESSION_ESTABLISHED "
                f"(close codes of the others: {totals.close_codes})"
            )
        seconds = time.monotonic() - started
        await asyncio.sleep(settle)
        after = rss_kib()
        lost = sum(g.dropped() for g in groups)
        codes = {str(code): n for code, n in sorted(totals.close_codes.items())}
        # The server's side of the same ends: a 1006 it counted itself was its own drop (a
        # missed pong, say); one it did not count ended below it (the kernel, the receiver).
        seen = await asyncio.to_thread(server_closes) if server_closes is not None else {}
    finally:
        for group in groups:
            await group.close()
        await asyncio.sleep(1.0)  # let the server see the resets before it is stopped
    return {
        "sessions": sessions,
        "receiver_processes": len(groups),
        "connects_in_flight": concurrency * len(groups),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_session": round((after - before) / sessions, 2),
        "sessions_lost": lost,
        # Why they ended, by close code (1006: no close frame).
        "close_codes": codes,
        "server_closes": seen,
        "seconds_to_upgraded": round(upgraded, 1),
        "seconds_to_establish": round(seconds, 1),
        "established_per_s": round(sessions / seconds, 1),
    }
