"""AppInstanceBots, push endpoints, and the work handed out after a commit (bot calls, pushes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AppInstanceBot:
    """A bot's configuration. Its identity in channels (name, memberships, Sender) is a row of
    the users table under the same ARN, so every channel rule applies to it unchanged."""

    arn: str
    app_instance_arn: str
    name: str
    metadata: str | None
    configuration: Mapping[str, Any]  # the model's Configuration: {"Lex": {...}}
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class UserEndpoint:
    user_arn: str
    endpoint_id: str
    name: str | None
    type: str  # APNS | APNS_SANDBOX | GCM
    resource_arn: str  # the Pinpoint application ARN, mapped to a push gateway by [resources]
    attributes: Mapping[str, Any]  # DeviceToken, VoipDeviceToken
    allow_messages: str  # ALL | NONE
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class BotCall:
    """A bot to call once the write that made it due is committed.

    ``text`` is None for the welcome call (the bot has just become a member)."""

    bot_arn: str
    app_instance_arn: str
    lex: Mapping[str, Any]  # the bot's Configuration.Lex
    channel_arn: str
    sender_arn: str  # who the bot answers (for a welcome: the bot itself)
    message_id: str | None
    text: str | None
    mentions: tuple[str, ...] = ()
    targeted: bool = False
    persistence: str = "PERSISTENT"


@dataclass(frozen=True, slots=True)
class PushCall:
    """One device to notify of one message, once the send is committed."""

    endpoint: UserEndpoint
    notification: Mapping[str, Any]  # the message's PushNotification: Title, Body, Type
    channel_arn: str
    message_id: str
    sender_arn: str
