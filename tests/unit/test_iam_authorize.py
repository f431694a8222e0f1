"""authorize() (the one decision every request goes through) and the credential index that
hands it principals with their current policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bellwire.aws.errors import AccessDenied
from bellwire.iam.authorize import authorize, principal_facts, transport_facts
from bellwire.iam.credentials import CredentialIndex
from bellwire.iam.keys import root_principal
from bellwire.iam.policy import parse_policy
from bellwire.iam.principal import Credential, Principal
from bellwire.records.iam import (
    ASSUMED_ROLE,
    AccessKey,
    IamChange,
    IamRole,
    IamSnapshot,
    IamUser,
    RoleState,
    StsSession,
    UserState,
)

ACCOUNT = "123456789012"
APP = f"arn:aws:chime:us-east-1:{ACCOUNT}:app-instance/app"
ALICE = f"{APP}/user/alice"
BOB = f"{APP}/user/bob"
CHANNEL = f"{APP}/channel/c1"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


SCOPED = doc(
    {
        "Effect": "Allow",
        "Action": ["chime:SendChannelMessage", "chime:Connect"],
        "Resource": [f"{APP}/user/${{aws:PrincipalTag/UserId}}", f"{APP}/channel/*"],
    }
)
TRUST = doc({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})


def session_principal(
    tags: dict[str, str], *policies: str, session: str | None = None
) -> Principal:
    return Principal(
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s",
        account_id=ACCOUNT,
        kind="assumed-role",
        user_id="AROAEXAMPLE:s",
        name="s",
        tags=tags,
        policies=tuple(parse_policy(p, name=f"p{i}") for i, p in enumerate(policies)),
        session_policies=None if session is None else (parse_policy(session, name="session"),),
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/R",
    )


def test_root_may_do_anything() -> None:
    authorize(root_principal(ACCOUNT), "chime:DeleteAppInstance", [APP])


def test_every_resource_must_be_allowed_and_the_denial_names_the_first_refused() -> None:
    alice = session_principal({"UserId": "alice"}, SCOPED)
    authorize(alice, "chime:SendChannelMessage", [CHANNEL, ALICE])
    with pytest.raises(AccessDenied) as caught:
        authorize(alice, "chime:SendChannelMessage", [CHANNEL, BOB])
    assert caught.value.message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/R/s is not authorized to perform: "
        f"chime:SendChannelMessage on resource: {BOB} because no identity-based policy allows "
        "the chime:SendChannelMessage action"
    )
    with pytest.raises(AccessDenied):
        authorize(session_principal({}, SCOPED), "chime:Connect", [ALICE])  # no tag, no match
    with pytest.raises(AccessDenied):  # no resources means "*"
        authorize(alice, "chime:SendChannelMessage", [])


def test_explicit_and_session_denials_say_so() -> None:
    deny = doc({"Effect": "Deny", "Action": "chime:Send*", "Resource": "*"})
    with pytest.raises(AccessDenied) as caught:
        authorize(
            session_principal({"UserId": "alice"}, SCOPED, deny),
            "chime:SendChannelMessage",
            [ALICE],
        )
    assert caught.value.message.endswith("with an explicit deny in an identity-based policy")
    narrow = doc({"Effect": "Allow", "Action": "chime:Connect", "Resource": "*"})
    limited = session_principal({"UserId": "alice"}, SCOPED, session=narrow)
    authorize(limited, "chime:Connect", [ALICE])
    with pytest.raises(AccessDenied) as caught:
        authorize(limited, "chime:SendChannelMessage", [ALICE])
    assert caught.value.message.endswith(
        "because no session policy allows the chime:SendChannelMessage action"
    )
    with pytest.raises(AccessDenied) as caught:
        authorize(
            session_principal({}, SCOPED, session=deny), "chime:SendChannelMessage", [CHANNEL]
        )
    assert caught.value.message.endswith("with an explicit deny in a session policy")


def test_conditions_see_transport_and_principal_facts() -> None:
    from_lan = doc(
        {
            "Effect": "Allow",
            "Action": "chime:ListChannels",
            "Resource": "*",
            "Condition": {
                "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                "Bool": {"aws:SecureTransport": "true"},
                "ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/R"},
            },
        }
    )
    p = session_principal({}, from_lan)
    authorize(p, "chime:ListChannels", ["*"], transport_facts("10.1.2.3", secure=True))
    for facts in (transport_facts("192.168.1.1", True), transport_facts("10.1.2.3", False), {}):
        with pytest.raises(AccessDenied):
            authorize(p, "chime:ListChannels", ["*"], facts)
    # A caller's facts cannot pose as the principal's.
    forged = {"aws:PrincipalTag/UserId": "bob", **transport_facts("10.0.0.1", True)}
    with pytest.raises(AccessDenied):
        authorize(session_principal({"UserId": "alice"}, SCOPED), "chime:Connect", [BOB], forged)


def test_principal_facts() -> None:
    user = Principal(
        arn=f"arn:aws:iam::{ACCOUNT}:user/dev/ann",
        account_id=ACCOUNT,
        kind="user",
        user_id="AIDAANN",
        name="ann",
        tags={"team": "a"},
    )
    assert principal_facts(user) == {
        "aws:PrincipalArn": user.arn,
        "aws:PrincipalAccount": ACCOUNT,
        "aws:PrincipalType": "User",
        "aws:userid": "AIDAANN",
        "aws:username": "ann",
        "aws:PrincipalTag/team": "a",
    }
    facts = principal_facts(session_principal({"UserId": "alice"}))
    assert facts["aws:PrincipalArn"] == f"arn:aws:iam::{ACCOUNT}:role/R"  # the role, as in AWS
    assert "aws:username" not in facts


# --- the credential index -----------------------------------------------------------------------


def _root() -> Credential:
    return Credential("AKIAROOT", "root-secret", root_principal(ACCOUNT))


def _role(policies: dict[str, str], trust: str = TRUST) -> RoleState:
    role = IamRole("R", "AROAEXAMPLE", "/", None, trust, 3600, 1.0, {"UserId": "nobody"})
    return RoleState(role, policies)


def _session(**kw: Any) -> StsSession:
    values: dict[str, Any] = {
        "access_key_id": "ASIASESSION",
        "secret": "session-secret",
        "token_sha256": "ab" * 32,
        "kind": ASSUMED_ROLE,
        "owner_name": "R",
        "session_name": "s",
        "tags": {"UserId": "alice"},
        "session_policy": None,
        "created": 10.0,
        "expires": 20.0,
    }
    values.update(kw)
    return StsSession(**values)


def test_index_rebuilds_sessions_when_their_role_changes() -> None:
    index = CredentialIndex(ACCOUNT, _root())
    index.load(IamSnapshot(users=(), roles=(_role({"chime": SCOPED}),), sessions=(_session(),)))
    credential = index.get("ASIASESSION")
    assert credential is not None
    assert credential.session_token_sha256 == "ab" * 32 and credential.expires_at == 20.0
    p = credential.principal
    assert p.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s"
    assert p.tags == {"UserId": "alice"}  # the session tag overrides the role's
    authorize(p, "chime:Connect", [ALICE])

    index.apply(IamChange(roles={"r": _role({})}))  # the policy was deleted
    with pytest.raises(AccessDenied):
        authorize(index["ASIASESSION"].principal, "chime:Connect", [ALICE])
    index.apply(IamChange(roles={"r": None}))  # the role was deleted: so are its sessions
    assert index.get("ASIASESSION") is None
    assert index.get("AKIAROOT") is not None


def test_index_users_keys_and_pinned_credentials() -> None:
    index = CredentialIndex(ACCOUNT, _root())
    user = IamUser("Ann", "AIDAANN", "/", 1.0)
    key = AccessKey("AKIAANN0000000000000", "Ann", "secret", "Inactive", 1.0)
    index.apply(IamChange(users={"ann": UserState(user, (key,), {"p": SCOPED})}))
    credential = index["AKIAANN0000000000000"]
    assert not credential.active
    assert credential.principal.arn == f"arn:aws:iam::{ACCOUNT}:user/Ann"
    assert index.user("ANN") is not None  # names are case-insensitive
    pinned = Credential("ASIAPINNED", "x", root_principal(ACCOUNT), session_token="t")
    index["ASIAPINNED"] = pinned
    index.apply(IamChange(users={"ann": None}))
    assert index.get("AKIAANN0000000000000") is None
    assert index.get("ASIAPINNED") is pinned


def test_a_stored_policy_that_no_longer_parses_denies_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    index = CredentialIndex(ACCOUNT, _root())
    allow_all = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    index.apply(IamChange(roles={"r": _role({"ok": allow_all, "broken": "{not json"})}))
    index.apply(IamChange(sessions_added=(_session(),)))
    with pytest.raises(AccessDenied) as caught:
        authorize(index["ASIASESSION"].principal, "chime:ListChannels", ["*"])
    assert "explicit deny" in caught.value.message
    assert "no longer parses" in caplog.text
