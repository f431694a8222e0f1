"""Refusals at connect (spec §2.3, §2.4, §2.6): the upgrade completes, then a close code.

A browser reports an HTTP-level rejection as 1006, which the JS SDK retries; so every refusal
here must be a WebSocket close frame with the documented code and a readable reason, and the
refused socket must never see an event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from ws_helpers import Sessions, World, connect_url, off, open_ws, presign_pairs, refused

from bellwire.aws.sigv4 import presign_connect_url
from bellwire.events import EventType
from bellwire.testing import RunningServer, start_server


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(Path(tmp_path_factory.mktemp("gateway-auth")), connect_burst=100)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def world(running: RunningServer) -> World:
    return World.create(running)


@pytest.fixture
async def ws(running: RunningServer) -> AsyncIterator[Sessions]:
    sessions = Sessions(running)
    yield sessions
    await sessions.close_all()


def _edit_query(url: str, **changes: str | None) -> str:
    """The URL with query parameters replaced (None: removed), keeping the rest verbatim."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    out = []
    for key, value in pairs:
        if key in changes:
            replacement = changes.pop(key)
            if replacement is None:
                continue
            value = replacement
        out.append((key, value))
    out += [(k, v) for k, v in changes.items() if v is not None]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(out, quote_via=quote)}"


async def test_root_may_connect_as_any_user(world: World, ws: Sessions) -> None:
    someone = world.user()
    client = await ws(someone)
    assert client.events[0].type == EventType.SESSION_ESTABLISHED
    assert not client.closed


