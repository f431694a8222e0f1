"""Pure: the Chime pages: app instances (users, admins, channels, settings), the views of
optional features, and channels (messages, members, moderators, bans, the live tail)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bellwire import __version__
from bellwire.console.features import Feature
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
from bellwire.records.flows import ChannelFlow

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


def channel_flow(channel: Channel, flow: ChannelFlow | None) -> Markup:
    """The channel's own flow (AssociateChannelFlow) and its processors, or that it has none."""
    if flow is None:
        return notice("No channel flow is associated with this channel.")
    facts = table(
        ("", ""),
        [
            ("Flow", flow.name),
            ("ARN", el("code", None, flow.arn)),
            ("Created", when(flow.created)),
            ("Last updated", when(flow.updated)),
        ],
        "",
    )

    def lam(p: Mapping[str, Any]) -> Mapping[str, Any]:
        lam = (p.get("Configuration") or {}).get("Lambda") or {}
        return lam if isinstance(lam, Mapping) else {}

    processors = table(
        ("Order", "Processor", "Lambda function", "Invocation", "Fallback"),
        [
            (
                str(p.get("ExecutionOrder", "-")),
                str(p.get("Name", "-")),
                el("code", None, str(lam(p).get("ResourceArn", "-"))),
                str(lam(p).get("InvocationType", "-")),
                str(p.get("FallbackAction", "-")),
            )
            for p in flow.processors
        ],
        "No processors.",
    )
    return join([facts, el("h2", None, "Processors"), processors])


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
