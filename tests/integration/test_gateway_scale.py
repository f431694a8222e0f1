"""500 live sessions on one channel, 50 messages sent through the real REST API from several
threads: every session receives all 50, in the channel's order, with nothing lost."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from ws_helpers import Client, World, connect_url, contents, off, open_ws, run_all

from bellwire.events import EventType
from bellwire.testing import RunningServer

SESSIONS = 500
MESSAGES = 50
SENDERS = 5


@pytest.mark.slow
async def test_500_sessions_each_receive_50_messages_in_order(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    started = time.monotonic()
    running = bellwire_server_factory()
    world = World.create(running, "scale")
    creator = world.user()
    with ThreadPoolExecutor(8) as pool:
        users = list(pool.map(lambda _: world.user(), range(SESSIONS - 1)))
    channel = world.channel(creator)
    for start in range(0, len(users), 100):
        world.messaging.batch_create_channel_membership(
            ChannelArn=channel,
            MemberArns=users[start : start + 100],
            Type="DEFAULT",
            ChimeBearer=creator,
        )
    members = [creator, *users]
    setup_done = time.monotonic()

    clients: list[Client] = []
    try:
        for start in range(0, SESSIONS, 100):  # connect in waves, like a reconnect storm
            batch = members[start : start + 100]
            sockets = await asyncio.gather(*(open_ws(connect_url(running, u)) for u in batch))
            clients += [Client(ws, user) for ws, user in zip(sockets, batch, strict=True)]
        for client in clients:
            assert (await client.next()).type == EventType.SESSION_ESTABLISHED

        async def subscribed() -> int:
            return len(running.server.hub.channels[channel])

        assert running.run(subscribed()) == SESSIONS
        connected = time.monotonic()

        senders = members[:SENDERS]
        sent: list[list[str]] = [[] for _ in senders]
        rest = [running.client("chime-sdk-messaging") for _ in senders]

        def pump(index: int) -> None:
            for n in range(MESSAGES // SENDERS):
                text = f"{index}:{n}"
                rest[index].send_channel_message(
                    ChannelArn=channel,
                    ChimeBearer=senders[index],
                    Content=text,
                    Type="STANDARD",
                    Persistence="PERSISTENT",
                )
                sent[index].append(text)

        threads = [threading.Thread(target=pump, args=(i,)) for i in range(SENDERS)]
        await off(run_all, threads)
        sent_at = time.monotonic()

        received = await asyncio.gather(*(c.take(MESSAGES, timeout=30) for c in clients))
        delivered = time.monotonic()

        listed = world.messaging.list_channel_messages(
            ChannelArn=channel, ChimeBearer=creator, SortOrder="ASCENDING", MaxResults=50
        )
        channel_order = [m["Content"] for m in listed["ChannelMessages"]]
        assert len(channel_order) == MESSAGES
        for client, events in zip(clients, received, strict=True):
            assert contents(events) == channel_order, client.user_arn
        for index, texts in enumerate(sent):
            assert [t for t in channel_order if t.startswith(f"{index}:")] == texts
        for client in clients:
            await client.quiet(0)
            assert not client.closed
        print(
            f"\nscale: setup {setup_done - started:.1f}s, connect {connected - setup_done:.1f}s, "
            f"send {sent_at - connected:.1f}s, delivery done {delivered - connected:.1f}s "
            f"after the first send, total {delivered - started:.1f}s"
        )
        assert delivered - started < 60
    finally:
        for start in range(0, len(clients), 100):
            await asyncio.gather(
                *(c.close() for c in clients[start : start + 100]), return_exceptions=True
            )
