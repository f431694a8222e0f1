"""Helpers of the messaging-session (WebSocket) tests: a real server, real sockets, no mocks.

- :class:`World` wraps one app instance on a running server: users, channels and messages made
  through the real REST API with boto3 (thread-safe: boto3 clients are, and every call is
  blocking, so async tests run them with :func:`off`).
- :func:`connect_url` presigns ``/connect`` exactly as the JS SDK does.
- :class:`Client` is a ``websockets`` client that collects and decodes every frame in the
  background; tests read them with a cursor (``next``, ``until``, ``quiet``).
- :class:`RawSocket` does the upgrade by hand for what a polite client would never do (never
  read, never answer a ping, send a malformed frame).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import os
import re
import secrets
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bellwire.aws.sigv4 import EMPTY_SHA256, derive_signing_key, presign_connect_url
from bellwire.events import Event, EventType, decode
from bellwire.testing import RunningServer

P = ParamSpec("P")
T = TypeVar("T")

TIMEOUT = 10.0  # generous: a frame that is due arrives in milliseconds on loopback
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_ids = itertools.count(1)


async def off(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking (boto3) call in a thread so the test's sockets keep being served."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def join_all(threads: Iterable[threading.Thread]) -> None:
    for thread in threads:
        thread.join()


def run_all(threads: list[threading.Thread]) -> None:
    """Start them all (together: the race between them is what a test makes), then wait."""
    for thread in threads:
        thread.start()
    join_all(threads)


# --- the REST side ---------------------------------------------------------------------------


@dataclass
class World:
    """One app instance on a running server, driven through boto3."""

    running: RunningServer
    identity: Any
    messaging: Any
    app_arn: str
    users: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, running: RunningServer, name: str = "ws") -> World:
        identity = running.client("chime-sdk-identity")
        messaging = running.client("chime-sdk-messaging")
        app_arn = identity.create_app_instance(Name=f"{name}-{uuid.uuid4().hex[:6]}")[
            "AppInstanceArn"
        ]
        return cls(running, identity, messaging, app_arn)

    def user(self, user_id: str | None = None, name: str | None = None) -> str:
        user_id = user_id or f"u{next(_ids)}-{secrets.token_hex(3)}"
        arn: str = self.identity.create_app_instance_user(
            AppInstanceArn=self.app_arn, AppInstanceUserId=user_id, Name=name or user_id
        )["AppInstanceUserArn"]
        self.users[user_id] = arn
        return arn

    def admin(self, user_arn: str) -> None:
        self.identity.create_app_instance_admin(
            AppInstanceArn=self.app_arn, AppInstanceAdminArn=user_arn
        )

    def delete_user(self, user_arn: str) -> None:
        self.identity.delete_app_instance_user(AppInstanceUserArn=user_arn)

    def channel(
        self, creator: str, members: Iterable[str] = (), name: str | None = None, **kw: Any
    ) -> str:
        extra = list(members)
        if extra:
            kw["MemberArns"] = extra
        arn: str = self.messaging.create_channel(
            AppInstanceArn=self.app_arn,
            Name=name or f"ch-{uuid.uuid4().hex[:8]}",
            ChimeBearer=creator,
            **kw,
        )["ChannelArn"]
        return arn

    def add(self, channel: str, member: str, by: str, type_: str = "DEFAULT") -> None:
        self.messaging.create_channel_membership(
            ChannelArn=channel, MemberArn=member, Type=type_, ChimeBearer=by
        )

    def remove(self, channel: str, member: str, by: str) -> None:
        self.messaging.delete_channel_membership(
            ChannelArn=channel, MemberArn=member, ChimeBearer=by
        )

    def send(
        self,
        channel: str,
        sender: str,
        content: str = "hello",
        type_: str = "STANDARD",
        persistence: str = "PERSISTENT",
        target: str | None = None,
        **kw: Any,
    ) -> str:
        if target is not None:
            kw["Target"] = [{"MemberArn": target}]
        message_id: str = self.messaging.send_channel_message(
            ChannelArn=channel,
            ChimeBearer=sender,
            Content=content,
            Type=type_,
            Persistence=persistence,
            **kw,
        )["MessageId"]
        return message_id


# --- connecting ------------------------------------------------------------------------------


def connect_url(
    running: RunningServer,
    user_arn: str,
    *,
    session_id: str | None = None,
    prefetch: bool = False,
    sort_by: str | None = None,
    now: datetime | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    """A ``ws://`` connect URL signed like the JS SDK's ``DefaultSigV4.signURL``."""
    params = {
        "X-Amzn-Version": "3.32.0",
        "X-Amzn-User-Agent": "node-NaN",
        "sessionId": session_id or str(secrets.randbelow(1 << 32)),
        "userArn": user_arn,
    }
    if prefetch:
        params["prefetch-on"] = "connect"
    if sort_by is not None:
        params["prefetch-sort-by"] = sort_by
    params.update(extra or {})
    return presign_connect_url(
        host=running.endpoint_host,
        access_key_id=access_key_id or running.access_key_id,
        secret_access_key=secret_access_key or running.secret_access_key,
        session_token=None,
        region=region or running.region,
        params=params,
        now=now or datetime.now(UTC),
        scheme="ws",
    )


