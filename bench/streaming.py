"""``python -m bench.streaming [--quick]``: durable sends with streaming export on, as a ratio of
sends without it in the same run, and the export lag under that load.

One bellwire process (pinned to core 0; this load generator to core 1) serves two app instances:
``plain`` without a streaming configuration and ``streamed`` with its ChannelMessage records
mapped to a real Redis stream (127.0.0.1:6379, a random key deleted afterwards). Closed-loop
SendChannelMessage from ``clients`` connections alternates between the two for several rounds,
so that drift on a shared machine hits both alike. Export lag of a record = the moment Redis
stamped it (its entry id) minus the moment its send started (the message's content).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from bench import procs
from bench.rest import Chime, messages_path
from bench.scenarios import percentile
from bench.targets import ACCESS_KEY_ID, REGION, SECRET, Signer

STREAM_ARN = f"arn:aws:kinesis:{REGION}:123456789012:stream/chime-messaging-bench"


async def setup(port: int, signer: Signer, clients: int, name: str) -> tuple[str, str, list[str]]:
    chime = Chime("127.0.0.1", port, signer)
    try:
        app = await chime.create_app_instance(name)
        users = [await chime.create_user(app, f"u{i:04d}") for i in range(clients)]
        channel = await chime.create_channel(app, users[0], name, users[1:10])
        await chime.add_members(channel, users[0], users[10:])
        return app, channel, users
    finally:
        chime.close()


async def closed_loop(
    port: int, signer: Signer, channel: str, users: list[str], seconds: float
) -> int:
    path = messages_path(channel)
    chimes = [Chime("127.0.0.1", port, signer) for _ in users]
    ok = 0
    deadline = time.monotonic() + seconds

    async def client(k: int) -> None:
        nonlocal ok
        while time.monotonic() < deadline:
            if 200 <= await chimes[k].send_message(path, users[k], str(time.time_ns())) < 300:
                ok += 1

    try:
        await asyncio.gather(*(client(k) for k in range(len(users))))
    finally:
        for chime in chimes:
            chime.close()
    return ok


def lags_ms(client: redis.Redis, key: str) -> list[float]:
    lags = []
    for entry_id, fields in client.xrange(key):
        stamped_ms = int(entry_id.decode().split("-")[0])
        payload = json.loads(json.loads(fields[b"record"])["Payload"])
        lags.append(stamped_ms - int(payload["Content"]) / 1e6)
    return sorted(lags)


async def main(quick: bool) -> dict[str, Any]:
    clients, seconds, rounds = (4, 1.0, 2) if quick else (16, 5.0, 3)
    procs.pin_self(1)
    key = f"bench-stream-{uuid.uuid4().hex}"
    store = redis.Redis("127.0.0.1", 6379)
    signer = Signer(ACCESS_KEY_ID, SECRET, REGION)
    port = procs.free_port()
    with tempfile.TemporaryDirectory() as data:
        proc = procs.Proc(
            "bellwire",
            [
                sys.executable,
                "-m",
                "bellwire",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(Path(data) / "d"),
                "--log-level",
                "warning",
                "--resource",
                f"{STREAM_ARN}=redis://127.0.0.1:6379/0?stream={key}",
            ],
            env={
                "BELLWIRE_ROOT_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "BELLWIRE_ROOT_SECRET_ACCESS_KEY": SECRET,
            },
            core=0,
        )
        try:
            procs.wait_port(port, 60.0, proc)
            _, plain, plain_users = await setup(port, signer, clients, "plain")
            streamed_app, streamed, streamed_users = await setup(port, signer, clients, "streamed")
            chime = Chime("127.0.0.1", port, signer)
            await chime.call(
                "PUT",
                f"/app-instances/{quote(streamed_app, safe='')}/streaming-configurations",
                document={
                    "StreamingConfigurations": [
                        {"DataType": "ChannelMessage", "ResourceArn": STREAM_ARN}
                    ]
                },
            )
            chime.close()
            await closed_loop(port, signer, plain, plain_users, 0.5)  # warm up
            without = with_ = 0
            for _ in range(rounds):
                without += await closed_loop(port, signer, plain, plain_users, seconds)
                with_ += await closed_loop(port, signer, streamed, streamed_users, seconds)
            deadline = time.monotonic() + 60
            while store.xlen(key) < with_ and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            lags = lags_ms(store, key)
        finally:
            proc.stop()
            store.delete(key)
            store.close()
    total = rounds * seconds
    return {
        "clients": clients,
        "seconds_each": total,
        "sends_per_s_without_streaming": round(without / total, 1),
        "sends_per_s_with_streaming": round(with_ / total, 1),
        "ratio_with_to_without": round(with_ / without, 3) if without else None,
        "target_ratio": 0.8,
        "records_exported": len(lags),
        "export_lag_p50_ms": round(percentile(lags, 50) or 0.0, 1),
        "export_lag_p99_ms": round(percentile(lags, 99) or 0.0, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    result = asyncio.run(main(parser.parse_args().quick))
    print(json.dumps(result, indent=2))
