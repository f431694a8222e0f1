"""Catch-up after a reconnect: which messages a dropped session may have missed, without repeats.

A messaging session has no server-side queue (spec §2.8: "messaging stops when they
disconnect"), so whatever was sent while the socket was down is only in the history. The
state here is fed every event the client yields and answers, after a reconnect:

* which channels to page (the user's current memberships, else the channels it has seen),
* from when: per channel, the newest ``CreatedTimestamp`` seen there, but never before the
  time the first session was established (every message created after that and not seen was
  missed, whatever the number of reconnects in between; older ones were never promised), minus
  a small margin for out-of-order delivery and clock skew;
* which listed messages to drop because they were already seen (bounded per-channel sets of
  MessageIds: the margin makes the pages overlap what was seen, on purpose).

Pure: no I/O, no clock; the session passes the times in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bellwire.events import Event, EventType, iso_timestamp

__all__ = ["CatchUpState", "caught_up_payload", "parse_timestamp"]

# Events proving that the user knows a message (so a listed copy is a duplicate). PENDING,
# FAILED and DENIED are left out on purpose: a flow may turn a pending message into a sent one
# while the socket is down, and that CREATE is exactly what catch-up must recover.
_KNOWN_MESSAGE_EVENTS = frozenset(
    {
        EventType.CREATE_CHANNEL_MESSAGE,
        EventType.UPDATE_CHANNEL_MESSAGE,
        EventType.REDACT_CHANNEL_MESSAGE,
        EventType.DELETE_CHANNEL_MESSAGE,
    }
)


def parse_timestamp(value: Any) -> datetime | None:
    """A payload timestamp (ISO-8601 string, epoch number or datetime) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return None


