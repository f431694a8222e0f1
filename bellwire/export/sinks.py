"""The sinks a Kinesis stream ARN can map to ([resources], spec §11A.1), one class each.

Every sink gets the outbox's records in id order and either takes them all or raises
:class:`SinkError`; the relay then retries the whole batch later (at-least-once: a consumer may
see a record twice and de-duplicates by its id, never sees one out of order per channel).

- ``redis://HOST:PORT/DB?stream=KEY`` (``rediss://`` for TLS): one ``XADD KEY *`` per record with
  the fields ``id``, ``partition_key`` (the channel ARN) and ``record`` (the JSON AWS puts on the
  stream), pipelined in order.
- ``nats://HOST:PORT?subject=SUBJECT[&stream=NAME]``: one JetStream publish per record on
  SUBJECT, body = the record, headers ``Nats-Msg-Id`` (the id: JetStream itself drops a
  duplicate within its window) and ``Bellwire-Partition-Key``. The stream holding SUBJECT is
  created when none exists (named NAME, default ``bellwire-`` + the subject's safe characters).
- ``http://...`` / ``https://...``: one POST per record through the server's webhook caller
  (signed: ``X-Bellwire-Signature``, ``X-Bellwire-Timestamp``), body = the record, headers
  ``X-Bellwire-Record-Id`` and ``X-Bellwire-Partition-Key``; any 2xx is an acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

from bellwire.records.chime import OutboxRecord
from bellwire.webhook import WebhookCaller

TIMEOUT_SECONDS = 10.0


class SinkError(Exception):
    """A sink that did not take a batch (down, refused, misconfigured)."""


class Sink(Protocol):
    async def deliver(self, records: Sequence[OutboxRecord]) -> None: ...
    async def close(self) -> None: ...


def _query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


class RedisSink:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        key = _query(url).get("stream")
        if not key:
            raise SinkError(f"{url}: a Redis sink needs ?stream=KEY")
        self.key = key
        self._url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._client: Any = None

    async def deliver(self, records: Sequence[OutboxRecord]) -> None:
        import redis.asyncio as redis
        from redis.exceptions import RedisError

        if self._client is None:
            self._client = redis.Redis.from_url(
                self._url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
            )
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for r in records:
                    pipe.xadd(
                        self.key,
                        {"id": str(r.id), "partition_key": r.channel_arn, "record": r.record},
                    )
                await pipe.execute()
        except (RedisError, OSError) as exc:
            await self.close()
            raise SinkError(f"Redis stream {self.key}: {exc}") from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def nats_stream_name(subject: str) -> str:
    return "bellwire-" + (re.sub(r"[^A-Za-z0-9_-]", "_", subject) or "export")


class NatsSink:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = _query(url)
        subject = query.get("subject")
        if not subject:
            raise SinkError(f"{url}: a NATS sink needs ?subject=SUBJECT")
        self.subject = subject
        self.stream = query.get("stream") or nats_stream_name(subject)
        self._server = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self._nc: Any = None
        self._js: Any = None

    async def _connect(self) -> Any:
        import nats
        from nats.js.errors import NotFoundError

        if self._js is not None:
            return self._js
        self._nc = await nats.connect(
            servers=[self._server],
            connect_timeout=TIMEOUT_SECONDS,
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )
        js = self._nc.jetstream(timeout=TIMEOUT_SECONDS)
        try:
            await js.find_stream_name_by_subject(self.subject)
        except NotFoundError:
            await js.add_stream(name=self.stream, subjects=[self.subject])
        self._js = js
        return js

    async def deliver(self, records: Sequence[OutboxRecord]) -> None:
        from nats.errors import Error as NatsError

        try:
            js = await self._connect()
            acks = [
                await js.publish_async(
                    self.subject,
                    r.record.encode(),
                    headers={"Nats-Msg-Id": str(r.id), "Bellwire-Partition-Key": r.channel_arn},
                )
                for r in records
            ]
            await asyncio.wait_for(asyncio.gather(*acks), TIMEOUT_SECONDS)
        except (NatsError, OSError, TimeoutError) as exc:
            await self.close()
            raise SinkError(f"NATS subject {self.subject}: {exc!r}") from exc

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()


class WebhookSink:
    """POSTs through the server's one webhook caller (bellwire/webhook.py): signed with the
    webhook secret (X-Bellwire-Signature, docs/webhooks.md), retried a few times on no answer, a
    429 or a 5xx, bounded in flight. What the caller gives up on, the relay retries later."""

    def __init__(self, url: str, caller: WebhookCaller) -> None:
        self.url = url
        self._caller = caller

    async def deliver(self, records: Sequence[OutboxRecord]) -> None:
        for r in records:
            outcome = await self._caller.post(
                self.url,
                r.record.encode(),
                headers={
                    "X-Bellwire-Record-Id": str(r.id),
                    "X-Bellwire-Partition-Key": r.channel_arn,
                },
            )
            if not outcome.ok:
                raise SinkError(f"webhook {self.url}: {outcome.error or outcome.status}")

    async def close(self) -> None:
        pass  # the caller is the server's, closed with it


def open_sink(url: str, webhooks: WebhookCaller | None = None) -> Sink:
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss"):
        return RedisSink(url)
    if scheme == "nats":
        return NatsSink(url)
    if scheme in ("http", "https") and webhooks is not None:
        return WebhookSink(url, webhooks)
    raise SinkError(f"{url}: no sink for the scheme {scheme!r}")
