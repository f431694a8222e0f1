"""The development CA and server certificate: made once, renewed when needed, loopback only."""

from __future__ import annotations

import datetime
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from bellwire import cli, devtls

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


def test_first_call_makes_a_ca_and_a_localhost_certificate(tmp_path: Path) -> None:
    made = devtls.ensure(tmp_path, now=NOW)
    assert made.ca_created and made.cert_created
    assert sans(made.cert) == {"localhost", "127.0.0.1", "::1"}
    for key in (made.key, tmp_path / "dev-tls" / "ca.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(made.ca.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert x509.DNSName("localhost") in (constraints.value.permitted_subtrees or [])
    # The pair is usable by Python's TLS stack.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(made.cert, made.key)


def test_second_call_keeps_everything(tmp_path: Path) -> None:
    first = devtls.ensure(tmp_path, now=NOW)
    before = (first.ca.read_bytes(), first.cert.read_bytes())
    again = devtls.ensure(tmp_path, now=NOW + datetime.timedelta(days=100))
    assert not again.ca_created and not again.cert_created
    assert (again.ca.read_bytes(), again.cert.read_bytes()) == before


def test_certificate_is_renewed_near_its_end_with_the_same_ca(tmp_path: Path) -> None:
    first = devtls.ensure(tmp_path, now=NOW)
    ca, cert = first.ca.read_bytes(), first.cert.read_bytes()
    later = devtls.ensure(tmp_path, now=NOW + datetime.timedelta(days=devtls.SERVER_DAYS - 10))
    assert later.cert_created and not later.ca_created
    assert later.ca.read_bytes() == ca and later.cert.read_bytes() != cert


def test_a_new_loopback_name_renews_the_certificate(tmp_path: Path) -> None:
    devtls.ensure(tmp_path, now=NOW)
    made = devtls.ensure(tmp_path, ["127.0.0.2", "chat.localhost"], now=NOW)
    assert made.cert_created
    assert {"127.0.0.2", "chat.localhost"} <= sans(made.cert)


@pytest.mark.parametrize("host", ["example.com", "192.168.1.10", "10.0.0.1", "localhost.evil"])
def test_other_hosts_are_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(devtls.DevTlsError, match="--tls-cert"):
        devtls.ensure(tmp_path, [host], now=NOW)
    assert not (tmp_path / "dev-tls" / "ca.pem").exists()


def test_permitted_names_match_the_ca_constraints() -> None:
    assert devtls.permitted("localhost") and devtls.permitted("a.b.localhost")
    assert devtls.permitted("127.9.9.9") and devtls.permitted("[::1]")
    assert not devtls.permitted("notlocalhost") and not devtls.permitted("::2")


def test_devcert_command_prints_paths_and_how_to_trust(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["devcert", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ca = tmp_path / "dev-tls" / "ca.pem"
    assert ca.exists()
    for hint in (
        f"NODE_EXTRA_CA_CERTS={ca}",
        f"AWS_CA_BUNDLE={ca}",
        f"SSL_CERT_FILE={ca}",
        f"REQUESTS_CA_BUNDLE={ca}",
        "certutil",
        "bellwire serve --dev-tls",
    ):
        assert hint in out, out


def test_dev_tls_and_a_certificate_exclude_each_other(tmp_path: Path) -> None:
    from bellwire import config

    with pytest.raises(config.ConfigError, match="dev_tls and tls_cert"):
        config.load(
            environ={},
            overrides={"dev_tls": "true", "tls_cert": "a.pem", "tls_key": "a.key"},
        )
    assert config.load(environ={"BELLWIRE_DEV_TLS": "yes"}).tls
    assert not config.load(environ={"BELLWIRE_DEV_TLS": "0"}).dev_tls
    with pytest.raises(config.ConfigError, match="dev_tls"):
        config.load(environ={"BELLWIRE_DEV_TLS": "maybe"})


def test_the_ca_cannot_vouch_for_another_site_even_with_its_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import verification

    made = devtls.ensure(tmp_path, now=NOW)
    ca = x509.load_pem_x509_certificate(made.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(
        (tmp_path / "dev-tls" / "ca.key").read_bytes(), None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    store = verification.Store([ca])
    at = NOW + datetime.timedelta(days=1)

    def verify(host: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = devtls._make_server(key, ca_key, ca, [host], NOW)
        verifier = verification.PolicyBuilder().store(store).time(at)
        verifier.build_server_verifier(x509.DNSName(host)).verify(cert, [])

    verify("localhost")  # the control
    with pytest.raises(verification.VerificationError):
        verify("example.com")


def test_dev_tls_is_a_switch_that_also_takes_a_value(tmp_path: Path) -> None:
    parse = cli.build_parser().parse_args
    assert cli._settings(parse(["serve", "--dev-tls"])).dev_tls is True
    assert cli._settings(parse(["serve", "--dev-tls", "false"])).dev_tls is False
    assert cli._settings(parse(["serve", "--dev-tls", "--port", "9"])).port == 9