def caught_up_payload(channel_arn: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    """A ListChannelMessages ``ChannelMessageSummary`` in the shape of a live
    CREATE_CHANNEL_MESSAGE payload: with ``ChannelArn`` and ``Persistence`` (only persistent
    messages are listed) and timestamps as ISO strings, as on the WebSocket (spec §2.5)."""
    payload: dict[str, Any] = {"ChannelArn": channel_arn}
    for key, value in summary.items():
        payload[key] = iso_timestamp(value) if isinstance(value, datetime) else value
    payload.setdefault("Persistence", "PERSISTENT")
    return payload


@dataclass(slots=True)
class _Channel:
    last_seen: datetime | None = None  # newest CreatedTimestamp seen (server clock)
    ids: dict[str, None] = field(default_factory=dict)  # an insertion-ordered, bounded set
    # An elastic channel's messages are listed per sub-channel: the user's, as last seen.
    sub_channel_id: str | None = None


class CatchUpState:
    """What the client has seen, per channel, to compute and de-duplicate a catch-up."""

    def __init__(self, user_arn: str, *, margin: timedelta, max_ids: int = 1000) -> None:
        if margin < timedelta(0):
            raise ValueError("the catch-up margin must not be negative")
        self.user_arn = user_arn
        self.margin = margin
        self.max_ids = max_ids
        self.origin: datetime | None = None  # when the first session was established
        self._channels: dict[str, _Channel] = {}

    @property
    def channels(self) -> list[str]:
        return list(self._channels)

    def established(self, now: datetime) -> None:
        """A session was established; only the first one sets the origin."""
        if self.origin is None:
            self.origin = now

    def last_seen(self, channel_arn: str) -> datetime | None:
        state = self._channels.get(channel_arn)
        return None if state is None else state.last_seen

    def sub_channel(self, channel_arn: str) -> str | None:
        """The sub-channel of an elastic channel the user was last seen in (None otherwise)."""
        state = self._channels.get(channel_arn)
        return None if state is None else state.sub_channel_id

    def in_sub_channel(self, channel_arn: str, sub_channel_id: str) -> None:
        """The user's sub-channel, as its memberships listing says (elastic channels)."""
        self._channel(channel_arn).sub_channel_id = sub_channel_id

    def seen(self, channel_arn: str, message_id: str) -> bool:
        state = self._channels.get(channel_arn)
        return state is not None and message_id in state.ids

    # --- feeding --------------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Record an event the caller is about to receive."""
        payload = event.payload
        if payload is None:
            return
        if event.type == EventType.CHANNEL_DETAILS:
            channel = payload.get("Channel")
            arn = channel.get("ChannelArn") if isinstance(channel, Mapping) else None
            if isinstance(arn, str):
                self._channel(arn)
                for summary in payload.get("ChannelMessages") or ():
                    if isinstance(summary, Mapping):
                        self._message(arn, summary)
            return
        arn = payload.get("ChannelArn")
        if not isinstance(arn, str):
            return
        left = event.type == EventType.DELETE_CHANNEL_MEMBERSHIP and self._is_me(payload)
        sub = payload.get("SubChannelId")
        if event.type == EventType.DELETE_CHANNEL or left:
            self._channels.pop(arn, None)
        elif event.type in _KNOWN_MESSAGE_EVENTS:
            self._message(arn, payload)
            if isinstance(sub, str):
                self._channel(arn).sub_channel_id = sub
        else:
            # CREATE/UPDATE_CHANNEL and the membership events: the user is (still) in there;
            # its own membership events say in which sub-channel (UPDATE: it was moved).
            state = self._channel(arn)
            if isinstance(sub, str) and self._is_me(payload):
                state.sub_channel_id = sub

    def _is_me(self, payload: Mapping[str, Any]) -> bool:
        member = payload.get("Member")
        return isinstance(member, Mapping) and member.get("Arn") == self.user_arn

    def _channel(self, arn: str) -> _Channel:
        state = self._channels.get(arn)
        if state is None:
            state = self._channels[arn] = _Channel()
        return state

    def _message(self, arn: str, message: Mapping[str, Any]) -> None:
        state = self._channel(arn)
        created = parse_timestamp(message.get("CreatedTimestamp"))
        if created is not None and (state.last_seen is None or created > state.last_seen):
            state.last_seen = created
        message_id = message.get("MessageId")
        if isinstance(message_id, str):
            state.ids.pop(message_id, None)  # re-insert: most recently seen goes last
            state.ids[message_id] = None
            if len(state.ids) > self.max_ids:
                del state.ids[next(iter(state.ids))]

    # --- planning and filtering -----------------------------------------------------------------

    def plan(self, memberships: Iterable[str] | None) -> list[tuple[str, datetime]]:
        """(channel ARN, NotBefore) for each channel to page.

        ``memberships`` is the user's current channel list (None if it could not be read): it
        adds channels joined while away and drops channels left while away (their history is no
        longer readable). Without it, the channels seen so far are used.
        """
        if self.origin is None:
            return []  # nothing was ever established, so nothing can have been missed
        arns = list(dict.fromkeys(memberships)) if memberships is not None else self.channels
        plan = []
        for arn in arns:
            last = self.last_seen(arn)
            # An UPDATE of an old message or a prefetch summary can leave ``last`` long before
            # the origin; nothing between the two was ever promised to this client.
            since = self.origin if last is None else max(last, self.origin)
            plan.append((arn, since - self.margin))
        return plan

    def accept(self, channel_arn: str, summary: Mapping[str, Any]) -> dict[str, Any] | None:
        """The caught-up payload for a listed message, or None if the user already saw it."""
        message_id = summary.get("MessageId")
        if isinstance(message_id, str) and self.seen(channel_arn, message_id):
            return None
        status = summary.get("Status")
        if isinstance(status, Mapping) and status.get("Value") not in (None, "SENT"):
            # The sender's own message that a channel flow holds (or failed): not a message
            # the channel has, and its CREATE, once SENT, must not be taken for a repeat.
            return None
        payload = caught_up_payload(channel_arn, summary)
        self._message(channel_arn, payload)
        return payload

    def is_duplicate(self, event: Event) -> bool:
        """Whether a live event repeats a message already delivered (by catch-up, typically:
        a message sent between the reconnect and the end of the catch-up is both listed and
        pushed). Only creations are checked; updates of a known message are news."""
        if event.type != EventType.CREATE_CHANNEL_MESSAGE or event.payload is None:
            return False
        arn = event.payload.get("ChannelArn")
        message_id = event.payload.get("MessageId")
        return isinstance(arn, str) and isinstance(message_id, str) and self.seen(arn, message_id)
