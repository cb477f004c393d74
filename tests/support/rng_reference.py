"""Plain-Python reference of the Monte Carlo's resampling stream (SplitMix64 keys,
Lemire's multiply-shift with rejection): the oracle of the montecarlo and sizing tests."""

from __future__ import annotations

MASK64 = 2**64 - 1
GOLDEN = 0x9E3779B97F4A7C15


def py_mix64(x: int) -> int:
    """SplitMix64's finaliser on Python ints."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def py_draw_index(key: int, i: int, n: int) -> int:
    """Lemire's multiply-shift with rejection on SplitMix64 output ``i + 1``, as a loop."""
    x = py_mix64((key + (i + 1) * GOLDEN) & MASK64)
    threshold = (2**32 - n) % n
    while True:
        product = (x >> 32) * n
        if product & 0xFFFFFFFF >= threshold:
            return product >> 32
        x = py_mix64((x + GOLDEN) & MASK64)
