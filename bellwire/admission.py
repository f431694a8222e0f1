"""Which connections to drop when too many have not authenticated yet (pure: no I/O, no clock).

A connection is pending from its accept until a request on it passes SigV4 (or its /connect
authenticates); then it leaves the list for good. Over the cap the *oldest* pending connection
is dropped. An idle or slowloris socket has been waiting longest, while a real client
authenticates within a round trip of being accepted: a flood of idle sockets can cost a new
client a retry at worst, never lock it out. Dropping the newest instead would refuse every
newcomer for as long as the flood holds the cap.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Admission(Generic[K]):
    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("the cap must be at least 1")
        self.cap = cap
        self._pending: dict[K, None] = {}  # insertion order: oldest first

    def admit(self, key: K) -> list[K]:
        """Note a new connection; returns the connections to drop, oldest first."""
        self._pending[key] = None
        dropped: list[K] = []
        while len(self._pending) > self.cap:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            dropped.append(oldest)
        return dropped

    def authenticated(self, key: K) -> None:
        """The connection proved who it is: it is never dropped for the cap."""
        self._pending.pop(key, None)

    def forget(self, key: K) -> None:
        """The connection closed."""
        self._pending.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def __len__(self) -> int:
        return len(self._pending)
