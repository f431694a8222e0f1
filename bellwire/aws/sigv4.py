"""AWS Signature Version 4: server-side verification, and the one presign the Chime JS SDK does.

Pure: no I/O, no clock. The caller passes the current time, and looks up the secret key between
the two verification steps::

    req = parse_header_auth(method, raw_path, raw_query, headers, body)  # form only
    secret = lookup(req.access_key_id)  # unknown key -> UnrecognizedClient, the caller's job
    verify(req, secret, now=now, region="us-east-1")  # scope, clock, signature

Two flavours of canonical request are built, because the clients differ:

* header auth (boto3, JS v3): the canonical URI is the raw (already percent-encoded) path with
  dot segments and empty segments removed, *encoded again* (``%3A`` -> ``%253A``), which is what
  botocore does for every service except S3;
* presigned WebSocket URL (amazon-chime-sdk-js ``DefaultSigV4.signURL``): the canonical URI is the
  path as-is, only ``host`` is signed and the payload hash is SHA-256 of the empty string.

Query strings are decoded (``+`` is a space, as in HTML forms, aiohttp/yarl and MinIO) and
re-encoded RFC 3986, so the signature covers exactly the values the application will read from
:attr:`SignedRequest.query`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

from bellwire.aws.errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken

__all__ = [
    "ALGORITHM",
    "DEFAULT_MAX_SKEW",
    "EMPTY_SHA256",
    "MAX_PRESIGN_EXPIRES",
    "SIGNATURE_MISMATCH",
    "SignedRequest",
    "derive_signing_key",
    "parse_header_auth",
    "parse_presigned_query",
    "presign_connect_url",
    "scope_service",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
DEFAULT_MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # one week, the SigV4 ceiling
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)

_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_RE = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z", re.ASCII)
_HEX_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
_RFC3986_SAFE = "-_.~"
# encodeURIComponent leaves these unescaped where RFC 3986 / SigV4 escapes them.
_JS_SAFE = "-_.!~*'()"
_JS_ONLY_SAFE = frozenset("!'()*")
_UNRESERVED_RE = re.compile(r"[A-Za-z0-9\-._~]*", re.ASCII)
# Characters quote(safe="/~") leaves as they are, and "%", which it escapes as "%25".
_PATH_CHARS_RE = re.compile(r"[A-Za-z0-9\-._~/%]*", re.ASCII)
# Unreserved characters and upper-case escapes: canonical already, unless an escape stands for
# an unreserved character (%41 is "A", whose canonical form is the letter). Written as runs
# between escapes: an alternation tried at every character costs six times as much.
_ESCAPED_RE = re.compile(r"[A-Za-z0-9\-._~]*(?:%[0-9A-F]{2}[A-Za-z0-9\-._~]*)*", re.ASCII)
_ESCAPED_UNRESERVED_RE = re.compile(r"%(?:2[DE]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])")
# A whole query of canonical components (as _ESCAPED_RE) joined by "&" and "=": what SigV4
# signers send, checked in one pass instead of once per component.
_CANONICAL_QUERY_RE = re.compile(
    r"[A-Za-z0-9\-._~&=]*(?:%[0-9A-F]{2}[A-Za-z0-9\-._~&=]*)*", re.ASCII
)
# Those characters escaped: with them, a raw query shows whether its decoded form may hold
# one (an alternation with the characters themselves would be tried at every position).
_JS_ONLY_SAFE_ESCAPED_RE = re.compile(r"%2[1789Aa]")

_Q_ALGORITHM = "X-Amz-Algorithm"
_Q_CREDENTIAL = "X-Amz-Credential"
_Q_DATE = "X-Amz-Date"
_Q_EXPIRES = "X-Amz-Expires"
_Q_SIGNED_HEADERS = "X-Amz-SignedHeaders"
_Q_SIGNATURE = "X-Amz-Signature"
_Q_TOKEN = "X-Amz-Security-Token"
_PRESIGN_REQUIRED = (
    _Q_ALGORITHM,
    _Q_CREDENTIAL,
    _Q_DATE,
    _Q_EXPIRES,
    _Q_SIGNED_HEADERS,
    _Q_SIGNATURE,
)
_PRESIGN_NAMES = frozenset((*_PRESIGN_REQUIRED, _Q_TOKEN))


@dataclass(slots=True)  # not frozen: made per request, and frozen costs its __init__
class SignedRequest:
    """A request whose signature is well-formed; :func:`verify` decides whether it is genuine."""

    access_key_id: str
    date: str  # yyyymmdd, from the credential scope
    region: str
    service: str
    amz_date: str  # yyyymmddTHHMMSSZ, as sent
    timestamp: datetime  # amz_date, UTC-aware
    signed_headers: tuple[str, ...]
    signature: str  # as sent, unchecked
    canonical_request: str
    security_token: str | None = None
    expires: int | None = None  # X-Amz-Expires seconds; None for header auth
    # Every query parameter, decoded, in wire order (the auth parameters included): read the
    # request's parameters from here so the application sees exactly what was signed.
    query: tuple[tuple[str, str], ...] = ()
    # The same request canonicalised with JS encodeURIComponent, set only for a presigned URL whose
    # parameters contain one of ! ' ( ) *; the JS SDK signs those unescaped.
    js_canonical_request: str | None = field(default=None, repr=False)

    @property
    def credential_scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"

    @property
    def presigned(self) -> bool:
        return self.expires is not None

    @property
    def string_to_sign(self) -> str:
        return _string_to_sign(self.amz_date, self.credential_scope, self.canonical_request)


@lru_cache(maxsize=1024)
def derive_signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key. Cached: four HMACs per request would otherwise dominate verify()."""
    k_date = hmac.digest(f"AWS4{secret_access_key}".encode(), date.encode(), "sha256")
    k_region = hmac.digest(k_date, region.encode(), "sha256")
    k_service = hmac.digest(k_region, service.encode(), "sha256")
    return hmac.digest(k_service, TERMINATOR.encode(), "sha256")


