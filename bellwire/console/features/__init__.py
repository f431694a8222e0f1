"""Views of features this server may not implement yet: app instance bots, channel flows and
sub-channels. Each is one entry here, listed through its API operation when the registry
serves it, and shown as "not supported by this server" otherwise, so a server that gains the
feature shows it in the console without a change here.

Adding a view for a new feature is one small module here defining ``FEATURE`` (the list
operation, the member holding the items, the columns to show), named in ``_collect``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bellwire.domain.operation import REGISTRY


@dataclass(frozen=True, slots=True)
class Feature:
    key: str  # the tab's name in the URL
    title: str
    scope: str  # "app": listed per app instance; "channel": per channel
    operation: str  # the Chime list operation
    items: str  # the output member holding the list
    columns: tuple[str, ...]  # members of each item to show
    # The input member the scope's ARN goes in.
    scope_member: str = "AppInstanceArn"


def _collect() -> tuple[Feature, ...]:
    # Imported here: each module imports Feature from this one.
    from bellwire.console.features import bots, flows, subchannels

    return (bots.FEATURE, flows.FEATURE, subchannels.FEATURE)


FEATURES: tuple[Feature, ...] = _collect()


def features_of(scope: str) -> tuple[Feature, ...]:
    return tuple(f for f in FEATURES if f.scope == scope)


def feature(scope: str, key: str) -> Feature | None:
    return next((f for f in features_of(scope) if f.key == key), None)


def supported(f: Feature) -> bool:
    """Whether this server implements the feature's list operation."""
    registered = REGISTRY.get(("chime", f.operation))
    return registered is not None and not registered.refused
