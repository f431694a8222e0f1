"""The TLS server's own behaviour, beyond what the client scenarios show."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from tlsworld import Tls, boto
from ws_helpers import closed_after

from bellwire.testing import start_server

ESTABLISHED, CLOSE_WAIT = "01", "08"


def server_side_connections(port: int) -> list[str]:
    """Connections whose local end is ``port`` and is still open (Linux's /proc/net/tcp)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, state = fields[1], fields[3]
                if int(local.rsplit(":", 1)[1], 16) == port and state in (
                    ESTABLISHED,
                    CLOSE_WAIT,
                ):
                    found.append(line.strip())
    return found


def test_stopping_with_a_keep_alive_client_connected_closes_its_socket(
    tls: Tls, tmp_path: Path
) -> None:
    """An idle client never answers the server's TLS close_notify; stop must not wait for it
    or leave the accepted socket open."""
    running = start_server(tmp_path, tls_cert=tls.cert, tls_key=tls.key)
    client = boto(running, tls, "chime-sdk-identity")
    try:
        client.list_app_instances()  # leaves one keep-alive connection open
        assert len(server_side_connections(running.port)) == 1
        running.stop()
        assert server_side_connections(running.port) == []
    finally:
        running.stop()
        client.close()


def test_the_head_deadline_covers_the_tls_handshake(tls: Tls, tmp_path: Path) -> None:
    """A socket that never starts its TLS handshake, and one that completes it and then sends
    nothing, are both dropped after the head timeout (asyncio alone waits 60 s for a
    handshake)."""
    running = start_server(
        tmp_path, tls_cert=tls.cert, tls_key=tls.key, http_head_timeout_seconds=1
    )
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as mute:
            assert closed_after(mute, 8) < 4
        context = ssl.create_default_context(cafile=str(tls.ca))
        raw = socket.create_connection(("127.0.0.1", running.port), timeout=10)
        with context.wrap_socket(raw, server_hostname="localhost") as quiet:
            assert closed_after(quiet, 8) < 4
    finally:
        running.stop()
