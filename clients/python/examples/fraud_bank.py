"""One bank's data scientist in `npm run demo -- --python`: federated logistic regression with
scikit-learn, every round's update aggregated by the banks' peers (SecAgg+ or CKKS).

Each round: train LogisticRegression on this bank's synthetic fraud data (cli/demo/fraud-data.ts,
same seeds) starting from the global model, submit the change in coef_ and intercept_ through the
bank's peer, wait for the aggregate, load the averaged model back. Next to it, plaintext FedAvg:
the same training at every bank from the same global model, averaged in the clear (the demo's
data is synthetic and seeded, so this process can regenerate every bank's; a real bank cannot).

    python fraud_bank.py --address 127.0.0.1:7443 --ca-cert peer-ca.pem --cert alice.pem \
        --key alice-key.pem --bank 0 --rounds 3 [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

import veilsum
from fraud_data import BANKS, bank_dataset, test_dataset

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def local_model(coef: np.ndarray, intercept: np.ndarray, X: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """A few L-BFGS steps from the global model (warm start), as one local epoch of FedAvg."""
    model = LogisticRegression(warm_start=True, max_iter=5)
    model.coef_, model.intercept_, model.classes_ = coef.copy(), intercept.copy(), np.array([0, 1])
    return model.fit(X, y)


def global_model(coef: np.ndarray, intercept: np.ndarray) -> LogisticRegression:
    model = LogisticRegression()
    model.coef_, model.intercept_, model.classes_ = coef, intercept, np.array([0, 1])
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True, help="the bank's peer, host:port")
    parser.add_argument("--ca-cert", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--bank", type=int, required=True, help=f"0..{len(BANKS) - 1}")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="demo-fraud-model")
    parser.add_argument("--json", action="store_true", help="one JSON line per event, for the demo")
    args = parser.parse_args()

    name = BANKS[args.bank][0]
    X, y = bank_dataset(args.bank, args.seed)
    every_bank = [bank_dataset(i, args.seed) for i in range(len(BANKS))]
    X_test, y_test = test_dataset(args.seed)
    coef, intercept = np.zeros((1, X.shape[1])), np.zeros(1)

    def emit(event: dict[str, object], line: str) -> None:
        print(json.dumps(event) if args.json else line, flush=True)

    with veilsum.Client(args.address, ca_cert=args.ca_cert, cert=args.cert, key=args.key) as client:
        for round_number in range(1, args.rounds + 1):
            mine = local_model(coef, intercept, X, y)
            update = {"coef": mine.coef_ - coef, "intercept": mine.intercept_ - intercept}
            submission = client.submit(args.model, update, progress=False)
            emit({"event": "queued", "bank": name, "round": round_number, "update": submission.update_id},
                 f"{name}: round {round_number}: update {submission.update_id} queued")
            try:
                result = client.wait(submission, timeout=600)
            except veilsum.UpdateDropped as dropped:
                emit({"event": "dropped", "bank": name, "round": round_number, "reason": dropped.reason},
                     f"{name}: round {round_number}: dropped: {dropped.reason}")
                continue
            average = result.as_mapping()
            # Plaintext FedAvg of the same local training, from the same global model.
            deltas = [local_model(coef, intercept, Xb, yb) for Xb, yb in every_bank]
            plain_coef = np.mean([d.coef_ - coef for d in deltas], axis=0)
            plain_intercept = np.mean([d.intercept_ - intercept for d in deltas], axis=0)
            # The peer summed float32 values: compare with the float32 plaintext updates.
            plain = np.concatenate([
                np.mean([(d.coef_ - coef).astype(np.float32).astype(np.float64) for d in deltas], axis=0).ravel(),
                np.mean([(d.intercept_ - intercept).astype(np.float32).astype(np.float64) for d in deltas], axis=0),
            ])
            difference = float(np.max(np.abs(result.average - plain)))
            secure_accuracy = global_model(coef + average["coef"], intercept + average["intercept"]).score(X_test, y_test)
            plain_accuracy = global_model(coef + plain_coef, intercept + plain_intercept).score(X_test, y_test)
            coef, intercept = coef + average["coef"], intercept + average["intercept"]
            emit(
                {
                    "event": "round", "bank": name, "round": round_number, "roundId": result.round_id,
                    "mode": result.mode, "contributors": result.contributors,
                    "secureAccuracy": secure_accuracy, "plaintextAccuracy": plain_accuracy,
                    "maxWeightDifference": difference, "averageErrorBound": result.average_error_bound,
                },
                f"{name}: {result.round_id} ({result.mode}, {result.contributors} banks): accuracy "
                f"{secure_accuracy:.4f} secure, {plain_accuracy:.4f} plaintext FedAvg; max |weight "
                f"difference| {difference:.2g} ≤ bound {result.average_error_bound:.2g}",
            )
            if result.contributors != len(BANKS) or difference > result.average_error_bound:
                print(f"{name}: the secure average differs from plaintext FedAvg beyond its bound", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
