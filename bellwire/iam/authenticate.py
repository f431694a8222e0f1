"""Authentication: a signed request (header or presigned URL) → the principal that signed it.

The pure parts (canonical request, scope, clock, signature) are in ``bellwire.aws.sigv4``; this
shell only adds the key lookup between parsing and verifying, and the token and expiry checks.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta

from bellwire.aws import sigv4
from bellwire.aws.errors import ExpiredToken, UnrecognizedClient
from bellwire.iam.principal import Credential, Principal

Lookup = Callable[[str], Credential | None]


class Authenticator:
    def __init__(
        self,
        lookup: Lookup,
        *,
        region: str,
        max_skew: timedelta,
        service_regions: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        self._lookup = lookup
        self._region = region
        self._max_skew = max_skew
        # Regions accepted per service besides the server's own: boto3's iam client always
        # signs for us-east-1 (IAM is global), whatever region the client was made for.
        self._regions = {
            service: frozenset({region, *extra})
            for service, extra in (service_regions or {}).items()
        }

    def check(
        self, req: sigv4.SignedRequest, *, service: str, now: datetime | None = None
    ) -> Principal:
        """Verify a parsed request; raises the AWS error a client would get."""
        credential = self._lookup(req.access_key_id)
        if credential is None or not credential.active:
            raise UnrecognizedClient("The security token included in the request is invalid.")
        moment = now or datetime.now(UTC)
        sigv4.verify(
            req,
            credential.secret_access_key,
            now=moment,
            region=self._regions.get(service, self._region),
            service=service,
            max_skew=self._max_skew,
        )
        temporary = (
            credential.session_token is not None or credential.session_token_sha256 is not None
        )
        if not temporary and req.security_token is not None:
            # A session token belongs only with the temporary credentials it was issued with;
            # beside a long-term key AWS answers this (a stale AWS_SESSION_TOKEN's symptom).
            raise UnrecognizedClient("The security token included in the request is invalid.")
        if temporary:
            sent = (req.security_token or "").encode()
            if credential.session_token_sha256 is not None:
                valid = hmac.compare_digest(
                    hashlib.sha256(sent).hexdigest(), credential.session_token_sha256
                )
            else:
                assert credential.session_token is not None
                valid = hmac.compare_digest(sent, credential.session_token.encode())
            if not valid:
                raise UnrecognizedClient("The security token included in the request is invalid.")
            if credential.expires_at is not None and moment.timestamp() >= credential.expires_at:
                raise ExpiredToken("The security token included in the request is expired")
        return credential.principal

    def credential(self, access_key_id: str) -> Credential | None:
        return self._lookup(access_key_id)
