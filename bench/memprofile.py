"""``python -m bench.memprofile [--sessions N]``: where an idle session's memory goes.

Starts bellwire in this process with tracemalloc on, opens N idle messaging sessions from a
child process (so that only the server's allocations are traced), and prints the allocation
sites that grew, per session, grouped by the line inside bellwire, aiohttp or asyncio that
allocated them. RSS also holds what tracemalloc cannot see (the allocator's own overhead), so
the total here is below the benchmark's RSS figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bellwire.aws import sigv4
from bellwire.testing import start_server

CHILD = """
import asyncio, json, sys
from bench import wsclient

async def main():
    port, host, targets = json.loads(sys.stdin.readline())
    totals = wsclient.Totals()
    clients = []
    for target in targets:
        clients.append(await wsclient.connect(port, target, totals, wsclient.PARSE,
                                              host_header=host))
    print("open", flush=True)
    sys.stdin.readline()  # hold them until told

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    tracemalloc.start(12)
    data_dir = Path(tempfile.mkdtemp(prefix="bellwire-memprofile-"))
    running = start_server(
        data_dir,
        max_sessions_per_user=args.sessions + 1,
        connects_per_user_per_second=1e9,
        connect_burst=10**9,
    )
    identity = running.client("chime-sdk-identity")
    app = identity.create_app_instance(Name="memory")["AppInstanceArn"]
    user = identity.create_app_instance_user(
        AppInstanceArn=app, AppInstanceUserId="idle", Name="idle"
    )["AppInstanceUserArn"]
    host = running.endpoint_host
    targets = []
    for _ in range(args.sessions):
        url = sigv4.presign_connect_url(
            host=host,
            access_key_id=running.access_key_id,
            secret_access_key=running.secret_access_key,
            session_token=None,
            region=running.region,
            params={"sessionId": uuid.uuid4().hex, "userArn": user},
            now=datetime.now(UTC),
            scheme="ws",
            expires=300,
        )
        targets.append(url[len(f"ws://{host}") :])

    time.sleep(0.5)
    before = tracemalloc.take_snapshot()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps([running.port, host, targets]) + "\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "open"
    time.sleep(1.0)  # let the last handshakes settle
    after = tracemalloc.take_snapshot()
    try:
        print(f"{args.sessions} idle sessions; bytes per session by allocating line:")
        stats = after.compare_to(before, "lineno")
        total = sum(s.size_diff for s in stats)
        print(f"  total {total / args.sessions / 1024:.2f} KiB per session (traced)")
        for stat in stats[: args.top]:
            if stat.size_diff <= 0:
                continue
            frame = stat.traceback[0]
            where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno}"
            per = stat.size_diff / args.sessions
            print(f"  {per:8.0f} B  {stat.count_diff / args.sessions:5.1f} blocks  {where}")
    finally:
        child.stdin.write("done\n")
        child.stdin.flush()
        child.wait(30)
        identity.close()
        running.stop()


if __name__ == "__main__":
    main()
