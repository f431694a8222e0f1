"""What an operator sees: /metrics moving with real traffic, the access, session and
authentication-failure log lines, JSON logs, and metrics summed over several processes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families
from ws_helpers import World, connect_url, open_ws, refused, session

from bellwire.aws.sigv4 import presign_connect_url
from bellwire.testing import RunningServer

Factory = Callable[..., RunningServer]
RawResponse = Any  # conftest's RawResponse (test modules do not import conftest)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def eventually_scraped(
    url: str, check: Callable[[Samples], bool], timeout: float = 10.0
) -> Samples:
    """Scrape until ``check`` holds (a close is counted once the server saw it)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await asyncio.to_thread(scrape, url)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError("the metrics did not move in time")
        await asyncio.sleep(0.05)


# --- metrics ------------------------------------------------------------------------------------


async def test_metrics_follow_requests_sessions_deliveries_and_a_1013(
    bellwire_server_factory: Factory,
) -> None:
    # A message of 3,000 characters does not fit a 2 KiB session buffer: its recipient is
    # closed with 1013 by the fan-out itself, as a slow consumer is.
    running = bellwire_server_factory(session_buffer_bytes=2048, connect_burst=100)
    world = World.create(running)
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    before = scrape(running.url)
    assert value(before, "bellwire_sessions_open") == 0

    client = await session(running, bob)
    world.send(channel, alice, "hello")
    event = await client.next()
    assert event.payload["Content"] == "hello"
    during = scrape(running.url)
    assert moved(before, during, "bellwire_connects_total", outcome="established", code="") == 1
    assert value(during, "bellwire_sessions_open") == 1
    # SESSION_ESTABLISHED and the message, to the one session
    assert moved(before, during, "bellwire_deliveries_total") == 2
    delivered = moved(before, during, "bellwire_delivered_bytes_total")
    assert delivered > len("hello") + 100
    assert (
        moved(
            before,
            during,
            "bellwire_rest_requests_total",
            service="chime",
            operation="SendChannelMessage",
            status="201",
        )
        == 1
    )
    assert (
        moved(
            before,
            during,
            "bellwire_rest_request_duration_seconds_count",
            service="chime",
            operation="SendChannelMessage",
        )
        == 1
    )
    assert moved(before, during, "bellwire_store_commit_duration_seconds_count") >= 1
    assert moved(before, during, "bellwire_store_commit_writes_sum") >= 1
    for gauge in (
        "bellwire_session_outbound_bytes",
        "bellwire_session_outbound_max_bytes",
        "bellwire_store_write_queue_length",
        "bellwire_store_reads_in_flight",
        "bellwire_prefetch_cache_bytes",
        "bellwire_prefetch_cache_channels",
        "bellwire_connect_rate_buckets",
        "bellwire_http_connections",
    ):
        assert (gauge, frozenset()) in during, gauge
    assert value(during, "bellwire_http_connections") >= 1
    assert value(during, "bellwire_connect_rate_buckets") == 1

    world.send(channel, alice, "x" * 3000)
    assert await client.closed_with() == 1013
    after = await eventually_scraped(
        running.url,
        lambda s: value(s, "bellwire_session_closes_total", initiator="server", code="1013") == 1,
    )
    assert value(after, "bellwire_sessions_open") == 0
    assert moved(during, after, "bellwire_deliveries_total") == 1


async def test_refused_connects_and_failed_authentications_are_counted(
    bellwire_server_factory: Factory,
) -> None:
    running = bellwire_server_factory()
    world = World.create(running)
    bob = world.user()
    before = scrape(running.url)
    code, _ = await refused(connect_url(running, bob, secret_access_key="not-the-secret"))
    assert code == 4401
    forbidden = bob.replace("/user/", "/user/nobody-")  # a user that does not exist
    code, _ = await refused(connect_url(running, forbidden))
    assert code == 4003
    with pytest.raises(Exception, match="UnrecognizedClient"):
        running.client(
            "chime-sdk-identity", aws_access_key_id="AKIAUNKNOWN000000000"
        ).list_app_instances()
    after = scrape(running.url)
    assert moved(before, after, "bellwire_connects_total", outcome="refused", code="4401") == 1
    assert moved(before, after, "bellwire_connects_total", outcome="refused", code="4003") == 1
    assert (
        moved(
            before,
            after,
            "bellwire_authentication_failures_total",
            endpoint="connect",
            error="InvalidSignatureException",
        )
        == 1
    )
    assert (
        moved(
            before,
            after,
            "bellwire_authentication_failures_total",
            endpoint="rest",
            error="UnrecognizedClientException",
        )
        == 1
    )
    # named by the model even though it was refused before routing
    assert (
        moved(
            before,
            after,
            "bellwire_rest_requests_total",
            service="chime",
            operation="ListAppInstances",
            status="403",
        )
        == 1
    )


