"""The client against REAL processes: a coordinator and three `veilsum member start` peers
(tests/consortium.py). Each test uses its own model id, so rounds never mix."""

from __future__ import annotations

import json
import struct
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

import veilsum


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, data = {}, b""
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)


def test_three_banks_submit_an_array_a_mapping_and_a_file_and_get_the_float_sum(consortium, tmp_path) -> None:
    model = "it-sum"
    coef = np.array([[0.5, -1.25, 2.0]])
    updates = [
        {"coef": coef, "intercept": np.array([0.25])},
        {"intercept": np.array([-0.5]), "coef": 2 * coef},  # any insertion order: flattened by name
        tmp_path / "bank-3.safetensors",
    ]
    write_safetensors(updates[2], {"coef": -coef, "intercept": np.array([1.0])})
    clients = [peer.client() for peer in consortium.peers]
    submissions = [client.submit(model, update, progress=False) for client, update in zip(clients, updates)]
    assert all(s.state == "QUEUED" and s.round_id == "" for s in submissions)
    consortium.open_round(model, 1, 4)
    results = [client.wait(submission, timeout=120) for client, submission in zip(clients, submissions)]
    expected = np.concatenate([(coef + 2 * coef - coef).ravel(), [0.25 - 0.5 + 1.0]])  # "coef" < "intercept"
    for result in results:
        assert result.round_id == f"{model}/round-1" and result.mode == "SECAGG"
        assert result.contributors == 3
        assert 0 < result.error_bound < 1e-2
        assert np.max(np.abs(result.sum - expected)) <= result.error_bound
        np.testing.assert_allclose(result.average, result.sum / 3)
        mapping = result.as_mapping()
        assert list(mapping) == ["coef", "intercept"] and mapping["coef"].shape == (1, 3)
        assert np.max(np.abs(mapping["coef"] - (2 * coef) / 3)) <= result.average_error_bound
    # A finished round takes no more updates.
    with pytest.raises(veilsum.RoundNotAvailable) as caught:
        clients[0].submit(f"{model}/round-1", np.ones(4), progress=False)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.message == (
        f"round {model}/round-1 is in phase DONE and takes no more updates: submit for the model's next round "
        f"(model_id {model}) instead"
    )
    rounds = clients[0].list_rounds(model)
    assert [(r.round_id, r.phase, r.update_id, r.update_state) for r in rounds] == [
        (f"{model}/round-1", "DONE", submissions[0].update_id, "INCLUDED")
    ]
    for client in clients:
        client.close()


def test_a_round_id_targets_that_round_in_several_chunks_with_progress(consortium, capfd) -> None:
    model = "it-round-id"
    consortium.open_round(model, 1, 1000, deadline_ms=30_000)
    # Small chunks: the peer reassembles four per update and checks their SHA-256.
    clients = [peer.client(chunk_bytes=1024) for peer in consortium.peers]
    values = [np.linspace(-1, 1, 1000) * (i + 1) for i in range(3)]
    submissions = [client.submit(f"{model}/round-1", v, progress=(i == 0)) for i, (client, v) in enumerate(zip(clients, values))]
    assert capfd.readouterr().err.count(f"veilsum: uploading to {model}/round-1") >= 1
    result = clients[1].wait(submissions[1], timeout=120)
    assert np.max(np.abs(result.sum - np.clip(sum(values), -100, 100))) <= result.error_bound
    with pytest.raises(ValueError, match="plain array"):
        result.as_mapping()
    for client in clients:
        client.close()


def test_a_retried_submission_with_the_same_key_is_queued_once(consortium) -> None:
    client = consortium.peers[0].client()
    first = client.submit("it-idempotent", np.ones(3), progress=False, idempotency_key="cell-42")
    again = client.submit("it-idempotent", np.ones(3), progress=False, idempotency_key="cell-42")
    assert again.update_id == first.update_id
    with pytest.raises(veilsum.AlreadyExists) as caught:
        client.submit("it-idempotent", np.zeros(3), progress=False, idempotency_key="cell-42")
    assert caught.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert caught.value.message == (
        f"idempotency key cell-42 already queued update {first.update_id} with other values: use a fresh key for a new update"
    )
    client.close()


def test_an_upload_racing_one_with_its_key_is_retried_and_answered_with_that_update(consortium, capfd) -> None:
    # A retry that reaches the peer before the peer has finished with the first attempt: the peer
    # refuses it with ABORTED (one update is never queued twice); submit() retries it, and the
    # retry is answered with the update the first attempt queued.
    values = np.arange(3_000, dtype=np.float32)
    slow = consortium.peers[0].client(chunk_bytes=4_096)
    racer = consortium.peers[0].client()
    streaming = threading.Event()
    plain_requests = slow._requests

    def dawdling(header, flat, bar):  # the first attempt: one 4 KiB chunk every 0.4 s (~1.2 s)
        for number, message in enumerate(plain_requests(header, flat, bar)):
            yield message
            if number >= 1:
                streaming.set()
                time.sleep(0.4)

    slow._requests = dawdling
    first: list[veilsum.Submission] = []
    thread = threading.Thread(target=lambda: first.append(slow.submit("it-racing", values, progress=False, idempotency_key="cell-7")))
    thread.start()
    assert streaming.wait(30)
    time.sleep(0.2)
    again = racer.submit("it-racing", values, progress=False, idempotency_key="cell-7")
    thread.join(60)
    assert len(first) == 1 and again.update_id == first[0].update_id
    err = capfd.readouterr().err
    assert "veilsum: an update with idempotency key cell-7 is still being received on another stream" in err
    assert "retrying the upload in 1 s (attempt 2, for up to 75 s while the peer finishes the other upload" in err
    slow.close()
    racer.close()


