"""``bellwire serve --workers N``: N processes of one node on one port, so that every core works.

Each worker is a whole ``bellwire serve`` (its own event loop, hub and node id on the bus)
listening on the same address with ``SO_REUSEPORT``: the kernel spreads connections over them.
They are nodes of a cluster like any other, which is why N > 1 requires a PostgreSQL store and
a Redis bus (``config.Settings`` refuses anything else). This parent process prepares what the
workers must not race for (the data dir, the root keys, the development certificate, the
metrics directory they share, the node's name and the webhook secret), starts them, restarts
one that dies (one that cannot start stops them all: a restart would fail the same way), prints
the first-start banner once the port answers, and on SIGTERM or SIGINT passes the signal on and
waits for their drains.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from bellwire.config import Settings
from bellwire.iam.keys import load_or_create_root, mark_shown, prepare_data_dir
from bellwire.metrics import MULTIPROC_ENV
from bellwire.server import WORKER_ENV, WORKER_INDEX_ENV, dev_tls_hosts, node_id
from bellwire.webhook import load_or_create_secret

log = logging.getLogger("bellwire.workers")

RESTART_DELAY = 1.0
# Exit statuses of ``bellwire serve`` that mean it could not start (1: the store, the port...;
# 2: the configuration): restarting would not help.
CANNOT_START = frozenset({1, 2})


def run(settings: Settings, argv: Sequence[str]) -> int:
    """Supervise ``settings.workers`` workers started with ``argv`` (the ``serve`` arguments)."""
    prepare_data_dir(settings.data_dir)
    keys = load_or_create_root(
        settings.data_dir, settings.root_access_key_id, settings.root_secret_access_key
    )
    if settings.dev_tls:
        from bellwire import devtls

        devtls.ensure(settings.data_dir, dev_tls_hosts(settings))
    env = dict(os.environ)
    env[WORKER_ENV] = "1"
    if not env.get(MULTIPROC_ENV):
        # One scrape of any worker answers for all of them (bellwire.metrics).
        shared = settings.data_dir / "metrics"
        shutil.rmtree(shared, ignore_errors=True)
        shared.mkdir(mode=0o700)
        env[MULTIPROC_ENV] = str(shared)
    command = [sys.executable, "-m", "bellwire", "serve", *argv, "--workers", "1"]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    # Made here, as the root keys: workers making them at once would race (the second to
    # create the webhook secret's file would fail to start, and stop the node).
    node_id(settings.data_dir)
    load_or_create_secret(settings.data_dir, settings.webhook_secret)
    envs = [{**env, WORKER_INDEX_ENV: str(index)} for index in range(settings.workers)]
    procs = [subprocess.Popen(command, env=worker_env) for worker_env in envs]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("bellwire: %d workers on port %d", settings.workers, settings.port)
    banner_due = not keys.shown and not settings.root_access_key_id
    failed_to_start = 0
    while not stopping:
        if banner_due and _answers(settings):
            banner_due = False
            print(_banner(settings, keys.access_key_id, keys.secret_access_key), flush=True)
            mark_shown(settings.data_dir, keys)
        for index, proc in enumerate(procs):
            code = proc.poll()
            if code is None or stopping:
                continue
            if code in CANNOT_START:
                # bellwire's own refusal (its message is on stderr): a restart would only
                # repeat it, so the whole node stops.
                log.error("worker %d could not start (status %d); stopping", proc.pid, code)
                stop(signal.SIGTERM, None)
                failed_to_start = code
                break
            log.error("worker %d exited with %d; restarting it", proc.pid, code)
            time.sleep(RESTART_DELAY)
            if not stopping:
                procs[index] = subprocess.Popen(command, env=envs[index])  # its index kept
        time.sleep(0.2)
    failed = failed_to_start
    for proc in procs:
        try:
            failed |= proc.wait(settings.shutdown_grace_seconds + 30) != 0
        except subprocess.TimeoutExpired:
            proc.kill()
            failed = 1
    return failed_to_start or (1 if failed else 0)


def _answers(settings: Settings) -> bool:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "::") else settings.host
    try:
        with socket.create_connection((host, settings.port), timeout=0.2):
            return True
    except OSError:
        return False


def _banner(settings: Settings, access_key_id: str, secret: str) -> str:
    return f"""
Root credentials were generated and saved to {settings.data_dir / "root-credentials.json"} \
(mode 0600). They are shown only this once:

    export AWS_ACCESS_KEY_ID={access_key_id}
    export AWS_SECRET_ACCESS_KEY={secret}
    export AWS_DEFAULT_REGION={settings.region}
"""
