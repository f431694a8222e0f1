"""Shutdown (spec §2.6): every session is closed with 1012, which the JS SDK reconnects on."""

from __future__ import annotations

import time
from collections.abc import Callable

from ws_helpers import Client, World, connect_url, off, refused, session

from bellwire.events import EventType
from bellwire.testing import RunningServer

Factory = Callable[..., RunningServer]


async def test_stop_closes_every_session_with_1012(bellwire_server_factory: Factory) -> None:
    running = bellwire_server_factory()
    world = World.create(running)
    alice, bob = world.user(), world.user()
    world.channel(alice, [bob])
    clients: list[Client] = [
        await session(running, alice),
        await session(running, alice),
        await session(running, bob),
        await session(running, bob, prefetch=True),
    ]
    assert (await clients[3].next()).type == EventType.CHANNEL_DETAILS
    began = time.monotonic()
    await off(running.stop)
    assert time.monotonic() - began < 3, "polite clients answer the close at once"
    for client in clients:
        assert await client.closed_with() == 1012
        assert client.ws.close_reason  # a readable reason


async def test_connects_while_draining_are_refused_with_1012(
    bellwire_server_factory: Factory,
) -> None:
    running = bellwire_server_factory()
    world = World.create(running)
    alice = world.user()
    before = await session(running, alice)
    running.run(running.server.gateway.drain())
    assert await before.closed_with() == 1012
    code, _ = await refused(connect_url(running, alice))
    assert code == 1012
