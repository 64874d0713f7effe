"""The README's Python examples, run as written against the real peers: each of the three banks
runs the block (connection details and model id substituted), then the test checks what the block
left behind against the plaintext average."""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


def readme_block(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def for_bank(block: str, peer: Any, model_from: str, model_to: str) -> str:
    caller = peer.callers["scientist"]
    return (
        block.replace("127.0.0.1:7443", peer.address)
        .replace("bank/peer-ca.pem", peer.ca_cert)
        .replace("bank/alice-key.pem", caller["privateKey"])
        .replace("bank/alice.pem", caller["certificate"])
        .replace(f'"{model_from}"', f'"{model_to}"')
    )


def run_everywhere(consortium: Any, block: str, model_from: str, model_to: str, namespaces: list[dict[str, Any]]) -> None:
    assert model_from in block and "127.0.0.1:7443" in block
    errors: list[BaseException] = []

    def run(peer: Any, namespace: dict[str, Any]) -> None:
        try:
            exec(compile(for_bank(block, peer, model_from, model_to), str(README), "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(peer, ns)) for peer, ns in zip(consortium.peers, namespaces)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]


def test_the_scikit_learn_example_averages_the_banks_models(consortium) -> None:
    from sklearn.linear_model import LogisticRegression

    from fraud_data import bank_dataset

    block = readme_block("## scikit-learn")
    consortium.open_round("readme-sklearn", 1, 9, clip=8, deadline_ms=60_000)
    namespaces = [{"load_my_transactions": (lambda i=i: bank_dataset(i, 7))} for i in range(3)]
    run_everywhere(consortium, block, "fraud-model", "readme-sklearn", namespaces)
    local = [LogisticRegression(max_iter=200).fit(*bank_dataset(i, 7)) for i in range(3)]
    expected_coef = np.mean([m.coef_.astype(np.float32) for m in local], axis=0)
    expected_intercept = np.mean([m.intercept_.astype(np.float32) for m in local], axis=0)
    for namespace in namespaces:
        result, model = namespace["result"], namespace["model"]
        assert result.contributors == 3
        assert model.coef_.shape == (1, 8) and model.intercept_.shape == (1,)
        assert np.max(np.abs(model.coef_ - expected_coef)) <= result.average_error_bound
        assert np.max(np.abs(model.intercept_ - expected_intercept)) <= result.average_error_bound


def test_the_pytorch_example_loads_the_averaged_state_dict(consortium, monkeypatch) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        # CI does not install PyTorch (GBs of CUDA wheels): a NumPy stand-in for the calls it makes.
        monkeypatch.syspath_prepend(str(Path(__file__).parent / "torch_stand_in"))
    import torch

    block = readme_block("## PyTorch")
    consortium.open_round("readme-torch", 1, 41, clip=1, deadline_ms=60_000)

    def trainer(bank: int):
        def train_one_epoch(net: Any) -> None:
            state = net.state_dict()
            changed = {name: t + torch.from_numpy(np.full(t.shape, 0.01 * (bank + 1), np.float32)) for name, t in state.items()}
            net.load_state_dict(changed)
        return train_one_epoch

    namespaces = [{"train_one_epoch": trainer(i)} for i in range(3)]
    run_everywhere(consortium, block, "fraud-net", "readme-torch", namespaces)
    for namespace in namespaces:
        result = namespace["result"]
        assert [t.name for t in result.tensors] == ["0.bias", "0.weight", "2.bias", "2.weight"]
        final = namespace["net"].state_dict()
        before = namespace["before"]
        for name, tensor in final.items():
            change = tensor.detach().cpu().numpy() - before[name].detach().cpu().numpy()
            assert np.max(np.abs(change - 0.02)) <= result.average_error_bound + 1e-6, name
