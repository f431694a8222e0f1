"""Calling an operator's HTTP endpoint in place of an AWS service: signed, bounded, retried.

A channel flow's processor (a Lambda function in AWS), a streaming export's sink, a bot or a
push target are all reached the same way: bellwire POSTs a JSON body to the URL that the
``[resources]`` map gives for the resource's ARN. This module is that one way.

Signing (pure): ``sign`` makes the headers, ``verify`` checks them. The signature is
HMAC-SHA256 over ``"<timestamp>." + body`` with a secret that the operator shares with the
endpoint (``webhook_secret``), in the header ``X-Bellwire-Signature: v1=<hex>``, next to
``X-Bellwire-Timestamp: <unix seconds>``. An endpoint that checks the signature and refuses
timestamps outside a few minutes knows the request came from this server and is not a replay
(docs/webhooks.md has a verification snippet without any bellwire import).

Calling (asyncio shell): :class:`WebhookCaller` posts with a timeout per attempt, retries a
bounded number of times with exponential backoff and jitter (connection errors, timeouts, 429
and 5xx; never another 4xx or a redirect), and bounds how many calls are in flight at once.
A caller that must not wait for a free place asks with ``wait=False`` and gets an ``Outcome``
saying ``busy`` at once: a slow or dead endpoint then costs its own feature, never the event
loop or the other callers.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import os
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from bellwire.config import Settings

SIGNATURE_HEADER = "X-Bellwire-Signature"
TIMESTAMP_HEADER = "X-Bellwire-Timestamp"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300  # seconds either side of the receiver's clock
MAX_RESPONSE_BYTES = 64 << 10  # what is kept of an answer's body


class SignatureError(ValueError):
    """A request whose signature headers are missing, malformed, stale or wrong."""


def _mac(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = _keyed(secret).copy()
    mac.update(timestamp.encode() + b"." + body)
    return mac.hexdigest()


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    # The key's padded states, made once per secret (RFC 2104): each call copies them.
    return hmac.new(secret, digestmod=hashlib.sha256)


def sign(secret: bytes, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers that let an endpoint check that ``body`` comes from the holder of
    ``secret``, at ``timestamp`` (unix seconds)."""
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    stamp = str(int(timestamp))
    return {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={_mac(secret, stamp, body)}",
    }


