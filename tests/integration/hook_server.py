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
from threaded_http import ThreadedHttp

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


def lex_configuration(
    alias: str,
    standard: str | None = "ALL",
    targeted: str = "NONE",
    welcome: str | None = None,
) -> dict[str, Any]:
    """An AppInstanceBot's Configuration whose Lex bot alias is ``alias`` (a hook's ARN)."""
    config: dict[str, Any] = {"LexBotAliasArn": alias, "LocaleId": "en_US"}
    if standard is not None:
        config["InvokedBy"] = {"StandardMessages": standard, "TargetedMessages": targeted}
    if welcome is not None:
        config["WelcomeIntent"] = welcome
    return {"Lex": config}


def ok(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {}


@dataclass
class Hook:
    answer: Answer = ok
    bodies: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    url: str = ""
    _hold: threading.Event = field(default_factory=threading.Event)
    _server: ThreadedHttp = field(default_factory=lambda: ThreadedHttp("test-hook"))

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

    def start(self, port: int = 0) -> Hook:
        """Listen on loopback ``port`` (0: a free one), so that a test may start a hook where
        a server already sends (an endpoint that comes up late)."""
        port = self._server.start("/{tail:.*}", self._handle, port)
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    def stop(self) -> None:
        self.release()
        self._server.stop()
