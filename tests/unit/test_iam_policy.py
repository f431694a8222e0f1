"""Parsing and validation of IAM policy documents: what is accepted, what is rejected (always with
MalformedPolicyDocument and a message naming the problem), and a fuzz test of both."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bellwire.aws.errors import AwsError, MalformedPolicyDocument
from bellwire.iam.evaluate import RequestContext, evaluate
from bellwire.iam.policy import (
    MAX_USER_INLINE,
    Effect,
    Policy,
    PolicyKind,
    Template,
    Var,
    parse_policy,
)
from bellwire.iam.wildcard import Wild

V = "2012-10-17"
ACCT = "123456789012"


def identity(*statements: Any, **top: Any) -> str:
    return json.dumps({"Version": V, "Statement": list(statements), **top})


def allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "chime:*", "Resource": "*", **extra}


def with_condition(block: Any) -> str:
    return identity(allow(Condition=block))


def trusting(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole", **extra}


# --- accepted documents --------------------------------------------------------------------------


def test_statement_object_or_list() -> None:
    one = parse_policy(json.dumps({"Version": V, "Statement": allow(Sid="A")}), name="n")
    many = parse_policy(identity(allow(Sid="A"), allow(Sid="B", Effect="Deny")))
    assert len(one.statements) == 1 and one.statements[0].sid == "A" and one.name == "n"
    assert [s.effect for s in many.statements] == [Effect.ALLOW, Effect.DENY]
    assert [s.index for s in many.statements] == [0, 1]


def test_policy_is_immutable() -> None:
    policy = parse_policy(identity(allow()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.statements[0].sid = "x"  # type: ignore[misc]
    assert isinstance(policy.statements, tuple)


def test_missing_version_means_2008_and_variables_are_literal() -> None:
    policy = parse_policy(
        json.dumps({"Statement": allow(Resource="arn:aws:s3:::b/${aws:username}")})
    )
    assert policy.version == "2008-10-17"
    resources = policy.statements[0].resources
    assert resources is not None
    assert resources[0].static_text == "arn:aws:s3:::b/${aws:username}"


def test_2008_version_accepted() -> None:
    assert parse_policy(identity(allow(), Version="2008-10-17")).version == "2008-10-17"


def test_id_and_document_kept() -> None:
    text = identity(allow(), Id="my-policy")
    policy = parse_policy(text)
    assert policy.id == "my-policy" and policy.document == text


def test_variable_parsing_default_and_escapes() -> None:
    policy = parse_policy(
        identity(allow(Resource="arn:aws:s3:::b/${ aws:UserName , 'it''s' }/${*}x${?}${$}*"))
    )
    resources = policy.statements[0].resources
    assert resources is not None
    tpl: Template = resources[0]
    assert tpl.has_vars
    assert tpl.parts == (
        "arn:aws:s3:::b/",
        Var("aws:username", "it's"),
        "/*x?$",
        Wild.STAR,
    )


def test_json_numbers_and_booleans_are_condition_values() -> None:
    parse_policy(
        with_condition(
            {
                "NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
                "Bool": {"aws:SecureTransport": True},
                "DateGreaterThan": {"aws:EpochTime": 1700000000},
                "StringEquals": {"aws:PrincipalTag/level": [1, 2.5, False]},
            }
        )
    )


def test_other_service_keys_are_accepted() -> None:
    # Shared policies mention other services' keys; they are simply never present here.
    policy = parse_policy(with_condition({"StringLike": {"s3:prefix": "home/*"}}))
    assert policy.statements[0].conditions[0].key == "s3:prefix"


def test_condition_keys_are_lower_cased() -> None:
    policy = parse_policy(with_condition({"StringEquals": {"AWS:PrincipalTag/UserId": "a"}}))
    assert policy.statements[0].conditions[0].key == "aws:principaltag/userid"


def test_tag_keys_may_contain_spaces() -> None:
    parse_policy(with_condition({"StringEquals": {"aws:PrincipalTag/cost center": "a"}}))


def test_trust_policy_shapes() -> None:
    text = identity(
        trusting(Principal={"AWS": [ACCT, f"arn:aws:iam::{ACCT}:role/R", "*"]}),
        trusting(
            Principal={"Service": "chime.amazonaws.com"},
            Action=["sts:AssumeRole", "sts:TagSession"],
        ),
        trusting(Principal="*", Condition={"StringEquals": {"sts:ExternalId": "x"}}),
        {"Effect": "Deny", "NotPrincipal": {"AWS": ACCT}, "Action": "sts:*"},
    )
    policy = parse_policy(text, kind=PolicyKind.TRUST)
    first = policy.statements[0].principal
    assert first is not None and first.anyone and ACCT in first.accounts
    assert policy.statements[0].resources is None
    assert policy.statements[3].not_principal


def test_size_counts_non_whitespace_only() -> None:
    body = identity(allow())
    size = sum(not c.isspace() for c in body)
    padded = body.replace(",", ",\n" + " " * 40)
    assert len(padded) > 2 * size
    parse_policy(padded, max_size=size)


def test_size_limit_boundary() -> None:
    body = identity(allow())
    size = sum(not c.isspace() for c in body)
    parse_policy(body, max_size=size)
    with pytest.raises(MalformedPolicyDocument, match="exceeds the maximum size of"):
        parse_policy(body, max_size=size - 1)


def test_error_is_a_400_aws_error() -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy("{")
    err = info.value
    assert isinstance(err, AwsError) and err.status == 400 and not err.is_fault
    assert err.code == err.shape == err.query_code == "MalformedPolicyDocument"


def test_unknown_operator_message_is_exact() -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(with_condition({"StringEqualz": {"aws:username": "a"}}))
    assert info.value.message.startswith(
        "Policy document contains an unknown condition operator: StringEqualz"
    )


# --- rejected documents --------------------------------------------------------------------------

_BIG = identity(allow(Sid="x" * 3000))

MALFORMED: list[tuple[str, str, str, PolicyKind]] = [
    ("bad-json", "{", "not valid JSON", PolicyKind.IDENTITY),
    ("trailing-garbage", identity(allow()) + "x", "not valid JSON", PolicyKind.IDENTITY),
    ("not-object", "[]", "must be a JSON object", PolicyKind.IDENTITY),
    (
        "nan",
        identity(allow(Condition={"NumericEquals": {"aws:MultiFactorAuthAge": float("nan")}})),
        "NaN",
        PolicyKind.IDENTITY,
    ),
    ("deep-nesting", "[" * 4000 + "]" * 4000, "not valid JSON", PolicyKind.IDENTITY),
    (
        "duplicate-key",
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Effect":"Deny","Action":"a:b","Resource":"*"}}',
        "duplicate key: Effect",
        PolicyKind.IDENTITY,
    ),
    (
        "bad-version",
        identity(allow(), Version="2012-10-18"),
        "unsupported Version",
        PolicyKind.IDENTITY,
    ),
    (
        "numeric-version",
        identity(allow(), Version=2012),
        "unsupported Version",
        PolicyKind.IDENTITY,
    ),
    (
        "unknown-top-field",
        identity(allow(), Statment=[]),
        "unknown field: Statment",
        PolicyKind.IDENTITY,
    ),
    ("id-not-string", identity(allow(), Id=5), "Id must be a string", PolicyKind.IDENTITY),
    ("missing-statement", json.dumps({"Version": V}), "missing the Statement", PolicyKind.IDENTITY),
    ("empty-statement", identity(), "Statement must be a non-empty", PolicyKind.IDENTITY),
    (
        "statement-string",
        json.dumps({"Version": V, "Statement": "x"}),
        "Statement must be",
        PolicyKind.IDENTITY,
    ),
    (
        "statement-item-not-object",
        identity("x"),
        "statement must be an object",
        PolicyKind.IDENTITY,
    ),
    ("too-big", _BIG, "exceeds the maximum size of 2048", PolicyKind.IDENTITY),
    (
        "unknown-statement-field",
        identity(allow(Resources="*")),
        "unknown statement field: Resources",
        PolicyKind.IDENTITY,
    ),
    ("sid-not-string", identity(allow(Sid=1)), "Sid must be a string", PolicyKind.IDENTITY),
    (
        "duplicate-sid",
        identity(allow(Sid="A"), allow(Sid="A")),
        "duplicate statement ids",
        PolicyKind.IDENTITY,
    ),
    (
        "effect-lowercase",
        identity(allow(Effect="allow")),
        "invalid Effect 'allow'",
        PolicyKind.IDENTITY,
    ),
    (
        "effect-missing",
        identity({"Action": "a:b", "Resource": "*"}),
        "missing required field Effect",
        PolicyKind.IDENTITY,
    ),
    ("effect-list", identity(allow(Effect=["Allow"])), "invalid Effect", PolicyKind.IDENTITY),
    (
        "action-missing",
        identity({"Effect": "Allow", "Resource": "*"}),
        "missing required field Action",
        PolicyKind.IDENTITY,
    ),
    (
        "action-and-notaction",
        identity(allow(NotAction="a:b")),
        "both Action and NotAction",
        PolicyKind.IDENTITY,
    ),
    (
        "action-number",
        identity(allow(Action=5)),
        "Action entries must be strings, not a number",
        PolicyKind.IDENTITY,
    ),
    (
        "action-null-in-list",
        identity(allow(Action=["a:b", None])),
        "Action entries must be strings, not null",
        PolicyKind.IDENTITY,
    ),
    (
        "action-no-prefix",
        identity(allow(Action="SendChannelMessage")),
        "invalid action 'SendChannelMessage'",
        PolicyKind.IDENTITY,
    ),
    ("action-empty-string", identity(allow(Action="")), "invalid action ''", PolicyKind.IDENTITY),
    (
        "action-empty-list",
        identity(allow(Action=[])),
        "Action must not be empty",
        PolicyKind.IDENTITY,
    ),
    (
        "action-wildcard-service",
        identity(allow(Action="*:Get*")),
        "invalid action",
        PolicyKind.IDENTITY,
    ),
    (
        "resource-missing",
        identity({"Effect": "Allow", "Action": "a:b"}),
        "missing required field Resource",
        PolicyKind.IDENTITY,
    ),
    (
        "resource-not-arn",
        identity(allow(Resource="channel/1")),
        "must be in ARN format",
        PolicyKind.IDENTITY,
    ),
    (
        "resource-short-arn",
        identity(allow(Resource="arn:aws:chime")),
        "must be in ARN format",
        PolicyKind.IDENTITY,
    ),
    (
        "resource-empty-list",
        identity(allow(Resource=[])),
        "Resource must not be empty",
        PolicyKind.IDENTITY,
    ),
    (
        "resource-and-notresource",
        identity(allow(NotResource="*")),
        "both Resource and NotResource",
        PolicyKind.IDENTITY,
    ),
    (
        "principal-in-identity",
        identity(allow(Principal="*")),
        "identity policy has prohibited field Principal",
        PolicyKind.IDENTITY,
    ),
    (
        "trust-missing-principal",
        identity({"Effect": "Allow", "Action": "sts:AssumeRole"}),
        "missing required field Principal",
        PolicyKind.TRUST,
    ),
    (
        "trust-with-resource",
        identity(trusting(Resource="*")),
        "prohibited field Resource",
        PolicyKind.TRUST,
    ),
    (
        "trust-non-sts-action",
        identity(trusting(Action="chime:Connect")),
        "only name sts: actions",
        PolicyKind.TRUST,
    ),
    (
        "trust-notprincipal-allow",
        identity({"Effect": "Allow", "NotPrincipal": {"AWS": ACCT}, "Action": "sts:AssumeRole"}),
        "NotPrincipal is only supported with Effect Deny",
        PolicyKind.TRUST,
    ),
    (
        "principal-partial-wildcard",
        identity(trusting(Principal={"AWS": f"arn:aws:iam::{ACCT}:user/*"})),
        "wildcards are not allowed in a principal",
        PolicyKind.TRUST,
    ),
    (
        "principal-federated",
        identity(trusting(Principal={"Federated": "cognito-identity.amazonaws.com"})),
        "unsupported principal type: Federated",
        PolicyKind.TRUST,
    ),
    (
        "principal-bad-account",
        identity(trusting(Principal={"AWS": "arn:aws:iam::123:user/x"})),
        "invalid principal",
        PolicyKind.TRUST,
    ),
    (
        "principal-string",
        identity(trusting(Principal="someone")),
        "Principal must be",
        PolicyKind.TRUST,
    ),
    (
        "principal-bad-service",
        identity(trusting(Principal={"Service": "chime"})),
        "invalid service principal",
        PolicyKind.TRUST,
    ),
    (
        "unknown-operator",
        with_condition({"StringEqualz": {"aws:username": "a"}}),
        "unknown condition operator: StringEqualz",
        PolicyKind.IDENTITY,
    ),
    (
        "operator-wrong-case",
        with_condition({"stringequals": {"aws:username": "a"}}),
        "unknown condition operator: stringequals",
        PolicyKind.IDENTITY,
    ),
    (
        "unknown-qualifier",
        with_condition({"ForSomeValues:StringEquals": {"aws:username": "a"}}),
        "unknown condition operator",
        PolicyKind.IDENTITY,
    ),
    (
        "binary-unsupported",
        with_condition({"BinaryEquals": {"aws:username": "YQ=="}}),
        "unsupported condition operator: BinaryEquals",
        PolicyKind.IDENTITY,
    ),
    (
        "null-ifexists",
        with_condition({"NullIfExists": {"aws:username": "true"}}),
        "Null condition operator takes no",
        PolicyKind.IDENTITY,
    ),
    (
        "null-qualified",
        with_condition({"ForAnyValue:Null": {"aws:TagKeys": "true"}}),
        "Null condition operator takes no",
        PolicyKind.IDENTITY,
    ),
    (
        "unknown-aws-key",
        with_condition({"StringEquals": {"aws:usernam": "a"}}),
        "unknown condition key: aws:usernam",
        PolicyKind.IDENTITY,
    ),
    (
        "unknown-sts-key",
        with_condition({"StringEquals": {"sts:Foo": "a"}}),
        "unknown condition key: sts:Foo",
        PolicyKind.IDENTITY,
    ),
    (
        "chime-key",
        with_condition({"StringEquals": {"chime:ChannelName": "a"}}),
        "unknown condition key: chime:ChannelName",
        PolicyKind.IDENTITY,
    ),
    (
        "key-without-namespace",
        with_condition({"StringEquals": {"username": "a"}}),
        "invalid condition key 'username'",
        PolicyKind.IDENTITY,
    ),
    (
        "empty-tag-key",
        with_condition({"StringEquals": {"aws:PrincipalTag/": "a"}}),
        "invalid tag key",
        PolicyKind.IDENTITY,
    ),
    (
        "duplicate-key-by-case",
        with_condition({"StringEquals": {"aws:username": "a", "AWS:UserName": "b"}}),
        "appears twice",
        PolicyKind.IDENTITY,
    ),
    (
        "condition-not-object",
        with_condition(["x"]),
        "Condition must be an object",
        PolicyKind.IDENTITY,
    ),
    ("condition-empty", with_condition({}), "Condition must not be empty", PolicyKind.IDENTITY),
    (
        "operator-not-object",
        with_condition({"StringEquals": "a"}),
        "must map to a non-empty object",
        PolicyKind.IDENTITY,
    ),
    (
        "condition-value-null",
        with_condition({"StringEquals": {"aws:username": None}}),
        "condition value must be a string, number or boolean, not null",
        PolicyKind.IDENTITY,
    ),
    (
        "condition-value-object",
        with_condition({"StringEquals": {"aws:username": [{"a": 1}]}}),
        "not an object",
        PolicyKind.IDENTITY,
    ),
    (
        "condition-values-empty",
        with_condition({"StringEquals": {"aws:username": []}}),
        "has no values",
        PolicyKind.IDENTITY,
    ),
    (
        "bad-number",
        with_condition({"NumericEquals": {"aws:MultiFactorAuthAge": "ten"}}),
        "invalid number in condition: 'ten'",
        PolicyKind.IDENTITY,
    ),
    (
        "number-exponent",
        with_condition({"NumericEquals": {"aws:MultiFactorAuthAge": "1e3"}}),
        "invalid number",
        PolicyKind.IDENTITY,
    ),
    (
        "bad-date",
        with_condition({"DateLessThan": {"aws:CurrentTime": "yesterday"}}),
        "invalid date in condition: 'yesterday'",
        PolicyKind.IDENTITY,
    ),
    (
        "bad-bool",
        with_condition({"Bool": {"aws:SecureTransport": "yes"}}),
        "invalid boolean in condition: 'yes'",
        PolicyKind.IDENTITY,
    ),
    (
        "bad-ip",
        with_condition({"IpAddress": {"aws:SourceIp": "300.0.0.1"}}),
        "invalid IP address or CIDR",
        PolicyKind.IDENTITY,
    ),
    (
        "variable-in-ip",
        with_condition({"IpAddress": {"aws:SourceIp": "${aws:SourceIp}"}}),
        "invalid IP address",
        PolicyKind.IDENTITY,
    ),
    (
        "bad-arn-value",
        with_condition({"ArnLike": {"aws:PrincipalArn": "*"}}),
        "invalid ARN in condition",
        PolicyKind.IDENTITY,
    ),
    (
        "unterminated-variable",
        identity(allow(Resource="arn:aws:s3:::b/${aws:username")),
        "unterminated policy variable",
        PolicyKind.IDENTITY,
    ),
    (
        "empty-variable",
        identity(allow(Resource="arn:aws:s3:::b/${}")),
        "empty policy variable",
        PolicyKind.IDENTITY,
    ),
    (
        "unknown-variable",
        identity(allow(Resource="arn:aws:s3:::b/${aws:nope}")),
        "unknown condition key: aws:nope",
        PolicyKind.IDENTITY,
    ),
    (
        "unquoted-default",
        identity(allow(Resource="arn:aws:s3:::b/${aws:username, guest}")),
        "default must be quoted",
        PolicyKind.IDENTITY,
    ),
    (
        "unterminated-default",
        identity(allow(Resource="arn:aws:s3:::b/${aws:username, 'guest}")),
        "unterminated policy variable default",
        PolicyKind.IDENTITY,
    ),
    (
        "variable-in-condition-unknown",
        with_condition({"StringEquals": {"aws:username": "${aws:whoami}"}}),
        "unknown condition key: aws:whoami",
        PolicyKind.IDENTITY,
    ),
]


@pytest.mark.parametrize(
    ("text", "fragment", "kind"),
    [m[1:] for m in MALFORMED],
    ids=[m[0] for m in MALFORMED],
)
def test_malformed_policies_are_rejected(text: str, fragment: str, kind: PolicyKind) -> None:
    max_size = MAX_USER_INLINE if fragment.startswith("exceeds") else 10240
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(text, kind=kind, max_size=max_size)
    assert fragment in info.value.message


def test_statement_location_is_named() -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(identity(allow(), allow(Sid="Second", Action="nope")))
    assert "(statement 1 (Sid 'Second'))" in info.value.message


def test_non_text_input_is_rejected() -> None:
    with pytest.raises(MalformedPolicyDocument):
        parse_policy(b'{"Statement": []}')  # type: ignore[arg-type]


def test_huge_raw_input_is_refused_before_parsing() -> None:
    with pytest.raises(MalformedPolicyDocument, match="maximum size"):
        parse_policy(" " * 100_000 + identity(allow()), max_size=2048)


# --- fuzz: parse_policy raises only MalformedPolicyDocument; evaluate never crashes --------------

_atoms = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "*",
            "chime:*",
            "chime:Send*",
            "sts:AssumeRole",
            "a:b",
            "Allow",
            "Deny",
            "2012-10-17",
            "2008-10-17",
            "arn:aws:chime:us-east-1:123456789012:app-instance/x/user/${aws:PrincipalTag/UserId}",
            "arn:aws:chime:*",
            "arn:aws:iam::123456789012:role/R",
            "arn:aws:iam::123456789012:root",
            ACCT,
            "chime.amazonaws.com",
            "${aws:username, 'x''y'}",
            "${*}${?}${$}",
            "${",
            "${aws:username",
            "10.0.0.0/8",
            "::1/128",
            "2024-01-01T00:00:00Z",
            "1700000000",
            "true",
            "false",
            "1.5",
            "[a-z]+.*",
        ]
    ),
)
_operators = st.sampled_from(
    [
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "Bool",
        "Null",
        "NumericEquals",
        "NumericLessThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateLessThan",
        "DateGreaterThan",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotLike",
        "ForAnyValue:StringLike",
        "ForAllValues:StringEquals",
        "ForAllValues:StringNotLike",
        "StringEqualsIfExists",
        "NumericLessThanIfExists",
        "StringEqualz",
    ]
)
_keys = st.sampled_from(
    [
        "aws:username",
        "aws:userid",
        "aws:PrincipalTag/UserId",
        "aws:RequestTag/team",
        "aws:TagKeys",
        "aws:SourceIp",
        "aws:CurrentTime",
        "aws:EpochTime",
        "aws:SecureTransport",
        "aws:PrincipalArn",
        "aws:MultiFactorAuthAge",
        "sts:ExternalId",
        "s3:prefix",
        "chime:nope",
        "nope",
    ]
)
_json = st.recursive(
    _atoms,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_condition = st.dictionaries(
    _operators,
    st.dictionaries(_keys, _atoms | st.lists(_atoms, max_size=3), min_size=1, max_size=2),
    min_size=1,
    max_size=3,
)
_statement = st.fixed_dictionaries(
    {},
    optional={
        "Sid": _atoms,
        "Effect": st.sampled_from(["Allow", "Deny", "allow"]) | _atoms,
        "Action": _atoms | st.lists(_atoms, max_size=3),
        "NotAction": _atoms | st.lists(_atoms, max_size=3),
        "Resource": _atoms | st.lists(_atoms, max_size=3),
        "NotResource": _atoms,
        "Principal": _atoms
        | st.dictionaries(
            st.sampled_from(["AWS", "Service", "Federated"]),
            _atoms | st.lists(_atoms, max_size=2),
            max_size=2,
        ),
        "NotPrincipal": _json,
        "Condition": _condition | _json,
        "Extra": _json,
    },
)
_document = st.fixed_dictionaries(
    {},
    optional={
        "Version": st.sampled_from([V, "2008-10-17"]) | _atoms,
        "Id": _atoms,
        "Statement": st.lists(_statement, max_size=3) | _statement | _json,
    },
)
_context_values = st.one_of(
    _atoms.filter(lambda a: isinstance(a, str)),
    st.text(max_size=10),
    st.lists(st.text(max_size=6), max_size=3),
)
_contexts = st.builds(
    RequestContext,
    st.sampled_from(["chime:SendChannelMessage", "sts:AssumeRole", "", "CHIME:*"])
    | st.text(max_size=10),
    st.sampled_from(["arn:aws:chime:us-east-1:123456789012:app-instance/x/user/alice", "*", ""])
    | st.text(max_size=10),
    st.dictionaries(_keys | st.text(max_size=8), _context_values, max_size=5),
    principal_arn=st.none()
    | st.sampled_from(
        ["arn:aws:sts::123456789012:assumed-role/R/s", "arn:aws:iam::123456789012:user/u", "x"]
    ),
    principal_service=st.none() | st.just("chime.amazonaws.com"),
)


def _parse_then_evaluate(text: str, kind: PolicyKind, ctx: RequestContext) -> None:
    try:
        policy = parse_policy(text, kind=kind)
    except MalformedPolicyDocument as exc:
        assert exc.message
        return
    assert isinstance(policy, Policy)
    decision = evaluate([policy], ctx, session_policies=[policy])
    assert decision.explain()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_document, kind=st.sampled_from(list(PolicyKind)), ctx=_contexts)
def test_fuzz_policy_shaped_documents(
    document: dict[str, Any], kind: PolicyKind, ctx: RequestContext
) -> None:
    _parse_then_evaluate(json.dumps(document), kind, ctx)


@settings(max_examples=100, deadline=None)
@given(value=_json, kind=st.sampled_from(list(PolicyKind)), ctx=_contexts)
def test_fuzz_arbitrary_json(value: Any, kind: PolicyKind, ctx: RequestContext) -> None:
    _parse_then_evaluate(json.dumps(value), kind, ctx)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200), kind=st.sampled_from(list(PolicyKind)), ctx=_contexts)
def test_fuzz_arbitrary_text(text: str, kind: PolicyKind, ctx: RequestContext) -> None:
    _parse_then_evaluate(text, kind, ctx)


_SEED = identity(
    allow(
        Sid="Chime",
        Resource="arn:aws:chime:us-east-1:123456789012:app-instance/x/user/${aws:PrincipalTag/UserId}",
        Condition={
            "ForAllValues:StringLike": {"aws:TagKeys": ["a*", "b?"]},
            "IpAddressIfExists": {"aws:SourceIp": ["10.0.0.0/8", "::1"]},
            "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
        },
    ),
    {"Effect": "Deny", "NotAction": "chime:Get*", "NotResource": "arn:aws:chime:*"},
)


@settings(max_examples=150, deadline=None)
@given(
    cuts=st.lists(
        st.tuples(st.integers(0, len(_SEED)), st.integers(0, 8), st.text(max_size=4)), max_size=3
    ),
    ctx=_contexts,
)
def test_fuzz_mutated_valid_policy(cuts: list[tuple[int, int, str]], ctx: RequestContext) -> None:
    text = _SEED
    for at, drop, insert in cuts:
        text = text[:at] + insert + text[at + drop :]
    _parse_then_evaluate(text, PolicyKind.IDENTITY, ctx)


_values = st.sampled_from(
    [
        "alice",
        "a*",
        "${aws:username}",
        "${aws:PrincipalTag/UserId, 'guest'}",
        "${*}",
        "10.0.0.0/8",
        "2001:db8::/32",
        "2024-01-01T00:00:00Z",
        "1700000000",
        "true",
        "false",
        "42",
        "arn:aws:iam::*:role/*",
        "arn:aws:iam::123456789012:user/${aws:username}",
    ]
)
_VALUES_BY_FAMILY = {
    "String": ["alice", "a*", "${aws:username}", "${aws:PrincipalTag/UserId, 'guest'}", "${*}"],
    "Numeric": ["42", "0.5", "-3"],
    "Date": ["2024-01-01T00:00:00Z", "1700000000", "2030-01-01"],
    "Bool": ["true", "false"],
    "Null": ["true", "false"],
    "IpAddress": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"],
    "NotIpAddress": ["10.0.0.0/8"],
    "Arn": ["arn:aws:iam::*:role/*", "arn:aws:iam::123456789012:user/${aws:username}"],
}


@st.composite
def _plausible_condition(draw: st.DrawFn) -> dict[str, Any]:
    block: dict[str, Any] = {}
    for operator in draw(st.lists(_operators, min_size=1, max_size=3, unique=True)):
        base = operator.split(":")[-1]
        family = next((f for f in _VALUES_BY_FAMILY if base.startswith(f)), "String")
        values = st.sampled_from(_VALUES_BY_FAMILY[family])
        block[operator] = draw(
            st.dictionaries(
                _keys, values | st.lists(values, min_size=1, max_size=3), min_size=1, max_size=2
            )
        )
    return block


@st.composite
def _plausible_document(draw: st.DrawFn, kind: PolicyKind) -> str:
    trust = kind is PolicyKind.TRUST
    statements = []
    for _ in range(draw(st.integers(1, 3))):
        statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
        actions = ["sts:AssumeRole", "sts:Tag?ession", "sts:*", "*"]
        if not trust:
            actions += ["chime:*", "chime:Send*", "chime:Connect"]
        statement[draw(st.sampled_from(["Action", "NotAction"]))] = draw(
            st.lists(st.sampled_from(actions), min_size=1, max_size=2)
        )
        if trust:
            statement["Principal"] = draw(
                st.sampled_from(
                    [
                        "*",
                        {"AWS": ACCT},
                        {"AWS": [f"arn:aws:iam::{ACCT}:role/R"]},
                        {"Service": "chime.amazonaws.com"},
                    ]
                )
            )
        else:
            statement[draw(st.sampled_from(["Resource", "NotResource"]))] = draw(
                st.lists(
                    st.sampled_from(
                        [
                            "*",
                            "arn:aws:chime:*",
                            "arn:aws:chime:us-east-1:123456789012:app-instance/x/user/${aws:PrincipalTag/UserId}",
                        ]
                    ),
                    min_size=1,
                    max_size=2,
                )
            )
        if draw(st.booleans()):
            statement["Condition"] = draw(_plausible_condition())
        statements.append(statement)
    return identity(*statements)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kind=st.sampled_from(list(PolicyKind)), ctx=_contexts)
def test_fuzz_plausible_documents(
    data: st.DataObject, kind: PolicyKind, ctx: RequestContext
) -> None:
    # Mostly valid documents, so that evaluate() is exercised on many parsed policies.
    _parse_then_evaluate(data.draw(_plausible_document(kind)), kind, ctx)
