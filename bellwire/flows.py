"""A kit for channel flow processors: what a Lambda function does in AWS, as a small web app.

bellwire POSTs the Lambda input event to the URL the ``[resources]`` map gives for the
processor's Lambda ARN, signed (``docs/webhooks.md``). A processor checks the signature, answers
202 at once, decides, and calls ``ChannelFlowCallback`` with ordinary AWS credentials that allow
``chime:ChannelFlowCallback``, exactly as the Lambda would (and tries again as Lambda retries a
failed asynchronous invocation)::

    from bellwire import flows

    def decide(event: flows.ProcessorEvent) -> flows.Decision:
        if "spam" in event.content:
            return flows.Deny()
        return flows.Send(content=event.content.upper())

    app = flows.processor_app(secret, decide, lambda: boto3.client("chime-sdk-messaging", ...))
    aiohttp.web.run_app(app, port=9000)

``word_filter`` is the example processor that ``bellwire processor`` serves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bellwire import webhook

log = logging.getLogger("bellwire.processor")

EVENT_TYPE = "CHANNEL_MESSAGE_EVENT"


class EventError(ValueError):
    """A body that is not a channel flow processor event."""


@dataclass(frozen=True, slots=True)
class ProcessorEvent:
    """The Lambda input event of a channel flow processor."""

    callback_id: str
    message: Mapping[str, Any]  # ChannelMessage as received

    @property
    def channel_arn(self) -> str:
        return str(self.message["ChannelArn"])

    @property
    def message_id(self) -> str:
        return str(self.message["MessageId"])

    @property
    def content(self) -> str:
        return str(self.message.get("Content") or "")

    @property
    def metadata(self) -> str | None:
        value = self.message.get("Metadata")
        return None if value is None else str(value)

    @property
    def sub_channel_id(self) -> str | None:
        """The sub-channel of an elastic channel's message (None elsewhere)."""
        value = self.message.get("SubChannelId")
        return None if value is None else str(value)

    @property
    def sender_arn(self) -> str:
        return str(self.message.get("Sender", {}).get("Arn", ""))


def parse_event(body: bytes | str | Mapping[str, Any]) -> ProcessorEvent:
    document = body if isinstance(body, Mapping) else json.loads(body)
    if not isinstance(document, Mapping) or document.get("EventType") != EVENT_TYPE:
        raise EventError(f"not a {EVENT_TYPE}")
    callback_id, message = document.get("CallbackId"), document.get("ChannelMessage")
    if not isinstance(callback_id, str) or not isinstance(message, Mapping):
        raise EventError("CallbackId and ChannelMessage are required")
    for member in ("ChannelArn", "MessageId"):
        if not isinstance(message.get(member), str):
            raise EventError(f"ChannelMessage.{member} is required")
    return ProcessorEvent(callback_id, message)


