"""A real channel flow processor for tests: an aiohttp server on loopback, in its own thread,
that checks bellwire's signature and calls back with boto3 (SigV4-signed) as a Lambda would.

It records every event it receives; ``hold`` keeps its HTTP answers waiting (a slow processor),
``silent`` answers 202 and never calls back (a processor that loses the message);
``hang_first`` leaves that many invocations without an answer (a processor that stopped while
bellwire was calling it).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from threaded_http import ThreadedHttp

from bellwire import flows, webhook

SECRET = "flow-test-webhook-secret"


@dataclass
class Processor:
    decide: Callable[[flows.ProcessorEvent], flows.Decision] = field(
        default_factory=lambda: flows.word_filter()
    )
    silent: bool = False
    hang_first: int = 0
    fail_first: int = 0  # answer this many invocations 503 first (a cold, overloaded Lambda)
    failed: int = 0
    client: Callable[[], Any] | None = None  # a boto3 chime-sdk-messaging client factory
    events: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    url: str = ""
    _hold: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _calling: set[asyncio.Task[None]] = field(default_factory=set)
    _server: ThreadedHttp = field(default_factory=lambda: ThreadedHttp("flow-processor"))

    def __post_init__(self) -> None:
        self._hold.set()

    def hold(self) -> None:
        self._hold.clear()

    def release(self) -> None:
        self._hold.set()

    def arrived(self, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the processor received {len(self.events)} of {count}")
            time.sleep(0.02)
        return self.events

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            flows.verify(SECRET.encode(), body, request.headers)
            event = flows.parse_event(body)
        except (webhook.SignatureError, flows.EventError):
            self.refused += 1
            return web.Response(status=401)
        if self.failed < self.fail_first:
            self.failed += 1
            return web.Response(status=503)
        self.events.append(json.loads(body))
        self.headers.append(dict(request.headers))
        if len(self.events) <= self.hang_first:
            await asyncio.to_thread(self._stopping.wait, 3600)  # until the test stops it
            return web.Response(status=503)
        await asyncio.to_thread(self._hold.wait, 30)
        if not self.silent:
            task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._call_back, event))
            self._calling.add(task)
            task.add_done_callback(self._calling.discard)
        return web.Response(status=202)

    def _call_back(self, event: flows.ProcessorEvent) -> None:
        assert self.client is not None, "no client to call back with"
        request = flows.callback_request(event, self.decide(event))
        try:
            self.client().channel_flow_callback(**request)
            self.callbacks.append(request)
        except BaseException as exc:  # recorded for the test to see
            self.errors.append(exc)

    def start(self) -> Processor:
        port = self._server.start("/", self._handle)
        self.url = f"http://127.0.0.1:{port}/"
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release()
        deadline = time.monotonic() + 10
        while self._calling and time.monotonic() < deadline:  # callbacks still being made
            time.sleep(0.02)
        self._server.stop()
