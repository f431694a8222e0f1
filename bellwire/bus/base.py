"""The Bus interface: committed events travel from the REST side to every gateway node.

The bus carries fan-out only, never authoritative state (that is in the store), so a node that
joins late loses nothing but live events, exactly like a client that connects late.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from bellwire.domain.delivery import BusEvent

Listener = Callable[[BusEvent], None]


class Bus(Protocol):
    def publish(self, events: Sequence[BusEvent]) -> None: ...
    def subscribe(self, listener: Listener) -> Callable[[], None]: ...
    async def close(self) -> None: ...
