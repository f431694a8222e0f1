"""The console's writes: what each one is called, which API operation it runs with which form
fields as the operation's input, and where the browser goes afterwards. Pure data.

Every write runs the registered operation through ``api/operations.py`` as the signed-in
principal (IAM and the bearer's channel role decide, as for any API call). Closing sessions is
the one write that is no API operation: it is authorized as ``bellwire:CloseSessions``, as
``POST /admin/sessions/close`` is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bellwire.console.markup import href

Form = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    title: str  # what the confirmation asks: "Delete the channel?"
    service: str | None  # the operation's service ("chime", "iam"); None: not an operation
    operation: str | None
    fields: tuple[str, ...]  # form fields passed as the operation's input members
    back: Callable[[Form], str]  # the page to show afterwards
    shows_secret: bool = False  # the answer holds a secret: shown once, never redirected to


def _app(tab: str) -> Callable[[Form], str]:
    return lambda f: href("/console/app", arn=f.get("AppInstanceArn", ""), tab=tab)


def _channel(tab: str) -> Callable[[Form], str]:
    return lambda f: href("/console/channel", arn=f.get("ChannelArn", ""), tab=tab)


def _iam_user(f: Form) -> str:
    return href("/console/iam/user", name=f.get("UserName", ""))


ACTIONS: Mapping[str, Action] = {
    a.name: a
    for a in (
        Action(
            "create-app-instance",
            "Create an app instance?",
            "chime",
            "CreateAppInstance",
            ("Name",),
            lambda f: "/console/apps",
        ),
        Action(
            "delete-app-instance",
            "Delete the app instance, its users, channels and messages?",
            "chime",
            "DeleteAppInstance",
            ("AppInstanceArn",),
            lambda f: "/console/apps",
        ),
        Action(
            "create-app-user",
            "Create an app instance user?",
            "chime",
            "CreateAppInstanceUser",
            ("AppInstanceArn", "AppInstanceUserId", "Name"),
            _app("users"),
        ),
        Action(
            "delete-app-user",
            "Delete the app instance user (its sessions are closed)?",
            "chime",
            "DeleteAppInstanceUser",
            ("AppInstanceUserArn",),
            _app("users"),
        ),
        Action(
            "create-admin",
            "Make this user an AppInstanceAdmin?",
            "chime",
            "CreateAppInstanceAdmin",
            ("AppInstanceArn", "AppInstanceAdminArn"),
            _app("admins"),
        ),
        Action(
            "delete-admin",
            "Remove this AppInstanceAdmin?",
            "chime",
            "DeleteAppInstanceAdmin",
            ("AppInstanceArn", "AppInstanceAdminArn"),
            _app("admins"),
        ),
        Action(
            "delete-channel",
            "Delete the channel and its messages?",
            "chime",
            "DeleteChannel",
            ("ChannelArn", "ChimeBearer"),
            _app("channels"),
        ),
        Action(
            "delete-membership",
            "Remove this member from the channel?",
            "chime",
            "DeleteChannelMembership",
            ("ChannelArn", "MemberArn", "ChimeBearer"),
            _channel("members"),
        ),
        Action(
            "close-session",
            "Close this messaging session?",
            None,
            None,
            ("UserArn", "SessionId", "Code", "OtherCode", "Reason"),
            lambda f: "/console/sessions",
        ),
        Action(
            "iam-create-user",
            "Create an IAM user?",
            "iam",
            "CreateUser",
            ("UserName",),
            _iam_user,
        ),
        Action(
            "iam-delete-user",
            "Delete the IAM user?",
            "iam",
            "DeleteUser",
            ("UserName",),
            lambda f: "/console/iam",
        ),
        Action(
            "iam-create-key",
            "Create an access key for this IAM user? Its secret is shown once.",
            "iam",
            "CreateAccessKey",
            ("UserName",),
            _iam_user,
            shows_secret=True,
        ),
        Action(
            "iam-delete-key",
            "Delete the access key? Whoever uses it is refused from now on.",
            "iam",
            "DeleteAccessKey",
            ("UserName", "AccessKeyId"),
            _iam_user,
        ),
    )
}


def inputs(action: Action, form: Form) -> dict[str, str]:
    """The operation's input from the form: the action's fields that are filled in."""
    return {name: form[name] for name in action.fields if form.get(name)}


# Form fields a confirmation page carries over besides the action's own (where to go back to).
CONTEXT_FIELDS = ("AppInstanceArn", "ChannelArn", "UserName")
