"""FAKE MemberService, for the client's own unit tests only.

It checks nothing a real peer checks (no policy, no consent, no rounds, no cryptography): it
records what the client sent and replies with what a test scripts. The client's behaviour against
the real peer is tested in test_integration_peer.py, on real `veilsum member start` processes.
"""

from __future__ import annotations

import hashlib
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import numpy as np

from veilsum.v1 import member_pb2, member_pb2_grpc, round_pb2


@dataclass
class Received:
    header: member_pb2.SubmitHeader
    chunks: list[bytes]

    @property
    def payload(self) -> bytes:
        return b"".join(self.chunks)


@dataclass
class Script:
    # (code, message) to abort the next SubmitUpdate calls with, consumed in order.
    submit_failures: list[tuple[grpc.StatusCode, str]] = field(default_factory=list)
    # Each non-unary call aborts with this when set.
    failure: tuple[grpc.StatusCode, str] | None = None
    # States WatchUpdate streams, in order: (UpdateState, detail).
    states: list[tuple[int, str]] = field(default_factory=list)
    result_sum: np.ndarray | None = None
    contributors: int = 3
    error_bound: float = 1e-4
    result_chunk_bytes: int = 1024 * 1024


class FakeMemberService(member_pb2_grpc.MemberServiceServicer):
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script = Script()

    def _abort_if_scripted(self, context: grpc.ServicerContext) -> None:
        if self.script.failure:
            context.abort(*self.script.failure)

    def SubmitUpdate(self, request_iterator, context):  # noqa: N802
        header = None
        chunks = []
        for request in request_iterator:
            if request.WhichOneof("part") == "header":
                header = request.header
            else:
                chunks.append(request.chunk)
        self.received.append(Received(header, chunks))
        if self.script.submit_failures:
            context.abort(*self.script.submit_failures.pop(0))
        self._abort_if_scripted(context)
        payload = b"".join(chunks)
        return member_pb2.SubmitUpdateResponse(
            update=member_pb2.QueuedUpdate(
                update_id=f"update-{len(self.received)}",
                model_id=header.model_id or header.round_id.split("/round-")[0],
                round_id=header.round_id,
                values=len(payload) // 4,
                sha256=hashlib.sha256(payload).digest(),
                state=member_pb2.UPDATE_STATE_QUEUED,
                detail="queued (fake)",
            )
        )

    def WatchUpdate(self, request, context):  # noqa: N802
        self._abort_if_scripted(context)
        for state, detail in self.script.states:
            yield member_pb2.QueuedUpdate(
                update_id=request.update_id,
                model_id="fraud",
                round_id="fraud/round-1",
                state=state,
                detail=detail,
                round_phase=round_pb2.PHASE_DONE if state == member_pb2.UPDATE_STATE_INCLUDED else round_pb2.PHASE_MASKED_INPUT,
            )

    def GetResult(self, request, context):  # noqa: N802
        self._abort_if_scripted(context)
        values = self.script.result_sum if self.script.result_sum is not None else np.zeros(0)
        last = self.received[-1].header if self.received else member_pb2.SubmitHeader()
        yield member_pb2.ResultChunk(
            header=member_pb2.ResultHeader(
                round_id=request.round_id,
                model_id="fraud",
                mode=round_pb2.MODE_SECAGG,
                values=values.size,
                contributors=self.script.contributors,
                error_bound=self.script.error_bound,
                clip_range=8,
                tensors=list(last.tensors),
            )
        )
        data = np.ascontiguousarray(values, dtype="<f8").tobytes()
        step = self.script.result_chunk_bytes
        for start in range(0, len(data), step):
            yield member_pb2.ResultChunk(sum=data[start : start + step])

    def ListRounds(self, request, context):  # noqa: N802
        self._abort_if_scripted(context)
        return member_pb2.ListMemberRoundsResponse(
            rounds=[
                member_pb2.MemberRoundSummary(
                    round_id="fraud/round-2", model_id="fraud", round_number=2, mode=round_pb2.MODE_CKKS,
                    phase=round_pb2.PHASE_COLLECTING, dimension=9, opened_at_ms=2000, update_id="update-7",
                    update_state=member_pb2.UPDATE_STATE_IN_ROUND,
                ),
                member_pb2.MemberRoundSummary(
                    round_id="fraud/round-1", model_id="fraud", round_number=1, mode=round_pb2.MODE_SECAGG,
                    phase=round_pb2.PHASE_DONE, dimension=9, opened_at_ms=1000,
                ),
            ]
        )

    def ListConsents(self, request, context):  # noqa: N802
        self._abort_if_scripted(context)
        return member_pb2.ListConsentsResponse(
            member_id="aldbridge",
            consents=[
                member_pb2.MemberConsent(
                    consent_id="c-1", dataset_id="cards-2026", purpose="fraud", granted_at_ms=5, expires_at_ms=0,
                    revoked_at_ms=0, in_force=True,
                )
            ],
        )


def start_fake(credentials: grpc.ServerCredentials | None = None) -> tuple[grpc.Server, FakeMemberService, str]:
    service = FakeMemberService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    member_pb2_grpc.add_MemberServiceServicer_to_server(service, server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, service, f"127.0.0.1:{port}"