# --- server side: header authentication -----------------------------------------------------


def parse_header_auth(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
) -> SignedRequest:
    """Parse an ``Authorization: AWS4-HMAC-SHA256 ...`` request and build its canonical request.

    ``raw_path`` and ``raw_query`` are exactly as received (still percent-encoded, no ``?``);
    ``headers`` is the raw list. Raises only on form: the scope, the clock and the signature
    itself are :func:`verify`'s job, once the caller has the secret key.
    """
    header_map: dict[str, list[str]] = {}
    for name, value in headers:
        header_map.setdefault(name.lower(), []).append(value)
    params = _split_query(raw_query)

    authorization = header_map.get("authorization")
    if authorization is None:
        if any(param[0] in _PRESIGN_NAMES for param in params):
            raise IncompleteSignature(
                "Query-string (presigned) authentication is only accepted on the messaging "
                "session connect URL; sign this request with an Authorization header."
            )
        raise MissingAuthenticationToken("Missing Authentication Token")
    if len(authorization) > 1:
        raise IncompleteSignature("The request carries more than one Authorization header.")
    credential, signed_header_list, signature = _parse_authorization(authorization[0])

    amz_date = _single_header(header_map, "x-amz-date")
    if amz_date is None:
        raise IncompleteSignature(
            "Authorization header requires existence of a 'X-Amz-Date' header."
        )
    timestamp = _parse_amz_date(amz_date)
    access_key_id, date, region, service = _parse_credential(credential)
    _check_scope_date(date, amz_date)

    signed_headers = tuple(signed_header_list.split(";"))
    for name in signed_headers:
        if not name or name != name.lower() or name != name.strip():
            raise IncompleteSignature(
                f"SignedHeaders must be a ';'-separated list of lower-case header names, "
                f"got '{signed_header_list}'."
            )
    if "host" not in signed_headers:
        raise IncompleteSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    _check_amz_headers_signed(header_map, signed_headers)
    canonical_headers: list[str] = []
    for name in signed_headers:
        values = header_map.get(name)
        if values is None:
            raise InvalidSignature(
                f"The header '{name}' is listed in SignedHeaders but is not present in the request."
            )
        # Trimall each value (strip, collapse inner whitespace runs), join repeats with ','.
        if len(values) == 1:  # nearly always: without a generator, a third of the time
            value = " ".join(values[0].split())
        else:
            value = ",".join(" ".join(v.split()) for v in values)
        canonical_headers.append(f"{name}:{value}\n")

    canonical_request = "\n".join(
        (
            method,
            _canonical_uri(raw_path),
            _canonical_query(params, skip=None),
            "".join(canonical_headers),
            signed_header_list,
            _payload_hash(header_map.get("x-amz-content-sha256"), body),
        )
    )
    return SignedRequest(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        amz_date=amz_date,
        timestamp=timestamp,
        signed_headers=signed_headers,
        signature=signature,
        canonical_request=canonical_request,
        security_token=_single_header(header_map, "x-amz-security-token") or None,
        query=tuple((key, value) for key, value, _, _ in params),
    )


