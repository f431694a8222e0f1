"""CORS vectors: the setting and the request's headers in, the response headers out."""

from __future__ import annotations

import pytest

from bellwire.cors import (
    DEFAULT_ALLOW_HEADERS,
    EXPOSE_HEADERS,
    CorsPolicy,
    OriginListError,
    is_preflight,
)

SDK_HEADERS = (
    "amz-sdk-invocation-id,amz-sdk-request,authorization,content-type,x-amz-chime-bearer,"
    "x-amz-content-sha256,x-amz-date,x-amz-security-token,x-amz-user-agent"
)
ANY = CorsPolicy.parse("*")
MINE = CorsPolicy.parse("https://chat.example.com, http://localhost:3000/")


def preflight_of(origin: str | None, headers: str | None = SDK_HEADERS) -> dict[str, str]:
    request = {"Access-Control-Request-Method": "POST"}
    if origin is not None:
        request["Origin"] = origin
    if headers is not None:
        request["Access-Control-Request-Headers"] = headers
    return request


# --- the setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "origins"),
    [
        ("*", None),
        (" * ", None),
        ("", frozenset()),
        ("https://a.example", frozenset({"https://a.example"})),
        (
            "HTTPS://A.example:8443/, http://[::1]:3000,capacitor://localhost",
            frozenset({"https://a.example:8443", "http://[::1]:3000", "capacitor://localhost"}),
        ),
    ],
)
def test_parse_origin_lists(text: str, origins: frozenset[str] | None) -> None:
    assert CorsPolicy.parse(text).origins == origins


@pytest.mark.parametrize(
    "text",
    ["https://a.example/app", "a.example", "*, https://a.example", "https://*.example", "null"],
)
def test_parse_refuses_what_is_not_an_origin(text: str) -> None:
    with pytest.raises(OriginListError):
        CorsPolicy.parse(text)


# --- preflights ----------------------------------------------------------------------------------


def test_is_preflight_needs_origin_and_request_method() -> None:
    assert is_preflight("OPTIONS", preflight_of("https://x.example"))
    assert not is_preflight("OPTIONS", {"Origin": "https://x.example"})
    assert not is_preflight("OPTIONS", {"Access-Control-Request-Method": "GET"})
    assert not is_preflight("POST", preflight_of("https://x.example"))


def test_any_origin_preflight_allows_the_sdk_headers() -> None:
    status, headers = ANY.preflight(preflight_of("https://app.example"))
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Headers"] == SDK_HEADERS
    assert set(headers["Access-Control-Allow-Methods"].split(",")) >= {
        "GET",
        "POST",
        "PUT",
        "DELETE",
    }
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in headers


def test_preflight_without_requested_headers_gets_the_sdk_list() -> None:
    _, headers = ANY.preflight(preflight_of("https://app.example", headers=None))
    assert set(headers["Access-Control-Allow-Headers"].split(",")) == set(SDK_HEADERS.split(","))


def test_preflight_with_a_malformed_header_list_gets_the_sdk_list_not_an_echo() -> None:
    _, headers = ANY.preflight(preflight_of("https://app.example", headers="a,\tb\r\nx: y"))
    assert headers["Access-Control-Allow-Headers"] == DEFAULT_ALLOW_HEADERS


def test_restricted_preflight_echoes_an_allowed_origin() -> None:
    status, headers = MINE.preflight(preflight_of("https://chat.example.com"))
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://chat.example.com"
    assert "Origin" in headers["Vary"]


def test_restricted_preflight_refuses_another_origin_without_allow_origin() -> None:
    status, headers = MINE.preflight(preflight_of("https://evil.example"))
    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers
    assert "Access-Control-Allow-Headers" not in headers


def test_origin_match_is_exact_apart_from_case() -> None:
    assert MINE.allows("HTTPS://CHAT.EXAMPLE.COM")
    assert MINE.allows("http://localhost:3000")
    assert not MINE.allows("http://localhost:3001")
    assert not MINE.allows("https://chat.example.com.evil.example")
    assert not MINE.allows("http://chat.example.com")
    assert not CorsPolicy.parse("").allows("https://chat.example.com")


def test_requests_without_origin_are_not_governed() -> None:
    assert MINE.allows(None)
    assert CorsPolicy.parse("").allows(None)


# --- actual responses ----------------------------------------------------------------------------


def test_any_origin_responses_carry_star_and_the_exposed_headers() -> None:
    for origin in ("https://app.example", None):
        headers = ANY.response_headers(origin)
        assert headers == {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
        }
    exposed = {h.lower() for h in EXPOSE_HEADERS.split(",")}
    assert {"x-amzn-requestid", "x-amzn-errortype", "date"} <= exposed


def test_restricted_responses_echo_only_an_allowed_origin_and_vary() -> None:
    assert MINE.response_headers("https://chat.example.com") == {
        "Access-Control-Allow-Origin": "https://chat.example.com",
        "Access-Control-Expose-Headers": EXPOSE_HEADERS,
        "Vary": "Origin",
    }
    assert MINE.response_headers("https://evil.example") == {"Vary": "Origin"}
    assert MINE.response_headers(None) == {"Vary": "Origin"}
