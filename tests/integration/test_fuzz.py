"""Malformed requests to every operation of the four services, correctly signed.

Every request of the generated corpus (``fuzz_corpus.py``) is signed with botocore's
``SigV4Auth``, so it passes authentication and reaches the codec and the operations; each must
be answered with a 4xx and a modeled error (``x-amzn-ErrorType`` for rest-json, an XML error
``Code`` for the query protocol), never a 5xx or a dropped connection, and must leave every
table of the store as it was. The server must log no unhandled exception meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fuzz_corpus import JSON_HEADERS, NOWHERE, Req, RestOperation, query_corpus, rest_corpus
from websockets.exceptions import ConnectionClosed, InvalidStatus
from ws_helpers import open_ws, presign_pairs

from bellwire.aws import codec
from bellwire.aws.model import API_VERSIONS, load_service_model, service_models
from bellwire.testing import RunningServer

ROUTER = codec.default_router()
CHIME_OPS = {
    op_model.name: op_model
    for model in service_models()
    for op_model in (model.operation_model(name) for name in model.operation_names)
}
QUERY_OPS = [
    (service, name)
    for service in ("iam", "sts")
    for name in load_service_model(service).operation_names
]
# The exceptions the Chime models define (both services share them). An operation's own list is
# narrower than what AWS answers: GetMessagingSessionEndpoint lists no BadRequestException, yet
# a bad NetworkType can only be one. Plus the documented refusals of the router.
MODELED = {
    name
    for model in service_models()
    for name in model.shape_names
    if model.shape_for(name).metadata.get("exception")
} | {"UnknownOperationException", "MethodNotAllowedException"}
# The common errors of every query-protocol API (AWS lists them apart from the operations).
QUERY_COMMON = {"ValidationError", "InvalidAction", "MissingAction", "InvalidInput", "AccessDenied"}


@pytest.fixture(scope="module")
def world(identity: Any, messaging: Any) -> dict[str, str]:
    """Real resources, so that requests name things that exist and reach the operations."""
    app = identity.create_app_instance(Name="fuzz")["AppInstanceArn"]
    users = {
        uid: identity.create_app_instance_user(AppInstanceArn=app, AppInstanceUserId=uid, Name=uid)[
            "AppInstanceUserArn"
        ]
        for uid in ("alice", "bob", "admin")
    }
    identity.create_app_instance_admin(AppInstanceArn=app, AppInstanceAdminArn=users["admin"])
    channel = messaging.create_channel(
        AppInstanceArn=app, Name="fuzz", ChimeBearer=users["alice"], MemberArns=[users["bob"]]
    )["ChannelArn"]
    message = messaging.send_channel_message(
        ChannelArn=channel,
        Content="fuzz",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=users["alice"],
    )["MessageId"]
    return {
        "AppInstanceArn": app,
        "ChannelArn": channel,
        "ChimeBearer": users["alice"],
        "AppInstanceUserArn": users["bob"],
        "MemberArn": users["bob"],
        "ChannelModeratorArn": users["bob"],
        "AppInstanceAdminArn": users["admin"],
        "MessageId": message,
        "ResourceARN": channel,
    }


@pytest.fixture
def no_unhandled_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING)
    yield
    unhandled = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not unhandled, unhandled[:5]


def _send(
    server: RunningServer,
    signer: Callable[..., dict[str, str]],
    unsigned: Callable[..., Any],
    req: Req,
    service: str,
) -> Any:
    headers = signer(req.method, req.target, req.body, headers=dict(req.headers), service=service)
    return unsigned(req.method, req.target, req.body, headers)


def _rest_problem(req: Req, response: Any, allowed: set[str]) -> str | None:
    if not 400 <= response.status < 500:
        return f"{req.id}: {response.status} {response.body[:200]!r}"
    if response.error_type not in allowed:
        return f"{req.id}: {response.status} unmodeled error {response.error_type}"
    try:
        document = response.json()
    except ValueError:
        return f"{req.id}: {response.status} body is not JSON: {response.body[:100]!r}"
    if not (isinstance(document, dict) and document.get("Message") and document.get("Code")):
        return f"{req.id}: {response.status} error body {document!r}"
    return None


@pytest.mark.parametrize("name", sorted(CHIME_OPS))
def test_rest_operation_refuses_malformed_requests(
    name: str,
    server: RunningServer,
    world: dict[str, str],
    signer: Any,
    unsigned: Any,
    dump: Any,
    no_unhandled_errors: None,
) -> None:
    op_model = CHIME_OPS[name]
    op = RestOperation(op_model, world)
    allowed = MODELED
    corpus = list(rest_corpus(op, ROUTER, random.Random(name), server.settings.max_body_bytes))
    assert len(corpus) >= 10
    before = dump()
    problems = []
    for req in corpus:
        try:
            response = _send(server, signer, unsigned, req, "chime")
        except OSError as exc:
            problems.append(f"{req.id}: connection dropped: {exc!r}")
            continue
        problem = _rest_problem(req, response, allowed)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems[:20])
    assert dump() == before, "a refused request changed the store"


_CODE = re.compile(rb"<Error><Type>Sender</Type><Code>([^<]+)</Code><Message>([^<]*)</Message>")


@pytest.mark.parametrize(("service", "name"), QUERY_OPS, ids=[f"{s}.{n}" for s, n in QUERY_OPS])
def test_query_operation_refuses_malformed_requests(
    service: str,
    name: str,
    server: RunningServer,
    signer: Any,
    unsigned: Any,
    dump: Any,
    no_unhandled_errors: None,
) -> None:
    model = load_service_model(service)
    op_model = model.operation_model(name)
    allowed = QUERY_COMMON | {
        shape.metadata.get("error", {}).get("code", shape.name) for shape in op_model.error_shapes
    }
    corpus = list(
        query_corpus(service, op_model, API_VERSIONS[service], server.settings.max_body_bytes)
    )
    before = dump()
    problems = []
    for req in corpus:
        try:
            response = _send(server, signer, unsigned, req, service)
        except OSError as exc:
            problems.append(f"{req.id}: connection dropped: {exc!r}")
            continue
        match = _CODE.search(response.body)
        if not 400 <= response.status < 500:
            problems.append(f"{req.id}: {response.status} {response.body[:200]!r}")
        elif match is None or not match.group(2):
            problems.append(f"{req.id}: not an XML error: {response.body[:200]!r}")
        elif match.group(1).decode() not in allowed:
            problems.append(f"{req.id}: unmodeled code {match.group(1).decode()}")
    assert not problems, "\n".join(problems[:20])
    assert dump() == before, "a refused request changed the store"


def test_the_corpus_reaches_every_operation_and_nowhere_else() -> None:
    """The fuzz covers what the models define; NOWHERE names no resource of the world."""
    # Both services' tag operations share names and routes: messaging's answer for both.
    assert set(CHIME_OPS) == set(ROUTER.operations)
    assert len(QUERY_OPS) > 150
    assert "00000000-fuzz" in NOWHERE


# --- /connect ------------------------------------------------------------------------------------


def _edit(url: str, old: str, new: str) -> str:
    assert old in url, (old, url)
    return url.replace(old, new, 1)


def connect_corpus(running: RunningServer, world: dict[str, str]) -> list[tuple[str, str, int]]:
    """(id, URL, expected close code); 400 means an HTTP refusal before any upgrade."""
    alice = world["ChimeBearer"]
    channel = world["ChannelArn"]
    good = [("sessionId", "s1"), ("userArn", alice)]
    signed = presign_pairs(running, good, 10)
    cases: list[tuple[str, str, int]] = [
        # the signature and its parameters
        ("no-query", f"ws://{running.endpoint_host}/connect", 4401),
        ("only-ampersands", f"ws://{running.endpoint_host}/connect?&&&", 4401),
        ("signature-flipped", _edit(signed, "X-Amz-Signature=", "X-Amz-Signature=0"), 4401),
        (
            "date-twice",
            _edit(signed, "&X-Amz-Date=", "&X-Amz-Date=20200101T000000Z&X-Amz-Date="),
            4401,
        ),
        ("signature-twice", signed + "&X-Amz-Signature=00", 4401),
        ("credential-garbage", _edit(signed, "X-Amz-Credential=", "X-Amz-Credential=x%2F"), 4401),
        ("expires-garbage", _edit(signed, "X-Amz-Expires=10", "X-Amz-Expires=ten"), 4401),
        ("expires-negative", _edit(signed, "X-Amz-Expires=10", "X-Amz-Expires=-1"), 4401),
        ("expires-too-long", presign_pairs(running, good, 100_000), 4401),
        ("bad-escape", signed + "&x=%ZZ", 4401),
        ("not-utf8-unsigned", signed + "&x=%FF%FE", 4401),
        ("algorithm-sha1", _edit(signed, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), 4401),
        # signed, but the parameters are wrong
        ("user-missing", presign_pairs(running, [("sessionId", "s1")], 10), 4003),
        ("user-garbage", presign_pairs(running, [("userArn", "not an arn!")], 10), 4003),
        ("user-empty", presign_pairs(running, [("userArn", "")], 10), 4003),
        ("user-a-channel", presign_pairs(running, [("userArn", channel)], 10), 4003),
        ("user-nowhere", presign_pairs(running, [("userArn", NOWHERE)], 10), 4003),
        ("user-twice", presign_pairs(running, [*good, ("userArn", alice)], 10), 4003),
        ("user-conflict", presign_pairs(running, [*good, ("userArn", NOWHERE)], 10), 4003),
        ("session-twice", presign_pairs(running, [*good, ("sessionId", "s2")], 10), 4003),
        (
            "sort-twice",
            presign_pairs(
                running, [*good, ("prefetch-sort-by", "unread"), ("prefetch-sort-by", "unread")], 10
            ),
            4003,
        ),
        ("sort-bogus", presign_pairs(running, [*good, ("prefetch-sort-by", "x")], 10), 4003),
        (
            "user-bad-utf8-signed",
            _edit(presign_pairs(running, [("userArn", "\ufffd")], 10), "%EF%BF%BD", "%EF%BF%BD"),
            4003,
        ),
    ]
    return cases


async def _outcome(url: str, extra_headers: dict[str, str] | None = None) -> tuple[str, int | None]:
    """("close", code) after an upgrade, or ("http", status) for a refusal before it."""
    try:
        ws = await open_ws(url, additional_headers=extra_headers)
    except InvalidStatus as exc:
        return "http", exc.response.status_code
    try:
        frame = await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed:
        return "close", ws.close_code
    await ws.close()
    return f"open, received {str(frame)[:80]}", None


async def test_connect_refuses_malformed_query_strings(
    server: RunningServer, world: dict[str, str], no_unhandled_errors: None
) -> None:
    problems = []
    for case_id, url, expected in connect_corpus(server, world):
        try:
            kind, code = await _outcome(url)
        except Exception as exc:  # a dropped connection, a broken handshake
            problems.append(f"{case_id}: {exc!r}")
            continue
        if (kind, code) != ("close", expected):
            problems.append(f"{case_id}: {kind} {code}, expected close {expected}")
    assert not problems, "\n".join(problems)


async def test_connect_refuses_what_is_not_a_websocket_upgrade(
    server: RunningServer, world: dict[str, str], unsigned: Any, no_unhandled_errors: None
) -> None:
    """A plain HTTP request to /connect is answered with a clean 4xx, never a 500."""
    url = presign_pairs(server, [("userArn", world["ChimeBearer"])], 10)
    target = url.split(f"ws://{server.endpoint_host}", 1)[1]
    for method in ("GET", "POST", "PUT", "DELETE"):
        response = await asyncio.to_thread(unsigned, method, target, b"", {})
        assert 400 <= response.status < 500, (method, response.status, response.body[:200])
    long = await asyncio.to_thread(unsigned, "GET", "/connect?" + "a=b&" * 1500, b"", {})
    assert 400 <= long.status < 500, long.status


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"UserArn": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b"[" * 100_000,
        b'{"UserArn": 7, "Code": 4003}',
        b'{"UserArn": "arn", "Code": "4003"}',
        b'{"UserArn": "arn", "Code": 1e999}',
        b'{"UserArn": "arn", "Code": 99999999999999999999999999}',
        b'{"UserArn": "arn", "Code": 4003, "SessionId": ["x"]}',
        b'{"UserArn": "\\ud800", "Code": 5000}',
        b'{"UserArn": "arn", "Code": 4003, "Reason": NaN}',
    ],
)
def test_admin_endpoint_refuses_malformed_bodies(
    server: RunningServer,
    signer: Any,
    unsigned: Any,
    dump: Any,
    body: bytes,
    no_unhandled_errors: None,
) -> None:
    before = dump()
    req = Req("admin", "POST", "/admin/sessions/close", "", dict(JSON_HEADERS), body)
    response = _send(server, signer, unsigned, req, "chime")
    assert 400 <= response.status < 500, (response.status, response.body[:200])
    assert response.error_type == "BadRequestException"
    assert response.json()["Message"]
    assert dump() == before


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("UserArn=a&UserArn=b", b""),
        ("UserArn=", b""),
        ("Other=1", b""),
        ("UserArn=%FF%FE", b"x"),
        ("", b"{}"),
    ],
)
def test_admin_session_listing_refuses_malformed_queries(
    server: RunningServer,
    signer: Any,
    unsigned: Any,
    query: str,
    body: bytes,
    no_unhandled_errors: None,
) -> None:
    req = Req("admin-list", "GET", "/admin/sessions", query, {}, body)
    response = _send(server, signer, unsigned, req, "chime")
    assert 400 <= response.status < 500, (response.status, response.body[:200])
    assert response.error_type == "BadRequestException"
