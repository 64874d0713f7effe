"""Flattening: what the peer receives for each kind of update a data scientist holds."""

from __future__ import annotations

import numpy as np
import pytest

import veilsum


class FakeTensor:
    """Quacks like a torch.Tensor (detach/cpu/numpy), so torch itself need not be installed."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.calls: list[str] = []

    def detach(self) -> "FakeTensor":
        self.calls.append("detach")
        return self

    def cpu(self) -> "FakeTensor":
        self.calls.append("cpu")
        return self

    def numpy(self) -> np.ndarray:
        self.calls.append("numpy")
        return self.array


def test_an_array_of_any_shape_is_flattened_row_major_to_float32() -> None:
    array = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    flat = veilsum.flatten(np.asfortranarray(array))
    assert flat.values.dtype == np.dtype("<f4")
    assert flat.values.tolist() == list(range(24))
    assert flat.tensors == ()


def test_a_mapping_is_flattened_in_name_order_with_names_shapes_and_offsets() -> None:
    state = {"layer.weight": np.array([[1.0, 2.0], [3.0, 4.0]]), "bias": np.array([9.0]), "Zeta": np.float32(7)}
    flat = veilsum.flatten(state)
    # "Zeta" < "bias" < "layer.weight" in code-unit order (as safetensors and the TS SDK sort).
    assert flat.values.tolist() == [7.0, 9.0, 1.0, 2.0, 3.0, 4.0]
    assert [(t.name, t.shape, t.offset) for t in flat.tensors] == [
        ("Zeta", (), 0),
        ("bias", (1,), 1),
        ("layer.weight", (2, 2), 2),
    ]


def test_tensors_are_converted_with_detach_cpu_numpy() -> None:
    tensor = FakeTensor(np.array([[0.5, -0.5]], dtype=np.float32))
    flat = veilsum.flatten({"w": tensor})
    assert tensor.calls == ["detach", "cpu", "numpy"]
    assert flat.values.tolist() == [0.5, -0.5]
    assert flat.tensors[0].shape == (1, 2)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (np.array([1.0, np.nan, 3.0]), "the update: value at index 1 is NaN (1 non-finite value in all); updates must be finite numbers"),
        (np.array([np.inf, 1.0, -np.inf]), "the update: value at index 0 is +Inf (2 non-finite values in all)"),
        (np.zeros((3, 0)), "the update is empty; an update needs at least one value"),
        ({}, "the update is an empty mapping; it needs at least one tensor"),
        ({"b": np.ones(2), "a": np.array([1.0, -np.inf])}, "the update: tensor 'a': value at index 1 is -Inf"),
        (np.array([1e300]), "the update: value 1e+300 at index 0 does not fit in float32"),
        (np.array(["a", "b"]), "the update has dtype <U1; pass numbers"),
        ({1: np.ones(2)}, "the update: tensor names must be strings, not int (1)"),
        ("model.pt", "model.pt: pickle-based checkpoints can run arbitrary code when loaded"),
        ("model.npy", "model.npy: a file update must be a .safetensors file"),
    ],
)
def test_bad_updates_are_refused_before_sending_with_a_sentence(update: object, message: str) -> None:
    with pytest.raises(veilsum.InvalidUpdate) as caught:
        veilsum.flatten(update)
    assert message in caught.value.message
    assert caught.value.code.name == "INVALID_ARGUMENT"


def test_chunks_are_whole_floats_no_larger_than_asked_and_rebuild_the_payload() -> None:
    flat = veilsum.flatten(np.arange(1001, dtype=np.float32))
    chunks = list(flat.chunks(400))
    assert [len(c) for c in chunks] == [400] * 10 + [4]
    assert b"".join(chunks) == np.arange(1001, dtype="<f4").tobytes()
    with pytest.raises(ValueError, match="multiple of 4"):
        list(flat.chunks(6))


def test_chunk_messages_are_the_protobuf_encoding_of_the_chunk() -> None:
    from veilsum.client import _chunk_message
    from veilsum.v1 import member_pb2

    payload = memoryview(np.arange(70_000, dtype="<f4").data).cast("B")
    for length in (0, 4, 124, 128, 16_384, len(payload)):
        view = payload[:length]
        assert _chunk_message(view) == member_pb2.SubmitUpdateRequest(chunk=bytes(view)).SerializeToString()
