"""Applying export records to a database: keyed, so that nothing is ever imported twice.

Every record is identified by its key (an ARN, a pair of ARNs, a channel and a message id, an
IAM name or access key id). A record whose key is already in the database is left as it is and
counted as *present*; so an interrupted import resumes by running it again, and importing the
same file twice changes nothing. References are checked: a membership names a channel and a
user that must already be there (the export writes them first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bellwire.aws import arn as arns
from bellwire.aws.errors import BadRequest, MalformedPolicyDocument
from bellwire.domain import elastic
from bellwire.iam.policy import MAX_ROLE_INLINE, MAX_TRUST, PolicyKind, parse_policy
from bellwire.records.chime import (
    Admin,
    AppInstance,
    AppInstanceUser,
    Ban,
    Channel,
    ElasticConfiguration,
    Membership,
    Message,
    Moderator,
    SubChannel,
)
from bellwire.records.iam import AccessKey, IamRole, IamUser
from bellwire.store.base import IamTx
from bellwire.transfer import records as fmt


class LoadError(Exception):
    """A record that cannot be applied to the target (a missing reference, a bad policy)."""


# The target's quotas are its settings, not the file's business: only the model's bounds of an
# ElasticChannelConfiguration are checked on import.
_NO_QUOTA = elastic.ElasticLimits(
    channels_per_app_instance=1 << 62,
    sub_channels_per_channel=1 << 62,
    memberships_per_channel=1 << 62,
)

IMPORTED = "imported"
PRESENT = "present"
SKIPPED = "skipped"  # cannot be imported and is not an error (an access key without its secret)


class Loader:
    """Applies checked format records to ``tx``, counting what each did."""

    def __init__(self, tx: IamTx) -> None:
        self.tx = tx
        self.counts: Counter[tuple[str, str]] = Counter()
        self.scopes: set[tuple[str, str]] = set()  # (region, account) of the app instances' ARNs
        self._apply: dict[str, Callable[[Any], str]] = {
            fmt.APP_INSTANCE: self._app_instance,
            fmt.USER: self._user,
            fmt.ADMIN: self._admin,
            fmt.CHANNEL: self._channel,
            fmt.SUB_CHANNEL: self._sub_channel,
            fmt.MEMBERSHIP: self._membership,
            fmt.MODERATOR: self._moderator,
            fmt.BAN: self._ban,
            fmt.MESSAGE: self._message,
            fmt.IAM_USER: self._iam_user,
            fmt.IAM_ACCESS_KEY: self._access_key,
            fmt.IAM_ROLE: self._iam_role,
        }

    def apply(self, record: Mapping[str, Any]) -> str:
        """Apply one checked record; returns IMPORTED, PRESENT or SKIPPED."""
        outcome = self._apply[record["type"]](fmt.to_store(record))
        self.counts[(record["type"], outcome)] += 1
        return outcome

    # --- references ----------------------------------------------------------------------------

    def _need_app_instance(self, arn: str) -> None:
        if self.tx.app_instance(arn) is None:
            raise LoadError(
                f"the app instance {arn} is not in the target: its app_instance record must "
                "come first"
            )

    def _need_user(self, arn: str, app_instance_arn: str) -> None:
        u = self.tx.user(arn)
        if u is None or u.app_instance_arn != app_instance_arn:
            raise LoadError(
                f"the user {arn} is not in the target: its app_instance_user record must come first"
            )

    def _need_channel(self, arn: str) -> Channel:
        c = self.tx.channel(arn)
        if c is None:
            raise LoadError(
                f"the channel {arn} is not in the target: its channel record must come first"
            )
        return c

    def _need_sub_channel(
        self, c: Channel, sub_channel_id: str | None, what: str
    ) -> SubChannel | None:
        """The sub-channel a record of ``c`` must name (elastic) or must not (regular)."""
        if c.elastic is None:
            if sub_channel_id is not None:
                raise LoadError(
                    f"{what} names the sub-channel {sub_channel_id}, but the channel {c.arn} is "
                    "not an elastic channel"
                )
            return None
        if sub_channel_id is None:
            raise LoadError(f"{what} needs a SubChannelId: the channel {c.arn} is elastic")
        sub = self.tx.sub_channel(c.arn, sub_channel_id)
        if sub is None:
            raise LoadError(
                f"the sub-channel {sub_channel_id} is not in the channel {c.arn}: its "
                "sub_channel record must come first"
            )
        return sub

    # --- Chime resources -----------------------------------------------------------------------

    def _app_instance(self, t: fmt.Tagged) -> str:
        ai: AppInstance = t.resource
        parsed = arns.parse(ai.arn)
        if parsed is None or parsed.kind is not None:
            raise LoadError(f"{ai.arn} is not an app instance ARN")
        self.scopes.add((parsed.region, parsed.account))
        if self.tx.app_instance(ai.arn) is not None:
            return PRESENT
        self.tx.insert_app_instance(ai)
        if t.retention_days is not None:
            self.tx.set_retention_days(ai.arn, t.retention_days)
        self.tx.put_tags(ai.arn, t.tags)
        return IMPORTED

    def _user(self, t: fmt.Tagged) -> str:
        u: AppInstanceUser = t.resource
        self._need_app_instance(u.app_instance_arn)
        if not u.arn.startswith(u.app_instance_arn + "/user/"):
            raise LoadError(f"the user {u.arn} does not belong to {u.app_instance_arn}")
        if self.tx.user(u.arn) is not None:
            return PRESENT
        self.tx.insert_user(u)
        self.tx.put_tags(u.arn, t.tags)
        return IMPORTED

    def _admin(self, a: Admin) -> str:
        self._need_app_instance(a.app_instance_arn)
        self._need_user(a.admin_arn, a.app_instance_arn)
        if self.tx.admin(a.app_instance_arn, a.admin_arn) is not None:
            return PRESENT
        self.tx.insert_admin(a)
        return IMPORTED

    def _channel(self, t: fmt.Tagged) -> str:
        c: Channel = t.resource
        self._need_app_instance(c.app_instance_arn)
        if not c.arn.startswith(c.app_instance_arn + "/channel/"):
            raise LoadError(f"the channel {c.arn} does not belong to {c.app_instance_arn}")
        if c.elastic is not None:
            try:
                elastic.parse_configuration(elastic.configuration_shape(c.elastic), _NO_QUOTA)
            except BadRequest as exc:
                raise LoadError(f"the channel {c.arn}: {exc.message}") from None
            if c.mode != "RESTRICTED":
                raise LoadError(f"the elastic channel {c.arn} must be RESTRICTED")
        if self.tx.channel(c.arn) is not None:
            return PRESENT
        self.tx.insert_channel(c)
        self.tx.put_tags(c.arn, t.tags)
        return IMPORTED

    def _sub_channel(self, s: SubChannel) -> str:
        c = self._need_channel(s.channel_arn)
        if c.elastic is None:
            raise LoadError(
                f"the channel {c.arn} is not an elastic channel: it has no sub-channels"
            )
        existing = self.tx.sub_channels(c.arn)
        if any(e.sub_channel_id == s.sub_channel_id for e in existing):
            return PRESENT
        if len(existing) >= c.elastic.maximum_sub_channels:
            raise LoadError(
                f"the channel {c.arn} has its MaximumSubChannels "
                f"({c.elastic.maximum_sub_channels}) already: {s.sub_channel_id} is one too many"
            )
        # In the order they come, which is the source's: balancing breaks ties by it.
        ordinal = max((e.ordinal for e in existing), default=-1) + 1
        self.tx.insert_sub_channel(replace(s, ordinal=ordinal))
        return IMPORTED

    def _membership(self, m: Membership) -> str:
        c = self._need_channel(m.channel_arn)
        self._need_user(m.member_arn, c.app_instance_arn)
        if c.elastic is not None:
            return self._elastic_membership(c, c.elastic, m)
        self._need_sub_channel(c, m.sub_channel_id, f"the membership of {m.member_arn}")
        if self.tx.membership(m.channel_arn, m.member_arn) is not None:
            return PRESENT
        self.tx.insert_membership(m)
        return IMPORTED

    def _elastic_membership(self, c: Channel, config: ElasticConfiguration, m: Membership) -> str:
        """A membership of one sub-channel, counted there as balancing counts it: a moderator's
        (the moderator records come first) apart from regular members'."""
        sub = self._need_sub_channel(c, m.sub_channel_id, f"the membership of {m.member_arn}")
        assert sub is not None
        if self.tx.sub_channel_membership(c.arn, sub.sub_channel_id, m.member_arn) is not None:
            return PRESENT
        if m.type != "DEFAULT":
            raise LoadError(f"the elastic channel {c.arn} has DEFAULT memberships only")
        moderator = self.tx.moderator(c.arn, m.member_arn) is not None
        if not moderator:
            if self.tx.memberships_in_channel(c.arn, m.member_arn):
                raise LoadError(
                    f"{m.member_arn} is a member of another sub-channel of {c.arn} already "
                    "(only a moderator has a membership in several)"
                )
            if sub.members >= config.target_memberships:
                raise LoadError(
                    f"the sub-channel {sub.sub_channel_id} of {c.arn} has its "
                    f"TargetMembershipsPerSubChannel ({config.target_memberships}) already"
                )
        self.tx.insert_membership(replace(m, moderator=moderator))
        self.tx.count_sub_channel(
            c.arn, sub.sub_channel_id, members=int(not moderator), moderators=int(moderator)
        )
        return IMPORTED

    def _moderator(self, m: Moderator) -> str:
        c = self._need_channel(m.channel_arn)
        self._need_user(m.moderator_arn, c.app_instance_arn)
        if self.tx.moderator(m.channel_arn, m.moderator_arn) is not None:
            return PRESENT
        self.tx.insert_moderator(m)
        return IMPORTED

    def _ban(self, b: Ban) -> str:
        c = self._need_channel(b.channel_arn)
        self._need_user(b.member_arn, c.app_instance_arn)
        if self.tx.ban(b.channel_arn, b.member_arn) is not None:
            return PRESENT
        self.tx.insert_ban(b)
        return IMPORTED

    def _message(self, m: Message) -> str:
        c = self._need_channel(m.channel_arn)
        self._need_sub_channel(c, m.sub_channel_id, f"the message {m.message_id}")
        if self.tx.message(m.channel_arn, m.message_id) is not None:
            return PRESENT
        # Listings order a channel's messages by sequence: they take it in the order they come,
        # which is the source's order (the export and the endpoint reader go oldest first).
        m = replace(m, seq=self.tx.next_seq(m.channel_arn))
        if m.status == "PENDING":
            # Its processor's invocation is not part of the export (nor are flows): kept
            # PENDING here, nothing would ever end it. FAILED tells its sender to send it again.
            m = replace(m, status="FAILED")
        self.tx.insert_message(m)
        return IMPORTED

    # --- IAM -----------------------------------------------------------------------------------

    @staticmethod
    def _check_policies(owner: str, policies: Mapping[str, str]) -> None:
        for name, document in policies.items():
            try:
                parse_policy(document, name=name, max_size=MAX_ROLE_INLINE)
            except MalformedPolicyDocument as exc:
                raise LoadError(f"{owner}: the policy {name!r} is invalid: {exc.message}") from None

    def _iam_user(self, t: fmt.Tagged) -> str:
        u: IamUser = t.resource
        assert t.policies is not None
        self._check_policies(f"user {u.name}", t.policies)
        if self.tx.iam_user(u.name) is not None:
            return PRESENT
        self.tx.insert_iam_user(u)
        for name, document in t.policies.items():
            self.tx.put_inline_policy("user", u.name, name, document)
        return IMPORTED

    def _access_key(self, k: AccessKey) -> str:
        if self.tx.iam_user(k.user_name) is None:
            raise LoadError(
                f"the IAM user {k.user_name} is not in the target: its iam_user record must "
                "come first"
            )
        owner = self.tx.access_key_owner(k.access_key_id)
        if owner is not None:
            return PRESENT
        if not k.secret:  # exported without --include-secrets: it cannot sign anything here
            return SKIPPED
        self.tx.insert_access_key(k)
        return IMPORTED

    def _iam_role(self, t: fmt.Tagged) -> str:
        r: IamRole = t.resource
        assert t.policies is not None
        try:
            parse_policy(r.trust_policy, name="trust", kind=PolicyKind.TRUST, max_size=MAX_TRUST)
        except MalformedPolicyDocument as exc:
            raise LoadError(f"role {r.name}: the trust policy is invalid: {exc.message}") from None
        self._check_policies(f"role {r.name}", t.policies)
        if self.tx.iam_role(r.name) is not None:
            return PRESENT
        self.tx.insert_iam_role(r)
        for name, document in t.policies.items():
            self.tx.put_inline_policy("role", r.name, name, document)
        return IMPORTED
