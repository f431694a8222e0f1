"""``python -m bench.elastic [--quick] [--members N --sessions S --sub-size K]``: elastic channels
at scale, with a regular channel of one sub-channel's size as the baseline, in one run.

bellwire runs as its own process pinned to one core, this load generator on another. The run:

1. joins: N members join an elastic channel of sub-channels of K (MaximumSubChannels N/K), one
   CreateChannelMembership each from several connections; the rate of the first and the last K
   joins (O(sub-channel): the last should not be slower) against K joins of a regular channel.
   The last SCALE_OUT (from N/K - 1 full sub-channels to N/K) is timed alone; its events are
   the members it moved (one UPDATE_CHANNEL_MEMBERSHIP each) and the joiner's CREATE.
2. sends: S sessions of members spread over the sub-channels are connected; messages sent into
   one sub-channel are timed from send to delivery at each of its connected members, and as
   many sessions of a regular channel of K members receive the baseline's messages. Sends
   alternate between the two, one at a time. No session of another sub-channel may receive
   anything (counted).
3. SCALE_IN: members leave two sub-channels until one falls below the minimum and the other can
   absorb it; that last leave is timed, with the events it emits.

Prints a JSON document (also written to ``bench/results/elastic.json``) with the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import procs, wsclient
from bench.rest import Chime, HttpError
from bench.scenarios import latency_summary, wait_until
from bench.targets import Bellwire
from bench.wsclient import COUNT, SAMPLE, Totals

RESULTS = Path(__file__).resolve().parent / "results"
MIN_PERCENTAGE = 10
CONNECT_TIMEOUT = 1800.0  # tens of thousands of connects on a shared two-core machine


def channel_path(channel: str) -> str:
    return f"/channels/{quote(channel, safe='')}"


async def create_channel(chime: Chime, app: str, creator: str, **extra: Any) -> str:
    document = {"AppInstanceArn": app, "Name": f"bench-{uuid.uuid4().hex[:6]}", **extra}
    document["ClientRequestToken"] = uuid.uuid4().hex
    out = await chime.call("POST", "/channels", document=document, bearer=creator, expect=201)
    return str(out["ChannelArn"])


async def join(chime: Chime, channel: str, member: str, bearer: str) -> None:
    await chime.call(
        "POST",
        f"{channel_path(channel)}/memberships",
        document={"MemberArn": member, "Type": "DEFAULT"},
        bearer=bearer,
        expect=201,
    )


async def leave(chime: Chime, channel: str, member: str, bearer: str) -> None:
    await chime.call(
        "DELETE",
        f"{channel_path(channel)}/memberships/{quote(member, safe='')}",
        bearer=bearer,
        expect=204,
    )


async def sub_channels(chime: Chime, channel: str, bearer: str) -> dict[str, int]:
    found: dict[str, int] = {}
    token = ""
    while True:
        query = "max-results=50" + (f"&next-token={quote(token, safe='')}" if token else "")
        out = await chime.call("GET", f"{channel_path(channel)}/subchannels", query, bearer=bearer)
        for s in out["SubChannels"]:
            found[s["SubChannelId"]] = s["MembershipCount"]
        token = out.get("NextToken") or ""
        if not token:
            return found


async def members_of(chime: Chime, channel: str, sub: str, bearer: str) -> list[str]:
    found: list[str] = []
    token = ""
    while True:
        query = f"max-results=50&sub-channel-id={sub}"
        if token:
            query += f"&next-token={quote(token, safe='')}"
        out = await chime.call("GET", f"{channel_path(channel)}/memberships", query, bearer=bearer)
        found += [m["Member"]["Arn"] for m in out["ChannelMemberships"]]
        token = out.get("NextToken") or ""
        if not token:
            return found


async def joins(
    server: Bellwire, channel: str, members: list[str], bearer: str, workers: int
) -> dict[str, Any]:
    """Join ``members`` from ``workers`` connections; rates overall and per K-sized window."""
    clients = [server.chime() for _ in range(workers)]
    done_at: list[float] = [0.0] * len(members)
    start = time.perf_counter()

    async def work(k: int) -> None:
        for i in range(k, len(members), workers):
            await join(clients[k], channel, members[i], bearer)
            done_at[i] = time.perf_counter()

    try:
        await asyncio.gather(*(work(k) for k in range(workers)))
    finally:
        for c in clients:
            c.close()
    return {"seconds": time.perf_counter() - start, "done_at": done_at, "start": start}


def window_rate(done_at: list[float], start: float, lo: int, hi: int) -> float:
    """Joins per second of members lo..hi-1 (by order of submission)."""
    begin = start if lo == 0 else done_at[lo - 1]
    return round((hi - lo) / max(1e-9, done_at[hi - 1] - begin), 1)


async def timed_sends(
    chime: Chime,
    channel: str,
    sender: str,
    sub: str | None,
    totals: Totals,
    recipients: int,
    count: int,
) -> dict[str, Any]:
    """``count`` sends one at a time, each awaited until all its deliveries arrived."""
    path = f"{channel_path(channel)}/messages"
    totals.reset()
    for _ in range(count):
        document: dict[str, Any] = {
            "Content": wsclient.stamp() + "x" * 200,
            "Type": "STANDARD",
            "Persistence": "PERSISTENT",
            "ClientRequestToken": uuid.uuid4().hex,
        }
        if sub:
            document["SubChannelId"] = sub
        expected = totals.delivered + recipients
        status, body = await chime.raw(
            "POST", path, "", None, sender, body=json.dumps(document).encode()
        )
        if status != 201:
            raise HttpError(status, body)
        if not await wait_until(lambda e=expected: totals.delivered >= e, 30.0):  # type: ignore[misc]
            raise RuntimeError(f"deliveries missing: {totals.delivered} < {expected}")
    return {"recipients": recipients, "sends": count, **latency_summary(totals.latencies_ns)}


async def run(
    members: int, sessions: int, sub_size: int, sends: int, workers: int
) -> dict[str, Any]:
    server_core, lg_core = procs.placement()
    procs.pin_self(lg_core)
    limit = procs.raise_fd_limit(sessions * 2 + 4096)
    # Each side holds one descriptor per session (the server runs in its own process, with
    # the same limit): where the hard limit cannot be raised, fewer sessions, said so.
    requested, sessions = sessions, min(sessions, limit - 1500)
    maximum = math.ceil(members / sub_size)
    if maximum < 2:
        raise SystemExit("members / sub-size must give at least 2 sub-channels")
    members = maximum * sub_size
    results: dict[str, Any] = {
        "members": members,
        "sub_channel_size": sub_size,
        "sub_channels": maximum,
        "sessions": sessions,
        "sessions_requested": requested,
        "open_files_limit": limit,
    }
    with tempfile.TemporaryDirectory(prefix="bench-elastic-") as tmp:
        server = Bellwire(Path(tmp) / "data", server_core, Path(tmp) / "server.log")
        chime = server.chime()
        try:
            app = await chime.create_app_instance("bench-elastic")
            t0 = time.perf_counter()
            users = await server.create_users(app, "e", members + sub_size + 1, workers=16)
            results["setup_users_seconds"] = round(time.perf_counter() - t0, 1)
            mod, elastic_members = users[0], users[1 : members + 1]
            regular_members = users[members + 1 :]
            elastic = await create_channel(
                chime,
                app,
                mod,
                Mode="RESTRICTED",
                ElasticChannelConfiguration={
                    "MaximumSubChannels": maximum,
                    "TargetMembershipsPerSubChannel": sub_size,
                    "MinimumMembershipPercentage": MIN_PERCENTAGE,
                },
            )
            regular = await create_channel(chime, app, mod, Mode="RESTRICTED")

            # 1. joins ------------------------------------------------------------------------
            base = await joins(server, regular, regular_members, mod, workers)
            before_last = (maximum - 1) * sub_size
            first = await joins(server, elastic, elastic_members[:before_last], mod, workers)
            counts_before = await sub_channels(chime, elastic, mod)
            t = time.perf_counter()
            await join(chime, elastic, elastic_members[before_last], mod)
            scale_out_s = time.perf_counter() - t
            counts_after = await sub_channels(chime, elastic, mod)
            moved = sum(max(0, n - counts_after[s]) for s, n in counts_before.items())
            rest = await joins(server, elastic, elastic_members[before_last + 1 :], mod, workers)
            regular_rate = window_rate(base["done_at"], base["start"], 0, sub_size)
            first_rate = window_rate(first["done_at"], first["start"], 0, sub_size)
            late = first["done_at"]
            last_rate = window_rate(late, first["start"], before_last - sub_size, before_last)
            results["joins"] = {
                "regular_channel_per_s": regular_rate,
                "elastic_first_sub_channel_per_s": first_rate,
                "elastic_last_full_sub_channels_per_s": last_rate,
                "elastic_overall_per_s": round(
                    members / (first["seconds"] + scale_out_s + rest["seconds"]), 1
                ),
                "ratio_last_vs_regular": round(last_rate / regular_rate, 3),
                "ratio_last_vs_first": round(last_rate / first_rate, 3),
            }
            results["scale_out"] = {
                "sub_channels": [len(counts_before), len(counts_after)],
                "seconds": round(scale_out_s, 4),
                "members_moved": moved,
                "events": moved + 1,  # an UPDATE per moved member, the joiner's CREATE
                "ratio_vs_regular_join": round(scale_out_s * regular_rate, 1),
            }

            # 2. sends ------------------------------------------------------------------------
            subs = await sub_channels(chime, elastic, mod)
            target_sub = next(iter(subs))
            in_target = set(await members_of(chime, elastic, target_sub, mod))
            step = max(1, members // sessions)
            chosen = elastic_members[::step][:sessions]
            sender = next(m for m in elastic_members if m in in_target and m not in chosen)
            receiving = [m for m in chosen if m in in_target]
            elsewhere = [m for m in chosen if m not in in_target]
            sub_totals, other_totals, regular_totals = Totals(), Totals(), Totals()

            def target(user: str) -> str:
                return server.connect_target(user)

            t = time.perf_counter()
            clients = await wsclient.connect_many(
                len(receiving),
                lambda i: target(receiving[i]),
                server.port,
                sub_totals,
                lambda i: SAMPLE,
                timeout=CONNECT_TIMEOUT,
                concurrency=50,  # fewer handshakes at once than the upgrade deadline allows
            )
            clients += await wsclient.connect_many(
                len(elsewhere),
                lambda i: target(elsewhere[i]),
                server.port,
                other_totals,
                lambda i: COUNT,
                timeout=CONNECT_TIMEOUT,
                concurrency=50,  # fewer handshakes at once than the upgrade deadline allows
            )
            regular_receivers = regular_members[1 : 1 + len(receiving)]
            clients += await wsclient.connect_many(
                len(regular_receivers),
                lambda i: target(regular_receivers[i]),
                server.port,
                regular_totals,
                lambda i: SAMPLE,
                timeout=CONNECT_TIMEOUT,
                concurrency=50,  # fewer handshakes at once than the upgrade deadline allows
            )
            results["connect_seconds"] = round(time.perf_counter() - t, 1)
            await asyncio.sleep(1.0)  # SESSION_ESTABLISHED frames carry no marker
            other_before = other_totals.delivered
            rounds: dict[str, list[dict[str, Any]]] = {"elastic": [], "regular": []}
            chunk = max(1, sends // 5)
            for _ in range(5):  # alternate, so that drift on a shared machine hits both
                rounds["elastic"].append(
                    await timed_sends(
                        chime, elastic, sender, target_sub, sub_totals, len(receiving), chunk
                    )
                )
                rounds["regular"].append(
                    await timed_sends(
                        chime,
                        regular,
                        regular_members[0],
                        None,
                        regular_totals,
                        len(regular_receivers),
                        chunk,
                    )
                )

            def merged(kind: str) -> dict[str, Any]:
                p99 = sorted(r["p99_ms"] for r in rounds[kind] if r.get("p99_ms") is not None)
                p50 = sorted(r["p50_ms"] for r in rounds[kind] if r.get("p50_ms") is not None)
                return {
                    "recipients": rounds[kind][0]["recipients"],
                    "sends": chunk * 5,
                    "p50_ms_median_of_rounds": p50[len(p50) // 2] if p50 else None,
                    "p99_ms_median_of_rounds": p99[len(p99) // 2] if p99 else None,
                }

            e, r = merged("elastic"), merged("regular")
            results["sends"] = {
                "elastic_sub_channel": e,
                "regular_channel": r,
                "ratio_p99_elastic_vs_regular": (
                    round(e["p99_ms_median_of_rounds"] / r["p99_ms_median_of_rounds"], 3)
                    if e["p99_ms_median_of_rounds"] and r["p99_ms_median_of_rounds"]
                    else None
                ),
                "ratio_p50_elastic_vs_regular": (
                    round(e["p50_ms_median_of_rounds"] / r["p50_ms_median_of_rounds"], 3)
                    if e["p50_ms_median_of_rounds"] and r["p50_ms_median_of_rounds"]
                    else None
                ),
                "deliveries_to_other_sub_channels": other_totals.delivered - other_before,
            }
            wsclient.close_all(clients)

            # 3. SCALE_IN ---------------------------------------------------------------------
            subs = await sub_channels(chime, elastic, mod)
            a, b = list(subs)[-2:]
            in_a = await members_of(chime, elastic, a, mod)
            in_b = await members_of(chime, elastic, b, mod)
            threshold = math.ceil(MIN_PERCENTAGE * sub_size / 100)
            keep_a = threshold - 1  # below the minimum
            for member in in_a[keep_a:]:
                await leave(chime, elastic, member, mod)
            # b must come down to sub_size - keep_a before it can absorb a's members.
            drop_b = len(in_b) - (sub_size - keep_a)
            for member in in_b[: drop_b - 1]:
                await leave(chime, elastic, member, mod)
            before = await sub_channels(chime, elastic, mod)
            t = time.perf_counter()
            await leave(chime, elastic, in_b[drop_b - 1], mod)
            scale_in_s = time.perf_counter() - t
            after = await sub_channels(chime, elastic, mod)
            t = time.perf_counter()
            await leave(chime, regular, regular_members[-1], mod)
            regular_leave_s = time.perf_counter() - t
            results["scale_in"] = {
                "sub_channels": [len(before), len(after)],
                "seconds": round(scale_in_s, 4),
                "members_moved": before.get(a, 0),
                # the leaver's DELETE, an UPDATE per moved member (no moderators were seated)
                "events": 1 + before.get(a, 0),
                "ratio_vs_regular_leave": round(scale_in_s / max(1e-9, regular_leave_s), 1),
            }
        finally:
            chime.close()
            server.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--sub-size", type=int, default=1_000)
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.sessions, args.sub_size, args.sends = 2_000, 400, 200, 50
    procs.install_cleanup()
    results = asyncio.run(run(args.members, args.sessions, args.sub_size, args.sends, args.workers))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "elastic.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
