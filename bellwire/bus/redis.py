"""The Redis bus of the multi-node mode: Pub/Sub for fan-out, Lua for cluster-wide limits.

Why Pub/Sub and not Streams (docs/protocol-decisions.md, "The Redis bus"): the store is the
truth and sessions catch up from it, so the bus needs speed and *detectable* loss, not replay.
Redis never drops a Pub/Sub message for a subscriber that stays connected: a subscriber that
falls behind its output buffer limit is disconnected. So every loss is a lost connection,
which this module reports (status False), and the channels' sequence numbers and the IAM
version are a second check on top.

- One Pub/Sub channel (``<prefix>:bus``) carries every batch (:mod:`bellwire.bus.wire`). A node
  delivers its own batches to its listeners synchronously (as the memory bus does) and skips
  them when Redis echoes them back.
- One task publishes, in order, pipelining whatever queued meanwhile; a publish that fails is
  retried after the connection is back (receivers drop duplicates by sequence and version).
  If the outbox overflows while Redis is unreachable, the node publishes a *resync* once it
  is back: every node then treats it as a lost connection.
- One task subscribes, pings every ``ping_interval`` and declares the connection lost when no
  answer came for three intervals (a silent network), or on any error; it then reconnects with
  backoff. Listeners of :meth:`on_status` hear False on a loss and True once subscribed again.
- The operator's cluster-wide questions (:meth:`RedisBus.ask_sessions`): an ask goes on
  ``<prefix>:admin`` (the same subscription), each node pushes its answer on the ask's reply
  key, the asker pops answers until every live node answered or the timeout. Live nodes are
  the hash ``<prefix>:nodes`` (node id -> when last seen, by Redis's clock, and its name),
  which each node refreshes every ``ping_interval``; an entry older than ``NODE_LIVE_MS`` is
  a node gone.
- Whether each node's store answers (:meth:`RedisBus.store_answered`, the hash
  ``<prefix>:store``: node id -> when its store last answered, by Redis's clock), so that a
  node whose store does not answer can tell an outage of its own from everyone's
  (:meth:`RedisBus.store_answers_elsewhere`; docs/protocol-decisions.md, "Several nodes").
- :class:`RedisLimits`: the per-user session registry with expiring leases, the connect
  token bucket and the console's failed sign-ins per client address, each one atomic Lua
  script.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from bellwire.bus.base import Admission, Listener, SessionsProvider, StatusListener
from bellwire.bus.memory import deliver
from bellwire.bus.wire import (
    RESYNC,
    BusMessage,
    ClusterSessions,
    Resync,
    Sent,
    SessionsAnswer,
    SessionsAsk,
    WireError,
    decode,
    decode_answer,
    decode_ask,
    encode_answer,
    encode_ask,
    encode_batches,
    merge,
)

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 10_000  # batches kept while Redis is unreachable; beyond, a resync follows
BACKOFF = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
NODE_LIVE_MS = 10_000  # a node not seen for this long is gone (killed, or cut off)
REPLY_TTL_MS = 30_000  # an ask's reply key outlives its asker's wait, then goes
RENEW_BATCH = 500  # leases renewed by one script call (Redis runs nothing else meanwhile)
RENEW_CALLS = 20  # script calls per round trip
# Another node's store counts as answering while it said so within this long (three of the
# server's store checks: one late check is not an outage).
STORE_FRESH_US = 3_000_000

# KEYS: the nodes hash. ARGV: node id, name. Stamped with Redis's clock (nodes' clocks differ).
_ANNOUNCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], tostring(now) .. ' ' .. ARGV[2])
return 0
"""

