"""``bellwire iam``: operator commands for users, roles, keys and policies, temporary
credentials of a role (AssumeRole, for testing), and a policy simulator.

The mutating commands talk to the *running* server through its IAM API, signed with the root
keys (``BELLWIRE_ROOT_ACCESS_KEY_ID``/``BELLWIRE_ROOT_SECRET_ACCESS_KEY``, the settings, or the
data dir's ``root-credentials.json``): the server's credential index then stays coherent, and
the same validation and errors apply as for any SDK. ``simulate`` reads the database directly
(read-only) and so also works while the server is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bellwire import config
from bellwire.iam.keys import ROOT_FILE, root_principal
from bellwire.iam.policy import Policy, PolicyKind, parse_policy
from bellwire.iam.principal import Principal


class CliError(Exception):
    """A message for the operator; the command exits with status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="iam_command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", type=Path, help="TOML file with a [server] table")
        sub.add_argument(
            "--data-dir",
            dest="data_dir",
            help="the server's data dir (default: the settings' data_dir, ./bellwire-data)",
        )
        sub.add_argument(
            "--region", help="region of the server (default: the settings' region, us-east-1)"
        )
        sub.add_argument(
            "--endpoint-url", help="the running server (default: from the settings' host/port)"
        )

    create_user = commands.add_parser("create-user", help="create an IAM user")
    create_user.add_argument("name")
    common(create_user)
    create_key = commands.add_parser(
        "create-access-key", help="create an access key for a user (prints the secret once)"
    )
    create_key.add_argument("name")
    common(create_key)
    put = commands.add_parser("put-user-policy", help="set a user's inline policy from a file")
    put.add_argument("name")
    put.add_argument("policy_name")
    put.add_argument("file", type=Path, help="the JSON policy document ('-' for stdin)")
    common(put)

    def role(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.add_argument("name", help="the role's name")
        return sub

    create_role = role("create-role", "create a role with a trust policy")
    create_role.add_argument(
        "--trust-policy",
        type=Path,
        help="the JSON trust policy file ('-' for stdin) (default: trust this account, so "
        "root and IAM users allowed sts:AssumeRole may assume it)",
    )
    create_role.add_argument(
        "--max-session-duration", type=int, help="longest session, in seconds (default: 3600)"
    )
    common(create_role)
    common(role("get-role", "print a role and its trust policy"))
    common(role("delete-role", "delete a role (delete its inline policies first)"))
    list_roles = commands.add_parser("list-roles", help="list the roles")
    common(list_roles)
    put_role = role("put-role-policy", "set a role's inline policy from a file")
    put_role.add_argument("policy_name")
    put_role.add_argument("file", type=Path, help="the JSON policy document ('-' for stdin)")
    common(put_role)
    for name, help in (
        ("get-role-policy", "print a role's inline policy"),
        ("delete-role-policy", "delete a role's inline policy"),
    ):
        sub = role(name, help)
        sub.add_argument("policy_name")
        common(sub)
    common(role("list-role-policies", "list a role's inline policy names"))
    assume = commands.add_parser(
        "assume-role",
        help="get temporary credentials of a role as root (for testing): export lines or JSON",
    )
    assume.add_argument("name", help="the role's name or ARN")
    assume.add_argument("--session-name", default="bellwire-cli", help="RoleSessionName")
    assume.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="a session tag"
    )
    assume.add_argument(
        "--duration", type=int, help="DurationSeconds (default: the role's, at most 3600)"
    )
    assume.add_argument("--policy", type=Path, help="a session policy file")
    assume.add_argument(
        "--format",
        choices=("env", "json"),
        default="env",
        help="'env': export lines for a shell (eval \"$(bellwire iam assume-role ...)\"); "
        "'json': the Credentials and AssumedRoleUser",
    )
    common(assume)
    simulate = commands.add_parser(
        "simulate", help="evaluate one request against the stored policies (read-only)"
    )
    simulate.add_argument(
        "--principal",
        required=True,
        help="user/NAME, role/NAME (a session of the role), root, or the ARN of one",
    )
    simulate.add_argument("--action", required=True, help="e.g. chime:SendChannelMessage")
    simulate.add_argument("--resource", default="*", help="the resource ARN")
    simulate.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="a session tag"
    )
    simulate.add_argument(
        "--context", action="append", default=[], metavar="KEY=VALUE", help="a condition key"
    )
    simulate.add_argument("--session-policy", type=Path, help="a session policy file")
    common(simulate)


def _settings(args: argparse.Namespace) -> config.Settings:
    overrides = {
        name: getattr(args, name)
        for name in ("data_dir", "region")
        if getattr(args, name, None) is not None
    }
    return config.load(config_file=args.config, overrides=overrides)


