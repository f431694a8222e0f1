"""The console's aiohttp shell: routes, the sign-in session, reads, writes and the live tail.

Reads are authorized exactly as the API authorizes the list or describe operation they mirror
(``<service>:<Operation>`` on the ARNs the registry names for it) and then read the store with
its key-after listings, one page at a time. Writes run the registered operation through
``api/operations.py`` as the signed-in principal. What a page shows is rendered by the pure
``frame``, ``chime_pages``, ``live_pages`` and ``iam_pages`` modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from bellwire.api import admin as admin_api
from bellwire.api.operations import Operations, find
from bellwire.aws import codec
from bellwire.aws.errors import AccessDenied, AwsError, BadRequest, NotFound
from bellwire.aws.query import QueryCodec
from bellwire.bus.base import ClusterLimits
from bellwire.bus.wire import ClusterSessions, SessionsAsk, merge
from bellwire.config import Settings
from bellwire.console import chime_pages, figures, frame, iam_pages, live_pages, simulator
from bellwire.console.actions import ACTIONS, Action, inputs
from bellwire.console.features import Feature, feature, supported
from bellwire.console.frame import Viewer
from bellwire.console.iam_pages import KeyRow
from bellwire.console.live_pages import SessionRow
from bellwire.console.markup import Markup
from bellwire.console.security import (
    SECURITY_HEADERS,
    SignInThrottle,
    cookie_header,
    cookie_of,
    csrf_ok,
    open_session,
    same_origin,
    secret_ok,
    token_key,
)
from bellwire.console.tail import Tail
from bellwire.domain.delivery import CloseSessions
from bellwire.forwarded import client_address, parse_trusted
from bellwire.gateway.hub import Hub
from bellwire.iam.authorize import Facts, authorize, transport_facts
from bellwire.iam.credentials import CredentialIndex
from bellwire.iam.principal import Principal
from bellwire.records.chime import Membership
from bellwire.records.flows import ChannelFlow
from bellwire.records.iam import ConsoleSession, IamUser, name_key
from bellwire.store.base import IamTx, Store, StoreUnavailable
from bellwire.store.deadlines import Deadlines

log = logging.getLogger("bellwire.console")
T = TypeVar("T")
R = TypeVar("R")

PAGE = 50  # rows per page
SESSIONS_PAGE = 100
SIGN_IN_WINDOW = 60.0  # seconds over which console_signin_failures are counted
HEARTBEAT = 15.0  # seconds between keep-alive comments of an idle event stream
STATIC = {"console.js": "text/javascript", "console.css": "text/css"}
DENIED = "Not allowed"


class Console:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        operations: Operations,
        credentials: CredentialIndex,
        hub: Hub,
        metrics: Callable[[], str] | None,
        ready: Callable[[], Awaitable[bool]],
        store_answers: Callable[[], Awaitable[bool]],
        mark_authenticated: Callable[[], None] = lambda: None,
        now: Callable[[], float] = time.time,
        ask_sessions: Callable[[str | None, int, int], Awaitable[ClusterSessions]] | None = None,
        publish_close: Callable[[CloseSessions], None] | None = None,
        limits: ClusterLimits | None = None,
    ) -> None:
        """``ask_sessions`` lists every node's sessions (the bus's ask; without it, this
        node's); ``publish_close`` sends a close command to the other nodes and ``limits``
        counts failed sign-ins across them (a Redis bus)."""
        self._limits = limits
        self._settings = settings
        self._ask = ask_sessions
        self._publish_close = publish_close
        self._store = store
        self._ops = operations
        self._credentials = credentials
        self._hub = hub
        self._metrics = metrics
        self._ready = ready
        self._store_answers = store_answers
        self._mark_authenticated = mark_authenticated
        self._now = now
        self.tail = Tail()
        self.throttle = SignInThrottle(settings.console_signin_failures, SIGN_IN_WINDOW)
        self._deadlines = Deadlines(settings.store_timeout_seconds)
        self._proxies = parse_trusted(settings.console_trusted_proxies)
        self._node = f"{socket.gethostname()} (pid {os.getpid()})"
        self._static = {
            name: (resources.files("bellwire.console").joinpath("static", name).read_bytes(), kind)
            for name, kind in STATIC.items()
        }

    def close(self) -> None:
        self.tail.close()

    # --- entry ---------------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await self._route(request)
        except web.HTTPException as exc:  # aiohttp's own refusals: a body over client_max_size
            return web.Response(status=exc.status, text=exc.reason, headers=SECURITY_HEADERS)
        except StoreUnavailable as exc:
            # Sign-ins are kept in the store, so no page works without it; /metrics, /readyz
            # and the log still tell an operator what is going on.
            log.warning("console: %s %s refused: %s", request.method, request.path, exc)
            response = _page(
                frame.failure(
                    None,
                    "Database unavailable",
                    "The database does not answer, and every console page needs it. REST "
                    "answers 503 meanwhile; /metrics and the log say more. Try again shortly.",
                ),
                503,
            )
            response.headers["Retry-After"] = "5"
            return response
        except Exception:
            log.exception("console request failed: %s %s", request.method, request.path)
            return _page(frame.failure(None, "Error", "The console failed; see the log."), 500)

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        path, method = request.path, request.method
        if path in ("/console", "/console/") and method == "GET":
            path = "/console/server"
        if path.startswith("/console/static/") and method == "GET":
            return self._static_file(path.removeprefix("/console/static/"))
        if path == "/console/signin":
            if method == "POST":
                return await self._sign_in(request)
            return _page(frame.sign_in())
        cookie = cookie_of(request.headers.get("Cookie"))
        key = token_key(cookie) if cookie else ""
        session = await self._session(key)
        principal = self._principal(session)
        if session is None or principal is None:
            if method == "GET":
                return _see_other("/console/signin")
            return _page(frame.sign_in("Sign in first."), 401)
        self._mark_authenticated()
        viewer = Viewer(principal.arn, session.csrf)
        facts = transport_facts(request.remote, request.secure)
        if method == "POST":
            form = await _form(request)
            if not same_origin(request.headers, request.host) or not csrf_ok(
                session, form.get("csrf")
            ):
                log.warning("console: refused a write without a valid CSRF token or origin")
                return _page(
                    frame.failure(viewer, "Refused", "The form is stale or not from this page."),
                    403,
                )
            if path == "/console/signout":
                await self._deadlines.wait(
                    self._store.write(lambda tx: tx.close_console_session(key))
                )
                return _see_other(
                    "/console/signin", cookie_header("", secure=request.secure, max_age=0)
                )
            if path.startswith("/console/do/"):
                name = path.removeprefix("/console/do/")
                return await self._do(request, name, form, viewer, principal, facts)
            return _page(frame.failure(viewer, "Not found", f"No console form at {path}."), 404)
        if method != "GET":
            return _page(frame.failure(viewer, "Not allowed", f"{method} is not used here."), 405)
        if path == "/console/channel/events":
            return await self._events(request, key, principal, facts)
        view = self._views().get(path)
        if view is None:
            return _page(frame.failure(viewer, "Not found", f"No console page at {path}."), 404)
        query = {k: v for k, v in request.query.items()}
        try:
            return _page(await view(viewer, principal, facts, query))
        except AwsError as err:
            return _page(frame.failure(viewer, _title(err), err.message), err.status)

    def _views(
        self,
    ) -> Mapping[str, Callable[[Viewer, Principal, Facts, Mapping[str, str]], Awaitable[Markup]]]:
        return {
            "/console/server": self._server,
            "/console/apps": self._apps,
            "/console/app": self._app,
            "/console/channel": self._channel,
            "/console/sessions": self._sessions,
            "/console/iam": self._iam,
            "/console/iam/user": self._iam_user,
            "/console/iam/role": self._iam_role,
            "/console/simulate": self._simulate,
        }

    def _static_file(self, name: str) -> web.StreamResponse:
        found = self._static.get(name)
        if found is None:
            return web.Response(status=404, text="Not found.", headers=SECURITY_HEADERS)
        body, kind = found
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
        return web.Response(body=body, content_type=kind, headers=headers)

    # --- signing in ----------------------------------------------------------------------------

    async def _session(self, key: str) -> ConsoleSession | None:
        """The sign-in whose cookie's ``token_key`` is ``key``, if it has not ended (any node or
        worker opened it); none for no cookie ("")."""
        if not key:
            return None
        session = await self._deadlines.wait(self._store.read(lambda tx: tx.console_session(key)))
        return session if session is not None and session.expires > self._now() else None

    def _principal(self, session: ConsoleSession | None) -> Principal | None:
        """The session's principal as the credential index has it now (a key deleted or made
        inactive since the sign-in ends the console session too)."""
        if session is None:
            return None
        credential = self._credentials.get(session.access_key_id)
        if credential is None or not credential.active or credential.expires_at is not None:
            return None
        return credential.principal

    async def _sign_in_wait(self, address: str, now: float) -> float:
        wait = self.throttle.retry_after(address, now)
        if self._limits is not None and wait == 0:
            failures = self._settings.console_signin_failures
            wait = await self._limits.sign_in_wait(address, failures, SIGN_IN_WINDOW)
        return wait

    async def _sign_in_failed(self, address: str, now: float) -> None:
        # Counted here too: with Redis unreachable, each process's own count still holds.
        self.throttle.failed(address, now)
        if self._limits is not None:
            failures = self._settings.console_signin_failures
            await self._limits.sign_in_wait(address, failures, SIGN_IN_WINDOW, failed=True)

    async def _sign_in(self, request: web.BaseRequest) -> web.StreamResponse:
        address = (
            client_address(
                request.remote,
                request.headers.getall("Forwarded", []),
                request.headers.getall("X-Forwarded-For", []),
                self._proxies,
            )
            or "-"
        )
        now = self._now()
        wait = await self._sign_in_wait(address, now)
        if wait > 0:
            log.warning("console: sign-in from %s refused: too many failures", address)
            response = _page(
                frame.sign_in(f"Too many failed sign-ins. Try again in {wait:.0f} s."), 429
            )
            response.headers["Retry-After"] = str(max(1, round(wait)))
            return response
        if not same_origin(request.headers, request.host):
            return _page(frame.sign_in("The form is not from this page."), 403)
        form = await _form(request)
        key_id, secret = form.get("access_key_id"), form.get("secret_access_key")
        credential = self._credentials.get(key_id.strip()) if isinstance(key_id, str) else None
        if (
            credential is None
            or not isinstance(secret, str)
            or not secret_ok(credential.secret_access_key, secret)
            or not credential.active
            or credential.expires_at is not None  # temporary credentials: not for the console
        ):
            await self._sign_in_failed(address, now)
            # The key id is no secret; the secret is never logged.
            shown = key_id[:32] if isinstance(key_id, str) else "-"
            log.warning("console: failed sign-in from %s with access key %r", address, shown)
            return _page(
                frame.sign_in(
                    "The access key or secret is wrong, the key is inactive, or it is a "
                    "temporary credential (sign in with a root or IAM user's long-term key)."
                ),
                401,
            )
        # A fresh cookie at every sign-in (no session fixation); the one sent along is closed.
        cookie, session = open_session(
            credential.access_key_id, now, self._settings.console_session_seconds
        )
        await self._deadlines.wait(
            self._store.write(
                functools.partial(
                    _sign_in,
                    key=token_key(cookie),
                    session=session,
                    old=cookie_of(request.headers.get("Cookie")),
                    now=now,
                )
            )
        )
        log.info("console: %s signed in from %s", credential.principal.arn, address)
        max_age = self._settings.console_session_seconds
        return _see_other("/console", cookie_header(cookie, secure=request.secure, max_age=max_age))

    # --- authorization of reads ----------------------------------------------------------------

    def _may(
        self, principal: Principal, service: str, name: str, params: dict[str, Any], facts: Facts
    ) -> None:
        """Authorize a read as the API authorizes the operation it mirrors."""
        registered = find(service, name)
        if registered.resources is None:
            return
        call = self._ops.call_of(principal, facts)
        authorize(principal, registered.action, registered.resources(call, params), facts)

    async def _read(self, fn: Callable[[IamTx], T]) -> T:
        return await self._deadlines.wait(self._store.read(fn))

    # --- server --------------------------------------------------------------------------------

    async def _server(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        # What GET /metrics and /readyz show anyone who reaches them; the settings only to a
        # principal that may read IAM users (they name the root key id).
        ready = await self._ready()
        health = {
            "Liveness (/healthz)": "alive",
            "Readiness (/readyz)": "ready" if ready else "unavailable",
            "Store": "answering" if await self._store_answers() else "not answering",
            "Messaging sessions on this node": str(self._hub.session_count),
        }
        exposition = self._metrics() if self._metrics is not None else ""
        try:
            self._may(principal, "iam", "ListUsers", {}, facts)
            settings = figures.settings_in_force(self._settings)
        except AccessDenied:
            settings = [("-", "hidden: you may not list IAM users (iam:ListUsers)")]
        return frame.server(
            viewer,
            health=health,
            figures=figures.key_figures(exposition),
            settings=settings,
            node=self._node,
        )

    # --- app instances -------------------------------------------------------------------------

    async def _apps(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        self._may(principal, "chime", "ListAppInstances", {}, facts)
        after = query.get("after")
        rows = await self._read(lambda tx: tx.list_app_instances(after, PAGE + 1))
        return chime_pages.app_instances(viewer, rows[:PAGE], _next(rows, lambda a: a.arn))

    async def _app(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        arn, tab, after = query.get("arn", ""), query.get("tab", "users"), query.get("after")
        self._may(principal, "chime", "DescribeAppInstance", {"AppInstanceArn": arn}, facts)
        app = await self._read(lambda tx: tx.app_instance(arn))
        if app is None:
            raise NotFound(f"There is no app instance {arn}.")
        params = {"AppInstanceArn": arn}
        content: Markup
        if tab == "users":
            self._may(principal, "chime", "ListAppInstanceUsers", params, facts)
            rows = await self._read(lambda tx: tx.list_users(arn, after, PAGE + 1))
            content = chime_pages.app_users(viewer, app, rows[:PAGE], _next(rows, lambda u: u.arn))
        elif tab == "admins":
            self._may(principal, "chime", "ListAppInstanceAdmins", params, facts)
            admins = await self._read(lambda tx: tx.list_admins(arn, after, PAGE + 1))
            content = chime_pages.app_admins(
                viewer, app, admins[:PAGE], _next(admins, lambda a: a.admin_arn)
            )
        elif tab == "channels":
            self._may(principal, "chime", "ListChannels", params, facts)
            channels, bearer = await self._read(
                lambda tx: (tx.list_channels(arn, None, after, PAGE + 1), _bearer(tx, arn))
            )
            content = chime_pages.app_channels(
                viewer, app, channels[:PAGE], _next(channels, lambda c: c.arn), bearer
            )
        elif tab == "settings":
            self._may(principal, "chime", "GetAppInstanceRetentionSettings", params, facts)
            days, tags = await self._read(lambda tx: (tx.retention_days(arn), tx.tags(arn)))
            content = Markup(
                chime_pages.app_settings(app, days, tags) + chime_pages.app_delete(viewer, app)
            )
        else:
            found = feature("app", tab)
            if found is None:
                raise BadRequest(f"No tab {tab!r}.")
            content = await self._feature(found, principal, facts, arn, arn, query)
        return chime_pages.app_page(viewer, app, tab, content)

    async def _feature(
        self,
        f: Feature,
        principal: Principal,
        facts: Facts,
        scope_arn: str,
        app_arn: str,
        query: Mapping[str, str],
    ) -> Markup:
        """A feature's list through its API operation, when this server implements it."""
        if not supported(f):
            return chime_pages.unsupported(f)
        operation = codec.default_router().operations.get(f.operation)
        if operation is None:
            return chime_pages.unsupported(f)
        params: dict[str, Any] = {f.scope_member: scope_arn, "MaxResults": PAGE}
        if query.get("token"):
            params["NextToken"] = query["token"]
        members = {name for name, _, _ in operation.input_plan.headers}
        if "ChimeBearer" in members:
            bearer = await self._read(lambda tx: _bearer(tx, app_arn))
            if bearer is None:
                return frame.notice(f"{f.title}: add an AppInstanceAdmin to list them here.")
            params["ChimeBearer"] = bearer
        registered = find("chime", f.operation)
        try:
            output = await self._ops.run(
                registered, principal, codec.validate_input(operation, params), facts
            )
        except AwsError as err:  # e.g. sub-channels of a channel that is not elastic
            return frame.notice(f"{f.title}: {err.message}")
        path = "/console/app" if f.scope == "app" else "/console/channel"
        return chime_pages.feature_list(f, output, path, {"arn": scope_arn, "tab": f.key})

    # --- channels ------------------------------------------------------------------------------

    async def _channel(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        arn, tab, after = query.get("arn", ""), query.get("tab", "messages"), query.get("after")
        params = {"ChannelArn": arn}
        self._may(principal, "chime", "DescribeChannel", params, facts)
        channel = await self._read(lambda tx: tx.channel(arn))
        if channel is None:
            raise NotFound(f"There is no channel {arn}.")
        content: Markup
        if tab == "messages":
            self._may(principal, "chime", "ListChannelMessages", params, facts)
            try:
                after_seq = int(after) if after else None
            except ValueError:
                raise BadRequest("The page position is not a number.") from None
            rows = await self._read(
                lambda tx: tx.list_messages(
                    arn,
                    viewer=None,  # the operator sees targeted messages too
                    descending=True,
                    not_before=None,
                    not_after=None,
                    after_seq=after_seq,
                    limit=PAGE + 1,
                )
            )
            last = rows[PAGE - 1].seq if len(rows) > PAGE else None
            content = chime_pages.channel_messages(channel, rows[:PAGE], last)
        elif tab == "members":
            self._may(principal, "chime", "ListChannelMemberships", params, facts)

            def members(tx: IamTx) -> tuple[list[Membership], dict[str, str], str | None]:
                rows = tx.list_memberships(arn, None, after, PAGE + 1)
                names = tx.user_names(m.member_arn for m in rows[:PAGE])
                return rows, names, _bearer(tx, channel.app_instance_arn)

            memberships, names, bearer = await self._read(members)
            content = chime_pages.channel_members(
                viewer,
                channel,
                memberships[:PAGE],
                names,
                _next(memberships, lambda m: m.member_arn),
                bearer,
            )
        elif tab == "moderators":
            self._may(principal, "chime", "ListChannelModerators", params, facts)
            moderators = await self._read(lambda tx: tx.list_moderators(arn, after, PAGE + 1))
            content = chime_pages.channel_moderators(
                channel, moderators[:PAGE], _next(moderators, lambda m: m.moderator_arn)
            )
        elif tab == "bans":
            self._may(principal, "chime", "ListChannelBans", params, facts)
            bans = await self._read(lambda tx: tx.list_bans(arn, after, PAGE + 1))
            content = chime_pages.channel_bans(
                channel, bans[:PAGE], _next(bans, lambda b: b.member_arn)
            )
        elif tab == "tail":
            self._may(principal, "chime", "ListChannelMessages", params, facts)
            content = chime_pages.channel_tail(channel)
        elif tab == "flows":
            # The channel's own flow: DescribeChannel already names it; its processors are
            # what DescribeChannelFlow shows, so that action is checked on the flow's ARN.
            def own_flow(tx: IamTx) -> ChannelFlow | None:
                flow_arn = tx.flow_of_channel(arn)
                return None if flow_arn is None else tx.flow(flow_arn)

            flow = await self._read(own_flow)
            if flow is not None:
                self._may(
                    principal, "chime", "DescribeChannelFlow", {"ChannelFlowArn": flow.arn}, facts
                )
            content = chime_pages.channel_flow(channel, flow)
        else:
            found = feature("channel", tab)
            if found is None:
                raise BadRequest(f"No tab {tab!r}.")
            content = await self._feature(
                found, principal, facts, arn, channel.app_instance_arn, query
            )
        return chime_pages.channel_page(viewer, channel, tab, content)

    async def _events(
        self, request: web.BaseRequest, key: str, principal: Principal, facts: Facts
    ) -> web.StreamResponse:
        """The live tail: Server-Sent Events, one ``data:`` line per channel event."""
        arn = request.query.get("arn", "")
        try:
            self._may(principal, "chime", "ListChannelMessages", {"ChannelArn": arn}, facts)
        except AwsError as err:
            return web.Response(status=err.status, text=err.message, headers=SECURITY_HEADERS)
        if await self._read(lambda tx: tx.channel(arn)) is None:
            return web.Response(status=404, text="No such channel.", headers=SECURITY_HEADERS)
        response = web.StreamResponse(
            headers={
                **SECURITY_HEADERS,
                "Content-Type": "text/event-stream",
                "X-Accel-Buffering": "no",  # a proxy in front must not hold the stream back
            }
        )
        await response.prepare(request)
        wake = asyncio.Event()
        watcher = self.tail.watch(arn, wake.set)
        recheck = time.monotonic() + 1.0
        try:
            await response.write(b"event: ready\ndata: {}\n\n")
            while not watcher.closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), HEARTBEAT)
                wake.clear()
                if watcher.closed:
                    break  # the server is stopping
                if time.monotonic() >= recheck:  # a store read at most once a second
                    recheck = time.monotonic() + 1.0
                    try:
                        if self._principal(await self._session(key)) is None:
                            break  # signed out, expired, or the key is gone
                    except StoreUnavailable:
                        break  # the sign-in cannot be checked: the page's reconnect says why
                chunk = "".join(f"data: {line}\n\n" for line in watcher.take())
                if watcher.dropped:
                    chunk += f"event: dropped\ndata: {watcher.dropped}\n\n"
                    watcher.dropped = 0
                await response.write((chunk or ": keep-alive\n\n").encode())
        except (ConnectionResetError, ConnectionError):
            pass  # the browser left
        finally:
            self.tail.forget(watcher)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    # --- sessions ------------------------------------------------------------------------------

    async def _sessions(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        user = query.get("user") or None
        authorize(principal, admin_api.LIST_ACTION, [user or "*"], facts)
        try:
            start = max(0, int(query.get("start") or 0))
        except ValueError:
            raise BadRequest("The page position is not a number.") from None
        # Sessions live in memory: a page walks each node's index from ``start`` (its
        # connection order), never copying all of it.
        if self._ask is not None:
            cluster = await self._ask(user, start, SESSIONS_PAGE)
        else:
            ask = SessionsAsk("local", "", "", user, start, SESSIONS_PAGE)
            cluster = merge([admin_api.local_sessions(self._hub, "local", self._node, ask)], {})
        rows = [
            SessionRow(
                r.session.user_arn,
                r.session.session_id,
                r.node,
                datetime.fromtimestamp(r.session.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                r.session.established,
                r.session.buffered,
            )
            for r in cluster.sessions
        ]
        more = start + SESSIONS_PAGE if cluster.truncated else None
        return live_pages.sessions(
            viewer, rows, user, more, answered=cluster.answered, missing=cluster.missing
        )

    def _close_session(self, principal: Principal, form: Mapping[str, str], facts: Facts) -> None:
        user, session_id = form.get("UserArn", ""), form.get("SessionId", "")
        try:  # a code typed in wins over the one chosen in the list
            code = int(form.get("OtherCode") or form.get("Code", ""))
        except ValueError:
            code = 0
        if not user or not session_id:
            raise BadRequest("UserArn and SessionId are required.")
        if not admin_api.sendable(code):
            raise BadRequest("Code must be 1000-1003, 1006, 1007-1014 or 3000-4999.")
        authorize(principal, admin_api.ACTION, [user], facts)
        reason = form.get("Reason") or "Closed by an operator."
        for session in list(self._hub.sessions_of(user)):
            if session.id == session_id:
                if code == admin_api.DROP:
                    self._hub.drop(session, reason)
                else:
                    self._hub.close(session, code, reason)
                return
        if self._publish_close is not None:
            # Held by another node (the Sessions page lists the cluster's): the command goes
            # to every node, as POST /admin/sessions/close sends it; the holder closes it.
            self._publish_close(CloseSessions(user, code, reason, session_id))
            return
        raise NotFound(f"Session {session_id} of {user} is not open on this node.")

    # --- IAM -----------------------------------------------------------------------------------

    async def _iam(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        after, account = query.get("after"), self._settings.account_id
        if query.get("tab") == "roles":
            self._may(principal, "iam", "ListRoles", {}, facts)
            roles = await self._read(lambda tx: tx.list_iam_roles("/", after, PAGE + 1))
            return iam_pages.iam_roles(
                viewer, roles[:PAGE], account, _next(roles, lambda r: name_key(r.name))
            )
        self._may(principal, "iam", "ListUsers", {}, facts)
        rows = await self._read(lambda tx: tx.list_iam_users("/", after, PAGE + 1))
        return iam_pages.iam_users(
            viewer, rows[:PAGE], account, _next(rows, lambda u: name_key(u.name))
        )

    async def _iam_user(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        name = query.get("name", "")
        params = {"UserName": name}
        self._may(principal, "iam", "GetUser", params, facts)
        self._may(principal, "iam", "ListAccessKeys", params, facts)
        self._may(principal, "iam", "ListUserPolicies", params, facts)

        def read(tx: IamTx) -> tuple[IamUser, list[KeyRow], dict[str, str]] | None:
            user = tx.iam_user(name)
            if user is None:
                return None
            # The key's secret is read with the row and dropped here: it never reaches a page.
            keys = [KeyRow(k.access_key_id, k.status, k.created) for k in tx.access_keys_of(name)]
            return user, keys, tx.inline_policies("user", name)

        found = await self._read(read)
        if found is None:
            raise NotFound(f"There is no IAM user {name}.")
        user, keys, policies = found
        return iam_pages.iam_user(viewer, user, self._settings.account_id, keys, policies)

    async def _iam_role(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        name = query.get("name", "")
        params = {"RoleName": name}
        self._may(principal, "iam", "GetRole", params, facts)
        self._may(principal, "iam", "ListRolePolicies", params, facts)
        found = await self._read(lambda tx: (tx.iam_role(name), tx.inline_policies("role", name)))
        if found[0] is None:
            raise NotFound(f"There is no IAM role {name}.")
        return iam_pages.iam_role(viewer, found[0], self._settings.account_id, found[1])

    async def _simulate(
        self, viewer: Viewer, principal: Principal, facts: Facts, query: Mapping[str, str]
    ) -> Markup:
        name, kind = query.get("principal", "").strip(), query.get("kind", "user")
        action, resource = query.get("action", "").strip(), query.get("resource", "").strip()
        if not action or not resource or (kind != "root" and not name):
            return iam_pages.simulator(viewer, query, None, None)
        account = self._settings.account_id
        target = simulator.principal_of(self._credentials, account, kind, name)
        # AWS asks iam:SimulatePrincipalPolicy on the principal being simulated.
        authorize(principal, "iam:SimulatePrincipalPolicy", [target.role_arn or target.arn], facts)
        answer = simulator.explain(target, action, resource, facts)
        return iam_pages.simulator(viewer, query, answer.rows, answer.allowed)

    # --- writes --------------------------------------------------------------------------------

    async def _do(
        self,
        request: web.BaseRequest,
        name: str,
        form: Mapping[str, str],
        viewer: Viewer,
        principal: Principal,
        facts: Facts,
    ) -> web.StreamResponse:
        action = ACTIONS.get(name)
        if action is None:
            return _page(frame.failure(viewer, "Not found", f"No console action {name!r}."), 404)
        back = action.back(form)
        if form.get("confirmed") != "yes":
            return _page(frame.confirm(viewer, action, form, back))
        try:
            output = await self._run(action, form, principal, facts)
        except AwsError as err:
            log.info("console: %s was refused %s: %s", principal.arn, action.name, err.code)
            return _page(frame.failure(viewer, _title(err), err.message, back), err.status)
        log.info("console: %s did %s", principal.arn, action.name)
        if action.shows_secret:
            key = output["AccessKey"]
            return _page(
                iam_pages.new_key(
                    viewer, key["UserName"], key["AccessKeyId"], key["SecretAccessKey"]
                )
            )
        return _see_other(back)

    async def _run(
        self, action: Action, form: Mapping[str, str], principal: Principal, facts: Facts
    ) -> Mapping[str, Any]:
        if action.operation is None or action.service is None:
            self._close_session(principal, form, facts)
            return {}
        params = inputs(action, form)
        if action.service == "iam":
            body = urlencode({"Action": action.operation, **params}).encode()
            _, validated = _iam_codec().parse(body)
        else:
            operation = codec.default_router().operations[action.operation]
            validated = codec.validate_input(operation, params)
        return await self._ops.run(
            find(action.service, action.operation), principal, validated, facts
        )


@functools.cache
def _iam_codec() -> QueryCodec:
    return QueryCodec("iam")


def _bearer(tx: IamTx, app_arn: str) -> str | None:
    """The bearer of the console's channel writes: the app instance's first AppInstanceAdmin
    (the API needs a bearer with a channel role; the console has none of its own)."""
    admins = tx.list_admins(app_arn, None, 1)
    return admins[0].admin_arn if admins else None


def _next(rows: Sequence[R], key: Callable[[R], str]) -> str | None:
    """The key-after position of the next page (rows were read with one extra)."""
    return key(rows[PAGE - 1]) if len(rows) > PAGE else None


def _title(err: AwsError) -> str:
    return DENIED if err.status == 403 else err.code


async def _form(request: web.BaseRequest) -> dict[str, str]:
    """The posted form's text fields (files are ignored); a body that is no form reads as an
    empty one, which every handler refuses."""
    if request.content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        posted = await request.post()
    except ValueError:  # not decodable
        return {}
    return {k: v for k, v in posted.items() if isinstance(v, str)}


def _see_other(location: str, cookie: str | None = None) -> web.Response:
    headers = {**SECURITY_HEADERS, "Location": location}
    if cookie is not None:
        headers["Set-Cookie"] = cookie
    return web.Response(status=303, headers=headers)


def _page(markup: Markup, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=markup.encode(),
        content_type="text/html",
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )


# Sign-ins that ended, forgotten at each sign-in (the table stays as small as the live ones).
FORGET_SIGN_INS = 100


def _sign_in(tx: IamTx, key: str, session: ConsoleSession, old: str | None, now: float) -> None:
    if old:
        tx.close_console_session(token_key(old))
    tx.forget_console_sessions_before(now, FORGET_SIGN_INS)
    tx.open_console_session(key, session)
