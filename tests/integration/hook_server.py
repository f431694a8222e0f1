"""A real webhook endpoint for tests: an aiohttp server on loopback, in its own thread, that
checks bellwire's signature, records every body, and answers with what ``answer`` returns.

Used as a Lex bot (answers like RecognizeText) and as a push gateway. ``hold`` keeps the
answers waiting (a slow endpoint); ``status`` other than 200 makes it fail.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

from bellwire import webhook

SECRET = "bots-and-push-test-secret"


def integration_helpers() -> ModuleType:
    """This suite's conftest under a name of its own (as the channel flow tests load it):
    ``import conftest`` finds whichever conftest was imported first when several suites run in
    one session."""
    name = "integration_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("conftest.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def ok(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {}


@dataclass
class Hook:
    answer: Answer = ok
    bodies: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    url: str = ""
    _hold: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        self._hold.set()

    def hold(self) -> None:
        self._hold.clear()

    def release(self) -> None:
        self._hold.set()

    def arrived(self, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the hook received {len(self.bodies)} of {count}")
            time.sleep(0.02)
        return self.bodies

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            webhook.verify(SECRET.encode(), body, request.headers, time.time())
        except webhook.SignatureError:
            self.refused += 1
            return web.Response(status=401)
        parsed = json.loads(body)
        self.bodies.append(parsed)
        await asyncio.to_thread(self._hold.wait, 30)
        status, answer = self.answer(parsed)
        return web.json_response(answer, status=status)

    def start(self) -> Hook:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                app = web.Application()
                app.router.add_post("/{tail:.*}", self._handle)
                self._runner = web.AppRunner(app, access_log=None)
                await self._runner.setup()
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                await site.start()
                self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
                ready.set()

            loop.run_until_complete(boot())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="test-hook", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        self.release()
        if self._loop is None or self._runner is None:
            return
        runner = self._runner
        asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
