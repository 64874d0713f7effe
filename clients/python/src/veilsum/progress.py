"""Upload progress: a tqdm bar when tqdm is installed, else one plain line on stderr."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def update(self, sent_bytes: int) -> None: ...
    def close(self) -> None: ...


class _Silent:
    def update(self, sent_bytes: int) -> None:
        pass

    def close(self) -> None:
        pass


class _PlainLine:
    """``uploading 12.6 MB of 40.0 MB (31%)``, rewritten in place at most every 0.2 s."""

    def __init__(self, total: int, description: str, stream: TextIO) -> None:
        self.total = total
        self.sent = 0
        self.description = description
        self.stream = stream
        self.last = 0.0
        self._write(force=True)

    def update(self, sent_bytes: int) -> None:
        self.sent += sent_bytes
        self._write(force=self.sent >= self.total)

    def close(self) -> None:
        self._write(force=True)
        self.stream.write("\n")
        self.stream.flush()

    def _write(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        percent = 100 * self.sent // self.total if self.total else 100
        self.stream.write(f"\r{self.description}: {_mb(self.sent)} of {_mb(self.total)} ({percent}%)")
        self.stream.flush()


class _Tqdm:
    def __init__(self, total: int, description: str, stream: TextIO) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        self.bar = tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024, file=stream, leave=True)

    def update(self, sent_bytes: int) -> None:
        self.bar.update(sent_bytes)

    def close(self) -> None:
        self.bar.close()


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def open_progress(total: int, description: str, enabled: bool, *, stream: TextIO | None = None, use_tqdm: bool | None = None) -> Progress:
    if not enabled:
        return _Silent()
    out = stream if stream is not None else sys.stderr
    if use_tqdm is None:
        try:
            import tqdm  # noqa: F401

            use_tqdm = True
        except ImportError:
            use_tqdm = False
    return _Tqdm(total, description, out) if use_tqdm else _PlainLine(total, description, out)
