"""One exception class per way a call to the bank's peer fails.

Every exception carries the gRPC status code (``.code``, a :class:`grpc.StatusCode`) and the
message the peer sent, verbatim (``.message``): the peer's sentences name the field and the fix.
Checks the client makes before sending raise the same classes with the same kind of sentence.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import grpc


# The class each status maps to, filled by the classes' declarations below (``status=``).
_BY_CODE: dict[grpc.StatusCode, type[VeilsumError]] = {}


class VeilsumError(Exception):
    """Base class: ``code`` is the gRPC status, ``message`` the service's (or client's) sentence.

    A subclass names its status once, ``class X(VeilsumError, status=...)``: that is its default
    code and the class :func:`from_rpc_error` maps the status to (``also=`` maps more statuses to
    it; ``mapped=False`` keeps a class for the client's own checks out of the mapping).
    """

    default_code = grpc.StatusCode.UNKNOWN

    def __init_subclass__(
        cls,
        status: grpc.StatusCode | None = None,
        *,
        also: tuple[grpc.StatusCode, ...] = (),
        mapped: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status is None:
            return
        cls.default_code = status
        if mapped:
            for code in (status, *also):
                _BY_CODE[code] = cls

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code

    def __str__(self) -> str:
        return f"{self.message} ({self.code.name})"


class InvalidUpdate(VeilsumError, status=grpc.StatusCode.INVALID_ARGUMENT, also=(grpc.StatusCode.OUT_OF_RANGE,)):
    """INVALID_ARGUMENT: a bad tensor or request (wrong length, NaN, empty, malformed file)."""


class PermissionDenied(VeilsumError, status=grpc.StatusCode.PERMISSION_DENIED):
    """PERMISSION_DENIED: the caller may not submit for (or read) this model."""


class Unauthenticated(VeilsumError, status=grpc.StatusCode.UNAUTHENTICATED):
    """UNAUTHENTICATED: the peer did not accept the caller's certificate."""


class NotFound(VeilsumError, status=grpc.StatusCode.NOT_FOUND):
    """NOT_FOUND: an unknown round or update id."""


class RoundNotAvailable(VeilsumError, status=grpc.StatusCode.FAILED_PRECONDITION):
    """FAILED_PRECONDITION: a round the bank is not on, that no longer takes updates, or not done."""


FailedPrecondition = RoundNotAvailable


class AlreadyExists(VeilsumError, status=grpc.StatusCode.ALREADY_EXISTS):
    """ALREADY_EXISTS: e.g. an idempotency key reused with a different payload."""


class Unavailable(VeilsumError, status=grpc.StatusCode.UNAVAILABLE):
    """UNAVAILABLE: the peer cannot be reached (or TLS failed); the message says which and why."""


class DeadlineExceeded(VeilsumError, status=grpc.StatusCode.DEADLINE_EXCEEDED):
    """DEADLINE_EXCEEDED: a call, or :meth:`Client.wait`, ran out of time."""


class ResourceExhausted(VeilsumError, status=grpc.StatusCode.RESOURCE_EXHAUSTED):
    """RESOURCE_EXHAUSTED: the peer refused a message or queue beyond its limits."""


class UploadInProgress(VeilsumError, status=grpc.StatusCode.ABORTED):
    """ABORTED from ``submit``: the peer is still receiving another upload with this idempotency key
    (a retry that came before the peer noticed the first stream was cut) or for this round. ``submit``
    retries it; once that upload has ended the retry is answered with the update it queued."""


class UpdateDropped(VeilsumError, status=grpc.StatusCode.ABORTED, mapped=False):
    """The bank left the round: the update is in no aggregate. ``reason`` is the peer's sentence."""

    def __init__(self, message: str, *, update_id: str = "", round_id: str = "") -> None:
        super().__init__(message, grpc.StatusCode.ABORTED)
        self.reason = message
        self.update_id = update_id
        self.round_id = round_id


class ConfigurationError(VeilsumError, status=grpc.StatusCode.FAILED_PRECONDITION, mapped=False):
    """A local file (certificate, key, CA) is missing or unusable; the message names it and the fix."""


@dataclass(frozen=True)
class ConnectionFacts:
    """What the client knows to explain an UNAVAILABLE: the address and the files it used."""

    address: str
    ca_cert: str = ""
    cert: str = ""
    cert_issuer: str = ""


def from_rpc_error(error: grpc.RpcError, *, facts: ConnectionFacts | None = None) -> VeilsumError:
    """Maps a gRPC error to its class, keeping the status code and the service's message."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or ""
    if code == grpc.StatusCode.UNAVAILABLE and facts is not None:
        details = _explain_unavailable(details, facts)
    cls = _BY_CODE.get(code, VeilsumError)
    return cls(details, code)


def _explain_unavailable(details: str, facts: ConnectionFacts) -> str:
    lowered = details.lower()
    address = facts.address
    ca = f" ({facts.ca_cert})" if facts.ca_cert else ""
    if "ssl" in lowered or "handshake" in lowered or "certificate" in lowered:
        return (
            f"TLS with the bank's peer at {address} failed: {details}. Check that ca_cert{ca} is the CA "
            "that signed the peer's server certificate (the bank's peer CA, not the consortium's)"
            + (
                "; a handshake failure also means the peer's certificate may have an Ed25519 key, which gRPC "
                "for Python cannot use: the bank must give its peer an ECDSA P-256 or RSA certificate"
                if "handshake_failure" in lowered
                else ""
            )
        )
    if facts.cert and _accepts_tcp(address):
        issuer = f", issued by {facts.cert_issuer}" if facts.cert_issuer else ""
        return (
            f"the bank's peer at {address} accepted the connection but closed it during the TLS handshake "
            f"({details}): it most likely does not trust your certificate {facts.cert}{issuer}. Ask the "
            "bank for a caller certificate from its caller CA (the peer's callerCa), or check ca_cert"
            f"{ca}"
        )
    return (
        f"the bank's peer at {address} is unreachable: {details}. Is `veilsum member start` "
        "running there, and is the address right?"
    )


def _accepts_tcp(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False
