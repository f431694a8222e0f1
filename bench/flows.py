"""Durable sends through a channel flow, as a ratio of durable sends without one, same run.

    .venv/bin/python -m bench.flows [--duration 10] [--clients 8] [--source DIR] [--quick]

One ``bellwire serve`` process (the processor's Lambda ARN mapped to a URL of this process); in
this process: closed-loop senders over the lean signed client (``bench/rest.py``) and a
processor that answers each invocation at once (202, then ChannelFlowCallback unchanged, over
its own keep-alive connections). Phase 1 sends to a channel without a flow: a send is done at
its 201. Phase 2 sends to a channel with a flow: a send is done when its callback has answered
200, i.e. when the message is SENT and its CREATE_CHANNEL_MESSAGE published. Reported: each
phase's messages/s and latency, the throughput ratio (target >= 0.5) and the added latency p50
and p99 (target: p50 <= 5 ms). In a closed loop the added latency is mostly the queue that the
flow's lower throughput builds, so both phases run again with one client (``one_client``),
where nothing queues: the added latency there is what the flow itself adds to a message. The
processor shares this process's CPU with the senders, so the flow's own cost (the extra
invocation, callback and commit) is all in the ratio. Each flow phase also reports the p50 of its stages: ``invoke`` (201 to the event reaching the processor),
``to_callback`` (the processor's own turn) and ``callback`` (ChannelFlowCallback's round trip).
``--source DIR`` runs the server from ``DIR/bellwire`` (``bench.ab.export_ref``) for A/B runs.
``--profile FILE`` samples the server with py-spy in both 16-client phases (the plain one into
``plain-FILE``), ``--gil`` only the thread holding the GIL: its Python CPU, part by part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bellwire import webhook
from bench import procs
from bench.rest import Chime, Signer, messages_path
from bench.scenarios import Meter, latency_summary, quick_verdict

ACCESS_KEY_ID = "AKIDBELLWIREBENCHFLOW"
SECRET = "bellwire-bench-flows-secret-key-0123456789"
REGION = "us-east-1"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:bench"
WEBHOOK_SECRET = "bench-webhook-secret"


class Waiters:
    """Futures by MessageId, made by whichever side (send answer, callback) comes first."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[int]] = {}
        # Per message: when its 201 came, the processor got the event, the callback left.
        self.stamps: dict[str, dict[str, int]] = {}
        self.stages: dict[str, list[int]] = {"invoke": [], "to_callback": [], "callback": []}

    def stamp(self, message_id: str, what: str, at_ns: int) -> None:
        self.stamps.setdefault(message_id, {})[what] = at_ns

    def get(self, message_id: str) -> asyncio.Future[int]:
        future = self._futures.get(message_id)
        if future is None:
            future = self._futures[message_id] = asyncio.get_running_loop().create_future()
        return future

    def done(self, message_id: str, at_ns: int) -> None:
        future = self.get(message_id)
        if not future.done():
            future.set_result(at_ns)

    def forget(self, message_id: str, measuring: bool) -> None:
        self._futures.pop(message_id, None)
        at = self.stamps.pop(message_id, {})
        if measuring and len(at) == 4:
            self.stages["invoke"].append(at["event"] - at["sent"])
            self.stages["to_callback"].append(at["callback"] - at["event"])
            self.stages["callback"].append(at["done"] - at["callback"])


async def processor(port: int, server_port: int, signer: Signer, waiters: Waiters) -> web.AppRunner:
    # One keep-alive connection carries one request at a time: a pool, checked out per callback.
    idle: asyncio.Queue[Chime] = asyncio.Queue()
    for _ in range(64):
        idle.put_nowait(Chime("127.0.0.1", server_port, signer))

    async def call_back(event: dict[str, Any]) -> None:
        message = event["ChannelMessage"]
        path = f"/channels/{quote(message['ChannelArn'], safe='')}"
        document = {
            "CallbackId": event["CallbackId"],
            "ChannelMessage": {"MessageId": message["MessageId"]},
        }
        chime = await idle.get()
        waiters.stamp(message["MessageId"], "callback", time.monotonic_ns())
        try:
            status, body = await chime.raw(
                "POST", path, "operation=channel-flow-callback", document
            )
        except Exception as exc:
            print(f"callback failed: {exc!r}", file=sys.stderr)
            return
        finally:
            idle.put_nowait(chime)
        if status == 200:
            waiters.stamp(message["MessageId"], "done", time.monotonic_ns())
            waiters.done(message["MessageId"], time.monotonic_ns())
        else:
            print(f"callback answered {status}: {body[:200]!r}", file=sys.stderr)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        webhook.verify(WEBHOOK_SECRET.encode(), body, request.headers, time.time())
        event = json.loads(body)
        waiters.stamp(event["ChannelMessage"]["MessageId"], "event", time.monotonic_ns())
        asyncio.get_running_loop().create_task(call_back(event))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


