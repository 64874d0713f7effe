"""``veilsum.Client``: a data scientist's connection to the bank's aggregation peer (MemberService)."""

from __future__ import annotations

import re
import sys
import warnings
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from .credentials import PemSource, certificate_issuer, describe_source as _describe, load_tls_material
from .errors import (
    DeadlineExceeded,
    InvalidUpdate,
    RoundNotAvailable,
    Unavailable,
    UpdateDropped,
    UploadInProgress,
    ConnectionFacts,
    VeilsumError,
    from_rpc_error,
)
from .progress import open_progress
from .result import Result
from .updates import TensorInfo
from .updates import FlatUpdate, flatten
from .v1 import member_pb2, member_pb2_grpc, round_pb2

# How long submit() keeps retrying an upload the peer is still receiving (ABORTED): the peer drops
# a silently cut stream within 60 s (keepalive ping every 30 s, 30 s to answer).
UPLOAD_IN_PROGRESS_PATIENCE_S = 75.0

MAX_CHUNK_BYTES = 4 * 1024 * 1024
# The largest the peer takes: each message costs a hand-over to gRPC's sending thread.
DEFAULT_CHUNK_BYTES = MAX_CHUNK_BYTES
# The coordinator names rounds "<model id>/round-<number>" (services/coordinator/round-params.ts).
_ROUND_ID = re.compile(r".+/round-\d+$")


def is_round_id(value: str) -> bool:
    return bool(_ROUND_ID.match(value))


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix)
    except ValueError:
        return str(value)


@dataclass(frozen=True)
class Submission:
    """A queued update, as the peer acknowledged it (durable once this exists)."""

    update_id: str
    model_id: str
    round_id: str
    state: str
    detail: str
    values: int
    sha256: bytes
    tensors: tuple[TensorInfo, ...] = ()
    _client: Client | None = field(default=None, repr=False, compare=False)
    # The values sent, kept to tell the caller which of them the round clipped.
    _values: np.ndarray | None = field(default=None, repr=False, compare=False)

    def wait(self, timeout: float | None = None) -> Result:
        if self._client is None:
            raise VeilsumError("this submission is not bound to a client; call client.wait(submission)")
        return self._client.wait(self, timeout=timeout)


@dataclass(frozen=True)
class UpdateStatus:
    update_id: str
    model_id: str
    round_id: str
    state: str
    round_phase: str
    detail: str
    missing: tuple[tuple[str, str], ...]

    @property
    def final(self) -> bool:
        return self.state in ("INCLUDED", "DROPPED")


@dataclass(frozen=True)
class RoundInfo:
    round_id: str
    model_id: str
    round_number: int
    mode: str
    phase: str
    dimension: int
    opened_at_ms: int
    update_id: str
    update_state: str


@dataclass(frozen=True)
class Consent:
    member_id: str
    consent_id: str
    dataset_id: str
    purpose: str
    granted_at_ms: int
    expires_at_ms: int
    revoked_at_ms: int
    in_force: bool