def _root_keys(settings: config.Settings) -> tuple[str, str]:
    env = os.environ
    key = env.get(config.ENV_PREFIX + "ROOT_ACCESS_KEY_ID") or settings.root_access_key_id
    secret = (
        env.get(config.ENV_PREFIX + "ROOT_SECRET_ACCESS_KEY") or settings.root_secret_access_key
    )
    if key and secret:
        return key, secret
    path = settings.data_dir / ROOT_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return str(document["AccessKeyId"]), str(document["SecretAccessKey"])
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(
            f"no root credentials: set {config.ENV_PREFIX}ROOT_ACCESS_KEY_ID and "
            f"{config.ENV_PREFIX}ROOT_SECRET_ACCESS_KEY, or make {path} readable ({exc})"
        ) from None


def _endpoint(args: argparse.Namespace, settings: config.Settings) -> str:
    if args.endpoint_url:
        return str(args.endpoint_url)
    scheme = "https" if settings.tls else "http"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "::") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{settings.port}"


def _dev_ca(settings: config.Settings) -> str | None:
    """The server's own development CA, unless the caller chose a bundle (AWS_CA_BUNDLE)."""
    if not settings.dev_tls or os.environ.get("AWS_CA_BUNDLE"):
        return None
    from bellwire import devtls

    return str(devtls.paths(settings.data_dir)[0])


def _client(args: argparse.Namespace, settings: config.Settings, service: str = "iam") -> Any:
    import botocore.session
    from botocore.config import Config

    key, secret = _root_keys(settings)
    return botocore.session.get_session().create_client(
        service,
        endpoint_url=_endpoint(args, settings),
        region_name=settings.region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
        verify=_dev_ca(settings),
    )


