"""HAProxy in front of a cluster's nodes, configured from ``deploy/haproxy.cfg``.

The deployed file is read and adapted, never rewritten by hand, so that what the node-loss test
proves is what the documentation ships: the listener becomes ``127.0.0.1:<free port>`` with TLS
terminated here (amazon-chime-sdk-js connects only with wss://), the servers become the nodes'
loopback ports, the container engine's resolver goes, health checks run every 500 ms instead of
2 s (the test's patience, not a recommendation), and the REST and session backends balance ``first``
instead of ``leastconn``: every connection goes to the first node that is up, so that the node
the test kills is the one holding the clients' sessions.
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

DEPLOYED = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"


def adapt(text: str, *, port: int, pem: Path, servers: list[int]) -> str:
    """``deploy/haproxy.cfg`` for loopback (see the module's docstring)."""
    text = re.sub(r"\n# The container engine's DNS.*?\n\n", "\n", text, flags=re.S)
    assert "resolvers engine\n" not in text, "the resolvers section moved: adapt() needs a look"
    text = text.replace(
        "    bind :8080\n", f"    bind 127.0.0.1:{port} ssl crt {pem} alpn http/1.1\n"
    )
    text = text.replace(" resolvers engine init-addr last,libc,none", "")
    text = text.replace("check inter 2s ", "check inter 500ms ")
    nodes = text.index("\nbackend nodes\n")  # then the sessions' backend
    text = text[:nodes] + text[nodes:].replace("balance leastconn", "balance first", 2)
    for i, server_port in enumerate(servers, 1):
        text = text.replace(f"node{i}:8080", f"127.0.0.1:{server_port}")
    for needle in (f"127.0.0.1:{port} ssl", "balance first", "inter 500ms"):
        assert needle in text, f"deploy/haproxy.cfg changed: {needle!r} not applied"
    assert ":8080" not in text and "resolvers" not in text
    return text


@dataclass
class Balancer:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start(
    directory: Path, *, port: int, cert: Path, key: Path, ca: Path, servers: list[int]
) -> Balancer:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("haproxy is not installed (apt-get install haproxy; scripts/test does)")
    pem = directory / "haproxy.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    config = directory / "haproxy.cfg"
    config.write_text(adapt(DEPLOYED.read_text(), port=port, pem=pem, servers=servers))
    checked = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = directory / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=out, stderr=out)
    balancer = Balancer(proc, port, log)
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(balancer.url + "/readyz", timeout=2, context=context):
                return balancer
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    balancer.stop()
    raise AssertionError(f"haproxy did not answer:\n{log.read_text()}")
