"""The hub's own CPU on bursts of events, through real loopback sockets, old hub against new.

``python -m bench.hub_cost [--sessions 1000] [--burst 8] [--rounds 20]``

One channel with ``--sessions`` members, each session a real TCP connection on loopback whose
server end is an asyncio transport. A *burst* is ``--burst`` events; a round is a few bursts.
Only the hub's work is timed (``time.process_time`` around ``on_event`` and the flushes: the
Python work and the ``send`` system calls, where the kernel's loopback work is also done);
the peers are drained between rounds, untimed. Three ways, alternated round by round so that
other load on the machine touches them alike (rounds should be a multiple of the number of ways):

- ``before, per event``: the hub of ``--before`` (a git revision: by default the commit this
  work started from, before frames were coalesced across loop turns), flushed after every
  event, which is what happens when each event arrives in its own loop turn (one commit each);
- ``new, per event``: this hub, flushed the same way (``session_flush_interval_seconds = 0``);
- ``new, per burst``: this hub, flushed once per burst (a flush interval that a burst fits in).

Reported per way: deliveries per CPU-second of the hub, and the ratio to the first way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import time
from types import ModuleType
from typing import Any

from bellwire.domain import delivery
from bellwire.events import EventType
from bellwire.gateway import hub as new_hub
from bench import procs
from bench.ab import module_at

CH = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c"


BEFORE = "f81d53b"  # the last commit before the outbox and the flush interval


def hub_of(revision: str = BEFORE) -> ModuleType | None:
    """bellwire/gateway/hub.py of a git revision, as a module of its own."""
    return module_at(revision, "bellwire/gateway/hub.py")


class Sink(asyncio.Protocol):
    """The server end of a session's socket: it only writes."""


async def pairs(count: int) -> tuple[list[asyncio.Transport], list[socket.socket]]:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=count)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    transports: list[asyncio.Transport] = []
    peers: list[socket.socket] = []
    for _ in range(count):
        peer = socket.socket()
        peer.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            peer.connect(("127.0.0.1", port))
        accepted, _ = await loop.sock_accept(listener)
        transport, _ = await loop.connect_accepted_socket(Sink, accepted)
        transports.append(transport)
        peers.append(peer)
    listener.close()
    return transports, peers


def drain(peers: list[socket.socket]) -> int:
    total = 0
    for peer in peers:
        while True:
            try:
                data = peer.recv(1 << 20)
            except BlockingIOError:
                break
            if not data:
                break
            total += len(data)
    return total


class Way:
    def __init__(self, name: str, module: Any, transports: list[Any], per_burst: bool) -> None:
        self.name = name
        self.per_burst = per_burst
        kwargs: dict[str, Any] = {}
        if per_burst:
            kwargs["flush_interval"] = 3600.0  # the timer never fires: flushed by hand
        self.hub = module.Hub(
            buffer_limit=1 << 30, ping_interval=3600.0, ping_timeout=3600.0, **kwargs
        )
        self.flush = getattr(self.hub, "flush", None) or self.hub._flush
        for i, transport in enumerate(transports):
            session = module.Session(f"user{i}", "s", transport, lambda code, reason: None)
            self.hub.add(session)
            self.hub.establish(session, [(CH, 0)])
        self.seq = 0
        self.cpu = 0.0
        self.deliveries = 0

    def round(self, bursts: int, burst: int, content: str) -> None:
        events = []
        for _ in range(bursts * burst):
            self.seq += 1
            events.append(
                delivery.message_event(
                    EventType.CREATE_CHANNEL_MESSAGE,
                    CH,
                    self.seq,
                    {"Content": content, "N": self.seq},
                    message_type="STANDARD",
                    sender="user0",
                    target=None,
                )
            )
        before = self.hub.delivered
        hub, flush = self.hub, self.flush
        t0 = time.process_time()
        if self.per_burst:
            for b in range(bursts):
                for event in events[b * burst : (b + 1) * burst]:
                    hub.on_event(event)
                flush()
        else:
            for event in events:
                hub.on_event(event)
                flush()
        self.cpu += time.process_time() - t0
        self.deliveries += self.hub.delivered - before


async def run(
    sessions: int, burst: int, rounds: int, bursts: int, pad: int, before: str = BEFORE
) -> list[Way]:
    content = "x" * pad
    ways: list[Way] = []
    sets = []
    old = hub_of(before)
    plan: list[tuple[str, Any, bool]] = []
    if old is not None:
        plan.append(("before, per event", old, False))
    plan.append(("new, per event", new_hub, False))
    plan.append((f"new, per burst of {burst}", new_hub, True))
    for name, module, per_burst in plan:
        transports, peers = await pairs(sessions)
        sets.append(peers)
        ways.append(Way(name, module, transports, per_burst))
    everyone = list(zip(ways, sets, strict=True))
    for r in range(rounds):
        # Each way takes each place in the order equally often (A B C, B C A, C A B, ...):
        # the place alone moved the figures by a quarter on a busy machine.
        shift = r % len(everyone)
        order = everyone[shift:] + everyone[:shift]
        for way, peers in order:
            way.round(bursts, burst, content)
            await asyncio.sleep(0)  # let the loop send what a socket could not take at once
            while drain(peers):
                await asyncio.sleep(0.001)
    return ways


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hub_cost", description=__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=8, help="events per burst")
    parser.add_argument("--bursts", type=int, default=4, help="bursts per round")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--pad", type=int, default=200, help="message content characters")
    parser.add_argument("--before", default=BEFORE, help="git revision of the hub to compare")
    args = parser.parse_args(argv)
    procs.raise_fd_limit(8 * args.sessions + 1000)
    ways = asyncio.run(
        run(args.sessions, args.burst, args.rounds, args.bursts, args.pad, args.before)
    )
    base = ways[0].deliveries / ways[0].cpu
    print(
        f"{args.sessions} sessions, bursts of {args.burst} events, "
        f"{args.rounds} rounds of {args.bursts} bursts"
    )
    for way in ways:
        rate = way.deliveries / way.cpu
        print(
            f"  {way.name:<24} {rate:>12,.0f} deliveries per CPU-second  "
            f"({way.cpu:.2f} s for {way.deliveries:,})  x{rate / base:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
