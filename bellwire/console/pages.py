"""Pure: every console page as HTML, from the records the shell read. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bellwire import __version__
from bellwire.console.actions import CONTEXT_FIELDS, Action
from bellwire.console.features import Feature
from bellwire.console.markup import (
    Markup,
    action_form,
    el,
    hidden,
    href,
    join,
    pager,
    table,
    text_input,
    when,
)
from bellwire.records.chime import (
    Admin,
    AppInstance,
    AppInstanceUser,
    Ban,
    Channel,
    Membership,
    Message,
    Moderator,
)
from bellwire.records.iam import IamRole, IamUser

NAV = (
    ("/console", "Server"),
    ("/console/apps", "App instances"),
    ("/console/sessions", "Sessions"),
    ("/console/iam", "IAM"),
    ("/console/simulate", "Policy simulator"),
)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is signed in, and the CSRF token every form of the page carries."""

    arn: str
    csrf: str


def layout(title: str, body: Markup, viewer: Viewer | None, *, active: str = "") -> Markup:
    header: Markup = Markup("")
    if viewer is not None:
        links = [
            el("a", {"href": path, "class": "active" if path == active else None}, label)
            for path, label in NAV
        ]
        header = el(
            "header",
            None,
            el("nav", None, el("strong", None, "bellwire"), *links),
            el(
                "div",
                {"class": "who"},
                "Signed in as ",
                el("code", None, viewer.arn),
                el(
                    "form",
                    {"method": "post", "action": "/console/signout", "class": "inline"},
                    hidden({"csrf": viewer.csrf}),
                    el("button", {"type": "submit"}, "Sign out"),
                ),
            ),
        )
    return Markup(
        "<!doctype html>"
        + el(
            "html",
            {"lang": "en"},
            el(
                "head",
                None,
                el("meta", {"charset": "utf-8"}),
                el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
                el("title", None, f"{title} · bellwire console"),
                el("link", {"rel": "stylesheet", "href": "/console/static/console.css"}),
                el("script", {"src": "/console/static/console.js", "defer": True}),
            ),
            el("body", None, header, el("main", None, el("h1", None, title), body)),
        )
    )


def tabs(path: str, arn: str, current: str, names: Sequence[tuple[str, str]]) -> Markup:
    return el(
        "nav",
        {"class": "tabs"},
        *(
            el(
                "a",
                {
                    "href": href(path, arn=arn, tab=key),
                    "class": "active" if key == current else None,
                },
                label,
            )
            for key, label in names
        ),
    )


def notice(text: str, kind: str = "info") -> Markup:
    return el("p", {"class": f"notice {kind}"}, text)


# --- sign-in ---------------------------------------------------------------------------------


def sign_in(message: str | None = None) -> Markup:
    form = el(
        "form",
        {"method": "post", "action": "/console/signin", "class": "signin", "autocomplete": "off"},
        el(
            "label",
            None,
            "Access key ID ",
            el("input", {"type": "text", "name": "access_key_id", "required": True}),
        ),
        el(
            "label",
            None,
            "Secret access key ",
            el("input", {"type": "password", "name": "secret_access_key", "required": True}),
        ),
        el("button", {"type": "submit"}, "Sign in"),
    )
    intro = el(
        "p",
        None,
        "Sign in with the access key of the root user or of an IAM user. The console then acts "
        "with that principal's permissions only.",
    )
    return layout("Sign in", join([notice(message, "error") if message else "", intro, form]), None)


# --- server ----------------------------------------------------------------------------------


def server(
    viewer: Viewer,
    *,
    health: Mapping[str, str],
    figures: Sequence[tuple[str, float]],
    settings: Sequence[tuple[str, str]],
    node: str,
) -> Markup:
    body = join(
        [
            el("h2", None, "Server"),
            table(("", ""), [("Version", __version__), ("Node", node)], ""),
            el("h2", None, "Health"),
            table(("Check", "State"), list(health.items()), "No checks."),
            el("h2", None, "Key figures (from /metrics)"),
            table(
                ("Figure", "Value"),
                [(label, f"{value:,.0f}") for label, value in figures],
                "Metrics are turned off (metrics_enabled).",
            ),
            el("h2", None, "Settings in force (secrets masked)"),
            table(("Setting", "Value"), settings, "No settings."),
        ]
    )
    return layout("Server", body, viewer, active="/console")


