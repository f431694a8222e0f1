"""Every WebSocket close code the server sends, and why (seed "Handling disconnects", spec §2.6).

Codes a client should retry are chosen from the reconnectable set (1001, 1011-1014, and 4xxx
except 4002/4003/4401); codes for failures that a retry would only repeat are not.
"""

from __future__ import annotations

NORMAL = 1000
ABNORMAL = 1006  # never sent: what a peer sees when the connection drops without a close frame
SERVICE_RESTART = 1012  # the server is draining (SIGTERM): reconnect elsewhere or later
TRY_AGAIN_LATER = 1013  # the session fell behind its outbound buffer: reconnect
MESSAGE_TOO_BIG = 1009  # a client frame over max_client_frame_bytes
PROTOCOL_ERROR = 1002  # a malformed client frame
FORBIDDEN = 4003  # not allowed (IAM), user unknown or deleted, or replaced by a newer session
UNAUTHORIZED = 4401  # bad or expired signature, unknown key, invalid or expired token
CREDENTIALS_EXPIRED = 4419  # the session's temporary credentials expired: refresh and return
TOO_MANY_CONNECTS = 4429  # the per-user connect rate was exceeded: back off and return
# The node may have missed events for the session (a gap in a channel's sequence that did not
# fill within the reorder window, or a lost bus connection): reconnect and catch up.
EVENTS_MISSED = 4410

REASON_LIMIT = 123  # RFC 6455: a close reason fits in 123 bytes


def reason(text: str) -> bytes:
    raw = text.encode()
    return raw if len(raw) <= REASON_LIMIT else raw[: REASON_LIMIT - 3].rstrip() + b"..."
