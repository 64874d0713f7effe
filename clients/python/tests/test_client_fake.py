"""The client against the FAKE MemberService (tests/fake_member_service.py): what goes on the wire,
progress output, and how every status maps to an exception. Behaviour against the real peer:
test_integration_peer.py."""

from __future__ import annotations

import hashlib
import io

import grpc
import numpy as np
import pytest

import veilsum
from veilsum.progress import open_progress
from veilsum.v1 import member_pb2


def test_submit_streams_a_header_then_chunks_of_at_most_chunk_bytes_with_their_sha256(fake) -> None:
    service, client = fake
    client.chunk_bytes = 4096
    update = np.linspace(-1, 1, 3000, dtype=np.float64).reshape(30, 100)
    submission = client.submit("fraud/round-4", update, progress=False)
    received = service.received[-1]
    expected = np.ascontiguousarray(update, dtype="<f4").tobytes()
    assert received.header.round_id == "fraud/round-4"
    assert received.header.values == 3000
    assert received.header.sha256 == hashlib.sha256(expected).digest()
    assert [len(c) for c in received.chunks] == [4096] * 2 + [12000 - 8192]
    assert received.payload == expected
    assert len(received.header.idempotency_key) == 32
    assert submission.update_id == "update-1" and submission.state == "QUEUED"
    assert submission.sha256 == received.header.sha256


def test_a_model_id_queues_for_the_next_round_and_names_travel_in_the_header(fake) -> None:
    service, client = fake
    client.submit("fraud", {"coef": np.ones((1, 8)), "intercept": np.array([0.5])}, progress=False)
    client.submit(None, np.ones(3), model="fraud/v2", progress=False)
    first, second = (r.header for r in service.received)
    assert first.model_id == "fraud" and first.WhichOneof("target") == "model_id"
    assert [(t.name, list(t.shape), t.offset) for t in first.tensors] == [("coef", [1, 8], 0), ("intercept", [1], 8)]
    assert second.model_id == "fraud/v2"


def test_default_chunks_stay_within_the_4_mib_limit(fake) -> None:
    service, client = fake
    client.submit("fraud", np.ones(1_500_000, dtype=np.float32), progress=False)
    assert max(len(c) for c in service.received[-1].chunks) <= 4 * 1024 * 1024
    with pytest.raises(ValueError, match="chunk_bytes must be a multiple of 4 between 4 and 4194304"):
        veilsum.Client("127.0.0.1:1", channel=grpc.insecure_channel("127.0.0.1:1"), chunk_bytes=8 * 1024 * 1024)


def test_a_retry_after_unavailable_reuses_the_idempotency_key_and_says_why(fake, capsys) -> None:
    service, client = fake
    service.script.submit_failures = [(grpc.StatusCode.UNAVAILABLE, "peer restarting")]
    submission = client.submit("fraud", np.ones(4), progress=False)
    first, second = service.received
    assert first.header.idempotency_key == second.header.idempotency_key
    assert submission.update_id == "update-2"
    err = capsys.readouterr().err
    assert "is unreachable: peer restarting" in err
    assert "retrying the upload in 1 s (attempt 2 of 2; same idempotency key" in err


def test_an_upload_the_peer_is_still_receiving_is_retried_with_the_same_key(fake, capsys, monkeypatch) -> None:
    # The peer's answer when an earlier attempt of this upload (cut on the client's side) is still
    # being received there: ABORTED, retry once it has ended.
    service, client = fake
    busy = (
        "an update with idempotency key k is still being received on another stream: retry once it "
        "has ended (its answer, or this retry's, names the queued update)"
    )
    service.script.submit_failures = [(grpc.StatusCode.ABORTED, busy)]
    submission = client.submit("fraud", np.ones(4), progress=False)
    first, second = service.received
    assert first.header.idempotency_key == second.header.idempotency_key
    assert submission.update_id == "update-2"
    assert (
        f"veilsum: {busy}; retrying the upload in 1 s (attempt 2, for up to 75 s while the peer finishes the other "
        "upload; same idempotency key" in capsys.readouterr().err
    )
    # Still in progress after 75 s of pauses (the peer drops a cut stream within 60 s): the peer's
    # sentence, as UploadInProgress (ABORTED). The pauses are recorded, not slept.
    pauses: list[float] = []
    monkeypatch.setattr(veilsum.client.time, "sleep", pauses.append)
    service.script.submit_failures = [(grpc.StatusCode.ABORTED, busy)] * 20
    with pytest.raises(veilsum.UploadInProgress) as caught:
        client.submit("fraud", np.ones(4), progress=False)
    assert pauses == [1, 2, 4, 8, 15, 15, 15, 15]
    assert caught.value.code == grpc.StatusCode.ABORTED and caught.value.message == busy