def _print(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        settings = _settings(args)
    except config.ConfigError as exc:
        print(f"bellwire iam: invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        if args.iam_command == "simulate":
            return simulate(args, settings)
        iam = _client(args, settings)
        if args.iam_command == "create-user":
            _print(iam.create_user(UserName=args.name)["User"])
        elif args.iam_command == "create-access-key":
            _print(iam.create_access_key(UserName=args.name)["AccessKey"])
        elif args.iam_command == "put-user-policy":
            text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text("utf-8")
            iam.put_user_policy(
                UserName=args.name, PolicyName=args.policy_name, PolicyDocument=text
            )
            print(f"policy {args.policy_name} set on user {args.name}")
        elif args.iam_command == "assume-role":
            return assume_role(args, settings)
        else:
            return _role_command(iam, args, settings)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"bellwire iam: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except (BotoCoreError, OSError) as exc:
        print(f"bellwire iam: {exc}", file=sys.stderr)
        return 1
    except CliError as exc:
        print(f"bellwire iam: {exc}", file=sys.stderr)
        return 2
    return 0


# --- roles --------------------------------------------------------------------------------------


def _text(path: Path) -> str:
    return sys.stdin.read() if str(path) == "-" else path.read_text("utf-8")


def _trust_everyone_in(account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )


def _role_command(iam: Any, args: argparse.Namespace, settings: config.Settings) -> int:
    command = args.iam_command
    if command == "create-role":
        params: dict[str, Any] = {
            "RoleName": args.name,
            "AssumeRolePolicyDocument": (
                _text(args.trust_policy)
                if args.trust_policy is not None
                else _trust_everyone_in(settings.account_id)
            ),
        }
        if args.max_session_duration is not None:
            params["MaxSessionDuration"] = args.max_session_duration
        _print(iam.create_role(**params)["Role"])
    elif command == "get-role":
        _print(iam.get_role(RoleName=args.name)["Role"])
    elif command == "delete-role":
        iam.delete_role(RoleName=args.name)
        print(f"role {args.name} deleted")
    elif command == "list-roles":
        roles = [r for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
        _print(roles)
    elif command == "put-role-policy":
        iam.put_role_policy(
            RoleName=args.name, PolicyName=args.policy_name, PolicyDocument=_text(args.file)
        )
        print(f"policy {args.policy_name} set on role {args.name}")
    elif command == "get-role-policy":
        answer = iam.get_role_policy(RoleName=args.name, PolicyName=args.policy_name)
        _print(answer["PolicyDocument"])
    elif command == "delete-role-policy":
        iam.delete_role_policy(RoleName=args.name, PolicyName=args.policy_name)
        print(f"policy {args.policy_name} deleted from role {args.name}")
    elif command == "list-role-policies":
        pages = iam.get_paginator("list_role_policies").paginate(RoleName=args.name)
        _print([name for page in pages for name in page["PolicyNames"]])
    else:  # pragma: no cover - argparse knows every command
        raise CliError(f"unknown command {command}")
    return 0


def assume_role(args: argparse.Namespace, settings: config.Settings) -> int:
    """STS AssumeRole signed with the root keys: temporary credentials to test a role with."""
    name = str(args.name)
    role_arn = (
        name if name.startswith("arn:") else f"arn:aws:iam::{settings.account_id}:role/{name}"
    )
    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": args.session_name}
    tags = _pairs(args.tag, "--tag")
    if tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    if args.duration is not None:
        params["DurationSeconds"] = args.duration
    if args.policy is not None:
        params["Policy"] = _text(args.policy)
    answer = _client(args, settings, "sts").assume_role(**params)
    credentials = answer["Credentials"]
    if args.format == "json":
        _print({"Credentials": credentials, "AssumedRoleUser": answer["AssumedRoleUser"]})
        return 0
    print(f"export AWS_ACCESS_KEY_ID={credentials['AccessKeyId']}")
    print(f"export AWS_SECRET_ACCESS_KEY={credentials['SecretAccessKey']}")
    print(f"export AWS_SESSION_TOKEN={credentials['SessionToken']}")
    print(f"export AWS_DEFAULT_REGION={settings.region}")
    print(f"# {answer['AssumedRoleUser']['Arn']}, expires {credentials['Expiration']}")
    return 0


# --- simulate ---------------------------------------------------------------------------------


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{what} must be KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _principal(
    args: argparse.Namespace, settings: config.Settings
) -> tuple[Principal, list[Policy]]:
    """The principal named on the command line, with its policies as stored now."""
    from bellwire.iam.credentials import CredentialIndex
    from bellwire.iam.principal import Credential
    from bellwire.store.base import StoreUnavailable
    from bellwire.store.engines import read_only

    db = settings.data_dir / "bellwire.db"
    if not settings.store and not db.exists():
        raise CliError(f"no database at {db}")
    account = settings.account_id
    spec = args.principal
    prefix = f"arn:aws:iam::{account}:"
    if spec.startswith(prefix):
        spec = spec[len(prefix) :]
    if spec == "root":
        return root_principal(account), []
    kind, _, name = spec.partition("/")
    name = name.rsplit("/", 1)[-1]  # a path is not part of the name
    try:
        with read_only(settings.store, db) as tx:
            snapshot = tx.iam_snapshot()
    except StoreUnavailable as exc:
        raise CliError(str(exc)) from None
    index = CredentialIndex(account, Credential("", "", root_principal(account)))
    index.load(snapshot)
    if kind == "user":
        user = index.user(name)
        if user is None:
            raise CliError(f"no user named {name}")
        principal = index.user_principal(name)
        assert principal is not None
        return principal, list(user.policies)
    if kind == "role":
        role = index.role(name)
        if role is None:
            raise CliError(f"no role named {name}")
        session_policies: tuple[Policy, ...] | None = None
        if args.session_policy is not None:
            session_policies = (
                parse_policy(args.session_policy.read_text("utf-8"), name="session"),
            )
        r = role.role
        principal = Principal(
            arn=f"arn:aws:sts::{account}:assumed-role/{r.name}/simulate",
            account_id=account,
            kind="assumed-role",
            user_id=f"{r.role_id}:simulate",
            name="simulate",
            tags={**r.tags, **_pairs(args.tag, "--tag")},
            policies=role.policies,
            session_policies=session_policies,
            role_arn=r.arn(account),
        )
        return principal, [*role.policies, *(session_policies or ())]
    raise CliError("--principal must be user/NAME, role/NAME or root")


def simulate(args: argparse.Namespace, settings: config.Settings) -> int:
    from bellwire.aws.errors import MalformedPolicyDocument
    from bellwire.iam.authorize import decide

    try:
        principal, policies = _principal(args, settings)
    except MalformedPolicyDocument as exc:
        print(f"bellwire iam simulate: {exc.message}", file=sys.stderr)
        return 2
    print(f"principal: {principal.arn}")
    if principal.is_root:
        print(f"Allow: the root user may perform {args.action} on {args.resource}.")
        return 0
    decision = decide(principal, args.action, args.resource, _pairs(args.context, "--context"))
    print(decision.explain())
    for ref in (decision.statement, decision.session_statement):
        if ref is None:
            continue
        source = [
            p for p in policies if p.name == ref.policy_name and p.kind is PolicyKind.IDENTITY
        ]
        if source:
            statements = json.loads(source[0].document).get("Statement")
            if isinstance(statements, dict):
                statements = [statements]
            if isinstance(statements, list) and ref.statement_index < len(statements):
                print(f"{ref}:")
                print(json.dumps(statements[ref.statement_index], indent=2))
    return 0 if decision.allowed else 1
