"""``python -m bench.console_pages [--quick]``: the console's pages on a small and a large app
instance of one server, in one sitting; prints each page's median time and the ratio large /
small. A ratio near 1 says a page's cost does not grow with the data (key-after pagination).

Full run: 100,000 users and 1,000,000 messages against 1,000 and 10,000 (the issue's sizes);
``--quick`` divides both by 10. Rows are written straight through the store (not the API) so
that filling takes a minute rather than an hour. Timings depend on the machine; only the ratio
is worth comparing between runs.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from bellwire.records.chime import AppInstance, AppInstanceUser, Channel, Message
from bellwire.store.base import IamTx
from bellwire.testing import RunningServer, start_server

ACCOUNT = "123456789012"
CHUNK = 20_000
REPEAT = 40


def fill(running: RunningServer, name: str, users: int, messages: int) -> tuple[str, str]:
    """An app instance with ``users`` users and one channel with ``messages`` messages."""
    app = f"arn:aws:chime:us-east-1:{ACCOUNT}:app-instance/{uuid.uuid4()}"
    channel = f"{app}/channel/{uuid.uuid4().hex}"
    now = time.time()
    sender = f"{app}/user/u0000000"
    store = running.server.store

    def head(tx: IamTx) -> None:
        tx.insert_app_instance(AppInstance(app, name, None, now, now))
        tx.insert_channel(
            Channel(
                channel, app, "big", "UNRESTRICTED", "PUBLIC", None, sender, now, now, now, messages
            )
        )

    running.run(store.write(head))
    for start in range(0, users, CHUNK):

        def add_users(tx: IamTx, start: int = start) -> None:
            for i in range(start, min(users, start + CHUNK)):
                arn = f"{app}/user/u{i:07d}"
                tx.insert_user(AppInstanceUser(arn, app, f"User {i}", None, now, now))

        running.run(store.write(add_users), timeout=600)
    for start in range(0, messages, CHUNK):

        def add_messages(tx: IamTx, start: int = start) -> None:
            for i in range(start, min(messages, start + CHUNK)):
                tx.insert_message(
                    Message(
                        channel,
                        f"m{i:08d}",
                        i + 1,
                        sender,
                        "User 0",
                        f"message {i}",
                        None,
                        "STANDARD",
                        "PERSISTENT",
                        False,
                        now + i / 1000,
                        now + i / 1000,
                    )
                )

        running.run(store.write(add_messages), timeout=600)
    return app, channel


class Browser:
    def __init__(self, url: str) -> None:
        self.netloc = urlsplit(url).netloc
        self.cookie = ""

    def get(self, path: str) -> tuple[int, str, float]:
        connection = http.client.HTTPConnection(self.netloc, timeout=60)
        started = time.perf_counter()
        connection.request("GET", path, headers={"Cookie": self.cookie})
        response = connection.getresponse()
        body = response.read().decode()
        elapsed = time.perf_counter() - started
        connection.close()
        return response.status, body, elapsed

    def sign_in(self, key: str, secret: str) -> None:
        connection = http.client.HTTPConnection(self.netloc, timeout=60)
        body = urlencode({"access_key_id": key, "secret_access_key": secret})
        connection.request(
            "POST",
            "/console/signin",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"http://{self.netloc}",
            },
        )
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 303, response.status
        self.cookie = response.headers["Set-Cookie"].split(";", 1)[0]


def pages(app: str, channel: str, middle_user: str, middle_seq: int) -> dict[str, str]:
    return {
        "users, first page": f"/console/app?arn={quote(app)}&tab=users",
        "users, a middle page": f"/console/app?arn={quote(app)}&tab=users&after={quote(middle_user)}",
        "messages, newest": f"/console/channel?arn={quote(channel)}&tab=messages",
        "messages, a middle page": f"/console/channel?arn={quote(channel)}&tab=messages"
        f"&after={middle_seq}",
        "members": f"/console/channel?arn={quote(channel)}&tab=members",
    }


def medians_ms(browser: Browser, small: str, large: str) -> tuple[float, float]:
    """Both pages, alternated (so that other load on the machine falls on both), after one
    warm-up request each."""
    times: tuple[list[float], list[float]] = ([], [])
    for path in (small, large):
        browser.get(path)
    for _ in range(REPEAT):
        for path, into in ((small, times[0]), (large, times[1])):
            status, body, elapsed = browser.get(path)
            assert status == 200, (status, body[:300])
            into.append(elapsed)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    small_users, small_messages = 1_000 // scale, 10_000 // scale
    large_users, large_messages = 100_000 // scale, 1_000_000 // scale
    with tempfile.TemporaryDirectory() as directory:
        running = start_server(Path(directory), sqlite_synchronous="normal")
        try:
            started = time.perf_counter()
            small = fill(running, "small", small_users, small_messages)
            large = fill(running, "large", large_users, large_messages)
            print(f"filled in {time.perf_counter() - started:.0f} s")
            browser = Browser(running.url)
            browser.sign_in(running.access_key_id, running.secret_access_key)
            print(
                f"{'page':<26}{'small ms':>10}{'large ms':>10}{'ratio':>8}   "
                f"(small: {small_users:,} users, {small_messages:,} messages; "
                f"large: {large_users:,}, {large_messages:,})"
            )
            small_pages = pages(
                *small, f"{small[0]}/user/u{small_users // 2:07d}", small_messages // 2
            )
            large_pages = pages(
                *large, f"{large[0]}/user/u{large_users // 2:07d}", large_messages // 2
            )
            for label in small_pages:
                a, b = medians_ms(browser, small_pages[label], large_pages[label])
                print(f"{label:<26}{a:>10.2f}{b:>10.2f}{b / a:>8.2f}")
            _, body, _ = browser.get(large_pages["users, first page"])
            assert len(re.findall(r"/user/u\d{7}", body)) >= 50
        finally:
            running.stop()


if __name__ == "__main__":
    main()
