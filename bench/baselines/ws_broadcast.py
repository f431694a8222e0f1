"""Baseline (i): the broadcast server a user might write with the ``websockets`` library.

Subscribers connect to ``/``; a publisher connects to ``/publish`` and every text message it
sends is broadcast to all subscribers with ``websockets.broadcast`` (one frame written per
socket), then acknowledged with ``ok``. No compression is negotiated (the load generator does
not offer it). Run: ``python -m bench.baselines.ws_broadcast PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

SUBSCRIBERS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    if ws.request is not None and ws.request.path == "/publish":
        async for message in ws:
            broadcast(SUBSCRIBERS, message)
            await ws.send("ok")
        return
    SUBSCRIBERS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        SUBSCRIBERS.discard(ws)


async def main(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(handler, "127.0.0.1", port, compression=None, backlog=1024):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
