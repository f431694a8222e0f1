"""What deleting a channel with a long history costs everyone else: sends to another channel
while DeleteChannel runs, against the same sends just before it.

    .venv/bin/python -m bench.delete_channel [--messages 60000] [--clients 16] [--base REF]
                                             [--postgres] [--scale-in | --members N |
                                             --users N [--channels M]] [--quick]

One ``bellwire serve`` process (its state in SQLite, or with ``--postgres`` in a PostgreSQL
database made for the run). A channel is filled with ``--messages`` messages (32 senders),
then ``--clients`` closed-loop senders send to another channel for ``--before`` seconds (the
quiet window) and go on while the first channel is deleted and for ``--after`` seconds more
(the deletion's window). Reported: DeleteChannel's own latency, and for the other senders each
window's messages/s and latency p50/p99/max, with the deletion window's max and p99 as ratios of
the quiet window's. ``--base REF`` runs REF's server and this checkout's, A B B A, and prints
the ratios side by side.

``--scale-in``: the filled channel is an elastic channel's sub-channel instead, and what is
timed is the DeleteChannelMembership whose leave empties it below its minimum (SCALE_IN: its
last member moves to the other sub-channel and the sub-channel is deleted).

``--members N``: the deleted channel is an elastic channel with N members (made with
BatchCreateChannelMembership) and no messages.

``--users N``: what is deleted is another app instance, of N users (and ``--channels M``
channels, each of its first user alone), and what is timed is its DeleteAppInstance.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import elastic, procs, targets
from bench.rest import Chime, messages_path
from bench.scenarios import latency_summary, quick_verdict

FILLERS = 32


# Five members fill the first sub-channel (4) and SCALE_OUT to [3, 2]; one leave of each then
# leaves [2, 1]: below 40 % of 4, the second merges into the first.
ELASTIC = {
    "MaximumSubChannels": 2,
    "TargetMembershipsPerSubChannel": 4,
    "MinimumMembershipPercentage": 40,
}


async def fill(
    chimes: list[Chime], path: str, sender: str, count: int, sub: str | None = None
) -> float:
    """``count`` messages in the channel at ``path`` (its sub-channel ``sub``); returns
    messages/s."""
    left = count
    started = time.monotonic()

    async def one(chime: Chime) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, body = await chime.raw(
                "POST", path, "", None, sender, body=chime.message_body("y" * 64, sub)
            )
            if status != 201:
                raise RuntimeError(f"fill answered {status}: {body[:200]!r}")

    await asyncio.gather(*(one(c) for c in chimes))
    return count / (time.monotonic() - started)


async def new_users(chimes: list[Chime], app: str, count: int) -> list[str]:
    """``count`` new users of ``app``, made by all of ``chimes`` at once."""
    users: list[str] = []
    left = count

    async def make(chime: Chime) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            users.append(await chime.create_user(app, f"a{left}"))

    await asyncio.gather(*(make(c) for c in chimes))
    return users


async def new_channels(chimes: list[Chime], app: str, creator: str, count: int) -> None:
    """``count`` channels of ``app``, ``creator`` their only member."""
    left = count

    async def make(chime: Chime) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await chime.create_channel(app, creator, f"c{left}", [])

    await asyncio.gather(*(make(c) for c in chimes))


async def audience(chimes: list[Chime], app: str, creator: str, count: int) -> str:
    """An elastic channel of ``count`` new members."""
    admin = chimes[0]
    config = {
        "MaximumSubChannels": 100,
        "TargetMembershipsPerSubChannel": max(2, -(-count // 50)),
        "MinimumMembershipPercentage": 10,
    }
    channel = await elastic.create_channel(admin, app, creator, ElasticChannelConfiguration=config)
    await admin.add_members(channel, creator, await new_users(chimes, app, count))
    return channel


async def run(
    messages: int,
    clients: int,
    before: float,
    after: float,
    source: Path | None,
    postgres: bool = False,
    scale_in: bool = False,
    members: int = 0,
    users_gone: int = 0,
    channels_gone: int = 0,
) -> dict[str, Any]:
    from bellwire.testing import DEFAULT_POSTGRES, TEST_POSTGRES_ENV, create_database, drop_database

    store = (
        create_database(os.environ.get(TEST_POSTGRES_ENV) or DEFAULT_POSTGRES) if postgres else ""
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-delete-"))
    server_core, lg_core = procs.placement()
    server = targets.Bellwire(
        workdir / "data", server_core, workdir / "server.log", store=store, source=source
    )
    procs.pin_self(lg_core)
    chimes = [server.chime() for _ in range(max(clients, FILLERS) + 1)]
    try:
        admin = chimes[-1]
        app = await admin.create_app_instance("bench-delete")
        users = [await admin.create_user(app, f"u{i}") for i in range(clients)]
        busy = await admin.create_channel(app, users[0], "busy", users[1:10])
        await admin.add_members(busy, users[0], users[10:])
        if scale_in:
            big = await elastic.create_channel(
                admin, app, users[0], ElasticChannelConfiguration=ELASTIC
            )
            five = [await admin.create_user(app, f"e{i}") for i in range(5)]
            for member in five:
                await elastic.join(admin, big, member, users[0])
            small = min(
                (await elastic.sub_channels(admin, big, users[0])).items(), key=lambda s: s[1]
            )[0]
            writer, leaver = await elastic.members_of(admin, big, small, users[0])
            stayer = next(m for m in five if m not in (writer, leaver))
            await elastic.leave(admin, big, stayer, users[0])
            fill_rate = await fill(chimes[:FILLERS], messages_path(big), writer, messages, small)
        elif members:
            big = await audience(chimes[:FILLERS], app, users[0], members)
            fill_rate = 0.0
        elif users_gone:
            gone = await admin.create_app_instance("bench-delete-gone")
            owner = (await new_users(chimes[:FILLERS], gone, users_gone))[0]
            await new_channels(chimes[:FILLERS], gone, owner, channels_gone)
            fill_rate = 0.0
        else:
            big = await admin.create_channel(app, users[0], "big", [])
            fill_rate = await fill(chimes[:FILLERS], messages_path(big), users[0], messages)

        windows: dict[str, list[int]] = {"quiet": [], "deleting": []}
        window: list[int] | None = None
        stop = False
        failures = 0

        async def sender(k: int) -> None:
            nonlocal failures
            path = messages_path(busy)
            while not stop:
                t0 = time.monotonic_ns()
                status, _ = await chimes[k].raw(
                    "POST", path, "", None, users[k], body=chimes[k].message_body("x" * 64)
                )
                if status != 201:
                    failures += 1
                elif window is not None:
                    window.append(time.monotonic_ns() - t0)

        tasks = [asyncio.ensure_future(sender(k)) for k in range(clients)]
        await asyncio.sleep(1.0)
        window = windows["quiet"]
        await asyncio.sleep(before)
        window = windows["deleting"]
        started = time.monotonic()
        if scale_in:
            await elastic.leave(admin, big, leaver, users[0])
            left = await elastic.sub_channels(admin, big, users[0])
            if small in left:
                raise RuntimeError(f"the leave did not empty the sub-channel: {left}")
        elif users_gone:
            await admin.call("DELETE", f"/app-instances/{quote(gone, safe='')}", expect=204)
        else:
            await admin.call(
                "DELETE", f"/channels/{quote(big, safe='')}", bearer=users[0], expect=204
            )
        delete_ms = (time.monotonic() - started) * 1000
        await asyncio.sleep(after)
        deleting_s = time.monotonic() - started
        window = None
        stop = True
        await asyncio.gather(*tasks)
    finally:
        for chime in chimes:
            chime.close()
        server.stop()
        if store:
            drop_database(store)
    quiet, deleting = latency_summary(windows["quiet"]), latency_summary(windows["deleting"])
    return {
        "messages": 0 if members or users_gone else messages,
        "members": members,
        "users": users_gone,
        "channels": channels_gone,
        "clients": clients,
        "fill_messages_per_s": round(fill_rate),
        "deletion": "SCALE_IN leave"
        if scale_in
        else "DeleteAppInstance"
        if users_gone
        else "DeleteChannel",
        "deletion_ms": round(delete_ms, 1),
        "failures": failures,
        "quiet": {**quiet, "messages_per_s": round(len(windows["quiet"]) / before)},
        "deleting": {**deleting, "messages_per_s": round(len(windows["deleting"]) / deleting_s)},
        "max_ratio": _ratio(deleting["max_ms"], quiet["max_ms"]),
        "p99_ratio": _ratio(deleting["p99_ms"], quiet["p99_ms"]),
    }


def _ratio(b: Any, a: Any) -> float | None:
    return round(b / a, 2) if a and b is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--before", type=float, default=3.0)
    parser.add_argument("--after", type=float, default=3.0)
    parser.add_argument("--base", help="also run this ref's server, A B B A")
    parser.add_argument(
        "--postgres", action="store_true", help="the server's state in a PostgreSQL database"
    )
    parser.add_argument(
        "--scale-in",
        action="store_true",
        help="the deletion is a SCALE_IN's, of an elastic channel's sub-channel",
    )
    parser.add_argument(
        "--members",
        type=int,
        default=0,
        help="delete an elastic channel of this many members (and no messages) instead",
    )
    parser.add_argument(
        "--users",
        type=int,
        default=0,
        help="delete another app instance of this many users (and nothing else) instead",
    )
    parser.add_argument(
        "--channels", type=int, default=0, help="with --users: the instance's channels"
    )
    parser.add_argument("--quick", action="store_true", help="a small channel: that it runs (CI)")
    args = parser.parse_args(argv)
    if args.channels and not args.users:
        parser.error("--channels is the deleted app instance's: it goes with --users")
    if sum(map(bool, (args.scale_in, args.members, args.users))) > 1:
        parser.error("--scale-in, --members and --users measure different deletions")
    if args.quick:
        args.messages, args.clients, args.before, args.after = 500, 2, 0.5, 0.5
        args.members, args.users = min(args.members, 500), min(args.users, 500)
        args.channels = min(args.channels, 100)

    def one(source: Path | None) -> dict[str, Any]:
        return asyncio.run(
            run(
                args.messages,
                args.clients,
                args.before,
                args.after,
                source,
                args.postgres,
                args.scale_in,
                args.members,
                args.users,
                args.channels,
            )
        )

    try:
        if args.base:
            from bench.ab import abba

            workdir = Path(tempfile.mkdtemp(prefix="bench-delete-ab-"))
            runs = abba(args.base, workdir, one)
            for key in ("deletion_ms", "max_ratio", "p99_ratio"):
                sides = {s: [r[key] for side, r in runs if side == s] for s in "AB"}
                print(key, json.dumps(sides))
            return 0
        result = one(None)
    finally:
        procs.stop_all()
    print(json.dumps(result, indent=2))
    if args.quick:
        bad = result["failures"] or not all(result[w]["samples"] for w in ("quiet", "deleting"))
        return quick_verdict(
            ["sends failed or a window measured none"] if bad else [],
            "both windows produced numbers",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
