"""What the store keeps, as plain immutable records. Timestamps are epoch seconds (floats)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bellwire.frozen import quick_init


@dataclass(frozen=True, slots=True)
class AppInstance:
    arn: str
    name: str
    metadata: str | None
    created: float
    updated: float


@quick_init
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
class ElasticConfiguration:
    """An elastic channel's ElasticChannelConfiguration, fixed when the channel is created."""

    maximum_sub_channels: int
    target_memberships: int  # TargetMembershipsPerSubChannel
    minimum_percentage: int  # MinimumMembershipPercentage


@quick_init
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
    elastic: ElasticConfiguration | None = None


def route_key(channel_arn: str, sub_channel_id: str | None) -> str:
    """The key under which a channel's events are routed to sessions: the channel ARN, or for a
    sub-channel of an elastic channel the ARN and the sub-channel (no channel ID holds '/')."""
    return channel_arn if not sub_channel_id else f"{channel_arn}/subchannel/{sub_channel_id}"


class Position(NamedTuple):
    """A connecting user's place in one channel (or sub-channel of an elastic channel): what a
    connect's snapshot reads of each membership. A tuple, built straight from the row: every
    connect builds one per channel, and the full records are read only to render a
    CHANNEL_DETAILS that no reader has rendered yet."""

    channel_arn: str
    sub_channel_id: str | None
    read_marker: float | None
    last_message: float | None
    channel_seq: int
    details_version: int
    seq: int  # where the session's events start: the sub-channel's own number when elastic

    @property
    def route_key(self) -> str:
        return route_key(self.channel_arn, self.sub_channel_id)

    @property
    def version(self) -> tuple[int, int]:
        """What CHANNEL_DETAILS shows of the channel changes with these (Channel.seq and
        Channel.details_version)."""
        return (self.channel_seq, self.details_version)


class MemberSummary(NamedTuple):
    """What CHANNEL_DETAILS shows of a member (a ChannelMembershipSummary): a tuple built straight
    from the row, as Position."""

    member_arn: str
    name: str | None  # None: no user by that ARN (a bot, a deleted user)
    read_marker: float | None


@dataclass(frozen=True, slots=True)
class SubChannel:
    channel_arn: str
    sub_channel_id: str
    ordinal: int  # creation order within the channel: ties in balancing go to the older
    members: int  # regular memberships (what balancing counts)
    moderators: int  # moderators' memberships (never moved)
    created: float

    @property
    def membership_count(self) -> int:
        return self.members + self.moderators


@quick_init
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
    sub_channel_id: str | None = None  # elastic channels only
    moderator: bool = False  # an elastic channel's moderator membership (never moved)


@quick_init
@dataclass(frozen=True, slots=True)
class BearerInChannel:
    """What the role rules need about one bearer and one channel, read together (one query on
    the hottest path, SendChannelMessage): either may be missing. ``membership`` is the
    bearer's membership of a regular channel; on an elastic one it is looked up separately."""

    user: AppInstanceUser | None
    channel: Channel | None
    is_admin: bool
    is_moderator: bool
    membership: Membership | None
    flow_arn: str | None = None  # the channel flow associated with the channel, if any
    flow_processors: Sequence[Mapping[str, Any]] | None = None  # that flow's processors
    has_bots: bool = True  # whether any AppInstanceBot of its app instance is a member
    # The streaming configurations of the channel's app instance ({DataType: stream ARN}).
    streaming: Mapping[str, str] | None = None
    # The answer of idempotent_result(scope, token) for ``remembered_key`` = (scope, token).
    remembered_key: tuple[str, str] | None = None
    remembered: tuple[str, Any] | None = None


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


@quick_init
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
    sub_channel_id: str | None = None  # elastic channels only

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


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One stream record waiting in the export outbox (spec §11A.1)."""

    id: int  # grows in commit order; consumers de-duplicate by it
    resource_arn: str  # the Kinesis stream ARN the record is for
    channel_arn: str  # the partition key: records of one channel keep their order
    record: str  # the JSON the stream receives: {"EventType", "Payload"}
    created: float
