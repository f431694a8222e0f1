"""A messaging-session client for Python: what ``DefaultMessagingSession`` is to the JS SDK.

Usage::

    async with MessagingSession(user_arn) as session:
        async for item in session:
            match item:
                case SessionEvent():      # a catalogue event: item.type, item.payload, ...
                    ...
                case Reconnecting() | Gap() | Stopped():
                    ...

One async iteration stream carries both the catalogue events and the lifecycle notices, in the
order they happened, so nothing can be missed by forgetting a callback:

* :class:`SessionEvent` (a :class:`bellwire.events.Event`): every frame except
  ``SESSION_ESTABLISHED``, with its payload decoded; ``caught_up`` marks a message recovered by
  catch-up rather than pushed live.
* :class:`Connecting` (an endpoint was resolved and a socket is being opened),
  :class:`Established` (``SESSION_ESTABLISHED`` arrived; it stands for that frame),
  :class:`Reconnecting` (why, which retry, after what delay), :class:`Gap` (a reconnect after an
  established session: events may have been missed), :class:`CaughtUp` (catch-up finished),
  and :class:`Stopped`, always the last item.

How the session ends: ``await session.stop()`` (or leaving the ``async with``) closes the socket
with 1000 and ends any pending retry; the iteration then yields ``Stopped(STOPPED_BY_USER)`` and
ends. A final failure (a close code that must not be retried, or the reconnect window running
out) also yields a :class:`Stopped` carrying the code and reason, and then the iterator raises
:class:`MessagingSessionError` so that a loop that only looks at events cannot miss it (pass
``raise_on_failure=False`` to just end the iteration). A bad configuration (no region, an
unknown profile) raises from ``__aenter__`` or the first iteration and is not retried.

Behaviour is the JS SDK's (spec §3) except where it is a known trap:

* the reconnect policy is :mod:`bellwire.client.reconnect` (``stop()`` also ends a pending
  backoff; every final failure is reported);
* the backoff is reset on ``SESSION_ESTABLISHED``, not on the socket opening: the server
  completes the upgrade before refusing (spec §2.4), so an open says nothing, and with the JS
  rule a server that keeps refusing with a retryable code (4419 with credentials that do not
  refresh, 1012 while draining) would be retried forever;
* the connect URL uses ``ws://`` when the API endpoint is ``http://`` (a local bellwire) and
  ``wss://`` otherwise (AWS, bellwire with TLS); JS hard-codes ``wss``;
* frames received before ``SESSION_ESTABLISHED`` are held and delivered right after it, as JS
  3.8+ does, but after the gap marker and the catch-up so the stream stays in time order.

Everything blocking (botocore calls, credential refresh) runs in a worker thread. This module
imports neither aiohttp nor anything of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from bellwire.aws.sigv4 import presign_connect_url
from bellwire.client.catchup import CatchUpState
from bellwire.client.reconnect import (
    ENDPOINT_LOOKUP_FAILED,
    ReconnectController,
    ReconnectPolicy,
    Stop,
    StopReason,
)
from bellwire.events import Event, EventType, FrameError, MessageType, decode

__all__ = [
    "PREFETCH_SORTS",
    "CaughtUp",
    "Connecting",
    "Established",
    "EstablishmentGate",
    "Gap",
    "Item",
    "MessagingSession",
    "MessagingSessionError",
    "Notice",
    "Reconnecting",
    "SessionEvent",
    "Stopped",
    "connect_url",
    "websocket_target",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

PREFETCH_SORTS = ("unread", "last-message-timestamp")
ABNORMAL_CLOSURE = 1006  # what a browser reports for a socket that never opened or just died
NORMAL_CLOSURE = 1000
ENDPOINT_FAILURE_REASON = "Failed to get messaging session endpoint URL"  # the JS SDK's text


# --- what the iteration yields ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionEvent(Event):
    """A catalogue event as received (``type``, ``message_type``, ``reason``, ``headers`` and
    the decoded ``payload``). ``caught_up`` is True for a message recovered by catch-up."""

    caught_up: bool = False

    @classmethod
    def of(cls, event: Event, *, caught_up: bool = False) -> SessionEvent:
        return cls(event.type, event.message_type, event.payload, event.reason, caught_up)

    @property
    def channel_arn(self) -> str | None:
        """The channel the event is about (also for ``CHANNEL_DETAILS``)."""
        payload = self.payload or {}
        channel = payload.get("Channel")
        arn = channel.get("ChannelArn") if isinstance(channel, Mapping) else None
        arn = arn or payload.get("ChannelArn")
        return arn if isinstance(arn, str) else None

    @property
    def message_id(self) -> str | None:
        value = (self.payload or {}).get("MessageId")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Connecting:
    """An endpoint was resolved and signed; a socket is being opened to ``host``.

    ``attempt`` is 0 for the first connect after a start or an established session, then the
    number of the retry.
    """

    host: str
    reconnecting: bool
    attempt: int


@dataclass(frozen=True, slots=True)
class Established:
    """``SESSION_ESTABLISHED``: from now on, every event of the user's channels is delivered
    while the socket stays open (spec §2.4)."""

    session_id: str
    reconnecting: bool


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """A connection failed or closed with a retryable ``code``; retry number ``attempt`` starts
    in ``delay`` seconds. ``code`` 4999 means the endpoint lookup failed (as in the JS SDK)."""

    code: int
    reason: str
    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class Gap:
    """A new session was established after an established one was lost: events sent between
    ``disconnected_at`` (or somewhat before, if the socket died silently) and
    ``reconnected_at`` were not delivered. With catch-up on, ``catching_up`` is True and the
    missed messages follow, then :class:`CaughtUp`."""

    disconnected_at: datetime
    reconnected_at: datetime
    code: int
    reason: str
    catching_up: bool


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Catch-up finished: ``messages`` recovered over ``channels`` channels. ``failures`` lists
    (channel ARN, or "*" for the membership listing, and the error) of what could not be read."""

    messages: int
    channels: int
    failures: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Stopped:
    """The session ended for good; always the last item. ``code`` is the last close code seen
    (4999: endpoint lookup; None if no socket ever closed), ``detail`` its reason."""

    reason: StopReason
    code: int | None
    detail: str

    @property
    def ok(self) -> bool:
        """True only when the caller stopped the session."""
        return self.reason is StopReason.STOPPED_BY_USER

    def __str__(self) -> str:
        code = "no close code" if self.code is None else f"code {self.code}"
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.reason.value} ({code}){detail}"


