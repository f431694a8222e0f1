"""Who signed a request: the principal behind an access key, and its credentials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    arn: str  # arn:aws:iam::ACCOUNT:root | :user/NAME | arn:aws:sts::ACCOUNT:assumed-role/R/S
    account_id: str
    kind: str  # "root", "user" or "assumed-role"
    user_id: str  # aws:userid
    name: str  # aws:username for IAM users; the role session name for sessions
    tags: Mapping[str, str] = field(default_factory=dict)
    policies: tuple[Any, ...] = ()  # parsed identity policies (bellwire.iam.policy.Policy)
    session_policies: tuple[Any, ...] | None = None  # an assumed role's session policy
    role_arn: str | None = None  # a role session's role (aws:PrincipalArn is the role's ARN)
    token_issued: float | None = None  # temporary credentials: when issued (aws:TokenIssueTime)

    @property
    def is_root(self) -> bool:
        return self.kind == "root"


@dataclass(frozen=True, slots=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    principal: Principal
    session_token: str | None = None  # required on requests made with temporary credentials
    # Or only its SHA-256 (hex), as STS sessions are stored: the token itself is never kept.
    session_token_sha256: str | None = None
    expires_at: float | None = None  # epoch seconds; None for long-term keys
    active: bool = True
