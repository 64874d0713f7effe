"""The demo's synthetic card-transaction data, as cli/demo/fraud-data.ts makes it, bit for bit.

Same seeds, same stream: crypto/random.ts's seededRandom (ChaCha20, key = the seed as a
big-endian float64 followed by zeros, zero IV), read 4 bytes at a time as big-endian uint32 / 2^32;
Box–Muller for the features; one shared ground-truth model, a per-bank mean shift (non-IID).
"""

from __future__ import annotations

import struct

import numpy as np

FEATURE_NAMES = [
    "amount_z",
    "night_time",
    "merchant_risk",
    "distance_from_home",
    "card_not_present",
    "velocity_1h",
    "foreign_country",
    "account_age",
]
TRUE_WEIGHTS = [1.1, 0.7, 1.4, 0.9, 1.2, 1.0, 0.8, -0.9, -3.2]  # last: intercept

BANKS = [
    ("Aldbridge", 1600, [0.4, 0, 0.2, 0, 0.3, 0, 0, 0]),
    ("Brenmoor", 900, [-0.3, 0.5, 0, 0, 0, 0.2, 0, 0.4]),
    ("Corvale", 2200, [0, 0, -0.4, 0.6, 0, 0, 0.5, -0.2]),
    ("Dunmere", 700, [0.2, -0.3, 0, 0, 0.6, 0.4, 0, 0]),
    ("Eastlake", 1200, [0, 0.2, 0.5, -0.3, 0, 0, -0.4, 0.3]),
]


def chacha20_keystream(key: bytes, length: int) -> bytes:
    """RFC 8439 ChaCha20 with counter 0 and a zero nonce (OpenSSL's chacha20 with a zero IV)."""
    blocks = (length + 63) // 64
    constants = np.array([0x61707865, 0x3320646E, 0x79622D32, 0x6B206574], dtype=np.uint32)
    key_words = np.frombuffer(key, dtype="<u4")
    state = np.zeros((16, blocks), dtype=np.uint32)
    state[0:4] = constants[:, None]
    state[4:12] = key_words[:, None]
    state[12] = np.arange(blocks, dtype=np.uint32)
    x = state.copy()

    def quarter(a: int, b: int, c: int, d: int) -> None:
        x[a] += x[b]; x[d] ^= x[a]; x[d] = (x[d] << 16) | (x[d] >> 16)  # noqa: E702
        x[c] += x[d]; x[b] ^= x[c]; x[b] = (x[b] << 12) | (x[b] >> 20)  # noqa: E702
        x[a] += x[b]; x[d] ^= x[a]; x[d] = (x[d] << 8) | (x[d] >> 24)  # noqa: E702
        x[c] += x[d]; x[b] ^= x[c]; x[b] = (x[b] << 7) | (x[b] >> 25)  # noqa: E702

    for _ in range(10):
        quarter(0, 4, 8, 12); quarter(1, 5, 9, 13); quarter(2, 6, 10, 14); quarter(3, 7, 11, 15)  # noqa: E702
        quarter(0, 5, 10, 15); quarter(1, 6, 11, 12); quarter(2, 7, 8, 13); quarter(3, 4, 9, 14)  # noqa: E702
    x += state
    return x.T.astype("<u4").tobytes()[:length]


def uniforms(seed: int, count: int) -> np.ndarray:
    key = struct.pack(">d", float(seed)) + bytes(24)
    return np.frombuffer(chacha20_keystream(key, 4 * count), dtype=">u4").astype(np.float64) / 2**32


def generate_dataset(size: int, shift: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    m = len(FEATURE_NAMES)
    u = uniforms(seed, 2 * m * size).reshape(size, m, 2)
    gaussian = np.sqrt(-2 * np.log(1 - u[..., 0])) * np.cos(2 * np.pi * u[..., 1])
    features = gaussian + np.asarray(shift, dtype=np.float64)
    logit = TRUE_WEIGHTS[m] + features @ np.asarray(TRUE_WEIGHTS[:m])
    labels = (uniforms(seed + 1_000_003, size) < 1 / (1 + np.exp(-logit))).astype(np.uint8)
    return features, labels


def bank_dataset(index: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    _, size, shift = BANKS[index]
    return generate_dataset(size, shift, seed * 100 + index)


def test_dataset(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return generate_dataset(4000, [0.0] * len(FEATURE_NAMES), seed * 100 + 99)
