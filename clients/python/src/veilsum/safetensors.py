"""A small reader for ``.safetensors`` files (no dependency on the safetensors package).

Format: an 8-byte little-endian header length N, N bytes of JSON ``{name: {dtype, shape,
data_offsets: [start, end]}, "__metadata__": {...}}``, then the raw little-endian tensor bytes
(offsets relative to the end of the header). F32, F64, F16 and BF16 are read as float32; any other
dtype is refused, naming the tensor. Pickle checkpoints (.pt, .bin) are never loaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from .errors import InvalidUpdate

_DTYPES: dict[str, tuple[str, int]] = {"F32": ("<f4", 4), "F64": ("<f8", 8), "F16": ("<f2", 2), "BF16": ("<u2", 2)}
# A header bigger than this is not a model update's (safetensors itself caps it at 100 MB).
MAX_HEADER_BYTES = 100_000_000


@dataclass(frozen=True)
class NamedTensor:
    name: str
    shape: tuple[int, ...]
    values: np.ndarray  # float32, flat


def read_safetensors(path: str | os.PathLike[str]) -> list[NamedTensor]:
    """Every tensor of the file as float32, in the file's name order (sorted like the TS SDK)."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as file:
            data = file.read()
    except OSError as error:
        raise InvalidUpdate(f"{where}: cannot read the update file ({error.strerror})") from error
    return parse_safetensors(data, where)


def parse_safetensors(data: bytes, where: str = "the .safetensors data") -> list[NamedTensor]:
    if len(data) < 8:
        raise InvalidUpdate(f"{where}: {len(data)} bytes is too short for a .safetensors file (an 8-byte header length comes first)")
    header_length = int.from_bytes(data[:8], "little")
    if header_length > MAX_HEADER_BYTES or 8 + header_length > len(data):
        raise InvalidUpdate(
            f"{where}: the header length says {header_length} bytes but the file has {len(data) - 8} after it; "
            "the file is truncated or not a .safetensors file"
        )
    try:
        header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidUpdate(f"{where}: the header is not valid JSON ({error}); the file is not a .safetensors file") from error
    if not isinstance(header, dict):
        raise InvalidUpdate(f"{where}: the header must be a JSON object of tensors")
    body = memoryview(data)[8 + header_length :]
    entries = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        entries.append(_check_entry(name, entry, len(body), where))
    if not entries:
        raise InvalidUpdate(f"{where}: the file holds no tensors; an update needs at least one value")
    by_start = sorted(entries, key=lambda e: (e[3], e[4]))
    for previous, following in zip(by_start, by_start[1:]):
        if following[3] < previous[4]:
            raise InvalidUpdate(f"{where}: tensors {previous[0]} and {following[0]} overlap in the data section")
    entries.sort(key=lambda e: name_order(e[0]))
    tensors = []
    for name, dtype, shape, start, end in entries:
        raw = np.frombuffer(body[start:end], dtype=_DTYPES[dtype][0])
        if dtype == "BF16":
            values = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            values = raw.astype(np.float32)
        tensors.append(NamedTensor(name, shape, values))
    return tensors


def name_order(name: str) -> bytes:
    """Sort key for tensor names: UTF-16 code units, as the TypeScript SDK and peer sort them."""
    return name.encode("utf-16-be")


def _check_entry(name: str, entry: object, body_length: int, where: str) -> tuple[str, str, tuple[int, ...], int, int]:
    what = f"{where}: tensor {name!r}"
    if not isinstance(entry, dict):
        raise InvalidUpdate(f"{what}: the header entry must be an object {{dtype, shape, data_offsets}}")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise InvalidUpdate(f"{what}: dtype must be a string")
    if dtype not in _DTYPES:
        raise InvalidUpdate(
            f"{what} has dtype {dtype}; veilsum reads F32, F64, F16 and BF16 (as float32): convert it "
            "to float32 before saving (tensor.float())"
        )
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidUpdate(f"{what}: shape must be a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= body_length
    ):
        raise InvalidUpdate(f"{what}: data_offsets must be [start, end] within the {body_length} data bytes")
    count = 1
    for dimension in shape:
        count *= dimension
    size = _DTYPES[dtype][1]
    if offsets[1] - offsets[0] != count * size:
        raise InvalidUpdate(
            f"{what}: shape {shape} of {dtype} needs {count * size} bytes but data_offsets span {offsets[1] - offsets[0]}"
        )
    return name, dtype, tuple(shape), offsets[0], offsets[1]
