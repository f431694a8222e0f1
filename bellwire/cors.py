"""CORS for browser clients (pure: request headers and the setting in, response headers out).

AWS answers browsers with ``Access-Control-Allow-Origin: *`` (spec §11A.4): every request is
signed with SigV4 and the SDK's fetch sends no cookies, so a foreign page learns nothing it
could not learn without a browser. ``cors_allowed_origins`` narrows that to a list of origins
for operators who want only their own web app to talk to the server from a browser; then the
allowed origin is echoed with ``Vary: Origin`` and other origins' preflights are refused (no
``Access-Control-Allow-Origin``, which is what makes the browser block the call).

WebSocket upgrades get no preflight: the browser sends ``Origin`` and leaves the decision to
the server, so :meth:`CorsPolicy.allows` is also what the gateway asks before a ``/connect``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# What the AWS SDK for JavaScript v3 reads from a response (spec §11A.4): the request id, the
# error type (without it a modeled error surfaces as a generic exception) and Date for clock-skew
# correction. A browser hides every other header from the page unless it is listed here.
EXPOSE_HEADERS = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"
ALLOW_METHODS = "GET,HEAD,POST,PUT,PATCH,DELETE"
# Sent when a preflight names no headers; the SDK's own list (spec §11A.4) plus the bearer.
DEFAULT_ALLOW_HEADERS = (
    "authorization,content-type,x-amz-date,x-amz-content-sha256,x-amz-security-token,"
    "x-amz-user-agent,amz-sdk-invocation-id,amz-sdk-request,x-amz-chime-bearer"
)
# Chromium caps a cached preflight at two hours, so a longer value would only pretend.
MAX_AGE_SECONDS = 7200

_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?$")
_HEADER_LIST = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$")


class OriginListError(ValueError):
    """A ``cors_allowed_origins`` value that is neither ``*`` nor a list of origins."""


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """``origins`` None: any origin (``*``); otherwise exactly these serialized origins."""

    origins: frozenset[str] | None = None

    @classmethod
    def parse(cls, text: str) -> CorsPolicy:
        """``*``, or comma-separated origins such as ``https://chat.example.com,
        http://localhost:3000``; an empty value allows no cross-origin browser call at all."""
        items = [item.strip() for item in text.split(",") if item.strip()]
        if items == ["*"]:
            return cls(None)
        origins: set[str] = set()
        for item in items:
            origin = item.lower().rstrip("/")
            if not _ORIGIN.match(origin):
                raise OriginListError(
                    f"{item!r} is not an origin (scheme://host[:port], no path)"
                    + (": '*' must stand alone" if "*" in item or len(items) > 1 else "")
                )
            origins.add(origin)
        return cls(frozenset(origins))

    def allows(self, origin: str | None) -> bool:
        """Whether a request with this Origin header may proceed. No Origin: not a browser
        (or a same-origin navigation), which CORS does not govern."""
        if origin is None or self.origins is None:
            return True
        return origin.lower() in self.origins

    def _allow_origin(self, origin: str | None) -> dict[str, str]:
        if self.origins is None:
            return {"Access-Control-Allow-Origin": "*"}
        headers = {"Vary": "Origin"}
        if origin is not None and self.allows(origin):
            headers["Access-Control-Allow-Origin"] = origin
        return headers

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for every actual response (errors included)."""
        headers = self._allow_origin(origin)
        if "Access-Control-Allow-Origin" in headers:
            headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return headers

    def preflight(self, headers: Mapping[str, str]) -> tuple[int, dict[str, str]]:
        """The answer to a preflight, before any authentication (preflights carry no SigV4):
        200 with the allowances, or 403 without ``Access-Control-Allow-Origin`` for an origin
        that is not allowed (the browser then blocks the call it was asked about)."""
        origin = headers.get("Origin")
        vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        if not self.allows(origin):
            return 403, {"Vary": vary}
        answer = self._allow_origin(origin)
        answer["Vary"] = vary
        answer["Access-Control-Allow-Methods"] = ALLOW_METHODS
        requested = headers.get("Access-Control-Request-Headers", "").strip()
        # Echoed so that headers a newer SDK adds keep working; only a well-formed token list,
        # so nothing but header names goes back out.
        answer["Access-Control-Allow-Headers"] = (
            requested if requested and _HEADER_LIST.match(requested) else DEFAULT_ALLOW_HEADERS
        )
        answer["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
        return 200, answer


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return (
        method == "OPTIONS" and "Origin" in headers and "Access-Control-Request-Method" in headers
    )
