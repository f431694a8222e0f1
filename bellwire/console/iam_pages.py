"""Pure: the IAM pages (users and their keys, roles, inline policies, a new key's one-time
secret) and the policy simulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bellwire.console.frame import Viewer, layout, notice, tabs
from bellwire.console.markup import (
    Markup,
    action_form,
    el,
    href,
    join,
    pager,
    table,
    text_input,
    when,
)
from bellwire.records.iam import IamRole, IamUser

# --- IAM -----------------------------------------------------------------------------------------


def iam_users(viewer: Viewer, rows: Sequence[IamUser], account: str, after: str | None) -> Markup:
    listing = table(
        ("User", "ARN", "Created"),
        [
            (
                el("a", {"href": href("/console/iam/user", name=u.name)}, u.name),
                el("code", None, u.arn(account)),
                when(u.created),
            )
            for u in rows
        ],
        "No IAM users.",
    )
    create = action_form(
        "iam-create-user",
        viewer.csrf,
        "Create IAM user",
        {},
        inputs=[text_input("UserName", "User name")],
    )
    body = join(
        [
            tabs("/console/iam", "", "users", (("users", "Users"), ("roles", "Roles"))),
            listing,
            pager("/console/iam", {"tab": "users"}, after),
            el("h2", None, "New"),
            create,
        ]
    )
    return layout("IAM users", body, viewer, active="/console/iam")


def iam_roles(viewer: Viewer, rows: Sequence[IamRole], account: str, after: str | None) -> Markup:
    listing = table(
        ("Role", "ARN", "Max session", "Created"),
        [
            (
                el("a", {"href": href("/console/iam/role", name=r.name)}, r.name),
                el("code", None, r.arn(account)),
                f"{r.max_session_duration} s",
                when(r.created),
            )
            for r in rows
        ],
        "No IAM roles.",
    )
    body = join(
        [
            tabs("/console/iam", "", "roles", (("users", "Users"), ("roles", "Roles"))),
            listing,
            pager("/console/iam", {"tab": "roles"}, after),
        ]
    )
    return layout("IAM roles", body, viewer, active="/console/iam")


@dataclass(frozen=True, slots=True)
class KeyRow:
    access_key_id: str
    status: str
    created: float


def policies_block(policies: Mapping[str, str]) -> Markup:
    if not policies:
        return el("p", {"class": "empty"}, "No inline policies.")
    return join(
        el("details", None, el("summary", None, name), el("pre", None, document))
        for name, document in sorted(policies.items())
    )


def iam_user(
    viewer: Viewer,
    user: IamUser,
    account: str,
    keys: Sequence[KeyRow],
    policies: Mapping[str, str],
) -> Markup:
    key_rows = table(
        ("Access key", "Status", "Created", ""),
        [
            (
                el("code", None, k.access_key_id),
                k.status,
                when(k.created),
                action_form(
                    "iam-delete-key",
                    viewer.csrf,
                    "Delete",
                    {"UserName": user.name, "AccessKeyId": k.access_key_id},
                    danger=True,
                ),
            )
            for k in keys
        ],
        "No access keys.",
    )
    body = join(
        [
            el("p", None, el("code", None, user.arn(account))),
            el("h2", None, "Access keys"),
            el("p", {"class": "hint"}, "Secrets are shown once, when a key is created."),
            key_rows,
            action_form(
                "iam-create-key", viewer.csrf, "Create access key", {"UserName": user.name}
            ),
            el("h2", None, "Inline policies"),
            policies_block(policies),
            el("h2", None, "Delete"),
            action_form(
                "iam-delete-user",
                viewer.csrf,
                "Delete this IAM user",
                {"UserName": user.name},
                danger=True,
            ),
        ]
    )
    return layout(f"IAM user {user.name}", body, viewer, active="/console/iam")


def iam_role(viewer: Viewer, role: IamRole, account: str, policies: Mapping[str, str]) -> Markup:
    body = join(
        [
            el("p", None, el("code", None, role.arn(account))),
            el("h2", None, "Trust policy"),
            el("pre", None, role.trust_policy),
            el("h2", None, "Inline policies"),
            policies_block(policies),
        ]
    )
    return layout(f"IAM role {role.name}", body, viewer, active="/console/iam")


def new_key(viewer: Viewer, user_name: str, access_key_id: str, secret: str) -> Markup:
    body = join(
        [
            notice(
                "This is the only time the secret access key is shown. Copy it now: it cannot "
                "be displayed again.",
                "warning",
            ),
            table(
                ("", ""),
                [
                    ("User", user_name),
                    ("Access key ID", el("code", None, access_key_id)),
                    ("Secret access key", el("code", {"class": "secret"}, secret)),
                ],
                "",
            ),
            el("p", None, el("a", {"href": href("/console/iam/user", name=user_name)}, "Done")),
        ]
    )
    return layout("New access key", body, viewer, active="/console/iam")


# --- the policy simulator ------------------------------------------------------------------


def simulator(
    viewer: Viewer,
    query: Mapping[str, str],
    answer: Sequence[tuple[str, str]] | None,
    allowed: bool | None,
) -> Markup:
    form = el(
        "form",
        {"method": "get", "action": "/console/simulate", "class": "stack"},
        text_input(
            "principal",
            "Principal (IAM user name, role name, or root)",
            value=query.get("principal", ""),
        ),
        el(
            "label",
            None,
            "Kind ",
            el(
                "select",
                {"name": "kind"},
                *(
                    el("option", {"value": k, "selected": query.get("kind") == k}, k)
                    for k in ("user", "role", "root")
                ),
            ),
        ),
        text_input(
            "action", "Action (e.g. chime:SendChannelMessage)", value=query.get("action", "")
        ),
        text_input("resource", "Resource ARN", value=query.get("resource", "")),
        el("button", {"type": "submit"}, "Simulate"),
    )
    result: Markup = Markup("")
    if answer is not None:
        verdict = "allowed" if allowed else "denied"
        result = join(
            [
                el("h2", {"class": f"verdict {verdict}"}, f"Decision: {verdict}"),
                table(("", ""), answer, ""),
            ]
        )
    return layout("Policy simulator", join([form, result]), viewer, active="/console/simulate")