def presign_pairs(running: RunningServer, pairs: list[tuple[str, str]], expires: int = 10) -> str:
    """A ``ws://`` connect URL presigned over exactly these parameters, repeats included
    (``presign_connect_url`` takes a mapping, botocore's presigner keeps the first of a repeated
    key): SigV4 with ``host`` only, every parameter in the canonical query."""
    now = datetime.now(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{running.region}/chime/aws4_request"
    signed = [
        *pairs,
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{running.access_key_id}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in signed)
    query = "&".join(f"{k}={v}" for k, v in encoded)
    host = running.endpoint_host
    canonical = f"GET\n/connect\n{query}\nhost:{host}\n\nhost\n{EMPTY_SHA256}"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{digest}"
    key = derive_signing_key(running.secret_access_key, amz_date[:8], running.region, "chime")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"ws://{host}/connect?{query}&X-Amz-Signature={signature}"


class Client:
    """A websockets client whose frames are collected and decoded in the background."""

    def __init__(self, ws: ClientConnection, user_arn: str) -> None:
        self.ws = ws
        self.user_arn = user_arn
        self.events: list[Event] = []
        self.raw: list[str | bytes] = []
        self.cursor = 0
        self._arrived = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self.raw.append(frame)
                self.events.append(decode(frame))
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self._arrived.set()

    @property
    def closed(self) -> bool:
        return self._reader.done()

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    async def _wait(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        self._arrived.clear()
        await asyncio.wait_for(self._arrived.wait(), remaining)

    async def next(self, timeout: float = TIMEOUT) -> Event:
        """The next unread event (fails if the socket closes first)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.cursor >= len(self.events):
            if self.closed:
                raise AssertionError(
                    f"socket closed with {self.close_code} {self.ws.close_reason!r} "
                    f"while an event was expected"
                )
            await self._wait(deadline)
        event = self.events[self.cursor]
        self.cursor += 1
        return event

    async def take(self, count: int, timeout: float = TIMEOUT) -> list[Event]:
        return [await self.next(timeout) for _ in range(count)]

    async def until(
        self, match: Callable[[Event], bool] | str, timeout: float = TIMEOUT
    ) -> list[Event]:
        """Every unread event up to and including the first that matches."""
        test = (lambda e: e.type == match) if isinstance(match, str) else match
        seen: list[Event] = []
        while True:
            event = await self.next(timeout)
            seen.append(event)
            if test(event):
                return seen

    async def quiet(self, seconds: float = 0.3) -> None:
        """Assert that nothing new arrives for a while."""
        await asyncio.sleep(seconds)
        assert self.cursor == len(self.events), [
            (e.type, e.payload) for e in self.events[self.cursor :]
        ]

    async def closed_with(self, timeout: float = TIMEOUT) -> int | None:
        """Wait for the server to close the socket; the close code it sent."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(asyncio.shield(self._reader), TIMEOUT)


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("max_queue", None)
    kwargs.setdefault("compression", None)
    kwargs.setdefault("proxy", None)
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", 2)
    return await connect(url, **kwargs)


async def session(
    running: RunningServer,
    user_arn: str,
    *,
    established: bool = True,
    ws_options: dict[str, Any] | None = None,
    **url_options: Any,
) -> Client:
    """Connect as ``user_arn`` (signed by root) and, by default, wait for SESSION_ESTABLISHED."""
    ws = await open_ws(connect_url(running, user_arn, **url_options), **(ws_options or {}))
    client = Client(ws, user_arn)
    if established:
        first = await client.next()
        assert first.type == EventType.SESSION_ESTABLISHED, first
    return client


class Sessions:
    """Opens sessions on one server and closes whatever is still open at the end of a test."""

    def __init__(self, running: RunningServer) -> None:
        self.running = running
        self.opened: list[Client] = []

    async def __call__(self, user_arn: str, **options: Any) -> Client:
        client = await session(self.running, user_arn, **options)
        self.opened.append(client)
        return client

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self.opened), return_exceptions=True)