async def test_bad_signature_is_4401(running: RunningServer, world: World) -> None:
    url = connect_url(running, world.user())
    parts = urlsplit(url)
    signature = dict(parse_qsl(parts.query))["X-Amz-Signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    code, reason = await refused(_edit_query(url, **{"X-Amz-Signature": flipped}))
    assert code == 4401
    assert reason.startswith("Unauthorized")


async def test_wrong_secret_is_4401(running: RunningServer, world: World) -> None:
    url = connect_url(running, world.user(), secret_access_key="not-the-secret")
    assert (await refused(url))[0] == 4401


async def test_tampered_parameter_is_4401(running: RunningServer, world: World) -> None:
    """Changing a signed parameter (here: the user) after signing breaks the signature."""
    alice, bob = world.user(), world.user()
    url = connect_url(running, alice)
    assert (await refused(_edit_query(url, userArn=bob)))[0] == 4401
    assert (await refused(_edit_query(url, **{"prefetch-on": "connect"})))[0] == 4401


async def test_unknown_access_key_is_4401(running: RunningServer, world: World) -> None:
    url = connect_url(running, world.user(), access_key_id="AKIAUNKNOWNUNKNOWN00")
    code, reason = await refused(url)
    assert code == 4401
    assert reason.startswith("Unauthorized")


@pytest.mark.parametrize(
    "changes",
    [
        {"X-Amz-Signature": None},
        {"X-Amz-Credential": None},
        {"X-Amz-Date": None},
        {"X-Amz-Algorithm": None},
        {"X-Amz-SignedHeaders": None},
        {"X-Amz-Credential": "garbage"},
        {"X-Amz-Date": "yesterday"},
        {"X-Amz-Algorithm": "AWS4-HMAC-SHA1"},
        {"X-Amz-Expires": "soon"},
        {"X-Amz-Signature": "zz"},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
async def test_missing_or_garbled_presign_parameters_are_4401(
    running: RunningServer, world: World, changes: dict[str, str | None]
) -> None:
    url = connect_url(running, world.user())
    assert (await refused(_edit_query(url, **changes)))[0] == 4401


async def test_no_query_at_all_is_4401(running: RunningServer) -> None:
    code, _ = await refused(f"ws://{running.endpoint_host}/connect")
    assert code == 4401


async def test_expired_presigned_url_is_4401(running: RunningServer, world: World) -> None:
    then = datetime.now(UTC) - timedelta(minutes=20)
    code, reason = await refused(connect_url(running, world.user(), now=then))
    assert code == 4401
    assert reason.startswith("Unauthorized")


async def test_wrong_region_in_scope_is_4401(running: RunningServer, world: World) -> None:
    url = connect_url(running, world.user(), region="eu-west-1")
    assert (await refused(url))[0] == 4401


async def test_wrong_host_is_4401(running: RunningServer, world: World) -> None:
    """The signature covers the Host the client signed; another host does not verify."""
    user = world.user()
    url = connect_url(running, user)
    port = running.endpoint_host.rsplit(":", 1)[1]
    ws = await open_ws(url.replace(running.endpoint_host, f"localhost:{port}", 1))
    try:
        await ws.wait_closed()
    finally:
        await ws.close()
    assert ws.close_code == 4401


async def test_user_that_does_not_exist_is_4003(running: RunningServer, world: World) -> None:
    ghost = f"{world.app_arn}/user/nobody-here"
    code, reason = await refused(connect_url(running, ghost))
    assert code == 4003
    assert reason.startswith("Forbidden")


@pytest.mark.parametrize(
    "arn",
    [
        "not-an-arn",
        "",
        "arn:aws:chime:us-east-1:123456789012:app-instance/abc",
        "arn:aws:chime:us-east-1:123456789012:app-instance/abc/channel/def",
        "arn:aws:iam::123456789012:user/alice",
    ],
)
async def test_user_arn_that_is_not_a_user_is_4003(running: RunningServer, arn: str) -> None:
    code, reason = await refused(connect_url(running, arn))
    assert code == 4003
    assert reason.startswith("Forbidden")


async def test_missing_user_arn_is_4003(running: RunningServer) -> None:
    url = presign_connect_url(
        host=running.endpoint_host,
        access_key_id=running.access_key_id,
        secret_access_key=running.secret_access_key,
        session_token=None,
        region=running.region,
        params={"sessionId": "1"},
        now=datetime.now(UTC),
        scheme="ws",
    )
    assert (await refused(url))[0] == 4003


async def test_unknown_extra_parameters_are_accepted(
    running: RunningServer, world: World, ws: Sessions
) -> None:
    client = await ws(world.user(), extra={"futureParam": "x y/z", "another": ""})
    assert not client.closed


async def test_unknown_prefetch_sort_is_refused(running: RunningServer, world: World) -> None:
    url = connect_url(running, world.user(), prefetch=True, sort_by="alphabetical")
    assert (await refused(url))[0] == 4003


async def test_refusals_do_not_disturb_open_sessions(
    running: RunningServer, world: World, ws: Sessions
) -> None:
    alice = world.user()
    client = await ws(alice)
    channel = await off(world.channel, alice)
    assert (await client.next()).type == EventType.CREATE_CHANNEL
    for url in (
        connect_url(running, alice, secret_access_key="wrong"),
        connect_url(running, alice, now=datetime.now(UTC) - timedelta(minutes=20)),
        connect_url(running, f"{world.app_arn}/user/ghost"),
    ):
        await refused(url)
    await off(world.send, channel, alice, "still here")
    assert (await client.next()).type == EventType.CREATE_CHANNEL_MESSAGE


async def test_connect_rate_limit_is_4429(tmp_path: Path) -> None:
    running = start_server(tmp_path, connects_per_user_per_second=0.01, connect_burst=2)
    try:
        world = World.create(running)
        alice, bob = world.user(), world.user()
        sessions = Sessions(running)
        try:
            await sessions(alice)
            await sessions(alice)
            code, reason = await refused(connect_url(running, alice))
            assert code == 4429
            assert reason
            # the bucket is per user: bob still connects
            await sessions(bob)
            # and the refusal did not close alice's open sessions
            assert not any(c.closed for c in sessions.opened)
        finally:
            await sessions.close_all()
    finally:
        await off(running.stop)


def _presigned(
    running: RunningServer,
    user_arn: str,
    *,
    expires: int = 10,
    now: datetime | None = None,
    session_token: str | None = None,
) -> str:
    return presign_connect_url(
        host=running.endpoint_host,
        access_key_id=running.access_key_id,
        secret_access_key=running.secret_access_key,
        session_token=session_token,
        region=running.region,
        params={"sessionId": "1", "userArn": user_arn},
        now=now or datetime.now(UTC),
        scheme="ws",
        expires=expires,
    )


async def test_presigned_url_longer_than_the_setting_is_4401(
    running: RunningServer, world: World, ws: Sessions
) -> None:
    """A URL presigned for 100000 s, two hours ago, would still be in its window: the lifetime
    itself is refused (connect_max_presign_seconds, 900 by default)."""
    assert running.settings.connect_max_presign_seconds == 900
    user = world.user()
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    code, reason = await refused(_presigned(running, user, expires=100000, now=two_hours_ago))
    assert code == 4401
    assert "X-Amz-Expires 100000" in reason and "900" in reason
    assert (await refused(_presigned(running, user, expires=901)))[0] == 4401
    client = await open_ws(_presigned(running, user, expires=900))
    try:
        first = await client.recv()
        assert "SESSION_ESTABLISHED" in str(first)
    finally:
        await client.close()


async def test_presigned_url_lifetime_is_a_setting(tmp_path: Path) -> None:
    running = start_server(tmp_path, connect_max_presign_seconds=5)
    try:
        world = World.create(running)
        assert (await refused(_presigned(running, world.user(), expires=10)))[0] == 4401
    finally:
        await off(running.stop)


@pytest.mark.parametrize("header", ["x-amz-chime-bearer", "X-Amz-Date", "x-amz-security-token"])
async def test_unsigned_x_amz_header_on_the_upgrade_is_4401(
    running: RunningServer, world: World, header: str
) -> None:
    """The connect URL signs only host: an x-amz-* header beside it is not signed."""
    user = world.user()
    ws = await open_ws(connect_url(running, user), additional_headers={header: user})
    try:
        await ws.wait_closed()
    finally:
        await ws.close()
    assert ws.close_code == 4401
    assert "not signed" in (ws.close_reason or "")


async def test_session_token_beside_a_long_term_key_is_4401(
    running: RunningServer, world: World
) -> None:
    code, reason = await refused(_presigned(running, world.user(), session_token="forged"))
    assert code == 4401
    assert "security token" in reason


@pytest.mark.parametrize("name", ["userArn", "sessionId", "prefetch-sort-by"])
async def test_a_session_parameter_given_twice_is_4003(
    running: RunningServer, world: World, name: str
) -> None:
    """Signed, but ambiguous (which user would the session be for?): refused, not last-wins."""
    user = world.user()
    values = {"userArn": (user, user), "sessionId": ("1", "2"), "prefetch-sort-by": ("unread",) * 2}
    first, second = values[name]
    url = connect_url(running, user, extra={name: first} if name != "userArn" else None)
    # Append the repeat and re-sign: presign_connect_url takes a mapping, so sign by hand.
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    pairs = [(k, v) for k, v in pairs if not k.startswith("X-Amz-")] + [(name, second)]
    code, reason = await refused(presign_pairs(running, pairs))
    assert code == 4003
    assert f"{name} is given more than once" in reason