def test_a_round_that_aborts_raises_update_dropped_with_the_peers_reason(consortium) -> None:
    model = "it-dropped"
    clients = [peer.client() for peer in consortium.peers[:2]]
    submissions = [client.submit(model, np.ones(2), progress=False) for client in clients]
    # Bank 3 queued nothing: the round needs all three, so it aborts at its first deadline.
    consortium.open_round(model, 1, 2, deadline_ms=3_000, min_contributors=3)
    with pytest.raises(veilsum.UpdateDropped) as caught:
        clients[0].wait(submissions[0], timeout=120)
    assert caught.value.update_id == submissions[0].update_id
    assert caught.value.round_id == f"{model}/round-1"
    assert caught.value.reason.startswith(f"the bank left round {model}/round-1: ")
    assert "only 2 clients advertised keys, below the round's 3 min contributors" in caught.value.reason
    for client in clients:
        client.close()


# --- each error class, with the real peer's message ------------------------------------------


def test_wrong_length_for_a_round_is_invalid_update(consortium) -> None:
    consortium.open_round("it-length", 1, 9, deadline_ms=30_000)
    client = consortium.peers[0].client()
    with pytest.raises(veilsum.InvalidUpdate) as caught:
        client.submit("it-length/round-1", np.ones(10), progress=False)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message == (
        "the update has 10 values but round it-length/round-1 of model it-length takes 9: flatten the model's "
        "parameters to 9 float32 values"
    )
    client.close()


def test_a_model_the_caller_may_not_submit_for_is_permission_denied(consortium) -> None:
    client = consortium.peers[0].client("otherModel")
    with pytest.raises(veilsum.PermissionDenied) as caught:
        client.submit("it-permission", np.ones(2), progress=False)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.message == (
        "caller CN=other-model-scientist may submit for other-model only, not model it-permission: ask the peer's "
        "operator for a submit role for it"
    )
    reader = consortium.peers[0].client("reader")
    with pytest.raises(veilsum.PermissionDenied) as caught:
        reader.submit("it-permission", np.ones(2), progress=False)
    assert caught.value.message == "caller CN=reader may only read: ask the peer's operator for a submit role for the model"
    client.close()
    reader.close()


def test_unknown_update_and_round_are_not_found(consortium) -> None:
    client = consortium.peers[0].client()
    with pytest.raises(veilsum.NotFound) as caught:
        client.wait("no-such-update", timeout=30)
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert caught.value.message == "no update no-such-update on this peer: check the update id"
    with pytest.raises(veilsum.NotFound) as caught:
        client.result("nothing/round-1")
    assert caught.value.message == "round nothing/round-1 is unknown to the coordinator: check the round id"
    client.close()


def test_an_unfinished_round_has_no_result_yet(consortium) -> None:
    consortium.open_round("it-pending", 1, 2, deadline_ms=30_000)
    client = consortium.peers[0].client()
    with pytest.raises(veilsum.RoundNotAvailable) as caught:
        client.result("it-pending/round-1")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.message == (
        "round it-pending/round-1 is in phase ADVERTISE_KEYS, not done: watch the update (WatchUpdate) and ask "
        "again when it is INCLUDED"
    )
    client.close()


def test_a_certificate_of_another_ca_is_unauthenticated_with_the_peers_message(consortium, tmp_path) -> None:
    from test_credentials import issue, make_ca

    other = issue(tmp_path, "mallory", make_ca(tmp_path, "other-ca"), "extendedKeyUsage=clientAuth\n")
    peer = consortium.peers[0]
    client = veilsum.Client(peer.address, ca_cert=peer.ca_cert, cert=other[0], key=other[1], retries=0)
    with pytest.raises(veilsum.Unauthenticated) as caught:
        client.list_rounds()
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.message == (
        f"the client certificate (subject CN=mallory, O=aldbridge) was issued by CN=other-ca, not by this bank's caller "
        f"CA (CN={peer.member_id} caller CA, O={peer.member_id}): ask the operator of the bank's peer for a caller "
        "certificate (a consortium certificate is not one)"
    )
    client.close()


def test_the_wrong_ca_for_the_peer_is_named(consortium) -> None:
    peer, other = consortium.peers[0], consortium.peers[1]
    files = peer.callers["scientist"]
    client = veilsum.Client(peer.address, ca_cert=other.ca_cert, cert=files["certificate"], key=files["privateKey"], retries=0)
    with pytest.raises(veilsum.Unavailable) as caught:
        client.list_rounds()
    assert caught.value.message.startswith(f"TLS with the bank's peer at {peer.address} failed: ")
    assert f"Check that ca_cert ({other.ca_cert}) is the CA that signed the peer's server certificate" in caught.value.message
    client.close()


def test_an_ed25519_consortium_key_is_refused_before_connecting(consortium) -> None:
    peer = consortium.peers[0]
    outsider = peer.callers["outsider"]  # the bank's consortium identity: Ed25519
    with pytest.raises(veilsum.ConfigurationError) as caught:
        veilsum.Client(peer.address, ca_cert=peer.ca_cert, cert=outsider["certificate"], key=outsider["privateKey"])
    assert caught.value.message == (
        f"key: {outsider['privateKey']} is an Ed25519 key, which gRPC for Python cannot use in TLS; ask the bank for a "
        "caller certificate with an ECDSA P-256 (or RSA) key"
    )


def test_nan_is_refused_before_sending(consortium) -> None:
    client = consortium.peers[0].client()
    with pytest.raises(veilsum.InvalidUpdate) as caught:
        client.submit("it-nan", np.array([1.0, np.nan]), progress=False)
    assert caught.value.message.startswith("the update: value at index 1 is NaN")
    assert [r for r in client.list_rounds("it-nan")] == []
    client.close()
