"""Operator endpoints of bellwire (not part of the Chime API): list and close messaging sessions.

``GET /admin/sessions`` (optionally ``?UserArn=...``), signed the same way and authorized as
``bellwire:ListSessions`` on the user ARN (``*`` without one), answers the sessions open on
every node of the cluster: ``{"Sessions": [{"UserArn", "SessionId", "Node", "ConnectedSince"
(ISO 8601, UTC), "Established", "BufferedBytes"}], "Nodes": {"Answered": [...], "Missing":
[...]}, "Truncated": false}``, oldest first. With a Redis bus the node asks the others over the
bus and waits up to ``bus_admin_timeout_seconds``; ``Missing`` names the live nodes that did not
answer in time, and ``Truncated`` says a node held more than ``LIST_LIMIT`` sessions (filter by
``UserArn``). ``bellwire sessions list`` is the CLI.

``POST /admin/sessions/close`` with a JSON body ``{"UserArn": ..., "Code": 4003, "Reason":
"...", "SessionId": "..."}`` (``Reason`` and ``SessionId`` optional), SigV4-signed like any
Chime call (service ``chime``) and authorized as ``bellwire:CloseSessions`` on the user ARN.
It closes every session of the user (or only ``SessionId``) with ``Code`` on every node: the
command goes on the bus, which hands it to this node's hub at once and to the other nodes. It
answers ``{"Closed": ["<sessionId>", ...]}``, the sessions closed on this node, plus
``"OtherNodes": true`` with a Redis bus (the others close theirs as the command reaches them).
``Code`` 1006 cannot be sent in a close frame; it drops the TCP connection instead, which is
what a client sees on a network failure.

Uses: kick a user (4003), make clients refresh credentials (4419), rehearse how an app handles
each close code of the "Handling disconnects" table. ``bellwire sessions close`` is the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the server side loads lazily: ``bellwire sessions close`` needs none of it
    from collections.abc import Awaitable, Callable

    from aiohttp import web

    from bellwire.bus.wire import ClusterSessions, SessionsAnswer, SessionsAsk
    from bellwire.domain.delivery import CloseSessions
    from bellwire.gateway.hub import Hub
    from bellwire.iam.authenticate import Authenticator

log = logging.getLogger(__name__)

CLOSE_PATH = "/admin/sessions/close"
ACTION = "bellwire:CloseSessions"
SESSIONS_PATH = "/admin/sessions"
LIST_ACTION = "bellwire:ListSessions"
DROP = 1006  # not a close frame: the connection is dropped
LIST_LIMIT = 10_000  # sessions per node in one GET /admin/sessions answer


def sendable(code: int) -> bool:
    """Codes an endpoint may put in a close frame (RFC 6455 §7.4, plus the IANA 1012-1014),
    and 1006, which this endpoint implements as a dropped connection."""
    return code in (1000, 1001, 1002, 1003, DROP) or 1007 <= code <= 1014 or 3000 <= code <= 4999


class AdminApi:
    def __init__(
        self,
        *,
        authenticator: Authenticator,
        hub: Hub,
        publish: Callable[[CloseSessions], None] | None = None,
        ask_sessions: Callable[[str | None, int, int], Awaitable[ClusterSessions]] | None = None,
        cluster: bool = False,
        max_body_bytes: int = 65536,
    ):
        """``publish`` sends the close command on the bus (to every node, this one
        included); without it the hub closes the sessions directly. ``ask_sessions`` lists
        every node's sessions (the bus's ask); without it, this node's. ``cluster``: other
        nodes hold sessions too (the answer says so)."""
        self._auth = authenticator
        self._hub = hub
        self._ask = ask_sessions
        self._publish = publish
        self._cluster = cluster
        self._max_body = max_body_bytes

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        from aiohttp import web

        from bellwire.aws import codec
        from bellwire.aws.errors import AwsError, ServiceFailure

        request_id = str(uuid.uuid4())
        try:
            return await self._handle(request)
        except AwsError as err:
            if err.is_fault:
                log.error("admin request %s: %r", request_id, err)
            status, headers, body = codec.serialize_error(err, request_id)
            return web.Response(status=status, headers=headers, body=body)
        except Exception:  # an operator endpoint must not take the process down either
            log.exception(
                "admin request %s failed: %s %s", request_id, request.method, request.raw_path
            )
            status, headers, body = codec.serialize_error(
                ServiceFailure("The service has experienced an unexpected failure."), request_id
            )
            return web.Response(status=status, headers=headers, body=body)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        from aiohttp import web

        from bellwire.api.rest import read_body
        from bellwire.aws import sigv4
        from bellwire.aws.content_encoding import decode_body
        from bellwire.aws.errors import BadRequest, NotFound
        from bellwire.iam.authorize import authorize, transport_facts

        path, _, query = request.raw_path.partition("?")
        if path == SESSIONS_PATH and request.method == "GET":
            return await self._list(request, query)
        if path != CLOSE_PATH or request.method != "POST":
            raise NotFound(f"No admin operation at {request.method} {path}.")
        body = await read_body(request, self._max_body)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        signed = sigv4.parse_header_auth(request.method, path, query, headers, body)
        principal = self._auth.check(signed, service="chime")
        body = decode_body(body, request.headers.getall("Content-Encoding", ()), self._max_body)
        try:
            document = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise BadRequest("The body must be a JSON object.") from None
        if not isinstance(document, dict):
            raise BadRequest("The body must be a JSON object.")
        user_arn = document.get("UserArn")
        code = document.get("Code")
        reason = document.get("Reason") or "Closed by an operator."
        session_id = document.get("SessionId")
        if not isinstance(user_arn, str) or not user_arn:
            raise BadRequest("UserArn is required.")
        if isinstance(code, bool) or not isinstance(code, int) or not sendable(code):
            raise BadRequest(
                "Code must be 1000-1003, 1006 (drop the connection), 1007-1014 or 3000-4999."
            )
        if not isinstance(reason, str) or (
            session_id is not None and not isinstance(session_id, str)
        ):
            raise BadRequest("Reason and SessionId must be strings.")
        authorize(principal, ACTION, [user_arn], transport_facts(request.remote, request.secure))
        closed = [
            session.id
            for session in self._hub.sessions_of(user_arn)
            if session_id is None or session.id == session_id
        ]
        if self._publish is not None:
            from bellwire.domain.delivery import CloseSessions

            self._publish(CloseSessions(user_arn, code, reason, session_id))
        else:
            for session in list(self._hub.sessions_of(user_arn)):
                if session_id is not None and session.id != session_id:
                    continue
                if code == DROP:
                    self._hub.drop(session, reason)
                else:
                    self._hub.close(session, code, reason)
        answer: dict[str, Any] = {"Closed": closed}
        if self._cluster:
            # The other nodes close theirs when the command reaches them; they do not answer.
            answer["OtherNodes"] = True
        return web.json_response(answer)

    async def _list(self, request: web.BaseRequest, query: str) -> web.StreamResponse:
        from datetime import UTC, datetime
        from urllib.parse import parse_qs

        from aiohttp import web

        from bellwire.aws import sigv4
        from bellwire.aws.errors import BadRequest
        from bellwire.iam.authorize import authorize, transport_facts

        body = await request.content.read(self._max_body + 1)
        if body:
            raise BadRequest("GET /admin/sessions takes no body.")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        signed = sigv4.parse_header_auth(request.method, SESSIONS_PATH, query, headers, body)
        principal = self._auth.check(signed, service="chime")
        params = parse_qs(query, keep_blank_values=True)
        if set(params) - {"UserArn"} or len(params.get("UserArn", [])) > 1:
            raise BadRequest("The only query parameter is UserArn, at most once.")
        user_arn = params.get("UserArn", [None])[0]
        if user_arn == "":
            raise BadRequest("UserArn must not be empty.")
        facts = transport_facts(request.remote, request.secure)
        authorize(principal, LIST_ACTION, [user_arn or "*"], facts)
        if self._ask is not None:
            cluster = await self._ask(user_arn, 0, LIST_LIMIT)
        else:
            from bellwire.bus.wire import SessionsAsk, merge

            ask = SessionsAsk("local", "", "", user_arn, 0, LIST_LIMIT)
            cluster = merge([local_sessions(self._hub, "local", "this node", ask)], {})
        listed = [
            {
                "UserArn": row.session.user_arn,
                "SessionId": row.session.session_id,
                "Node": row.node,
                "ConnectedSince": datetime.fromtimestamp(row.session.since, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "Established": row.session.established,
                "BufferedBytes": row.session.buffered,
            }
            for row in cluster.sessions
        ]
        return web.json_response(
            {
                "Sessions": listed,
                "Nodes": {"Answered": list(cluster.answered), "Missing": list(cluster.missing)},
                "Truncated": cluster.truncated,
            }
        )


def local_sessions(hub: Hub, node: str, name: str, ask: SessionsAsk) -> SessionsAnswer:
    """This node's answer to an operator's ask: one page of the hub's index (connection order
    per user), never a copy of all of it."""
    import itertools
    import time

    from bellwire.bus.wire import SessionInfo, SessionsAnswer

    found = (
        (s for s in hub.sessions_of(ask.user_arn) if not s.closed)
        if ask.user_arn is not None
        else (s for sessions in hub.users.values() for s in sessions if not s.closed)
    )
    page = list(itertools.islice(found, ask.start, ask.start + ask.limit + 1))
    # Session times are monotonic (immune to clock steps); told as wall-clock instants.
    offset = time.time() - time.monotonic()
    rows = []
    for s in page[: ask.limit]:
        pending = s.transport.get_write_buffer_size() if s.transport is not None else 0
        rows.append(
            SessionInfo(
                s.user_arn, s.id, s.connected_at + offset, s.established, s.buffered + pending
            )
        )
    return SessionsAnswer(ask.ask_id, node, name, tuple(rows), len(page) > ask.limit)


# --- the client side: ``bellwire sessions list|close`` -----------------------------------------


def _signed_call(
    method: str,
    url: str,
    body: bytes,
    boto_session: Any,
    region: str | None,
    timeout: float,
) -> Any:
    """One SigV4-signed request (service ``chime``) with credentials from botocore's chain;
    the decoded JSON answer, or RuntimeError with the server's message."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto_session or botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials found")
    region = region or _region_of(session) or "us-east-1"
    headers = {"Content-Type": "application/json"} if body else {}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "chime", region).add_auth(request)
    prepared = urllib.request.Request(
        url, data=body or None, headers=dict(request.headers.items()), method=method
    )
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):  # not our JSON error shape
            detail = json.loads(detail).get("Message", detail)
        raise RuntimeError(f"HTTP {err.code}: {detail}") from None