COMMIT_SERIES = (
    "bellwire_store_commit_writes_count",
    "bellwire_store_commit_writes_sum",
    "bellwire_store_commit_duration_seconds_sum",
)


async def commit_counters(port: int) -> dict[str, float]:
    """The store's group-commit counters from the server's /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in COMMIT_SERIES:
            values[name] = float(value)
    return values


async def closed_loop(
    chimes: list[Chime],
    path: str,
    users: list[str],
    duration: float,
    waiters: Waiters | None,
    during: Any = None,
    server: procs.Proc | None = None,
    port: int | None = None,
) -> dict[str, Any]:
    latencies: list[int] = []
    stop = False
    measuring = False
    done = 0
    failures = 0

    async def client(k: int) -> None:
        nonlocal done, failures
        while not stop:
            t0 = time.monotonic_ns()
            status, body = await chimes[k].raw(
                "POST", path, "", None, users[k], body=chimes[k].message_body("x" * 64)
            )
            if status != 201:
                failures += 1
                continue
            end = time.monotonic_ns()
            if waiters is not None:
                message_id = json.loads(body)["MessageId"]
                waiters.stamp(message_id, "sent", end)
                end = await asyncio.wait_for(waiters.get(message_id), 30)
                waiters.forget(message_id, measuring)
            if measuring:
                latencies.append(end - t0)
                done += 1

    tasks = [asyncio.ensure_future(client(k)) for k in range(len(chimes))]
    await asyncio.sleep(1.0)
    if waiters is not None:
        for samples in waiters.stages.values():
            samples.clear()
    measuring = True
    started = time.monotonic()
    meter = Meter(server) if server is not None else None
    before = await commit_counters(port) if port is not None else {}
    await (during(duration) if during is not None else asyncio.sleep(duration))
    elapsed = time.monotonic() - started
    usage = meter.read() if meter is not None else {}
    after = await commit_counters(port) if port is not None else {}
    measuring = False
    stop = True
    await asyncio.gather(*tasks)
    stages = {}
    if waiters is not None:
        stages = {
            f"stage_{name}_p50_ms": round(sorted(v)[len(v) // 2] / 1e6, 3)
            for name, v in waiters.stages.items()
            if v
        }
    commits: dict[str, float] = {}
    if before and after and done:
        delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in COMMIT_SERIES}
        n = delta["bellwire_store_commit_writes_count"]
        commits = {
            "commits_per_message": round(n / done, 3),
            "writes_per_commit": round(delta["bellwire_store_commit_writes_sum"] / n, 2)
            if n
            else 0,
            "commit_ms_per_message": round(
                1000 * delta["bellwire_store_commit_duration_seconds_sum"] / done, 3
            ),
        }
    return {
        "messages_per_s": round(done / elapsed, 1),
        **stages,
        **commits,
        "failures": failures,
        **latency_summary(latencies),
        **{k: v for k, v in usage.items() if k != "seconds"},
    }


def _added(through: dict[str, Any], without: dict[str, Any]) -> dict[str, float]:
    return {
        q: round(through[q] - without[q], 3)
        for q in ("p50_ms", "p99_ms")
        if through.get(q) is not None and without.get(q) is not None
    }


async def run(
    duration: float,
    clients: int,
    profile: Path | None = None,
    source: Path | None = None,
    gil: bool = False,
    store: str | None = None,
) -> dict[str, Any]:
    signer = Signer(ACCESS_KEY_ID, SECRET, REGION)
    port, processor_port = procs.free_port(), procs.free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    server_core, lg_core = procs.placement()
    server = procs.Proc(
        "bellwire",
        [
            sys.executable,
            "-m",
            "bellwire",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(workdir / "data"),
            "--log-level",
            "warning",
            "--resource",
            f"{LAMBDA}=http://127.0.0.1:{processor_port}/",
            *(["--store", store] if store else []),
        ],
        env={
            "BELLWIRE_ROOT_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "BELLWIRE_ROOT_SECRET_ACCESS_KEY": SECRET,
            "BELLWIRE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
        core=server_core,
        log=workdir / "server.log",
        # The directory whose bellwire/ the server imports (bench.ab's export of another ref).
        cwd=source,
    )
    procs.pin_self(lg_core)
    waiters = Waiters()
    runner = await processor(processor_port, port, signer, waiters)
    chimes = [Chime("127.0.0.1", port, signer) for _ in range(clients)]
    try:
        procs.wait_port(port, 60.0, server)
        admin = chimes[0]
        app = await admin.create_app_instance("bench-flows")
        users = [await admin.create_user(app, f"u{i}") for i in range(clients)]
        plain = await admin.create_channel(app, users[0], "plain", users[1:10])
        flowing = await admin.create_channel(app, users[0], "flowing", users[1:10])
        for channel in (plain, flowing):
            await admin.add_members(channel, users[0], users[10:])
        flow = await admin.call(
            "POST",
            "/channel-flows",
            document={
                "AppInstanceArn": app,
                "Name": "bench",
                "ClientRequestToken": uuid.uuid4().hex,
                "Processors": [
                    {
                        "Name": "answer-at-once",
                        "ExecutionOrder": 1,
                        "FallbackAction": "ABORT",
                        "Configuration": {
                            "Lambda": {"ResourceArn": LAMBDA, "InvocationType": "ASYNC"}
                        },
                    }
                ],
            },
            expect=201,
        )
        await admin.call(
            "PUT",
            f"/channels/{quote(flowing, safe='')}/channel-flow",
            document={"ChannelFlowArn": flow["ChannelFlowArn"]},
            bearer=users[0],
        )

        def sampled(out: Path | None) -> Any:
            if out is None:
                return None
            from bench.profile import record

            async def during(seconds: float) -> None:
                summary = await record(server.pid, seconds, out, server_core, gil=gil)
                out.with_suffix(".json").write_text(json.dumps(summary, indent=2))

            return during

        plain_profile = None if profile is None else profile.with_name(f"plain-{profile.name}")
        without = await closed_loop(
            chimes,
            messages_path(plain),
            users,
            duration,
            None,
            sampled(plain_profile),
            server=server,
            port=port,
        )
        during = sampled(profile)

        through = await closed_loop(
            chimes, messages_path(flowing), users, duration, waiters, during, server, port
        )
        # The same with one client: no queue, so the added latency is the flow's own.
        alone: dict[str, Any] = {
            "without_flow": await closed_loop(
                chimes[:1],
                messages_path(plain),
                users[:1],
                duration,
                None,
                server=server,
                port=port,
            ),
            "through_flow": await closed_loop(
                chimes[:1], messages_path(flowing), users[:1], duration, waiters, None, server, port
            ),
        }
        alone["added_latency_ms"] = _added(alone["through_flow"], alone["without_flow"])
    finally:
        for chime in chimes:
            chime.close()
        await runner.cleanup()
        server.stop()
    ratio = (
        through["messages_per_s"] / without["messages_per_s"] if without["messages_per_s"] else None
    )
    added = _added(through, without)
    added_alone = alone["added_latency_ms"]
    return {
        "clients": clients,
        "duration_s": duration,
        "without_flow": without,
        "through_flow": through,
        "throughput_ratio": None if ratio is None else round(ratio, 3),
        # Closed loop: with every client waiting on the slower phase, this is mostly the queue
        # its lower throughput builds.
        "added_latency_ms": added,
        "one_client": alone,
        "targets": {
            "throughput_ratio >= 0.5": ratio is not None and ratio >= 0.5,
            "added p50 <= 5 ms, closed loop": added.get("p50_ms", 1e9) <= 5.0,
            "added p50 <= 5 ms, one client": added_alone.get("p50_ms", 1e9) <= 5.0,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--quick", action="store_true", help="one second a phase, two clients: that it runs (CI)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the server during the flow phase into this file (the plain phase into "
        "plain-FILE beside it)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="keep the server's state in PostgreSQL (a database made for the run, dropped after; "
        "$BELLWIRE_TEST_POSTGRES or the local server)",
    )
    parser.add_argument(
        "--gil", action="store_true", help="with --profile: sample only the thread holding the GIL"
    )
    parser.add_argument(
        "--source", type=Path, help="run the server from this directory's bellwire/ package"
    )
    args = parser.parse_args(argv)
    duration, clients = (1.0, 2) if args.quick else (args.duration, args.clients)
    store = None
    if args.postgres:
        from bellwire.testing import DEFAULT_POSTGRES, TEST_POSTGRES_ENV, create_database

        store = create_database(os.environ.get(TEST_POSTGRES_ENV) or DEFAULT_POSTGRES)
    try:
        result = asyncio.run(run(duration, clients, args.profile, args.source, args.gil, store))
    finally:
        procs.stop_all()
        if store is not None:
            from bellwire.testing import drop_database

            drop_database(store)
    print(json.dumps(result, indent=2))
    if args.quick:
        phases = [
            result["without_flow"],
            result["through_flow"],
            *(result["one_client"][k] for k in ("without_flow", "through_flow")),
        ]
        bad = any(p["failures"] or not p["samples"] for p in phases)
        return quick_verdict(
            ["a phase failed sends or measured none"] if bad else [],
            "every phase produced numbers",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
