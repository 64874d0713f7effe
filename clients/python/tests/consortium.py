"""Real processes for the integration tests: a coordinator and one `veilsum member start` peer
per bank, started by test/support/member-peers.ts (the member peer's own test harness), and
rounds opened with the `veilsum round open` command, as an administrator would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import veilsum

REPO = Path(__file__).resolve().parents[3]


def node() -> str:
    """Node 24 from the repository's node_modules (npm test passes its own as VEILSUM_NODE)."""
    return os.environ.get("VEILSUM_NODE") or str(REPO / "node_modules" / ".bin" / "node")


@dataclass
class Peer:
    member_id: str
    address: str
    ca_cert: str
    callers: dict[str, dict[str, str]]

    def client(self, caller: str = "scientist", **options: Any) -> veilsum.Client:
        files = self.callers[caller]
        return veilsum.Client(self.address, ca_cert=self.ca_cert, cert=files["certificate"], key=files["privateKey"], **options)


class Consortium:
    def __init__(self, members: int = 3, consent_models: list[str] | None = None) -> None:
        ledger = ["--consent-models", ",".join(consent_models)] if consent_models else []
        self.process = subprocess.Popen(
            [node(), str(REPO / "test/support/member-peers.ts"), "--members", str(members), "--stop-on-stdin-close", *ledger],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("{"):
            self.process.wait(timeout=30)
            raise RuntimeError(f"test/support/member-peers.ts did not start: {line}{self.process.stderr.read() if self.process.stderr else ''}")
        threading.Thread(target=self._drain, daemon=True).start()
        described = json.loads(line)
        self.directory = described["directory"]
        self.admin_profile = described["adminProfile"]
        self.members: list[str] = described["members"]
        self.peers = [Peer(p["memberId"], p["address"], p["caCertificate"], p["callers"]) for p in described["peers"]]

    def _drain(self) -> None:
        for stream in (self.process.stderr,):
            if stream is not None:
                for line in stream:
                    self.log.append(line)

    def open_round(self, model: str, number: int, dimension: int, *, members: list[str] | None = None,
                   deadline_ms: int = 20_000, clip: float = 4, min_contributors: int = 0, mode: str = "secagg") -> dict[str, Any]:
        roster = members or self.members
        arguments = [
            node(), "cli/veilsum.ts", "round", "open", "--profile", self.admin_profile, "--model", model,
            "--round", str(number), "--dim", str(dimension), "--members", ",".join(roster), "--mode", mode,
            "--clip", str(clip), "--deadline-ms", str(deadline_ms), "--json",
        ]
        if min_contributors:
            arguments += ["--min-contributors", str(min_contributors)]
        done = subprocess.run(arguments, cwd=REPO, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"veilsum round open failed: {done.stderr}")
        return json.loads(done.stdout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()