# KEYS: the nodes hash. ARGV: how long a node stays live without a refresh (ms). Returns the
# live nodes as [id, name, ...]; the entries of nodes gone are removed.
_LIVE_NODES = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local space = string.find(v, ' ')
  local seen = tonumber(string.sub(v, 1, space - 1))
  if seen + tonumber(ARGV[1]) >= now then
    table.insert(out, all[i]); table.insert(out, string.sub(v, space + 1))
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
"""

# KEYS: the store hash. ARGV: node id, 1 if its store answered. Returns Redis's clock (µs: two
# nodes' reports a millisecond apart must keep their order).
_STORE_SEEN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], tostring(now))
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return now
"""

# KEYS: the store hash. ARGV: node id, a moment (µs), how long an answer stays fresh (µs).
# Returns 1 if another node's store answered after that moment and recently; entries of nodes
# gone long ago are removed.
_STORE_ELSEWHERE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local all = redis.call('HGETALL', KEYS[1])
local found = 0
for i = 1, #all, 2 do
  local seen = tonumber(all[i + 1])
  if all[i] ~= ARGV[1] and seen > tonumber(ARGV[2]) and seen + tonumber(ARGV[3]) >= now then
    found = 1
  elseif seen + 60000000 < now then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return found
"""


def node_id() -> str:
    return secrets.token_hex(6)


class RedisBus:
    remote = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "bellwire",
        node: str | None = None,
        name: str | None = None,
        ping_interval: float = 1.0,
        max_connections: int = 100,
        pool_wait: float = 2.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.node = node or node_id()
        self.name = name or self.node
        self.channel = f"{prefix}:bus"
        self.admin_channel = f"{prefix}:admin"
        self.nodes_key = f"{prefix}:nodes"
        self.store_key = f"{prefix}:store"
        self._store_down_since: int | None = None  # Redis's clock (µs)
        self._sessions: SessionsProvider | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self.ping_interval = ping_interval
        self._listeners: list[Listener] = []
        self._status: list[StatusListener] = []
        # Batches (one commit's messages each), encoded when they leave: those of a burst
        # leave together, as one document.
        self._outbox: deque[Sequence[Sent]] = deque()
        self._overflowed = False
        self._in_flight = 0  # batches taken from the outbox, not yet acknowledged by Redis
        self._wake = asyncio.Event()
        self._connected = False
        self._ever_connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        # Commands (publish, the limits' scripts): a short timeout, one retry. A blocking pool:
        # in a connect storm every connect holds a connection for a moment, and a full pool
        # must make the next one wait its turn (up to ``pool_wait``), not fail at once with
        # "Too many connections" as redis-py's default pool does.
        self.client: Redis = Redis.from_pool(
            BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=pool_wait,
                socket_connect_timeout=2.0,
                socket_timeout=2.0,
                retry=Retry(NoBackoff(), 1),
            )
        )
        self._announce = self.client.register_script(_ANNOUNCE)
        self._live_nodes = self.client.register_script(_LIVE_NODES)
        self._store_seen = self.client.register_script(_STORE_SEEN)
        self._store_elsewhere = self.client.register_script(_STORE_ELSEWHERE)
        self.losses = 0  # lost connections, for metrics and tests
        self.received = 0

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def outbox(self) -> int:
        """Batches not yet published."""
        return len(self._outbox) + self._in_flight

    async def start(self, wait: float = 5.0) -> None:
        """Start publishing and subscribing; wait up to ``wait`` seconds for the first
        subscription (the node starts without it, not ready, and keeps trying)."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._subscriber()), loop.create_task(self._publisher())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ever_connected.wait(), wait)
        if not self._connected:
            log.warning("bus %s: not reachable yet; retrying", _redacted(self.url))

    def publish(self, messages: Sequence[BusMessage]) -> None:
        deliver(self._listeners, messages)
        self._send(tuple(messages))  # the caller's list may change before it leaves

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def on_status(self, listener: StatusListener) -> None:
        self._status.append(listener)

    async def close(self) -> None:
        self._closing = True
        # What is still queued goes out first (the drain publishes nothing after this).
        if self._outbox and self._connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed(), 2.0)
        for task in [*self._tasks, *self._answering]:
            task.cancel()
        for task in [*self._tasks, *self._answering]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listeners.clear()
        with contextlib.suppress(RedisError, OSError):  # a node stopping is gone at once
            await self.client.hdel(self.nodes_key, self.node)
            await self.client.hdel(self.store_key, self.node)
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose()

    async def _flushed(self) -> None:
        while self._outbox or self._in_flight:
            await asyncio.sleep(0.01)

    # --- publishing -----------------------------------------------------------------------------

    def _send(self, messages: Sequence[Sent]) -> None:
        self._outbox.append(messages)
        self._trim()
        self._wake.set()

    def _trim(self) -> None:
        while len(self._outbox) > OUTBOX_LIMIT:
            self._outbox.popleft()
            self._overflowed = True

    async def _publisher(self) -> None:
        attempt = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                if self._overflowed:
                    # Some batches never left: every node must assume it missed something.
                    self._overflowed = False
                    self._outbox.appendleft([RESYNC])
                batch = list(self._outbox)
                self._outbox.clear()
                self._in_flight = len(batch)
                try:
                    documents = encode_batches(self.node, batch)
                except Exception:  # a bug: the other nodes must not miss it silently
                    log.exception("bus: batches do not encode; every node resynchronizes")
                    self._in_flight = 0
                    self._overflowed = True
                    continue
                try:
                    async with self.client.pipeline(transaction=False) as pipe:
                        for data in documents:
                            pipe.publish(self.channel, data)
                        await pipe.execute()
                except (RedisError, OSError) as exc:
                    self._in_flight = 0
                    # Back in front of what was queued meanwhile, in order; retried later.
                    self._outbox.extendleft(reversed(batch))
                    self._trim()
                    log.debug("bus publish failed (%s); retrying", exc)
                    await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                    attempt += 1
                    continue
                self._in_flight = 0
                attempt = 0

    # --- subscribing ----------------------------------------------------------------------------

    def _set_status(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        if connected:
            self._ever_connected.set()
            log.info("bus %s: subscribed (node %s)", _redacted(self.url), self.node)
        else:
            self.losses += 1
            log.warning("bus %s: connection lost", _redacted(self.url))
        for listener in list(self._status):
            try:
                listener(connected)
            except Exception:
                log.exception("bus status listener failed")

    async def _subscriber(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._closing:
            # No silent reconnects inside redis-py: a reconnect must be seen, since messages
            # published meanwhile are gone.
            client: Redis = Redis.from_url(
                self.url, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0)
            )
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel, self.admin_channel)
                answered = pinged = loop.time()
                # Pings sent since anything came: the bus is lost when three went unanswered
                # *and* three intervals passed. Time alone is not enough: a loop too busy to
                # read (a connect storm) finds the pongs waiting once it reads again, and a
                # read that times out in the same turn as its data arrives reads nothing.
                unanswered = 0
                while True:
                    message = await pubsub.get_message(timeout=self.ping_interval / 2)
                    now = loop.time()
                    if message is not None:
                        answered = now
                        unanswered = 0
                        kind = message["type"]
                        if kind == "subscribe":
                            attempt = 0
                            self._set_status(True)
                            self._spawn(self._announce_node())
                        elif kind == "message" and _text(message["channel"]) == self.channel:
                            self._received(message["data"])
                        elif kind == "message":
                            self._asked(message["data"])
                    if now - pinged >= self.ping_interval:
                        pinged = now
                        unanswered += 1
                        await pubsub.ping()
                        self._spawn(self._announce_node())
                    if unanswered > 3 and now - answered > 3 * self.ping_interval:
                        raise ConnectionError("the bus stopped answering pings")
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ConnectionError) as exc:
                log.debug("bus subscription ended: %s", exc)
            finally:
                if not self._closing:  # a node shutting down has drained its sessions already
                    self._set_status(False)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    def _received(self, data: bytes) -> None:
        try:
            batch = decode(data)
        except WireError as exc:
            # Whatever it carried is lost to this node: act as on a lost connection.
            log.error("bus: a batch does not decode (%s); resynchronizing", exc)
            self._set_status(False)
            self._set_status(True)
            return
        if batch.node == self.node:
            return  # delivered when it was published
        self.received += 1
        if RESYNC in batch.messages:
            log.warning("bus: node %s lost outgoing batches; resynchronizing", batch.node)
            self._set_status(False)
            self._set_status(True)
            return
        deliver(self._listeners, [m for m in batch.messages if not isinstance(m, Resync)])

    # --- the operator's questions ----------------------------------------------------------------

    def answer_sessions(self, provider: SessionsProvider) -> None:
        self._sessions = provider

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _announce_node(self) -> None:
        try:
            await self._announce(keys=[self.nodes_key], args=[self.node, self.name])
        except (RedisError, OSError) as exc:  # the next ping tries again
            log.debug("bus: announcing node %s failed: %s", self.node, exc)

    def _asked(self, data: bytes) -> None:
        try:
            ask = decode_ask(data)
        except WireError as exc:  # another version's question: not ours to answer
            log.warning("bus: an admin ask does not decode (%s)", exc)
            return
        if ask.node == self.node or self._sessions is None:
            return  # the asker answered itself
        try:
            answer = self._sessions(ask)
        except Exception:
            log.exception("bus: answering an admin ask failed")
            return
        self._spawn(self._reply(ask.reply, encode_answer(answer)))

    async def _reply(self, key: str, data: bytes) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.rpush(key, data)
                pipe.pexpire(key, REPLY_TTL_MS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("bus: answering an admin ask failed: %s", exc)

    async def store_answered(self, answered: bool) -> None:
        """Record whether this node's store answered just now; the first time it did not,
        this node's outage begins (by Redis's clock)."""
        try:
            now = int(
                await self._store_seen(keys=[self.store_key], args=[self.node, int(answered)])
            )
        except (RedisError, OSError) as exc:  # the next check tries again
            log.debug("bus: recording the store's state failed: %s", exc)
            return
        if answered:
            self._store_down_since = None
        elif self._store_down_since is None:
            self._store_down_since = now

    async def store_answers_elsewhere(self) -> bool:
        """Whether another node's store answered since this node's stopped answering (and
        within ``STORE_FRESH_US``). False when Redis cannot tell: staying ready is the safer
        mistake (docs/protocol-decisions.md, "Several nodes")."""
        since = self._store_down_since
        if since is None:
            return False
        try:
            found = await self._store_elsewhere(
                keys=[self.store_key], args=[self.node, since, STORE_FRESH_US]
            )
        except (RedisError, OSError) as exc:
            log.debug("bus: reading the other nodes' store state failed: %s", exc)
            return False
        return bool(int(found))

    async def live_nodes(self) -> dict[str, str]:
        """The nodes seen within ``NODE_LIVE_MS``: id -> name."""
        raw = await self._live_nodes(keys=[self.nodes_key], args=[NODE_LIVE_MS])
        items = [_text(x) for x in raw]
        return dict(zip(items[::2], items[1::2], strict=True))

    async def ask_sessions(
        self, user_arn: str | None, start: int, limit: int, timeout: float
    ) -> ClusterSessions:
        ask_id = secrets.token_hex(8)
        ask = SessionsAsk(
            ask_id, self.node, f"{self.prefix}:admin:reply:{ask_id}", user_arn, start, limit
        )
        answers: list[SessionsAnswer] = []
        if self._sessions is not None:
            answers.append(self._sessions(ask))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            live = await self.live_nodes()
            if self._sessions is not None:
                live.setdefault(self.node, self.name)  # not registered yet: it answered anyway
            else:
                live.pop(self.node, None)  # nothing to answer with: not waited for
            await self.client.publish(self.admin_channel, encode_ask(ask))
            while not live.keys() <= {a.node for a in answers}:
                left = deadline - loop.time()
                if left <= 0:
                    break
                # Short pops: the command connection's socket timeout is 2 s.
                popped = await self.client.blpop([ask.reply], timeout=min(left, 1.0))
                if popped is None:
                    continue
                try:
                    answer = decode_answer(popped[1])
                except WireError as exc:
                    log.warning("bus: an admin answer does not decode (%s)", exc)
                    continue
                if answer.ask_id == ask_id:
                    answers.append(answer)
            with contextlib.suppress(RedisError, OSError):
                await self.client.delete(ask.reply)
        except (RedisError, OSError) as exc:
            log.warning("bus: asking the other nodes failed: %s", exc)
            return merge(answers, {"?": "the other nodes (the bus is not reachable)"})
        return merge(answers, live)


# --- cluster-wide limits ------------------------------------------------------------------------

_TIME_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: bucket. ARGV: rate per second, burst. Returns 1 when a token was taken.
_TAKE_TOKEN = (
    _TIME_MS
    + """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(b[1]), tonumber(b[2])
if tokens == nil or stamp == nil then tokens = burst; stamp = now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate / 1000)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return ok
"""
)

# A user's sessions: KEYS[1] a sorted set (session id by connect time), KEYS[2] a hash
# (session id -> "<lease expiry ms> <node>"), KEYS[3] a hash of the sessions replaced lately
# (session id -> holder), so that a renewal tells "replaced" from "expired". Expired leases are
# dropped first; a session with the same id, then the oldest ones beyond the limit, are
# replaced. ARGV: session id, lease holder ("<node>/<token>", one per session), limit, lease
# ms. Returns the replaced sessions as [id, holder, id, holder, ...].
_ADMIT = (
    _TIME_MS
    + """
local sid, node, limit, lease = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local replaced = {}
local function owner(v) return string.sub(v, string.find(v, ' ') + 1) end
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('HGET', KEYS[2], m)
  local expiry = v and tonumber(string.sub(v, 1, string.find(v, ' ') - 1))
  if not expiry or expiry < now then
    redis.call('ZREM', KEYS[1], m); redis.call('HDEL', KEYS[2], m)
  elseif m == sid then
    table.insert(replaced, m); table.insert(replaced, owner(v))
    redis.call('ZREM', KEYS[1], m); redis.call('HDEL', KEYS[2], m)
  end
end
while redis.call('ZCARD', KEYS[1]) >= limit do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  table.insert(replaced, oldest); table.insert(replaced, owner(redis.call('HGET', KEYS[2], oldest)))
  redis.call('ZREM', KEYS[1], oldest); redis.call('HDEL', KEYS[2], oldest)
end
for i = 1, #replaced, 2 do redis.call('HSET', KEYS[3], replaced[i], replaced[i + 1]) end
if #replaced > 0 then redis.call('PEXPIRE', KEYS[3], lease * 2) end
redis.call('ZADD', KEYS[1], now, sid)
redis.call('HSET', KEYS[2], sid, tostring(now + lease) .. ' ' .. node)
redis.call('PEXPIRE', KEYS[1], lease * 2); redis.call('PEXPIRE', KEYS[2], lease * 2)
return replaced
"""
)

# Renew leases, many at once (one call per RENEW_BATCH sessions: a node holding 50,000
# sessions renews them in a few round trips, and its loop packs a few commands, not one per
# session). KEYS: per session its user's three keys (as _ADMIT's); ARGV: lease ms, then per
# session its id and holder. Returns per session 1 (held) or 0: another session holds it now,
# or a newer session replaced it. A lease that merely expired (its node could not renew it in
# time: Redis unreachable, or too busy) is taken again, since its session is still open:
# closing it would turn a slow Redis into a wave of closed sessions. It then counts from now.
_RENEW = (
    _TIME_MS
    + """
local lease = tonumber(ARGV[1])
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local zs, hs, rs = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local sid, holder = ARGV[2 * i + 2], ARGV[2 * i + 3]
  local v = redis.call('HGET', hs, sid)
  local held = 1
  if not v then
    if redis.call('HGET', rs, sid) == holder then held = 0 else redis.call('ZADD', zs, now, sid) end
  elseif string.sub(v, string.find(v, ' ') + 1) ~= holder then
    held = 0
  end
  if held == 1 then
    redis.call('HSET', hs, sid, tostring(now + lease) .. ' ' .. holder)
    redis.call('PEXPIRE', zs, lease * 2)
    redis.call('PEXPIRE', hs, lease * 2)
  end
  out[i + 1] = held
end
return out
"""
)

# Release a lease (ARGV: id, holder): only the session that holds it gives it back.
_RELEASE = """
local v = redis.call('HGET', KEYS[2], ARGV[1])
if v and string.sub(v, string.find(v, ' ') + 1) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('HDEL', KEYS[2], ARGV[1])
end
return 0
"""


# The console's failed sign-ins from one client address: KEYS[1] a sorted set of their times
# (ms), the latest ``failures`` kept. ARGV: failures allowed, window ms, and a member to add
# (empty: only ask). Returns the ms to wait before the next sign-in (0: it may be tried now), as
# console.security.SignInThrottle counts them in one process.
_SIGN_IN = (
    _TIME_MS
    + """
local failures, window, failed = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if failed ~= '' then
  redis.call('ZADD', KEYS[1], now, failed)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -failures - 1)
  redis.call('PEXPIRE', KEYS[1], window)
end
if redis.call('ZCARD', KEYS[1]) < failures then return 0 end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], -failures, -failures, 'WITHSCORES')[2])
return math.max(0, oldest + window - now)
"""
)


class _Coalesced:
    """Script calls made while others are on their way go to Redis together, in one pipeline
    on one connection: in a connect storm every connect runs two scripts, and one pooled
    connection each (hundreds at once) exhausted the pool. At most ``pipelines`` are in
    flight; each takes whatever queued meanwhile (up to ``most``)."""

    def __init__(self, client: Redis, *, pipelines: int = 4, most: int = 1000) -> None:
        self._client = client
        self._pipelines = pipelines
        self._most = most
        self._queue: deque[tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]] = deque()
        self._running: set[asyncio.Task[None]] = set()

    def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((script, keys, args, future))
        if len(self._running) < self._pipelines:
            task = loop.create_task(self._send())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return future

    async def _send(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._most, len(self._queue)))]
            batch = [call for call in batch if not call[3].done()]  # the caller gave up
            if not batch:
                continue
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for script, keys, args, _ in batch:
                        await script(keys=keys, args=args, client=pipe)
                    results: list[Any] = await pipe.execute(raise_on_error=False)
            except Exception as exc:  # the connection: every call of the batch failed
                for *_, future in batch:
                    if not future.done():
                        # One exception each: a shared one would gather every raiser's frames.
                        failure = RedisError(f"{type(exc).__name__}: {exc}")
                        failure.__cause__ = exc
                        future.set_exception(failure)
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