class Client:
    """A connection to the bank's aggregation peer (``veilsum member start``).

    ``ca_cert`` is the CA that signed the peer's server certificate; ``cert`` and ``key`` are your
    caller certificate and key, issued by the bank's caller CA. Each accepts a path, PEM text or
    bytes. ``channel`` replaces all three with a channel you built yourself.
    """

    def __init__(
        self,
        address: str,
        *,
        ca_cert: PemSource | None = None,
        cert: PemSource | None = None,
        key: PemSource | None = None,
        server_name: str | None = None,
        timeout: float = 30.0,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        retries: int = 3,
        channel: grpc.Channel | None = None,
    ) -> None:
        if not 4 <= chunk_bytes <= MAX_CHUNK_BYTES or chunk_bytes % 4:
            raise ValueError(f"chunk_bytes must be a multiple of 4 between 4 and {MAX_CHUNK_BYTES}, not {chunk_bytes}")
        self.address = address
        self.timeout = timeout
        self.chunk_bytes = chunk_bytes
        self.retries = retries
        if channel is None:
            if ca_cert is None or cert is None or key is None:
                raise TypeError("veilsum.Client needs ca_cert, cert and key (paths or PEM): the bank's peer requires mTLS")
            material = load_tls_material(ca_cert, cert, key)
            credentials = grpc.ssl_channel_credentials(material.ca_cert, material.key, material.cert)
            options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", 8 * 1024 * 1024)]
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            channel = grpc.secure_channel(address, credentials, options=options)
        self._facts = ConnectionFacts(address)
        if ca_cert is not None and cert is not None:
            self._facts = ConnectionFacts(address, _describe(ca_cert), _describe(cert), certificate_issuer(cert))
        self._channel = channel
        self._stub = member_pb2_grpc.MemberServiceStub(channel)  # type: ignore[no-untyped-call]
        # SubmitUpdate with chunks sent as their wire bytes (_chunk_message): the generated
        # serializer copies each 4 MiB chunk into a message and again into its encoding.
        self._submit_update = channel.stream_unary(
            "/veilsum.v1.MemberService/SubmitUpdate",
            request_serializer=_serialize_submit_request,
            response_deserializer=member_pb2.SubmitUpdateResponse.FromString,
        )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- submit -------------------------------------------------------------------------------

    def submit(
        self,
        round_or_model: str | RoundInfo | None,
        update: Any,
        *,
        model: str | None = None,
        progress: bool = True,
        idempotency_key: str | None = None,
        trained_from: str | None = None,
    ) -> Submission:
        """Queues ``update`` for a round or for the next round of a model that lists the bank.

        ``round_or_model``: a round id (``"<model>/round-<n>"``) or a :class:`RoundInfo` queues for
        that round; any other string is a model id. Or pass ``None`` and ``model=...``.
        ``update``: a NumPy array (any shape, flattened row-major to float32), a mapping name →
        array/tensor (a ``state_dict``; flattened in name order, names and shapes kept), or a
        ``.safetensors`` path. Nothing is sent if it is empty or holds NaN or ±Inf.
        ``trained_from``: what the update was trained from (e.g. the SHA-256 of the global model
        version). Recommended: the bank's peer then takes part with at most one update per value,
        so a coordinator that re-runs a round cannot collect two near-identical updates.
        """
        header = member_pb2.SubmitHeader()
        if model is not None:
            if round_or_model is not None:
                raise TypeError("pass either round_or_model or model=, not both")
            header.model_id = model
        elif isinstance(round_or_model, RoundInfo):
            header.round_id = round_or_model.round_id
        elif isinstance(round_or_model, str) and round_or_model:
            if is_round_id(round_or_model):
                header.round_id = round_or_model
            else:
                header.model_id = round_or_model
        else:
            raise TypeError("submit needs a round id, a model id or model=...")
        flat = flatten(update)
        header.values = flat.values.size
        header.sha256 = flat.sha256()
        header.idempotency_key = idempotency_key or uuid.uuid4().hex
        if trained_from is not None:
            header.trained_from = trained_from
        for info in flat.tensors:
            header.tensors.add(name=info.name, shape=list(info.shape), offset=info.offset)
        target = header.round_id or f"the next round of {header.model_id}"
        size = flat.values.nbytes
        # Generous: the upload itself, at a slow 5 MB/s, plus the peer's durable write.
        deadline = self.timeout + size / 5e6
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            bar = open_progress(size, f"veilsum: uploading to {target}", progress)
            try:
                response = self._submit_update(self._requests(header, flat, bar), timeout=deadline)
                break
            except grpc.RpcError as error:
                mapped = from_rpc_error(error, facts=self._facts)
                if not self._should_retry(mapped, attempt, waited):
                    raise mapped from None
                pause = min(2 ** (attempt - 1), 15)
                if isinstance(mapped, UploadInProgress):
                    how = (
                        f"attempt {attempt + 1}, for up to {UPLOAD_IN_PROGRESS_PATIENCE_S:g} s while the peer "
                        "finishes the other upload"
                    )
                else:
                    how = f"attempt {attempt + 1} of {self.retries + 1}"
                print(
                    f"veilsum: {mapped.message}; retrying the upload in {pause} s ({how}; same idempotency key, "
                    "so the peer never queues it twice)",
                    file=sys.stderr,
                )
                time.sleep(pause)
                waited += pause
            finally:
                bar.close()
        queued = response.update
        return Submission(
            update_id=queued.update_id,
            model_id=queued.model_id,
            round_id=queued.round_id,
            state=_enum_name(member_pb2.UpdateState, queued.state, "UPDATE_STATE_"),
            detail=queued.detail,
            values=queued.values,
            sha256=bytes(queued.sha256),
            tensors=flat.tensors,
            _client=self,
            _values=flat.values,
        )

    def _requests(self, header: member_pb2.SubmitHeader, flat: FlatUpdate, bar: Any) -> Iterator[member_pb2.SubmitUpdateRequest | bytes]:
        yield member_pb2.SubmitUpdateRequest(header=header)
        for chunk in flat.chunk_views(self.chunk_bytes):
            yield _chunk_message(chunk)
            bar.update(len(chunk))

    def _should_retry(self, error: VeilsumError, attempt: int, waited: float) -> bool:
        # UNAVAILABLE: the peer is unreachable (not a TLS misconfiguration, which a retry cannot
        # fix): `retries` more attempts. ABORTED: the peer is still receiving an earlier attempt of
        # this very upload (same idempotency key; it notices a silently cut stream within 60 s,
        # its keepalive) or another upload for this round: retried until that one has ended, for up
        # to UPLOAD_IN_PROGRESS_PATIENCE_S; the retry is then answered with the update it queued,
        # or refused (another update already holds the round).
        if isinstance(error, UploadInProgress):
            return waited < UPLOAD_IN_PROGRESS_PATIENCE_S
        return isinstance(error, Unavailable) and "TLS" not in error.message and attempt <= self.retries

    # --- wait and results ---------------------------------------------------------------------

    def watch(self, update: Submission | str, timeout: float | None = None) -> Iterator[UpdateStatus]:
        """The update's state each time it changes, until it is final (INCLUDED or DROPPED)."""
        update_id = update.update_id if isinstance(update, Submission) else update
        try:
            for queued in self._stub.WatchUpdate(member_pb2.WatchUpdateRequest(update_id=update_id), timeout=timeout):
                yield _status(queued)
        except grpc.RpcError as error:
            raise from_rpc_error(error, facts=self._facts) from None

    def wait(self, update_or_round: Submission | RoundInfo | str, timeout: float | None = 600.0) -> Result:
        """Follows the update until it is final, then returns the round's result.

        A round id (or :class:`RoundInfo`) waits for that round's result instead. Raises
        :class:`UpdateDropped` with the peer's reason when the bank left the round, and
        :class:`DeadlineExceeded` after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if isinstance(update_or_round, RoundInfo):
            return self._wait_round(update_or_round.round_id, deadline)
        if isinstance(update_or_round, str) and is_round_id(update_or_round):
            return self._wait_round(update_or_round, deadline)
        update_id = update_or_round.update_id if isinstance(update_or_round, Submission) else update_or_round
        local_tensors = update_or_round.tensors if isinstance(update_or_round, Submission) else ()
        last: UpdateStatus | None = None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                where = f" (last state {last.state}: {last.detail})" if last and last.detail else (f" (last state {last.state})" if last else "")
                raise DeadlineExceeded(f"update {update_id} was not final after {timeout:g} s{where}")
            try:
                for status in self.watch(update_id, timeout=remaining):
                    last = status
                    if status.final:
                        break
            except Unavailable as error:
                # The peer restarts durably: follow it again once it is back.
                print(f"veilsum: {error.message}; watching update {update_id} again in 1 s", file=sys.stderr)
                time.sleep(1)
                continue
            except DeadlineExceeded:
                continue
            if last is not None and last.final:
                break
            time.sleep(0.5)  # the stream ended early (the peer restarting): follow it again
        if last.state == "DROPPED":
            raise UpdateDropped(
                last.detail or f"the bank left round {last.round_id or '?'} without giving a reason",
                update_id=update_id,
                round_id=last.round_id,
            )
        result = self.result(last.round_id, _tensors=local_tensors)
        if isinstance(update_or_round, Submission) and result.sum.size != update_or_round.values:
            raise VeilsumError(
                f"round {result.round_id} summed {result.sum.size} values but update {update_id} had "
                f"{update_or_round.values}: the result is not this update's round",
                grpc.StatusCode.DATA_LOSS,
            )
        if isinstance(update_or_round, Submission) and update_or_round._values is not None:
            warn_clipped(update_or_round._values, result)
        return result

    def _wait_round(self, round_id: str, deadline: float | None) -> Result:
        while True:
            try:
                return self.result(round_id)
            except RoundNotAvailable:
                if deadline is not None and time.monotonic() >= deadline:
                    raise DeadlineExceeded(f"round {round_id} had no result in time") from None
                time.sleep(0.5)

    def result(self, round_id: str, *, _tensors: tuple[TensorInfo, ...] = ()) -> Result:
        """The result of a finished round the bank took part in (GetResult)."""
        header: member_pb2.ResultHeader | None = None
        parts: list[bytes] = []
        try:
            for chunk in self._stub.GetResult(member_pb2.GetResultRequest(round_id=round_id), timeout=self.timeout):
                if chunk.WhichOneof("part") == "header":
                    header = chunk.header
                else:
                    parts.append(chunk.sum)
        except grpc.RpcError as error:
            raise from_rpc_error(error, facts=self._facts) from None
        if header is None:
            raise VeilsumError(f"the peer sent the result of {round_id} without its header", grpc.StatusCode.INTERNAL)
        data = b"".join(parts)
        if len(data) != 8 * header.values:
            raise VeilsumError(
                f"the peer sent {len(data)} bytes for the {header.values} float64 sums of {round_id}",
                grpc.StatusCode.DATA_LOSS,
            )
        tensors = tuple(TensorInfo(t.name, tuple(t.shape), t.offset) for t in header.tensors) or _tensors
        return Result(
            round_id=header.round_id,
            model_id=header.model_id,
            mode=_enum_name(round_pb2.Mode, header.mode, "MODE_"),
            sum=np.frombuffer(data, dtype="<f8").astype(np.float64),
            contributors=header.contributors,
            error_bound=header.error_bound,
            clip_range=header.clip_range,
            tensors=tensors,
            aggregate_sha256=bytes(header.aggregate_sha256),
        )

    # --- listings -----------------------------------------------------------------------------

    def list_rounds(self, model: str | None = None) -> list[RoundInfo]:
        """Rounds that list this bank, newest first."""
        try:
            response = self._stub.ListRounds(member_pb2.ListMemberRoundsRequest(model_id=model or ""), timeout=self.timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error, facts=self._facts) from None
        return [
            RoundInfo(
                round_id=r.round_id,
                model_id=r.model_id,
                round_number=r.round_number,
                mode=_enum_name(round_pb2.Mode, r.mode, "MODE_"),
                phase=_enum_name(round_pb2.Phase, r.phase, "PHASE_"),
                dimension=r.dimension,
                opened_at_ms=r.opened_at_ms,
                update_id=r.update_id,
                update_state=_enum_name(member_pb2.UpdateState, r.update_state, "UPDATE_STATE_"),
            )
            for r in response.rounds
        ]

    def list_consents(self) -> list[Consent]:
        """This bank's consents on its own ledger view."""
        try:
            response = self._stub.ListConsents(member_pb2.ListConsentsRequest(), timeout=self.timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error, facts=self._facts) from None
        return [
            Consent(
                member_id=response.member_id,
                consent_id=c.consent_id,
                dataset_id=c.dataset_id,
                purpose=c.purpose,
                granted_at_ms=c.granted_at_ms,
                expires_at_ms=c.expires_at_ms,
                revoked_at_ms=c.revoked_at_ms,
                in_force=c.in_force,
            )
            for c in response.consents
        ]


