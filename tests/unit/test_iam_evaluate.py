"""Evaluation of IAM policies: a table of cases drawn from AWS's documented evaluation logic,
plus property tests (explicit deny always wins; the glob matcher agrees with a regex oracle)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwire.iam.evaluate import Decision, Outcome, RequestContext, evaluate
from bellwire.iam.policy import PolicyKind, parse_policy
from bellwire.iam.wildcard import compile_glob

ACCT = "123456789012"
OTHER = "210987654321"
APP = f"arn:aws:chime:us-east-1:{ACCT}:app-instance/app1"
CH = f"{APP}/channel/c1"
ROLE = f"arn:aws:iam::{ACCT}:role/ChimeUser"
SEND = "chime:SendChannelMessage"
LIST = "chime:ListChannelMessages"


def user(uid: str) -> str:
    return f"{APP}/user/{uid}"


def stmt(
    effect: str = "Allow", action: Any = "chime:*", resource: Any = "*", **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect}
    if action is not None:
        out["Action"] = action
    if resource is not None:
        out["Resource"] = resource
    for key, value in extra.items():
        out[key] = value
    return out


def cond(**ops: Mapping[str, Any]) -> dict[str, Any]:
    """``cond(StringEquals={...})``; set-qualified operators go through ``cond_raw``."""
    return {"Condition": dict(ops)}


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> str:
    return json.dumps({"Version": version, "Statement": list(statements)})


ALLOW_ALL = doc(stmt())
A, D, I = Outcome.ALLOW, Outcome.DENY, Outcome.IMPLICIT_DENY  # noqa: E741


@dataclass
class Case:
    id: str
    policies: Sequence[str]
    expected: Outcome
    action: str = SEND
    resource: str = CH
    keys: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    session: Sequence[str] | None = None
    kind: PolicyKind = PolicyKind.IDENTITY
    principal_arn: str | None = None
    principal_service: str | None = None


def trust(*statements: dict[str, Any]) -> str:
    return doc(*statements)


def tstmt(principal: Any, action: Any = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    out = {"Effect": "Allow", "Principal": principal, "Action": action}
    out.update(extra)
    return out


CHIME_USER_POLICY = doc(
    stmt(
        action=[SEND, LIST, "chime:Connect"],
        resource=[f"{APP}/user/${{aws:PrincipalTag/UserId}}", f"{APP}/channel/*"],
    ),
    stmt(action="chime:GetMessagingSessionEndpoint", resource="*"),
)

CASES: list[Case] = [
    # --- the basic order: explicit deny > allow > implicit deny ---------------------------------
    Case("allow-exact", [doc(stmt(action=SEND, resource=CH))], A),
    Case("nothing-matches", [doc(stmt(action=LIST, resource=CH))], I),
    Case("no-policies", [], I),
    Case("deny-wins-same-policy", [doc(stmt(), stmt("Deny", SEND, CH))], D),
    Case("deny-wins-other-policy", [ALLOW_ALL, doc(stmt("Deny", SEND, "*"))], D),
    Case("deny-other-action-irrelevant", [ALLOW_ALL, doc(stmt("Deny", LIST, "*"))], A),
    Case("deny-other-resource-irrelevant", [ALLOW_ALL, doc(stmt("Deny", SEND, user("x")))], A),
    # --- actions: case-insensitive, * and ? ----------------------------------------------------
    Case("action-case-insensitive", [doc(stmt(action="CHIME:sendchannelMESSAGE"))], A),
    Case("action-star-suffix", [doc(stmt(action="chime:Send*"))], A),
    Case("action-star-infix", [doc(stmt(action="chime:*Channel*"))], A),
    Case("action-question-one-char", [doc(stmt(action="chime:ListChannelMessage?"))], A, LIST),
    Case("action-question-not-zero", [doc(stmt(action="chime:ListChannelMessages?"))], I, LIST),
    Case("action-star-all", [doc(stmt(action="*"))], A),
    Case("action-other-service", [doc(stmt(action="s3:*"))], I),
    Case("action-list-any", [doc(stmt(action=["s3:GetObject", "chime:Send*"]))], A),
    # --- resources: case-sensitive, * spans /, ? one char, no regex ----------------------------
    Case("resource-case-sensitive", [doc(stmt(resource=CH.replace("channel", "Channel")))], I),
    Case("resource-star-spans-slash", [doc(stmt(resource=f"{APP}/*"))], A),
    Case("resource-star-spans-colon", [doc(stmt(resource="arn:aws:chime:*"))], A),
    Case("resource-question", [doc(stmt(resource=f"{APP}/channel/c?"))], A),
    Case("resource-question-too-short", [doc(stmt(resource=f"{APP}/channel/c1?"))], I),
    Case("resource-dot-literal", [doc(stmt(resource=f"{APP}/channel/c."))], I),
    Case(
        "resource-brackets-literal",
        [doc(stmt(resource=f"{APP}/channel/[ab]"))],
        A,
        resource=f"{APP}/channel/[ab]",
    ),
    Case("resource-brackets-not-class", [doc(stmt(resource=f"{APP}/channel/[c]1"))], I),
    # --- NotAction / NotResource -----------------------------------------------------------------
    Case("notaction-allows-others", [doc(stmt(action=None, NotAction="chime:DeleteChannel"))], A),
    Case(
        "notaction-excludes-named",
        [doc(stmt(action=None, NotAction="chime:DeleteChannel"))],
        I,
        "chime:DeleteChannel",
    ),
    Case(
        "deny-notaction-denies-others",
        [ALLOW_ALL, doc(stmt("Deny", None, "*", NotAction="chime:List*"))],
        D,
    ),
    Case(
        "deny-notaction-spares-named",
        [ALLOW_ALL, doc(stmt("Deny", None, "*", NotAction="chime:List*"))],
        A,
        LIST,
    ),
    Case("notresource-allows-others", [doc(stmt(resource=None, NotResource=user("*")))], A),
    Case(
        "notresource-excludes-named",
        [doc(stmt(resource=None, NotResource=CH))],
        I,
    ),
    Case(
        "deny-notresource",
        [ALLOW_ALL, doc(stmt("Deny", "chime:*", None, NotResource=f"{APP}/channel/public-*"))],
        D,
    ),
    # --- policy variables ----------------------------------------------------------------------
    Case(
        "chime-pattern-alice-allowed",
        [CHIME_USER_POLICY],
        A,
        "chime:Connect",
        user("alice"),
        {"aws:PrincipalTag/UserId": "alice"},
    ),
    Case(
        "chime-pattern-bob-denied",
        [CHIME_USER_POLICY],
        I,
        "chime:Connect",
        user("alice"),
        {"aws:PrincipalTag/UserId": "bob"},
    ),
    Case("chime-pattern-no-tag", [CHIME_USER_POLICY], I, "chime:Connect", user("alice")),
    Case(
        "chime-pattern-channel-any-user",
        [CHIME_USER_POLICY],
        A,
        SEND,
        CH,
        {"aws:PrincipalTag/UserId": "bob"},
    ),
    Case(
        "chime-pattern-tag-key-case-insensitive",
        [CHIME_USER_POLICY],
        A,
        "chime:Connect",
        user("alice"),
        {"AWS:PRINCIPALTAG/USERID": "alice"},
    ),
    Case(
        "var-username",
        [doc(stmt(resource=user("${aws:username}")))],
        A,
        resource=user("alice"),
        keys={"aws:username": "alice"},
    ),
    Case(
        "var-userid-mismatch",
        [doc(stmt(resource=user("${aws:userid}")))],
        I,
        resource=user("alice"),
        keys={"aws:userid": "AIDAEXAMPLE"},
    ),
    Case(
        "var-default-used",
        [doc(stmt(resource=user("${aws:username, 'guest'}")))],
        A,
        resource=user("guest"),
    ),
    Case(
        "var-default-not-used-when-present",
        [doc(stmt(resource=user("${aws:username, 'guest'}")))],
        I,
        resource=user("guest"),
        keys={"aws:username": "alice"},
    ),
    Case(
        "var-substitution-is-literal",
        [doc(stmt(resource=user("${aws:username}")))],
        I,
        resource=user("alice"),
        keys={"aws:username": "a*"},
    ),
    Case(
        "var-escape-star-literal",
        [doc(stmt(resource=user("${*}")))],
        I,
        resource=user("alice"),
    ),
    Case(
        "var-escape-star-matches-star",
        [doc(stmt(resource=user("${*}${?}${$}")))],
        A,
        resource=user("*?$"),
    ),
    Case(
        "var-multivalued-unresolved",
        [doc(stmt(resource=user("${aws:TagKeys}")))],
        I,
        resource=user("a"),
        keys={"aws:TagKeys": ["a"]},
    ),
    Case(
        "var-2008-version-literal",
        [doc(stmt(resource=user("${aws:username}")), version="2008-10-17")],
        I,
        resource=user("alice"),
        keys={"aws:username": "alice"},
    ),
    Case(
        "var-2008-version-literal-text",
        [doc(stmt(resource=user("${aws:username}")), version="2008-10-17")],
        A,
        resource=user("${aws:username}"),
    ),
    Case(
        "var-in-condition",
        [doc(stmt(**cond(StringEquals={"aws:PrincipalTag/owner": "${aws:username}"})))],
        A,
        keys={"aws:username": "alice", "aws:PrincipalTag/owner": "alice"},
    ),
    Case(
        "var-in-condition-absent",
        [doc(stmt(**cond(StringEquals={"aws:PrincipalTag/owner": "${aws:username}"})))],
        I,
        keys={"aws:PrincipalTag/owner": "alice"},
    ),
    Case(
        "var-current-time",
        [doc(stmt(resource=f"{APP}/channel/${{aws:CurrentTime}}"))],
        A,
        resource=f"{APP}/channel/2024-01-01T00:00:00Z",
        keys={"aws:CurrentTime": "2024-01-01T00:00:00Z"},
    ),
    # --- string operators ------------------------------------------------------------------------
    Case(
        "stringequals",
        [doc(stmt(**cond(StringEquals={"aws:username": "alice"})))],
        A,
        keys={"aws:username": "alice"},
    ),
    Case(
        "stringequals-case-sensitive",
        [doc(stmt(**cond(StringEquals={"aws:username": "alice"})))],
        I,
        keys={"aws:username": "Alice"},
    ),
    Case(
        "stringequals-values-ored",
        [doc(stmt(**cond(StringEquals={"aws:username": ["bob", "alice"]})))],
        A,
        keys={"aws:username": "alice"},
    ),
    Case(
        "stringequals-absent-key",
        [doc(stmt(**cond(StringEquals={"aws:username": "alice"})))],
        I,
    ),
    Case(
        "stringequals-key-name-case-insensitive",
        [doc(stmt(**cond(StringEquals={"AWS:UserName": "alice"})))],
        A,
        keys={"aws:username": "alice"},
    ),
    Case(
        "stringnotequals-differs",
        [doc(stmt(**cond(StringNotEquals={"aws:username": "bob"})))],
        A,
        keys={"aws:username": "alice"},
    ),
    Case(
        "stringnotequals-values-nored",
        [doc(stmt(**cond(StringNotEquals={"aws:username": ["bob", "alice"]})))],
        I,
        keys={"aws:username": "alice"},
    ),
    Case(
        "stringnotequals-absent-key-true",
        [doc(stmt(**cond(StringNotEquals={"aws:username": "bob"})))],
        A,
    ),
    Case(
        "stringequalsignorecase",
        [doc(stmt(**cond(StringEqualsIgnoreCase={"aws:username": "ALICE"})))],
        A,
        keys={"aws:username": "alice"},
    ),
    Case(
        "stringnotequalsignorecase",
        [doc(stmt(**cond(StringNotEqualsIgnoreCase={"aws:username": "ALICE"})))],
        I,
        keys={"aws:username": "Alice"},
    ),
    Case(
        "stringlike",
        [doc(stmt(**cond(StringLike={"aws:username": "al?c*"})))],
        A,
        keys={"aws:username": "alice-admin"},
    ),
    Case(
        "stringlike-no-match",
        [doc(stmt(**cond(StringLike={"aws:username": "al?c"})))],
        I,
        keys={"aws:username": "alice"},
    ),
    Case(
        "stringnotlike",
        [doc(stmt(**cond(StringNotLike={"aws:username": "adm*"})))],
        A,
        keys={"aws:username": "alice"},
    ),
    Case(
        "stringnotlike-matches",
        [doc(stmt(**cond(StringNotLike={"aws:username": "adm*"})))],
        I,
        keys={"aws:username": "admin"},
    ),
    Case(
        "stringequals-is-not-a-pattern",
        [doc(stmt(**cond(StringEquals={"aws:username": "a*"})))],
        I,
        keys={"aws:username": "alice"},
    ),
    Case(
        "keys-in-one-operator-anded",
        [doc(stmt(**cond(StringEquals={"aws:username": "alice", "aws:userid": "X"})))],
        I,
        keys={"aws:username": "alice", "aws:userid": "Y"},
    ),
    Case(
        "operators-anded",
        [
            doc(
                stmt(
                    **cond(
                        StringEquals={"aws:username": "alice"},
                        Bool={"aws:SecureTransport": "true"},
                    )
                )
            )
        ],
        I,
        keys={"aws:username": "alice", "aws:SecureTransport": "false"},
    ),
    Case(
        "operators-anded-all-true",
        [
            doc(
                stmt(
                    **cond(
                        StringEquals={"aws:username": "alice"},
                        Bool={"aws:SecureTransport": "true"},
                    )
                )
            )
        ],
        A,
        keys={"aws:username": "alice", "aws:SecureTransport": "true"},
    ),
    Case(
        "multivalued-key-without-qualifier-any",
        [doc(stmt(**cond(StringEquals={"aws:TagKeys": "team"})))],
        A,
        keys={"aws:TagKeys": ["cost", "team"]},
    ),
    # --- Bool and Null -------------------------------------------------------------------------
    Case(
        "bool-json-true",
        [doc(stmt(**cond(Bool={"aws:SecureTransport": True})))],
        A,
        keys={"aws:SecureTransport": "true"},
    ),
    Case(
        "bool-false-request",
        [doc(stmt(**cond(Bool={"aws:SecureTransport": "true"})))],
        I,
        keys={"aws:SecureTransport": "false"},
    ),
    Case(
        "deny-insecure-transport",
        [ALLOW_ALL, doc(stmt("Deny", "*", "*", **cond(Bool={"aws:SecureTransport": "false"})))],
        D,
        keys={"aws:SecureTransport": "false"},
    ),
    Case(
        "null-true-absent",
        [doc(stmt(**cond(Null={"aws:PrincipalTag/UserId": "true"})))],
        A,
    ),
    Case(
        "null-true-present",
        [doc(stmt(**cond(Null={"aws:PrincipalTag/UserId": "true"})))],
        I,
        keys={"aws:PrincipalTag/UserId": "alice"},
    ),
    Case(
        "null-false-present",
        [doc(stmt(**cond(Null={"aws:PrincipalTag/UserId": "false"})))],
        A,
        keys={"aws:PrincipalTag/UserId": "alice"},
    ),
    Case(
        "null-false-absent",
        [doc(stmt(**cond(Null={"aws:PrincipalTag/UserId": "false"})))],
        I,
    ),
    Case(
        "null-false-empty-list",
        [doc(stmt(**cond(Null={"aws:TagKeys": "false"})))],
        I,
        keys={"aws:TagKeys": []},
    ),
    # --- numeric -------------------------------------------------------------------------------
    Case(
        "numeric-lessthan",
        [doc(stmt(**cond(NumericLessThan={"aws:MultiFactorAuthAge": "3600"})))],
        A,
        keys={"aws:MultiFactorAuthAge": "10"},
    ),
    Case(
        "numeric-lessthan-boundary",
        [doc(stmt(**cond(NumericLessThan={"aws:MultiFactorAuthAge": 3600})))],
        I,
        keys={"aws:MultiFactorAuthAge": "3600"},
    ),
    Case(
        "numeric-lessthanequals-boundary",
        [doc(stmt(**cond(NumericLessThanEquals={"aws:MultiFactorAuthAge": 3600})))],
        A,
        keys={"aws:MultiFactorAuthAge": "3600"},
    ),
    Case(
        "numeric-greaterthan",
        [doc(stmt(**cond(NumericGreaterThan={"aws:MultiFactorAuthAge": "10"})))],
        I,
        keys={"aws:MultiFactorAuthAge": "9.5"},
    ),
    Case(
        "numeric-greaterthanequals",
        [doc(stmt(**cond(NumericGreaterThanEquals={"aws:MultiFactorAuthAge": "10"})))],
        A,
        keys={"aws:MultiFactorAuthAge": "10.0"},
    ),
    Case(
        "numeric-equals-decimal",
        [doc(stmt(**cond(NumericEquals={"aws:MultiFactorAuthAge": "1.50"})))],
        A,
        keys={"aws:MultiFactorAuthAge": "1.5"},
    ),
    Case(
        "numeric-notequals",
        [doc(stmt(**cond(NumericNotEquals={"aws:MultiFactorAuthAge": ["1", "2"]})))],
        A,
        keys={"aws:MultiFactorAuthAge": "3"},
    ),
    Case(
        "numeric-notequals-hit",
        [doc(stmt(**cond(NumericNotEquals={"aws:MultiFactorAuthAge": ["1", "2"]})))],
        I,
        keys={"aws:MultiFactorAuthAge": "2"},
    ),
    Case(
        "numeric-non-numeric-request-neither",
        [doc(stmt(**cond(NumericNotEquals={"aws:MultiFactorAuthAge": "1"})))],
        I,
        keys={"aws:MultiFactorAuthAge": "abc"},
    ),
    # --- dates ---------------------------------------------------------------------------------
    Case(
        "date-lessthan-iso",
        [doc(stmt(**cond(DateLessThan={"aws:CurrentTime": "2025-01-01T00:00:00Z"})))],
        A,
        keys={"aws:CurrentTime": "2024-06-01T12:00:00Z"},
    ),
    Case(
        "date-lessthan-iso-expired",
        [doc(stmt(**cond(DateLessThan={"aws:CurrentTime": "2025-01-01T00:00:00Z"})))],
        I,
        keys={"aws:CurrentTime": "2025-01-01T00:00:00Z"},
    ),
    Case(
        "date-greaterthan-epoch-policy-iso-request",
        [doc(stmt(**cond(DateGreaterThan={"aws:CurrentTime": 1704067200})))],
        A,
        keys={"aws:CurrentTime": "2024-01-01T00:00:01Z"},
    ),
    Case(
        "date-equals-offset",
        [doc(stmt(**cond(DateEquals={"aws:CurrentTime": "2024-01-01T02:00:00+02:00"})))],
        A,
        keys={"aws:CurrentTime": "2024-01-01T00:00:00Z"},
    ),
    Case(
        "date-lessthanequals-epoch-request",
        [doc(stmt(**cond(DateLessThanEquals={"aws:EpochTime": "2024-01-01T00:00:00Z"})))],
        A,
        keys={"aws:EpochTime": "1704067200"},
    ),
    Case(
        "date-greaterthanequals-date-only",
        [doc(stmt(**cond(DateGreaterThanEquals={"aws:CurrentTime": "2024-01-02"})))],
        I,
        keys={"aws:CurrentTime": "2024-01-01T23:59:59Z"},
    ),
    Case(
        "date-notequals",
        [doc(stmt(**cond(DateNotEquals={"aws:EpochTime": "1704067200"})))],
        A,
        keys={"aws:EpochTime": "1704067201"},
    ),
    # --- IP addresses --------------------------------------------------------------------------
    Case(
        "ip-v4-cidr",
        [doc(stmt(**cond(IpAddress={"aws:SourceIp": "203.0.113.0/24"})))],
        A,
        keys={"aws:SourceIp": "203.0.113.7"},
    ),
    Case(
        "ip-v4-outside",
        [doc(stmt(**cond(IpAddress={"aws:SourceIp": "203.0.113.0/24"})))],
        I,
        keys={"aws:SourceIp": "203.0.114.7"},
    ),
    Case(
        "ip-v6-cidr",
        [doc(stmt(**cond(IpAddress={"aws:SourceIp": "2001:db8::/32"})))],
        A,
        keys={"aws:SourceIp": "2001:db8:1::5"},
    ),
    Case(
        "ip-v4-request-v6-policy",
        [doc(stmt(**cond(IpAddress={"aws:SourceIp": "::/0"})))],
        I,
        keys={"aws:SourceIp": "10.0.0.1"},
    ),
    Case(
        "ip-single-host",
        [doc(stmt(**cond(IpAddress={"aws:SourceIp": ["10.0.0.1", "192.0.2.0/24"]})))],
        A,
        keys={"aws:SourceIp": "10.0.0.1"},
    ),
    Case(
        "notipaddress-deny-outside",
        [
            ALLOW_ALL,
            doc(stmt("Deny", "*", "*", **cond(NotIpAddress={"aws:SourceIp": "10.0.0.0/8"}))),
        ],
        D,
        keys={"aws:SourceIp": "192.0.2.1"},
    ),
    Case(
        "notipaddress-deny-inside-spared",
        [
            ALLOW_ALL,
            doc(stmt("Deny", "*", "*", **cond(NotIpAddress={"aws:SourceIp": "10.0.0.0/8"}))),
        ],
        A,
        keys={"aws:SourceIp": "10.1.2.3"},
    ),
    # --- ARN operators -------------------------------------------------------------------------
    Case(
        "arnlike-role-wildcard",
        [doc(stmt(**cond(ArnLike={"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/*"})))],
        A,
        keys={"aws:PrincipalArn": ROLE},
    ),
    Case(
        "arnequals-exact",
        [doc(stmt(**cond(ArnEquals={"aws:PrincipalArn": ROLE})))],
        A,
        keys={"aws:PrincipalArn": ROLE},
    ),
    Case(
        "arnlike-component-wildcard-cannot-cross-colon",
        [doc(stmt(**cond(ArnLike={"aws:PrincipalArn": "arn:aws:iam::*:role/x"})))],
        I,
        keys={"aws:PrincipalArn": "arn:aws:iam::1:2:role/x"},
    ),
    Case(
        "arnlike-resource-component-spans-slash",
        [doc(stmt(**cond(ArnLike={"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:*"})))],
        A,
        keys={"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/path/x"},
    ),
    Case(
        "arnnotlike",
        [doc(stmt(**cond(ArnNotLike={"aws:PrincipalArn": "arn:aws:iam::*:user/*"})))],
        A,
        keys={"aws:PrincipalArn": ROLE},
    ),
    Case(
        "arnlike-non-arn-request",
        [doc(stmt(**cond(ArnLike={"aws:PrincipalArn": "arn:*:*:*:*:*"})))],
        I,
        keys={"aws:PrincipalArn": "not-an-arn"},
    ),
    Case(
        "arnequals-variable",
        [doc(stmt(**cond(ArnEquals={"aws:SourceArn": "${aws:PrincipalArn}"})))],
        A,
        keys={"aws:PrincipalArn": ROLE, "aws:SourceArn": ROLE},
    ),
    # --- IfExists ------------------------------------------------------------------------------
    Case(
        "ifexists-absent-true",
        [doc(stmt(**cond(StringEqualsIfExists={"aws:PrincipalTag/team": "chat"})))],
        A,
    ),
    Case(
        "ifexists-present-mismatch",
        [doc(stmt(**cond(StringEqualsIfExists={"aws:PrincipalTag/team": "chat"})))],
        I,
        keys={"aws:PrincipalTag/team": "ops"},
    ),
    Case(
        "ifexists-numeric-present-ok",
        [doc(stmt(**cond(NumericLessThanIfExists={"aws:MultiFactorAuthAge": "60"})))],
        A,
        keys={"aws:MultiFactorAuthAge": "30"},
    ),
    Case(
        "deny-notequals-ifexists-absent-applies",
        [
            ALLOW_ALL,
            doc(
                stmt(
                    "Deny",
                    "*",
                    "*",
                    **cond(StringNotEqualsIfExists={"aws:PrincipalTag/team": "chat"}),
                )
            ),
        ],
        D,
    ),
    # --- set operators -------------------------------------------------------------------------
    Case(
        "forallvalues-subset",
        [doc(stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b", "c"]}}))],
        A,
        keys={"aws:TagKeys": ["a", "b"]},
    ),
    Case(
        "forallvalues-not-subset",
        [doc(stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}))],
        I,
        keys={"aws:TagKeys": ["a", "z"]},
    ),
    Case(
        "forallvalues-absent-true",
        [doc(stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}))],
        A,
    ),
    Case(
        "forallvalues-empty-list-true",
        [doc(stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}))],
        A,
        keys={"aws:TagKeys": []},
    ),
    Case(
        "forallvalues-guarded-by-null",
        [
            doc(
                stmt(
                    Condition={
                        "ForAllValues:StringEquals": {"aws:TagKeys": ["a"]},
                        "Null": {"aws:TagKeys": "false"},
                    }
                )
            )
        ],
        I,
    ),
    Case(
        "foranyvalue-one-matches",
        [doc(stmt(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}))],
        A,
        keys={"aws:TagKeys": ["z", "b"]},
    ),
    Case(
        "foranyvalue-none-matches",
        [doc(stmt(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}))],
        I,
        keys={"aws:TagKeys": ["y", "z"]},
    ),
    Case(
        "foranyvalue-absent-false",
        [doc(stmt(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}))],
        I,
    ),
    Case(
        "foranyvalue-empty-list-false",
        [doc(stmt(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}))],
        I,
        keys={"aws:TagKeys": []},
    ),
    # AWS's documented example: deny tagging unless every tag key starts with key1.
    Case(
        "forallvalues-stringnotlike-deny-spared",
        [
            ALLOW_ALL,
            doc(
                stmt(
                    "Deny",
                    "*",
                    "*",
                    Condition={"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}},
                )
            ),
        ],
        A,
        keys={"aws:TagKeys": ["key1:hr", "key1:personnel"]},
    ),
    Case(
        "forallvalues-stringnotlike-deny-applies",
        [
            ALLOW_ALL,
            doc(
                stmt(
                    "Deny",
                    "*",
                    "*",
                    Condition={"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}},
                )
            ),
        ],
        D,
        keys={"aws:TagKeys": ["key2:audit"]},
    ),
    Case(
        "forallvalues-stringnotlike-deny-absent-applies",
        [
            ALLOW_ALL,
            doc(
                stmt(
                    "Deny",
                    "*",
                    "*",
                    Condition={"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}},
                )
            ),
        ],
        D,
    ),
    Case(
        "foranyvalue-stringnotequals",
        [doc(stmt(Condition={"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a", "b"]}}))],
        A,
        keys={"aws:TagKeys": ["a", "c"]},
    ),
    Case(
        "foranyvalue-stringlike",
        [doc(stmt(Condition={"ForAnyValue:StringLike": {"aws:TagKeys": "cost*"}}))],
        A,
        keys={"aws:TagKeys": ["team", "cost-center"]},
    ),
    # --- session policies (intersection) -------------------------------------------------------
    Case("session-both-allow", [ALLOW_ALL], A, session=[doc(stmt(action=SEND))]),
    Case("session-narrows", [ALLOW_ALL], I, LIST, session=[doc(stmt(action=SEND))]),
    Case("session-grants-nothing-alone", [doc(stmt(action=LIST))], I, session=[ALLOW_ALL]),
    Case(
        "session-explicit-deny", [ALLOW_ALL], D, session=[ALLOW_ALL, doc(stmt("Deny", SEND, "*"))]
    ),
    Case("session-empty-list-denies", [ALLOW_ALL], I, session=[]),
    Case(
        "session-with-variable",
        [ALLOW_ALL],
        A,
        resource=user("alice"),
        keys={"aws:PrincipalTag/UserId": "alice"},
        session=[doc(stmt(resource=user("${aws:PrincipalTag/UserId}")))],
    ),
    Case(
        "session-identity-deny-still-wins",
        [ALLOW_ALL, doc(stmt("Deny", SEND, "*"))],
        D,
        session=[ALLOW_ALL],
    ),
    # --- trust policies ------------------------------------------------------------------------
    Case(
        "trust-account-id",
        [trust(tstmt({"AWS": ACCT}))],
        A,
        "sts:AssumeRole",
        ROLE,
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-account-root-arn",
        [trust(tstmt({"AWS": f"arn:aws:iam::{ACCT}:root"}))],
        A,
        "sts:AssumeRole",
        ROLE,
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-other-account",
        [trust(tstmt({"AWS": [OTHER]}))],
        I,
        "sts:AssumeRole",
        ROLE,
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-user-arn-exact",
        [trust(tstmt({"AWS": f"arn:aws:iam::{ACCT}:user/alice"}))],
        I,
        "sts:AssumeRole",
        ROLE,
        principal_arn=f"arn:aws:iam::{ACCT}:user/bob",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-role-arn-matches-session",
        [trust(tstmt({"AWS": f"arn:aws:iam::{ACCT}:role/path/Backend"}))],
        A,
        "sts:AssumeRole",
        ROLE,
        principal_arn=f"arn:aws:sts::{ACCT}:assumed-role/Backend/worker-1",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-anyone",
        [trust(tstmt("*"))],
        A,
        "sts:AssumeRole",
        ROLE,
        principal_arn=f"arn:aws:iam::{OTHER}:user/eve",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-service",
        [trust(tstmt({"Service": "chime.amazonaws.com"}))],
        A,
        "sts:AssumeRole",
        ROLE,
        principal_service="chime.amazonaws.com",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-wrong-action",
        [trust(tstmt({"AWS": ACCT}))],
        I,
        "sts:TagSession",
        ROLE,
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-external-id-mismatch",
        [trust(tstmt({"AWS": ACCT}, Condition={"StringEquals": {"sts:ExternalId": "s3cret"}}))],
        I,
        "sts:AssumeRole",
        ROLE,
        {"sts:ExternalId": "guess"},
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-session-name-is-username",
        [
            trust(
                tstmt(
                    {"AWS": ACCT},
                    Condition={"StringLike": {"sts:RoleSessionName": "${aws:username}"}},
                )
            )
        ],
        A,
        "sts:AssumeRole",
        ROLE,
        {"sts:RoleSessionName": "alice", "aws:username": "alice"},
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-tagsession-allowed-keys",
        [
            trust(
                tstmt(
                    {"AWS": ACCT},
                    "sts:TagSession",
                    Condition={
                        "ForAllValues:StringEquals": {"aws:TagKeys": ["UserId"]},
                        "StringLike": {"aws:RequestTag/UserId": "?*"},
                    },
                )
            )
        ],
        A,
        "sts:TagSession",
        ROLE,
        {"aws:TagKeys": ["UserId"], "aws:RequestTag/UserId": "alice"},
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-tagsession-extra-key",
        [
            trust(
                tstmt(
                    {"AWS": ACCT},
                    "sts:TagSession",
                    Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["UserId"]}},
                )
            )
        ],
        I,
        "sts:TagSession",
        ROLE,
        {"aws:TagKeys": ["UserId", "Admin"]},
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-notprincipal-deny",
        [
            trust(
                tstmt({"AWS": ACCT}),
                {
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCT}:user/alice"},
                    "Action": "sts:AssumeRole",
                },
            )
        ],
        D,
        "sts:AssumeRole",
        ROLE,
        principal_arn=f"arn:aws:iam::{ACCT}:user/bob",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-notprincipal-spares-listed",
        [
            trust(
                tstmt({"AWS": ACCT}),
                {
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCT}:user/alice"},
                    "Action": "sts:AssumeRole",
                },
            )
        ],
        A,
        "sts:AssumeRole",
        ROLE,
        principal_arn=f"arn:aws:iam::{ACCT}:user/alice",
        kind=PolicyKind.TRUST,
    ),
    Case(
        "trust-anonymous-not-account",
        [trust(tstmt({"AWS": ACCT}))],
        I,
        "sts:AssumeRole",
        ROLE,
        kind=PolicyKind.TRUST,
    ),
]


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


def _run(case: Case) -> Decision:
    policies = [parse_policy(p, name=f"p{i}", kind=case.kind) for i, p in enumerate(case.policies)]
    session = None
    if case.session is not None:
        session = [parse_policy(p, name=f"s{i}") for i, p in enumerate(case.session)]
    ctx = RequestContext(
        case.action,
        case.resource,
        case.keys,
        principal_arn=case.principal_arn,
        principal_service=case.principal_service,
    )
    return evaluate(policies, ctx, session_policies=session)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_evaluation_table(case: Case) -> None:
    decision = _run(case)
    assert decision.outcome is case.expected, decision.explain()
    # Every decision explains itself, starting with its outcome.
    assert decision.explain().startswith(case.expected.value + ":")


# --- explanations --------------------------------------------------------------------------------


def test_explain_names_the_deciding_deny() -> None:
    allow = parse_policy(ALLOW_ALL, name="base")
    deny = parse_policy(
        doc(stmt(), {"Sid": "NoSend", "Effect": "Deny", "Action": SEND, "Resource": "*"}),
        name="guard",
    )
    d = evaluate([allow, deny], RequestContext(SEND, CH))
    assert d.outcome is Outcome.DENY
    assert d.statement is not None
    assert (d.statement.policy_name, d.statement.policy_index) == ("guard", 1)
    assert (d.statement.statement_index, d.statement.sid) == (1, "NoSend")
    assert d.explain() == (
        f'Deny: {SEND} on {CH} is explicitly denied by policy "guard" statement #1 (Sid "NoSend").'
    )


def test_explain_allow_and_implicit() -> None:
    allow = parse_policy(doc({"Sid": "S", **stmt(action=SEND)}))
    d = evaluate([allow], RequestContext(SEND, CH))
    assert d.allowed
    assert d.explain() == f'Allow: {SEND} on {CH} is allowed by policy #0 statement #0 (Sid "S").'
    d = evaluate([allow], RequestContext(LIST, CH))
    assert not d.allowed and d.statement is None
    assert d.explain() == f"ImplicitDeny: no statement allows {LIST} on {CH}."


def test_explain_session_sides() -> None:
    identity = parse_policy(doc(stmt(action=SEND)), name="role")
    session = parse_policy(doc(stmt(action=LIST)), name="sess")
    d = evaluate([identity], RequestContext(SEND, CH), session_policies=[session])
    assert d.outcome is Outcome.IMPLICIT_DENY
    assert "no session policy statement" in d.explain() and '"role"' in d.explain()
    d = evaluate([identity], RequestContext(LIST, CH), session_policies=[session])
    assert "no identity policy statement" in d.explain() and '"sess"' in d.explain()
    d = evaluate([identity, session], RequestContext(SEND, CH), session_policies=[identity])
    assert d.allowed and d.session_statement is not None and d.session_statement.session
    assert 'session policy "role"' in d.explain()


def test_context_is_frozen() -> None:
    ctx = RequestContext(SEND, CH, {"aws:username": "a"})
    with pytest.raises(AttributeError):
        ctx.action = "x"  # type: ignore[misc]


# --- property: explicit deny always wins ---------------------------------------------------------

_ACTIONS = ["chime:SendChannelMessage", "chime:ListChannels", "chime:Connect", "sts:AssumeRole"]
_RESOURCES = [CH, user("alice"), user("bob"), f"{APP}/channel/c2"]
_action_patterns = st.sampled_from(["*", "chime:*", "chime:Send*", "chime:?onnect", *_ACTIONS])
_resource_patterns = st.sampled_from(["*", f"{APP}/*", f"{APP}/user/*", *_RESOURCES])
_conditions = st.sampled_from(
    [
        None,
        {"StringEquals": {"aws:username": "alice"}},
        {"StringNotEquals": {"aws:username": "alice"}},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"Null": {"aws:PrincipalTag/team": "true"}},
        {"ForAllValues:StringLike": {"aws:TagKeys": "a*"}},
    ]
)


@st.composite
def _random_statement(draw: st.DrawFn) -> dict[str, Any]:
    out = stmt(
        draw(st.sampled_from(["Allow", "Deny"])),
        None,
        None,
    )
    out["NotAction" if draw(st.booleans()) else "Action"] = draw(
        st.lists(_action_patterns, min_size=1, max_size=3)
    )
    out["NotResource" if draw(st.booleans()) else "Resource"] = draw(
        st.lists(_resource_patterns, min_size=1, max_size=3)
    )
    c = draw(_conditions)
    if c is not None:
        out["Condition"] = c
    return out


_contexts = st.builds(
    RequestContext,
    st.sampled_from(_ACTIONS),
    st.sampled_from(_RESOURCES),
    st.fixed_dictionaries(
        {},
        optional={
            "aws:username": st.sampled_from(["alice", "bob"]),
            "aws:SecureTransport": st.sampled_from(["true", "false"]),
            "aws:SourceIp": st.sampled_from(["10.1.1.1", "192.0.2.1", "::1"]),
            "aws:PrincipalTag/team": st.just("chat"),
            "aws:TagKeys": st.lists(st.sampled_from(["a1", "b1"]), max_size=2),
        },
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    statements=st.lists(_random_statement(), max_size=4),
    session=st.none() | st.lists(_random_statement(), max_size=3),
    ctx=_contexts,
    where=st.sampled_from(["identity", "session"]),
    position=st.integers(min_value=0, max_value=4),
)
def test_matching_deny_always_wins(
    statements: list[dict[str, Any]],
    session: list[dict[str, Any]] | None,
    ctx: RequestContext,
    where: str,
    position: int,
) -> None:
    # A Deny that certainly applies: the exact action/resource, and a condition that holds.
    deny = stmt("Deny", ctx.action, ctx.resource, Condition={"Null": {"ec2:NoSuchKeyEver": "true"}})
    if where == "session" and session is None:
        session = []
    target = statements if where == "identity" else session
    assert target is not None
    target.insert(min(position, len(target)), deny)
    policies = [parse_policy(doc(*statements))] if statements else []
    session_policies = None if session is None else [parse_policy(doc(*s)) for s in [session] if s]
    decision = evaluate(policies, ctx, session_policies=session_policies)
    assert decision.outcome is Outcome.DENY
    assert decision.statement is not None and decision.statement.effect.value == "Deny"


@settings(max_examples=200, deadline=None)
@given(statements=st.lists(_random_statement(), min_size=1, max_size=4), ctx=_contexts)
def test_decision_is_consistent_with_statement_effects(
    statements: list[dict[str, Any]], ctx: RequestContext
) -> None:
    # The reported statement exists and has the effect the outcome implies.
    policy = parse_policy(doc(*statements))
    decision = evaluate([policy], ctx)
    if decision.outcome is Outcome.IMPLICIT_DENY:
        assert decision.statement is None
        return
    assert decision.statement is not None
    chosen = policy.statements[decision.statement.statement_index]
    expected = "Deny" if decision.outcome is Outcome.DENY else "Allow"
    assert chosen.effect.value == expected


# --- property: the glob matcher agrees with a regex oracle ---------------------------------------

_glob_alphabet = st.sampled_from([*list("ab*?.[]()+^$\\{}|-:/"), "\n", "é"])


def _oracle(pattern: str, subject: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    if ignore_case:
        pattern, subject = pattern.lower(), subject.lower()
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, subject, re.DOTALL) is not None


@settings(max_examples=500, deadline=None)
@given(
    pattern=st.text(_glob_alphabet, max_size=12),
    subject=st.text(st.sampled_from([*list("ab.[]()+^$\\{}|-:/*?"), "\n", "é", "A"]), max_size=14),
    ignore_case=st.booleans(),
)
def test_glob_agrees_with_regex_oracle(pattern: str, subject: str, ignore_case: bool) -> None:
    glob = compile_glob(pattern, ignore_case=ignore_case)
    assert glob.match(subject) == _oracle(pattern, subject, ignore_case=ignore_case)


@settings(max_examples=150, deadline=None)
@given(pattern=st.text(_glob_alphabet, max_size=12), data=st.data())
def test_glob_matches_its_own_instances(pattern: str, data: st.DataObject) -> None:
    # Build a subject from the pattern by filling each wildcard; it must match.
    subject = "".join(
        data.draw(st.text(max_size=3))
        if c == "*"
        else data.draw(st.characters())
        if c == "?"
        else c
        for c in pattern
    )
    assert compile_glob(pattern).match(subject)


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("**", "abc", True),
        ("a*a", "a", False),
        ("a*a", "aa", True),
        ("?*?", "a", False),
        ("*a?b*", "xxa-b", True),
        ("a.c", "abc", False),
        ("[a]", "a", False),
        ("[a]", "[a]", True),
        ("a\\*", "a\\zz", True),
    ],
)
def test_glob_edges(pattern: str, subject: str, expected: bool) -> None:
    assert compile_glob(pattern).match(subject) is expected