def verify(
    secret: bytes, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> None:
    """Raise ``webhook.SignatureError`` unless bellwire signed this body (docs/webhooks.md)."""
    webhook.verify(secret, body, headers, time.time() if now is None else now)


# --- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send the message, with the members given here changed (None: unchanged)."""

    content: str | None = None
    metadata: str | None = None
    attributes: Mapping[str, Any] | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class Deny:
    """Do not send the message: its sender receives DENIED_*, nobody else anything."""


Decision = Send | Deny


def callback_request(event: ProcessorEvent, decision: Decision) -> dict[str, Any]:
    """The ChannelFlowCallback parameters (boto3's) for a decision."""
    message: dict[str, Any] = {"MessageId": event.message_id}
    if event.sub_channel_id is not None:
        message["SubChannelId"] = event.sub_channel_id  # where the message was sent
    request: dict[str, Any] = {
        "CallbackId": event.callback_id,
        "ChannelArn": event.channel_arn,
        "ChannelMessage": message,
    }
    if isinstance(decision, Deny):
        request["DeleteResource"] = True
        return request
    for member, value in (
        ("Content", decision.content),
        ("Metadata", decision.metadata),
        ("MessageAttributes", decision.attributes),
        ("ContentType", decision.content_type),
    ):
        if value is not None:
            message[member] = value
    return request


def call_back(client: Any, event: ProcessorEvent, decision: Decision) -> dict[str, Any]:
    """Call ChannelFlowCallback with a boto3 chime-sdk-messaging client."""
    answer: dict[str, Any] = client.channel_flow_callback(**callback_request(event, decision))
    return answer


# --- a processor as a web app ------------------------------------------------------------------


@dataclass
class ProcessorStats:
    received: int = 0
    refused: int = 0  # bad signature or not an event
    called_back: int = 0
    retried: int = 0  # attempts that failed and were made again
    failed: int = 0  # events given up after every attempt
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


STATS = web.AppKey("stats", ProcessorStats)


# Lambda's asynchronous invocation: a function that fails is run again twice, a minute and
# then two minutes later (the default MaximumRetryAttempts, 2).
LAMBDA_RETRY_DELAYS = (60.0, 120.0)


def processor_app(
    secret: bytes,
    decide: Callable[[ProcessorEvent], Decision],
    client: Callable[[], Any],
    *,
    path: str = "/",
    retry_delays: Sequence[float] = LAMBDA_RETRY_DELAYS,
) -> web.Application:
    """An aiohttp app that verifies bellwire's signature, answers 202 at once (as Lambda's
    asynchronous invocation does) and calls back in a thread with the boto3 client that
    ``client()`` returns (made once, on first use). An event whose decision or callback fails
    (the server unreachable, a 503 past boto3's own retries) is tried again after each of
    ``retry_delays``, as Lambda runs a failed function again: bellwire does not invoke an
    accepted event twice, so a callback given up leaves the message PENDING until its
    window's FallbackAction. ``app[STATS]`` counts what it did."""
    stats = ProcessorStats()
    made: list[Any] = []

    def answer(event: ProcessorEvent) -> None:
        if not made:
            made.append(client())
        call_back(made[0], event, decide(event))

    async def run(event: ProcessorEvent) -> None:
        for delay in (*retry_delays, None):
            try:
                await asyncio.to_thread(answer, event)
            except Exception as exc:
                if delay is None:
                    stats.failed += 1
                    log.exception("calling back for message %s failed", event.message_id)
                    return
                stats.retried += 1
                log.warning(
                    "calling back for message %s failed (%s); trying again in %g s",
                    event.message_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                stats.called_back += 1
                return

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(secret, body, request.headers)
            event = parse_event(body)
        except (webhook.SignatureError, EventError, ValueError) as exc:
            stats.refused += 1
            return web.json_response({"error": str(exc)}, status=401)
        stats.received += 1
        task = asyncio.get_running_loop().create_task(run(event))
        stats.tasks.add(task)
        task.add_done_callback(stats.tasks.discard)
        return web.Response(status=202)

    app = web.Application()
    app[STATS] = stats
    app.router.add_post(path, handle)
    return app


def word_filter(
    deny: Iterable[str] = (), mask: Iterable[str] = ()
) -> Callable[[ProcessorEvent], Decision]:
    """The example processor: deny messages with a word of ``deny``, mask (with asterisks)
    the words of ``mask``, send the others unchanged. Words match whole and case-insensitively."""

    def pattern(words: Iterable[str]) -> re.Pattern[str] | None:
        listed = [re.escape(w) for w in words if w]
        return re.compile(r"\b(" + "|".join(listed) + r")\b", re.IGNORECASE) if listed else None

    denied, masked = pattern(deny), pattern(mask)

    def decide(event: ProcessorEvent) -> Decision:
        content = event.content
        if denied is not None and denied.search(content):
            return Deny()
        if masked is not None and masked.search(content):
            return Send(content=masked.sub(lambda m: "*" * len(m.group(0)), content))
        return Send()

    return decide


# --- `bellwire processor`: the example processor as a command ----------------------------------


def add_arguments(parser: Any) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9000, help="port to listen on")
    parser.add_argument("--path", default="/", help="path bellwire POSTs to")
    parser.add_argument(
        "--endpoint-url",
        default="http://127.0.0.1:8080",
        help="the bellwire server to call back (ChannelFlowCallback)",
    )
    parser.add_argument("--region", default="us-east-1", help="region of the SigV4 signature")
    parser.add_argument(
        "--deny", action="append", default=[], metavar="WORD", help="deny messages with WORD"
    )
    parser.add_argument(
        "--mask", action="append", default=[], metavar="WORD", help="mask WORD with asterisks"
    )


def run_cli(args: Any) -> int:
    """Serve ``word_filter``; the secret comes from BELLWIRE_WEBHOOK_SECRET, the callback's
    credentials from the usual AWS chain (AWS_ACCESS_KEY_ID... or a profile)."""
    import os
    import sys

    import boto3

    secret = os.environ.get("BELLWIRE_WEBHOOK_SECRET", "")
    if not secret:
        print(
            "bellwire processor: set BELLWIRE_WEBHOOK_SECRET to the server's webhook secret "
            "(its webhook_secret, or the webhook-secret file of its data dir)",
            file=sys.stderr,
        )
        return 2

    def client() -> Any:
        return boto3.client(
            "chime-sdk-messaging", endpoint_url=args.endpoint_url, region_name=args.region
        )

    app = processor_app(secret.encode(), word_filter(args.deny, args.mask), client, path=args.path)
    print(f"word filter processor on http://{args.host}:{args.port}{args.path}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0