async def refused(url: str) -> tuple[int | None, str]:
    """Connect to a URL the server must refuse after the upgrade: (close code, reason)."""
    ws = await open_ws(url)
    client = Client(ws, "")
    code = await client.closed_with()
    assert client.events == [], "a refused session must receive no event"
    return code, ws.close_reason or ""


def of_type(events: Iterable[Event], kind: str) -> list[Event]:
    return [e for e in events if e.type == kind]


def message_ids(events: Iterable[Event]) -> list[str]:
    return [e.payload["MessageId"] for e in events if e.payload and "MessageId" in e.payload]


def contents(events: Iterable[Event], kind: str = EventType.CREATE_CHANNEL_MESSAGE) -> list[str]:
    return [e.payload["Content"] for e in events if e.type == kind and e.payload]


# --- the raw socket ---------------------------------------------------------------------------


class RawSocket:
    """A TCP socket that did the WebSocket upgrade by hand and does whatever the test says."""

    def __init__(self, sock: socket.socket, leftover: bytes) -> None:
        self.sock = sock
        self.leftover = leftover

    @classmethod
    def open(cls, url: str, *, rcvbuf: int | None = None, timeout: float = TIMEOUT) -> RawSocket:
        parts = urlsplit(url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window is small from the start
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError(f"connection closed during the upgrade: {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock, rest)

    def send_frame(
        self, opcode: int, payload: bytes, *, mask: bool = True, fin: bool = True
    ) -> None:
        self.sock.sendall(frame_bytes(opcode, payload, mask=mask, fin=fin))

    def read_frames(self, timeout: float = TIMEOUT) -> list[tuple[int, bytes]]:
        """Read until the server closes (or a close frame arrives); every (opcode, payload)."""
        self.sock.settimeout(timeout)
        data = self.leftover
        self.leftover = b""
        frames: list[tuple[int, bytes]] = []
        while True:
            parsed, data = parse_frames(data)
            frames += parsed
            if any(op == 0x8 for op, _ in parsed):
                return frames
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return frames
            if not chunk:
                return frames
            data += chunk

    def close(self) -> None:
        self.sock.close()


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (EOF or reset), reading whatever it sends."""
    began = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, ssl.SSLError):  # a TLS socket may end in an alert
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {limit} s") from None
    return time.monotonic() - began


def frame_bytes(opcode: int, payload: bytes, *, mask: bool = True, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    mask_bit = 0x80 if mask else 0
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not mask:
        return header + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + masked


def parse_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    frames: list[tuple[int, bytes]] = []
    while len(data) >= 2:
        opcode = data[0] & 0x0F
        size = data[1] & 0x7F
        offset = 2
        if size == 126:
            if len(data) < 4:
                break
            size = struct.unpack("!H", data[2:4])[0]
            offset = 4
        elif size == 127:
            if len(data) < 10:
                break
            size = struct.unpack("!Q", data[2:10])[0]
            offset = 10
        if len(data) < offset + size:
            break
        frames.append((opcode, data[offset : offset + size]))
        data = data[offset + size :]
    return frames, data


def close_code_of(frames: list[tuple[int, bytes]]) -> int | None:
    for opcode, payload in frames:
        if opcode == 0x8 and len(payload) >= 2:
            code: int = struct.unpack("!H", payload[:2])[0]
            return code
    return None


# --- the server side -------------------------------------------------------------------------


def hub_sessions(running: RunningServer, user_arn: str) -> int:
    """How many live sessions the server's hub holds for a user (read on the server loop)."""

    async def count() -> int:
        return len(running.server.hub.sessions_of(user_arn))

    result: int = running.run(count())
    return result


async def eventually(
    check: Callable[[], bool], timeout: float = TIMEOUT, step: float = 0.02
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)
