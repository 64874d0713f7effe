"""Upload throughput of the Python client into a real member peer (started here with
test/support/member-peers.ts): one update of --values float32, submitted --repeat times for a
model (queued, no round), printing JSON. Run from the repository root:

    "$(bash clients/python/ci/ensure-venv.sh)/bin/python" clients/python/benchmarks/submit_throughput.py --values 10000000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from consortium import Consortium  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-mib", type=int, default=1)
    args = parser.parse_args()
    update = np.random.default_rng(1).uniform(-1, 1, args.values).astype(np.float32)
    consortium = Consortium(members=3)
    try:
        client = consortium.peers[0].client(chunk_bytes=args.chunk_mib * 1024 * 1024)
        seconds = []
        for attempt in range(args.repeat):
            started = time.perf_counter()
            client.submit(f"bench-{attempt}", update, progress=False)
            seconds.append(time.perf_counter() - started)
        best = min(seconds)
        print(json.dumps({
            "values": args.values,
            "updateMB": update.nbytes / 1e6,
            "chunkMiB": args.chunk_mib,
            "submitSeconds": [round(s, 3) for s in seconds],
            "submitMBPerSec": round(update.nbytes / 1e6 / best, 1),
        }))
        client.close()
    finally:
        consortium.stop()


if __name__ == "__main__":
    main()