# --- app instances -----------------------------------------------------------------------------


def app_instances(viewer: Viewer, rows: Sequence[AppInstance], after: str | None) -> Markup:
    listing = table(
        ("Name", "ARN", "Created"),
        [
            (
                el("a", {"href": href("/console/app", arn=a.arn)}, a.name),
                el("code", None, a.arn),
                when(a.created),
            )
            for a in rows
        ],
        "No app instances yet.",
    )
    create = action_form(
        "create-app-instance",
        viewer.csrf,
        "Create app instance",
        {},
        inputs=[text_input("Name", "Name")],
    )
    body = join([listing, pager("/console/apps", {}, after), el("h2", None, "New"), create])
    return layout("App instances", body, viewer, active="/console/apps")


APP_TABS = (
    ("users", "Users"),
    ("admins", "Admins"),
    ("channels", "Channels"),
    ("bots", "Bots"),
    ("flows", "Channel flows"),
    ("settings", "Settings"),
)


def app_page(viewer: Viewer, app: AppInstance, tab: str, content: Markup) -> Markup:
    head = join(
        [
            el("p", None, el("code", None, app.arn)),
            tabs("/console/app", app.arn, tab, APP_TABS),
            content,
        ]
    )
    return layout(f"App instance {app.name}", head, viewer, active="/console/apps")


def app_users(
    viewer: Viewer, app: AppInstance, rows: Sequence[AppInstanceUser], after: str | None
) -> Markup:
    listing = table(
        ("Name", "ARN", "Created", ""),
        [
            (
                u.name,
                el("code", None, u.arn),
                when(u.created),
                join(
                    [
                        el("a", {"href": href("/console/sessions", user=u.arn)}, "Sessions"),
                        " ",
                        action_form(
                            "delete-app-user",
                            viewer.csrf,
                            "Delete",
                            {"AppInstanceUserArn": u.arn, "AppInstanceArn": app.arn},
                            danger=True,
                        ),
                    ]
                ),
            )
            for u in rows
        ],
        "No users in this app instance.",
    )
    create = action_form(
        "create-app-user",
        viewer.csrf,
        "Create user",
        {"AppInstanceArn": app.arn},
        inputs=[text_input("AppInstanceUserId", "User id"), text_input("Name", "Name")],
    )
    return join(
        [
            listing,
            pager("/console/app", {"arn": app.arn, "tab": "users"}, after),
            el("h2", None, "New user"),
            create,
        ]
    )


def app_admins(
    viewer: Viewer, app: AppInstance, rows: Sequence[Admin], after: str | None
) -> Markup:
    listing = table(
        ("Admin", "Since", ""),
        [
            (
                el("code", None, a.admin_arn),
                when(a.created),
                action_form(
                    "delete-admin",
                    viewer.csrf,
                    "Remove",
                    {"AppInstanceArn": app.arn, "AppInstanceAdminArn": a.admin_arn},
                    danger=True,
                ),
            )
            for a in rows
        ],
        "No AppInstanceAdmins. Channel writes from the console need one as their bearer.",
    )
    create = action_form(
        "create-admin",
        viewer.csrf,
        "Add admin",
        {"AppInstanceArn": app.arn},
        inputs=[text_input("AppInstanceAdminArn", "User or bot ARN")],
    )
    return join(
        [
            listing,
            pager("/console/app", {"arn": app.arn, "tab": "admins"}, after),
            el("h2", None, "New admin"),
            create,
        ]
    )


def app_channels(
    viewer: Viewer,
    app: AppInstance,
    rows: Sequence[Channel],
    after: str | None,
    bearer: str | None,
) -> Markup:
    def delete(c: Channel) -> Markup:
        if bearer is None:
            return Markup("")
        return action_form(
            "delete-channel",
            viewer.csrf,
            "Delete",
            {"ChannelArn": c.arn, "ChimeBearer": bearer, "AppInstanceArn": app.arn},
            danger=True,
        )

    listing = table(
        ("Name", "Mode", "Privacy", "Last message", ""),
        [
            (
                el("a", {"href": href("/console/channel", arn=c.arn)}, c.name),
                c.mode,
                c.privacy,
                when(c.last_message),
                delete(c),
            )
            for c in rows
        ],
        "No channels in this app instance.",
    )
    return join([listing, pager("/console/app", {"arn": app.arn, "tab": "channels"}, after)])


