"""``GET /connect``: the messaging-session handshake and the life of one session.

The upgrade is always completed before a refusal, which is then a WebSocket close code with a
reason: a browser reports an HTTP-level rejection as 1006, which the JS SDK retries (spec §2.4).
Order of a connect: presigned-URL signature (4401) → chime:Connect on ``userArn`` (4003) →
connect rate (4429) → the user exists (4003) → register (tracking membership changes) → one
store snapshot of the user's channels → subscribe → SESSION_ESTABLISHED → CHANNEL_DETAILS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from bellwire import ids
from bellwire.aws import arn as arns
from bellwire.aws import sigv4
from bellwire.aws.errors import AccessDenied, AwsError
from bellwire.bus.base import ClusterLimits
from bellwire.domain.delivery import CloseSessions
from bellwire.events import Event, EventType, MessageType
from bellwire.gateway import close_codes, handshake, prefetch
from bellwire.gateway.frames import event_frame
from bellwire.gateway.hub import Hub, Session
from bellwire.gateway.request_head import ConnectHead
from bellwire.gateway.session_socket import LOST, SessionSocket
from bellwire.gateway.takeover import Detached, Takeover, detach
from bellwire.iam.authenticate import Authenticator
from bellwire.iam.authorize import authorize, transport_facts
from bellwire.iam.principal import Principal
from bellwire.logs import quoted, token
from bellwire.metrics import Metrics, code_label
from bellwire.records.chime import Channel, MemberSummary, Message, Position
from bellwire.store.base import Store, StoreClosed, StoreUnavailable, Tx
from bellwire.store.deadlines import Deadlines

log = logging.getLogger(__name__)
session_log = logging.getLogger("bellwire.session")
auth_log = logging.getLogger("bellwire.auth")

# The parameters a session is made of; each may be given once.
_SESSION_PARAMS = ("userArn", "sessionId", "prefetch-on", "prefetch-sort-by")
ESTABLISHED = event_frame(Event(EventType.SESSION_ESTABLISHED, MessageType.SYSTEM))


class Refused(Exception):
    def __init__(
        self, code: int, reason: str, *, auth_error: str = "", access_key_id: str = ""
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.auth_error = auth_error  # the authentication failure's error type, if it is one
        self.access_key_id = access_key_id


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    max_sessions_per_user: int
    connects_per_second: float
    connect_burst: int
    max_client_frame: int
    prefetch_channels: int
    prefetch_messages: int
    prefetch_memberships: int
    prefetch_cache_bytes: int = 0
    close_timeout: float = 5.0
    max_presign_seconds: int = sigv4.MAX_PRESIGN_EXPIRES
    store_timeout: float = 0.0  # how long a connect's snapshot may take (0: no limit)


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    principal: Principal
    user_arn: str
    session_id: str
    prefetch: bool
    sort_by: str | None
    expires_at: float | None


class _Bucket:
    """A token bucket: ``rate`` connects per second with bursts of ``burst``."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, burst: int) -> None:
        self.tokens = float(burst)
        self.stamp = time.monotonic()