Notice = Connecting | Established | Reconnecting | Gap | CaughtUp | Stopped
Item = SessionEvent | Notice


class MessagingSessionError(Exception):
    """The session failed for good (after yielding :class:`Stopped`, which is ``.stopped``)."""

    def __init__(self, stopped: Stopped) -> None:
        super().__init__(f"messaging session stopped: {stopped}")
        self.stopped = stopped


# --- pure pieces ------------------------------------------------------------------------------


def websocket_target(endpoint_url: str, api_endpoint_url: str | None) -> tuple[str, str]:
    """(scheme, host) of the WebSocket from GetMessagingSessionEndpoint's ``Url``.

    ``Url`` is a bare ``host[:port]`` (spec §2.1); the scheme follows the REST endpoint the
    client talks to: ``ws`` for an ``http://`` endpoint (a local bellwire without TLS), ``wss``
    otherwise. A ``Url`` that does carry a scheme (some self-hosted servers do) is honoured.
    """
    value = endpoint_url.strip()
    if "://" in value:
        parts = urlsplit(value)
        scheme = "ws" if parts.scheme.lower() in ("ws", "http") else "wss"
        if not parts.netloc:
            raise ValueError(f"endpoint URL {endpoint_url!r} has no host")
        return scheme, parts.netloc
    host = value.rstrip("/")
    if not host or "/" in host:
        raise ValueError(f"endpoint URL {endpoint_url!r} is not a host name")
    api_scheme = urlsplit(api_endpoint_url).scheme.lower() if api_endpoint_url else "https"
    return ("ws" if api_scheme == "http" else "wss"), host


def connect_url(
    *,
    scheme: str,
    host: str,
    user_arn: str,
    session_id: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None,
    now: datetime,
    prefetch: bool = False,
    prefetch_sort_by: str | None = None,
) -> str:
    """The presigned ``/connect`` URL, with the parameters the JS SDK sends (spec §2.2).

    ``X-Amzn-Version``/``X-Amzn-User-Agent`` are left out: they identify the JS SDK, the
    developer guide does not list them, and a server must accept URLs without them.
    """
    params = {"userArn": user_arn, "sessionId": session_id}
    if prefetch:
        params["prefetch-on"] = "connect"
    if prefetch_sort_by is not None:
        params["prefetch-sort-by"] = prefetch_sort_by  # JS sends it even without prefetch-on
    return presign_connect_url(
        host=host,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        region=region,
        params=params,
        now=now,
        scheme=scheme,
    )