def fetch_sessions(
    endpoint_url: str,
    user_arn: str | None = None,
    *,
    boto_session: Any = None,
    region: str | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """``GET /admin/sessions`` on the server at *endpoint_url*: the whole answer (Sessions,
    Nodes, Truncated)."""
    from urllib.parse import urlencode

    query = "?" + urlencode({"UserArn": user_arn}) if user_arn is not None else ""
    url = endpoint_url.rstrip("/") + SESSIONS_PATH + query
    answer = _signed_call("GET", url, b"", boto_session, region, timeout)
    if not isinstance(answer, dict):
        raise RuntimeError("the server's answer is not a JSON object")
    return answer


def list_sessions(
    endpoint_url: str,
    user_arn: str | None = None,
    *,
    boto_session: Any = None,
    region: str | None = None,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """The sessions open on the cluster of the server at *endpoint_url* (of one user if
    *user_arn*)."""
    answer = fetch_sessions(
        endpoint_url, user_arn, boto_session=boto_session, region=region, timeout=timeout
    )
    return [dict(item) for item in answer.get("Sessions", [])]


def format_sessions(sessions: list[dict[str, Any]]) -> str:
    """A plain table, one session a line (pure)."""
    header = ("CONNECTED SINCE", "BUFFERED", "NODE", "SESSION ID", "USER ARN")
    rows = [
        (
            str(s["ConnectedSince"]),
            str(s["BufferedBytes"]),
            str(s.get("Node", "-")),
            str(s["SessionId"]) + ("" if s.get("Established", True) else " (connecting)"),
            str(s["UserArn"]),
        )
        for s in sessions
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)), row[4]])
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def format_coverage(answer: dict[str, Any]) -> list[str]:
    """What the listing may lack: nodes that did not answer, a truncated list (pure)."""
    notes = []
    nodes = answer.get("Nodes") or {}
    missing = nodes.get("Missing") or []
    if missing:
        notes.append(f"not answered in time (their sessions are not listed): {', '.join(missing)}")
    if answer.get("Truncated"):
        notes.append(f"truncated: a node holds more than {LIST_LIMIT} sessions; use --user-arn")
    return notes


