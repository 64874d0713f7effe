"""The float result of a round, as the bank's peer returns it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .updates import TensorInfo


@dataclass(frozen=True)
class Result:
    """``sum``: float64 sums of the contributors' clipped values; ``average`` = sum / contributors.

    ``error_bound`` is the largest absolute error of any summed value against the exact float sum
    of the clipped inputs (quantisation for SecAgg, noise for CKKS); divide it by ``contributors``
    for the average's.
    """

    round_id: str
    model_id: str
    mode: str
    sum: np.ndarray
    contributors: int
    error_bound: float
    clip_range: float
    tensors: tuple[TensorInfo, ...] = ()
    aggregate_sha256: bytes = b""

    @property
    def average(self) -> np.ndarray:
        if self.contributors == 0:
            raise ValueError(f"round {self.round_id} has no contributors: there is no average")
        return self.sum / self.contributors

    @property
    def average_error_bound(self) -> float:
        return self.error_bound / self.contributors if self.contributors else float("inf")

    def as_mapping(self, values: str = "average") -> dict[str, np.ndarray]:
        """The named tensors, reshaped, when the update had names (``values``: "average" or "sum")."""
        if not self.tensors:
            raise ValueError(
                f"round {self.round_id}: the update was a plain array, so there are no names to rebuild; use .average or .sum"
            )
        if values not in ("average", "sum"):
            raise ValueError(f'values must be "average" or "sum", not {values!r}')
        flat = self.average if values == "average" else self.sum
        return {t.name: flat[t.offset : t.offset + t.size].reshape(t.shape) for t in self.tensors}
