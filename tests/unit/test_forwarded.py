"""Vectors for bellwire.forwarded: the client address behind trusted proxies (RFC 7239 and
X-Forwarded-For), the rightmost untrusted hop winning."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bellwire.forwarded import (
    MAX_HOPS,
    client_address,
    forwarded_hops,
    parse_address,
    parse_trusted,
)

PROXIES = parse_trusted("10.0.0.1, 192.168.0.0/16, 2001:db8:ffff::/48")
NONE = parse_trusted("")


@pytest.mark.parametrize(
    ("peer", "forwarded", "xff", "trusted", "expected"),
    [
        # No trusted proxies: the peer, whatever the headers claim.
        ("203.0.113.9", [], ["198.51.100.1"], NONE, "203.0.113.9"),
        ("203.0.113.9", ["for=198.51.100.1"], [], NONE, "203.0.113.9"),
        # An untrusted peer with a forged header: the peer.
        ("203.0.113.9", [], ["198.51.100.1"], PROXIES, "203.0.113.9"),
        # A trusted peer without headers: the peer (the proxy is the client).
        ("10.0.0.1", [], [], PROXIES, "10.0.0.1"),
        # One proxy.
        ("10.0.0.1", [], ["198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.0.0.1", ["for=198.51.100.1;proto=https"], [], PROXIES, "198.51.100.1"),
        # The client prepended a lie: the rightmost untrusted address wins.
        ("10.0.0.1", [], ["1.1.1.1, 198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.0.0.1", ["for=1.1.1.1, for=198.51.100.1"], [], PROXIES, "198.51.100.1"),
        # Two proxies: skip the trusted hop.
        ("10.0.0.1", [], ["1.1.1.1, 198.51.100.1, 192.168.3.4"], PROXIES, "198.51.100.1"),
        # Headers repeated: read in order, as one list.
        ("10.0.0.1", [], ["1.1.1.1", "198.51.100.1, 192.168.3.4"], PROXIES, "198.51.100.1"),
        (
            "10.0.0.1",
            ["for=1.1.1.1", 'for="198.51.100.1:4711", for=192.168.3.4'],
            [],
            PROXIES,
            "198.51.100.1",
        ),
        # Every hop trusted: the leftmost.
        ("10.0.0.1", [], ["192.168.0.7, 192.168.3.4"], PROXIES, "192.168.0.7"),
        # IPv6 in Forwarded is quoted and bracketed, with or without a port.
        ("10.0.0.1", ['for="[2001:db8::17]:4711"'], [], PROXIES, "2001:db8::17"),
        ("10.0.0.1", ['For="[2001:DB8::17]"'], [], PROXIES, "2001:db8::17"),
        # IPv6 peer and trusted block.
        ("2001:db8:ffff::2", [], ["2001:db8::9"], PROXIES, "2001:db8::9"),
        # IPv4-mapped peer (a dual-stack socket) is its IPv4 address.
        ("::ffff:10.0.0.1", [], ["198.51.100.1"], PROXIES, "198.51.100.1"),
        ("::ffff:203.0.113.9", [], [], NONE, "203.0.113.9"),
        # X-Forwarded-For with ports.
        ("10.0.0.1", [], ["198.51.100.1:5555"], PROXIES, "198.51.100.1"),
        ("10.0.0.1", [], ["[2001:db8::5]:80"], PROXIES, "2001:db8::5"),
        # Unreadable hops stop the walk at the last trusted hop.
        ("10.0.0.1", ["for=unknown"], [], PROXIES, "10.0.0.1"),
        ("10.0.0.1", ["for=_hidden"], [], PROXIES, "10.0.0.1"),
        ("10.0.0.1", ["proto=https"], [], PROXIES, "10.0.0.1"),  # no for=
        ("10.0.0.1", [], ["not-an-address"], PROXIES, "10.0.0.1"),
        ("10.0.0.1", [], ["1.1.1.1, garbage, 192.168.3.4"], PROXIES, "192.168.3.4"),
        # A quoted comma or semicolon does not split the element.
        ("10.0.0.1", ['for=198.51.100.1;host="a,b;c"'], [], PROXIES, "198.51.100.1"),
        # Both headers agreeing: that client.
        ("10.0.0.1", ["for=198.51.100.1"], ["198.51.100.1"], PROXIES, "198.51.100.1"),
        # Both headers disagreeing: one was passed through from the client; the peer.
        ("10.0.0.1", ["for=1.2.3.4"], ["198.51.100.1"], PROXIES, "10.0.0.1"),
        # No peer address (a Unix socket): as given.
        (None, [], ["198.51.100.1"], PROXIES, None),
        ("unix-socket", [], ["198.51.100.1"], PROXIES, "unix-socket"),
    ],
)
def test_client_address(
    peer: str | None, forwarded: list[str], xff: list[str], trusted: object, expected: str | None
) -> None:
    assert client_address(peer, forwarded, xff, trusted) == expected  # type: ignore[arg-type]


def test_a_long_chain_is_read_only_so_far_from_the_right() -> None:
    chain = ", ".join(["198.51.100.1"] + ["192.168.0.1"] * (MAX_HOPS + 5))
    # The untrusted hop lies beyond MAX_HOPS: the walk ends on the last trusted hop it read.
    assert client_address("10.0.0.1", [], [chain], PROXIES) == "192.168.0.1"
    short = ", ".join(["198.51.100.1"] + ["192.168.0.1"] * (MAX_HOPS - 1))
    assert client_address("10.0.0.1", [], [short], PROXIES) == "198.51.100.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:443", "192.0.2.1"),
        (" 2001:db8::1 ", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]x", None),
        ("[2001:db8::1", None),
        ("192.0.2.1:http", None),
        ("example.com", None),
        ("", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == expected


def test_forwarded_hops_follow_rfc_7239_examples() -> None:
    # RFC 7239 section 4's examples.
    assert forwarded_hops(['for="_gazonk"']) == ["_gazonk"]
    assert forwarded_hops(['For="[2001:db8:cafe::17]:4711"']) == ["[2001:db8:cafe::17]:4711"]
    assert forwarded_hops(["for=192.0.2.60;proto=http;by=203.0.113.43"]) == ["192.0.2.60"]
    assert forwarded_hops(["for=192.0.2.43, for=198.51.100.17"]) == [
        "192.0.2.43",
        "198.51.100.17",
    ]
    assert forwarded_hops(['for="a\\"b"']) == ['a"b']


def test_parse_trusted_accepts_addresses_and_blocks_and_names_a_bad_entry() -> None:
    trusted = parse_trusted(" 10.0.0.1 ,, 192.168.0.0/16,::1 ")
    assert [str(n) for n in trusted.networks] == ["10.0.0.1/32", "192.168.0.0/16", "::1/128"]
    assert not parse_trusted("")
    with pytest.raises(ValueError, match=re.escape("'proxy.local'")):
        parse_trusted("10.0.0.1, proxy.local")


def test_the_setting_is_validated() -> None:
    from bellwire.config import ConfigError, Settings

    with pytest.raises(ConfigError, match=re.escape("console_trusted_proxies: '10.0.0.0/33'")):
        Settings(console_trusted_proxies="10.0.0.0/33")
    assert Settings(console_trusted_proxies="10.0.0.0/8").console_trusted_proxies == "10.0.0.0/8"


def test_module_is_sans_io() -> None:
    code = (
        "import sys, bellwire.forwarded\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'asyncio', 'aiohttp', 'socket'} "
        "or (m.startswith('bellwire.') and m != 'bellwire.forwarded')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
