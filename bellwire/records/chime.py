"""What the store keeps, as plain immutable records. Timestamps are epoch seconds (floats)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AppInstance:
    arn: str
    name: str
    metadata: str | None
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class AppInstanceUser:
    arn: str
    app_instance_arn: str
    name: str
    metadata: str | None
    created: float
    updated: float
    expiration_days: int | None = None
    expiration_criterion: str | None = None


@dataclass(frozen=True, slots=True)
class Admin:
    app_instance_arn: str
    admin_arn: str
    created: float


@dataclass(frozen=True, slots=True)
class Channel:
    arn: str
    app_instance_arn: str
    name: str
    mode: str
    privacy: str
    metadata: str | None
    created_by: str
    created: float
    updated: float
    last_message: float | None
    seq: int  # bumped by every event of this channel: the per-channel order of the bus
    expiration_days: int | None = None
    expiration_criterion: str | None = None
    # Bumped by what CHANNEL_DETAILS shows but no channel event announces (read markers,
    # members' names): with seq, it versions everything that members see alike.
    details_version: int = 0


@dataclass(frozen=True, slots=True)
class Membership:
    channel_arn: str
    member_arn: str
    type: str  # DEFAULT | HIDDEN
    invited_by: str
    created: float
    updated: float
    read_marker: float | None = None
    preferences: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Moderator:
    channel_arn: str
    moderator_arn: str
    created_by: str
    created: float


@dataclass(frozen=True, slots=True)
class Ban:
    channel_arn: str
    member_arn: str
    created_by: str
    created: float


@dataclass(frozen=True, slots=True)
class Message:
    channel_arn: str
    message_id: str
    seq: int
    sender_arn: str
    sender_name: str
    content: str | None
    metadata: str | None
    type: str  # STANDARD | CONTROL
    persistence: str  # PERSISTENT | NON_PERSISTENT
    redacted: bool
    created: float
    last_updated: float
    last_edited: float | None = None
    status: str = "SENT"
    attributes: Mapping[str, Any] | None = None
    content_type: str | None = None
    target_arn: str | None = None
    push: Mapping[str, Any] | None = None

    def visible_to(self, user_arn: str) -> bool:
        """Targeted messages are visible only to their target and their sender; a message a
        channel flow holds (PENDING) or failed (FAILED) only to its sender."""
        if self.status != "SENT" and user_arn != self.sender_arn:
            return False
        return self.target_arn is None or user_arn in (self.target_arn, self.sender_arn)


@dataclass(frozen=True, slots=True)
class Page:
    """A page of a listing and the opaque position after it (None on the last page)."""

    items: tuple[Any, ...]
    next_token: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
