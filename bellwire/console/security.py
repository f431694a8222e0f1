"""Pure parts of the console's security: sign-in sessions (kept in the store by the shell),
CSRF tokens, the sign-in throttle, the cookie and the origin check. Clocks are passed in.

A console session remembers the access key id it was opened with, never the secret: each
request looks the key up again in the credential index, so a key deleted or deactivated (or a
policy changed) applies to the open console session at once, as it does to API calls.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from urllib.parse import urlsplit

from bellwire.records.iam import ConsoleSession

COOKIE = "bellwire_console"
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_key(cookie: str) -> str:
    """What the store keeps of a sign-in's cookie: its SHA-256, so that the table (a backup, a
    read of it) names no cookie a browser could present."""
    return hashlib.sha256(cookie.encode()).hexdigest()


def open_session(access_key_id: str, now: float, lifetime: float) -> tuple[str, ConsoleSession]:
    """A new sign-in: its cookie (random, 256 bits) and the session the store keeps."""
    return new_token(), ConsoleSession(access_key_id, new_token(), now + lifetime)


def csrf_ok(session: ConsoleSession, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())


def secret_ok(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


class SignInThrottle:
    """At most ``failures`` failed sign-ins per ``window`` seconds from one address; while over,
    every sign-in from it (right or wrong) is refused until the oldest failure ages out."""

    def __init__(self, failures: int, window: float, *, capacity: int = 10_000) -> None:
        self._failures = failures
        self._window = window
        self._capacity = capacity
        self._seen: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> list[float]:
        times = [t for t in self._seen.get(address, ()) if t > now - self._window]
        if times:
            self._seen[address] = times
        else:
            self._seen.pop(address, None)
        return times

    def retry_after(self, address: str, now: float) -> float:
        """0 when a sign-in may be tried now, else the seconds to wait."""
        times = self._recent(address, now)
        if len(times) < self._failures:
            return 0.0
        return max(0.0, times[-self._failures] + self._window - now)

    def failed(self, address: str, now: float) -> None:
        times = self._recent(address, now)
        times.append(now)
        self._seen[address] = times
        self._seen.move_to_end(address)
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)


def cookie_header(value: str, *, secure: bool, max_age: int | None) -> str:
    """The Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict (no other site's
    page sends it), Secure over TLS, scoped to /console."""
    parts = [f"{COOKIE}={value}", "Path=/console", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def cookie_of(header: str | None) -> str | None:
    """Our cookie's value from a Cookie header."""
    if not header:
        return None
    for item in header.split(";"):
        name, _, value = item.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def same_origin(headers: Mapping[str, str], host: str | None) -> bool:
    """A write must come from a console page: its Origin (or, lacking one, its Referer) names
    this host. Browsers send Origin on every POST; a request with neither is not a browser
    form and is refused as well (the CSRF token is the main defence, this the second)."""
    source = headers.get("Origin") or headers.get("Referer")
    if not source or not host or source == "null":
        return False
    return urlsplit(source).netloc.lower() == host.lower()


SECURITY_HEADERS: Mapping[str, str] = {
    # Scripts and styles only from /console/static: no inline script runs, even injected.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
