"""Real sinks for the streaming-export tests: a Redis stream and a NATS JetStream stream on the
machine's servers (random names, deleted after), and an HTTP webhook receiver run by the test."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis

REDIS = ("127.0.0.1", 6379)
NATS = "nats://127.0.0.1:4222"
ACCOUNT = "123456789012"


def stream_arn() -> str:
    return f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/chime-messaging-{uuid.uuid4().hex[:10]}"


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "records") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not arrive in time")
        time.sleep(0.05)


def decoded(record: str | bytes) -> tuple[str, dict[str, Any]]:
    """A stream record's (EventType, Payload): the payload is a JSON string, as AWS sends it."""
    document = json.loads(record)
    assert set(document) == {"EventType", "Payload"}, document
    assert isinstance(document["Payload"], str)
    return document["EventType"], json.loads(document["Payload"])


class RedisStream:
    def __init__(self) -> None:
        self.key = f"bellwire-test-{uuid.uuid4().hex}"
        self.client = redis.Redis(*REDIS)
        self.url = f"redis://{REDIS[0]}:{REDIS[1]}/0?stream={self.key}"

    def entries(self) -> list[dict[str, str]]:
        return [
            {k.decode(): v.decode() for k, v in fields.items()}
            for _, fields in self.client.xrange(self.key)
        ]

    def delete(self) -> None:
        self.client.delete(self.key)
        self.client.close()


class NatsStream:
    def __init__(self) -> None:
        self.subject = f"bellwire.test.{uuid.uuid4().hex}"
        self.name = f"bellwire-test-{uuid.uuid4().hex[:12]}"
        self.url = f"{NATS}?subject={self.subject}&stream={self.name}"

    async def _messages(self) -> list[tuple[dict[str, str], bytes]]:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(NATS)
        try:
            js = nc.jetstream()
            try:
                info = await js.stream_info(self.name)
            except NotFoundError:
                return []
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(self.name, seq)
                found.append((dict(msg.headers or {}), msg.data or b""))
            return found
        finally:
            await nc.close()

    def messages(self) -> list[tuple[dict[str, str], bytes]]:
        return asyncio.run(self._messages())

    async def _exists(self) -> bool:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(NATS)
        try:
            await nc.jetstream().stream_info(self.name)
            return True
        except NotFoundError:
            return False
        finally:
            await nc.close()

    def exists(self) -> bool:
        return asyncio.run(self._exists())

    async def _delete(self) -> None:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(NATS)
        try:
            await nc.jetstream().delete_stream(self.name)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    def delete(self) -> None:
        asyncio.run(self._delete())


class Webhook:
    """An HTTP endpoint that answers 503 while ``up`` is False and keeps what it took."""

    def __init__(self) -> None:
        self.up = True
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if hook.up:
                    hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(200)
                else:
                    hook.refused += 1
                    self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/records"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def records(self) -> list[tuple[int, str, tuple[str, dict[str, Any]]]]:
        """(id, partition key, (EventType, Payload)) of what it took, de-duplicated by id as a
        consumer does (a retried batch may repeat records)."""
        seen: set[int] = set()
        out = []
        for headers, body in list(self.received):
            record_id = int(headers["x-bellwire-record-id"])
            if record_id in seen:
                continue
            seen.add(record_id)
            out.append((record_id, headers["x-bellwire-partition-key"], decoded(body)))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TcpProxy:
    """A TCP relay in front of a real server that the test takes down and brings back up (the
    sink's outage, without touching the shared server)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.up()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _up(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _down(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()