def test_unknown_routes_share_one_label(
    server: RunningServer, raw: Callable[..., RawResponse]
) -> None:
    before = scrape(server.url)
    for path in ("/no/such/route", "/another/one?x=1"):
        assert raw("GET", path).status == 404
    after = scrape(server.url)
    assert (
        moved(
            before,
            after,
            "bellwire_rest_requests_total",
            service="chime",
            operation="unknown",
            status="404",
        )
        == 2
    )
    assert not any("no/such" in str(labels) for _, labels in after)


def test_unauthenticated_connections_are_a_gauge(bellwire_server: RunningServer) -> None:
    host, port = bellwire_server.url.removeprefix("http://").rsplit(":", 1)
    idle = [socket.create_connection((host, int(port))) for _ in range(5)]
    try:
        # The scrape's own connection is not authenticated either: at least the five idle ones.
        deadline = time.monotonic() + 10
        while value(scrape(bellwire_server.url), "bellwire_http_unauthenticated_connections") < 5:
            assert time.monotonic() < deadline, "idle connections were not counted"
            time.sleep(0.05)
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 10
    while value(scrape(bellwire_server.url), "bellwire_http_unauthenticated_connections") > 1:
        assert time.monotonic() < deadline, "closed connections were still counted"
        time.sleep(0.05)


def test_metrics_can_be_turned_off(bellwire_server_factory: Factory) -> None:
    running = bellwire_server_factory(metrics_enabled=False)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(running.url + "/metrics", timeout=10)
    assert info.value.code == 403  # what any unsigned request gets
    assert b"bellwire_" not in info.value.read()