def test_an_explicit_idempotency_key_is_sent(fake) -> None:
    service, client = fake
    client.submit("fraud", np.ones(4), progress=False, idempotency_key="notebook-cell-7")
    assert service.received[-1].header.idempotency_key == "notebook-cell-7"


def test_trained_from_is_sent_only_when_given(fake) -> None:
    service, client = fake
    client.submit("fraud", np.ones(4), progress=False)
    assert service.received[-1].header.trained_from == ""
    client.submit("fraud", np.ones(4), progress=False, trained_from="sha256:model-v7")
    assert service.received[-1].header.trained_from == "sha256:model-v7"


def test_invalid_updates_are_refused_before_anything_is_sent(fake) -> None:
    service, client = fake
    with pytest.raises(veilsum.InvalidUpdate, match="value at index 2 is NaN"):
        client.submit("fraud", np.array([0, 1, np.nan]), progress=False)
    assert service.received == []


def test_the_plain_progress_line_reports_bytes_and_percent() -> None:
    stream = io.StringIO()
    bar = open_progress(8_000_000, "veilsum: uploading to fraud/round-1", True, stream=stream, use_tqdm=False)
    bar.update(2_000_000)
    bar.update(6_000_000)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\rveilsum: uploading to fraud/round-1: 0.0 MB of 8.0 MB (0%)")
    assert text.endswith("\rveilsum: uploading to fraud/round-1: 8.0 MB of 8.0 MB (100%)\n")


def test_the_tqdm_bar_counts_bytes() -> None:
    import tqdm  # noqa: F401  (installed with veilsum[progress], as .ci/run does: never skipped)

    stream = io.StringIO()
    bar = open_progress(4096, "upload", True, stream=stream, use_tqdm=True)
    bar.update(4096)
    bar.close()
    assert "upload: 100%" in stream.getvalue() and "4.00k" in stream.getvalue()


def test_submit_shows_progress_on_stderr_unless_turned_off(fake, capsys) -> None:
    _, client = fake
    client.submit("fraud/round-1", np.ones(1000), progress=True)
    assert "veilsum: uploading to fraud/round-1" in capsys.readouterr().err
    client.submit("fraud/round-1", np.ones(1000), progress=False)
    assert capsys.readouterr().err == ""


STATUSES = [
    (grpc.StatusCode.INVALID_ARGUMENT, veilsum.InvalidUpdate, "update has 10 values but round fraud/round-1 has 9"),
    (grpc.StatusCode.PERMISSION_DENIED, veilsum.PermissionDenied, "caller alice may not submit for model fraud"),
    (grpc.StatusCode.UNAUTHENTICATED, veilsum.Unauthenticated, "no client certificate"),
    (grpc.StatusCode.NOT_FOUND, veilsum.NotFound, "no round fraud/round-99"),
    (grpc.StatusCode.FAILED_PRECONDITION, veilsum.RoundNotAvailable, "bank brenmoor is not on round fraud/round-1"),
    (grpc.StatusCode.ALREADY_EXISTS, veilsum.AlreadyExists, "idempotency key k was used for another payload"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, veilsum.ResourceExhausted, "queue full"),
    (grpc.StatusCode.INTERNAL, veilsum.VeilsumError, "boom"),
]


@pytest.mark.parametrize(("code", "cls", "message"), STATUSES)
def test_each_status_raises_its_class_with_the_services_message_verbatim(fake, code, cls, message) -> None:
    service, client = fake
    service.script.failure = (code, message)
    calls = [
        lambda: client.submit("fraud", np.ones(2), progress=False),
        lambda: client.list_rounds(),
        lambda: client.list_consents(),
        lambda: client.result("fraud/round-1"),
        lambda: client.wait("update-1", timeout=5),
    ]
    for call in calls:
        with pytest.raises(cls) as caught:
            call()
        assert type(caught.value) is cls
        assert caught.value.message == message
        assert caught.value.code == code
    assert veilsum.FailedPrecondition is veilsum.RoundNotAvailable


def test_an_unreachable_peer_is_unavailable_and_says_what_to_check() -> None:
    address = "127.0.0.1:1"
    client = veilsum.Client(address, channel=grpc.insecure_channel(address), retries=0)
    with pytest.raises(veilsum.Unavailable) as caught:
        client.list_rounds()
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert caught.value.message.startswith("the bank's peer at 127.0.0.1:1 is unreachable: ")
    assert "Is `veilsum member start` running there" in caught.value.message


