"""The Python messaging-session client (``MessagingSession``) and its reconnect policy.

Nothing of the server is ever loaded (no aiohttp); ``MessagingSession`` needs websockets, and
botocore once it connects. The names are resolved lazily, so that importing
``bellwire.client.reconnect`` alone stays sans-I/O.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # explicit re-exports for type checkers
    from bellwire.client.reconnect import (
        ReconnectPolicy,
        StopReason,
        can_reconnect,
    )
    from bellwire.client.session import (
        CaughtUp,
        Connecting,
        Established,
        Gap,
        Item,
        MessagingSession,
        MessagingSessionError,
        Notice,
        Reconnecting,
        SessionEvent,
        Stopped,
    )
    from bellwire.events import (
        EventType,
        MessageType,
    )

_WHERE = {
    "ReconnectPolicy": "bellwire.client.reconnect",
    "StopReason": "bellwire.client.reconnect",
    "can_reconnect": "bellwire.client.reconnect",
    "EventType": "bellwire.events",
    "MessageType": "bellwire.events",
    **{
        name: "bellwire.client.session"
        for name in (
            "CaughtUp",
            "Connecting",
            "Established",
            "Gap",
            "Item",
            "MessagingSession",
            "MessagingSessionError",
            "Notice",
            "Reconnecting",
            "SessionEvent",
            "Stopped",
        )
    },
}

__all__ = [
    "CaughtUp",
    "Connecting",
    "Established",
    "EventType",
    "Gap",
    "Item",
    "MessageType",
    "MessagingSession",
    "MessagingSessionError",
    "Notice",
    "ReconnectPolicy",
    "Reconnecting",
    "SessionEvent",
    "StopReason",
    "Stopped",
    "can_reconnect",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
