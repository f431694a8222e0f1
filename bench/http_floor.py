"""What HTTP alone costs a REST request: aiohttp against a bare asyncio protocol.

    .venv/bin/python -m bench.http_floor [--clients 64] [--seconds 4] [--rounds 2]

Two servers that do no work of their own, each a process pinned to one core: one on aiohttp
(the server bellwire's REST API runs on) and one a bare ``asyncio.Protocol`` that splits heads
and bodies by ``Content-Length``. Both answer every request with a send's 201 and body. The
load generator (this process, on the other core) posts a SendChannelMessage's head and body
over ``--clients`` keep-alive connections (``bench/rest.py``), closed loop. Reported per
server: requests/s and the server's CPU per request, A B B A ``--rounds`` times. The
difference is what aiohttp costs a request, the floor under every REST figure of bellwire.

    .venv/bin/python -m bench.http_floor --idle [--rounds 2]

One client, one request at a time, p50 of 50 after 10, back to back and 50 ms apart, servers
not pinned: the bare protocol against the same protocol sending each request through a worker
thread and back (a ``SimpleQueue`` there, ``call_soon_threadsafe`` back, as bellwire's store
writer does): what a thread hop costs a request that finds the server idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import statistics
import sys
import threading
import time
from typing import Any

from bench import procs
from bench.rest import HttpConnection

ANSWER = json.dumps(
    {
        "ChannelArn": "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c",
        "MessageId": "0" * 32,
        "Status": {"Value": "SENT"},
    }
).encode()
REQUEST_ID = "0" * 36
PATH = (
    "/channels/arn%3Aaws%3Achime%3Aus-east-1%3A123456789012%3Aapp-instance%2Fa%2Fchannel%2Fc"
    "/messages"
)
BODY = json.dumps(
    {
        "Content": "hello",
        "Type": "STANDARD",
        "Persistence": "PERSISTENT",
        "ClientRequestToken": "t" * 32,
    }
).encode()


def serve_aiohttp(port: int) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            status=201,
            body=ANSWER,
            headers={"Content-Type": "application/json", "x-amzn-RequestId": REQUEST_ID},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class _Hop:
    """A worker thread that hands each request back to the loop, as the store's writer does."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[tuple[asyncio.Future[None], asyncio.AbstractEventLoop]]
        self.queue = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            future, loop = self.queue.get()
            loop.call_soon_threadsafe(future.set_result, None)

    async def through(self) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue.put((future, loop))
        await future


_HOP: _Hop | None = None  # set in a "hop" server's process


class _Bare(asyncio.Protocol):
    """Heads parsed into text, bodies split by Content-Length, each request answered from a
    task, as a handler is: the least a server in Python does per request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            # What any server must do with a head: its request line and its headers as text.
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            method, target, _ = lines[0].decode("ascii").split(" ")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.decode("ascii").lower()] = value.strip().decode("latin-1")
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            asyncio.get_running_loop().create_task(self._answer(method, target, headers, body))

    async def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        if _HOP is not None:
            await _HOP.through()
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
            b"x-amzn-RequestId: " + REQUEST_ID.encode() + b"\r\n"
            b"Content-Length: " + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER
        )


def serve_bare(port: int, hop: bool = False) -> None:
    global _HOP
    if hop:
        _HOP = _Hop()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Bare, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


async def _load(port: int, clients: int, seconds: float) -> int:
    headers = [
        ("host", f"127.0.0.1:{port}"),
        ("content-type", "application/json"),
        ("x-amz-date", "20261204T120000Z"),
        ("x-amz-chime-bearer", "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/u1"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/chime/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-chime-bearer;x-amz-date, Signature=" + "0" * 64,
        ),
        ("user-agent", "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux lang/python#3.11"),
    ]
    connections = [HttpConnection("127.0.0.1", port) for _ in range(clients)]
    done = 0
    stop = time.monotonic() + seconds

    async def closed_loop(connection: HttpConnection) -> None:
        nonlocal done
        while time.monotonic() < stop:
            status, _ = await connection.request("POST", PATH, headers, BODY)
            if status != 201:
                raise RuntimeError(f"the server answered {status}")
            done += 1

    try:
        await asyncio.gather(*(closed_loop(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()
    return done


async def _one_at_a_time(port: int, gap: float) -> float:
    connection = HttpConnection("127.0.0.1", port)
    headers = [("host", f"127.0.0.1:{port}")]
    latencies = []
    try:
        for _ in range(60):
            started = time.perf_counter()
            await connection.request("POST", PATH, headers, BODY)
            latencies.append((time.perf_counter() - started) * 1e3)
            if gap:
                await asyncio.sleep(gap)
    finally:
        connection.close()
    return statistics.median(latencies[10:])


def idle(kind: str) -> dict[str, float]:
    port = procs.free_port()
    server = procs.Proc(
        kind, [sys.executable, "-m", "bench.http_floor", "--serve", kind, "--port", str(port)]
    )
    try:
        procs.wait_port(port, 30.0, server)
        return {
            "back_to_back_p50_ms": asyncio.run(_one_at_a_time(port, 0.0)),
            "50_ms_apart_p50_ms": asyncio.run(_one_at_a_time(port, 0.05)),
        }
    finally:
        server.stop()


def measure(kind: str, clients: int, seconds: float) -> dict[str, float]:
    server_core, load_core = procs.placement()
    port = procs.free_port()
    server = procs.Proc(
        kind,
        [sys.executable, "-m", "bench.http_floor", "--serve", kind, "--port", str(port)],
        core=server_core,
    )
    try:
        procs.wait_port(port, 30.0, server)
        procs.pin_self(load_core)
        asyncio.run(_load(port, clients, 0.5))  # connections made, code warm
        cpu = server.cpu_seconds()
        started = time.monotonic()
        requests = asyncio.run(_load(port, clients, seconds))
        elapsed = time.monotonic() - started
        cpu = server.cpu_seconds() - cpu
    finally:
        server.stop()
    return {"requests_per_s": requests / elapsed, "cpu_us_per_request": cpu / requests * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--idle", action="store_true", help="one client: a thread hop's cost")
    parser.add_argument("--serve", choices=("aiohttp", "bare", "hop"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        if args.serve == "aiohttp":
            serve_aiohttp(args.port)
        else:
            serve_bare(args.port, hop=args.serve == "hop")
        return 0
    if args.idle:
        try:
            for _ in range(args.rounds):
                for kind in ("bare", "hop", "hop", "bare"):
                    figures = idle(kind)
                    print(kind, json.dumps({k: round(v, 3) for k, v in figures.items()}))
        finally:
            procs.stop_all()
        return 0
    runs: dict[str, list[dict[str, float]]] = {"aiohttp": [], "bare": []}
    try:
        for _ in range(args.rounds):
            for kind in ("aiohttp", "bare", "bare", "aiohttp"):
                runs[kind].append(measure(kind, args.clients, args.seconds))
                last = runs[kind][-1]
                print(
                    f"{kind:8} {last['requests_per_s']:9,.0f} requests/s "
                    f"{last['cpu_us_per_request']:6.1f} µs of server CPU per request",
                    flush=True,
                )
    finally:
        procs.stop_all()
    summary: dict[str, Any] = {
        kind: {
            key: round(statistics.median(r[key] for r in results), 1)
            for key in ("requests_per_s", "cpu_us_per_request")
        }
        for kind, results in runs.items()
    }
    summary["aiohttp_us_per_request"] = round(
        summary["aiohttp"]["cpu_us_per_request"] - summary["bare"]["cpu_us_per_request"], 1
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
