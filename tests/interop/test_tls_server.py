"""The TLS server's own behaviour, beyond what the client scenarios show."""

from __future__ import annotations

import gc
import socket
from pathlib import Path

from tlsworld import Tls, boto

from bellwire.testing import start_server


def open_sockets_on(port: int) -> list[socket.socket]:
    """Sockets of this process on ``port`` that are still open, garbage not yet collected
    included: a leaked socket would only be closed (with a ResourceWarning) by the collector."""
    found = []
    for obj in gc.get_objects():
        if (
            isinstance(obj, socket.socket)
            and obj.family in (socket.AF_INET, socket.AF_INET6)
            and obj.fileno() != -1
            and obj.getsockname()[1] == port
        ):
            found.append(obj)
    return found


def test_stopping_with_a_keep_alive_client_connected_closes_its_socket(
    tls: Tls, tmp_path: Path
) -> None:
    """An idle client never answers the server's TLS close_notify; stop must not wait for it
    or leave the accepted socket behind."""
    running = start_server(tmp_path, tls_cert=tls.cert, tls_key=tls.key)
    client = boto(running, tls, "chime-sdk-identity")
    try:
        client.list_app_instances()  # leaves one keep-alive connection open
        assert len(open_sockets_on(running.port)) == 2  # the listener and the accepted socket
        running.stop()
        assert open_sockets_on(running.port) == []
    finally:
        running.stop()
        client.close()
