"""The .safetensors reader: dtypes, name order, and every malformed file it must refuse."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import veilsum


def safetensors_bytes(tensors: dict[str, tuple[str, list[int], bytes]], metadata: dict | None = None) -> bytes:
    """Writes the format by hand: u64 LE header length, JSON header, raw data."""
    header: dict[str, object] = {}
    data = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def bf16(values: list[float]) -> bytes:
    return (np.array(values, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()


def test_reads_f32_f64_f16_bf16_as_float32_in_name_order(tmp_path: Path) -> None:
    path = tmp_path / "update.safetensors"
    path.write_bytes(
        safetensors_bytes(
            {
                "z.f32": ("F32", [2, 2], np.array([1, 2, 3, 4], "<f4").tobytes()),
                "a.f64": ("F64", [1], np.array([0.25], "<f8").tobytes()),
                "m.f16": ("F16", [2], np.array([1.5, -2], "<f2").tobytes()),
                "b.bf16": ("BF16", [3], bf16([1.0, -0.5, 256.0])),
            },
            metadata={"format": "pt"},
        )
    )
    flat = veilsum.flatten(path)
    assert flat.values.tolist() == [0.25, 1.0, -0.5, 256.0, 1.5, -2.0, 1.0, 2.0, 3.0, 4.0]
    assert [(t.name, t.shape, t.offset) for t in flat.tensors] == [
        ("a.f64", (1,), 0),
        ("b.bf16", (3,), 1),
        ("m.f16", (2,), 4),
        ("z.f32", (2, 2), 6),
    ]


def raw_header(header: dict, data_bytes: int) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + b"\x00" * data_bytes


def valid() -> bytes:
    return safetensors_bytes({"w": ("F32", [2], np.array([1, 2], "<f4").tobytes())})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x02", "2 bytes is too short for a .safetensors file"),
        (struct.pack("<Q", 10_000) + b"{}", "the header length says 10000 bytes but the file has 2 after it"),
        (struct.pack("<Q", 5) + b"{nope", "the header is not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "the header must be a JSON object of tensors"),
        (safetensors_bytes({}, metadata={"a": "b"}), "the file holds no tensors"),
        (safetensors_bytes({"w": ("I32", [1], b"\x00" * 4)}), "tensor 'w' has dtype I32; veilsum reads F32, F64, F16 and BF16"),
        (safetensors_bytes({"w": ("F32", [3], b"\x00" * 8)}), "tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets span 8"),
        (safetensors_bytes({"w": ("F32", [-1], b"")}), "tensor 'w': shape must be a list of non-negative integers"),
        (valid()[:-4], "tensor 'w': data_offsets must be [start, end] within the 4 data bytes"),
        (
            raw_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, 8),
            "tensors a and b overlap in the data section",
        ),
        (safetensors_bytes({"w": ("F32", [1], np.array([np.nan], "<f4").tobytes())}), "tensor 'w': value at index 0 is NaN"),
    ],
)
def test_malformed_files_are_refused_naming_the_file_and_the_problem(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(veilsum.InvalidUpdate) as caught:
        veilsum.flatten(path)
    assert str(path) in caught.value.message
    assert message in caught.value.message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(veilsum.InvalidUpdate, match="missing.safetensors: cannot read the update file"):
        veilsum.flatten(tmp_path / "missing.safetensors")
