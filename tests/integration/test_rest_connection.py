"""The server's own REST connections (bellwire/rest_connection.py) over a real socket: signed
requests answered in order on one kept-alive connection, pipelined ones too, the handover to
aiohttp for a request the parser leaves, and the same deadlines as aiohttp's connections."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from prometheus_client.parser import text_string_to_metric_families
from ws_helpers import closed_after

from bellwire.testing import RunningServer

Factory = Any


def signed(
    running: RunningServer, method: str, target: str, body: bytes = b"", *extra: str
) -> bytes:
    """The bytes of a request signed by botocore, Host and Content-Length as a client sends."""
    request = AWSRequest(
        method=method,
        url=running.url + target,
        data=body,
        headers={"Content-Type": "application/json"} if body else {},
    )
    credentials = Credentials(running.access_key_id, running.secret_access_key)
    SigV4Auth(credentials, "chime", running.region).add_auth(request)
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{running.port}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def responses(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """``count`` answers read off ``sock``, each framed by its Content-Length."""
    data = b""
    out: list[tuple[int, dict[str, str], bytes]] = []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, (out, data)
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"{name} repeated in {lines}"
            headers[name.lower()] = value.strip()
        length = int(headers["content-length"])
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
        out.append((int(lines[0].split(" ")[1]), headers, data[:length]))
        data = data[length:]
    assert data == b""
    return out


def opened(running: RunningServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", running.port), timeout=10)


def counters(running: RunningServer) -> tuple[float, float]:
    """(requests answered by the server's own connections, handovers to aiohttp)."""
    with urllib.request.urlopen(running.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return found["bellwire_http_own_requests_total"], found["bellwire_http_handovers_total"]


def app_instances(running: RunningServer, *names: str) -> list[str]:
    identity = running.client("chime-sdk-identity")
    return [identity.create_app_instance(Name=n)["AppInstanceArn"] for n in names]


def describe(running: RunningServer, arn: str) -> bytes:
    from urllib.parse import quote

    return signed(running, "GET", f"/app-instances/{quote(arn, safe='')}")


def test_kept_alive_and_pipelined_requests_are_answered_in_order(server: RunningServer) -> None:
    first, second, third = app_instances(server, "one", "two", "three")
    own, handovers = counters(server)
    with opened(server) as sock:
        sock.sendall(describe(server, first))
        [(status, headers, body)] = responses(sock, 1)
        assert status == 200, body
        assert json.loads(body)["AppInstance"]["AppInstanceArn"] == first
        assert headers["content-type"] == "application/json"
        assert headers["date"].endswith(" GMT") and headers["server"]
        assert "connection" not in headers  # kept alive
        # Two requests in one write: answered one after the other, in order.
        sock.sendall(describe(server, second) + describe(server, third))
        answers = responses(sock, 2)
    assert [json.loads(b)["AppInstance"]["AppInstanceArn"] for _, _, b in answers] == [
        second,
        third,
    ]
    ids = {headers["x-amzn-requestid"]} | {h["x-amzn-requestid"] for _, h, _ in answers}
    assert len(ids) == 3
    assert counters(server) == (own + 3, handovers)  # no aiohttp in any of the three


def test_a_send_and_a_refusal_on_one_connection(server: RunningServer) -> None:
    """A write answered 201 and a client mistake answered with its modeled error, on the same
    connection, which stays usable after the refusal."""
    [app] = app_instances(server, "sends")
    body = json.dumps({"Name": "x" * 300, "ClientRequestToken": "t-1"}).encode()
    user = json.dumps(
        {"AppInstanceArn": app, "AppInstanceUserId": "u1", "Name": "U", "ClientRequestToken": "t-2"}
    ).encode()
    with opened(server) as sock:
        sock.sendall(signed(server, "POST", "/app-instance-users", user))
        [(status, _, created)] = responses(sock, 1)
        assert status == 201, created
        sock.sendall(signed(server, "POST", "/app-instances", body))
        [(status, headers, refused)] = responses(sock, 1)
        assert status == 400 and headers["x-amzn-errortype"].startswith("BadRequestException")
        assert "Name" in json.loads(refused)["Message"]
        sock.sendall(describe(server, app))
        [(status, _, _)] = responses(sock, 1)
        assert status == 200


def test_a_request_in_pieces_is_answered_once_whole(server: RunningServer) -> None:
    """A head sent byte by byte and a body in two writes, as a slow client sends them."""
    body = json.dumps({"Name": "pieces", "ClientRequestToken": "p-1"}).encode()
    whole = signed(server, "POST", "/app-instances", body)
    head_size = whole.index(b"\r\n\r\n") + 4
    with opened(server) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(head_size):
            sock.sendall(whole[i : i + 1])
        time.sleep(0.1)
        sock.sendall(whole[head_size : head_size + 5])
        time.sleep(0.1)
        sock.sendall(whole[head_size + 5 :])
        [(status, _, created)] = responses(sock, 1)
    assert status == 201, created
    assert json.loads(created)["AppInstanceArn"]


def test_a_request_the_parser_leaves_hands_the_connection_to_aiohttp(
    server: RunningServer,
) -> None:
    """After a signed request, a CORS preflight, an unsigned probe and a chunked signed request
    on the same connection are answered as aiohttp answers them; so is a later signed one."""
    [app] = app_instances(server, "handover")
    own, handovers = counters(server)
    with opened(server) as sock:
        sock.sendall(describe(server, app))
        assert responses(sock, 1)[0][0] == 200
        sock.sendall(
            b"OPTIONS /app-instances HTTP/1.1\r\nHost: h\r\nOrigin: https://a.example\r\n"
            b"Access-Control-Request-Method: POST\r\n\r\n"
        )
        [(status, headers, _)] = responses(sock, 1)
        assert status == 200 and headers["access-control-allow-origin"] == "*"
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        assert responses(sock, 1)[0][0] == 200
        sock.sendall(describe(server, app))
        assert responses(sock, 1)[0][0] == 200
    assert counters(server) == (own + 1, handovers + 1)  # the last one was aiohttp's too
    # A body framed in chunks: the signature covers the body as sent, here its bytes joined.
    body = json.dumps({"Name": "chunked", "ClientRequestToken": "c-1"}).encode()
    head = signed(server, "POST", "/app-instances", body).split(b"\r\n\r\n")[0]
    head = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
    with opened(server) as sock:
        sock.sendall(describe(server, app))
        assert responses(sock, 1)[0][0] == 200
        sock.sendall(head + b"\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        [(status, _, created)] = responses(sock, 1)
        assert status == 201, created
        sock.sendall(describe(server, app))
        assert responses(sock, 1)[0][0] == 200


def test_a_pipelined_request_the_parser_leaves_is_answered_after_the_one_before(
    server: RunningServer,
) -> None:
    """A signed request and, in the same write, one only aiohttp takes (a chunked body): the
    first is answered here, then the connection and the bytes behind it go to aiohttp."""
    [app] = app_instances(server, "pipelined")
    body = json.dumps({"Name": "second", "ClientRequestToken": "q-1"}).encode()
    head = signed(server, "POST", "/app-instances", body).split(b"\r\n\r\n")[0]
    head = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
    chunked = head + b"\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    own, handovers = counters(server)
    with opened(server) as sock:
        sock.sendall(describe(server, app) + chunked + describe(server, app))
        answers = responses(sock, 3)
    assert [status for status, _, _ in answers] == [200, 201, 200], answers
    assert json.loads(answers[1][2])["AppInstanceArn"] != app
    assert counters(server) == (own + 1, handovers + 1)


def _queued(local_port: int, remote_port: int) -> tuple[int, int]:
    """What the kernel holds for one end of a loopback connection: bytes sent but not yet taken by
    the other end's kernel, and bytes received but not yet read (/proc/net/tcp's tx and rx)."""
    ends = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == ends:
            tx, rx = fields[4].split(":")
            return int(tx, 16), int(rx, 16)
    raise AssertionError(f"no socket {ends} in /proc/net/tcp")


def test_a_client_that_never_reads_its_answers_is_held_back(server: RunningServer) -> None:
    """Requests pipelined without reading an answer: the server stops reading them once its
    answers back up, so what it holds stays bounded, and other clients are served meanwhile."""
    [app] = app_instances(server, "reader")
    one = describe(server, app)
    taken_before = counters(server)[0]
    cap = 64_000_000  # more than the kernel's buffers hold here (tcp_rmem's maximum is 32 MB)
    with opened(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(2)
        flood, sent = one * 64, 0
        try:
            while sent < cap:  # the same requests over and over, until the sends stall
                sent += sock.send(flood[sent % len(flood) :])
        except TimeoutError:
            pass
        assert sent < cap, "the server kept reading requests whose answers nobody read"
        port = sock.getsockname()[1]

        def state() -> tuple[int, int, float]:
            unsent, unread = _queued(port, server.port)[0], _queued(server.port, port)[1]
            return unsent, unread, counters(server)[0] - taken_before

        # The server may still be answering into a send buffer the kernel grows: wait until
        # nothing moves, so that the kernel's queues and the count are of one moment.
        now, then = state(), None
        for _ in range(50):
            time.sleep(0.2)
            now, then = state(), now
            if now == then:
                break
        client_unsent, server_unread, taken = now
        # What the server read and has not begun to answer: its read-ahead (256 KiB) and one
        # read past it. (Its answers wait in the kernel, bounded by the kernel. Bytes the
        # server's kernel has and not yet acknowledged count twice, so this may dip below 0.)
        held = sent - client_unsent - server_unread - taken * len(one)
        assert held < 600_000, f"the server holds {held:,} bytes of requests nobody reads"
        identity = server.client("chime-sdk-identity")
        assert identity.describe_app_instance(AppInstanceArn=app)["AppInstance"]["Name"] == "reader"


def test_cors_allowances_on_the_servers_own_connections(server: RunningServer) -> None:
    [app] = app_instances(server, "cors")
    with opened(server) as sock:
        sock.sendall(describe(server, app)[:-2] + b"Origin: https://app.example\r\n\r\n")
        [(status, headers, _)] = responses(sock, 1)
    assert status == 200
    assert headers["access-control-allow-origin"] == "*"
    assert "x-amzn-requestid" in headers["access-control-expose-headers"].lower()


def test_the_deadlines_hold_on_the_servers_own_connections(
    bellwire_server_factory: Factory,
) -> None:
    running = bellwire_server_factory(
        http_head_timeout_seconds=1,
        http_body_timeout_seconds=1,
        http_keepalive_timeout_seconds=1,
    )
    [app] = app_instances(running, "deadlines")
    with opened(running) as idle:  # kept alive, then idle: closed by the keep-alive timeout
        idle.sendall(describe(running, app))
        assert responses(idle, 1)[0][0] == 200
        assert closed_after(idle, 8) < 4
    body = json.dumps({"Name": "slow", "ClientRequestToken": "s-1"}).encode()
    with opened(running) as slow_body:
        slow_body.sendall(describe(running, app))
        assert responses(slow_body, 1)[0][0] == 200
        whole = signed(running, "POST", "/app-instances", body)
        slow_body.sendall(whole[:-5])  # the head and most of the body
        assert 0.5 < closed_after(slow_body, 8) < 4
    with opened(running) as slow_head:
        slow_head.sendall(describe(running, app))
        assert responses(slow_head, 1)[0][0] == 200
        time.sleep(0.5)  # idle between requests: the keep-alive timeout's business
        slow_head.sendall(describe(running, app)[:40])
        assert 0.5 < closed_after(slow_head, 8) < 4
    names = [
        a["Name"] for a in running.client("chime-sdk-identity").list_app_instances()["AppInstances"]
    ]
    assert names == ["deadlines"]  # the cut-off body wrote nothing
    with opened(running) as busy:  # never idle for a whole second: kept open across many
        for _ in range(6):
            busy.sendall(describe(running, app))
            assert responses(busy, 1)[0][0] == 200
            time.sleep(0.6)
        busy.sendall(describe(running, app))
        assert responses(busy, 1)[0][0] == 200
        assert closed_after(busy, 8) < 4  # and closed once idle