def scope_service(headers: Sequence[tuple[str, str]]) -> str | None:
    """The service an ``Authorization`` header's credential scope names, or None if there is
    no single well-formed one. Unverified: only for choosing how to word an early refusal."""
    values = [value for name, value in headers if name.lower() == "authorization"]
    if len(values) != 1:
        return None
    try:
        credential, _, _ = _parse_authorization(values[0])
        return _parse_credential(credential)[3]
    except (IncompleteSignature, InvalidSignature):
        return None


def _parse_authorization(value: str) -> tuple[str, str, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported AWS 'algorithm': '{algorithm}'. Only '{ALGORITHM}' is supported."
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if sep:
            if name in fields:
                raise IncompleteSignature(
                    f"Authorization header has more than one '{name}' parameter."
                )
            fields[name] = field_value
    credential = fields.get("Credential", "")
    signed_headers = fields.get("SignedHeaders", "")
    signature = fields.get("Signature", "")
    missing = [
        name
        for name, present in (
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed_headers),
        )
        if not present
    ]
    if missing:
        raise IncompleteSignature(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        )
    return credential, signed_headers, signature


def _check_amz_headers_signed(lowered: Iterable[str], signed_headers: Collection[str]) -> None:
    """Every ``x-amz-*`` header sent must be signed (AWS's SigV4 rule): an unsigned one, such as
    ``x-amz-chime-bearer`` or ``x-amz-date``, could be added or changed by anyone on the path.
    (``x-amzn-*`` headers, such as ``x-amzn-trace-id``, are not ``x-amz-*``.) ``lowered``: the
    header names sent, in lower case."""
    unsigned = sorted(
        {name for name in lowered if name.startswith("x-amz-") and name not in signed_headers}
    )
    if unsigned:
        raise IncompleteSignature(
            "There were headers present in the request which were not signed: "
            f"{', '.join(unsigned)}. Every x-amz-* header sent must be in SignedHeaders."
        )


def _single_header(header_map: Mapping[str, list[str]], name: str) -> str | None:
    values = header_map.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise IncompleteSignature(f"The request carries more than one '{name}' header.")
    return values[0].strip()


def _payload_hash(declared: list[str] | None, body: bytes) -> str:
    """The payload line: SHA-256 of the body, or X-Amz-Content-Sha256 after checking it.

    The declared hash is honoured only when it matches the body, otherwise the signature would
    not cover the body. ``UNSIGNED-PAYLOAD`` and the streaming variants are refused: they are
    S3 features, and no client of these services sends them.
    """
    actual = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    if declared is None:
        return actual
    if len(declared) > 1:
        raise IncompleteSignature(
            "The request carries more than one 'x-amz-content-sha256' header."
        )
    value = declared[0].strip()
    if not _HEX_SHA256_RE.fullmatch(value):
        raise IncompleteSignature(
            f"x-amz-content-sha256 '{value}' is not accepted: this service requires a signed "
            "payload, the hex SHA-256 of the request body."
        )
    if value.lower() != actual:
        raise InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    return value


def _canonical_uri(raw_path: str) -> str:
    """botocore's ``quote(normalize_url_path(path), safe='/~')`` applied to the raw path."""
    if not raw_path:
        return "/"
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    first = "/" if raw_path[0] == "/" else ""
    last = "/" if raw_path[-1] == "/" and segments else ""
    path = first + "/".join(segments) + last
    if _PATH_CHARS_RE.fullmatch(path):
        # What quote() does to such a path, without its per-byte loop: a REST path is its
        # percent-escaped ARNs, and this was a twentieth of a send's CPU.
        return path.replace("%", "%25")
    return quote(path, safe="/~")


# --- server side: presigned WebSocket connect URL -------------------------------------------


