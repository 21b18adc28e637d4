"""Key pairs' cryptography, as Nova's ``nova/crypto.py``: the fingerprint of a public key
(MD5 of an OpenSSH key's blob; SHA-1 of an X.509 certificate), and the key pair Nova
generates before 2.92 when no public key is given (its private half is returned once and
never stored)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# As Nova's generate_key_pair and generate_winrm_x509_cert.
RSA_BITS = 2048
SSH_COMMENT = "Generated-by-Nova"
X509_DAYS = 3650


class InvalidKey(ValueError):
    """A public key Nova would refuse (InvalidKeypair, a 400)."""


def _colons(hex_digest: str) -> str:
    return ":".join(a + b for a, b in zip(hex_digest[::2], hex_digest[1::2], strict=True))


def fingerprint(public_key: str, kind: str) -> str:
    """The key's fingerprint, or InvalidKey saying why."""
    return _x509_fingerprint(public_key) if kind == "x509" else _ssh_fingerprint(public_key)


def _ssh_fingerprint(public_key: str) -> str:
    try:
        serialization.load_ssh_public_key(public_key.encode())
        blob = base64.b64decode(public_key.split(" ")[1])
    except (ValueError, IndexError, TypeError, binascii.Error, UnicodeError) as exc:
        raise InvalidKey("failed to generate fingerprint") from exc
    return _colons(hashlib.md5(blob, usedforsecurity=False).hexdigest())


def _x509_fingerprint(pem: str) -> str:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, TypeError, UnicodeError) as exc:
        raise InvalidKey(f"failed to generate X509 fingerprint. Error message: {exc}") from exc
    return _colons(cert.fingerprint(hashes.SHA1()).hex())  # noqa: S303 - Nova's fingerprint


def generate(kind: str, user_id: str) -> tuple[str, str]:
    """A new (private key, public key) pair: an RSA key in PEM and its OpenSSH public key,
    or for x509 the key and a self-signed certificate naming the user (as Nova's)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    if kind != "x509":
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        return private, f"{public.decode()} {SSH_COMMENT}"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id or "nova")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=X509_DAYS))
        .sign(key, hashes.SHA256())
    )
    return private, cert.public_bytes(serialization.Encoding.PEM).decode()
