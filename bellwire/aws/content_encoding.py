"""Request bodies sent with ``Content-Encoding: gzip`` (sans-I/O).

botocore compresses a request body with gzip for operations whose model has the
``requestcompression`` trait, and signs the compressed bytes: the SigV4 payload hash is over the
body as sent. No Chime, IAM or STS operation has the trait, so no official client compresses;
a client may still do it by hand, and it is accepted on the same terms: the signature is
checked over the bytes received, then the body is decompressed with the same cap as an
uncompressed one (``max_body_bytes`` applies to both sizes, so a gzip bomb stops at the cap).

Only ``gzip`` is accepted (``identity`` is a no-op): it is the one encoding botocore produces.
Anything else, or a body that is not valid gzip, is the client's mistake (``BadRequest``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from bellwire.aws.errors import BadRequest

__all__ = ["decode_body"]

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around a deflate stream


def decode_body(raw: bytes, content_encodings: Iterable[str], limit: int) -> bytes:
    """The body the application reads: ``raw`` decompressed as its ``Content-Encoding`` header
    values say (none: ``raw`` itself). Raises :class:`BadRequest` for an unsupported encoding,
    a body that is not valid gzip, or one larger than ``limit`` bytes once decompressed."""
    codings = [
        token.strip().lower()
        for value in content_encodings
        for token in value.split(",")
        if token.strip()
    ]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return raw
    if codings != ["gzip"]:
        shown = ", ".join(codings)
        raise BadRequest(
            f"Content-Encoding '{shown[:64]}' is not supported: send the body uncompressed, "
            "or compressed once with gzip."
        )
    return _gunzip(raw, limit)


def _gunzip(raw: bytes, limit: int) -> bytes:
    out: list[bytes] = []
    size = 0
    data = raw
    try:
        # A gzip file may hold several members back to back (gzip.decompress reads them all).
        while True:
            decoder = zlib.decompressobj(_GZIP_WBITS)
            chunk = decoder.decompress(data, limit + 1 - size)
            size += len(chunk)
            out.append(chunk)
            if size > limit or decoder.unconsumed_tail:
                raise BadRequest(
                    f"The request body exceeds the limit of {limit} bytes once decompressed."
                )
            if not decoder.eof:
                raise BadRequest("The request body is not valid gzip: it ends too early.")
            data = decoder.unused_data
            if not data:
                return b"".join(out)
    except zlib.error as exc:
        raise BadRequest(f"The request body is not valid gzip: {exc}.") from None
