"""Benchmark: Monte Carlo of a trade list (SPEC §6), numba kernel against a numpy peer.

Two sizes: 200 resamples of 10,000 trades (the default) and 10,000 resamples of 10,000
trades. Each figure is the best of ``--repeat`` runs after a warm-up call. Printed: our
:func:`~fxconsole.evaluation.montecarlo.monte_carlo` with 1 and with 2 numba threads
(validation and percentiles included), a plain numpy peer in the same process
(``rng.integers`` index matrix, gather, ``cumsum``, ``maximum.accumulate``; in blocks of
``--block`` rows to bound memory; single-threaded), and the ratios.
Targets on 2 cores: 200×10k ≤ 20 ms, 10k×10k ≤ 1 s.

    .venv/bin/python bench/bench_montecarlo.py [--repeat 5] [--trades 10000]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

import numba
import numpy as np

from fxconsole.evaluation.montecarlo import monte_carlo

TARGETS_S = {200: 0.020, 10_000: 1.0}


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def numpy_peer(pips: np.ndarray, runs: int, seed: int, block: int) -> tuple[np.ndarray, ...]:
    """Final pips and max drawdown per run, vectorised over blocks of runs."""
    rng = np.random.default_rng(seed)
    n = pips.size
    finals, drawdowns = np.empty(runs), np.empty(runs)
    for start in range(0, runs, block):
        stop = min(start + block, runs)
        curve = np.cumsum(pips[rng.integers(0, n, size=(stop - start, n))], axis=1)
        peak = np.maximum(np.maximum.accumulate(curve, axis=1), 0.0)  # the curve starts at 0
        finals[start:stop] = curve[:, -1]
        drawdowns[start:stop] = (peak - curve).max(axis=1)
    return finals, drawdowns


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=500, help="numpy peer rows per block")
    args = parser.parse_args()

    pips = np.random.default_rng(0).normal(0.5, 12.0, args.trades)
    most = numba.get_num_threads()  # NUMBA_NUM_THREADS unless changed
    monte_carlo(pips, 2, seed=1)  # compile (or load the cache) before asking for the layer
    print(
        f"{args.trades:,} trades; numba {numba.__version__}, up to {most} threads, "
        f"layer {numba.threading_layer()}; best of {args.repeat} after warm-up; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for runs, target in TARGETS_S.items():
        ours = {}
        for threads in sorted({1, min(2, most)}):
            numba.set_num_threads(threads)
            ours[threads] = best_seconds(partial(monte_carlo, pips, runs, seed=1), args.repeat)
        numba.set_num_threads(most)
        peer = best_seconds(partial(numpy_peer, pips, runs, 1, args.block), args.repeat)
        for threads, seconds in ours.items():
            draws = runs * args.trades / seconds / 1e6
            print(
                f"{runs:>6,} × {args.trades:,}  numba {threads} thread(s): "
                f"{seconds * 1e3:9.2f} ms  ({draws:6.0f} M draws/s)"
            )
        fastest = min(ours.values())
        print(
            f"{runs:>6,} × {args.trades:,}  numpy peer:        {peer * 1e3:9.2f} ms  "
            f"ratio {peer / fastest:.1f}×  (target ≤ {target * 1e3:,.0f} ms: "
            f"{'met' if fastest <= target else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
