"""Submits one float32 update to a running bank peer, once per model named, as a data scientist's
process would; used by `npm run bench:member -- --client python` (benchmarks/member/run.ts).
Prints one JSON line per submission as it is queued: its update id, wall seconds and this
process's CPU seconds.

    python submit_to_peer.py --address 127.0.0.1:7700 --ca ca.pem --cert c.pem --key c.key \
        --values-file update.f32 --models warm-up,bench-model [--chunk-mib 4]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import veilsum


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--values-file", required=True, help="raw little-endian float32")
    parser.add_argument("--models", required=True, help="comma-separated: one submission each")
    parser.add_argument("--chunk-mib", type=int, default=4)
    args = parser.parse_args()
    update = np.fromfile(args.values_file, dtype="<f4")
    with veilsum.Client(
        args.address, ca_cert=args.ca, cert=args.cert, key=args.key, chunk_bytes=args.chunk_mib * 1024 * 1024
    ) as client:
        for model in args.models.split(","):
            started, cpu = time.perf_counter(), time.process_time()
            queued = client.submit(model, update, progress=False)
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
            print(json.dumps({"model": model, "updateId": queued.update_id, "seconds": seconds, "cpuSeconds": cpu_seconds}), flush=True)


if __name__ == "__main__":
    main()
