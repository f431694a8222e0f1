"""One typed settings model, layered: defaults < TOML file < ``BELLWIRE_*`` environment < flags.

Every queue, size and timeout the server uses is a field here with a documented default, so an
operator can find all the knobs in one place (``docs/configuration.md`` is generated from it).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bellwire.cors import CorsPolicy, OriginListError
from bellwire.forwarded import parse_trusted
from bellwire.resources import ResourceError, ResourceMap

ENV_PREFIX = "BELLWIRE_"
_BOOLS = {"true": True, "1": True, "yes": True, "on": True}
_BOOLS.update({"false": False, "0": False, "no": False, "off": False, "": False})


class ConfigError(Exception):
    """A setting that does not parse or does not make sense; the message names it."""


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret})


@dataclass(frozen=True, slots=True)
class Settings:
    # --- where and who -------------------------------------------------------------------
    host: str = _setting("127.0.0.1", "Address the server listens on.")
    port: int = _setting(8080, "Port for REST, IAM/STS and the WebSocket /connect.")
    data_dir: Path = _setting(Path("./bellwire-data"), "Directory for the database and keys.")
    region: str = _setting("us-east-1", "Region of ARNs and of the SigV4 credential scope.")
    account_id: str = _setting("123456789012", "Twelve-digit account id used in ARNs.")
    public_endpoint: str = _setting(
        "",
        "host[:port] returned by GetMessagingSessionEndpoint (for proxies and load "
        "balancers); default: the address the server listens on.",
    )
    tls_cert: Path | None = _setting(None, "PEM certificate chain: serve https and wss.")
    tls_key: Path | None = _setting(None, "PEM private key for --tls-cert.")
    dev_tls: bool = _setting(
        False,
        "Serve https and wss with a local CA and a localhost certificate kept in the data dir "
        "(made on first start; for development, see docs/browsers.md).",
    )
    root_access_key_id: str = _setting(
        "", "Root access key id (else generated on first start and kept in the data dir)."
    )
    root_secret_access_key: str = _setting("", "Root secret access key.", secret=True)
    log_level: str = _setting("info", "debug, info, warning or error.")
    log_format: str = _setting(
        "text", "'text' (one readable line per record) or 'json' (one JSON object per line)."
    )
    metrics_enabled: bool = _setting(
        True,
        "Serve Prometheus metrics at GET /metrics, unauthenticated like /healthz: do not expose "
        "it beyond your monitoring network.",
    )

    # --- the admin console (docs/console.md) -------------------------------------------
    console_enabled: bool = _setting(
        True,
        "Serve the admin console at /console (docs/console.md): sign-in with an access key, "
        "then pages that act with that principal's permissions. false: /console answers like "
        "any unknown path.",
    )
    console_session_seconds: int = _setting(
        28800, "How long a console sign-in lasts (the cookie's Max-Age), in seconds."
    )
    console_signin_failures: int = _setting(
        5,
        "Failed console sign-ins allowed per client address per minute; more are refused "
        "(429) until the oldest is a minute old.",
    )
    console_trusted_proxies: str = _setting(
        "",
        "Reverse proxies trusted to name the client in Forwarded / X-Forwarded-For, as a "
        "comma-separated list of addresses or CIDR blocks (e.g. '10.0.0.5, 192.168.0.0/16'); "
        "the console's sign-in throttle and log then use the client's address (the rightmost "
        "one that is not a trusted proxy). Empty: the peer's address, headers ignored.",
    )

    # --- HTTP ----------------------------------------------------------------------------
    max_body_bytes: int = _setting(1 << 20, "Largest request body accepted, in bytes.")
    clock_skew_seconds: int = _setting(900, "Allowed SigV4 clock skew (AWS allows 15 min).")
    shutdown_grace_seconds: float = _setting(
        10.0, "On SIGTERM, how long in-flight requests may take to finish."
    )
    http_head_timeout_seconds: float = _setting(
        10.0,
        "Time a client has to send a complete request head, counted from the TCP accept (TLS "
        "handshake included) or, on a keep-alive connection, from the request's first byte; "
        "a connection that sends nothing or half a head is dropped.",
    )
    http_body_timeout_seconds: float = _setting(
        30.0,
        "Time a client has, once a request head is complete, to send the rest of its body "
        "(at most max_body_bytes); a slower body drops the connection.",
    )
    http_keepalive_timeout_seconds: float = _setting(
        75.0,
        "An idle keep-alive connection is closed after this long (keep it above the idle "
        "timeout of a load balancer in front: 60 s on AWS ALB).",
    )
    connect_upgrade_timeout_seconds: float = _setting(
        10.0,
        "Time from the TCP accept to the WebSocket upgrade of a /connect (request head and "
        "authentication included); a slower /connect is dropped.",
    )
    listen_backlog: int = _setting(
        1024,
        "Connections the kernel queues for accept before it drops new ones (capped by "
        "net.core.somaxconn); a dropped connect is retried by the client's TCP after 1 s, "
        "so a connect storm larger than the backlog stalls. Also how many asyncio accepts "
        "in one go before the unauthenticated cap counts them.",
    )
    max_unauthenticated_connections: int = _setting(
        4096,
        "Connections held at once that have not yet passed SigV4 (REST) or authenticated a "
        "/connect; over it the oldest is dropped. Never more than half the file limit.",
    )

    cors_allowed_origins: str = _setting(
        "*",
        "Origins whose pages may call the server from a browser: '*' (any, as AWS answers) "
        "or a comma-separated list such as 'https://chat.example.com'; also checked on "
        "WebSocket upgrades.",
    )

    # --- storage -------------------------------------------------------------------------
    store: str = _setting(
        "",
        "Where state lives: empty for the embedded SQLite database in the data dir, or "
        "postgresql://USER@HOST:PORT/DB for a PostgreSQL database that several nodes may "
        "share (a password is best left to PGPASSWORD or ~/.pgpass, which libpq reads; see "
        "docs/operations.md).",
    )
    sqlite_synchronous: str = _setting(
        "full",
        "SQLite synchronous mode: 'full' survives power loss, 'normal' survives a "
        "process crash only.",
    )
    store_readers: int = _setting(
        1,
        "Reader threads (each with its connection) of the store: on SQLite one avoids GIL "
        "contention on small machines; on PostgreSQL, reads wait on the network, so 4 or so.",
    )
    store_max_batch: int = _setting(256, "Most writes grouped into one commit.")
    store_writers: int = _setting(
        4,
        "Writer connections of the PostgreSQL store: batches of different channels commit in "
        "parallel (the embedded SQLite store has one writer).",
    )
    store_start_wait_seconds: float = _setting(
        30.0,
        "At start, how long to keep trying a PostgreSQL store that does not answer yet (a "
        "node started before its database, as containers and units may be), saying why "
        "each time; 0 gives up at once.",
    )
    store_timeout_seconds: float = _setting(
        10.0,
        "How long a REST request waits for the store before it answers 503 "
        "ServiceUnavailableException, and a connect for its snapshot before it closes with "
        "1013 (a database that stopped answering without closing its connections, a disk "
        "that hangs); 0 waits as long as it takes. A write the database had not begun then "
        "is never applied; one it had begun may still commit when it answers again (the SDKs "
        "retry with the same ClientRequestToken).",
    )
    idempotency_window_seconds: int = _setting(
        86400, "How long a ClientRequestToken is remembered (same token, same answer)."
    )

    # --- messaging sessions --------------------------------------------------------------
    max_sessions_per_user: int = _setting(10, "Concurrent WebSocket sessions per user.")
    connects_per_user_per_second: float = _setting(
        5.0, "Sustained WebSocket connects per user per second (token bucket)."
    )
    connect_burst: int = _setting(10, "Connect burst per user allowed by the token bucket.")
    connect_max_presign_seconds: int = _setting(
        900,
        "Longest X-Amz-Expires accepted on a presigned /connect URL (longer closes with 4401); "
        "the official clients presign for 10 s. At most 604800 (SigV4's one week).",
    )
    ping_interval_seconds: float = _setting(20.0, "Interval of server WebSocket pings.")
    ping_timeout_seconds: float = _setting(20.0, "A peer that does not answer a ping is dropped.")
    session_buffer_bytes: int = _setting(
        1 << 20, "Outbound bytes a session may have queued before it is closed with 1013."
    )
    session_flush_interval_seconds: float = _setting(
        0.002,
        "While the hub is busy (it wrote in the last ten intervals), how long a burst's first "
        "frame waits for others before each session's are written together in one system "
        "call; a frame after a quiet spell, or with 0, leaves at the next event-loop "
        "iteration. Longer raises fan-out throughput under load and each delivery's latency "
        "by up to this much.",
    )
    max_client_frame_bytes: int = _setting(
        4096, "Largest client frame tolerated (clients send none; larger closes with 1009)."
    )
    prefetch_channels: int = _setting(50, "CHANNEL_DETAILS events per prefetch.")
    prefetch_messages: int = _setting(20, "Messages per CHANNEL_DETAILS event.")
    prefetch_memberships: int = _setting(30, "Memberships per CHANNEL_DETAILS event.")
    prefetch_cache_bytes: int = _setting(
        32 << 20,
        "Memory for CHANNEL_DETAILS rendered once per channel version and shared by its "
        "members' connects (0: render for every connect).",
    )

    # --- elastic channels (spec §7; AWS's default quotas) -----------------------------------
    elastic_channels_per_app_instance: int = _setting(
        1,
        "Elastic channels an app instance may have (AWS's default quota; CreateChannel beyond "
        "it answers ResourceLimitExceeded).",
    )
    elastic_max_sub_channels: int = _setting(
        100, "Highest MaximumSubChannels an elastic channel may be created with."
    )
    elastic_max_memberships: int = _setting(
        1_000_000,
        "Highest MaximumSubChannels x TargetMembershipsPerSubChannel (the members an elastic "
        "channel can hold).",
    )

    # --- several nodes -------------------------------------------------------------------
    bus: str = _setting(
        "",
        "Where nodes tell each other what they committed: empty for the in-process bus of one "
        "node, or redis://HOST:PORT/DB (rediss:// for TLS) for several nodes sharing one "
        "store. A password in the URL is visible in the process list when given as a flag: "
        "prefer BELLWIRE_BUS or the TOML file then.",
    )
    bus_prefix: str = _setting(
        "bellwire",
        "Prefix of the Redis Pub/Sub channel and keys of this cluster (clusters sharing one "
        "Redis need different prefixes).",
    )
    bus_admin_timeout_seconds: float = _setting(
        1.0,
        "With a Redis bus: how long an operator's cluster-wide listing (the console's Sessions "
        "page, GET /admin/sessions) waits for the other nodes' answers; the answer names the "
        "nodes that did not answer in time.",
    )
    bus_max_connections: int = _setting(
        100,
        "With a Redis bus: the most command connections a node (each worker) opens to Redis, "
        "beside its subscription; when all are busy (a connect storm) a command waits for one "
        "up to bus_pool_wait_seconds.",
    )
    bus_pool_wait_seconds: float = _setting(
        2.0,
        "With a Redis bus: how long a command waits for a free Redis connection; past it a "
        "connect is refused with 1013 (retry).",
    )
    bus_reorder_window_seconds: float = _setting(
        1.0,
        "How long an event that arrives ahead of its channel's sequence waits for the ones "
        "before it; then the sessions that may have missed one are closed with 4410.",
    )
    session_lease_seconds: float = _setting(
        30.0,
        "With a Redis bus: sessions count against max_sessions_per_user cluster-wide through "
        "leases their node renews; a dead node's sessions stop counting after this long.",
    )
    workers: int = _setting(
        1,
        "Processes of this node sharing its port (SO_REUSEPORT), to use every core; more than "
        "one needs a PostgreSQL store and a Redis bus (each worker is a node of the cluster) "
        "and a fixed port.",
    )
    iam_check_seconds: float = _setting(
        2.0,
        "With a Redis bus: how often a node compares its IAM version with the store's and "
        "re-reads the IAM state when a change did not reach it.",
    )
    channel_check_seconds: float = _setting(
        5.0,
        "With a Redis bus: how often a node compares the last event it applied in each channel "
        "it follows with the store's position; a channel still behind after the reorder window "
        "(its last events were committed but never published) has its sessions closed with "
        "4410.",
    )

    # --- AWS resources bellwire cannot reach ---------------------------------------------
    resources: ResourceMap = field(
        default_factory=ResourceMap,
        metadata={
            "help": "ARN=URL pairs mapping the Lambda functions, Kinesis streams, Lex bot aliases, "
            "Pinpoint applications and the default EventBridge bus that features name to URLs "
            "bellwire can reach: the "
            "[resources] table of the TOML file, BELLWIRE_RESOURCES (pairs separated by "
            "whitespace), a repeated --resource ARN=URL; later layers win per ARN.",
            "secret": False,
            "flag": "--resource",
        },
    )

    # --- streaming export, retention, expiration (docs/streaming.md) ---------------------
    export_batch_records: int = _setting(
        500, "Most outbox records the relay hands one sink at a time (one pipeline, one ack)."
    )
    export_poll_seconds: float = _setting(
        1.0,
        "How often the export relay looks for records written by other nodes (its own node's "
        "writes wake it at once).",
    )
    export_retry_max_seconds: float = _setting(
        60.0, "Longest wait between two tries of a failing sink (exponential backoff from 0.5 s)."
    )
    export_outbox_max_records: int = _setting(
        1_000_000,
        "Bound of the durable export outbox: beyond it, while a sink stays down, the oldest "
        "records are dropped (logged and counted in bellwire_export_dropped_total).",
    )
    sweep_interval_seconds: float = _setting(
        3600.0,
        "Retention and expiration sweep: once at start, then every so many seconds (AWS "
        "deletes expired resources within about 6 hours).",
    )
    sweep_batch: int = _setting(
        500,
        "Most messages, channels or users one sweep transaction deletes, and most messages "
        "of a deleted channel or sub-channel, or members of a deleted channel, one purge "
        "transaction deletes (the writer is held for one batch at a time).",
    )

    # --- webhooks (channel flow processors, and other features' endpoints) ----------------
    webhook_secret: str = _setting(
        "",
        "Shared secret of the HMAC-SHA256 signature on every webhook call "
        "(X-Bellwire-Signature, docs/webhooks.md); empty: generated on first start and kept "
        "in the data dir as webhook-secret (mode 0600).",
        secret=True,
    )
    webhook_timeout_seconds: float = _setting(
        10.0, "Time one webhook attempt may take, connecting included."
    )
    webhook_retries: int = _setting(
        2, "Attempts after the first for a webhook call that got no answer, a 429 or a 5xx."
    )
    webhook_max_in_flight: int = _setting(
        256,
        "Webhook calls in flight at once; a new channel-flow invocation over it fails at once "
        "with its processor's FallbackAction.",
    )
    word_filter_deny: str = _setting(
        "",
        "Comma-separated words for which the example processor at POST "
        "/processors/word-filter denies a message (docs/channel-flows.md).",
    )
    word_filter_mask: str = _setting(
        "", "Comma-separated words the example processor replaces with asterisks."
    )
    flow_max_processors: int = _setting(
        3,
        "Most processors a channel flow may have, invoked one after another in ExecutionOrder "
        "(1-3, the model's bound; AWS's default quota is 1).",
    )
    flow_callback_window_seconds: int = _setting(
        172800,
        "How long a channel flow processor has to call ChannelFlowCallback (AWS: 48 hours); "
        "after it the FallbackAction applies and a late callback is Forbidden.",
    )

    # --- IAM and STS ---------------------------------------------------------------------
    sts_min_duration_seconds: int = _setting(
        900,
        "Shortest DurationSeconds STS accepts for temporary credentials (AWS: 900; lower it "
        "only to test expiry).",
    )

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 0 <= self.port < 65536:
            problems.append(f"port must be 0-65535 (0: any free port), got {self.port}")
        if not (len(self.account_id) == 12 and self.account_id.isdigit()):
            problems.append(f"account_id must be 12 digits, got {self.account_id!r}")
        if not self.region or not all(c.isalnum() or c == "-" for c in self.region):
            problems.append(f"region {self.region!r} is not a region name")
        if (self.tls_cert is None) != (self.tls_key is None):
            problems.append("tls_cert and tls_key must be given together")
        if self.dev_tls and self.tls_cert is not None:
            problems.append("dev_tls and tls_cert exclude each other")
        try:
            CorsPolicy.parse(self.cors_allowed_origins)
        except OriginListError as exc:
            problems.append(f"cors_allowed_origins: {exc}")
        try:
            parse_trusted(self.console_trusted_proxies)
        except ValueError as exc:
            problems.append(f"console_trusted_proxies: {exc}")
        if self.store and not self.store.startswith(("postgresql://", "postgres://")):
            problems.append("store must be empty (SQLite) or a postgresql:// URL")
        if self.sqlite_synchronous not in ("full", "normal"):
            problems.append("sqlite_synchronous must be 'full' or 'normal'")
        if self.log_level not in ("debug", "info", "warning", "error"):
            problems.append("log_level must be debug, info, warning or error")
        if self.log_format not in ("text", "json"):
            problems.append("log_format must be 'text' or 'json'")
        if self.store_start_wait_seconds < 0:
            problems.append("store_start_wait_seconds must not be negative")
        if self.store_timeout_seconds < 0:
            problems.append("store_timeout_seconds must not be negative")
        if bool(self.root_access_key_id) != bool(self.root_secret_access_key):
            problems.append("root_access_key_id and root_secret_access_key go together")
        for name in (
            "max_body_bytes",
            "store_readers",
            "store_max_batch",
            "store_writers",
            "idempotency_window_seconds",
            "max_sessions_per_user",
            "connect_burst",
            "session_buffer_bytes",
            "max_client_frame_bytes",
            "prefetch_channels",
            "prefetch_messages",
            "prefetch_memberships",
            "sts_min_duration_seconds",
            "max_unauthenticated_connections",
            "listen_backlog",
            "console_session_seconds",
            "console_signin_failures",
            "export_batch_records",
            "export_outbox_max_records",
            "sweep_batch",
            "webhook_max_in_flight",
            "flow_callback_window_seconds",
            "workers",
            "elastic_max_memberships",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        for name in (
            "connects_per_user_per_second",
            "ping_interval_seconds",
            "ping_timeout_seconds",
            "clock_skew_seconds",
            "http_head_timeout_seconds",
            "http_body_timeout_seconds",
            "http_keepalive_timeout_seconds",
            "connect_upgrade_timeout_seconds",
            "export_poll_seconds",
            "export_retry_max_seconds",
            "sweep_interval_seconds",
            "webhook_timeout_seconds",
            "bus_reorder_window_seconds",
            "bus_admin_timeout_seconds",
            "bus_max_connections",
            "bus_pool_wait_seconds",
            "session_lease_seconds",
            "iam_check_seconds",
            "channel_check_seconds",
        ):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if not 1 <= self.connect_max_presign_seconds <= 604800:
            problems.append("connect_max_presign_seconds must be 1-604800 (one week)")
        if not 0 <= self.webhook_retries <= 10:
            problems.append("webhook_retries must be 0-10")
        if self.workers > 1:
            if not self.store:
                problems.append(
                    "workers above 1 need a PostgreSQL store (--store postgresql://...): "
                    "SQLite takes one writer per database file, so workers would wait on "
                    "each other's locks"
                )
            if not self.bus:
                problems.append(
                    "workers above 1 need a Redis bus (--bus redis://...): each worker is a "
                    "node and must hear the others' commits"
                )
            if self.port == 0:
                problems.append("workers above 1 need a fixed port (they share it), not 0")
        if self.bus and not self.bus.startswith(("redis://", "rediss://", "unix://")):
            problems.append("bus must be empty or a redis://, rediss:// or unix:// URL")
        if not self.bus_prefix or any(c.isspace() or c in "{}" for c in self.bus_prefix):
            problems.append("bus_prefix must be a non-empty name without spaces or braces")
        if self.elastic_channels_per_app_instance < 0:
            problems.append("elastic_channels_per_app_instance must not be negative")
        if not 1 <= self.flow_max_processors <= 3:
            problems.append("flow_max_processors must be 1, 2 or 3 (the model's bound)")
        if self.elastic_max_sub_channels < 2:
            problems.append("elastic_max_sub_channels must be at least 2 (the model's minimum)")
        if not 0 <= self.session_flush_interval_seconds <= 10:
            problems.append("session_flush_interval_seconds must be 0-10")
        if self.prefetch_cache_bytes < 0:
            problems.append("prefetch_cache_bytes must not be negative")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def tls(self) -> bool:
        """Whether the server speaks https and wss."""
        return self.tls_cert is not None or self.dev_tls

    @property
    def endpoint_host(self) -> str:
        """The bare host[:port] clients reach the messaging session on (no scheme, no path)."""
        if self.public_endpoint:
            return self.public_endpoint
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        default_port = 443 if self.tls else 80
        return host if self.port == default_port else f"{host}:{self.port}"


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _coerce(name: str, raw: Any) -> Any:
    """Turn a TOML, environment or flag value into the field's type, naming the field on error."""
    kind = FIELDS[name].type
    try:
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in _BOOLS:
                return _BOOLS[raw.strip().lower()]
            raise ValueError(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            word = str(raw).strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise ValueError(raw)
        if kind == "ResourceMap":
            return raw if isinstance(raw, ResourceMap) else ResourceMap.parse(raw)
        if kind == "Path":
            return Path(str(raw))
        if kind == "Path | None":
            return Path(str(raw)) if raw not in (None, "") else None
        if not isinstance(raw, str):
            raise ValueError(raw)
        return raw
    except ResourceError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {raw!r} is not a valid {kind}") from None


def load(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from the layers; a later layer wins. Unknown keys are errors, not ignored."""
    values: dict[str, Any] = {}
    env = os.environ if environ is None else environ
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
    resources = ResourceMap()
    if config_file is not None:
        values.update(_from_toml(config_file))
        resources = values.pop("resources", resources)
    for name in FIELDS:
        key = ENV_PREFIX + name.upper()
        if key in env:
            values[name] = _coerce(name, env[key])
    resources = resources.merged(values.pop("resources", ResourceMap()))
    for name, raw in (overrides or {}).items():
        if name not in FIELDS:
            raise ConfigError(f"unknown setting {name!r}")
        if raw is not None:
            values[name] = _coerce(name, raw)
    # A map merges across the layers (a flag overrides one ARN of the file, not all of them).
    values["resources"] = resources.merged(values.pop("resources", ResourceMap()))
    return Settings(**values)


# BELLWIRE_* names that are not settings but are read on purpose: the config file's path, and
# what the JavaScript interop scripts (tests/interop/js) read from their environment.
OTHER_VARIABLES = frozenset(
    ENV_PREFIX + name
    for name in (
        "CONFIG",
        "URL",
        "ENDPOINT_HOST",
        "ACCESS_KEY_ID",
        "SECRET_ACCESS_KEY",
        "USER_ARN",
        "PREFETCH",
        "SESSION_SECRET",
        "RECONNECT_TIMEOUT_MS",
        "CHROMIUM",  # the browser tests: which chromium binary
        "PROFILE",  # the browser tests: a fresh --user-data-dir
        "TEST_STORE",  # bellwire.testing: run its servers on PostgreSQL (databases made from it)
        "TEST_POSTGRES",  # bellwire.testing: where PostgreSQL tests create their databases
        "TEST_SKIP_POSTGRES",  # bellwire.testing: 1 skips the PostgreSQL tests explicitly
    )
)


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each ``BELLWIRE_*`` variable that no setting reads (a typo is otherwise
    silently ignored), with the closest setting's variable when one is near."""
    env = os.environ if environ is None else environ
    known = [ENV_PREFIX + name.upper() for name in FIELDS]
    warnings = []
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX) or key in OTHER_VARIABLES or key in known:
            continue
        close = difflib.get_close_matches(key.upper(), known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"unknown environment variable {key} is ignored{hint}")
    return warnings


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    server = document.get("server", {})
    if not isinstance(server, dict):
        raise ConfigError(f"{path}: [server] must be a table")
    unknown = sorted(set(server) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) in [server]: {', '.join(unknown)}")
    values = {name: _coerce(name, raw) for name, raw in server.items()}
    if "resources" in document:
        table = document["resources"]
        if not isinstance(table, dict):
            raise ConfigError(f'{path}: [resources] must be a table of "ARN" = "URL"')
        values["resources"] = _coerce("resources", table)
    return values


def load_document(path: Path | None) -> dict[str, Any]:
    """The whole TOML document (for sections other than [server], such as [iam])."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot load {path}: {exc}") from None


def flag_of(name: str) -> str:
    """The command-line flag of a setting (``--resource`` is repeated, once per ARN)."""
    return str(FIELDS[name].metadata.get("flag", "--" + name.replace("_", "-")))


def markdown() -> str:
    """docs/configuration.md, generated from the fields so the two cannot drift apart."""
    lines = [
        "# Configuration",
        "",
        "Layers, later wins: defaults < the `[server]` table of the TOML file (`--config`, or "
        "`BELLWIRE_CONFIG`) < `BELLWIRE_*` environment variables < command-line flags. Unknown "
        "keys are errors. `bellwire checkconfig` prints the result (secrets masked) without "
        "starting. This file is generated from `bellwire/config.py`.",
        "",
        "| setting | flag | environment | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, f in FIELDS.items():
        flag = "(secret: none)" if f.metadata.get("secret") else f"`{flag_of(name)}`"
        default = getattr(Settings(), name)
        lines.append(
            f"| `{name}` | {flag} | `{ENV_PREFIX}{name.upper()}` | `{default!s}` "
            f"| {f.metadata['help']} |"
        )
    return "\n".join(lines) + "\n"
