"""One bellwire process: store, bus, REST, IAM/STS and the messaging-session gateway on one port.

Shutdown follows the drain order operators expect: fail /readyz, stop accepting, close every
session with 1012 (the official clients reconnect on it), let in-flight requests finish, then
close the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import os
import signal
import socket
import ssl
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bellwire import cors, devtls, gc_policy
from bellwire.api import admin as admin_api
from bellwire.api import rest as rest_api
from bellwire.api.access import Access, Trace
from bellwire.api.admin import AdminApi
from bellwire.api.operations import Operations
from bellwire.api.rest import RestApi
from bellwire.bot_invoker import BotInvoker
from bellwire.bus.base import Bus
from bellwire.bus.memory import MemoryBus
from bellwire.bus.wire import BusMessage, ClusterSessions
from bellwire.clock import Clock
from bellwire.config import Settings
from bellwire.connections import (
    ConnectionAuthenticator,
    ConnectionGuard,
    GuardedHandler,
    GuardedServer,
    Limits,
    mark_authenticated,
    raise_file_limit,
)
from bellwire.console.shell import Console
from bellwire.domain.delivery import CloseSessions
from bellwire.domain.elastic import ElasticLimits
from bellwire.domain.operation import AnyResult, IamContext
from bellwire.export.backoff import Backoff
from bellwire.export.relay import Relay
from bellwire.export.sinks import open_sink
from bellwire.front import Front, FrontServer
from bellwire.gateway import positions
from bellwire.gateway.connect import Gateway, GatewaySettings
from bellwire.gateway.hub import Hub
from bellwire.gateway.request_head import Parsed
from bellwire.gateway.takeover import Detached
from bellwire.iam import declare
from bellwire.iam.credentials import CredentialIndex
from bellwire.iam.keys import (
    ROOT_FILE,
    RootKeys,
    load_or_create_root,
    mark_shown,
    prepare_data_dir,
    root_credential,
)
from bellwire.iam.sync import IamSync, Verdict
from bellwire.invoker import FlowInvoker
from bellwire.metrics import REFRESH_SECONDS, Metrics
from bellwire.purger import Purger
from bellwire.pusher import Pusher
from bellwire.records.iam import IamChange
from bellwire.rest_connection import RestConnections
from bellwire.store.base import StoreUnavailable, Tx
from bellwire.store.engines import open_store
from bellwire.store.sqlite import SqliteStore
from bellwire.sweeper import Sweeper
from bellwire.webhook import WebhookCaller, WebhookSettings, load_or_create_secret
from bellwire.wordfilter import PATH as WORD_FILTER_PATH
from bellwire.wordfilter import WordFilter
from bellwire.wordfilter import callback_principal as word_filter_principal

if TYPE_CHECKING:  # imported (with its driver) only when a node runs on PostgreSQL
    from bellwire.store.postgres import PostgresStore

log = logging.getLogger("bellwire")

DB_FILE = "bellwire.db"
# Readiness for REST alone (the API, the console): what a balancer checks for everything but
# /connect. The bus does not matter there: a node without it still commits, and the store
# is the truth (docs/operations.md).
READY_FOR_REST = "/readyz/rest"
# Paths that ``_route`` and ``_answer`` answer before the REST API (with /console/ and /admin/).
_OWN_PATHS = frozenset(
    {"/connect", "/console", "/healthz", "/readyz", READY_FOR_REST, "/metrics", WORD_FILTER_PATH}
)
NODE_FILE = "node-id"
FIRST_SWEEP_WAIT_SECONDS = 5.0  # how long start() waits for the sweep at start
# How often a node of a cluster tells the others whether its store answers (bus.redis
# STORE_FRESH_US is three of these).
STORE_CHECK_SECONDS = 1.0
# A store that has not answered a read by then counts as not answering: a database whose
# network drops packets must not hold /readyz past a balancer's check timeout (HAProxy's is
# its check interval, 2 s in deploy/haproxy.cfg), which would take the node out as dead.
STORE_PING_SECONDS = 1.5
# Remembered answers forgotten per write when the idempotency window moves on (measured:
# docs/performance.md, "Forgetting old tokens").
PRUNE_BATCH = 200

# Set by ``--workers N``'s parent (bellwire/workers.py) in each worker's environment: listen
# with SO_REUSEPORT beside the other workers, and leave the first-start banner to the parent.
WORKER_ENV = "_BELLWIRE_WORKER"
# Which worker this is (0..N-1, kept when the parent restarts it): workers share the data dir,
# and each must hold the store's leases as a node of its own.
WORKER_INDEX_ENV = "_BELLWIRE_WORKER_INDEX"


class StartAborted(Exception):
    """SIGTERM or SIGINT came while the node waited for its store: it stops without starting."""


async def _once_reachable(
    open_: Callable[[], SqliteStore | PostgresStore], wait: float, stop: asyncio.Event
) -> SqliteStore | PostgresStore:
    """The store, once its database answers: a node started before it (containers, units in
    any order) keeps trying for ``wait`` seconds instead of exiting at once and leaving the
    retry to whatever restarts it. ``stop`` ends the wait (``docker stop`` must not wait for
    the database)."""
    deadline = time.monotonic() + wait
    pause = 0.25
    while True:
        try:
            return open_()
        except StoreUnavailable as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            log.warning("%s; trying again for %.0f s (store_start_wait_seconds)", exc, left)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(pause, left))
            if stop.is_set():
                raise StartAborted from exc
            pause = min(pause * 2, 2.0)


def node_name() -> str:
    """How a node is named to people (the console, GET /admin/sessions): host and process."""
    return f"{socket.gethostname()} (pid {os.getpid()})"


def _is_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


def _owner_only(db: Path) -> None:
    """The database holds secret access keys: create it (and so its WAL and SHM files, which
    SQLite gives the database's mode) readable by the owner only, and tighten an older one."""
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists() and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


class BellwireServer:
    def __init__(
        self,
        settings: Settings,
        config_document: Mapping[str, Any] | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        # The one wall clock of operations, retention, expiration and export (tests move it).
        self.clock = clock or Clock()
        self.node = ""  # who holds a lease in a shared store: kept in the data dir (start)
        self.relay: Relay | None = None
        self.sweeper: Sweeper | None = None
        self.purger: Purger | None = None
        self.webhooks: WebhookCaller | None = None
        self._background: list[asyncio.Task[None]] = []
        self.config_document = config_document or {}  # the whole TOML file, for [iam]
        self.draining = False
        self.root_keys: RootKeys | None = None
        self._http: GuardedServer | None = None
        self._front: FrontServer | None = None
        self._rest_connections: RestConnections | None = None
        self._listener: asyncio.AbstractServer | None = None
        self.guard: ConnectionGuard | None = None
        self._sock: socket.socket | None = None
        self.store: SqliteStore | PostgresStore | None = None
        self.bus: Bus = MemoryBus()
        self._limits: Any = None  # RedisLimits with a Redis bus
        self._iam_sync: IamSync | None = None
        self._iam_reload: asyncio.Task[None] | None = None
        self._iam_wait: asyncio.TimerHandle | None = None
        self._cluster_tasks: list[asyncio.Task[None]] = []
        self.rest: RestApi | None = None
        self.gateway: Gateway | None = None
        self.hub: Hub | None = None
        self.admin: AdminApi | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._credentials: CredentialIndex | None = None
        self.operations: Operations | None = None
        self.cors = cors.CorsPolicy.parse(settings.cors_allowed_origins)
        self.dev_tls: devtls.DevTls | None = None
        self.metrics: Metrics | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.invoker: FlowInvoker | None = None
        self.bots: BotInvoker | None = None
        self.pusher: Pusher | None = None
        self.word_filter: WordFilter | None = None
        self.console: Console | None = None

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Open everything and listen; ``stop`` set while the store is awaited raises
        ``StartAborted``."""
        s = self.settings
        metrics = self.metrics = Metrics()
        prepare_data_dir(s.data_dir)
        if s.dev_tls:
            self.dev_tls = devtls.ensure(s.data_dir, dev_tls_hosts(s))
        self.root_keys = load_or_create_root(
            s.data_dir, s.root_access_key_id, s.root_secret_access_key
        )
        index = self._credentials = CredentialIndex(
            s.account_id, root_credential(self.root_keys, s.account_id)
        )
        if not s.store:
            _owner_only(s.data_dir / DB_FILE)
        self.node = node_id(s.data_dir, os.environ.get(WORKER_INDEX_ENV))
        self.store = await _once_reachable(
            functools.partial(
                open_store,
                s.store,
                s.data_dir / DB_FILE,
                synchronous=s.sqlite_synchronous,
                readers=s.store_readers,
                writers=s.store_writers,
                max_batch=s.store_max_batch,
            ),
            s.store_start_wait_seconds,
            stop or asyncio.Event(),
        )
        self.store.set_commit_observer(metrics.commit)
        sync = self._iam_sync = IamSync(index)
        sync.loaded(await self.store.read(lambda tx: tx.iam_snapshot()))
        if s.bus:
            from bellwire.bus.redis import RedisBus, RedisLimits

            bus = RedisBus(
                s.bus,
                prefix=s.bus_prefix,
                name=node_name(),
                max_connections=s.bus_max_connections,
                pool_wait=s.bus_pool_wait_seconds,
            )
            self.bus = bus
            self._limits = RedisLimits(bus, lease_seconds=s.session_lease_seconds)
        self.operations = Operations(
            self.store,
            region=s.region,
            account_id=s.account_id,
            iam=IamContext(index, sts_min_duration=s.sts_min_duration_seconds),
            committed=self._committed,
            endpoint_host=lambda: self.endpoint_host,
            now=self.clock.now,
            resources=s.resources,
            elastic=ElasticLimits(
                channels_per_app_instance=s.elastic_channels_per_app_instance,
                sub_channels_per_channel=s.elastic_max_sub_channels,
                memberships_per_channel=s.elastic_max_memberships,
            ),
            flow_max_processors=s.flow_max_processors,
            node=self.node,
            timeout=s.store_timeout_seconds,
        )
        webhook_secret = load_or_create_secret(s.data_dir, s.webhook_secret)
        self.word_filter = WordFilter(
            webhook_secret,
            self.operations,
            word_filter_principal(s.account_id, s.region),
            s.word_filter_deny,
            s.word_filter_mask,
        )
        # One webhook caller (one pool, one bound on calls in flight) for every feature; the
        # flow invoker closes it last.
        caller = WebhookCaller(webhook_secret, WebhookSettings.of(s))
        self.invoker = FlowInvoker(
            self.store,
            caller,
            s.resources,
            self._committed,
            window=s.flow_callback_window_seconds,
            alone=isinstance(self.store, SqliteStore),
            node=self.node,
            region=s.region,
            account_id=s.account_id,
        )
        self.bots = BotInvoker(self.store, caller, s.resources, self._committed, now=self.clock.now)
        self.pusher = Pusher(caller, s.resources)
        await declare.apply(self.config_document, self.operations, index)
        authenticator = ConnectionAuthenticator(
            index.get,
            region=s.region,
            max_skew=timedelta(seconds=s.clock_skew_seconds),
            # IAM is global: boto3 signs iam (and the global sts endpoint) for us-east-1.
            service_regions={"iam": ("us-east-1",), "sts": ("us-east-1",)},
        )
        self.rest = RestApi(
            operations=self.operations,
            authenticator=authenticator,
            max_body_bytes=s.max_body_bytes,
            metrics=metrics,
        )
        self.hub = Hub(
            buffer_limit=s.session_buffer_bytes,
            ping_interval=s.ping_interval_seconds,
            ping_timeout=s.ping_timeout_seconds,
            reorder_window=s.bus_reorder_window_seconds if self.bus.remote else None,
            flush_interval=s.session_flush_interval_seconds,
        )
        self.bus.subscribe(self._on_bus)
        self.bus.on_status(self._bus_status)
        self.gateway = Gateway(
            store=self.store,
            authenticator=authenticator,
            hub=self.hub,
            settings=GatewaySettings(
                max_sessions_per_user=s.max_sessions_per_user,
                connects_per_second=s.connects_per_user_per_second,
                connect_burst=s.connect_burst,
                max_client_frame=s.max_client_frame_bytes,
                prefetch_channels=s.prefetch_channels,
                prefetch_messages=s.prefetch_messages,
                prefetch_memberships=s.prefetch_memberships,
                prefetch_cache_bytes=s.prefetch_cache_bytes,
                max_presign_seconds=s.connect_max_presign_seconds,
                store_timeout=s.store_timeout_seconds,
            ),
            metrics=metrics,
            limits=self._limits,
            close_elsewhere=self._publish_close,
            bus_ready=lambda: self.bus.connected,
        )
        metrics.sampler = self._sample
        hub, bus_node = self.hub, getattr(self.bus, "node", "local")
        # This node's answer when an operator asks the cluster which sessions are open.
        self.bus.answer_sessions(
            lambda ask: admin_api.local_sessions(hub, bus_node, node_name(), ask)
        )
        self.admin = AdminApi(
            authenticator=authenticator,
            hub=self.hub,
            publish=self._publish_close,
            ask_sessions=self._ask_sessions,
            cluster=self.bus.remote,
        )
        if s.console_enabled:
            self.console = Console(
                settings=s,
                store=self.store,
                operations=self.operations,
                credentials=index,
                hub=self.hub,
                metrics=(lambda: metrics.render("")[0].decode()) if s.metrics_enabled else None,
                ready=self._ready,
                store_answers=self._store_answers,
                mark_authenticated=mark_authenticated,
                ask_sessions=self._ask_sessions,
                publish_close=self._publish_close if self.bus.remote else None,
                limits=self._limits,
            )
        self.guard = self._guard()
        # REST requests get their own access line (bellwire.access); aiohttp's would repeat it.
        # Bodies are read as sent: SigV4 signs the compressed bytes (bellwire.aws.content_encoding).
        self._http = GuardedServer(
            self._dispatch, guard=self.guard, access_log=None, auto_decompress=False
        )
        # The listener's protocol reads the first head itself: a /connect never becomes an
        # aiohttp connection, nor does a kept-alive run of signed REST requests
        # (bellwire/front.py, bellwire/rest_connection.py).
        self._rest_connections = RestConnections(
            answer=self._rest_answer,
            serves=self._serves_rest,
            http=self._http,
            guard=self.guard,
            max_body=s.max_body_bytes,
        )
        self._front = FrontServer(
            self._http,
            self.guard,
            self._connect_head if self.gateway is not None else None,
            self._rest_connections,
        )
        self._sock = _listen(s.host, s.port, s.listen_backlog)
        loop = asyncio.get_running_loop()
        await self.bus.start()
        if self.bus.remote:
            self._cluster_tasks = [
                loop.create_task(self._check_iam()),
                loop.create_task(self._renew_leases()),
                loop.create_task(self._check_positions()),
                loop.create_task(self._watch_store()),
            ]
        self._maintenance = loop.create_task(self._maintain())
        webhooks = self.webhooks = WebhookCaller(
            load_or_create_secret(s.data_dir, s.webhook_secret), WebhookSettings.of(s)
        )
        self.relay = Relay(
            self.store,
            s.resources,
            open_sink=functools.partial(open_sink, webhooks=webhooks),
            node=self.node,
            now=self.clock.now,
            batch=s.export_batch_records,
            poll_seconds=s.export_poll_seconds,
            max_records=s.export_outbox_max_records,
            backoff=Backoff(maximum=s.export_retry_max_seconds),
        )
        self.sweeper = Sweeper(
            self.store,
            self._committed,
            node=self.node,
            now=self.clock.now,
            interval=s.sweep_interval_seconds,
            batch=s.sweep_batch,
        )
        self.purger = Purger(self.store, batch=s.sweep_batch, interval=s.sweep_interval_seconds)
        self._background = [
            loop.create_task(self.relay.run(), name="bellwire-export-relay"),
            loop.create_task(self.sweeper.run(), name="bellwire-sweeper"),
            loop.create_task(self.purger.run(), name="bellwire-purger"),
        ]
        # What is due at start (a restart after downtime, a clock moved forward) is applied
        # before the first request; a long backlog goes on in the background after a while.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.sweeper.first_done.wait(), FIRST_SWEEP_WAIT_SECONDS)
        self._refresher = loop.create_task(self._refresh_metrics())
        # The listener is made here rather than by an aiohttp site, which takes no TLS handshake
        # timeout: a handshake that never completes is bounded by the head deadline, not by
        # asyncio's default of 60 s. asyncio calls listen() again with this backlog: it must
        # be the setting's, not aiohttp's 128, under which a storm of 256 connects in flight
        # overflowed the accept queue and waited out TCP's 1 s SYN retry. It is also how many
        # connections asyncio accepts in one go before any is counted against the cap.
        context = self._ssl_context()
        self._listener = await loop.create_server(
            self._front,
            sock=self._sock,
            ssl=context,
            backlog=s.listen_backlog,
            ssl_handshake_timeout=s.http_head_timeout_seconds if context else None,
        )
        # Processors call back over REST: resume pending invocations once it listens.
        await self.invoker.start()
        log.info("bellwire listening on %s (endpoint %s)", self.url, self.endpoint_host)

    def _guard(self) -> ConnectionGuard:
        """Raise the file limit, and size the unauthenticated cap so that it can never take
        more than half the descriptors."""
        s = self.settings
        limit, before = raise_file_limit()
        cap = max(1, min(s.max_unauthenticated_connections, limit // 2))
        if limit != before:
            log.info("file limit: %d open files (raised from %d)", limit, before)
        else:
            log.info("file limit: %d open files", limit)
        if cap < s.max_unauthenticated_connections:
            log.warning(
                "max_unauthenticated_connections lowered to %d, half the file limit; raise "
                "the limit (ulimit -n, LimitNOFILE=) to hold more connections",
                cap,
            )
        guard = ConnectionGuard(
            Limits(
                head_timeout=s.http_head_timeout_seconds,
                body_timeout=s.http_body_timeout_seconds,
                keepalive_timeout=s.http_keepalive_timeout_seconds,
                upgrade_timeout=s.connect_upgrade_timeout_seconds,
                max_unauthenticated=cap,
            ),
            asyncio.get_running_loop(),
        )
        guard.file_limit = limit
        guard.install()
        return guard

    def _ssl_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if self.dev_tls is not None:
            cert, key = self.dev_tls.cert, self.dev_tls.key
        elif s.tls_cert is not None and s.tls_key is not None:
            cert, key = s.tls_cert, s.tls_key
        else:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    async def _maintain(self) -> None:
        """Forget ClientRequestTokens older than the idempotency window, every few minutes."""
        window = self.settings.idempotency_window_seconds
        while True:
            await asyncio.sleep(min(600.0, window / 4))
            if self.store is None:
                return
            prune = functools.partial(_forget_results_before, moment=self.clock.now() - window)
            try:
                # A batch a write, so that the requests' writes go on between them.
                while await self.store.write(prune):
                    pass
            except StoreUnavailable as exc:
                log.warning(
                    "pruning idempotency tokens skipped: the database does not answer: %s", exc
                )
            except Exception:
                log.exception("pruning idempotency tokens failed")

    async def _refresh_metrics(self) -> None:
        """Record the collector's pauses; in multiprocess mode, also keep this worker's sampled
        figures current in the shared files."""
        assert self.metrics is not None
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                self.metrics.refresh()
            except Exception:
                log.exception("refreshing metrics failed")

    def _sample(self) -> dict[str, float]:
        """The figures read at scrape time (see bellwire.metrics.SAMPLED)."""
        values: dict[str, float] = {}
        hub, gateway, store = self.hub, self.gateway, self.store
        if hub is not None:
            total, biggest = hub.outbound()
            values["bellwire_sessions_open"] = hub.session_count
            values["bellwire_deliveries_total"] = hub.delivered
            values["bellwire_delivered_bytes_total"] = hub.delivered_bytes
            values["bellwire_session_writes_total"] = hub.writes
            values["bellwire_session_outbound_bytes"] = total
            values["bellwire_session_outbound_max_bytes"] = biggest
            values["bellwire_channel_gaps_total"] = hub.gaps
        values["bellwire_bus_connected"] = 1 if self.bus.connected else 0
        values["bellwire_gc_frozen_objects"] = gc.get_freeze_count()
        values["bellwire_bus_losses_total"] = getattr(self.bus, "losses", 0)
        values["bellwire_bus_outbox_batches"] = getattr(self.bus, "outbox", 0)
        if store is not None:
            values["bellwire_store_write_queue_length"] = store.queued_writes
            values["bellwire_store_reads_in_flight"] = store.reads_in_flight
        if gateway is not None:
            values["bellwire_prefetch_cache_bytes"] = gateway.details_cache.used
            values["bellwire_prefetch_cache_channels"] = len(gateway.details_cache)
            values["bellwire_connect_rate_buckets"] = gateway.rate_buckets
        if self._http is not None:
            upgraded = gateway.open_sockets if gateway is not None else 0
            fronts = len(self._front.connections) if self._front is not None else 0
            values["bellwire_http_connections"] = len(self._http.connections) + upgraded + fronts
        if self.guard is not None:
            values["bellwire_http_unauthenticated_connections"] = len(self.guard.admission)
        if self.relay is not None:
            values["bellwire_export_outbox_records"] = self.relay.waiting
            values["bellwire_export_lag_seconds"] = self.relay.lag_seconds
            values["bellwire_export_delivered_total"] = self.relay.delivered
            values["bellwire_export_failures_total"] = self.relay.failures
            values["bellwire_export_dropped_total"] = self.relay.dropped
        if self.sweeper is not None:
            totals = self.sweeper.totals
            values["bellwire_retention_deleted_messages_total"] = totals.messages
            values["bellwire_expired_channels_total"] = totals.channels
            values["bellwire_expired_users_total"] = totals.users
        if self.purger is not None:
            values["bellwire_deleted_channel_purges_total"] = self.purger.batches
        if self.invoker is not None:
            values["bellwire_flow_invocations_in_flight"] = self.invoker.in_flight
            values["bellwire_flow_invocations_total"] = self.invoker.invoked
            values["bellwire_flow_fallbacks_total"] = self.invoker.fell_back
            values["bellwire_flow_failure_events_total"] = self.invoker.failure_events
            values["bellwire_flow_failure_events_lost_total"] = self.invoker.failure_events_lost
        if self.bots is not None:
            values["bellwire_bot_answers_total"] = self.bots.answered
            values["bellwire_bot_failures_total"] = self.bots.failed
        if self._rest_connections is not None:
            values["bellwire_http_own_requests_total"] = self._rest_connections.requests
            values["bellwire_http_handovers_total"] = self._rest_connections.handovers
        if self.pusher is not None:
            values["bellwire_pushes_delivered_total"] = self.pusher.delivered
            values["bellwire_pushes_failed_total"] = self.pusher.failed
        return values

    async def stop(self) -> None:
        self.draining = True
        for task in self._cluster_tasks:
            task.cancel()
        if self._iam_wait is not None:
            self._iam_wait.cancel()
        if self._maintenance is not None:
            self._maintenance.cancel()
        if self._refresher is not None:
            self._refresher.cancel()
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.relay is not None:
            await self.relay.close()
        if self.webhooks is not None:
            await self.webhooks.close()
        if self.store is not None and self.node:
            # Hand the export and sweeper leases over at once rather than when they expire.
            node = self.node
            with contextlib.suppress(Exception):
                await self.store.write(lambda tx: tx.release_leases_of(node))
        sockets: list[Any] = []
        if self._listener is not None:
            # Stop accepting first: a session reconnecting after the drain's 1012 must find
            # the port closed, not a connection that is dropped mid-handshake.
            self._listener.close()
        if self._http is not None:
            # Taken now: closing a connection forgets its transport.
            sockets = [
                h.transport.get_extra_info("socket") for h in self._http.connections if h.transport
            ]
        if self._rest_connections is not None:
            sockets += self._rest_connections.sockets()
        if self._front is not None:
            # A connection still sending its first head is idle, as aiohttp's idle ones are;
            # a /connect whose head is in is refused by the drain (1012).
            self._front.close_idle()
            await self._front.wait_connects(self.settings.shutdown_grace_seconds)
        if self.console is not None:
            self.console.close()  # its live tails end now rather than at the grace period
        if self.gateway is not None:
            await self.gateway.drain()
        if self._rest_connections is not None:
            # As aiohttp's below: idle ones close now, requests in flight are answered (with
            # Connection: close) within the grace period.
            self._rest_connections.close_idle()
            await self._rest_connections.wait_busy(self.settings.shutdown_grace_seconds)
        if self._http is not None:
            # As aiohttp's runner does: let requests accepted just before start, close the idle
            # connections, then wait for the requests in flight.
            await asyncio.sleep(0)
            self._http.pre_shutdown()
            await self._http.shutdown(self.settings.shutdown_grace_seconds)
        await _hang_up(sockets)
        if self.bots is not None:
            await self.bots.close()
        if self.pusher is not None:
            await self.pusher.close()
        if self.invoker is not None:
            await self.invoker.close()
        if self.store is not None:
            await self.store.close()
        if self._limits is not None:
            await self._limits.drain()
        await self.bus.close()
        if self.guard is not None:
            self.guard.uninstall()
        if self.metrics is not None:
            self.metrics.close()

    # --- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._sock is not None, "not started"
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"

    @property
    def endpoint_host(self) -> str:
        return replace(self.settings, port=self.port).endpoint_host

    # --- plumbing ------------------------------------------------------------------------------

    def _committed(self, result: AnyResult) -> None:
        """Every committed operation passes here, in commit order, before its caller resumes:
        its IAM change goes to the credential index, and its events and IAM change to the bus
        (which hands them to this node's hub at once, and to the other nodes)."""
        if result.iam is not None:
            assert self._iam_sync is not None
            if self._iam_sync.committed(result.iam) is Verdict.RELOAD:
                self._reload_iam()
            self.bus.publish([*result.events, result.iam])
        elif result.events:
            self.bus.publish(result.events)
        if result.staged and self.relay is not None:
            # Only then: a wake reads the outbox on a reader thread, which a send to a server
            # without streaming configurations would pay for nothing.
            self.relay.wake()
        if result.invocations and self.invoker is not None:
            self.invoker.submit(result.invocations)
        if self.bots is not None:
            if result.bot_calls:
                self.bots.submit(result.bot_calls)
            if result.events:
                self.bots.joined(result.events)
        if result.pushes and self.pusher is not None:
            self.pusher.submit(result.pushes)
        if result.purges and self.purger is not None:
            self.purger.wake()

    def _publish_close(self, command: CloseSessions) -> None:
        self.bus.publish([command])

    async def _ask_sessions(self, user_arn: str | None, start: int, limit: int) -> ClusterSessions:
        timeout = self.settings.bus_admin_timeout_seconds
        return await self.bus.ask_sessions(user_arn, start, limit, timeout)

    def _on_bus(self, message: BusMessage) -> None:
        if isinstance(message, IamChange):
            self._iam_received(message)
            return
        if self.hub is not None:
            self.hub.on_event(message)
        if self.console is not None:
            self.console.tail.on_event(message)

    def _bus_status(self, connected: bool) -> None:
        """Lost: whatever the other nodes published meanwhile is gone, so every session is
        closed to reconnect and catch up from the store (connects are refused until the bus is
        back). Back: the IAM state is re-read, since changes may have been missed."""
        if not connected:
            if self.hub is not None:
                self.hub.resync_all("The server lost its link to its peers; reconnect.")
            return
        self._reload_iam()

    # --- the credential index across nodes ------------------------------------------------------

    def _iam_received(self, change: IamChange) -> None:
        assert self._iam_sync is not None
        verdict = self._iam_sync.received(change)
        if verdict is Verdict.WAITING and self._iam_wait is None:
            # An earlier change has not come yet: give it the reorder window, then re-read.
            self._iam_wait = asyncio.get_running_loop().call_later(
                self.settings.bus_reorder_window_seconds, self._iam_waited
            )

    def _iam_waited(self) -> None:
        self._iam_wait = None
        if self._iam_sync is not None and self._iam_sync.waiting:
            self._reload_iam()

    def _reload_iam(self) -> None:
        if self._iam_reload is not None and not self._iam_reload.done():
            return
        self._iam_reload = asyncio.get_running_loop().create_task(self._reload_iam_now())

    async def _reload_iam_now(self) -> None:
        assert self._iam_sync is not None and self.store is not None
        for attempt in range(5):
            self._iam_sync.reloading()
            try:
                snapshot = await self.store.read(lambda tx: tx.iam_snapshot())
            except StoreUnavailable as exc:
                log.warning(
                    "re-reading the IAM state failed: the database does not answer: %s", exc
                )
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            except Exception:
                log.exception("re-reading the IAM state failed")
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            if self._iam_sync.loaded(snapshot) is Verdict.APPLIED:
                log.info("IAM state re-read from the store (version %d)", snapshot.version)
                return

    async def _check_iam(self) -> None:
        """The fallback for an IAM change the bus lost: the store's IAM version, compared
        every iam_check_seconds; behind twice in a row (a change in flight is not behind
        for long), the node re-reads."""
        assert self._iam_sync is not None and self.store is not None
        seen: int | None = None  # a store version this node had not reached at the last check
        while True:
            await asyncio.sleep(self.settings.iam_check_seconds)
            try:
                version = await self.store.read(lambda tx: tx.iam_version())
            except Exception as exc:
                log.warning("reading the IAM version failed: %s", exc)
                continue
            if seen is not None and self._iam_sync.behind(seen):
                log.warning("IAM version %d did not arrive on the bus; re-reading", seen)
                self._reload_iam()
            seen = version if self._iam_sync.behind(version) else None

    async def _check_positions(self) -> None:
        """The fallback for a channel's last events that never reached the bus (their node
        died between commit and publish): no later event shows the gap, so the store's
        positions are compared every channel_check_seconds (``gateway/positions.py``)."""
        assert self.store is not None and self.hub is not None
        hub, store = self.hub, self.store
        while True:
            await asyncio.sleep(self.settings.channel_check_seconds)
            before = hub.applied()
            followed = positions.comparable(before)
            if not followed:
                continue
            try:
                stored = await store.read(functools.partial(_positions, followed))
            except Exception as exc:
                log.warning("reading the channels' positions failed: %s", exc)
                continue
            suspects = positions.behind(before, stored)
            if not suspects:
                continue
            # Events committed while the positions were read may still be on the bus.
            await asyncio.sleep(self.settings.bus_reorder_window_seconds)
            for channel in positions.still_behind(suspects, hub.applied()):
                hub.resync_channel(
                    channel, f"its events up to {suspects[channel]} never arrived on the bus"
                )

    async def _renew_leases(self) -> None:
        """Renew this node's session leases every third of their life; a session whose lease
        another node took (it replaced it while this one could not hear) is closed."""
        period = self.settings.session_lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            if self.hub is None or self._limits is None:
                continue
            sessions = {(s.user_arn, s.id, s.lease): s for s in self.hub.all_sessions() if s.lease}
            try:
                lost = await self._limits.renew(sessions)
            except Exception as exc:
                log.warning("renewing session leases failed: %s", exc)
                continue
            for key in lost:
                self.hub.close(
                    sessions[key], 4003, "Replaced by a newer session elsewhere in the cluster."
                )

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        connection = self.guard.begin(request) if self.guard is not None else None
        try:
            response = await self._route(request, connection)
        finally:
            if connection is not None:
                connection.request_done()
        if self.draining and not isinstance(response, Detached):
            # The client must not reuse a connection to a server that is going away.
            response.force_close()
        return response

    async def _connect_head(self, front: Front, parsed: Parsed) -> None:
        """A /connect read by the front (``_route``'s /connect branch without aiohttp)."""
        assert self.gateway is not None
        origin = parsed.head.headers.get("Origin")
        await self.gateway.connect_head(
            parsed.head, parsed.accept, front.take, origin_allowed=self.cors.allows(origin)
        )

    async def _route(
        self, request: web.BaseRequest, connection: GuardedHandler | None
    ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if cors.is_preflight(request.method, request.headers):
            status, headers = self.cors.preflight(request.headers)
            return web.Response(status=status, headers=headers)
        path = request.raw_path.partition("?")[0]
        if path == "/connect" and self.gateway is not None:
            if connection is not None and connection.upgrade_overdue():
                log.debug("dropped a /connect from %s: not upgraded in time", request.remote)
                connection.drop()
                return web.Response(status=408)  # never sent: the connection is gone
            return await self.gateway.connect(request, origin_allowed=self.cors.allows(origin))
        if (path == "/console" or path.startswith("/console/")) and self.console is not None:
            # Same-origin pages only: no CORS allowances (docs/console.md).
            return await self.console.handle(request)
        response = await self._answer(request, path)
        response.headers.update(self.cors.response_headers(origin))
        return response

    async def _answer(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        if path == "/healthz" and request.method == "GET":
            return _json(200, {"status": "alive"})
        if path in ("/readyz", READY_FOR_REST) and request.method == "GET":
            ready = await self._ready(bus=path == "/readyz")
            return _json(200 if ready else 503, {"status": "ready" if ready else "unavailable"})
        if path == "/metrics" and request.method == "GET" and self.settings.metrics_enabled:
            assert self.metrics is not None
            body, content_type = self.metrics.render(request.headers.get("Accept", ""))
            return web.Response(body=body, headers={"Content-Type": content_type})
        assert self.rest is not None
        if self.draining:
            # Accepted before the drain, this connection may still be open (keep-alive): new
            # requests on it are refused so that nothing is written after SIGTERM; the client
            # retries the 503 on a new connection (to another node, or after the restart).
            return self.rest.unavailable(rest_api.from_aiohttp(request))
        if path == WORD_FILTER_PATH and self.word_filter is not None:
            return await self.word_filter.handle(request)
        if path.startswith("/admin/") and self.admin is not None:
            return await self._admin(request, path)
        return await self.rest.handle_aiohttp(request)

    @staticmethod
    def _serves_rest(path: str) -> bool:
        """Whether ``path`` is the REST API's rather than a path ``_route`` answers itself."""
        return not (
            path in _OWN_PATHS or path.startswith("/console/") or path.startswith("/admin/")
        )

    async def _rest_answer(self, request: rest_api.Request) -> web.Response:
        """A REST request of the server's own connections (``_answer``'s last branch)."""
        assert self.rest is not None
        if self.draining:
            return self.rest.unavailable(request)
        response = await self.rest.handle(request)
        response.headers.update(self.cors.response_headers(request.headers.get("Origin")))
        return response

    async def _ready(self, *, bus: bool = True) -> bool:
        """Ready for everything (sessions need the bus), or with ``bus=False`` for REST."""
        if self.draining or (bus and not self.bus.connected) or self.store is None:
            return False
        if await self._store_answers():
            return True
        # Traffic goes elsewhere only if another node reaches the store. When none does (the
        # database is down or failing over), a balancer that took every node out would close
        # every session and answer its own 503s; ready, the nodes keep their sessions and
        # answer the modeled ServiceUnavailableException (docs/protocol-decisions.md).
        await self.bus.store_answered(False)
        return not await self.bus.store_answers_elsewhere()

    async def _watch_store(self) -> None:
        """Tell the other nodes, every STORE_CHECK_SECONDS, whether this node's store answers
        (what their ``_ready`` weighs their own store's silence against)."""
        while True:
            await self.bus.store_answered(await self._store_answers())
            await asyncio.sleep(STORE_CHECK_SECONDS)

    async def _store_answers(self) -> bool:
        assert self.store is not None
        try:
            return await asyncio.wait_for(self.store.ping(), STORE_PING_SECONDS)
        except TimeoutError:
            return False

    async def _admin(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        """Operator endpoints get an access line too (service "bellwire")."""
        assert self.admin is not None and self.metrics is not None
        started = time.perf_counter()
        response = await self.admin.handle(request)
        trace = Trace()
        trace.service = "bellwire"
        trace.operation = {
            admin_api.CLOSE_PATH: "CloseSessions",
            admin_api.SESSIONS_PATH: "ListSessions",
        }.get(path, "")
        request_id = response.headers.get("x-amzn-RequestId", "-")
        Access(self.metrics).record(trace, response.status, started, request_id, request.remote)
        return response


def node_id(data_dir: Path, worker: str | None = None) -> str:
    """This node's name in the store's leases, the same across restarts: a node restarted
    after a crash resumes its own leases instead of waiting for them to expire. The workers of
    ``--workers N`` share the data dir's name, each with its index (else every worker would
    hold every lease at once: two relays of one sink, two sweepers)."""
    base = _data_dir_node_id(data_dir)
    return base if worker is None else f"{base}-w{worker}"


def _data_dir_node_id(data_dir: Path) -> str:
    path = data_dir / NODE_FILE
    try:
        found = path.read_text().strip()
    except FileNotFoundError:
        found = ""
    if not found:
        found = uuid.uuid4().hex
        path.write_text(found + "\n")
    return found


def dev_tls_hosts(s: Settings) -> list[str]:
    """The names the development certificate must carry: the defaults, plus the listen address
    and the public endpoint's host when they name one host."""
    hosts = list(devtls.DEFAULT_HOSTS)
    if s.host not in ("0.0.0.0", "::", ""):
        hosts.append(s.host)
    public = urllib.parse.urlsplit("//" + s.public_endpoint).hostname if s.public_endpoint else None
    if public:
        hosts.append(public)
    return hosts


def _json(status: int, document: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(document).encode(), content_type="application/json"
    )


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if _is_worker():
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


async def serve(
    settings: Settings,
    *,
    ready: asyncio.Event | None = None,
    config_document: Mapping[str, Any] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then drain and return."""
    server = BellwireServer(settings, config_document)
    # Caught before the listener opens: a SIGTERM that arrives while the first clients
    # connect must still drain, and must not cut off the banner below.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start(stop)
    except StartAborted:
        log.info("stopped while waiting for the store")
        return
    assert server.metrics is not None
    uninstall_clock = gc_policy.install(gc_policy.PauseClock(server.metrics.gc_pause))
    gc_policy.settle()
    keys = server.root_keys
    if keys is not None and not keys.shown and not _is_worker():
        # Shown at the first start that listens, not the one that generated the keys: that
        # one may have failed (port in use, bad TLS file) before anyone could read them.
        print(_first_start_banner(server), flush=True)
        try:
            server.root_keys = mark_shown(settings.data_dir, keys)
        except OSError as exc:
            log.warning("cannot record that the root credentials were shown: %s", exc)
    if server.dev_tls is not None:
        if server.dev_tls.ca_created:
            print(devtls.instructions(server.dev_tls, server.url), flush=True)
        else:
            log.info("development TLS: trust the CA %s (docs/browsers.md)", server.dev_tls.ca)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        uninstall_clock()
        await server.stop()


def _first_start_banner(server: BellwireServer) -> str:
    keys = server.root_keys
    assert keys is not None
    s = server.settings
    # Where a client on this machine reaches the server: a wildcard listen address (a
    # container's 0.0.0.0) is none, and neither is a balancer's public name.
    local = replace(s, port=server.port, public_endpoint="").endpoint_host
    url = f"{'https' if s.tls else 'http'}://{local}"
    return f"""
Root credentials were generated and saved to {s.data_dir / ROOT_FILE} (mode 0600).
They are shown only this once:

    export AWS_ACCESS_KEY_ID={keys.access_key_id}
    export AWS_SECRET_ACCESS_KEY={keys.secret_access_key}
    export AWS_DEFAULT_REGION={s.region}

From boto3:

    import boto3
    messaging = boto3.client("chime-sdk-messaging", endpoint_url="{url}")
    identity = boto3.client("chime-sdk-identity", endpoint_url="{url}")
"""


async def _hang_up(sockets: list[Any], within: float = 1.0) -> None:
    """Shut down the sockets of closed connections that are still open.

    A TLS close waits for the peer's close_notify, and an idle keep-alive client (urllib3,
    botocore) never reads one: its socket would outlive the server. After a shutdown the
    transport reads EOF and closes at once.
    """
    for sock in sockets:
        if sock is not None and sock.fileno() != -1:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    deadline = time.monotonic() + within
    while any(s is not None and s.fileno() != -1 for s in sockets):
        if time.monotonic() > deadline:
            log.warning("connections still open after shutdown")
            return
        await asyncio.sleep(0.01)


def _forget_results_before(tx: Tx, moment: float) -> bool:
    return tx.forget_results_before(moment, PRUNE_BATCH)


def _positions(followed: list[str], tx: Tx) -> dict[str, int]:
    channels, elastic = positions.split(followed)
    stored = tx.channel_positions(channels) if channels else {}
    if elastic:
        stored.update(positions.sub_channel_keys(tx.sub_channel_positions(elastic)))
    return stored
