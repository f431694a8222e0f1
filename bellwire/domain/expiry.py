"""Retention and expiration (spec §11A.5): the rules, pure, and the sweeper's units of work.

- Retention: a message of an app instance with ``RetentionDays`` is deleted once it is older
  than that. No WebSocket event and no stream record announce it (AWS documents none).
- Expiration: a channel expires ``ExpirationDays`` after its creation (``CREATED_TIMESTAMP``) or
  its last message (``LAST_MESSAGE_TIMESTAMP``, the creation for a channel without messages);
  it is then deleted as by DeleteChannel (members receive DELETE_CHANNEL, the stream too). A user
  expires ``ExpirationDays`` after its creation and is deleted as by DeleteAppInstanceUser (its
  sessions close with 4003, its channels see DELETE_CHANNEL_MEMBERSHIP).

Each unit handles at most ``batch`` items, so the sweeper never holds the writer for long; it
runs the units again until one finds nothing. The units re-check every rule on the rows they
read in their own transaction: a setting changed or removed since is honoured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bellwire.domain import sub_channels
from bellwire.domain.channels import remove_channel
from bellwire.domain.delivery import BusEvent
from bellwire.domain.identity import remove_user
from bellwire.domain.operation import AnyResult, Call, Result
from bellwire.records.chime import AppInstanceUser, Channel
from bellwire.store.base import Tx

DAY = 86400.0


def retention_cutoff(now: float, retention_days: int) -> float:
    """Messages created before this moment are past retention."""
    return now - retention_days * DAY


def channel_expires_at(c: Channel) -> float | None:
    if c.expiration_days is None:
        return None
    if c.expiration_criterion == "LAST_MESSAGE_TIMESTAMP":
        start = c.last_message if c.last_message is not None else c.created
    else:
        start = c.created
    return start + c.expiration_days * DAY


def user_expires_at(u: AppInstanceUser) -> float | None:
    if u.expiration_days is None:
        return None
    return u.created + u.expiration_days * DAY


def is_due(expires_at: float | None, now: float) -> bool:
    return expires_at is not None and expires_at <= now


@dataclass(slots=True)
class Swept:
    """What one unit did; ``result`` carries its events for the commit consumer."""

    messages: int = 0
    channels: int = 0
    users: int = 0
    result: AnyResult = field(default_factory=lambda: Result({}))

    @property
    def count(self) -> int:
        return self.messages + self.channels + self.users


def purge_retained(tx: Tx, now: float, batch: int) -> Swept:
    """Delete up to ``batch`` messages past their app instance's retention."""
    swept = Swept()
    for app_instance_arn, days in tx.retained_app_instances():
        room = batch - swept.messages
        if room <= 0:
            break
        keys = tx.messages_created_before(app_instance_arn, retention_cutoff(now, days), room)
        tx.purge_messages(keys)
        swept.messages += len(keys)
    return swept


def expire_channels(tx: Tx, now: float, batch: int) -> Swept:
    events: list[BusEvent] = []
    count = 0
    for c in tx.channels_expiring_by(now, batch):
        if is_due(channel_expires_at(c), now):
            events += remove_channel(tx, c)
            count += 1
    return Swept(channels=count, result=Result({}, events, purges=count > 0))


def expire_users(tx: Tx, now: float, batch: int) -> Swept:
    events: list[BusEvent] = []
    count = 0
    for u in tx.users_expiring_by(now, batch):
        if is_due(user_expires_at(u), now):
            events += remove_user(tx, Call("", "", now), u)
            count += 1
    return Swept(users=count, result=Result({}, events, purges=sub_channels.emptied(events)))
