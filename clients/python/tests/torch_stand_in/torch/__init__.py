"""A STAND-IN for the few torch calls the README's PyTorch example makes, backed by NumPy.

PyTorch's default Linux wheel pulls several GB of CUDA libraries, so CI does not install it
(../../STACK notes). test_readme_examples.py puts this directory on sys.path only when the real
torch is missing; the veilsum client sees what it would see from torch: objects with
.detach().cpu().numpy(), float32, names and shapes from a state_dict.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

float32 = "torch.float32"


class Tensor:
    def __init__(self, array: np.ndarray) -> None:
        self.array = np.asarray(array, dtype=np.float32)
        self.dtype = float32

    def detach(self) -> "Tensor":
        return Tensor(self.array.copy())

    def cpu(self) -> "Tensor":
        return self

    def numpy(self) -> np.ndarray:
        return self.array

    def clone(self) -> "Tensor":
        return Tensor(self.array.copy())

    def float(self) -> "Tensor":
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def __add__(self, other: "Tensor") -> "Tensor":
        return Tensor(self.array + other.array)

    def __sub__(self, other: "Tensor") -> "Tensor":
        return Tensor(self.array - other.array)


def from_numpy(array: np.ndarray) -> Tensor:
    return Tensor(array)


class _Module:
    def __init__(self) -> None:
        self._parameters: OrderedDict[str, Tensor] = OrderedDict()
        self._children: list[tuple[str, _Module]] = []

    def state_dict(self) -> OrderedDict[str, Tensor]:
        state: OrderedDict[str, Tensor] = OrderedDict(self._parameters)
        for prefix, child in self._children:
            for name, tensor in child.state_dict().items():
                state[f"{prefix}.{name}"] = tensor
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        own = self.state_dict()
        if set(own) != set(state):
            raise RuntimeError(f"state_dict keys differ: {sorted(set(own) ^ set(state))}")
        for name, tensor in state.items():
            if own[name].shape != tensor.shape:
                raise RuntimeError(f"size mismatch for {name}: {tensor.shape} vs {own[name].shape}")
            own[name].array[...] = tensor.array


class _Linear(_Module):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        generator = np.random.default_rng(inputs * 100 + outputs)
        self._parameters["weight"] = Tensor(generator.uniform(-0.5, 0.5, (outputs, inputs)))
        self._parameters["bias"] = Tensor(generator.uniform(-0.5, 0.5, (outputs,)))


class _ReLU(_Module):
    pass


class _Sequential(_Module):
    def __init__(self, *modules: _Module) -> None:
        super().__init__()
        self._children = [(str(i), m) for i, m in enumerate(modules)]


class nn:  # noqa: N801 (mirrors torch.nn)
    Linear = _Linear
    ReLU = _ReLU
    Sequential = _Sequential