class EstablishmentGate:
    """Holds the frames that arrive before ``SESSION_ESTABLISHED`` (spec §2.4: it is not
    guaranteed to come first) and releases them right after it, in arrival order."""

    def __init__(self) -> None:
        self.established = False
        self._held: list[Event] = []

    def feed(self, event: Event) -> str:
        """What to do with a frame: ``establish`` (then :meth:`release`), ``hold``,
        ``deliver``, or ``ignore`` (a repeated SESSION_ESTABLISHED)."""
        if event.type == EventType.SESSION_ESTABLISHED:
            if self.established:
                return "ignore"
            self.established = True
            return "establish"
        if not self.established:
            self._held.append(event)
            return "hold"
        return "deliver"

    def release(self) -> list[Event]:
        held, self._held = self._held, []
        return held


# --- the session ------------------------------------------------------------------------------


class _StopRequested(Exception):
    """stop() was called while the session was waiting on something."""


@dataclass(slots=True)
class _Target:
    scheme: str
    host: str
    region: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None


@dataclass(slots=True)
class _Outcome:
    """How one connection attempt ended (an async generator cannot return a value)."""

    code: int | None = None  # None: stopped by the caller before anything closed
    detail: str = ""
    established: bool = False


@dataclass(frozen=True, slots=True)
class _Loss:
    at: datetime
    code: int
    reason: str


