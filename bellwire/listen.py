"""``bellwire listen``: print a user's messaging-session events as they arrive.

Events go to stdout, one per line (readable, or JSON with ``--json``); connection notices
(connecting, reconnecting, gaps, the final stop) go to stderr so that stdout stays parseable.
The exit status is 0 after Ctrl-C (a clean stop, close code 1000), 1 after a final failure and
2 when the configuration cannot work (no region, no credentials, an endpoint that cannot be
reached or refuses the credentials at the first lookup): that is said at once, in one line with
its fix, rather than retried.
Works against AWS with ordinary credentials (environment, profile, SSO...) and against bellwire
with ``--endpoint-url`` or ``AWS_ENDPOINT_URL_CHIME_SDK_MESSAGING``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from bellwire.client.session import (
    PREFETCH_SORTS,
    CaughtUp,
    Connecting,
    Established,
    Gap,
    Item,
    MessagingSession,
    Reconnecting,
    SessionEvent,
    Stopped,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-arn", required=True, help="AppInstanceUser ARN to connect as")
    parser.add_argument(
        "--endpoint-url",
        help="chime-sdk-messaging endpoint, e.g. http://127.0.0.1:8080 (default: AWS, or "
        "AWS_ENDPOINT_URL_CHIME_SDK_MESSAGING)",
    )
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    parser.add_argument("--prefetch", action="store_true", help="ask for CHANNEL_DETAILS")
    parser.add_argument("--prefetch-sort-by", choices=PREFETCH_SORTS, help="prefetch order")
    parser.add_argument("--session-id", help="sessionId (default: random, kept on reconnects)")
    parser.add_argument(
        "--catch-up", action="store_true", help="after a reconnect, print the messages missed"
    )
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(listen(args, sys.stdout, sys.stderr))
    except KeyboardInterrupt:  # Ctrl-C before the signal handler was installed
        return 130


def preflight(args: argparse.Namespace, boto_session: Any) -> str | None:
    """What cannot work, with its one-line fix, or None: a missing region or credentials, an
    endpoint that is malformed, unreachable or refuses the credentials fail here at once,
    instead of being retried for the reconnect window as a network failure would be."""
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        ProfileNotFound,
    )

    try:
        region = args.region or boto_session.get_config_variable("region")
        if not region:
            return "no AWS region; fix: pass --region us-east-1 (or set AWS_DEFAULT_REGION)"
        if boto_session.get_credentials() is None:
            return (
                "no AWS credentials; fix: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(bellwire keeps its root keys in <data dir>/root-credentials.json), or pass "
                "--profile"
            )
    except ProfileNotFound:
        return f"no profile {args.profile!r} in the AWS configuration; fix: pass another --profile"
    where = "for bellwire pass --endpoint-url http://127.0.0.1:8080"
    try:
        client = boto_session.create_client(
            "chime-sdk-messaging",
            region_name=region,
            endpoint_url=args.endpoint_url,
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=15),
        )
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        return f"{exc}; fix: give a URL with a scheme, e.g. --endpoint-url http://127.0.0.1:8080"
    url = client.meta.endpoint_url
    aws = not args.endpoint_url and url.endswith(".amazonaws.com")
    if aws:
        where = f"no endpoint was given, so AWS was tried; {where}"
    try:
        client.get_messaging_session_endpoint()
    except EndpointConnectionError:
        fix = where if aws else "start the server there, or pass the right --endpoint-url"
        return f"cannot reach {url}; fix: {fix}"
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        fix = where if aws else "use the server's credentials and region (--region, --profile)"
        return f"{url} refused the lookup ({code}: {message}); fix: {fix}"
    except BotoCoreError as exc:
        return f"cannot look up the messaging endpoint at {url}: {exc}"
    return None


async def listen(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import botocore.session

    boto_session = botocore.session.Session(profile=args.profile)
    problem = await asyncio.to_thread(preflight, args, boto_session)
    if problem is not None:
        print(f"bellwire listen: {problem}", file=err, flush=True)
        return 2
    try:
        session = MessagingSession(
            args.user_arn,
            boto_session=boto_session,
            region=args.region,
            endpoint_url=args.endpoint_url,
            session_id=args.session_id,
            prefetch=args.prefetch,
            prefetch_sort_by=args.prefetch_sort_by,
            catch_up=args.catch_up,
            raise_on_failure=False,  # the Stopped notice is printed and sets the exit status
        )
        await session.__aenter__()
    except Exception as exc:  # no region, unknown profile...: not worth retrying
        print(f"bellwire listen: {exc}", file=err, flush=True)
        return 2
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()

    def interrupt() -> None:
        # Ctrl-C closes the socket with 1000; the loop below then sees Stopped and returns.
        stopping.add(loop.create_task(session.stop()))

    signals = [s for s in (signal.SIGINT, signal.SIGTERM) if _add_handler(loop, s, interrupt)]
    status = 1
    try:
        async for item in session:
            if isinstance(item, SessionEvent):
                print(format_json(item) if args.json else format_event(item), file=out, flush=True)
                continue
            print(f"bellwire listen: {format_notice(item)}", file=err, flush=True)
            if isinstance(item, Stopped):
                status = 0 if item.ok else 1
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await session.__aexit__(None, None, None)
        if stopping:
            await asyncio.wait(stopping)
    return status


def _add_handler(loop: asyncio.AbstractEventLoop, sig: signal.Signals, fn: Any) -> bool:
    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, non-main thread
        loop.add_signal_handler(sig, fn)
        return True
    return False


# --- formatting (pure) --------------------------------------------------------------------------


def format_event(event: SessionEvent, now: datetime | None = None) -> str:
    """One readable line: time, type, message type, then the fields people look for."""
    moment = (now or datetime.now(UTC)).strftime("%H:%M:%S.%f")[:-3]
    parts = [moment, str(event.type), str(event.message_type)]
    if event.caught_up:
        parts.append("(caught up)")
    if event.reason:
        parts.append(f"reason={event.reason}")
    payload: dict[str, Any] = dict(event.payload or {})
    if event.channel_arn:
        parts.append(f"channel={event.channel_arn}")
    if event.message_id:
        parts.append(f"id={event.message_id}")
    sender = payload.get("Sender")
    if isinstance(sender, dict) and sender.get("Arn"):
        parts.append(f"from={sender.get('Name') or sender['Arn']}")
    member = payload.get("Member")
    if isinstance(member, dict) and member.get("Arn"):
        parts.append(f"member={member.get('Name') or member['Arn']}")
    members = payload.get("Members")
    if isinstance(members, list):
        parts.append(f"members={len(members)}")
    if isinstance(payload.get("Name"), str):
        parts.append(f"name={payload['Name']!r}")
    if "Content" in payload and payload["Content"] is not None:
        parts.append(f"content={payload['Content']!r}")
    if event.type == "CHANNEL_DETAILS":
        parts.append(f"messages={len(payload.get('ChannelMessages') or [])}")
    return " ".join(parts)


def format_json(event: SessionEvent) -> str:
    return json.dumps(
        {
            "type": str(event.type),
            "messageType": str(event.message_type),
            "reason": event.reason,
            "headers": event.headers,
            "payload": event.payload,
            "caughtUp": event.caught_up,
        },
        separators=(",", ":"),
        default=str,
    )


def format_notice(item: Item) -> str:
    match item:
        case Connecting(host=host, reconnecting=reconnecting, attempt=attempt):
            retry = f" (retry {attempt})" if reconnecting else ""
            return f"connecting to {host}{retry}"
        case Established(session_id=session_id):
            return f"session established (sessionId {session_id})"
        case Reconnecting(code=code, reason=reason, attempt=attempt, delay=delay):
            why = f" {reason}" if reason else ""
            return f"closed with {code}{why}; reconnecting in {delay:.2f}s (retry {attempt})"
        case Gap(disconnected_at=lost, reconnected_at=back, catching_up=catching_up):
            seconds = (back - lost).total_seconds()
            then = "; catching up" if catching_up else ""
            return f"reconnected after {seconds:.1f}s: events may have been missed{then}"
        case CaughtUp(messages=messages, channels=channels, failures=failures):
            failed = "".join(f"\n  cannot read {arn}: {error}" for arn, error in failures)
            return f"caught up {messages} message(s) in {channels} channel(s){failed}"
        case Stopped():
            return f"stopped: {item}"
    return repr(item)
