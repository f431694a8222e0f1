"""Pure: the key figures of a /metrics scrape, and the settings in force with secrets masked."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from bellwire.config import Settings

MASK = "••••••"

# (metric family, what the console calls it): summed over all label sets.
KEY_FIGURES: tuple[tuple[str, str], ...] = (
    ("bellwire_sessions_open", "Messaging sessions open"),
    ("bellwire_http_connections", "HTTP connections"),
    ("bellwire_http_unauthenticated_connections", "Unauthenticated connections"),
    ("bellwire_rest_requests_total", "REST requests"),
    ("bellwire_authentication_failures_total", "Authentication failures"),
    ("bellwire_connects_total", "WebSocket connects"),
    ("bellwire_session_closes_total", "Session closes"),
    ("bellwire_deliveries_total", "Event deliveries"),
    ("bellwire_delivered_bytes_total", "Bytes delivered"),
    ("bellwire_session_outbound_bytes", "Bytes buffered for sessions"),
    ("bellwire_store_write_queue_length", "Store write queue"),
    ("bellwire_store_commit_duration_seconds_count", "Store commits"),
)


def key_figures(exposition: str) -> list[tuple[str, float]]:
    """Each key figure's value from the Prometheus text format (label sets summed); a family the
    scrape lacks is left out."""
    sums: dict[str, float] = {}
    for line in exposition.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        # Label values may contain spaces: the value follows the closing brace.
        after = line.rpartition("}")[2].split() if "{" in line else line.split()[1:]
        if not after:
            continue
        value_text = after[0]
        try:
            value = float(value_text)
        except ValueError:
            continue
        if math.isfinite(value):
            sums[name] = sums.get(name, 0.0) + value
    return [(label, sums[name]) for name, label in KEY_FIGURES if name in sums]


def settings_in_force(settings: Settings) -> list[tuple[str, str]]:
    """Every setting and its value, secrets masked (a field marked secret in config.py, and the
    URLs of the resources map, which may carry credentials)."""
    rows = []
    for f in dataclasses.fields(settings):
        value: Any = getattr(settings, f.name)
        if f.metadata.get("secret") and value:
            shown = MASK
        elif f.name == "resources":
            shown = ", ".join(f"{arn}={MASK}" for arn in sorted(settings.resources.urls)) or "-"
        else:
            shown = str(value)
        rows.append((f.name, shown))
    return rows
