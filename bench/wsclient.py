"""A minimal, fast WebSocket client for the load generator (RFC 6455, client side only).

Clients here send nothing but pongs and receive only unmasked server frames, so most of a
client is the handshake. Three ways of reading, from cheapest to dearest:

- ``COUNT``: deliveries are counted with ``bytes.count`` of a marker that each benchmark message
  carries exactly once (``bwts`` followed by the send time in nanoseconds); one C-speed scan per
  read, however many frames the read holds. A server ping (``89 00``) is answered with a pong.
- ``SAMPLE``: as COUNT, plus every marker's timestamp is read (a regex) and its latency kept.
- ``PARSE``: a real frame parser (for connect storms and probes): frame sizes, event types,
  close codes.

Markers split across two reads are found by keeping the last bytes of the previous read.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

MARKER = b"bwts"
TS_DIGITS = 19
TS_RE = re.compile(rb"bwts(\d{19})")
TAIL = len(MARKER) + TS_DIGITS - 1
PING = b"\x89\x00"
PONG = b"\x8a\x80\x00\x00\x00\x00"  # masked (key 0) empty pong
COUNT, SAMPLE, PARSE = 0, 1, 2
MAX_SAMPLES = 2_000_000


def stamp(now_ns: int | None = None) -> str:
    """The marker of one message: ``bwts`` + monotonic nanoseconds (system-wide clock)."""
    return f"bwts{time.monotonic_ns() if now_ns is None else now_ns:019d}"


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame with the all-zero key (valid; the payload is sent as is)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + b"\x00\x00\x00\x00" + payload


def handshake(host: str, target: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


@dataclass
class Totals:
    """What all clients of one phase received; shared by the clients of the phase."""

    delivered: int = 0
    bytes: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    closed: int = 0
    close_codes: dict[int, int] = field(default_factory=dict)
    # Called when ``delivered`` reaches ``wake_at`` (flow control of the senders).
    wake_at: int = 1 << 62
    wake: Callable[[], None] | None = None

    def reset(self) -> None:
        self.delivered = 0
        self.bytes = 0
        self.latencies_ns = []


@dataclass
class Frame:
    opcode: int
    payload: bytes


class WsClient(asyncio.Protocol):
    def __init__(self, request: bytes, totals: Totals, mode: int) -> None:
        self.request = request
        self.totals = totals
        self.mode = mode
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.head = b""
        self.tail = b""
        self.frames: list[Frame] = []  # PARSE mode
        self.parse_buffer = bytearray()
        self.on_frame: Callable[[WsClient, Frame], None] | None = None
        self.started_ns = time.monotonic_ns()
        self.lost = False

    # --- asyncio callbacks ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 16384:
                    self._fail("handshake response too large")
                return
            status = self.head[9:12]
            data = self.head[end + 4 :]
            self.head = b""
            if status != b"101":
                self._fail(f"handshake answered {status.decode(errors='replace')}")
                return
            self.upgraded.set_result(True)
            if not data:
                return
        if self.mode == PARSE:
            self._parse(data)
            return
        totals = self.totals
        tail = self.tail
        # A 4-byte marker in 3 + 3 bytes must straddle the two reads.
        found = data.count(MARKER) + (tail[-3:] + data[:3]).count(MARKER)
        if self.mode == SAMPLE:
            now = time.monotonic_ns()
            latencies = totals.latencies_ns
            if len(latencies) < MAX_SAMPLES:
                for match in TS_RE.finditer(data):
                    latencies.append(now - int(match.group(1)))
                if tail:
                    for match in TS_RE.finditer(tail + data[:TAIL]):
                        if match.start() < len(tail) < match.end():
                            latencies.append(now - int(match.group(1)))
        if PING in data or tail[-1:] + data[:1] == PING:
            assert self.transport is not None
            self.transport.write(PONG)
        self.tail = (tail + data)[-TAIL:] if len(data) < TAIL else data[-TAIL:]
        totals.bytes += len(data)
        if found:
            totals.delivered += found
            if totals.delivered >= totals.wake_at and totals.wake is not None:
                totals.wake()

    def _parse(self, data: bytes) -> None:
        buf = self.parse_buffer
        buf += data
        while len(buf) >= 2:
            opcode = buf[0] & 0x0F
            size = buf[1] & 0x7F
            offset = 2
            if size == 126:
                if len(buf) < 4:
                    return
                size = int.from_bytes(buf[2:4], "big")
                offset = 4
            elif size == 127:
                if len(buf) < 10:
                    return
                size = int.from_bytes(buf[2:10], "big")
                offset = 10
            if len(buf) < offset + size:
                return
            frame = Frame(opcode, bytes(buf[offset : offset + size]))
            del buf[: offset + size]
            if opcode == 0x9:
                assert self.transport is not None
                self.transport.write(client_frame(frame.payload, 0xA))
            elif opcode == 0x8:
                code = int.from_bytes(frame.payload[:2], "big") if len(frame.payload) >= 2 else 1005
                self.totals.close_codes[code] = self.totals.close_codes.get(code, 0) + 1
            if MARKER in frame.payload:
                self.totals.delivered += frame.payload.count(MARKER)
            if self.on_frame is not None:
                self.on_frame(self, frame)
            else:
                self.frames.append(frame)

    def _fail(self, reason: str) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.totals.closed += 1
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed before upgrade: {exc}"))

    # --- use --------------------------------------------------------------------------------------

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(payload))

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()


async def connect(
    port: int,
    target: str,
    totals: Totals,
    mode: int,
    *,
    host_header: str | None = None,
    timeout: float = 30.0,
    source: str | None = None,
) -> WsClient:
    """Open one upgraded connection to 127.0.0.1:port (the only address benchmarks use);
    ``source``, a loopback address to connect from (one address has ~28,000 ports)."""
    loop = asyncio.get_running_loop()
    request = handshake(host_header or f"127.0.0.1:{port}", target)
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: WsClient(request, totals, mode),
            "127.0.0.1",
            port,
            local_addr=(source, 0) if source else None,
        ),
        timeout,
    )
    await asyncio.wait_for(client.upgraded, timeout)
    return client


async def connect_many(
    count: int,
    make_target: Callable[[int], str],
    port: int,
    totals: Totals,
    mode_of: Callable[[int], int],
    *,
    concurrency: int = 200,
    timeout: float = 180.0,
    host_header: str | None = None,
    source_of: Callable[[int], str | None] | None = None,
) -> list[WsClient]:
    """Open ``count`` connections, ``concurrency`` at a time; raise if any fails."""
    clients: list[WsClient | None] = [None] * count
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with semaphore:
            clients[index] = await connect(
                port,
                make_target(index),
                totals,
                mode_of(index),
                host_header=host_header,
                source=source_of(index) if source_of else None,
            )

    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    except BaseException:
        for task in tasks:
            task.cancel()
        for client in clients:
            if client is not None:
                client.abort()
        raise
    return [c for c in clients if c is not None]


def set_rcvlowat(clients: list[WsClient], size: int, mode: int = COUNT) -> int:
    """``SO_RCVLOWAT`` on the sockets of ``mode`` clients: the kernel wakes the reader only
    once ``size`` bytes are queued, so one read takes several frames. Used while measuring
    throughput, so that the load generator's per-read cost (a wakeup, a syscall, a callback)
    is not what limits a server that writes one frame per socket write; ``size=1`` restores
    the default. Returns how many sockets took it."""
    done = 0
    for client in clients:
        if client.mode != mode or client.transport is None or client.lost:
            continue
        sock = client.transport.get_extra_info("socket")
        if sock is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
        except OSError:
            continue
        done += 1
    return done


def close_all(clients: list[WsClient]) -> None:
    for client in clients:
        client.abort()
