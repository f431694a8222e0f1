"""The STS operations bellwire serves, as boto3's ``sts`` client calls them.

Where AWS behaviour was adapted:

* The root user may call AssumeRole (AWS refuses root): it is how a self-hosted backend with
  only root keys issues per-user credentials, the documented Chime pattern.
* A non-root caller of AssumeRole needs ``sts:AssumeRole`` on the role from its own identity
  policies (the registry's authorization step) *and* the role's trust policy must allow it (the
  cross-account rule, applied always).
* GetCallerIdentity and GetSessionToken need no permission, as in AWS; GetSessionToken refuses
  temporary credentials, as in AWS.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from bellwire.aws.errors import AccessDenied
from bellwire.aws.shapes import (
    StsAssumeRoleRequest,
    StsAssumeRoleResponse,
    StsGetCallerIdentityRequest,
    StsGetCallerIdentityResponse,
    StsGetSessionTokenRequest,
    StsGetSessionTokenResponse,
)
from bellwire.domain.iam import (
    DEFAULT_ROLE_SESSION,
    bounded,
    caller,
    context,
    no_role,
    no_user,
    parse_tags,
    size,
)
from bellwire.domain.operation import Call, Result, operation
from bellwire.iam.authorize import context_keys
from bellwire.iam.credentials import assumed_role_arn
from bellwire.iam.errors import ValidationError
from bellwire.iam.evaluate import RequestContext, evaluate
from bellwire.iam.keys import new_access_key_id, new_secret_access_key
from bellwire.iam.policy import MAX_SESSION, PolicyKind, parse_policy
from bellwire.records.iam import ASSUMED_ROLE, USER_SESSION, IamChange, StsSession
from bellwire.store.base import IamTx

Issued = TypeVar("Issued", bound=Mapping[str, Any])  # the answer of an operation issuing a session
ROLE_CHAINING_MAX: Final = 3600  # a session assuming another role
SESSION_TOKEN_DEFAULT: Final = 43200
SESSION_TOKEN_MAX: Final = 129600
SESSION_TOKEN_ROOT_MAX: Final = 3600
# Expired sessions are kept this long so that their callers get ExpiredToken, not "invalid".
EXPIRED_RETENTION: Final = 86400.0
TOKEN_BYTES: Final = 48


def new_session_token() -> str:
    return base64.b64encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _role_arn(call: Call, params: dict[str, Any]) -> list[str]:
    # Refused before authorization, as AWS answers it whoever asks.
    if params.get("PolicyArns"):
        raise ValidationError("Managed session policies (PolicyArns) are not supported.")
    return [params["RoleArn"]]


@operation("GetCallerIdentity", service="sts", writes=False, resources=None)
def get_caller_identity(
    tx: IamTx, call: Call, params: StsGetCallerIdentityRequest
) -> Result[StsGetCallerIdentityResponse]:
    principal = caller(call)
    return Result(
        {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}
    )


def _credentials(call: Call, duration: int) -> tuple[str, str, str, float, float]:
    return (
        new_access_key_id("ASIA"),
        new_secret_access_key(),
        new_session_token(),
        call.now,
        call.now + duration,
    )


def _issue(tx: IamTx, session: StsSession, output: Issued) -> Result[Issued]:
    itx = tx
    if session.kind == ASSUMED_ROLE and itx.iam_role(session.owner_name) is None:
        raise no_role(session.owner_name)
    user_gone = session.owner_name and itx.iam_user(session.owner_name) is None
    if session.kind == USER_SESSION and user_gone:
        raise no_user(session.owner_name)
    pruned = itx.prune_sts_sessions(session.created - EXPIRED_RETENTION)
    itx.insert_sts_session(session)
    return Result(output, iam=IamChange(sessions_added=(session,), sessions_removed=tuple(pruned)))


@operation("AssumeRole", service="sts", writes=True, resources=_role_arn)
def assume_role(
    tx: IamTx, call: Call, params: StsAssumeRoleRequest
) -> Result[StsAssumeRoleResponse]:
    principal, iam = caller(call), context(call)
    role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
    refused = AccessDenied(
        f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on resource: "
        f"{role_arn}"
    )
    prefix = f"arn:aws:iam::{call.account_id}:role/"
    entry = (
        iam.credentials.role(role_arn.rsplit("/", 1)[-1]) if role_arn.startswith(prefix) else None
    )
    if entry is None or entry.role.arn(call.account_id) != role_arn:
        raise refused
    role = entry.role
    tags = parse_tags(params.get("Tags"))
    keys = context_keys(principal, call.facts, call.now)
    keys["sts:RoleSessionName"] = session_name
    if tags:
        keys["aws:TagKeys"] = list(tags)
        for k, v in tags.items():
            keys[f"aws:RequestTag/{k}"] = v
    actions = ["sts:AssumeRole", *(["sts:TagSession"] if tags else [])]
    for action in actions:
        ctx = RequestContext(action, role_arn, keys, principal_arn=principal.arn)
        if not evaluate([entry.trust], ctx).allowed:
            if action == "sts:AssumeRole":
                raise refused
            raise AccessDenied(
                f"User: {principal.arn} is not authorized to perform: sts:TagSession on "
                f"resource: {role_arn}"
            )
    policy = params.get("Policy")
    if policy is not None:
        parse_policy(policy, name="session", kind=PolicyKind.IDENTITY, max_size=MAX_SESSION)
    high = role.max_session_duration
    if principal.kind == "assumed-role":
        high = min(high, ROLE_CHAINING_MAX)
    duration = params.get("DurationSeconds")
    if duration is not None and duration > high:
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            if duration > role.max_session_duration
            else "The requested DurationSeconds exceeds the 1 hour session limit for roles "
            "assumed by role chaining."
        )
    duration = bounded(
        duration, min(DEFAULT_ROLE_SESSION, high), iam.sts_min_duration, high, "durationSeconds"
    )
    key_id, secret, token, now, expires = _credentials(call, duration)
    session = StsSession(
        access_key_id=key_id,
        secret=secret,
        token_sha256=token_digest(token),
        kind=ASSUMED_ROLE,
        owner_name=role.name,
        session_name=session_name,
        tags=tags,
        session_policy=policy,
        created=now,
        expires=expires,
    )
    output: StsAssumeRoleResponse = {
        "Credentials": {
            "AccessKeyId": key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expires,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{session_name}",
            "Arn": assumed_role_arn(call.account_id, role.name, session_name),
        },
    }
    if policy is not None or tags:
        packed = size(policy or "") + sum(len(k) + len(v) for k, v in tags.items())
        output["PackedPolicySize"] = min(100, packed * 100 // MAX_SESSION)
    return _issue(tx, session, output)


@operation("GetSessionToken", service="sts", writes=True, resources=None)
def get_session_token(
    tx: IamTx, call: Call, params: StsGetSessionTokenRequest
) -> Result[StsGetSessionTokenResponse]:
    principal, iam = caller(call), context(call)
    if principal.token_issued is not None or principal.kind == "assumed-role":
        raise AccessDenied("Cannot call GetSessionToken with session credentials")
    high = SESSION_TOKEN_ROOT_MAX if principal.is_root else SESSION_TOKEN_MAX
    duration = bounded(
        params.get("DurationSeconds"),
        min(SESSION_TOKEN_DEFAULT, high),
        iam.sts_min_duration,
        high,
        "durationSeconds",
    )
    key_id, secret, token, now, expires = _credentials(call, duration)
    session = StsSession(
        access_key_id=key_id,
        secret=secret,
        token_sha256=token_digest(token),
        kind=USER_SESSION,
        owner_name="" if principal.is_root else principal.name,
        session_name="",
        tags={},
        session_policy=None,
        created=now,
        expires=expires,
    )
    output: StsGetSessionTokenResponse = {
        "Credentials": {
            "AccessKeyId": key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expires,
        }
    }
    return _issue(tx, session, output)
