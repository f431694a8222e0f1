"""The Bus interface: what one node learns from a commit travels to every node.

The bus carries fan-out and cache invalidation, never authoritative state (that is in the
store): channel and user events for the gateways, IAM changes for the credential indexes, and
the operator's close-sessions command. A node that misses messages must find out (a channel's
sequence, the IAM version, the bus connection's state) and recover from the store, or close the
sessions that could have missed something with a reconnectable code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bellwire.bus.wire import BusMessage, ClusterSessions, SessionsAnswer, SessionsAsk

Listener = Callable[[BusMessage], None]
# A node's own sessions for an operator's ask (synchronous: it reads the hub's index).
SessionsProvider = Callable[[SessionsAsk], SessionsAnswer]
# Told False when the node may have missed messages (the bus connection was lost), True once
# it receives again.
StatusListener = Callable[[bool], None]


class Bus(Protocol):
    @property
    def remote(self) -> bool:
        """Whether other nodes publish on this bus (the in-process one: no)."""
        ...

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    def publish(self, messages: Sequence[BusMessage]) -> None:
        """Hand ``messages`` (one commit's, in commit order) to this node's listeners now,
        synchronously and in order, and to every other node."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]: ...
    def on_status(self, listener: StatusListener) -> None: ...
    async def close(self) -> None: ...

    def answer_sessions(self, provider: SessionsProvider) -> None:
        """How this node answers an operator's "which sessions are open" ask."""
        ...

    async def store_answered(self, answered: bool) -> None:
        """Tell the other nodes whether this node's store answered just now."""
        ...

    async def store_answers_elsewhere(self) -> bool:
        """Whether another node's store answered since this node's stopped answering: this
        node's outage is its own, and a balancer should send traffic elsewhere."""
        ...

    async def ask_sessions(
        self, user_arn: str | None, start: int, limit: int, timeout: float
    ) -> ClusterSessions:
        """Every node's sessions (this node's at once), waiting up to ``timeout`` seconds
        for the others; which nodes answered and which did not."""
        ...


@dataclass(frozen=True, slots=True)
class Admission:
    lease: str  # what the session gives back when it ends
    replaced: list[tuple[str, str]]  # the sessions it replaces: (session id, node)


class ClusterLimits(Protocol):
    """Per-user limits, and the console's sign-in throttle per client address, counted across
    every node (the Redis bus provides them; one node alone counts in its own memory)."""

    async def sign_in_wait(
        self, address: str, failures: int, window: float, *, failed: bool = False
    ) -> float: ...

    async def take_connect_token(self, user_arn: str, rate: float, burst: int) -> bool: ...

    async def admit(self, user_arn: str, session_id: str, limit: int) -> Admission: ...

    def release(self, user_arn: str, session_id: str, lease: str) -> None: ...