def test_wait_follows_the_update_then_returns_sum_average_and_the_named_tensors(fake) -> None:
    service, client = fake
    service.script.states = [
        (member_pb2.UPDATE_STATE_IN_ROUND, "in round fraud/round-1"),
        (member_pb2.UPDATE_STATE_UPLOADED, "upload accepted"),
        (member_pb2.UPDATE_STATE_INCLUDED, "in the aggregate of 3"),
    ]
    service.script.result_sum = np.arange(9, dtype=np.float64) * 3
    service.script.result_chunk_bytes = 16
    submission = client.submit("fraud", {"coef": np.ones((1, 8)), "intercept": np.ones(1)}, progress=False)
    statuses = [s.state for s in client.watch(submission)]
    assert statuses == ["IN_ROUND", "UPLOADED", "INCLUDED"]
    result = submission.wait(timeout=10)
    assert result.round_id == "fraud/round-1" and result.mode == "SECAGG"
    assert result.contributors == 3 and result.error_bound == 1e-4
    np.testing.assert_array_equal(result.sum, np.arange(9) * 3)
    np.testing.assert_array_equal(result.average, np.arange(9))
    mapping = result.as_mapping()
    assert list(mapping) == ["coef", "intercept"]
    np.testing.assert_array_equal(mapping["coef"], np.arange(8).reshape(1, 8))
    np.testing.assert_array_equal(mapping["intercept"], [8])
    np.testing.assert_array_equal(result.as_mapping("sum")["intercept"], [24])


def test_a_plain_array_result_has_no_mapping(fake) -> None:
    service, client = fake
    service.script.result_sum = np.ones(2)
    client.submit("fraud", np.ones(2), progress=False)
    result = client.result("fraud/round-1")
    with pytest.raises(ValueError, match="the update was a plain array, so there are no names to rebuild"):
        result.as_mapping()


def test_a_dropped_update_raises_with_the_peers_reason(fake) -> None:
    service, client = fake
    reason = "the bank's consent c-1 for dataset cards-2026 was revoked; the update was not sent"
    service.script.states = [(member_pb2.UPDATE_STATE_IN_ROUND, ""), (member_pb2.UPDATE_STATE_DROPPED, reason)]
    with pytest.raises(veilsum.UpdateDropped) as caught:
        client.wait("update-3", timeout=10)
    assert caught.value.reason == reason and caught.value.message == reason
    assert caught.value.update_id == "update-3" and caught.value.round_id == "fraud/round-1"


def test_list_rounds_and_consents_read_the_peers_answers(fake) -> None:
    _, client = fake
    rounds = client.list_rounds()
    assert [(r.round_id, r.mode, r.phase, r.update_state) for r in rounds] == [
        ("fraud/round-2", "CKKS", "COLLECTING", "IN_ROUND"),
        ("fraud/round-1", "SECAGG", "DONE", "UNSPECIFIED"),
    ]
    consents = client.list_consents()
    assert [(c.member_id, c.consent_id, c.purpose, c.in_force) for c in consents] == [("aldbridge", "c-1", "fraud", True)]


def test_a_round_id_is_recognised_by_the_coordinators_format() -> None:
    assert veilsum.is_round_id("demo-fraud-model/round-12")
    assert not veilsum.is_round_id("demo-fraud-model")
    assert not veilsum.is_round_id("round-1")


def test_a_result_of_another_length_than_the_update_is_refused(fake) -> None:
    service, client = fake
    service.script.states = [(member_pb2.UPDATE_STATE_INCLUDED, "")]
    service.script.result_sum = np.ones(5)
    submission = client.submit("fraud", np.ones(4), progress=False)
    with pytest.raises(veilsum.VeilsumError) as caught:
        client.wait(submission, timeout=10)
    assert caught.value.code == grpc.StatusCode.DATA_LOSS
    assert caught.value.message == (
        f"round fraud/round-1 summed 5 values but update {submission.update_id} had 4: the result is not this update's round"
    )


def test_values_beyond_the_clip_range_are_reported_with_count_and_largest(fake) -> None:
    service, client = fake
    service.script.states = [(member_pb2.UPDATE_STATE_INCLUDED, "")]
    service.script.result_sum = np.ones(4)  # the fake's rounds clip at ±8
    submission = client.submit("fraud", np.array([1.0, 9.5, -20.0, 8.0]), progress=False)
    with pytest.warns(veilsum.ClippedValuesWarning) as caught:
        client.wait(submission, timeout=10)
    assert str(caught[0].message) == (
        "2 of 4 values of your update were outside round fraud/round-1's clip range ±8 and were aggregated as ±8 "
        "(largest |value| 20); scale the update down, or ask for rounds opened with --clip 22 or more"
    )


def test_no_warning_when_every_value_is_inside_the_clip_range(fake, recwarn) -> None:
    service, client = fake
    service.script.states = [(member_pb2.UPDATE_STATE_INCLUDED, "")]
    service.script.result_sum = np.ones(2)
    client.wait(client.submit("fraud", np.array([8.0, -8.0]), progress=False), timeout=10)
    assert [w for w in recwarn if issubclass(w.category, veilsum.ClippedValuesWarning)] == []
