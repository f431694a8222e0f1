"""``bellwire export``: every resource of a data dir as JSON Lines, from one consistent snapshot.

Records come out in an order an import can follow line by line: each app instance, then its
users, admins and channels, each channel followed by its memberships, moderators, bans and
messages (oldest first); IAM last. An elastic channel's sub-channels come right after it, and
its moderators before its memberships. Every listing is read in pages by key inside the one read
transaction, so memory stays constant however many messages there are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from bellwire.aws import arn as arns
from bellwire.records.chime import AppInstance, Channel, Membership
from bellwire.records.iam import name_key
from bellwire.store.base import IamTx
from bellwire.transfer import records as fmt

PAGE = 500
T = TypeVar("T")


def _pages(fetch: Callable[[Any, int], list[T]], key: Callable[[T], Any]) -> Iterator[T]:
    after: Any = None
    while True:
        page = fetch(after, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = key(page[-1])


def _messages(tx: IamTx, channel_arn: str) -> Iterator[dict[str, Any]]:
    def fetch(after: int | None, limit: int) -> list[Any]:
        return tx.list_messages(
            channel_arn,
            viewer=None,
            descending=False,
            not_before=None,
            not_after=None,
            after_seq=after,
            limit=limit,
        )

    for m in _pages(fetch, lambda m: m.seq):
        yield fmt.message(m)


def _channel(tx: IamTx, c: Channel) -> Iterator[dict[str, Any]]:
    arn = c.arn
    yield fmt.channel(c, tx.tags(arn))
    # Bots are not in the format (their configuration names a Lex alias the target maps on its
    # own): what refers to one is left out, so that the import finds every user it names.
    moderators = (
        fmt.moderator(mod)
        for mod in _pages(lambda after, n: tx.list_moderators(arn, after, n), _moderator)
        if not _bot(mod.moderator_arn)
    )
    if c.elastic is None:
        for m in _pages(lambda after, n: tx.list_memberships(arn, None, after, n), _member):
            if not _bot(m.member_arn):
                yield fmt.membership(m)
        yield from moderators
    else:
        # Each sub-channel before what is in it; the moderators before the memberships, since
        # a moderator's memberships (one per sub-channel it joined) are imported as such.
        subs = tx.sub_channels(arn)
        yield from (fmt.sub_channel(s) for s in subs)
        yield from moderators
        for s in subs:
            for m in _pages(partial(_sub_channel_members, tx, arn, s.sub_channel_id), _member):
                if not _bot(m.member_arn):
                    yield fmt.membership(m)
    for b in _pages(lambda after, n: tx.list_bans(arn, after, n), _member):
        if not _bot(b.member_arn):
            yield fmt.ban(b)
    yield from _messages(tx, arn)


def _sub_channel_members(
    tx: IamTx, arn: str, sub: str, after: str | None, limit: int
) -> list[Membership]:
    return tx.list_sub_channel_memberships(arn, sub, None, after, limit)


def _app_instance(tx: IamTx, ai: AppInstance) -> Iterator[dict[str, Any]]:
    arn = ai.arn
    yield fmt.app_instance(ai, tx.retention_days(arn), tx.tags(arn))
    for u in _pages(lambda after, n: tx.list_users(arn, after, n), _arn):
        yield fmt.user(u, tx.tags(u.arn))
    for a in _pages(lambda after, n: tx.list_admins(arn, after, n), lambda a: a.admin_arn):
        if not _bot(a.admin_arn):
            yield fmt.admin(a)
    for c in _pages(lambda after, n: tx.list_channels(arn, None, after, n), _arn):
        yield from _channel(tx, c)


def _bot(arn: str) -> bool:
    parsed = arns.parse(arn)
    return parsed is not None and parsed.kind == "bot"


def _arn(record: Any) -> str:
    return str(record.arn)


def _member(record: Any) -> str:
    return str(record.member_arn)


def _moderator(record: Any) -> str:
    return str(record.moderator_arn)


def records(tx: IamTx, *, secrets: bool) -> Iterator[dict[str, Any]]:
    """Every record of the snapshot ``tx``, in import order (without the header)."""
    for ai in _pages(tx.list_app_instances, _arn):
        yield from _app_instance(tx, ai)
    for iu in _pages(lambda after, n: tx.list_iam_users("/", after, n), lambda u: name_key(u.name)):
        yield fmt.iam_user(iu, tx.inline_policies("user", iu.name))
        for key in tx.access_keys_of(iu.name):
            yield fmt.iam_access_key(key, secret=secrets)
    for role in _pages(
        lambda after, n: tx.list_iam_roles("/", after, n), lambda r: name_key(r.name)
    ):
        yield fmt.iam_role(role, tx.inline_policies("role", role.name))


def line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
