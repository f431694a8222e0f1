"""Pure: the sessions page (the messaging sessions open on every node that answered, with their
close buttons)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bellwire.console.frame import Viewer, layout, notice
from bellwire.console.markup import (
    Markup,
    action_form,
    el,
    href,
    join,
    table,
    text_input,
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
    viewer: Viewer,
    rows: Sequence[SessionRow],
    user: str | None,
    next_start: int | None,
    *,
    answered: Sequence[str] = (),
    missing: Sequence[str] = (),
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
            inputs=[
                codes,
                el(
                    "input",
                    {
                        "type": "number",
                        "name": "OtherCode",
                        "min": 1000,
                        "max": 4999,
                        "placeholder": "other code",
                        "aria-label": "Another close code",
                    },
                ),
            ],
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
        "No messaging sessions are open.",
    )
    coverage = join(
        [
            el("p", {"class": "hint"}, f"Nodes that answered: {', '.join(answered)}.")
            if answered
            else Markup(""),
            notice(
                f"Not answered in time, their sessions are not listed: {', '.join(missing)}.",
                "error",
            )
            if missing
            else Markup(""),
        ]
    )
    filter_form = el(
        "form",
        {"method": "get", "action": "/console/sessions", "class": "inline"},
        text_input("user", "User ARN", required=False, value=user or ""),
        el("button", {"type": "submit"}, "Filter"),
        el("a", {"href": href("/console/sessions", user=user), "class": "button"}, "Refresh"),
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
        join([filter_form, coverage, listing, more]),
        viewer,
        active="/console/sessions",
    )