def close_sessions(
    endpoint_url: str,
    user_arn: str,
    code: int,
    *,
    reason: str | None = None,
    session_id: str | None = None,
    boto_session: Any = None,
    region: str | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Call the endpoint with credentials from botocore's chain; returns the closed session ids.

    Raises RuntimeError with the server's message on an error answer.
    """
    document: dict[str, Any] = {"UserArn": user_arn, "Code": code}
    if reason is not None:
        document["Reason"] = reason
    if session_id is not None:
        document["SessionId"] = session_id
    body = json.dumps(document).encode()
    url = endpoint_url.rstrip("/") + CLOSE_PATH
    answer = _signed_call("POST", url, body, boto_session, region, timeout)
    closed = answer.get("Closed", [])
    return [str(item) for item in closed]


def _region_of(session: Any) -> str | None:
    getter = getattr(session, "get_config_variable", None)
    if getter is not None:
        value = getter("region")
        return value if isinstance(value, str) else None
    value = getattr(session, "region_name", None)
    return value if isinstance(value, str) else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bellwire sessions`` subcommands."""
    commands = parser.add_subparsers(dest="sessions_command", required=True)
    close = commands.add_parser("close", help="close a user's messaging sessions with a code")
    close.add_argument("--user-arn", required=True, help="AppInstanceUser ARN")
    close.add_argument("--code", required=True, type=int, help="close code, e.g. 4003 or 4419")
    close.add_argument("--reason", help="close reason sent to the clients")
    close.add_argument("--session-id", help="close only this sessionId")
    close.add_argument(
        "--endpoint-url", required=True, help="the server's REST URL, e.g. http://127.0.0.1:8080"
    )
    close.add_argument("--region", help="SigV4 region (default: from the AWS configuration)")
    close.add_argument("--profile", help="AWS profile to sign with")
    listing = commands.add_parser(
        "list", help="list the messaging sessions open on every node of the server's cluster"
    )
    listing.add_argument("--user-arn", help="only this AppInstanceUser's sessions")
    listing.add_argument(
        "--endpoint-url", required=True, help="the server's REST URL, e.g. http://127.0.0.1:8080"
    )
    listing.add_argument("--region", help="SigV4 region (default: from the AWS configuration)")
    listing.add_argument("--profile", help="AWS profile to sign with")
    listing.add_argument("--json", action="store_true", help="print the sessions as JSON")


def run_cli(args: argparse.Namespace) -> int:
    import botocore.session

    if args.sessions_command == "list":
        try:
            answer = fetch_sessions(
                args.endpoint_url,
                args.user_arn,
                boto_session=botocore.session.Session(profile=args.profile),
                region=args.region,
            )
        except Exception as exc:
            print(f"bellwire: cannot list sessions: {exc}", file=sys.stderr)
            return 1
        sessions = [dict(item) for item in answer.get("Sessions", [])]
        print(json.dumps(sessions, indent=2) if args.json else format_sessions(sessions))
        for note in format_coverage(answer):
            print(f"bellwire: {note}", file=sys.stderr)
        return 0
    if args.code is not None and not sendable(args.code):
        print(f"bellwire: close code {args.code} cannot be sent", file=sys.stderr)
        return 2
    try:
        closed = close_sessions(
            args.endpoint_url,
            args.user_arn,
            args.code,
            reason=args.reason,
            session_id=args.session_id,
            boto_session=botocore.session.Session(profile=args.profile),
            region=args.region,
        )
    except Exception as exc:
        print(f"bellwire: cannot close sessions: {exc}", file=sys.stderr)
        return 1
    print(f"closed {len(closed)} session(s) with code {args.code}: {', '.join(closed) or '-'}")
    return 0
