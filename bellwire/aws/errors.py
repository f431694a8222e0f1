"""The client-visible error root: every mistake a client can make maps to one of these.

A handler raises ``BadRequest("...")``; the REST codec turns it into the modeled HTTP status, the
``x-amzn-ErrorType`` header and a ``{"Code", "Message"}`` body, and the WebSocket gateway into a
close code. Anything that is *not* an :class:`AwsError` is a server bug and answers 500.
"""

from __future__ import annotations

from typing import ClassVar


class AwsError(Exception):
    """An error the client caused (4xx) or one the service reports as such (5xx faults)."""

    shape: ClassVar[str] = "ServiceFailureException"  # x-amzn-ErrorType / modeled exception name
    code: ClassVar[str] = "ServiceFailure"  # the `Code` body member (Chime ErrorCode enum)
    status: ClassVar[int] = 500
    # The code used by query-protocol services (IAM, STS) in their XML error documents.
    query_code: ClassVar[str | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def is_fault(self) -> bool:
        return self.status >= 500

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


# --- the Chime SDK modeled exceptions (identical in both services) ---------------------------


class BadRequest(AwsError):
    shape, code, status = "BadRequestException", "BadRequest", 400


class ResourceLimitExceeded(AwsError):
    shape, code, status = "ResourceLimitExceededException", "ResourceLimitExceeded", 400


class UnauthorizedClient(AwsError):
    shape, code, status = "UnauthorizedClientException", "Unauthorized", 401


class Forbidden(AwsError):
    shape, code, status = "ForbiddenException", "Forbidden", 403


class NotFound(AwsError):
    shape, code, status = "NotFoundException", "NotFound", 404


class Conflict(AwsError):
    shape, code, status = "ConflictException", "Conflict", 409


class ThrottledClient(AwsError):
    shape, code, status = "ThrottledClientException", "Throttled", 429


class ServiceFailure(AwsError):
    shape, code, status = "ServiceFailureException", "ServiceFailure", 500


class ServiceUnavailable(AwsError):
    shape, code, status = "ServiceUnavailableException", "ServiceUnavailable", 503


# --- the common AWS authentication / authorization errors (not in the Chime models) ----------
# botocore maps them by x-amzn-ErrorType to ClientError codes of the same name.


class MissingAuthenticationToken(AwsError):
    shape = code = "MissingAuthenticationTokenException"
    status = 403
    query_code = "MissingAuthenticationToken"


class IncompleteSignature(AwsError):
    shape = code = "IncompleteSignatureException"
    status = 400
    query_code = "IncompleteSignature"


class InvalidSignature(AwsError):
    shape = code = "InvalidSignatureException"
    status = 403
    query_code = "SignatureDoesNotMatch"


class UnrecognizedClient(AwsError):
    shape = code = "UnrecognizedClientException"
    status = 403
    query_code = "InvalidClientTokenId"


class ExpiredToken(AwsError):
    shape = code = "ExpiredTokenException"
    status = 403
    query_code = "ExpiredToken"


class AccessDenied(AwsError):
    shape, code, status = "AccessDeniedException", "AccessDenied", 403
    query_code = "AccessDenied"


class MalformedPolicyDocument(AwsError):
    shape = code = "MalformedPolicyDocument"
    status = 400
    query_code = "MalformedPolicyDocument"


# --- the query protocol's own errors (IAM, STS) --------------------------------------------------


class QueryError(AwsError):
    """An error of the query protocol, named by its ``<Code>`` in both protocols."""

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        # One name for both protocols: the REST codec would use shape/code, XML uses query_code.
        if cls.query_code is not None:
            cls.shape = cls.code = cls.query_code


class ValidationError(QueryError):
    """The generic "a parameter is wrong" of every query-protocol service."""

    status, query_code = 400, "ValidationError"


class InvalidAction(QueryError):
    status, query_code = 400, "InvalidAction"


class MissingAction(QueryError):
    status, query_code = 400, "MissingAction"