class Gateway:
    def __init__(
        self,
        *,
        store: Store,
        authenticator: Authenticator,
        hub: Hub,
        settings: GatewaySettings,
        metrics: Metrics,
        now: Callable[[], float] = time.time,
        limits: ClusterLimits | None = None,
        close_elsewhere: Callable[[CloseSessions], None] | None = None,
        bus_ready: Callable[[], bool] = lambda: True,
    ) -> None:
        """``limits``: per-user limits across the cluster (else counted here);
        ``close_elsewhere`` publishes a close command to the other nodes; ``bus_ready`` is
        False while the node may be missing other nodes' events (connects are refused)."""
        self._store = store
        self._limits = limits
        self._close_elsewhere = close_elsewhere
        self._bus_ready = bus_ready
        self._metrics = metrics
        self._auth = authenticator
        self.hub = hub
        self._settings = settings
        self._now = now
        self._buckets: dict[str, _Bucket] = {}
        self._sockets: set[SessionSocket] = set()  # every upgraded connection still open
        self._all_closed: asyncio.Event | None = None  # set when the drain has none left
        self._details = prefetch.DetailsCache(settings.prefetch_cache_bytes)
        self._deadlines = Deadlines(settings.store_timeout)
        self.draining = False

    @property
    def details_cache(self) -> prefetch.DetailsCache:
        return self._details

    @property
    def open_sockets(self) -> int:
        """Upgraded connections still open (sessions, and refusals finishing their close)."""
        return len(self._sockets)

    @property
    def rate_buckets(self) -> int:
        return len(self._buckets)

    # --- the handshake (pure checks first) ------------------------------------------------------

    def authenticate(self, request: ConnectHead) -> ConnectRequest:
        path, _, query = request.raw_path.partition("?")
        signed: sigv4.SignedRequest | None = None
        try:
            signed = sigv4.parse_presigned_query(
                request.method,
                path,
                query,
                request.host,
                header_names=request.headers.keys(),
                max_expires=self._settings.max_presign_seconds,
            )
            principal = self._auth.check(signed, service="chime")
        except AwsError as err:
            raise Refused(
                close_codes.UNAUTHORIZED,
                f"Unauthorized: {err.message}",
                auth_error=err.shape,
                access_key_id=signed.access_key_id if signed is not None else "",
            ) from None
        params = dict(signed.query)
        if len(params) != len(signed.query):
            counts = Counter(key for key, _ in signed.query)
            repeated = [key for key in _SESSION_PARAMS if counts[key] > 1]
            if repeated:
                # Signed, but ambiguous: which userArn would the session be for?
                raise Refused(
                    close_codes.FORBIDDEN,
                    f"Forbidden: the parameter {repeated[0]} is given more than once.",
                )
        user_arn = params.get("userArn", "")
        parsed = arns.parse(user_arn)
        if parsed is None or parsed.kind != "user":
            raise Refused(
                close_codes.FORBIDDEN, "Forbidden: userArn must be an AppInstanceUser ARN."
            )
        try:
            authorize(
                principal,
                "chime:Connect",
                [user_arn],
                transport_facts(request.remote, request.secure),
            )
        except AccessDenied as err:
            raise Refused(close_codes.FORBIDDEN, f"Forbidden: {err.message}") from None
        sort_by = params.get("prefetch-sort-by")
        if sort_by is not None and sort_by not in prefetch.SORTS:
            raise Refused(
                close_codes.FORBIDDEN,
                f"Forbidden: prefetch-sort-by must be one of {', '.join(prefetch.SORTS)}.",
            )
        credential = self._auth.credential(signed.access_key_id)
        return ConnectRequest(
            principal=principal,
            user_arn=user_arn,
            session_id=params.get("sessionId") or ids.hex_id(8),
            prefetch=params.get("prefetch-on") == "connect",
            sort_by=sort_by,
            expires_at=credential.expires_at if credential else None,
        )

    async def _connect_token(self, user_arn: str) -> bool | None:
        """Whether the user may connect now; None when the cluster cannot count it (Redis
        unreachable, or its connections all busy past their wait): the client is not at fault,
        so it hears 1013 (retry), not 4429 (back off)."""
        if self._limits is None:
            return self._take_connect_token(user_arn)
        s = self._settings
        try:
            return await self._limits.take_connect_token(
                user_arn, s.connects_per_second, s.connect_burst
            )
        except Exception as exc:  # the bus is down: no connect can be counted
            log.warning("connect rate of %s not counted: %s", user_arn, exc)
            return None

    def _take_connect_token(self, user_arn: str) -> bool:
        s = self._settings
        bucket = self._buckets.get(user_arn)
        now = time.monotonic()
        if bucket is None:
            bucket = self._buckets[user_arn] = _Bucket(s.connect_burst)
        else:
            bucket.tokens = min(
                float(s.connect_burst), bucket.tokens + (now - bucket.stamp) * s.connects_per_second
            )
            bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        if len(self._buckets) > 100_000:  # forget idle users rather than grow without bound
            full = [u for u, b in self._buckets.items() if b.tokens >= s.connect_burst - 1]
            for user in full[:50_000]:
                del self._buckets[user]
        return True

    # --- the session ----------------------------------------------------------------------------

    async def connect(
        self, request: web.BaseRequest, *, origin_allowed: bool = True
    ) -> web.StreamResponse:
        """A /connect that came through aiohttp (a later request on a kept-alive connection,
        or a head the front left to it). ``origin_allowed`` False (a browser page from an
        origin outside cors_allowed_origins): refused with 4003 before the signature is even
        looked at, the one protection a browser leaves to the server on an upgrade; 4003 is
        final for the official clients, so they do not retry."""
        head = ConnectHead(
            method=request.method,
            raw_path=request.raw_path,
            host=request.host,
            headers=request.headers,
            remote=request.remote,
            secure=request.secure,
        )
        refusal, connect = await self._decide(head, origin_allowed)
        try:
            accept = handshake.check_upgrade(request.method, request.headers)
        except handshake.HandshakeError as err:
            # Not a WebSocket upgrade at all: an HTTP answer is all we can do. Raised, not
            # returned: aiohttp deprecates returning an HTTPException.
            if err.status == 405:
                raise web.HTTPMethodNotAllowed(request.method, ["GET"], text=err.reason) from None
            raise web.HTTPBadRequest(text=err.reason) from None
        taken = detach(request)
        if taken is not None:  # else the peer left
            await self._establish(taken, accept, head, refusal, connect)
        return Detached()

    async def connect_head(
        self,
        head: ConnectHead,
        accept: str,
        take: Callable[[], Takeover | None],
        *,
        origin_allowed: bool = True,
    ) -> None:
        """A /connect whose head the server's front read (``bellwire.front``): a valid
        upgrade already; ``take`` hands the connection over (None if the peer left)."""
        refusal, connect = await self._decide(head, origin_allowed)
        taken = take()
        if taken is not None:
            await self._establish(taken, accept, head, refusal, connect)

    async def _decide(
        self, head: ConnectHead, origin_allowed: bool
    ) -> tuple[Refused | None, ConnectRequest | None]:
        refusal: Refused | None = None
        connect: ConnectRequest | None = None
        try:
            if not origin_allowed:
                raise Refused(
                    close_codes.FORBIDDEN,
                    f"Forbidden: origin {head.headers.get('Origin')} is not allowed.",
                )
            connect = self.authenticate(head)
        except Refused as exc:
            refusal = exc
        if self.draining:
            refusal = Refused(close_codes.SERVICE_RESTART, "The server is restarting.")
        elif refusal is None and not self._bus_ready():
            refusal = Refused(
                close_codes.TRY_AGAIN_LATER, "The server is reconnecting to its peers; retry."
            )
        if refusal is None and connect:
            token = await self._connect_token(connect.user_arn)
            if token is None:
                refusal = Refused(
                    close_codes.TRY_AGAIN_LATER, "Connects cannot be counted now; retry."
                )
            elif not token:
                refusal = Refused(
                    close_codes.TOO_MANY_CONNECTS, "Too many connects for this user; retry later."
                )
        return refusal, connect

    async def _establish(
        self,
        taken: Takeover,
        accept: str,
        head: ConnectHead,
        refusal: Refused | None,
        connect: ConnectRequest | None,
    ) -> None:
        sock = self._take_over(taken, accept)
        if refusal is not None or connect is None:
            assert refusal is not None
            sock.close(refusal.code, refusal.reason)
            self._refused(head, refusal, connect.user_arn if connect else "")
            return
        await self._run(sock, head, connect)

    def _take_over(self, taken: Takeover, accept: str) -> SessionSocket:
        """Answer the upgrade and move the connection to a socket of our own."""
        transport = taken.transport
        sock = SessionSocket(
            transport,
            self,
            head=handshake.switching_protocols(accept),
            # The setting is the largest message tolerated.
            max_message=self._settings.max_client_frame,
            close_timeout=self._settings.close_timeout,
        )
        transport.set_protocol(sock)
        self._sockets.add(sock)
        if taken.pending is not None:
            sock.guard = taken.pending
            taken.pending.admit(sock)
        if taken.tail:
            sock.data_received(taken.tail)
        return sock

    async def _run(self, sock: SessionSocket, request: ConnectHead, c: ConnectRequest) -> None:
        loop = asyncio.get_running_loop()
        session = Session(c.user_arn, c.session_id, sock, sock.close)
        if self._limits is not None and not await self._admit_in_cluster(sock, request, c, session):
            return
        self._admit(session)
        try:
            snapshot = await self._deadlines.wait(
                self._store.read(lambda tx: self._snapshot(tx, c))
            )
        except StoreClosed:
            self._end_early(session)
            sock.close(close_codes.SERVICE_RESTART, "The server is restarting.")
            return
        except StoreUnavailable:
            # The database is unreachable or does not answer in time: nothing to catch up
            # from yet. 1013 is one the official clients reconnect on, with backoff, until it
            # is back.
            log.info("connect of %s refused: the database is unreachable", c.user_arn)
            self._end_early(session)
            sock.close(close_codes.TRY_AGAIN_LATER, "The database is unavailable; try again later.")
            return
        except Exception:
            # A session's 500: its traceback once, with the ids a client or operator can quote.
            log.exception("connect of %s (sessionId %s) failed", c.user_arn, c.session_id)
            self._end_early(session)
            sock.close(1011, "Internal error")
            self._refused(request, Refused(1011, "Internal error"), c.user_arn)
            return
        if snapshot is None:
            self._end_early(session)
            reason = f"Forbidden: the user {c.user_arn} does not exist."
            sock.close(close_codes.FORBIDDEN, reason)
            self._refused(request, Refused(close_codes.FORBIDDEN, reason), c.user_arn)
            return
        if session.closed:  # replaced or deleted while the snapshot was read
            self._end_early(session)
            self._refused(request, Refused(session.close_code, session.close_reason), c.user_arn)
            return
        subscriptions, details = snapshot
        # SESSION_ESTABLISHED and the CHANNEL_DETAILS are queued first, then the events the
        # node applied after the snapshot (establish replays them), then live events; all in
        # this loop turn, so nothing comes between.
        self.hub.send(session, ESTABLISHED)
        for frame in details:
            self.hub.send(session, frame)
        self.hub.establish(session, subscriptions)
        self._metrics.connects.labels("established", "").inc()
        if session_log.isEnabledFor(logging.INFO):
            session_log.info(
                "session opened user=%s session=%s principal=%s remote=%s",
                token(c.user_arn),
                token(c.session_id),
                c.principal.arn,
                request.remote,
                extra={
                    "event": "session_opened",
                    "user_arn": c.user_arn,
                    "session_id": c.session_id,
                    "principal": c.principal.arn,
                    "remote": request.remote,
                },
            )
        if c.expires_at is not None:
            session.expiry = loop.call_at(
                loop.time() + max(0.0, c.expires_at - self._now()),
                self.hub.close,
                session,
                close_codes.CREDENTIALS_EXPIRED,
                "The session's credentials expired; refresh them and reconnect.",
            )
        # From here the socket carries the session; its end calls socket_lost.
        sock.session = session
        if sock.lost:  # the connection went away while the session was being set up
            self.socket_lost(sock)

    async def _admit_in_cluster(
        self, sock: SessionSocket, request: ConnectHead, c: ConnectRequest, session: Session
    ) -> bool:
        """Take the session's lease in the cluster; the sessions it replaces elsewhere are
        closed by a command on the bus (those on this node by _admit, as without a bus)."""
        assert self._limits is not None
        try:
            replaced = await self._limits.admit(
                c.user_arn, c.session_id, self._settings.max_sessions_per_user
            )
        except Exception as exc:
            log.warning("session of %s not admitted: %s", c.user_arn, exc)
            refusal = Refused(close_codes.TRY_AGAIN_LATER, "Sessions cannot be counted; retry.")
            sock.close(refusal.code, refusal.reason)
            self._refused(request, refusal, c.user_arn)
            return False
        session.lease = replaced.lease
        for session_id, _node in replaced.replaced:
            same = session_id == c.session_id
            reason = (
                "Replaced by a newer session with this sessionId."
                if same
                else "Replaced by a newer session: too many sessions."
            )
            if self._close_elsewhere is not None:
                # Published before this session is registered, so that the command (which the
                # bus also hands to this node) does not close the new session itself.
                self._close_elsewhere(
                    CloseSessions(c.user_arn, close_codes.FORBIDDEN, reason, session_id)
                )
        return True

    def _end_early(self, session: Session) -> None:
        """A session that ends before it is established."""
        self.hub.remove(session)
        if self._limits is not None:
            self._limits.release(session.user_arn, session.id, session.lease)

    def socket_lost(self, sock: SessionSocket) -> None:
        """A /connect connection is closed: end its session, if it had one."""
        self._sockets.discard(sock)
        session = sock.session
        if session is not None:
            sock.session = None
            self.hub.remove(session)
            if self._limits is not None:
                self._limits.release(session.user_arn, session.id, session.lease)
            self._closed(session, *(sock.ended or LOST))
        if not self._sockets and self._all_closed is not None:
            self._all_closed.set()

    def _refused(self, request: ConnectHead, refusal: Refused, user_arn: str) -> None:
        self._metrics.connects.labels("refused", code_label(refusal.code)).inc()
        if refusal.auth_error:
            self._metrics.auth_failures.labels("connect", refusal.auth_error).inc()
            if auth_log.isEnabledFor(logging.INFO):
                auth_log.info(
                    "authentication failed on /connect: %s %s key=%s remote=%s",
                    refusal.auth_error,
                    quoted(refusal.reason),
                    token(refusal.access_key_id) if refusal.access_key_id else "-",
                    request.remote,
                    extra={
                        "event": "authentication_failed",
                        "endpoint": "connect",
                        "error": refusal.auth_error,
                        "reason": refusal.reason,
                        "access_key_id": refusal.access_key_id,
                        "remote": request.remote,
                    },
                )
            return
        if session_log.isEnabledFor(logging.INFO):
            session_log.info(
                "connect refused code=%d reason=%s user=%s remote=%s",
                refusal.code,
                quoted(refusal.reason),
                token(user_arn) if user_arn else "-",
                request.remote,
                extra={
                    "event": "connect_refused",
                    "code": refusal.code,
                    "reason": refusal.reason,
                    "user_arn": user_arn,
                    "remote": request.remote,
                },
            )

    def _closed(self, session: Session, code: int, reason: str, initiator: str) -> None:
        """Count and log the end of an established session; whoever closed it first decides
        the code (the hub records its own closes on the session)."""
        if session.close_code:
            code, reason, initiator = session.close_code, session.close_reason, "server"
        self._metrics.session_closes.labels(initiator, code_label(code)).inc()
        if session_log.isEnabledFor(logging.INFO):
            duration = time.monotonic() - session.connected_at
            session_log.info(
                "session closed user=%s session=%s code=%d initiator=%s reason=%s duration=%.1fs",
                token(session.user_arn),
                token(session.id),
                code,
                initiator,
                quoted(reason),
                duration,
                extra={
                    "event": "session_closed",
                    "user_arn": session.user_arn,
                    "session_id": session.id,
                    "code": code,
                    "initiator": initiator,
                    "reason": reason,
                    "duration_seconds": round(duration, 3),
                },
            )

    def _admit(self, session: Session) -> None:
        """A newer session replaces one with the same sessionId (a client reconnecting before
        the server noticed the old socket died) and, at the per-user limit, the oldest one."""
        peers = self.hub.sessions_of(session.user_arn)
        for old in [p for p in peers if p.id == session.id]:
            self.hub.close(
                old, close_codes.FORBIDDEN, "Replaced by a newer session with this sessionId."
            )
        peers = self.hub.sessions_of(session.user_arn)
        while len(peers) >= self._settings.max_sessions_per_user:
            oldest = min(peers, key=lambda p: p.connected_at)
            self.hub.close(
                oldest, close_codes.FORBIDDEN, "Replaced by a newer session: too many sessions."
            )
            peers = self.hub.sessions_of(session.user_arn)
        self.hub.add(session)

    def _snapshot(
        self, tx: Tx, c: ConnectRequest
    ) -> tuple[list[tuple[str, int]], list[bytes]] | None:
        """One consistent read: the user's channels with their sequence numbers, and the
        prefetched CHANNEL_DETAILS frames (None when the user does not exist)."""
        mine = tx.positions(c.user_arn, read_markers=c.prefetch)
        if mine is None:
            return None
        # An elastic channel's sessions subscribe to (and prefetch) their sub-channels.
        subscriptions = [(p.route_key, p.seq) for p in mine]
        if not c.prefetch:
            return subscriptions, []
        s = self._settings
        frames: list[bytes] = []
        for p in prefetch.select(mine, sort_by=c.sort_by, cap=s.prefetch_channels):
            key = p.route_key
            shared = self._details.get(key, p.version)
            if shared is None:
                # Not rendered at this version yet: the channel's record, from the same snapshot.
                channel = tx.channel(p.channel_arn)
                if channel is None:  # deleted, but then its membership went in the same commit
                    continue
                rendered = self._render_details(tx, channel, p, c.user_arn)
                if isinstance(rendered, bytes):  # this reader's own frame
                    frames.append(rendered)
                    continue
                shared = rendered
                self._details.put(key, p.version, shared)
            frames.append(prefetch.details_frame(shared, p.read_marker))
        return subscriptions, frames

    def _render_details(
        self,
        tx: Tx,
        channel: Channel,
        position: Position,
        reader: str,
    ) -> prefetch.SharedDetails | bytes:
        """Render a channel's CHANNEL_DETAILS: the part every member shares, or, when a recent
        message is targeted (members see different messages), this reader's whole frame."""
        s = self._settings
        caps = {"messages_cap": s.prefetch_messages, "members_cap": s.prefetch_memberships}
        sub = position.sub_channel_id
        if sub is None:
            members = tx.member_summaries(channel.arn, "DEFAULT", s.prefetch_memberships)
        else:
            held = tx.list_sub_channel_memberships(
                channel.arn, sub, "DEFAULT", None, s.prefetch_memberships
            )
            names = tx.user_names(m.member_arn for m in held)
            members = [
                MemberSummary(m.member_arn, names.get(m.member_arn), m.read_marker) for m in held
            ]

        def newest(viewer: str | None) -> list[Message]:
            # Messages a channel flow holds or failed are not shown to every member alike.
            return [
                m
                for m in tx.list_messages(
                    channel.arn,
                    viewer=viewer,
                    descending=True,
                    not_before=None,
                    not_after=None,
                    after_seq=None,
                    limit=s.prefetch_messages + 1,
                    sub_channel_id=sub,
                )
                if m.status == "SENT" or m.sender_arn == viewer
            ]

        messages = newest(None)
        if not any(m.target_arn for m in messages):
            return prefetch.shared_details(channel, messages, members, **caps)
        item = prefetch.ChannelDetails(channel, newest(reader), members, position.read_marker)
        payload = prefetch.payload(item, **caps)
        return event_frame(Event(EventType.CHANNEL_DETAILS, MessageType.SYSTEM, payload))

    # --- shutdown -------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Close every session with 1012 (clients reconnect) and wait for the handshakes;
        connections still open after the close timeout are dropped."""
        self.draining = True
        for session in self.hub.all_sessions():
            self.hub.close(session, close_codes.SERVICE_RESTART, "The server is restarting.")
        for sock in list(self._sockets):
            sock.close(close_codes.SERVICE_RESTART, "The server is restarting.")
        if self._sockets:
            self._all_closed = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), self._settings.close_timeout + 1)
        for sock in list(self._sockets):
            sock.abort()
        self.hub.stop()
