"""The webhook caller: signing vectors, the retry policy, and calls to a real loopback server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bellwire import webhook
from bellwire.webhook import Outcome, SignatureError, WebhookCaller, WebhookSettings

SECRET = b"topsecret"
# Computed with `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac topsecret`.
VECTOR = "6a939b0c71853d606167625a15168ee9188c6a511c773ef4f42d307f3849e50f"


def test_sign_matches_an_independent_hmac() -> None:
    headers = webhook.sign(SECRET, b'{"a":1}', 1700000000)
    assert headers == {
        "X-Bellwire-Timestamp": "1700000000",
        "X-Bellwire-Signature": f"v1={VECTOR}",
    }


def test_verify_accepts_the_signature_in_any_header_case_and_a_rotation_list() -> None:
    headers = {"x-bellwire-timestamp": "1700000000", "X-BELLWIRE-SIGNATURE": f"v1=00, v1={VECTOR}"}
    webhook.verify(SECRET, b'{"a":1}', headers, now=1700000100)


@pytest.mark.parametrize(
    ("body", "headers", "now", "message"),
    [
        (b'{"a":2}', {"X-Bellwire-Timestamp": "1700000000"}, 1700000000, "missing"),
        (b'{"a":2}', webhook.sign(SECRET, b'{"a":1}', 1700000000), 1700000000, "does not match"),
        (b'{"a":1}', webhook.sign(b"other", b'{"a":1}', 1700000000), 1700000000, "does not match"),
        (b'{"a":1}', webhook.sign(SECRET, b'{"a":1}', 1700000000), 1700000301, "off"),
        (
            b'{"a":1}',
            {"X-Bellwire-Timestamp": "soon", "X-Bellwire-Signature": "v1=" + VECTOR},
            1700000000,
            "unix seconds",
        ),
        (
            b'{"a":1}',
            {"X-Bellwire-Timestamp": "1700000000", "X-Bellwire-Signature": "v0=" + VECTOR},
            1700000000,
            "does not match",
        ),
    ],
)
def test_verify_refuses(body: bytes, headers: dict[str, str], now: float, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        webhook.verify(SECRET, body, headers, now=now)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        webhook.sign(b"", b"", 0)
    with pytest.raises(ValueError, match="empty"):
        WebhookCaller(b"")


@pytest.mark.parametrize(
    ("status", "again"),
    [
        (None, True),
        (429, True),
        (500, True),
        (503, True),
        (400, False),
        (403, False),
        (404, False),
        (302, False),
    ],
)
def test_which_failures_are_retried(status: int | None, again: bool) -> None:
    assert webhook.retryable(status) is again


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    assert [webhook.backoff(n, 0.5, 3.0, lambda: 1.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert webhook.backoff(3, 0.5, 3.0, lambda: 0.25) == 0.5


# --- against a real server on loopback --------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def endpoint() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/hook", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


FAST = WebhookSettings(timeout=2.0, retries=2, backoff_base=0.01, backoff_cap=0.02)


async def test_the_endpoint_can_verify_what_it_receives(
    endpoint: Callable[..., Awaitable[str]],
) -> None:
    seen: list[tuple[bytes, dict[str, str]]] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((body, dict(request.headers)))
        webhook.verify(SECRET, body, request.headers, now=time.time())
        return web.json_response({"accepted": True}, status=202)

    url = await endpoint(handler)
    caller = WebhookCaller(SECRET, FAST)
    try:
        outcome = await caller.post(url, b'{"hello":"world"}')
    finally:
        await caller.close()
    assert outcome == Outcome(True, 202, 1, body=b'{"accepted": true}')
    assert seen[0][0] == b'{"hello":"world"}'
    assert seen[0][1]["Content-Type"] == "application/json"


async def test_server_errors_are_retried_until_success(
    endpoint: Callable[..., Awaitable[str]],
) -> None:
    statuses = [503, 500, 200]

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=statuses.pop(0))

    caller = WebhookCaller(SECRET, FAST)
    try:
        outcome = await caller.post(await endpoint(handler), b"{}")
    finally:
        await caller.close()
    assert (outcome.ok, outcome.status, outcome.attempts) == (True, 200, 3)


async def test_retries_are_bounded(endpoint: Callable[..., Awaitable[str]]) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=500)

    caller = WebhookCaller(SECRET, FAST)
    try:
        outcome = await caller.post(await endpoint(handler), b"{}")
    finally:
        await caller.close()
    assert (outcome.ok, outcome.status, outcome.attempts, outcome.error) == (
        False,
        500,
        3,
        "HTTP 500",
    )
    assert calls == 3


async def test_a_client_error_is_not_retried(endpoint: Callable[..., Awaitable[str]]) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=403)

    caller = WebhookCaller(SECRET, FAST)
    try:
        outcome = await caller.post(await endpoint(handler), b"{}")
    finally:
        await caller.close()
    assert (outcome.ok, outcome.status, outcome.attempts, calls) == (False, 403, 1, 1)


async def test_a_silent_endpoint_times_out(endpoint: Callable[..., Awaitable[str]]) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    caller = WebhookCaller(SECRET, WebhookSettings(timeout=0.2, retries=1, backoff_base=0.01))
    try:
        outcome = await caller.post(await endpoint(handler), b"{}")
    finally:
        release.set()
        await caller.close()
    assert (outcome.ok, outcome.status, outcome.attempts) == (False, None, 2)
    assert "no answer within 0.2 s" in outcome.error


async def test_an_unreachable_endpoint_fails_without_raising() -> None:
    # A port that was just free: nothing listens there.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caller = WebhookCaller(SECRET, FAST)
    try:
        outcome = await caller.post(f"http://127.0.0.1:{port}/hook", b"{}")
    finally:
        await caller.close()
    assert (outcome.ok, outcome.status, outcome.attempts) == (False, None, 3)
    assert outcome.error


async def test_calls_in_flight_are_bounded(endpoint: Callable[..., Awaitable[str]]) -> None:
    release = asyncio.Event()
    inside = 0
    most = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await release.wait()
        inside -= 1
        return web.Response(status=204)

    url = await endpoint(handler)
    caller = WebhookCaller(SECRET, WebhookSettings(timeout=5.0, retries=0, max_in_flight=2))
    try:
        queued = [asyncio.create_task(caller.post(url, b"{}")) for _ in range(5)]
        while inside < 2:  # both places taken, both requests at the endpoint
            await asyncio.sleep(0.01)
        assert caller.in_flight == 2
        # Over the bound, a caller that must not wait is answered at once.
        busy = await caller.post(url, b"{}", wait=False)
        assert busy.busy and not busy.ok and busy.attempts == 0
        release.set()
        outcomes = await asyncio.gather(*queued)
    finally:
        await caller.close()
    assert all(o.ok and o.status == 204 for o in outcomes)
    assert most == 2


async def test_a_closed_caller_refuses() -> None:
    caller = WebhookCaller(SECRET, FAST)
    await caller.close()
    outcome = await caller.post("http://127.0.0.1:9/hook", b"{}")
    assert not outcome.ok and "closed" in outcome.error


def test_the_secret_is_configured_or_kept_in_the_data_dir(tmp_path: Path) -> None:
    assert webhook.load_or_create_secret(tmp_path, "given") == b"given"
    assert not (tmp_path / webhook.SECRET_FILE).exists()
    made = webhook.load_or_create_secret(tmp_path, "")
    assert len(made) >= 32
    assert (tmp_path / webhook.SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert webhook.load_or_create_secret(tmp_path, "") == made  # the same after a restart


# --- the plain-HTTP path's framing and connections ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", webhook.Head(202, 0, False, True)),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            webhook.Head(200, None, True, False),
        ),
        # Neither length nor chunks: the body ends with the connection.
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
            webhook.Head(200, None, False, False),
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", webhook.Head(200, 2, False, False)),
        (
            b"HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 2\r\n\r\n",
            webhook.Head(200, 2, False, True),
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", webhook.Head(204, 0, False, True)),
        (
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
            webhook.Head(307, 0, False, True),
        ),
    ],
)
def test_answer_heads_are_framed(raw: bytes, expected: webhook.Head) -> None:
    assert webhook.parse_head(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    ],
)
def test_malformed_heads_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        webhook.parse_head(raw)


def test_the_request_head() -> None:
    head = webhook.request_head("/a?b=1", "h:8080", {"X-A": "1"}, 12, "ua")
    assert head == (
        b"POST /a?b=1 HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: ua\r\nX-A: 1\r\n"
        b"Content-Length: 12\r\n\r\n"
    )


async def test_calls_reuse_one_connection_and_read_chunked_answers(
    endpoint: Callable[..., Awaitable[str]],
) -> None:
    peers: list[object] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        response = web.StreamResponse(status=200)
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"x" * 70_000)  # more than is kept
        await response.write(b"end")
        await response.write_eof()
        return response

    async def small(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        response = web.StreamResponse(status=201)
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"hello ")
        await response.write(b"world")
        await response.write_eof()
        return response

    big_url, small_url = await endpoint(handler), await endpoint(small)
    caller = WebhookCaller(SECRET, FAST)
    try:
        first = await caller.post(small_url, b"{}")
        second = await caller.post(small_url, b"{}")
        big = await caller.post(big_url, b"{}")
    finally:
        await caller.close()
    assert first == second == Outcome(True, 201, 1, body=b"hello world")
    assert peers[0] == peers[1]  # kept alive
    assert big.ok and big.body == b"x" * webhook.MAX_RESPONSE_BYTES


async def test_a_connection_the_endpoint_closed_while_idle_is_replaced() -> None:
    answered = 0

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers one request as if keeping the connection, then closes it.
        nonlocal answered
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        answered += 1
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    caller = WebhookCaller(SECRET, FAST)
    try:
        first = await caller.post(f"http://127.0.0.1:{port}/", b"{}")
        await asyncio.sleep(0.05)  # the close reaches the caller's idle connection
        second = await caller.post(f"http://127.0.0.1:{port}/", b"{}")
    finally:
        await caller.close()
        server.close()
        await server.wait_closed()
    assert first == second == Outcome(True, 202, 1)
    assert answered == 2


def _fed(reader: webhook.AnswerReader, raw: bytes, step: int) -> Any:
    done = None
    for i in range(0, len(raw), step):
        assert done is None, "complete before its last byte"
        done = reader.feed(raw[i : i + step])
    return done


@pytest.mark.parametrize("step", [1, 7, 1 << 20])
@pytest.mark.parametrize(
    ("raw", "status", "body", "whole"),
    [
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello", 202, b"hello", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
        (  # an interim answer first
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            200, b"ok", True,
        ),
        (  # chunks, an extension and trailers
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6;x=y\r\nhello \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n",
            200, b"hello world", True,
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200, b"", True),
    ],
)  # fmt: skip
def test_an_answer_is_read_whole_however_its_bytes_arrive(
    raw: bytes, status: int, body: bytes, whole: bool, step: int
) -> None:
    head, got, read_whole = _fed(webhook.AnswerReader(), raw, step)
    assert (head.status, got, read_whole) == (status, body, whole)


def test_answers_that_leave_the_connection_unusable_say_so() -> None:
    # Bytes after the body: the endpoint does not frame its answers as it says.
    reader = webhook.AnswerReader()
    _, body, whole = reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert (body, whole) == (b"ok", False)
    # A body longer than is kept: cut at the limit.
    big = webhook.MAX_RESPONSE_BYTES + 10
    reader = webhook.AnswerReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % big) is None
    _, body, whole = reader.feed(b"x" * big)
    assert (len(body), whole) == (webhook.MAX_RESPONSE_BYTES, False)
    reader = webhook.AnswerReader()
    chunk = b"%x\r\n" % big + b"x" * big + b"\r\n0\r\n\r\n"
    _, body, whole = reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
    assert (len(body), whole) == (webhook.MAX_RESPONSE_BYTES, False)
    # A body delimited by the connection's end is complete only then.
    reader = webhook.AnswerReader()
    assert reader.feed(b"HTTP/1.0 200 OK\r\n\r\npart") is None
    _, body, whole = reader.eof()
    assert (body, whole) == (b"part", False)
    # Cut short: nothing to answer with.
    reader = webhook.AnswerReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort") is None
    assert reader.eof() is None


def test_a_head_without_end_is_refused_past_the_limit() -> None:
    reader = webhook.AnswerReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\n") is None
    with pytest.raises(ValueError, match="too long"):
        reader.feed(b"X: " + b"y" * webhook.MAX_HEAD_BYTES)
