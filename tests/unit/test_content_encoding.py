"""bellwire.aws.content_encoding: what a body labelled with a Content-Encoding decodes to."""

from __future__ import annotations

import gzip
import zlib

import pytest

from bellwire.aws.content_encoding import decode_body
from bellwire.aws.errors import BadRequest

BODY = b'{"Content": "hello"}'


@pytest.mark.parametrize("encodings", [[], ["identity"], [" Identity "], ["identity, identity"]])
def test_no_encoding_is_the_body_itself(encodings: list[str]) -> None:
    assert decode_body(BODY, encodings, 100) == BODY


@pytest.mark.parametrize(
    "encodings", [["gzip"], ["GZIP"], ["identity, gzip"], ["gzip", "identity"]]
)
def test_gzip_is_decompressed(encodings: list[str]) -> None:
    assert decode_body(gzip.compress(BODY), encodings, 100) == BODY


def test_several_gzip_members_are_one_body() -> None:
    assert decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), ["gzip"], 4) == b"abcd"


def test_the_limit_applies_after_decompression() -> None:
    assert len(decode_body(gzip.compress(b"x" * 1000), ["gzip"], 1000)) == 1000
    with pytest.raises(BadRequest, match="limit of 999 bytes once decompressed"):
        decode_body(gzip.compress(b"x" * 1000), ["gzip"], 999)
    with pytest.raises(BadRequest, match="once decompressed"):
        decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), ["gzip"], 3)


def test_a_bomb_is_not_inflated_past_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 100_000
    with pytest.raises(BadRequest, match="once decompressed"):
        decode_body(bomb, ["gzip"], 1 << 20)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        BODY,
        b"\x1f\x8b\x08\x00garbage",
        gzip.compress(BODY)[:-1],
        gzip.compress(BODY) + b"trailing",
        zlib.compress(BODY),  # zlib (deflate) framing, not gzip
    ],
    ids=["empty", "plain", "garbage", "truncated", "trailing", "zlib"],
)
def test_bodies_that_are_not_gzip_are_bad_requests(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="not valid gzip"):
        decode_body(raw, ["gzip"], 1000)


@pytest.mark.parametrize("encodings", [["br"], ["deflate"], ["gzip, gzip"], ["gzip", "br"], ["x"]])
def test_other_encodings_are_bad_requests(encodings: list[str]) -> None:
    with pytest.raises(BadRequest, match="is not supported"):
        decode_body(gzip.compress(BODY), encodings, 1000)
