"""The server's Prometheus metrics (``GET /metrics``), through the official ``prometheus-client``.

Two kinds of figures, so that the fan-out pays nothing per delivery:

- **Counted** where something happens that is rarer than a delivery (a REST request, a connect,
  a session's close, a group commit): a prometheus-client counter or histogram, its labelled
  children resolved once and kept.
- **Sampled** at scrape time from what the server keeps anyway (the hub's delivery counters and
  buffers, the store's queue, the prefetch cache): ``SAMPLED`` names them, a sampler function
  reads them all at once.

Several worker processes: when ``PROMETHEUS_MULTIPROC_DIR`` is set (before the server starts;
prometheus-client reads it at import), every counted figure goes to that directory's files, and
a scrape of any worker answers the sum over all the workers that share it (prometheus-client's
multiprocess mode). Sampled figures cannot be read across processes at scrape time, so in that
mode each worker copies its own into the files every ``REFRESH_SECONDS`` (and just before
answering a scrape): gauges are summed over live workers (the largest-buffer gauge takes the
maximum), counters add up. Process metrics (``process_*``) are left out in that mode, as
prometheus-client does.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bellwire.config import ConfigError

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
REFRESH_SECONDS: Final = 1.0

# Seconds. REST calls are milliseconds (a durable write waits for one fsync); the tail matters.
REST_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# Pauses waiting for the next refresh: far more than a second's collections.
GC_PAUSES_KEPT: Final = 10_000
# A collection stops every session on the node: anything past a few milliseconds is a latency
# spike every client sees.
GC_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# Close codes kept as label values; any other code a client sends is counted as "other", so a
# client cannot grow the number of series.
_KNOWN_CODES: Final = frozenset(
    {*range(1000, 1016), 4001, 4002, 4003, 4401, 4410, 4419, 4429, 4500, 4998}
)


def code_label(code: int) -> str:
    return str(code) if code in _KNOWN_CODES else "other"


@dataclass(frozen=True, slots=True)
class Sampled:
    name: str
    help: str
    counter: bool = False
    mode: Literal["livesum", "livemax"] = (
        "livesum"  # how multiprocess mode combines the workers' values of a gauge
    )


SAMPLED: Final = (
    Sampled(
        "bellwire_sessions_open",
        "Messaging sessions open on this server (connecting or established).",
    ),
    Sampled(
        "bellwire_deliveries_total",
        "Event frames queued to sessions, one per recipient session (SESSION_ESTABLISHED and "
        "CHANNEL_DETAILS included).",
        counter=True,
    ),
    Sampled(
        "bellwire_delivered_bytes_total",
        "Bytes of the event frames queued to sessions, counted once per recipient session.",
        counter=True,
    ),
    Sampled(
        "bellwire_session_writes_total",
        "Socket writes of event frames to sessions; each carries all the frames a session had "
        "queued (deliveries_total / session_writes_total is the coalescing).",
        counter=True,
    ),
    Sampled(
        "bellwire_session_outbound_bytes",
        "Bytes waiting to be sent to sessions: the hub's buffers plus the sockets' own.",
    ),
    Sampled(
        "bellwire_session_outbound_max_bytes",
        "Bytes waiting for the most backed-up session (it is closed with 1013 above "
        "session_buffer_bytes).",
        mode="livemax",
    ),
    Sampled(
        "bellwire_store_write_queue_length",
        "Writes queued for the store's writer thread, not yet in a commit.",
    ),
    Sampled("bellwire_store_reads_in_flight", "Store reads queued or running."),
    Sampled(
        "bellwire_prefetch_cache_bytes",
        "Size of the shared CHANNEL_DETAILS cache (bounded by prefetch_cache_bytes).",
    ),
    Sampled("bellwire_prefetch_cache_channels", "Channels in the shared CHANNEL_DETAILS cache."),
    Sampled(
        "bellwire_connect_rate_buckets",
        "Users with a connect-rate token bucket in memory (bounded at 100,000).",
    ),
    Sampled("bellwire_http_connections", "Open HTTP connections, WebSocket sessions included."),
    Sampled(
        "bellwire_bus_connected",
        "1 while the node receives the other nodes' commits (always 1 with one node).",
    ),
    Sampled(
        "bellwire_bus_losses_total",
        "Times the node lost its bus connection (each closed every session with 4410).",
        counter=True,
    ),
    Sampled(
        "bellwire_bus_outbox_batches",
        "Batches waiting to be published while the bus is unreachable (bounded at 10,000).",
    ),
    Sampled(
        "bellwire_channel_gaps_total",
        "Channel sequence gaps that did not fill within the reorder window, and channels the "
        "position check found behind the store (their sessions were closed with 4410).",
        counter=True,
    ),
    Sampled(
        "bellwire_http_unauthenticated_connections",
        "Connections with no authenticated request yet (max_unauthenticated_connections).",
    ),
    Sampled(
        "bellwire_export_outbox_records",
        "Stream records in the durable export outbox, not yet acknowledged by their sink.",
        mode="livemax",
    ),
    Sampled(
        "bellwire_export_lag_seconds",
        "Age of the oldest record in the export outbox (0 when it is empty).",
        mode="livemax",
    ),
    Sampled(
        "bellwire_export_delivered_total",
        "Stream records this node delivered to a sink (a retried batch counts again).",
        counter=True,
    ),
    Sampled(
        "bellwire_export_failures_total",
        "Batches a sink did not take (down, refused, unmapped): retried with backoff.",
        counter=True,
    ),
    Sampled(
        "bellwire_export_dropped_total",
        "Stream records dropped because the outbox exceeded export_outbox_max_records.",
        counter=True,
    ),
    Sampled(
        "bellwire_retention_deleted_messages_total",
        "Messages deleted by the sweeper past their app instance's retention.",
        counter=True,
    ),
    Sampled(
        "bellwire_expired_channels_total",
        "Channels deleted by the sweeper under their ExpirationSettings.",
        counter=True,
    ),
    Sampled(
        "bellwire_expired_users_total",
        "App instance users deleted by the sweeper under their ExpirationSettings.",
        counter=True,
    ),
    Sampled(
        "bellwire_deleted_channel_purges_total",
        "Writes that removed messages or memberships of deleted channels, or messages of "
        "sub-channels a SCALE_IN deleted (at most sweep_batch each).",
        counter=True,
    ),
    Sampled(
        "bellwire_flow_invocations_in_flight",
        "Channel flow processor invocations being made (bounded by webhook_max_in_flight).",
    ),
    Sampled(
        "bellwire_flow_invocations_total",
        "Channel flow processor invocations a processor accepted (2xx).",
        counter=True,
    ),
    Sampled(
        "bellwire_flow_fallbacks_total",
        "Channel flow messages ended by their FallbackAction (the processor could not be "
        "invoked, too many in flight, or no callback within flow_callback_window_seconds).",
        counter=True,
    ),
    Sampled(
        "bellwire_flow_failure_events_total",
        "Processor failure events (EventBridge's ProcessorInvocationFailure) accepted by the URL "
        "mapped to the account's default event bus.",
        counter=True,
    ),
    Sampled(
        "bellwire_flow_failure_events_lost_total",
        "Processor failure events given up: refused by the URL mapped to the default event bus "
        "(a 4xx but 429), not accepted after every delivery, or left when the bus was unmapped.",
        counter=True,
    ),
    Sampled(
        "bellwire_bot_answers_total",
        "Bot calls whose answer was posted in the channel as the bot's message.",
        counter=True,
    ),
    Sampled(
        "bellwire_bot_failures_total",
        "Bot calls that ended in an application/amz-chime-lex-error message.",
        counter=True,
    ),
    Sampled(
        "bellwire_pushes_delivered_total",
        "Devices handed to a push gateway that accepted them (2xx).",
        counter=True,
    ),
    Sampled(
        "bellwire_http_own_requests_total",
        "Signed REST requests read and answered by the server's own connections (not aiohttp).",
        counter=True,
    ),
    Sampled(
        "bellwire_http_handovers_total",
        "Kept-alive REST connections handed to aiohttp for a request the server's own leave.",
        counter=True,
    ),
    Sampled(
        "bellwire_gc_frozen_objects",
        "Objects built at startup and kept out of the garbage collector's walks (gc.freeze).",
    ),
    Sampled(
        "bellwire_pushes_failed_total",
        "Devices not pushed: their gateway unmapped, busy, failing or unreachable.",
        counter=True,
    ),
)

Sampler = Callable[[], Mapping[str, float]]


def multiprocess_dir() -> str | None:
    """The multiprocess directory, or None; ConfigError when it is set but not a directory."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return None
    if not os.path.isdir(path):
        raise ConfigError(f"{MULTIPROC_ENV}={path} is not a directory")
    return path