def warn_clipped(values: np.ndarray, result: Result) -> None:
    """Values beyond the round's clip range were summed as ±clip_range: say how many, and the largest."""
    if result.clip_range <= 0:
        return
    outside = np.abs(values) > result.clip_range
    count = int(np.count_nonzero(outside))
    if count:
        largest = float(np.max(np.abs(values)))
        warnings.warn(
            f"{count} of {values.size} values of your update were outside round {result.round_id}'s clip range "
            f"±{result.clip_range:g} and were aggregated as ±{result.clip_range:g} (largest |value| {largest:.6g}); "
            f"scale the update down, or ask for rounds opened with --clip {_suggest_clip(largest)} or more",
            ClippedValuesWarning,
            stacklevel=3,
        )


def _suggest_clip(largest: float) -> str:
    return f"{float(np.format_float_positional(largest * 1.1, precision=2, unique=True, fractional=False)):g}"


class ClippedValuesWarning(UserWarning):
    """Some values of a submitted update were outside the round's clip range."""


def _status(queued: member_pb2.QueuedUpdate) -> UpdateStatus:
    return UpdateStatus(
        update_id=queued.update_id,
        model_id=queued.model_id,
        round_id=queued.round_id,
        state=_enum_name(member_pb2.UpdateState, queued.state, "UPDATE_STATE_"),
        round_phase=_enum_name(round_pb2.Phase, queued.round_phase, "PHASE_"),
        detail=queued.detail,
        missing=tuple((m.member_id, m.reason) for m in queued.missing),
    )


__all__ = ["ClippedValuesWarning", "Client", "Submission", "UpdateStatus", "RoundInfo", "Consent", "InvalidUpdate", "is_round_id"]


_CHUNK_TAG = bytes([(2 << 3) | 2])  # SubmitUpdateRequest.chunk: field 2, length-delimited


def _chunk_message(chunk: memoryview) -> bytes:
    """A SubmitUpdateRequest holding ``chunk``, encoded: its tag, length varint and bytes, with one copy."""
    length, varint = len(chunk), bytearray()
    while length >= 0x80:
        varint.append((length & 0x7F) | 0x80)
        length >>= 7
    varint.append(length)
    return b"".join((_CHUNK_TAG, varint, chunk))


def _serialize_submit_request(request: member_pb2.SubmitUpdateRequest | bytes) -> bytes:
    return request if isinstance(request, bytes) else request.SerializeToString()
