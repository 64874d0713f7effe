"""mTLS material for calling the bank's peer, checked before any connection is attempted.

The peer authenticates callers with certificates from the bank's own caller CA (a separate trust
domain from the consortium's). Mistakes here used to surface as "Failed to connect" or OpenSSL
text naming no file: each check below names the file and the fix.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass

from .errors import ConfigurationError

PemSource = str | bytes | os.PathLike[str]


@dataclass(frozen=True)
class TlsMaterial:
    ca_cert: bytes
    cert: bytes
    key: bytes


def load_tls_material(ca_cert: PemSource, cert: PemSource, key: PemSource) -> TlsMaterial:
    ca = _read_pem(ca_cert, "ca_cert", "the CA certificate that signed the bank peer's server certificate", "CERTIFICATE")
    certificate = _read_pem(cert, "cert", "your caller certificate, issued by the bank's caller CA", "CERTIFICATE")
    private_key = _read_pem(key, "key", "the private key of your caller certificate", "PRIVATE KEY")
    if _ED25519_OID in _der(private_key):
        raise ConfigurationError(
            f"key: {describe_source(key)} is an Ed25519 key, which gRPC for Python cannot use in TLS; ask the "
            "bank for a caller certificate with an ECDSA P-256 (or RSA) key"
        )
    if _is_path(cert) and _is_path(key):
        _check_pair(os.fspath(cert), os.fspath(key))  # type: ignore[arg-type]
    return TlsMaterial(ca, certificate, private_key)


# id-Ed25519 (RFC 8410), DER-encoded: 06 03 2B 65 70.
_ED25519_OID = bytes.fromhex("06032b6570")


def _der(pem: bytes) -> bytes:
    lines = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    try:
        return base64.b64decode(b"".join(lines))
    except ValueError:
        return b""


def _is_path(source: PemSource) -> bool:
    return isinstance(source, os.PathLike) or (isinstance(source, str) and "-----BEGIN" not in source)


def _read_pem(source: PemSource, argument: str, role: str, marker: str) -> bytes:
    if isinstance(source, bytes):
        data, where = source, f"{argument} (bytes)"
    elif _is_path(source):
        path = os.fspath(source)
        where = path
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            raise ConfigurationError(f"{argument}: {path} does not exist; pass the path of {role}") from None
        except OSError as error:
            raise ConfigurationError(f"{argument}: cannot read {path} ({error.strerror}); pass the path of {role}") from error
    else:
        data, where = str(source).encode(), f"{argument} (PEM text)"
    if f"-----BEGIN".encode() not in data or marker.encode() not in data:
        raise ConfigurationError(f"{argument}: {where} is not a PEM file holding a {marker}; pass the path of {role}")
    return data


def _check_pair(cert_path: str, key_path: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error) or "key values mismatch" in str(error).lower():
            raise ConfigurationError(
                f"the certificate {cert_path} does not match the private key {key_path}: pass the key "
                "written with that certificate (the caller certificate and key the bank issued you)"
            ) from error
        raise ConfigurationError(
            f"cannot use the certificate {cert_path} with the key {key_path} ({error.reason or error}); "
            "check that both are PEM and that the key is not encrypted"
        ) from error


def describe_source(source: PemSource) -> str:
    return str(os.fspath(source)) if _is_path(source) else "(PEM given in memory)"  # type: ignore[arg-type,unused-ignore]


def certificate_issuer(source: PemSource) -> str:
    """The issuer's common name of a certificate file, for error messages ("" if unknown)."""
    if not _is_path(source):
        return ""
    try:
        decoded = ssl._ssl._test_decode_cert(os.fspath(source))  # type: ignore[attr-defined]
    except (AttributeError, ssl.SSLError, OSError, ValueError):
        return ""
    for rdn in decoded.get("issuer", ()):
        for key, value in rdn:
            if key == "commonName":
                return f"CN={value}"
    return ""
