"""Pure: the frame every console page shares (navigation, tabs, notices), and the pages
that belong to no section: sign-in, confirmation, failure, the server page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bellwire import __version__
from bellwire.console.actions import CONTEXT_FIELDS, Action
from bellwire.console.markup import (
    Markup,
    el,
    hidden,
    href,
    join,
    table,
)

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
