"""The bearer's role in a channel and what each role may do (spec §6, "auth by role").

IAM decides whether the *signing principal* may call an action on the named resources; these
rules decide, inside the service, what the *bearer* (the AppInstanceUser acting) may do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bellwire.aws import arn as arns
from bellwire.aws.errors import Forbidden, NotFound, UnauthorizedClient
from bellwire.frozen import quick_init
from bellwire.records.chime import AppInstanceUser, Channel, Membership
from bellwire.store.base import Tx

INVALID_BEARER = (
    "An invalid app instance user ARN was supplied for the x-amz-chime-bearer HTTP header."
)


def bearer_user(tx: Tx, bearer: str | None) -> AppInstanceUser:
    """The AppInstanceUser or AppInstanceBot named by ``x-amz-chime-bearer`` (a bot's identity
    is a users row under its own ARN); anything else is Unauthorized."""
    parsed = arns.parse(bearer) if bearer else None
    if parsed is None or parsed.kind not in ("user", "bot"):
        raise UnauthorizedClient(INVALID_BEARER)
    user = tx.user(bearer or "")
    if user is None:
        raise UnauthorizedClient(INVALID_BEARER)
    return user


def require_channel(tx: Tx, channel_arn: str) -> Channel:
    channel = tx.channel(channel_arn)
    if channel is None:
        raise NotFound(f"The channel {channel_arn} does not exist.")
    return channel


@quick_init
@dataclass(frozen=True, slots=True)
class Actor:
    """The bearer as seen from one channel."""

    user: AppInstanceUser
    channel: Channel
    is_admin: bool
    is_moderator: bool
    membership: Membership | None
    # The channel flow associated with the channel, read with the roles (a send needs it).
    flow_arn: str | None = None
    flow_processors: Sequence[Mapping[str, Any]] | None = None
    # Whether bots of the app instance are members, and the app instance's streaming
    # configurations: what a send's last steps would read again (None: not read).
    has_bots: bool = True
    streaming: Mapping[str, str] | None = None
    # idempotent_result(*remembered_key), when the lookup read it (a send's retry check).
    remembered_key: tuple[str, str] | None = None
    remembered: tuple[str, Any] | None = None

    @property
    def arn(self) -> str:
        return self.user.arn

    @property
    def is_member(self) -> bool:
        return self.membership is not None

    @property
    def can_moderate(self) -> bool:
        return self.is_admin or self.is_moderator

    @property
    def can_read(self) -> bool:
        return self.channel.privacy == "PUBLIC" or self.is_member or self.can_moderate

    def deny(self, what: str) -> Forbidden:
        return Forbidden(f"{self.arn} is not allowed to {what} in the channel {self.channel.arn}.")

    def require_read(self) -> None:
        if not self.can_read:
            raise self.deny("read (the channel is private and the bearer is not a member)")

    def require_moderator(self, what: str) -> None:
        if not self.can_moderate:
            raise self.deny(f"{what}: only channel moderators and app instance admins may")

    def require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise self.deny(f"{what}: only app instance admins may")

    def require_member(self, what: str) -> None:
        if self.membership is None:
            raise self.deny(f"{what}: the bearer must be a member of the channel")


def actor(
    tx: Tx, bearer: str | None, channel_arn: str, *, remembered: tuple[str, str] | None = None
) -> Actor:
    # The checks and their order are bearer_user's and require_channel's; the reads are one
    # statement (each was a round trip of its own on PostgreSQL, on every send).
    parsed = arns.parse(bearer) if bearer else None
    if parsed is None or parsed.kind not in ("user", "bot"):
        raise UnauthorizedClient(INVALID_BEARER)
    found = tx.bearer_in_channel(bearer or "", channel_arn, remembered=remembered)
    user, channel = found.user, found.channel
    if user is None:
        raise UnauthorizedClient(INVALID_BEARER)
    if channel is None:
        raise NotFound(f"The channel {channel_arn} does not exist.")
    if user.app_instance_arn != channel.app_instance_arn:
        raise Forbidden(
            f"The bearer {user.arn} does not belong to the app instance of the channel "
            f"{channel.arn}."
        )
    return Actor(
        user=user,
        channel=channel,
        is_admin=found.is_admin,
        is_moderator=found.is_moderator,
        membership=found.membership,
        flow_arn=found.flow_arn,
        flow_processors=found.flow_processors,
        has_bots=found.has_bots,
        streaming=found.streaming,
        remembered_key=found.remembered_key,
        remembered=found.remembered,
    )


def is_admin(tx: Tx, user: AppInstanceUser) -> bool:
    return tx.admin(user.app_instance_arn, user.arn) is not None