def parse_presigned_query(
    method: str,
    raw_path: str,
    raw_query: str,
    host: str,
    *,
    header_names: Iterable[str] = (),
    max_expires: int = MAX_PRESIGN_EXPIRES,
) -> SignedRequest:
    """Parse a URL presigned like amazon-chime-sdk-js ``DefaultSigV4.signURL`` does.

    ``host`` is the ``Host`` header as received: the client signed ``host:`` + its lower-cased
    URL host, so a proxy that rewrites ``Host`` breaks verification. Every parameter except
    ``X-Amz-Signature``, unknown ones included, is part of the canonical query.
    ``header_names`` are the request's header names: only ``host`` is signed, so any
    ``x-amz-*`` header is refused. ``max_expires`` is this server's longest accepted
    ``X-Amz-Expires`` (at most SigV4's one week).
    """
    params = _split_query(raw_query)
    auth: dict[str, str] = {}
    for key, value, _, _ in params:
        if key in _PRESIGN_NAMES:
            if key in auth:
                raise IncompleteSignature(f"The query string has more than one '{key}' parameter.")
            auth[key] = value
    if not auth:
        raise MissingAuthenticationToken("Missing Authentication Token")
    missing = [name for name in _PRESIGN_REQUIRED if not auth.get(name)]
    if missing:
        raise IncompleteSignature(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            f"X-Amz-Expires parameters; missing: {', '.join(missing)}."
        )
    if auth[_Q_ALGORITHM] != ALGORITHM:
        raise IncompleteSignature(f'X-Amz-Algorithm only supports "{ALGORITHM}".')
    amz_date = auth[_Q_DATE]
    timestamp = _parse_amz_date(amz_date)
    access_key_id, date, region, service = _parse_credential(auth[_Q_CREDENTIAL])
    _check_scope_date(date, amz_date)
    expires_text = auth[_Q_EXPIRES]
    # Length first: int() of a huge digit string is slow, then raises past 4300 digits.
    expires = (
        int(expires_text)
        if len(expires_text) <= 6 and expires_text.isascii() and expires_text.isdigit()
        else 0
    )
    if not 1 <= expires <= MAX_PRESIGN_EXPIRES:
        raise IncompleteSignature(
            f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES} "
            f"(one week), got '{expires_text}'."
        )
    if expires > max_expires:
        raise IncompleteSignature(
            f"X-Amz-Expires {expires} is longer than this server accepts for a presigned URL: "
            f"at most {max_expires} seconds."
        )
    # A browser cannot add headers to a WebSocket upgrade, so host is all there is to sign.
    if auth[_Q_SIGNED_HEADERS] != "host":
        raise IncompleteSignature(
            f"X-Amz-SignedHeaders must be 'host' on the connect URL, got '{auth[_Q_SIGNED_HEADERS]}'."
        )
    _check_amz_headers_signed([name.lower() for name in header_names], ("host",))
    host = host.strip().lower()
    if not host:
        raise IncompleteSignature("The request has no Host header, which the connect URL signs.")

    head = f"{method}\n{raw_path or '/'}\n"
    tail = f"\nhost:{host}\n\nhost\n{EMPTY_SHA256}"
    canonical_request = head + _canonical_query(params, skip=_Q_SIGNATURE) + tail
    js_canonical_request = None
    may_differ = _JS_ONLY_SAFE_ESCAPED_RE.search(raw_query) or any(
        c in raw_query for c in _JS_ONLY_SAFE
    )
    if may_differ and any(not _JS_ONLY_SAFE.isdisjoint(key + value) for key, value, _, _ in params):
        js_query = sorted(
            (_js_encode(key), _js_encode(value))
            for key, value, _, _ in params
            if key != _Q_SIGNATURE
        )
        js_canonical_request = head + "&".join(f"{k}={v}" for k, v in js_query) + tail
    return SignedRequest(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        amz_date=amz_date,
        timestamp=timestamp,
        signed_headers=("host",),
        signature=auth[_Q_SIGNATURE],
        canonical_request=canonical_request,
        security_token=auth.get(_Q_TOKEN) or None,
        expires=expires,
        query=tuple((key, value) for key, value, _, _ in params),
        js_canonical_request=js_canonical_request,
    )


# --- server side: the checks that need the secret and the clock -----------------------------