class RedisLimits:
    """Sessions per user and the connect rate, counted for the whole cluster in Redis.

    Each session holds a lease that its node renews every third of ``lease_seconds``; the
    leases of a node that died expire, so its sessions stop counting within ``lease_seconds``.
    """

    def __init__(self, bus: RedisBus, *, lease_seconds: float = 30.0) -> None:
        self._bus = bus
        self.node = bus.node
        self.lease_ms = max(1000, int(lease_seconds * 1000))
        client = bus.client
        self._take = client.register_script(_TAKE_TOKEN)
        self._admit = client.register_script(_ADMIT)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._sign_in = client.register_script(_SIGN_IN)
        self._releases: set[asyncio.Task[None]] = set()
        self._coalesced = _Coalesced(client)

    def _keys(self, user_arn: str) -> list[str]:
        p = self._bus.prefix
        # One hash tag per user: both keys of a user live on one Redis Cluster slot.
        return [
            f"{p}:sessions:{{{user_arn}}}",
            f"{p}:leases:{{{user_arn}}}",
            f"{p}:replaced:{{{user_arn}}}",
        ]

    async def take_connect_token(self, user_arn: str, rate: float, burst: int) -> bool:
        key = f"{self._bus.prefix}:connects:{{{user_arn}}}"
        return bool(await self._coalesced.call(self._take, [key], [rate, burst]))

    async def sign_in_wait(
        self, address: str, failures: int, window: float, *, failed: bool = False
    ) -> float:
        """Seconds before the next console sign-in from ``address`` may be tried, counting the
        failures of every node (noting one more first when ``failed``). 0 when Redis does not
        answer: each process's own count still holds (console.security.SignInThrottle)."""
        key = f"{self._bus.prefix}:signin:{{{address}}}"
        member = secrets.token_hex(8) if failed else ""
        try:
            ms = await self._coalesced.call(
                self._sign_in, [key], [failures, int(window * 1000), member]
            )
        except (RedisError, OSError) as exc:
            log.warning("console sign-ins counted by this process only: %s", exc)
            return 0.0
        return int(ms) / 1000

    async def admit(self, user_arn: str, session_id: str, limit: int) -> Admission:
        """Register a session; its lease and the sessions it replaces (id, node)."""
        lease = f"{self.node}/{secrets.token_hex(4)}"
        raw = await self._coalesced.call(
            self._admit, self._keys(user_arn), [session_id, lease, limit, self.lease_ms]
        )
        items = [x.decode() if isinstance(x, bytes) else str(x) for x in raw]
        replaced = [
            (sid, holder.partition("/")[0])
            for sid, holder in zip(items[::2], items[1::2], strict=True)
        ]
        return Admission(lease, replaced)

    def release(self, user_arn: str, session_id: str, lease: str) -> None:
        """Give the lease back (in the background: a session's end waits for nothing)."""
        task = asyncio.get_running_loop().create_task(
            self._release_one(user_arn, session_id, lease)
        )
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def drain(self, within: float = 2.0) -> None:
        """Wait for the leases being given back (shutdown)."""
        if self._releases:
            await asyncio.wait(list(self._releases), timeout=within)

    async def _release_one(self, user_arn: str, session_id: str, lease: str) -> None:
        try:
            await self._coalesced.call(self._release, self._keys(user_arn), [session_id, lease])
        except (RedisError, OSError) as exc:  # the lease expires by itself
            log.debug("releasing a session lease failed: %s", exc)

    async def renew(self, leases: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        """Renew leases (user, session id, lease); those no longer held."""
        leases = list(leases)
        lost: list[tuple[str, str, str]] = []
        for start in range(0, len(leases), RENEW_BATCH * RENEW_CALLS):
            part = leases[start : start + RENEW_BATCH * RENEW_CALLS]
            chunks = [part[i : i + RENEW_BATCH] for i in range(0, len(part), RENEW_BATCH)]
            async with self._bus.client.pipeline(transaction=False) as pipe:
                for chunk in chunks:
                    keys: list[str] = []
                    args: list[str | int] = [self.lease_ms]
                    for user_arn, session_id, lease in chunk:
                        keys += self._keys(user_arn)
                        args += (session_id, lease)
                    await self._renew(keys=keys, args=args, client=pipe)
                results: list[Any] = await pipe.execute()
            for chunk, held in zip(chunks, results, strict=True):
                lost += [s for s, h in zip(chunk, held, strict=True) if not h]
        return lost


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _redacted(url: str) -> str:
    """The URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + sep + rest
