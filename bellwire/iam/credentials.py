"""The in-memory credential index: access key id → :class:`Credential`, a dict hit per request.

Loaded from the store at startup (:meth:`CredentialIndex.load`) and updated with each committed
IAM/STS change (:meth:`CredentialIndex.apply`, called from the store's after-commit consumer, in
commit order, before the writer's caller resumes), so it is never ahead of or behind the
database. Principals are rebuilt with the *current* policies whenever a user or role changes:
a PutRolePolicy applies to sessions already issued, as in AWS.

A stored policy that no longer parses (an engine upgrade that became stricter) is replaced by a
deny-everything policy and logged: failing open on a dropped Deny would be worse.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bellwire.aws.errors import MalformedPolicyDocument
from bellwire.iam.policy import MAX_ROLE_INLINE, Policy, PolicyKind, parse_policy
from bellwire.iam.principal import Credential, Principal
from bellwire.records.iam import (
    ASSUMED_ROLE,
    USER_SESSION,
    IamChange,
    IamRole,
    IamSnapshot,
    IamUser,
    RoleState,
    StsSession,
    UserState,
    name_key,
)

log = logging.getLogger(__name__)

_DENY_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'


def _parse(
    text: str, name: str, kind: PolicyKind = PolicyKind.IDENTITY, max_size: int = MAX_ROLE_INLINE
) -> Policy:
    try:
        return parse_policy(text, name=name, kind=kind, max_size=max_size)
    except MalformedPolicyDocument as err:
        log.error("stored policy %r no longer parses (%s): denying everything", name, err.message)
        return parse_policy(_DENY_ALL, name=f"{name} (invalid)")


@dataclass(frozen=True, slots=True)
class IndexedUser:
    state: UserState
    policies: tuple[Policy, ...]

    @property
    def user(self) -> IamUser:
        return self.state.user


@dataclass(frozen=True, slots=True)
class IndexedRole:
    state: RoleState
    trust: Policy
    policies: tuple[Policy, ...]

    @property
    def role(self) -> IamRole:
        return self.state.role


class CredentialIndex:
    """Also usable as a mapping (``index[key]``, ``index[key] = credential``): a credential set
    by hand is pinned (embedding, tests) and survives the rebuilds."""

    def __init__(self, account_id: str, root: Credential) -> None:
        self.account_id = account_id
        self.root = root
        self._by_key: dict[str, Credential] = {root.access_key_id: root}
        self._pinned: dict[str, Credential] = {root.access_key_id: root}
        self._users: dict[str, IndexedUser] = {}
        self._roles: dict[str, IndexedRole] = {}
        self._sessions: dict[str, StsSession] = {}
        self._session_policies: dict[str, Policy] = {}
        self._user_keys: dict[str, set[str]] = {}  # user key -> its access key ids
        self._owned: dict[tuple[str, str], set[str]] = {}  # (kind, owner key) -> session ids

    # --- the lookup ----------------------------------------------------------------------------

    def get(self, access_key_id: str) -> Credential | None:
        return self._by_key.get(access_key_id)

    def __getitem__(self, access_key_id: str) -> Credential:
        return self._by_key[access_key_id]

    def __setitem__(self, access_key_id: str, credential: Credential) -> None:
        self._pinned[access_key_id] = credential
        self._by_key[access_key_id] = credential

    def __contains__(self, access_key_id: object) -> bool:
        return access_key_id in self._by_key

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    # --- what the IAM/STS operations read ------------------------------------------------------

    def user(self, name: str) -> IndexedUser | None:
        return self._users.get(name_key(name))

    def role(self, name: str) -> IndexedRole | None:
        return self._roles.get(name_key(name))

    def user_principal(self, name: str) -> Principal | None:
        entry = self.user(name)
        return None if entry is None else self._user_principal(entry)

    # --- loading and changes -------------------------------------------------------------------

    def load(self, snapshot: IamSnapshot) -> None:
        for user in snapshot.users:
            self._set_user(name_key(user.user.name), user)
        for role in snapshot.roles:
            self._set_role(name_key(role.role.name), role)
        for session in snapshot.sessions:
            self._add_session(session)

    def replace_all(self, snapshot: IamSnapshot) -> None:
        """Forget everything but the pinned credentials and load ``snapshot`` (a node that may
        have missed changes re-reads the store)."""
        self._by_key = dict(self._pinned)
        self._users.clear()
        self._roles.clear()
        self._sessions.clear()
        self._session_policies.clear()
        self._user_keys.clear()
        self._owned.clear()
        self.load(snapshot)

    def apply(self, change: IamChange) -> None:
        for key in change.sessions_removed:
            self._remove_session(key)
        for user_key, user in change.users.items():
            self._set_user(user_key, user)
        for role_key, role in change.roles.items():
            self._set_role(role_key, role)
        for session in change.sessions_added:
            self._add_session(session)

    def _set_user(self, key: str, state: UserState | None) -> None:
        for access_key_id in self._user_keys.pop(key, set()):
            self._drop(access_key_id)
        if state is None:
            self._users.pop(key, None)
            for session_id in list(self._owned.get((USER_SESSION, key), ())):
                self._remove_session(session_id)
            return
        entry = IndexedUser(
            state,
            tuple(_parse(doc, pname) for pname, doc in state.policies.items()),
        )
        self._users[key] = entry
        principal = self._user_principal(entry)
        ids: set[str] = set()
        for k in state.keys:
            ids.add(k.access_key_id)
            self._by_key[k.access_key_id] = Credential(
                k.access_key_id, k.secret, principal, active=k.status == "Active"
            )
        self._user_keys[key] = ids
        for session_id in self._owned.get((USER_SESSION, key), ()):
            self._rebuild_session(session_id)

    def _set_role(self, key: str, state: RoleState | None) -> None:
        if state is None:
            self._roles.pop(key, None)
            for session_id in list(self._owned.get((ASSUMED_ROLE, key), ())):
                self._remove_session(session_id)
            return
        self._roles[key] = IndexedRole(
            state,
            _parse(state.role.trust_policy, "trust", PolicyKind.TRUST),
            tuple(_parse(doc, pname) for pname, doc in state.policies.items()),
        )
        for session_id in self._owned.get((ASSUMED_ROLE, key), ()):
            self._rebuild_session(session_id)

    def _add_session(self, session: StsSession) -> None:
        self._sessions[session.access_key_id] = session
        if session.session_policy is not None:
            self._session_policies[session.access_key_id] = _parse(
                session.session_policy, "session"
            )
        self._owned.setdefault((session.kind, name_key(session.owner_name)), set()).add(
            session.access_key_id
        )
        self._rebuild_session(session.access_key_id)

    def _remove_session(self, access_key_id: str) -> None:
        session = self._sessions.pop(access_key_id, None)
        self._session_policies.pop(access_key_id, None)
        if session is not None:
            owned = self._owned.get((session.kind, name_key(session.owner_name)))
            if owned is not None:
                owned.discard(access_key_id)
        self._drop(access_key_id)

    def _drop(self, access_key_id: str) -> None:
        pinned = self._pinned.get(access_key_id)
        if pinned is not None:
            self._by_key[access_key_id] = pinned
        else:
            self._by_key.pop(access_key_id, None)

    def _rebuild_session(self, access_key_id: str) -> None:
        session = self._sessions[access_key_id]
        principal = self._session_principal(session)
        if principal is None:  # its role or user is gone
            self._drop(access_key_id)
            return
        self._by_key[access_key_id] = Credential(
            access_key_id,
            session.secret,
            principal,
            session_token_sha256=session.token_sha256,
            expires_at=session.expires,
        )

    # --- principals ----------------------------------------------------------------------------

    def _user_principal(self, entry: IndexedUser, issued: float | None = None) -> Principal:
        user = entry.user
        return Principal(
            arn=user.arn(self.account_id),
            account_id=self.account_id,
            kind="user",
            user_id=user.user_id,
            name=user.name,
            tags=dict(user.tags),
            policies=entry.policies,
            token_issued=issued,
        )

    def _session_principal(self, session: StsSession) -> Principal | None:
        if session.kind == ASSUMED_ROLE:
            role_entry = self._roles.get(name_key(session.owner_name))
            if role_entry is None:
                return None
            role = role_entry.role
            policy = self._session_policies.get(session.access_key_id)
            return Principal(
                arn=assumed_role_arn(self.account_id, role.name, session.session_name),
                account_id=self.account_id,
                kind="assumed-role",
                user_id=f"{role.role_id}:{session.session_name}",
                name=session.session_name,
                # Session tags override the role's own tags of the same key, as in AWS.
                tags={**role.tags, **session.tags},
                policies=role_entry.policies,
                session_policies=None if policy is None else (policy,),
                role_arn=role.arn(self.account_id),
                token_issued=session.created,
            )
        if not session.owner_name:  # GetSessionToken called by the root user
            root = self.root.principal
            return Principal(
                arn=root.arn,
                account_id=root.account_id,
                kind=root.kind,
                user_id=root.user_id,
                name=root.name,
                token_issued=session.created,
            )
        user_entry = self._users.get(name_key(session.owner_name))
        if user_entry is None:
            return None
        return self._user_principal(user_entry, issued=session.created)

    def sessions(self) -> Mapping[str, StsSession]:
        return self._sessions


def assumed_role_arn(account_id: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"
