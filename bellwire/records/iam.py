"""What the store keeps about IAM principals, as plain immutable records.

Names of users and roles are unique *case-insensitively*, as in IAM ("Alice" and "alice" are the
same user); ``name`` keeps the spelling given at creation and :func:`name_key` is the lookup key.
Timestamps are epoch seconds (floats).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def name_key(name: str) -> str:
    return name.lower()


@dataclass(frozen=True, slots=True)
class IamUser:
    name: str
    user_id: str  # AIDA...: aws:userid
    path: str
    created: float
    tags: Mapping[str, str] = field(default_factory=dict)

    def arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:user{self.path}{self.name}"


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    user_name: str
    # Kept as given: SigV4 needs the secret itself to derive the signing key. The database file
    # is readable by its owner only (see server startup).
    secret: str
    status: str  # "Active" or "Inactive"
    created: float


@dataclass(frozen=True, slots=True)
class IamRole:
    name: str
    role_id: str  # AROA...: the first half of a session's aws:userid
    path: str
    description: str | None
    trust_policy: str
    max_session_duration: int
    created: float
    tags: Mapping[str, str] = field(default_factory=dict)

    def arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:role{self.path}{self.name}"


# STS session kinds: AssumeRole sessions act as the role, GetSessionToken ones as the user.
ASSUMED_ROLE = "assumed-role"
USER_SESSION = "user-session"


@dataclass(frozen=True, slots=True)
class StsSession:
    access_key_id: str  # ASIA...
    secret: str
    token_sha256: str  # hex digest: the token itself is never stored
    kind: str  # ASSUMED_ROLE or USER_SESSION
    owner_name: str  # the role's name, or the user's name ("" for the root user)
    session_name: str  # RoleSessionName; "" for USER_SESSION
    tags: Mapping[str, str]
    session_policy: str | None
    created: float
    expires: float


@dataclass(frozen=True, slots=True)
class UserState:
    """A user with everything that makes up its credentials, read in one transaction."""

    user: IamUser
    keys: tuple[AccessKey, ...]
    policies: Mapping[str, str]  # policy name -> document


@dataclass(frozen=True, slots=True)
class RoleState:
    role: IamRole
    policies: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class IamSnapshot:
    users: tuple[UserState, ...]
    roles: tuple[RoleState, ...]
    sessions: tuple[StsSession, ...]
    version: int = 0  # the store's IAM version the snapshot was read at


@dataclass(frozen=True, slots=True)
class IamChange:
    """What a committed IAM/STS write changed, as the state after the commit.

    ``users``/``roles`` map a name key to the entity's new state, or ``None`` when it was deleted.
    The credential index applies it in the store's after-commit consumer, in commit order, so the
    index never runs ahead of, or behind, the database. ``output`` is the API's answer.
    """

    output: Mapping[str, object] = field(default_factory=dict)
    users: Mapping[str, UserState | None] = field(default_factory=dict)
    roles: Mapping[str, RoleState | None] = field(default_factory=dict)
    sessions_added: tuple[StsSession, ...] = ()
    sessions_removed: tuple[str, ...] = ()  # access key ids
    # The store's IAM version this change produced (each IAM write takes the next one in its
    # transaction): nodes apply changes in this order and re-read the store on a gap.
    version: int = 0


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A console sign-in: the access key it was opened with (never the secret), its form
    token and when it ends. Kept in the store, so every node and worker knows it."""

    access_key_id: str
    csrf: str
    expires: float
