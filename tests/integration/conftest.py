"""Shared fixtures of the integration suite: a real server per module, an app instance per test.

Every call goes over loopback to a real bellwire (``bellwire.testing.start_server``); nothing of
bellwire is mocked. Tests that need a pristine server use the ``bellwire_server`` fixture of the
plugin instead.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from server_process import Process
from store_engines import dump_store

from bellwire.testing import RunningServer, start_server

NO_VALIDATION = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})


# --- servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server for the whole module; tests isolate themselves with their own app."""
    running = start_server(tmp_path_factory.mktemp("bellwire"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def identity(server: RunningServer) -> Any:
    return server.client("chime-sdk-identity", config=NO_VALIDATION)


@pytest.fixture(scope="module")
def messaging(server: RunningServer) -> Any:
    return server.client("chime-sdk-messaging", config=NO_VALIDATION)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Every server subprocess a test starts; whatever is still running at the end is killed."""
    started: list[Process] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(10)


# --- an app instance with users --------------------------------------------------------------


@dataclass
class App:
    """An app instance with users alice, bob, carol and dave, and an AppInstanceAdmin."""

    arn: str
    identity: Any
    messaging: Any
    users: dict[str, str] = field(default_factory=dict)

    @property
    def alice(self) -> str:
        return self.users["alice"]

    @property
    def bob(self) -> str:
        return self.users["bob"]

    @property
    def carol(self) -> str:
        return self.users["carol"]

    @property
    def dave(self) -> str:
        return self.users["dave"]

    @property
    def admin(self) -> str:
        return self.users["admin"]

    def user(self, user_id: str, name: str | None = None) -> str:
        arn: str = self.identity.create_app_instance_user(
            AppInstanceArn=self.arn, AppInstanceUserId=user_id, Name=name or user_id
        )["AppInstanceUserArn"]
        self.users[user_id] = arn
        return arn

    def channel(self, creator: str | None = None, **kwargs: Any) -> str:
        kwargs.setdefault("Name", f"channel-{uuid.uuid4().hex[:8]}")
        arn: str = self.messaging.create_channel(
            AppInstanceArn=self.arn, ChimeBearer=creator or self.alice, **kwargs
        )["ChannelArn"]
        return arn

    def send(self, channel: str, sender: str, content: str = "hello", **kwargs: Any) -> str:
        kwargs.setdefault("Type", "STANDARD")
        kwargs.setdefault("Persistence", "PERSISTENT")
        message_id: str = self.messaging.send_channel_message(
            ChannelArn=channel, ChimeBearer=sender, Content=content, **kwargs
        )["MessageId"]
        return message_id

    def add(self, channel: str, member: str, by: str | None = None, type_: str = "DEFAULT") -> None:
        self.messaging.create_channel_membership(
            ChannelArn=channel, MemberArn=member, Type=type_, ChimeBearer=by or self.alice
        )


def make_app(identity: Any, messaging: Any, name: str = "app") -> App:
    arn = identity.create_app_instance(Name=name)["AppInstanceArn"]
    app = App(arn, identity, messaging)
    # Concurrent creations share the store's group commits: a fixture costs ~3 fsyncs, not 7.
    with ThreadPoolExecutor(5) as pool:
        list(
            pool.map(
                lambda u: app.user(u, u.capitalize()), ("alice", "bob", "carol", "dave", "admin")
            )
        )
    identity.create_app_instance_admin(AppInstanceArn=arn, AppInstanceAdminArn=app.admin)
    return app


@pytest.fixture
def app(identity: Any, messaging: Any) -> App:
    """A fresh app instance on the module's server, so tests do not see each other's data."""
    return make_app(identity, messaging)


@pytest.fixture
def other_app(identity: Any, messaging: Any) -> App:
    """A second app instance (with its own alice, bob... and admin) on the same server."""
    return make_app(identity, messaging, "other")


# --- errors ----------------------------------------------------------------------------------

STATUS = {
    "BadRequestException": 400,
    "ResourceLimitExceededException": 400,
    "UnauthorizedClientException": 401,
    "ForbiddenException": 403,
    "NotFoundException": 404,
    "ConflictException": 409,
}


@contextmanager
def raises(client: Any, shape: str, match: str | None = None) -> Iterator[list[ClientError]]:
    """Expect the modeled exception ``shape`` with its HTTP status and x-amzn-ErrorType."""
    caught: list[ClientError] = []
    exc_class = getattr(client.exceptions, shape)
    with pytest.raises(exc_class) as info:
        yield caught
    err = info.value
    caught.append(err)
    meta = err.response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == STATUS[shape], err.response
    assert meta["HTTPHeaders"]["x-amzn-errortype"] == shape
    assert err.response["Error"]["Code"] == shape
    message = err.response["Error"]["Message"]
    assert message, "an error must carry a readable message"
    if match is not None:
        assert match.lower() in message.lower(), message


# --- the store, as seen from outside -----------------------------------------------------------


@contextmanager
def store_unchanged(running: RunningServer) -> Iterator[None]:
    before = dump_store(running)
    yield
    after = dump_store(running)
    changed = {t for t in set(before) | set(after) if before.get(t) != after.get(t)}
    assert not changed, f"tables changed: {sorted(changed)}"


# --- raw signed HTTP -------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        document = self.json()
        assert isinstance(document, dict), document
        text = document.get("Message") or document.get("message")
        assert isinstance(text, str) and text, document
        return text


def send_raw(
    running: RunningServer, method: str, target: str, body: bytes, headers: dict[str, str]
) -> RawResponse:
    parts = urlsplit(running.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        if "content-length" not in {k.lower() for k in headers}:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body if body else None)
        response = conn.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def sign(
    running: RunningServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    service: str = "chime",
    when: Any = None,
) -> dict[str, str]:
    """SigV4 headers for a request, computed by botocore (``when``: a naive UTC datetime)."""
    request = AWSRequest(method=method, url=running.url + target, data=body, headers=headers or {})
    credentials = Credentials(
        access_key or running.access_key_id, secret_key or running.secret_access_key
    )
    signer = SigV4Auth(credentials, service, region or running.region)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return dict(request.headers.items())


def signed_request(
    running: RunningServer,
    method: str,
    target: str,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    **signing: Any,
) -> RawResponse:
    data = body.encode() if isinstance(body, str) else body
    base = {"Content-Type": "application/json"} if data else {}
    base.update(headers or {})
    return send_raw(
        running, method, target, data, sign(running, method, target, data, base, **signing)
    )


@pytest.fixture
def raw(server: RunningServer) -> Callable[..., RawResponse]:
    def call(method: str, target: str, body: bytes | str = b"", **kwargs: Any) -> RawResponse:
        return signed_request(server, method, target, body, **kwargs)

    return call


def quote_arn(arn: str) -> str:
    from urllib.parse import quote

    return quote(arn, safe="")


# --- the helpers as fixtures (test modules do not import conftest) ----------------------------


@pytest.fixture
def expect_error() -> Callable[..., Any]:
    """``with expect_error(client, "NotFoundException", "does not exist"): ...``"""
    return raises


@pytest.fixture
def unchanged(server: RunningServer) -> Callable[[], Any]:
    """``with unchanged(): ...`` asserts that no table of the module's server changed."""
    return lambda: store_unchanged(server)


@pytest.fixture
def dump(server: RunningServer) -> Callable[[], dict[str, list[tuple[Any, ...]]]]:
    return lambda: dump_store(server)


@pytest.fixture
def unsigned(server: RunningServer) -> Callable[..., RawResponse]:
    """Send exact bytes and headers, unsigned."""

    def call(
        method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> RawResponse:
        return send_raw(server, method, target, body, headers or {})

    return call


@pytest.fixture
def signer(server: RunningServer) -> Callable[..., dict[str, str]]:
    """SigV4 headers computed by botocore for the module's server (see :func:`sign`)."""

    def call(method: str, target: str, body: bytes = b"", **kwargs: Any) -> dict[str, str]:
        return sign(server, method, target, body, **kwargs)

    return call


@pytest.fixture
def sign_for() -> Callable[..., dict[str, str]]:
    """SigV4 headers for any running server: ``sign_for(running, method, target, body)``."""
    return sign


@pytest.fixture
def arn_path() -> Callable[[str], str]:
    return quote_arn
