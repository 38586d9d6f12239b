"""X.509 for the cluster engine: one certificate authority per project, one
certificate per holder (the client, each node).

Dask authenticates both ends of every connection with TLS when each side holds a
certificate signed by the same authority; this module makes those with
``cryptography``. Keys are ECDSA P-256: small, and cheap to handshake on a
Raspberry Pi. Certificates are valid from 2000 on, because a Pi has no clock
battery and may boot with its clock far behind until NTP answers (if it ever
does on an isolated mesh); a certificate "not yet valid" would lock it out.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALID_FROM = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
_VALID_FOR = datetime.timedelta(days=100 * 365)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM text."""

    certificate: str
    key: str


def new_authority(project: str) -> Issued:
    """A self-signed certificate authority for the project named ``project``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"FISSION project {project}")])
    certificate = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(_pem(certificate), _key_pem(key))


def issue(authority: Issued, holder: str, address: str | None = None) -> Issued:
    """A certificate for ``holder`` (and its IP ``address``, if any), signed by ``authority``.

    It serves as both a TLS server and a TLS client certificate: a Dask worker is
    both, and so is the client's scheduler.
    """
    ca_certificate = x509.load_pem_x509_certificate(authority.certificate.encode())
    ca_key = serialization.load_pem_private_key(authority.key.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, holder)])
    builder = (
        _builder(subject, ca_certificate.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if address is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False)
    return Issued(_pem(builder.sign(ca_key, hashes.SHA256())), _key_pem(key))


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_VALID_FROM)
        .not_valid_after(datetime.datetime.now(datetime.timezone.utc) + _VALID_FOR)
    )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
