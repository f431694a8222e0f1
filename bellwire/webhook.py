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
import hashlib
import hmac
import os
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

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
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


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


# --- the caller (asyncio) --------------------------------------------------------------------


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
                async with self._client().post(
                    url, data=body, headers=signed, allow_redirects=False
                ) as response:
                    status = response.status
                    answer = await response.content.read(MAX_RESPONSE_BYTES)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
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