def app_settings(app: AppInstance, retention_days: int | None, tags: Mapping[str, str]) -> Markup:
    return table(
        ("Setting", "Value"),
        [
            ("Name", app.name),
            ("Metadata", app.metadata or "-"),
            ("Created", when(app.created)),
            ("Last updated", when(app.updated)),
            ("Message retention", f"{retention_days} days" if retention_days else "kept forever"),
            *((f"Tag {k}", v) for k, v in sorted(tags.items())),
        ],
        "",
    )


def app_delete(viewer: Viewer, app: AppInstance) -> Markup:
    return action_form(
        "delete-app-instance",
        viewer.csrf,
        "Delete this app instance",
        {"AppInstanceArn": app.arn},
        danger=True,
    )


# --- features that may be missing ----------------------------------------------------------------


def unsupported(f: Feature) -> Markup:
    return notice(
        f"{f.title}: not supported by this server (bellwire {__version__} does not implement "
        f"{f.operation})."
    )


def feature_list(
    f: Feature, output: Mapping[str, Any], path: str, query: Mapping[str, str]
) -> Markup:
    items = output.get(f.items) or []
    rows = [[str(item.get(c, "-")) for c in f.columns] for item in items if isinstance(item, dict)]
    token = output.get("NextToken")
    more = (
        el(
            "p",
            {"class": "pager"},
            el("a", {"href": href(path, **query, token=token)}, "Next page →"),
        )
        if isinstance(token, str)
        else Markup("")
    )
    return join([table(f.columns, rows, f"No {f.title.lower()}."), more])


# --- channels --------------------------------------------------------------------------------


CHANNEL_TABS = (
    ("messages", "Messages"),
    ("members", "Members"),
    ("moderators", "Moderators"),
    ("bans", "Bans"),
    ("subchannels", "Sub-channels"),
    ("flows", "Flows"),
    ("tail", "Live tail"),
)


def channel_page(viewer: Viewer, channel: Channel, tab: str, content: Markup) -> Markup:
    facts = table(
        ("", ""),
        [
            ("ARN", el("code", None, channel.arn)),
            (
                "App instance",
                el(
                    "a",
                    {"href": href("/console/app", arn=channel.app_instance_arn)},
                    channel.app_instance_arn,
                ),
            ),
            ("Mode / privacy", f"{channel.mode} / {channel.privacy}"),
            ("Created by", channel.created_by),
            ("Created", when(channel.created)),
        ],
        "",
    )
    body = join([facts, tabs("/console/channel", channel.arn, tab, CHANNEL_TABS), content])
    return layout(f"Channel {channel.name}", body, viewer, active="/console/apps")


def channel_messages(channel: Channel, rows: Sequence[Message], after: int | None) -> Markup:
    listing = table(
        ("Sent", "Sender", "Content", "Type", "Id"),
        [
            (
                when(m.created),
                m.sender_name or m.sender_arn,
                "(redacted)" if m.redacted else (m.content or ""),
                m.type + (f" → {m.target_arn}" if m.target_arn else ""),
                el("code", None, m.message_id),
            )
            for m in rows
        ],
        "No messages in this channel.",
    )
    return join(
        [
            el("p", {"class": "hint"}, "Newest first."),
            listing,
            pager(
                "/console/channel",
                {"arn": channel.arn, "tab": "messages"},
                None if after is None else str(after),
            ),
        ]
    )


def channel_members(
    viewer: Viewer,
    channel: Channel,
    rows: Sequence[Membership],
    names: Mapping[str, str],
    after: str | None,
    bearer: str | None,
) -> Markup:
    def remove(m: Membership) -> Markup:
        if bearer is None:
            return Markup("")
        return action_form(
            "delete-membership",
            viewer.csrf,
            "Remove",
            {"ChannelArn": channel.arn, "MemberArn": m.member_arn, "ChimeBearer": bearer},
            danger=True,
        )

    listing = table(
        ("Member", "Name", "Type", "Since", ""),
        [
            (
                el("code", None, m.member_arn),
                names.get(m.member_arn, "-"),
                m.type,
                when(m.created),
                remove(m),
            )
            for m in rows
        ],
        "No members.",
    )
    return join([listing, pager("/console/channel", {"arn": channel.arn, "tab": "members"}, after)])


