"""Turns what a data scientist holds into the flat float32 vector the peer aggregates.

- a NumPy array (any shape): flattened row-major (C order) to float32;
- a mapping name → array or tensor (a PyTorch ``state_dict``): tensors via
  ``.detach().cpu().numpy()``, flattened and concatenated in name order, as safetensors stores them;
  the names and shapes travel with the update so the result can be rebuilt as a mapping;
- a path to a ``.safetensors`` file: read without the safetensors package.
Values are checked here, before anything is sent: NaN, ±Inf and empty updates are refused.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidUpdate
from .safetensors import name_order, read_safetensors

_PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")


@dataclass(frozen=True)
class TensorInfo:
    """A named tensor inside the flat update: ``size`` values from ``offset``, row-major."""

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass(frozen=True)
class FlatUpdate:
    values: np.ndarray  # little-endian float32, 1-D, contiguous
    tensors: tuple[TensorInfo, ...] = field(default_factory=tuple)

    @property
    def payload(self) -> memoryview:
        return memoryview(self.values.data).cast("B")

    def sha256(self) -> bytes:
        return hashlib.sha256(self.payload).digest()

    def chunk_views(self, chunk_bytes: int) -> Iterator[memoryview]:
        """The payload in views of at most ``chunk_bytes`` (a multiple of 4: whole floats), not copied."""
        if chunk_bytes < 4 or chunk_bytes % 4:
            raise ValueError(f"chunk_bytes must be a positive multiple of 4, not {chunk_bytes}")
        payload = self.payload
        for start in range(0, len(payload), chunk_bytes):
            yield payload[start : start + chunk_bytes]

    def chunks(self, chunk_bytes: int) -> Iterator[bytes]:
        """The payload in pieces of at most ``chunk_bytes`` (a multiple of 4: whole floats)."""
        for view in self.chunk_views(chunk_bytes):
            yield bytes(view)


def flatten(update: Any, *, what: str = "the update") -> FlatUpdate:
    if isinstance(update, (str, os.PathLike)):
        return _from_file(os.fspath(update))
    if isinstance(update, Mapping):
        return _from_mapping(update, what)
    array = _to_numpy(update, what)
    values = _as_float32(array, what)
    _check_values(values, what)
    return FlatUpdate(values)


def _from_file(path: str) -> FlatUpdate:
    lowered = path.lower()
    if lowered.endswith(_PICKLE_SUFFIXES):
        raise InvalidUpdate(
            f"{path}: pickle-based checkpoints can run arbitrary code when loaded; pass the state_dict "
            "itself, or save it with safetensors.torch.save_file and pass the .safetensors path"
        )
    if not lowered.endswith(".safetensors"):
        raise InvalidUpdate(f"{path}: a file update must be a .safetensors file; pass NumPy arrays directly")
    tensors = read_safetensors(path)
    return _concatenate([(t.name, t.shape, t.values) for t in tensors], path)


def _from_mapping(update: Mapping[Any, Any], what: str) -> FlatUpdate:
    if not update:
        raise InvalidUpdate(f"{what} is an empty mapping; it needs at least one tensor")
    items = []
    for name, value in update.items():
        if not isinstance(name, str):
            raise InvalidUpdate(f"{what}: tensor names must be strings, not {type(name).__name__} ({name!r})")
        array = _to_numpy(value, f"{what}[{name!r}]")
        items.append((name, tuple(int(d) for d in array.shape), _as_float32(array, f"{what}[{name!r}]")))
    items.sort(key=lambda item: name_order(item[0]))
    return _concatenate(items, what)


def _concatenate(items: list[tuple[str, tuple[int, ...], np.ndarray]], what: str) -> FlatUpdate:
    tensors = []
    offset = 0
    for name, shape, values in items:
        tensors.append(TensorInfo(name, shape, offset))
        offset += values.size
    flat = np.concatenate([values.reshape(-1) for _, _, values in items]) if items else np.empty(0, "<f4")
    flat = np.ascontiguousarray(flat, dtype="<f4")
    for info in tensors:
        _check_values(flat[info.offset : info.offset + info.size], f"{what}: tensor {info.name!r}")
    _check_values(flat, what)
    return FlatUpdate(flat, tuple(tensors))


def _to_numpy(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise InvalidUpdate(f"{what} cannot be read as a numeric array ({error})") from error
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InvalidUpdate(f"{what} has dtype {array.dtype}; pass numbers (a NumPy array, a tensor or a mapping of them)")
    if np.iscomplexobj(array):
        raise InvalidUpdate(f"{what} is complex; an update holds real numbers")
    return array


def _as_float32(array: np.ndarray, what: str) -> np.ndarray:
    # float64 beyond float32's range would become ±Inf: refuse it with its real value below.
    if array.dtype.kind == "f" and array.dtype.itemsize > 4 and array.size:
        finite = array[np.isfinite(array)]
        limit = float(np.finfo(np.float32).max)
        if finite.size and float(np.max(np.abs(finite))) > limit:
            index = int(np.argmax(np.where(np.isfinite(array), np.abs(array), 0).reshape(-1)))
            raise InvalidUpdate(
                f"{what}: value {float(array.reshape(-1)[index])!r} at index {index} does not fit in float32; "
                "updates are sent as float32"
            )
    return np.ascontiguousarray(array, dtype="<f4").reshape(-1)


def _check_values(values: np.ndarray, what: str, base: int = 0) -> None:
    if values.size == 0:
        raise InvalidUpdate(f"{what} is empty; an update needs at least one value")
    finite = np.isfinite(values)
    if not finite.all():
        index = int(np.argmin(finite))
        bad = values[index]
        kind = "NaN" if np.isnan(bad) else ("+Inf" if bad > 0 else "-Inf")
        count = int(values.size - np.count_nonzero(finite))
        raise InvalidUpdate(
            f"{what}: value at index {base + index} is {kind} ({count} non-finite value{'s' if count != 1 else ''} in all); "
            "updates must be finite numbers: check the training step that produced it"
        )