class MessagingSession:
    """A reconnecting messaging session for one AppInstanceUser; see the module docstring.

    Args:
        user_arn: the AppInstanceUser to connect as.
        boto_session: a ``boto3.Session`` or ``botocore.session.Session`` whose credential
            chain (env, profile, SSO, roles...) signs everything; default: a new botocore
            session. Credentials are re-read (and refreshed if they are refreshable) before
            every connect.
        region, endpoint_url: for the ``chime-sdk-messaging`` client; botocore's own
            configuration (``AWS_ENDPOINT_URL_CHIME_SDK_MESSAGING``, profile) applies when None.
        session_id: the ``sessionId``, the same on every reconnect; default: a random uint32.
        prefetch, prefetch_sort_by: ``prefetch-on=connect`` (CHANNEL_DETAILS after
            establishment) and ``prefetch-sort-by`` (``unread`` or ``last-message-timestamp``).
        policy: reconnect backoff and window (the JS SDK's defaults).
        catch_up: after a reconnect, page ListChannelMessages for the user's channels and yield
            the messages missed while away as ``CREATE_CHANNEL_MESSAGE`` events with
            ``caught_up=True``, before live events resume. Edits and deletions of messages
            missed while away are not recovered (the history only shows the current state).
        catch_up_margin: seconds of overlap of the catch-up with what was seen, for events
            delivered out of order and clock skew; the overlap is de-duplicated by MessageId.
        raise_on_failure: raise :class:`MessagingSessionError` after a failing :class:`Stopped`.
        ping_interval, ping_timeout, open_timeout, close_timeout: WebSocket timings in
            seconds (client pings detect a silently dead socket; the server pings too).
        ssl_context: for ``wss`` to a server with a private CA.
        rand: the backoff's randomness (a callable returning [0, 1)), for tests.
    """

    def __init__(
        self,
        user_arn: str,
        *,
        boto_session: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        session_id: str | None = None,
        prefetch: bool = False,
        prefetch_sort_by: str | None = None,
        policy: ReconnectPolicy | None = None,
        catch_up: bool = False,
        catch_up_margin: float = 1.0,
        raise_on_failure: bool = True,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if prefetch_sort_by is not None and prefetch_sort_by not in PREFETCH_SORTS:
            raise ValueError(f"prefetch_sort_by must be one of {PREFETCH_SORTS}")
        self.user_arn = user_arn
        # JS: a random Uint32 as a decimal string, kept across reconnects.
        self.session_id = session_id or str(random.SystemRandom().getrandbits(32))
        self.prefetch = prefetch
        self.prefetch_sort_by = prefetch_sort_by
        self._boto_session = boto_session
        self._region = region
        self._endpoint_url = endpoint_url
        self._controller = ReconnectController(policy or ReconnectPolicy())
        self._catch_up = (
            CatchUpState(user_arn, margin=timedelta(seconds=catch_up_margin)) if catch_up else None
        )
        self._raise_on_failure = raise_on_failure
        self._ws_options: dict[str, Any] = {
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "open_timeout": open_timeout,
            "close_timeout": close_timeout,
            # Frames are small, but CHANNEL_DETAILS carries up to 20 messages of 4 KB and
            # catch-up holds live frames back, so allow more than the defaults before
            # websockets stops reading (and with it, answering the server's pings).
            "max_size": 16 * 2**20,
            "max_queue": 4096,
        }
        self._ssl_context = ssl_context
        self._rand = rand
        self._stop_requested = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._lookup_client: Any = None
        self._api_client: Any = None
        self._iterator: AsyncGenerator[Item, None] | None = None
        self._loss: _Loss | None = None
        self.stopped: Stopped | None = None  # set when the session has ended for good

    # --- public surface -------------------------------------------------------------------------

    async def __aenter__(self) -> MessagingSession:
        await self._ensure_clients()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
        iterator = self._iterator
        # A generator being iterated by another task cannot be closed from here; stop() has
        # already made that task's iteration end.
        if iterator is not None and not getattr(iterator, "ag_running", False):
            await iterator.aclose()

    def __aiter__(self) -> AsyncIterator[Item]:
        if self._iterator is not None:
            raise RuntimeError("a MessagingSession can be iterated only once")
        self._iterator = self._run()
        return self._iterator

    async def stop(self) -> None:
        """Close the socket with 1000 and end the session, also during a backoff or a lookup.

        The iteration yields ``Stopped(STOPPED_BY_USER)`` next and ends. Idempotent.
        """
        self._stop_requested.set()
        self._controller.stop()
        ws = self._ws
        if ws is not None:
            await ws.close(NORMAL_CLOSURE)

    # --- the connection loop --------------------------------------------------------------------

    async def _run(self) -> AsyncGenerator[Item, None]:
        # aclosing: leaving the loop early closes the nested generators (and their sockets)
        # now, not whenever the garbage collector gets to them.
        async with contextlib.aclosing(self._loop()) as items:
            async for item in items:
                yield item
        stopped = self.stopped
        if stopped is not None and not stopped.ok and self._raise_on_failure:
            raise MessagingSessionError(stopped)

    async def _loop(self) -> AsyncGenerator[Item, None]:
        await self._ensure_clients()
        controller = self._controller
        controller.start(time.monotonic())
        reconnecting = False
        detail = ""
        while not self._stop_requested.is_set():
            outcome = _Outcome()
            async with contextlib.aclosing(self._attempt(reconnecting, outcome)) as items:
                async for item in items:
                    yield item
            if outcome.code is None:
                break  # stopped while resolving or connecting
            detail = outcome.detail
            delay = controller.next_delay(outcome.code, time.monotonic(), self._rand)
            if delay is None:
                break
            yield Reconnecting(outcome.code, outcome.detail, controller.attempts, delay)
            try:
                await self._until_stopped(asyncio.sleep(delay))
            except _StopRequested:
                break
            reconnecting = True
        stop: Stop = controller.stopped or controller.stop()
        if stop.reason is StopReason.STOPPED_BY_USER and not detail:
            detail = "stopped by the caller"
        self.stopped = Stopped(stop.reason, stop.code, detail)
        yield self.stopped

    async def _attempt(self, reconnecting: bool, outcome: _Outcome) -> AsyncGenerator[Item, None]:
        """One endpoint lookup, connect and session; ``outcome`` says how it ended."""
        try:
            target = await self._until_stopped(asyncio.to_thread(self._resolve))
        except _StopRequested:
            return
        except Exception as exc:  # botocore's errors, missing credentials, a malformed Url
            outcome.code = ENDPOINT_LOOKUP_FAILED
            outcome.detail = f"{ENDPOINT_FAILURE_REASON}: {_describe(exc)}"
            log.info("messaging session endpoint lookup failed: %s", outcome.detail)
            return
        url = connect_url(
            scheme=target.scheme,
            host=target.host,
            user_arn=self.user_arn,
            session_id=self.session_id,
            region=target.region,
            access_key_id=target.access_key_id,
            secret_access_key=target.secret_access_key,
            session_token=target.session_token,
            now=datetime.now(UTC),
            prefetch=self.prefetch,
            prefetch_sort_by=self.prefetch_sort_by,
        )
        yield Connecting(target.host, reconnecting, self._controller.attempts)
        try:
            options = dict(self._ws_options)
            if self._ssl_context is not None and target.scheme == "wss":
                options["ssl"] = self._ssl_context  # websockets refuses it for ws:// URLs
            ws = await self._until_stopped(connect(url, **options), discard=_close_quietly)
        except _StopRequested:
            return
        except (OSError, TimeoutError, WebSocketException) as exc:
            # A refused TCP connect, TLS failure or HTTP-level rejection: a browser reports all
            # of these as 1006, which is retried.
            outcome.code = ABNORMAL_CLOSURE
            if isinstance(exc, InvalidStatus):
                outcome.detail = f"HTTP {exc.response.status_code} instead of a WebSocket upgrade"
            else:
                outcome.detail = f"cannot connect: {_describe(exc)}"
            return
        self._ws = ws
        if self._stop_requested.is_set():  # stop() ran while the handshake was finishing
            await ws.close(NORMAL_CLOSURE)
        try:
            async with contextlib.aclosing(self._receive(ws, reconnecting, outcome)) as items:
                async for item in items:
                    yield item
        finally:
            self._ws = None
            # A no-op after a close; closes the socket if the caller left the loop early.
            await ws.close(NORMAL_CLOSURE)
        outcome.code = ws.close_code if ws.close_code is not None else ABNORMAL_CLOSURE
        outcome.detail = ws.close_reason or ""
        log.info("messaging session closed: %s %s", outcome.code, outcome.detail)
        if outcome.established and self._loss is None:
            self._loss = _Loss(datetime.now(UTC), outcome.code, outcome.detail)

    async def _receive(
        self, ws: ClientConnection, reconnecting: bool, outcome: _Outcome
    ) -> AsyncGenerator[Item, None]:
        gate = EstablishmentGate()
        try:
            async for raw in ws:
                try:
                    event = decode(raw)
                except FrameError as exc:
                    log.warning("dropping a frame: %s", exc)  # as the JS SDK does
                    continue
                action = gate.feed(event)
                if action == "deliver":
                    delivered = self._deliverable(event)
                    if delivered is not None:
                        yield delivered
                elif action == "establish":
                    outcome.established = True
                    self._controller.reset()
                    async with contextlib.aclosing(self._established(reconnecting)) as items:
                        async for item in items:
                            yield item
                    for held in gate.release():
                        delivered = self._deliverable(held)
                        if delivered is not None:
                            yield delivered
        except ConnectionClosed:
            pass  # the close code is read from the connection by the caller

    async def _established(self, reconnecting: bool) -> AsyncGenerator[Item, None]:
        now = datetime.now(UTC)
        yield Established(self.session_id, reconnecting)
        if self._catch_up is not None:
            self._catch_up.established(now)
        loss, self._loss = self._loss, None
        if loss is None:
            return
        yield Gap(loss.at, now, loss.code, loss.reason, catching_up=self._catch_up is not None)
        if self._catch_up is not None:
            async with contextlib.aclosing(self._run_catch_up(self._catch_up)) as items:
                async for item in items:
                    yield item

    def _deliverable(self, event: Event) -> SessionEvent | None:
        state = self._catch_up
        if state is not None:
            if state.is_duplicate(event):
                return None
            state.observe(event)
        return SessionEvent.of(event)

    # --- catch-up -------------------------------------------------------------------------------

    async def _run_catch_up(self, state: CatchUpState) -> AsyncGenerator[Item, None]:
        failures: list[tuple[str, str]] = []
        try:
            memberships: list[str] | None = await self._until_stopped(
                asyncio.to_thread(self._list_my_channels)
            )
        except _StopRequested:
            return
        except Exception as exc:
            failures.append(("*", _describe(exc)))
            memberships = None
        plan = state.plan(memberships)
        recovered = 0
        for channel_arn, not_before in plan:
            token: str | None = None
            while True:
                try:
                    page = await self._until_stopped(
                        asyncio.to_thread(self._list_messages, channel_arn, not_before, token)
                    )
                except _StopRequested:
                    return
                except Exception as exc:
                    failures.append((channel_arn, _describe(exc)))
                    break
                sub = page.get("SubChannelId")
                for summary in page.get("ChannelMessages") or ():
                    # A live payload of an elastic channel names its sub-channel; so does this.
                    summary = {**summary, "SubChannelId": sub} if sub else summary
                    payload = state.accept(channel_arn, summary)
                    if payload is None:
                        continue
                    recovered += 1
                    yield SessionEvent(
                        EventType.CREATE_CHANNEL_MESSAGE,
                        _message_type(payload),
                        payload,
                        caught_up=True,
                    )
                token = page.get("NextToken")
                if not token:
                    break
        yield CaughtUp(recovered, len(plan), tuple(failures))

    def _list_my_channels(self) -> list[str]:
        arns: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "ChimeBearer": self.user_arn,
                "AppInstanceUserArn": self.user_arn,
                "MaxResults": 50,
            }
            if token:
                kwargs["NextToken"] = token
            page = self._api_client.list_channel_memberships_for_app_instance_user(**kwargs)
            for item in page.get("ChannelMemberships") or ():
                arn = (item.get("ChannelSummary") or {}).get("ChannelArn")
                if isinstance(arn, str):
                    arns.append(arn)
                    sub = (item.get("AppInstanceUserMembershipSummary") or {}).get("SubChannelId")
                    if isinstance(sub, str) and self._catch_up is not None:
                        self._catch_up.in_sub_channel(arn, sub)
            token = page.get("NextToken")
            if not token:
                return arns

    def _list_messages(
        self, channel_arn: str, not_before: datetime, token: str | None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "ChannelArn": channel_arn,
            "ChimeBearer": self.user_arn,
            "SortOrder": "ASCENDING",
            "NotBefore": not_before,
            "MaxResults": 50,
        }
        if token:
            kwargs["NextToken"] = token
        sub = self._catch_up.sub_channel(channel_arn) if self._catch_up is not None else None
        if sub is not None:  # an elastic channel: its messages are per sub-channel
            kwargs["SubChannelId"] = sub
        page: dict[str, Any] = self._api_client.list_channel_messages(**kwargs)
        return page

    # --- botocore (always called in a worker thread) --------------------------------------------

    async def _ensure_clients(self) -> None:
        if self._lookup_client is None:
            await asyncio.to_thread(self._make_clients)

    def _make_clients(self) -> None:
        import botocore.session
        from botocore.config import Config

        if self._boto_session is None:
            self._boto_session = botocore.session.get_session()
        session = self._boto_session
        # botocore's Session.create_client and boto3's Session.client take the same arguments.
        factory = getattr(session, "create_client", None) or session.client

        def make(max_attempts: int) -> Any:
            config = Config(
                retries={"mode": "standard", "max_attempts": max_attempts},
                user_agent_extra="bellwire-messaging-session",
            )
            return factory(
                "chime-sdk-messaging",
                region_name=self._region,
                endpoint_url=self._endpoint_url,
                config=config,
            )

        # The lookup is retried by the reconnect policy, within its window: botocore's own
        # retries would only stretch one attempt. Catch-up calls keep botocore's retries.
        self._lookup_client = make(1)
        self._api_client = make(3) if self._catch_up is not None else None

    def _resolve(self) -> _Target:
        client = self._lookup_client
        response = client.get_messaging_session_endpoint()
        scheme, host = websocket_target(response["Endpoint"]["Url"], client.meta.endpoint_url)
        credentials = self._boto_session.get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials found")
        # Refreshable credentials (SSO, roles, IMDS) refresh here when they are about to expire.
        frozen = credentials.get_frozen_credentials()
        return _Target(
            scheme=scheme,
            host=host,
            region=client.meta.region_name,
            access_key_id=frozen.access_key,
            secret_access_key=frozen.secret_key,
            session_token=frozen.token,
        )

    # --- plumbing -------------------------------------------------------------------------------

    async def _until_stopped(
        self, awaitable: Awaitable[T], discard: Callable[[T], Awaitable[None]] | None = None
    ) -> T:
        """Await ``awaitable`` unless stop() comes first: then cancel it (a worker thread is
        left to finish on its own) and raise _StopRequested."""
        task: asyncio.Future[T] = asyncio.ensure_future(awaitable)
        stopper: asyncio.Future[Any] = asyncio.ensure_future(self._stop_requested.wait())
        both: set[asyncio.Future[Any]] = {task, stopper}
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            raise _StopRequested
        result = task.result()
        if self._stop_requested.is_set():
            if discard is not None:
                await discard(result)
            raise _StopRequested
        return result


async def _close_quietly(ws: ClientConnection) -> None:
    await ws.close(NORMAL_CLOSURE)


def _message_type(payload: Mapping[str, Any]) -> MessageType:
    try:
        return MessageType(payload.get("Type", "STANDARD"))
    except ValueError:
        return MessageType.STANDARD


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