def test_metrics_answer_openmetrics_when_asked(bellwire_server: RunningServer) -> None:
    request = urllib.request.Request(
        bellwire_server.url + "/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.read().decode().rstrip().endswith("# EOF")


# --- logs ---------------------------------------------------------------------------------------


def _records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


def _everything(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + repr(vars(record))


def test_access_lines_name_the_call_and_hide_every_secret(
    bellwire_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bellwire")
    iam = bellwire_server.client("iam")
    sts = bellwire_server.client("sts")
    iam.create_role(
        RoleName="observer",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    iam.put_role_policy(
        RoleName="observer",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "chime:*", "Resource": "*"}],
            }
        ),
    )
    credentials = sts.assume_role(
        RoleArn="arn:aws:iam::123456789012:role/observer", RoleSessionName="watcher"
    )["Credentials"]
    identity = bellwire_server.client(
        "chime-sdk-identity",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    caplog.clear()
    answer = identity.create_app_instance(Name="logged")
    request_id = answer["ResponseMetadata"]["RequestId"]
    lines = [r for r in _records(caplog, "bellwire.access") if request_id in r.getMessage()]
    assert len(lines) == 1
    line = lines[0]
    message = line.getMessage()
    assert message.startswith("CreateAppInstance 201 ")
    assert "ms request_id=" + request_id in message
    assert "principal=arn:aws:sts::123456789012:assumed-role/observer/watcher" in message
    assert "key=" + credentials["AccessKeyId"] in message
    assert line.levelno == logging.INFO
    assert vars(line)["operation"] == "CreateAppInstance" and vars(line)["status"] == 201
    assert vars(line)["latency_ms"] > 0
    for record in caplog.records:
        text = _everything(record)
        assert credentials["SecretAccessKey"] not in text
        assert credentials["SessionToken"] not in text
        assert bellwire_server.secret_access_key not in text
        assert "Signature=" not in text and "X-Amz-Signature" not in text


def test_authentication_failures_are_logged_with_their_reason(
    bellwire_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bellwire")
    wrong = bellwire_server.client("chime-sdk-identity", aws_secret_access_key="wrong-secret-key")
    with pytest.raises(Exception, match="InvalidSignature"):
        wrong.list_app_instances()
    iam = bellwire_server.client("iam", aws_access_key_id="AKIANOBODY0000000000")
    with pytest.raises(Exception, match="InvalidClientTokenId"):
        iam.list_users()
    failures = _records(caplog, "bellwire.auth")
    assert [vars(r)["error"] for r in failures] == [
        "InvalidSignatureException",
        "UnrecognizedClientException",
    ]
    first, second = (r.getMessage() for r in failures)
    assert first.startswith("authentication failed on ListAppInstances: InvalidSignatureException")
    assert "does not match the signature you provided" in first
    assert "key=" + bellwire_server.access_key_id in first
    assert "key=AKIANOBODY0000000000" in second and vars(failures[1])["service"] == "iam"
    for record in caplog.records:
        assert "wrong-secret-key" not in _everything(record)


async def test_sessions_log_their_open_and_close(
    bellwire_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bellwire")
    world = World.create(bellwire_server)
    bob = world.user()
    client = await session(bellwire_server, bob, session_id="sess-42")
    await client.close()
    code, _ = await refused(connect_url(bellwire_server, bob, secret_access_key="bad-secret"))
    assert code == 4401

    def closed() -> list[logging.LogRecord]:
        return [r for r in _records(caplog, "bellwire.session") if "closed" in r.getMessage()]

    deadline = time.monotonic() + 10
    while not closed() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    opened = [r for r in _records(caplog, "bellwire.session") if "opened" in r.getMessage()]
    assert len(opened) == 1 and len(closed()) == 1
    assert opened[0].getMessage().startswith(f"session opened user={bob} session=sess-42 ")
    close = closed()[0]
    assert close.getMessage().startswith(
        f"session closed user={bob} session=sess-42 code=1000 initiator=client"
    )
    assert vars(close)["duration_seconds"] >= 0 and vars(close)["code"] == 1000
    failures = _records(caplog, "bellwire.auth")
    assert len(failures) == 1
    assert (
        failures[0]
        .getMessage()
        .startswith("authentication failed on /connect: InvalidSignatureException")
    )
    assert vars(failures[0])["endpoint"] == "connect"
    for record in caplog.records:
        assert "bad-secret" not in _everything(record)


async def test_an_operator_close_is_logged_and_counted(
    bellwire_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    from bellwire.api.admin import close_sessions

    caplog.set_level(logging.INFO, logger="bellwire")
    world = World.create(bellwire_server)
    bob = world.user()
    client = await session(bellwire_server, bob)
    boto = boto3.Session(
        aws_access_key_id=bellwire_server.access_key_id,
        aws_secret_access_key=bellwire_server.secret_access_key,
    )
    closed = await asyncio.to_thread(
        close_sessions,
        bellwire_server.url,
        bob,
        4003,
        reason="kicked",
        boto_session=boto,
        region=bellwire_server.region,
    )
    assert len(closed) == 1
    assert await client.closed_with() == 4003
    samples = await eventually_scraped(
        bellwire_server.url,
        lambda s: value(s, "bellwire_session_closes_total", initiator="server", code="4003") == 1,
    )
    assert value(samples, "bellwire_sessions_open") == 0
    lines = [r.getMessage() for r in _records(caplog, "bellwire.session")]
    assert any('code=4003 initiator=server reason="kicked"' in line for line in lines), lines
    access = [r for r in _records(caplog, "bellwire.access") if vars(r)["service"] == "bellwire"]
    assert [r.getMessage().split(" ")[:2] for r in access] == [["CloseSessions", "200"]]

    # 1006: the connection is dropped without a close frame; the server still knows why
    again = await session(bellwire_server, bob)
    await asyncio.to_thread(
        close_sessions,
        bellwire_server.url,
        bob,
        1006,
        reason="dropped",
        boto_session=boto,
        region=bellwire_server.region,
    )
    await again.closed_with()
    await eventually_scraped(
        bellwire_server.url,
        lambda s: value(s, "bellwire_session_closes_total", initiator="server", code="1006") == 1,
    )
    lines = [r.getMessage() for r in _records(caplog, "bellwire.session")]
    assert any('code=1006 initiator=server reason="dropped"' in line for line in lines), lines


# --- processes: JSON logs, several workers -----------------------------------------------------

ACCESS_KEY = "AKIAOBSERVABILITY001"
SECRET_KEY = "observability-test-secret-key-0000000000"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, err: Path) -> None:
        self.proc, self.url, self.err = proc, url, err

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        return self.err.read_text()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``bellwire serve`` in a subprocess, its standard error kept in a file."""
    started: list[Served] = []

    def start(*flags: str, env: dict[str, str] | None = None) -> Served:
        port = _free_port()
        err = tmp_path / f"stderr-{port}.log"
        environment = {
            **os.environ,
            "BELLWIRE_ROOT_ACCESS_KEY_ID": ACCESS_KEY,
            "BELLWIRE_ROOT_SECRET_ACCESS_KEY": SECRET_KEY,
            **(env or {}),
        }
        with err.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "bellwire", "serve", "--port", str(port)),
                    *("--data-dir", str(tmp_path / f"data-{port}"), *flags),
                ],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        served = Served(proc, f"http://127.0.0.1:{port}", err)
        started.append(served)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(served.url + "/readyz", timeout=2):
                    return served
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"bellwire did not start:\n{err.read_text()}") from None
                time.sleep(0.05)

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)


def test_json_logs_are_one_object_per_line(serve: Callable[..., Served]) -> None:
    served = serve("--log-format", "json")
    app = served.client("chime-sdk-identity").create_app_instance(Name="json")
    with pytest.raises(Exception, match="InvalidSignature"):
        boto3.client(
            "chime-sdk-identity",
            endpoint_url=served.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key="a-wrong-secret",
        ).list_app_instances()
    text = served.stop()
    documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert documents, text
    for document in documents:
        assert {"timestamp", "level", "logger", "message"} <= set(document), document
        assert document["timestamp"].endswith("Z")
    access = [d for d in documents if d["logger"] == "bellwire.access"]
    created = [d for d in access if d["operation"] == "CreateAppInstance"]
    assert len(created) == 1
    assert created[0]["status"] == 201 and created[0]["level"] == "info"
    assert created[0]["request_id"] == app["ResponseMetadata"]["RequestId"]
    assert created[0]["principal"] == "arn:aws:iam::123456789012:root"
    assert created[0]["access_key_id"] == ACCESS_KEY
    assert isinstance(created[0]["latency_ms"], float)
    auth = [d for d in documents if d["logger"] == "bellwire.auth"]
    assert len(auth) == 1 and auth[0]["error"] == "InvalidSignatureException"
    assert SECRET_KEY not in text and "a-wrong-secret" not in text
    assert any(d["message"] == "shutting down" for d in documents)


def test_text_logs_keep_one_readable_line_per_record(serve: Callable[..., Served]) -> None:
    served = serve()
    served.client("chime-sdk-identity").create_app_instance(Name="text")
    lines = served.stop().splitlines()
    access = [line for line in lines if " INFO bellwire.access: CreateAppInstance 201 " in line]
    assert len(access) == 1, lines


async def test_workers_sharing_a_multiprocess_dir_are_scraped_as_one(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    workers = [serve(env=env), serve(env=env)]
    sockets = []
    for index, served in enumerate(workers):
        identity = served.client("chime-sdk-identity")
        app = identity.create_app_instance(Name=f"worker-{index}")["AppInstanceArn"]
        user = identity.create_app_instance_user(
            AppInstanceArn=app, AppInstanceUserId="u", Name="u"
        )["AppInstanceUserArn"]
        url = presign_connect_url(
            host=served.url.removeprefix("http://"),
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            session_token=None,
            region="us-east-1",
            params={"sessionId": f"s{index}", "userArn": user},
            now=datetime.now(UTC),
            scheme="ws",
        )
        ws = await open_ws(url)
        assert "SESSION_ESTABLISHED" in str(await ws.recv())
        sockets.append(ws)
    try:
        for served in workers:
            # counted figures are in the files at once; sampled ones within a refresh
            samples = await eventually_scraped(
                served.url, lambda s: value(s, "bellwire_sessions_open") == 2
            )
            assert (
                value(
                    samples,
                    "bellwire_rest_requests_total",
                    service="chime",
                    operation="CreateAppInstance",
                    status="201",
                )
                == 2
            )
            assert value(samples, "bellwire_connects_total", outcome="established", code="") == 2
            assert value(samples, "bellwire_deliveries_total") == 2
            assert value(samples, "bellwire_store_commit_writes_count") >= 4
    finally:
        for ws in sockets:
            await ws.close()
    await asyncio.to_thread(workers[1].stop)
    # a worker that stopped no longer counts in the gauges; its counters stay
    samples = await eventually_scraped(
        workers[0].url, lambda s: value(s, "bellwire_sessions_open") == 0
    )
    assert value(samples, "bellwire_connects_total", outcome="established", code="") == 2


def test_an_unusable_multiprocess_dir_stops_the_start(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing"
    result = subprocess.run(
        [sys.executable, "-m", "bellwire", "serve", "--port", "0", "--data-dir", str(tmp_path)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(missing)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"PROMETHEUS_MULTIPROC_DIR={missing} is not a directory" in result.stderr


async def test_a_served_process_freezes_its_startup_and_times_its_collections(
    serve: Callable[..., Served],
) -> None:
    served = serve()
    samples = await eventually_scraped(
        served.url, lambda s: value(s, "bellwire_gc_frozen_objects") > 0
    )
    # botocore's models alone are tens of thousands of objects: all of startup is out of the
    # collector's walks.
    assert value(samples, "bellwire_gc_frozen_objects") > 10_000
    # The full collection that precedes the freeze is the first pause on the clock.
    assert value(samples, "bellwire_gc_pause_seconds_count", generation="2") >= 1
    assert value(samples, "bellwire_gc_pause_seconds_sum", generation="2") > 0
