"""Pure HTML building for the console: every text is escaped unless it is already markup.

No template engine: a page is a few functions returning :class:`Markup`, so escaping is the
type's job (a ``str`` is escaped, a ``Markup`` is trusted) and a forgotten escape is a
``str`` where ``Markup`` is expected, which mypy shows.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode


class Markup(str):
    """Text that is already HTML (built here, its parts escaped)."""

    __slots__ = ()


def esc(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(esc(p) for p in parts))


def el(tag: str, attrs: Mapping[str, object] | None = None, *children: object) -> Markup:
    """``<tag attr="...">children</tag>``; attributes whose value is None or False are left
    out, True gives a bare attribute."""
    rendered = []
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        rendered.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    inner = "".join(_flatten(children))
    if tag in ("input", "meta", "link", "br"):
        return Markup(f"<{tag}{''.join(rendered)}>")
    return Markup(f"<{tag}{''.join(rendered)}>{inner}</{tag}>")


def _flatten(children: Iterable[object]) -> Iterable[str]:
    for child in children:
        if isinstance(child, (list, tuple)) or (
            not isinstance(child, (str, bytes, int, float)) and isinstance(child, Iterable)
        ):
            yield from _flatten(child)
        else:
            yield esc(child)


def href(path: str, **query: object) -> str:
    """A console URL with its query; None values are left out. Never put a secret here."""
    pairs = {k: str(v) for k, v in query.items() if v is not None and v != ""}
    return path + ("?" + urlencode(pairs) if pairs else "")


def when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> Markup:
    body = [el("tr", None, *(el("td", None, cell) for cell in row)) for row in rows]
    if not body:
        return el("p", {"class": "empty"}, empty)
    if not any(headers):  # a key-value table: no header row
        return el("table", {"class": "facts"}, el("tbody", None, *body))
    head = el("tr", None, *(el("th", None, h) for h in headers))
    return el("table", None, el("thead", None, head), el("tbody", None, *body))


def pager(path: str, query: Mapping[str, object], after: str | None) -> Markup:
    """The link to the next page (key-after pagination: there is no page count to show)."""
    if after is None:
        return Markup("")
    return el(
        "p",
        {"class": "pager"},
        el("a", {"href": href(path, **{**query, "after": after}), "rel": "next"}, "Next page →"),
    )


def hidden(fields: Mapping[str, str]) -> Markup:
    return join(
        el("input", {"type": "hidden", "name": name, "value": value})
        for name, value in fields.items()
    )


def action_form(
    action: str,
    csrf: str,
    label: str,
    fields: Mapping[str, str],
    *,
    inputs: Sequence[Markup] = (),
    danger: bool = False,
) -> Markup:
    """A POST form to one console write; the server answers it with a confirmation page."""
    return el(
        "form",
        {"method": "post", "action": f"/console/do/{action}", "class": "inline"},
        hidden({"csrf": csrf, **fields}),
        *inputs,
        el("button", {"type": "submit", "class": "danger" if danger else None}, label),
    )


def text_input(name: str, label: str, *, required: bool = True, value: str = "") -> Markup:
    return el(
        "label",
        None,
        label,
        " ",
        el("input", {"type": "text", "name": name, "required": required, "value": value or None}),
    )
