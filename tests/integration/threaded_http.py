"""An aiohttp server on its own thread and loop, for the hooks tests stand up (a channel flow's
processor, a bot's webhook, a push gateway): the test's synchronous boto3 calls never block it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ThreadedHttp:
    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self, route: str, handler: Handler, port: int = 0) -> int:
        """Serve POSTs to ``route`` with ``handler`` on loopback ``port`` (0: a free one);
        returns the port."""
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                app = web.Application()
                app.router.add_post(route, handler)
                self._runner = web.AppRunner(app, access_log=None)
                await self._runner.setup()
                await web.TCPSite(self._runner, "127.0.0.1", port).start()
                ready.set()

            loop.run_until_complete(boot())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._runner is None:
            raise RuntimeError(f"the {self._name} server did not start")
        port: int = self._runner.addresses[0][1]
        return port

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