def channel_moderators(channel: Channel, rows: Sequence[Moderator], after: str | None) -> Markup:
    listing = table(
        ("Moderator", "Added by", "Since"),
        [(el("code", None, m.moderator_arn), m.created_by, when(m.created)) for m in rows],
        "No moderators.",
    )
    return join(
        [listing, pager("/console/channel", {"arn": channel.arn, "tab": "moderators"}, after)]
    )


def channel_bans(channel: Channel, rows: Sequence[Ban], after: str | None) -> Markup:
    listing = table(
        ("Banned", "By", "Since"),
        [(el("code", None, b.member_arn), b.created_by, when(b.created)) for b in rows],
        "No bans.",
    )
    return join([listing, pager("/console/channel", {"arn": channel.arn, "tab": "bans"}, after)])


def channel_tail(channel: Channel) -> Markup:
    return join(
        [
            el(
                "p",
                {"class": "hint"},
                "Events of this channel as its members receive them, from now on.",
            ),
            el(
                "div",
                {
                    "id": "tail",
                    "data-src": href("/console/channel/events", arn=channel.arn),
                    "aria-live": "polite",
                },
                el("p", {"class": "status"}, "Connecting…"),
            ),
        ]
    )


# --- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionRow:
    user_arn: str
    session_id: str
    node: str
    since: str
    established: bool
    buffered: int


CLOSE_CODES = (
    (4003, "4003 Forbidden (no reconnect)"),
    (4419, "4419 Refresh credentials"),
    (1000, "1000 Normal closure"),
    (1001, "1001 Going away"),
    (1012, "1012 Service restart (reconnect)"),
    (4401, "4401 Unauthorized"),
    (4429, "4429 Throttled"),
    (1006, "1006 Drop the connection (no close frame)"),
)


def sessions(
    viewer: Viewer, rows: Sequence[SessionRow], user: str | None, next_start: int | None
) -> Markup:
    def close(r: SessionRow) -> Markup:
        codes = el(
            "select",
            {"name": "Code", "aria-label": "Close code"},
            *(el("option", {"value": code}, label) for code, label in CLOSE_CODES),
        )
        return action_form(
            "close-session",
            viewer.csrf,
            "Close",
            {"UserArn": r.user_arn, "SessionId": r.session_id},
            inputs=[codes],
            danger=True,
        )

    listing = table(
        ("User", "Session", "Node", "Since", "Buffered bytes", ""),
        [
            (
                el("code", None, r.user_arn),
                r.session_id + ("" if r.established else " (connecting)"),
                r.node,
                r.since,
                f"{r.buffered:,}",
                close(r),
            )
            for r in rows
        ],
        "No messaging sessions are open on this node.",
    )
    filter_form = el(
        "form",
        {"method": "get", "action": "/console/sessions", "class": "inline"},
        text_input("user", "User ARN", required=False, value=user or ""),
        el("button", {"type": "submit"}, "Filter"),
    )
    more = (
        el(
            "p",
            {"class": "pager"},
            el(
                "a", {"href": href("/console/sessions", user=user, start=next_start)}, "Next page →"
            ),
        )
        if next_start is not None
        else Markup("")
    )
    return layout(
        "Sessions",
        join([filter_form, listing, more]),
        viewer,
        active="/console/sessions",
    )


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


# --- writes: confirmation, errors ----------------------------------------------------------------


def confirm(viewer: Viewer, action: Action, form: Mapping[str, str], back: str) -> Markup:
    shown = [(name, form[name]) for name in action.fields if form.get(name)]
    carried = {name: form[name] for name in (*action.fields, *CONTEXT_FIELDS) if form.get(name)}
    body = join(
        [
            el("p", {"class": "question"}, action.title),
            table(("Field", "Value"), shown, "No parameters."),
            el(
                "form",
                {"method": "post", "action": f"/console/do/{action.name}", "class": "inline"},
                hidden({"csrf": viewer.csrf, **carried, "confirmed": "yes"}),
                el("button", {"type": "submit", "class": "danger", "id": "confirm"}, "Confirm"),
            ),
            " ",
            el("a", {"href": back, "class": "button"}, "Cancel"),
        ]
    )
    return layout("Confirm", body, viewer)


def failure(viewer: Viewer | None, title: str, message: str, back: str | None = None) -> Markup:
    body = join(
        [
            notice(message, "error"),
            el("p", None, el("a", {"href": back}, "Back")) if back else "",
        ]
    )
    return layout(title, body, viewer)
