"""Local TLS for development: a private CA and a localhost server certificate in the data dir.

amazon-chime-sdk-js connects only with ``wss``, so a developer needs https on localhost that
browsers, Node and Python trust. ``bellwire serve --dev-tls`` (or ``bellwire devcert``) makes,
once, a CA whose certificate the developer trusts, and a server certificate it signs for
``localhost``, ``127.0.0.1`` and ``::1``. The CA carries name constraints limiting it to those
names, so trusting it cannot vouch for any other site even if its key leaks. The server
certificate is renewed by the same command when it nears its end or lacks a requested name.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DIRECTORY = "dev-tls"
CA_DAYS = 3650
# Apple's TLS policy refuses server certificates valid for longer than 825 days.
SERVER_DAYS = 397
RENEW_BEFORE = datetime.timedelta(days=30)
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
_PERMITTED: list[x509.GeneralName] = [
    x509.DNSName("localhost"),  # and its subdomains (RFC 5280 §4.2.1.10)
    x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
    x509.IPAddress(ipaddress.ip_network("::1/128")),
]


class DevTlsError(Exception):
    """A host the dev CA may not certify, or files that cannot be read or written."""


@dataclass(frozen=True, slots=True)
class DevTls:
    ca: Path
    cert: Path
    key: Path
    ca_created: bool
    cert_created: bool


def paths(data_dir: Path) -> tuple[Path, Path, Path, Path]:
    """(ca.pem, ca.key, server.pem, server.key) under the data dir."""
    d = data_dir / DIRECTORY
    return d / "ca.pem", d / "ca.key", d / "server.pem", d / "server.key"


def permitted(host: str) -> bool:
    """Whether the dev CA's name constraints allow ``host``."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        name = host.lower().rstrip(".")
        return name == "localhost" or name.endswith(".localhost")
    return address.is_loopback


def ensure(
    data_dir: Path,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    *,
    now: datetime.datetime | None = None,
) -> DevTls:
    """Make what is missing: the CA (once), and a server certificate for ``hosts`` (when there
    is none, it names fewer hosts, or it expires within 30 days). Keys are written 0600."""
    now = now or datetime.datetime.now(datetime.UTC)
    wanted = list(dict.fromkeys([*DEFAULT_HOSTS, *hosts]))
    refused = [h for h in wanted if not permitted(h)]
    if refused:
        raise DevTlsError(
            f"the development CA certifies only localhost and loopback addresses, not "
            f"{', '.join(refused)}; use --tls-cert and --tls-key for other hosts"
        )
    ca_pem, ca_key_path, cert_pem, key_path = paths(data_dir)
    ca_pem.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_created = False
    if ca_pem.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise DevTlsError(f"{ca_key_path} is not an EC private key")
        ca_key = loaded
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _make_ca(ca_key, now)
        _write_private(ca_key_path, _key_pem(ca_key))
        ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        ca_created = True
    cert_created = False
    if ca_created or _needs_renewal(cert_pem, key_path, ca_cert, wanted, now):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _make_server(key, ca_key, ca_cert, wanted, now)
        _write_private(key_path, _key_pem(key))
        cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        cert_created = True
    return DevTls(ca_pem, cert_pem, key_path, ca_created, cert_created)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _make_ca(key: ec.EllipticCurvePrivateKey, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bellwire development CA"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"bellwire dev CA {os.uname().nodename[:40]} {now:%Y-%m-%d}"
            ),
        ]
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.NameConstraints(_PERMITTED, None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_server(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
    now: datetime.datetime,
) -> x509.Certificate:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.append(x509.DNSName(host.lower()))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(
            min(now + datetime.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc)
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _needs_renewal(
    cert_pem: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
    now: datetime.datetime,
) -> bool:
    if not (cert_pem.exists() and key_path.exists()):
        return True
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - RENEW_BEFORE < now:
        return True
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    present = {str(n).lower() for n in san.get_values_for_type(x509.DNSName)}
    present |= {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    for host in hosts:
        try:
            wanted = str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            wanted = host.lower()
        if wanted not in present:
            return True
    return False


def instructions(tls: DevTls, url: str) -> str:
    """How to trust the CA from a browser, Node and Python."""
    ca = tls.ca
    return f"""
Development TLS: {url} serves a certificate signed by a local CA:

    {ca}

It may certify only localhost and loopback addresses. Trust it where your clients run:

  Chrome/Chromium on Linux (NSS; apt install libnss3-tools):
    certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n bellwire-dev -i {ca}
  Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities >
    Import (or the same certutil command on the profile directory)
  macOS (Safari, Chrome):
    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}
  Windows: certutil -addstore -user Root {ca}
  Node (AWS SDK v3, ws):    export NODE_EXTRA_CA_CERTS={ca}
  Python (boto3, botocore): export AWS_CA_BUNDLE={ca}
  Python (ssl, websockets): export SSL_CERT_FILE={ca}
  Python (requests):        export REQUESTS_CA_BUNDLE={ca}
"""
