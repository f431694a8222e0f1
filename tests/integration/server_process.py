"""``python -m bellwire serve`` as a real subprocess, for what only a process shows: kill -9,
SIGTERM, its own file limit, its log output. Root keys come from the environment so that tests
can sign requests."""

from __future__ import annotations

import os
import resource
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config

from bellwire.testing import store_for

ACCESS_KEY = "AKIADURABILITYTEST01"
SECRET_KEY = "durability-test-secret-key-0123456789abcd"
REGION = "us-east-1"
CLIENT_CONFIG = Config(max_pool_connections=32, retries={"max_attempts": 1, "mode": "standard"})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TlsFiles(Protocol):
    """A server certificate and key, and the CA that signed them (``tlsworld.Tls``)."""

    @property
    def ca(self) -> Path: ...
    @property
    def cert(self) -> Path: ...
    @property
    def key(self) -> Path: ...


def readyz(url: str, ca: Path | None = None) -> int | None:
    context = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2, context=context) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path
    ca: Path | None = None  # served over https: the CA clients trust

    def client(self, service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("config", CLIENT_CONFIG)
        if self.ca is not None:
            kwargs.setdefault("verify", str(self.ca))
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            **kwargs,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start(
    data_dir: Path,
    port: int,
    *extra: str,
    log_level: str = "warning",
    file_limit: tuple[int, int] | None = None,
    tls: TlsFiles | None = None,
) -> Process:
    """Start a server and wait until it is ready; ``file_limit``: its (soft, hard) NOFILE;
    ``tls``: serve https and wss with that certificate."""
    if tls is not None:
        extra = (*extra, "--tls-cert", str(tls.cert), "--tls-key", str(tls.key))
    env = dict(os.environ)
    env.update(
        BELLWIRE_ROOT_ACCESS_KEY_ID=ACCESS_KEY,
        BELLWIRE_ROOT_SECRET_ACCESS_KEY=SECRET_KEY,
        BELLWIRE_LOG_LEVEL=log_level,
    )
    store = store_for(data_dir)  # PostgreSQL when BELLWIRE_TEST_STORE asks for it
    if store:
        env["BELLWIRE_STORE"] = store

    def limit_files() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, file_limit)

    log = data_dir.parent / f"{data_dir.name}-{port}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
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
                str(data_dir),
                *extra,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_files if file_limit is not None else None,
        )
    ca = tls.ca if tls is not None else None
    url = f"{'https' if tls is not None else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"bellwire exited with {proc.returncode}:\n{log.read_text()}")
        if readyz(url, ca) == 200:
            return Process(proc, url, port, log, ca)
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"bellwire did not become ready:\n{log.read_text()}")


class Served(Protocol):
    """A server in this process (``RunningServer``) or in a subprocess (``Process``)."""

    @property
    def url(self) -> str: ...


def scraped(server: Served, name: str) -> float:
    """The value of the unlabelled series ``name`` on the server's /metrics."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    assert values, f"{name} not in /metrics"
    return values[0]