def verify(
    secret: bytes,
    body: bytes,
    headers: Mapping[str, str],
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Raise :class:`SignatureError` unless ``headers`` sign ``body`` with ``secret`` within
    ``tolerance`` seconds of ``now``. Header names are matched case-insensitively; several
    ``v1=`` values (a secret being rotated) are accepted if any matches."""
    lower = {k.lower(): v for k, v in headers.items()}
    stamp = lower.get(TIMESTAMP_HEADER.lower())
    signature = lower.get(SIGNATURE_HEADER.lower())
    if stamp is None or signature is None:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    if not stamp.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds, got {stamp!r}")
    if abs(now - int(stamp)) > tolerance:
        raise SignatureError(f"{TIMESTAMP_HEADER} {stamp} is more than {tolerance:g} s off")
    expected = _mac(secret, stamp, body)
    candidates = [
        value
        for version, _, value in (p.strip().partition("=") for p in signature.split(","))
        if version == SIGNATURE_VERSION
    ]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("the signature does not match the body")


# --- retry policy (pure) ---------------------------------------------------------------------


def retryable(status: int | None) -> bool:
    """Whether an attempt that ended so is worth another: no answer at all (None: a connection
    error or a timeout), Too Many Requests, or a server error. A 4xx says the request itself is
    refused, a 3xx is not followed (a webhook must not be redirected elsewhere)."""
    return status is None or status == 429 or status >= 500


def backoff(
    attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """The wait before retry ``attempt`` (1, 2, ...): full jitter on ``base * 2**(attempt-1)``,
    at most ``cap``, so retries of many calls that failed together spread out."""
    return float(min(cap, base * 2.0 ** (attempt - 1)) * rand())


# --- HTTP/1.1 framing (pure) ------------------------------------------------------------------

MAX_HEAD_BYTES = 64 << 10  # an answer's status line and headers


@dataclass(frozen=True, slots=True)
class Head:
    """An answer's status line and the headers that frame its body."""

    status: int
    length: int | None  # Content-Length; None when chunked or delimited by the close
    chunked: bool
    keep_alive: bool  # whether the connection may carry another request after the body


def parse_head(raw: bytes) -> Head:
    """Parse ``raw`` (status line and headers, up to the blank line); ValueError if malformed."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"malformed header line: {line[:80]!r}")
        fields[name.strip().lower()] = value.strip()
    chunked = "chunked" in fields.get("transfer-encoding", "").lower()
    length: int | None = None
    if not chunked and "content-length" in fields:
        text = fields["content-length"]
        if not text.isdigit():
            raise ValueError(f"malformed Content-Length: {text[:40]!r}")
        length = int(text)
    status = int(code)
    if status in (204, 304) or 100 <= status < 200:
        length, chunked = 0, False  # no body, whatever the headers say
    connection = fields.get("connection", "").lower()
    keep_alive = (
        (version == "HTTP/1.1" and "close" not in connection)
        or (version == "HTTP/1.0" and "keep-alive" in connection)
    ) and (chunked or length is not None)
    return Head(status, length, chunked, keep_alive)


def request_head(
    path: str, host: str, headers: Mapping[str, str], length: int, user_agent: str
) -> bytes:
    """The head of a POST whose body is ``length`` bytes."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {user_agent}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class AnswerReader:
    """One answer's bytes in, its head and body out (sans I/O): interim 1xx answers skipped,
    bodies framed by Content-Length, chunks or the connection's end, at most
    MAX_RESPONSE_BYTES of a body kept."""

    __slots__ = ("_buf", "_head", "_kept", "_parts")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: Head | None = None
        self._parts: list[bytes] = []  # a chunked body's chunks so far
        self._kept = 0

    def feed(self, data: bytes) -> tuple[Head, bytes, bool] | None:
        """The answer once complete: its head, its body, and whether both were read whole and
        nothing followed (only then may the connection carry another request). ValueError if
        the answer is malformed."""
        buf = self._buf
        buf += data
        while self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise ValueError("the answer's headers are too long")
                return None
            head = parse_head(bytes(buf[: end + 4]))
            del buf[: end + 4]
            if not 100 <= head.status < 200:  # an interim answer: the final one follows
                self._head = head
        head = self._head
        if head.chunked:
            return self._chunks(head)
        if head.length is None:  # delimited by the close (``eof``), unless too long
            if len(buf) >= MAX_RESPONSE_BYTES:
                return head, bytes(buf[:MAX_RESPONSE_BYTES]), False
            return None
        if head.length > MAX_RESPONSE_BYTES:
            if len(buf) >= MAX_RESPONSE_BYTES:
                return head, bytes(buf[:MAX_RESPONSE_BYTES]), False
            return None
        if len(buf) < head.length:
            return None
        return head, bytes(buf[: head.length]), len(buf) == head.length

    def _chunks(self, head: Head) -> tuple[Head, bytes, bool] | None:
        buf = self._buf
        while True:
            end = buf.find(b"\r\n")
            if end < 0:
                return None
            size = int(bytes(buf[:end]).split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                if buf[end + 2 : end + 4] == b"\r\n":  # no trailers
                    rest = len(buf) - (end + 4)
                elif (trailers := buf.find(b"\r\n\r\n", end)) >= 0:
                    rest = len(buf) - (trailers + 4)
                else:
                    return None
                return head, b"".join(self._parts), rest == 0
            if self._kept + size > MAX_RESPONSE_BYTES:
                if len(buf) - end - 2 < MAX_RESPONSE_BYTES - self._kept:
                    return None
                self._parts.append(bytes(buf[end + 2 : end + 2 + MAX_RESPONSE_BYTES - self._kept]))
                return head, b"".join(self._parts), False
            if len(buf) < end + 2 + size + 2:
                return None
            self._parts.append(bytes(buf[end + 2 : end + 2 + size]))
            self._kept += size
            del buf[: end + 2 + size + 2]

    def eof(self) -> tuple[Head, bytes, bool] | None:
        """At the connection's end: a body delimited by it is complete; any other answer was
        cut short (None)."""
        head = self._head
        if head is None or head.chunked or head.length is not None:
            return None
        return head, bytes(self._buf[:MAX_RESPONSE_BYTES]), False


# --- the caller (asyncio) --------------------------------------------------------------------


class _Stale(Exception):
    """A kept-alive connection was closed by the endpoint before it answered anything."""


class _Link(asyncio.Protocol):
    """One connection to an endpoint, one request at a time: the request written, the answer
    fed to an ``AnswerReader`` as it arrives, one future resolved when it is complete."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.deadline = 0.0
        self._reader: AnswerReader | None = None
        self._answer: asyncio.Future[tuple[Head, bytes, bool]] | None = None
        self._heard = False  # any byte of the current answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def request(self, data: bytes) -> asyncio.Future[tuple[Head, bytes, bool]]:
        assert self.transport is not None
        self._reader = AnswerReader()
        self._heard = False
        self._answer = answer = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return answer

    def data_received(self, data: bytes) -> None:
        answer, reader = self._answer, self._reader
        if answer is None or reader is None or answer.done():
            self.fail(None)  # bytes nobody asked for: the connection is not to be trusted
            return
        self._heard = True
        try:
            done = reader.feed(data)
        except ValueError as exc:
            self.fail(exc)
            return
        if done is not None:
            self._answer = None
            answer.set_result(done)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer, self._answer = self._answer, None
        if answer is None or answer.done():
            return
        done = self._reader.eof() if self._reader is not None else None
        if done is not None:
            answer.set_result(done)
        elif not self._heard:
            answer.set_exception(_Stale())
        else:
            answer.set_exception(ConnectionResetError("the endpoint closed the connection"))

    def fail(self, exc: BaseException | None) -> None:
        """End the connection, failing the answer awaited (if any) with ``exc``."""
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done() and exc is not None:
            answer.set_exception(exc)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _Connections:
    """Keep-alive HTTP/1.1 connections to plain ``http://`` endpoints, one request at a time
    each. aiohttp's client costs several times the CPU of the POST itself per call (its
    request/response objects, timers and tasks); a channel flow makes one call per message, so
    the plain-HTTP case has this lean path and everything else (https) stays on aiohttp. A
    call's deadline is checked by one timer for all the calls in flight (``_check``), not one
    timer each."""

    def __init__(self, user_agent: str) -> None:
        self._user_agent = user_agent
        self._idle: dict[tuple[str, int], list[_Link]] = {}
        self._busy: set[_Link] = set()
        self._checking: asyncio.TimerHandle | None = None
        self._targets: dict[str, tuple[str, int, str, str]] = {}

    def _target(self, url: str) -> tuple[str, int, str, str]:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.hostname is None:
                raise ValueError(f"no host in {url!r}")
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = (parts.hostname, parts.port or 80, path, parts.netloc.rpartition("@")[2])
            if len(self._targets) < 1024:  # URLs come from the resource map: few
                self._targets[url] = target
        return target

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, bytes]:
        """The answer's status and body; TimeoutError past ``timeout`` (connecting included)."""
        host, port, path, host_header = self._target(url)
        request = request_head(path, host_header, headers, len(body), self._user_agent) + body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        idle = self._idle.setdefault((host, port), [])
        while idle:
            link = idle.pop()
            if link.closed:
                continue
            try:
                return await self._exchange(link, request, idle, deadline)
            except _Stale:
                continue  # closed while idle: nothing was processed; try another connection
        async with asyncio.timeout_at(deadline):
            _, link = await loop.create_connection(_Link, host, port)
        try:
            return await self._exchange(link, request, idle, deadline)
        except _Stale as exc:
            raise ConnectionResetError("the endpoint closed the connection") from exc

    async def _exchange(
        self, link: _Link, request: bytes, idle: list[_Link], deadline: float
    ) -> tuple[int, bytes]:
        link.deadline = deadline
        self._busy.add(link)
        if self._checking is None:
            self._arm()
        try:
            head, answer, whole = await link.request(request)
        except BaseException:
            link.fail(None)
            raise
        finally:
            self._busy.discard(link)
        if head.keep_alive and whole and not link.closed:
            idle.append(link)
        else:
            link.fail(None)
        return head.status, answer

    def _arm(self) -> None:
        self._checking = asyncio.get_running_loop().call_later(_CHECK_SECONDS, self._check)

    def _check(self) -> None:
        self._checking = None
        now = asyncio.get_running_loop().time()
        for link in [link for link in self._busy if link.deadline <= now]:
            link.fail(TimeoutError())
        if self._busy:
            self._arm()

    def close(self) -> None:
        for idle in self._idle.values():
            for link in idle:
                link.fail(None)
        self._idle.clear()
        for link in list(self._busy):
            link.fail(ConnectionAbortedError("the webhook caller is closed"))
        if self._checking is not None:
            self._checking.cancel()
            self._checking = None


# How often the calls in flight are checked against their deadlines: a call times out at
# most this much after its deadline.
_CHECK_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended. ``ok``: a 2xx. ``busy``: refused before any attempt because the bound
    on calls in flight was reached (only with ``wait=False``)."""

    ok: bool
    status: int | None = None  # the last attempt's HTTP status (None: no answer)
    attempts: int = 0
    error: str = ""  # why the last attempt failed, for logs and failure details
    body: bytes = b""  # the 2xx answer's body, at most MAX_RESPONSE_BYTES
    busy: bool = False


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    timeout: float = 10.0  # seconds per attempt, connecting included
    retries: int = 2  # attempts after the first (Lambda's asynchronous invocations: 2)
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_in_flight: int = 256

    @classmethod
    def of(cls, settings: Settings) -> WebhookSettings:
        """From the server's ``webhook_*`` settings (one caller per process uses them)."""
        return cls(
            timeout=settings.webhook_timeout_seconds,
            retries=settings.webhook_retries,
            max_in_flight=settings.webhook_max_in_flight,
        )


class WebhookCaller:
    """POSTs signed JSON bodies; one per process (it owns one aiohttp connection pool)."""

    def __init__(
        self,
        secret: bytes,
        settings: WebhookSettings = WebhookSettings(),
        *,
        clock: Callable[[], float] | None = None,
        user_agent: str = "bellwire-webhook",
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret must not be empty")
        self._secret = secret
        self.settings = settings
        self._clock = clock
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._plain = _Connections(user_agent)
        self._in_flight = 0
        self._waiters: asyncio.Semaphore | None = None
        self._closed = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _now(self) -> float:
        return self._clock() if self._clock is not None else time.time()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
                # The pool is bounded by max_in_flight already; no per-host cap beyond it.
                connector=aiohttp.TCPConnector(limit=self.settings.max_in_flight, limit_per_host=0),
                headers={"User-Agent": self._user_agent},
            )
        return self._session

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        wait: bool = True,
        content_type: str = "application/json",
    ) -> Outcome:
        """POST ``body`` to ``url``, signed, retrying as the settings say. Never raises for
        what the endpoint or the network does: the outcome says it. With ``wait=False`` a call
        over the bound on calls in flight is not queued but answered ``busy``."""
        if self._closed:
            return Outcome(False, error="the webhook caller is closed")
        if self._waiters is None:
            self._waiters = asyncio.Semaphore(self.settings.max_in_flight)
        if not wait and self._waiters.locked():
            return Outcome(False, busy=True, error="too many webhook calls in flight")
        async with self._waiters:
            self._in_flight += 1
            try:
                return await self._attempts(url, body, headers or {}, content_type)
            finally:
                self._in_flight -= 1

    async def _attempts(
        self, url: str, body: bytes, headers: Mapping[str, str], content_type: str
    ) -> Outcome:
        s = self.settings
        status: int | None = None
        error = ""
        attempt = 0
        for attempt in range(1, s.retries + 2):
            if attempt > 1:
                await asyncio.sleep(backoff(attempt - 1, s.backoff_base, s.backoff_cap))
            # Signed per attempt: a retry minutes later must still be within the tolerance.
            signed = {
                "Content-Type": content_type,
                **headers,
                **sign(self._secret, body, int(self._now())),
            }
            try:
                if url.startswith("http://"):
                    status, answer = await self._plain.post(url, body, signed, s.timeout)
                else:
                    async with self._client().post(
                        url, data=body, headers=signed, allow_redirects=False
                    ) as response:
                        status = response.status
                        answer = await response.content.read(MAX_RESPONSE_BYTES)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError, EOFError) as exc:
                status, error = None, _describe(exc, s.timeout)
            else:
                if 200 <= status < 300:
                    return Outcome(True, status, attempt, body=answer)
                error = f"HTTP {status}"
            if not retryable(status) or self._closed:
                break
        return Outcome(False, status, attempt, error=error)

    async def close(self) -> None:
        self._closed = True
        self._plain.close()
        if self._session is not None:
            await self._session.close()
            self._session = None


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


SECRET_FILE = "webhook-secret"


def load_or_create_secret(data_dir: Path, configured: str) -> bytes:
    """The configured secret, else the one kept in the data dir, else a new one written there
    readable by the owner only (an operator reads it from there to configure endpoints)."""
    if configured:
        return configured.encode()
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip().encode()
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret.encode()