class Metrics:
    """One server's metrics. ``sampler`` is given once the parts it reads exist."""

    def __init__(self, *, multiprocess: bool | None = None) -> None:
        self.multiprocess = multiprocess_dir() is not None if multiprocess is None else multiprocess
        # Multiprocess mode keeps values in files, not in a registry: registering them anywhere
        # would only report this process's share.
        registry = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self.registry = registry
        self.sampler: Sampler | None = None
        self.rest_requests = Counter(
            "bellwire_rest_requests_total",
            "REST requests answered (Chime, IAM and STS), by service, operation and HTTP status.",
            ["service", "operation", "status"],
            registry=registry,
        )
        self.rest_duration = Histogram(
            "bellwire_rest_request_duration_seconds",
            "Time from a REST request's arrival to its answer, by service and operation.",
            ["service", "operation"],
            buckets=REST_BUCKETS,
            registry=registry,
        )
        self.auth_failures = Counter(
            "bellwire_authentication_failures_total",
            "Requests and connects refused for their signature or credentials, by endpoint "
            "(rest, connect) and error.",
            ["endpoint", "error"],
            registry=registry,
        )
        self.connects = Counter(
            "bellwire_connects_total",
            "WebSocket connects by outcome (established, refused) and the refusal's close code.",
            ["outcome", "code"],
            registry=registry,
        )
        self.session_closes = Counter(
            "bellwire_session_closes_total",
            "Established sessions closed, by who closed (server, client) and close code (1006: "
            "the connection was lost or dropped; 1013: the session fell behind).",
            ["initiator", "code"],
            registry=registry,
        )
        self.commit_duration = Histogram(
            "bellwire_store_commit_duration_seconds",
            "One group commit of the store: from BEGIN to the durable COMMIT, its writes included.",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.commit_writes = Histogram(
            "bellwire_store_commit_writes",
            "Writes (requests) made durable by one group commit.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        gc_pause = Histogram(
            "bellwire_gc_pause_seconds",
            "Pauses of Python's cyclic garbage collector, by generation (2 is a full "
            "collection). Every session on the node waits for each one.",
            ["generation"],
            buckets=GC_BUCKETS,
            registry=registry,
        )
        self._gc_pause_children = tuple(gc_pause.labels(str(g)) for g in range(3))
        # Filled by the collector's callback, emptied into the histogram by ``refresh``.
        self._gc_pauses: collections.deque[tuple[int, float]] = collections.deque(
            maxlen=GC_PAUSES_KEPT
        )
        self._rest: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._mirrors: dict[str, Gauge | Counter] = {}
        self._last: dict[str, float] = {}
        if self.multiprocess:
            for spec in SAMPLED:
                if spec.counter:
                    self._mirrors[spec.name] = Counter(spec.name, spec.help, registry=None)
                else:
                    self._mirrors[spec.name] = Gauge(
                        spec.name, spec.help, registry=None, multiprocess_mode=spec.mode
                    )
        else:
            assert registry is not None
            registry.register(_SampledCollector(self))
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)

    # --- counted --------------------------------------------------------------------------------

    def rest(self, service: str, operation: str, status: int, seconds: float) -> None:
        key = (service, operation, status)
        children = self._rest.get(key)
        if children is None:
            children = self._rest[key] = (
                self.rest_requests.labels(service, operation, str(status)),
                self.rest_duration.labels(service, operation),
            )
        children[0].inc()
        children[1].observe(seconds)

    def commit(self, seconds: float, writes: int) -> None:
        """Called by the store's writer thread once per group commit."""
        self.commit_duration.observe(seconds)
        self.commit_writes.observe(writes)

    def gc_pause(self, generation: int, seconds: float) -> None:
        """Called by the collector's callback, on whichever thread collected. It only queues:
        the collector can run inside any prometheus-client call, and observing from there
        would take a lock that thread may already hold (multiprocess mode has one for all)."""
        self._gc_pauses.append((generation, seconds))

    def _drain_gc_pauses(self) -> None:
        pauses = self._gc_pauses
        while pauses:
            generation, seconds = pauses.popleft()
            self._gc_pause_children[generation].observe(seconds)

    # --- sampled --------------------------------------------------------------------------------

    def sample(self) -> Mapping[str, float]:
        return self.sampler() if self.sampler is not None else {}

    def refresh(self) -> None:
        """Every ``REFRESH_SECONDS`` and before a scrape: record the collector's pauses, and
        (multiprocess mode) copy this worker's sampled figures into the shared files."""
        self._drain_gc_pauses()
        if not self.multiprocess:
            return
        for name, value in self.sample().items():
            mirror = self._mirrors.get(name)
            if isinstance(mirror, Gauge):
                mirror.set(value)
            elif isinstance(mirror, Counter):
                delta = value - self._last.get(name, 0.0)
                if delta > 0:
                    mirror.inc(delta)
                self._last[name] = value

    # --- exposition -----------------------------------------------------------------------------

    def render(self, accept: str) -> tuple[bytes, str]:
        """The scrape's body and content type (the text format, or OpenMetrics if asked)."""
        self.refresh()
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            assert self.registry is not None
            registry = self.registry
        encoder, content_type = choose_encoder(accept)
        return encoder(registry), content_type

    def close(self) -> None:
        """Multiprocess mode: this worker's live gauges no longer count."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _SampledCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        values = self._metrics.sample()
        for spec in SAMPLED:
            value = values.get(spec.name)
            if value is None:
                continue
            if spec.counter:
                yield CounterMetricFamily(spec.name, spec.help, value=value)
            else:
                yield GaugeMetricFamily(spec.name, spec.help, value=value)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing to check for clashes, and no sampling at registration