def verify(
    req: SignedRequest,
    secret_access_key: str,
    *,
    now: datetime,
    region: str | Collection[str],
    service: str = "chime",
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> None:
    """Check the credential scope, the clock and the signature; raise :class:`InvalidSignature`.

    ``now`` must be timezone-aware. ``region`` is the region (or the set of regions) this server
    answers for. A presigned URL is accepted until ``X-Amz-Date + X-Amz-Expires + max_skew``;
    any request dated more than ``max_skew`` in the future is refused.
    """
    if req.service != service:
        raise InvalidSignature(f"Credential should be scoped to correct service: '{service}'.")
    regions = (region,) if isinstance(region, str) else region
    if req.region not in regions:
        expected = "', '".join(sorted(regions))
        raise InvalidSignature(
            f"Credential should be scoped to a valid region, not '{req.region}'. "
            f"This server accepts '{expected}'."
        )
    _check_clock(req, now, max_skew)

    key = derive_signing_key(secret_access_key, req.date, req.region, req.service)
    provided = req.signature
    # compare_digest refuses non-ASCII str; such a signature cannot match anyway.
    if provided.isascii():
        if hmac.compare_digest(_sign(key, req.string_to_sign), provided):
            return
        if req.js_canonical_request is not None:
            js_sts = _string_to_sign(req.amz_date, req.credential_scope, req.js_canonical_request)
            if hmac.compare_digest(_sign(key, js_sts), provided):
                return
    raise InvalidSignature(SIGNATURE_MISMATCH)


def _check_clock(req: SignedRequest, now: datetime, max_skew: timedelta) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    if req.timestamp - now > max_skew:
        skew = _format_delta(max_skew)
        raise InvalidSignature(
            f"Signature not yet current: {req.amz_date} is still later than "
            f"{_format_amz_date(now + max_skew)} ({_format_amz_date(now)} + {skew}.)"
        )
    if req.expires is None:
        if now - req.timestamp > max_skew:
            skew = _format_delta(max_skew)
            raise InvalidSignature(
                f"Signature expired: {req.amz_date} is now earlier than "
                f"{_format_amz_date(now - max_skew)} ({_format_amz_date(now)} - {skew}.)"
            )
        return
    expiry = req.timestamp + timedelta(seconds=req.expires)
    if now - expiry > max_skew:
        skew = _format_delta(max_skew)
        raise InvalidSignature(
            f"Signature expired: {req.amz_date} + X-Amz-Expires {req.expires} s = "
            f"{_format_amz_date(expiry)} is now earlier than {_format_amz_date(now - max_skew)} "
            f"({_format_amz_date(now)} - {skew}.)"
        )


# --- client side: the JS SDK's presigned connect URL ----------------------------------------


def presign_connect_url(
    *,
    host: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None,
    region: str,
    params: Mapping[str, str],
    now: datetime,
    scheme: str = "wss",
    path: str = "/connect",
    expires: int = 10,
    service: str = "chime",
) -> str:
    """Presign a messaging-session URL byte-for-byte as ``DefaultSigV4.signURL`` does.

    ``host`` is the endpoint ``Url`` (``host[:port]``); ``params`` are the extra parameters
    (``sessionId``, ``userArn``, ``X-Amzn-Version``...). Values are encoded like JS
    ``encodeURIComponent`` and keys sorted after encoding; the signature goes last.
    """
    if not 1 <= expires <= MAX_PRESIGN_EXPIRES:
        raise ValueError(f"expires must be 1..{MAX_PRESIGN_EXPIRES} seconds, got {expires}")
    amz_date = _format_amz_date(now)
    scope = f"{amz_date[:8]}/{region}/{service}/{TERMINATOR}"
    query: dict[str, str] = {
        _Q_ALGORITHM: ALGORITHM,
        _Q_CREDENTIAL: _js_encode(f"{access_key_id}/{scope}"),
        _Q_DATE: amz_date,
        _Q_EXPIRES: str(expires),
        _Q_SIGNED_HEADERS: "host",
    }
    if session_token:
        query[_Q_TOKEN] = _js_encode(session_token)
    for key, value in params.items():
        if key in _PRESIGN_NAMES:
            raise ValueError(f"query parameter {key!r} is reserved for the signature")
        query[_js_encode(key)] = _js_encode(value)
    canonical_query = "&".join(f"{key}={query[key]}" for key in sorted(query))
    canonical_request = (
        f"GET\n{path}\n{canonical_query}\nhost:{host.lower()}\n\nhost\n{EMPTY_SHA256}"
    )
    signing_key = derive_signing_key(secret_access_key, amz_date[:8], region, service)
    signature = _sign(signing_key, _string_to_sign(amz_date, scope, canonical_request))
    return f"{scheme}://{host}{path}?{canonical_query}&{_Q_SIGNATURE}={signature}"


# --- shared pieces --------------------------------------------------------------------------


def _string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _sign(key: bytes, string_to_sign: str) -> str:
    # Not hmac.digest(): the one-shot form releases the GIL, and getting it back from the
    # store's writer thread can cost the event loop a whole switch interval. Not hmac.new()
    # either: it pads the key and hashes the pads at every call; the key's pad states are
    # kept beside it (RFC 2104) and copied, a third of the time.
    inner_pad, outer_pad = _pads(key)
    inner = inner_pad.copy()
    inner.update(string_to_sign.encode())
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


@lru_cache(maxsize=1024)
def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """SHA-256 states after the key's inner and outer pads (a signing key is 32 bytes)."""
    padded = key.ljust(64, b"\0")
    return (
        hashlib.sha256(padded.translate(_XOR_36)),
        hashlib.sha256(padded.translate(_XOR_5C)),
    )


_XOR_36 = bytes(b ^ 0x36 for b in range(256))
_XOR_5C = bytes(b ^ 0x5C for b in range(256))


def _split_query(raw_query: str) -> list[tuple[str, str, str, str]]:
    """Each parameter as (key, value, canonical key, canonical value).

    Decoded for the application, re-encoded RFC 3986 for the canonical query; a key without '='
    has an empty value. The canonical form is re-encoded from the raw bytes, so it is exact even
    when an escape is not valid UTF-8.
    """
    if not _CANONICAL_QUERY_RE.fullmatch(raw_query) or _ESCAPED_UNRESERVED_RE.search(raw_query):
        return _split_query_by_component(raw_query)
    # Every component is its own canonical form, but for a second "=" in a value.
    params: list[tuple[str, str, str, str]] = []
    for part in raw_query.split("&"):
        if part:
            key, _, value = part.partition("=")
            if "=" in value:
                decoded, canonical = _decode_component(value)
                params.append((_unescape(key), decoded, key, canonical))
            else:
                params.append((_unescape(key), _unescape(value), key, value))
    return params


def _split_query_by_component(raw_query: str) -> list[tuple[str, str, str, str]]:
    params: list[tuple[str, str, str, str]] = []
    for part in raw_query.split("&"):
        if part:
            raw_key, _, raw_value = part.partition("=")
            key, canonical_key = _decode_component(raw_key)
            value, canonical_value = _decode_component(raw_value)
            params.append((key, value, canonical_key, canonical_value))
    return params


def _decode_component(raw: str) -> tuple[str, str]:
    if _UNRESERVED_RE.fullmatch(raw):
        return raw, raw  # most keys and many values: already canonical, skip urllib's slow path
    data = unquote_to_bytes(raw.replace("+", " "))
    if _ESCAPED_RE.fullmatch(raw) and not _ESCAPED_UNRESERVED_RE.search(raw):
        # What signers send (the credential, the userArn): raw is its own canonical form,
        # without quote()'s byte-by-byte re-encoding, a tenth of a connect's SigV4 work.
        return data.decode("utf-8", "replace"), raw
    return data.decode("utf-8", "replace"), quote(data, safe=_RFC3986_SAFE)


def _unescape(canonical: str) -> str:
    """A canonical component decoded (no "+" in it, every escape well-formed)."""
    if "%" not in canonical:
        return canonical
    return unquote_to_bytes(canonical).decode("utf-8", "replace")


def _canonical_query(params: list[tuple[str, str, str, str]], skip: str | None) -> str:
    encoded = sorted((ck, cv) for key, _, ck, cv in params if key != skip)
    return "&".join(f"{key}={value}" for key, value in encoded)


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{credential}'."
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise IncompleteSignature(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not "
            f"'{terminator}'."
        )
    if not (access_key_id and region and service):
        raise IncompleteSignature(
            f"Credential must name an access key id, a region and a service, got '{credential}'."
        )
    return access_key_id, date, region, service


_last_amz_date: tuple[str, datetime] = ("", datetime.fromtimestamp(0, UTC))


def _parse_amz_date(amz_date: str) -> datetime:
    global _last_amz_date
    last = _last_amz_date
    if last[0] == amz_date:  # requests signed in the same second: most of them under load
        return last[1]
    parsed = _parse_new_amz_date(amz_date)
    _last_amz_date = (amz_date, parsed)  # one tuple: another thread sees the old or the new
    return parsed


def _parse_new_amz_date(amz_date: str) -> datetime:
    match = _AMZ_DATE_RE.fullmatch(amz_date)
    try:
        if match is None:
            raise ValueError(amz_date)
        year, month, day, hour, minute, second = map(int, match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise IncompleteSignature(
            f"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", "
            f"got '{amz_date}'."
        ) from None


def _check_scope_date(date: str, amz_date: str) -> None:
    if date != amz_date[:8]:
        raise InvalidSignature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'."
        )


def _format_amz_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(UTC).strftime(_AMZ_DATE_FORMAT)


def _format_delta(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _js_encode(value: str) -> str:
    return quote(value, safe=_JS_SAFE)
