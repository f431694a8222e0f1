"""Pure parts of the console's security: sign-in sessions, CSRF tokens, the sign-in throttle,
the cookie and the origin check. Clocks and random tokens are passed in.

A console session remembers the access key id it was opened with, never the secret: each
request looks the key up again in the credential index, so a key deleted or deactivated (or a
policy changed) applies to the open console session at once, as it does to API calls.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

COOKIE = "bellwire_console"
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    access_key_id: str
    csrf: str
    expires: float


class SessionBook:
    """Open console sessions by cookie value; at most ``capacity`` (the oldest go first)."""

    def __init__(
        self,
        lifetime: float,
        *,
        capacity: int = 10_000,
        token: Callable[[], str] = new_token,
    ) -> None:
        self._lifetime = lifetime
        self._capacity = capacity
        self._token = token
        self._open: OrderedDict[str, ConsoleSession] = OrderedDict()

    def open(self, access_key_id: str, now: float) -> tuple[str, ConsoleSession]:
        cookie = self._token()
        session = ConsoleSession(access_key_id, self._token(), now + self._lifetime)
        self._open[cookie] = session
        while len(self._open) > self._capacity:
            self._open.popitem(last=False)
        return cookie, session

    def get(self, cookie: str | None, now: float) -> ConsoleSession | None:
        if not cookie:
            return None
        session = self._open.get(cookie)
        if session is None:
            return None
        if session.expires <= now:
            del self._open[cookie]
            return None
        return session

    def close(self, cookie: str | None) -> None:
        if cookie:
            self._open.pop(cookie, None)

    def __len__(self) -> int:
        return len(self._open)


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
