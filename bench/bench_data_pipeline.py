"""Benchmark: 1.33M M1 bars from CSV to stored features and sessions.

Prints the end-to-end import time (read CSV, validate, store bars, features, sessions,
store), the kernels' throughput alone, and the ratio against a straightforward pandas
implementation of the same features run in this same process.

    .venv/bin/python bench/bench_data_pipeline.py [--years 3.55] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fxconsole.config import DataConfig
from fxconsole.market.features import (
    FEATURE_NAMES,
    compute_features,
    compute_outcome,
    compute_sigma20,
)
from fxconsole.market.fxcalendar import hours_since_week_open
from fxconsole.market.pipeline import import_file
from fxconsole.market.store import MarketStore
from fxconsole.market.synth import synth_bars


def pandas_features(close: pd.Series, high: pd.Series, low: pd.Series, hours: np.ndarray,
                    pip: float, window: int = 1440) -> pd.DataFrame:
    """The SPEC §2 features written the obvious pandas way (the peer)."""

    def mm(x: pd.Series) -> pd.Series:
        lo = x.rolling(window, min_periods=window).min()
        hi = x.rolling(window, min_periods=window).max()
        out = (x - lo) / (hi - lo)
        return out.where(hi != lo, 0.5).where(hi.notna())

    lo60, hi60 = close.rolling(60).min(), close.rolling(60).max()
    m60 = (close - close.shift(60)) / pip
    m5 = (close - close.shift(5)) / pip
    r60 = (high.rolling(60).max() - low.rolling(60).min()) / pip
    change = (close - close.shift(1)) / pip
    sigma = change.rolling(20).std()
    day = np.floor(hours / 24)
    return pd.DataFrame({
        FEATURE_NAMES[0]: ((close - lo60) / (hi60 - lo60)).where(hi60 != lo60, 0.5)
        .where(hi60.notna()),
        FEATURE_NAMES[1]: mm(m60),
        FEATURE_NAMES[2]: mm(r60),
        FEATURE_NAMES[3]: mm(m5),
        FEATURE_NAMES[4]: np.tanh(change / 10),
        FEATURE_NAMES[5]: np.cos(2 * np.pi * day / 5),
        FEATURE_NAMES[6]: np.sin(2 * np.pi * day / 5),
        FEATURE_NAMES[7]: np.cos(2 * np.pi * hours / 120),
        FEATURE_NAMES[8]: np.sin(2 * np.pi * hours / 120),
        FEATURE_NAMES[9]: np.tanh(sigma / 10),
        FEATURE_NAMES[10]: np.tanh(m60 / 100),
        "sigma20": sigma,
    })


def best_of(repeat: int, fn: object) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=float, default=3.55, help="≈ 1.33M M1 bars")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    bars = synth_bars(years=args.years, seed=1)
    n = len(bars)
    print(f"bars: {n:,} M1 bars of {bars.symbol}")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "bars.csv"
        ts = pd.to_datetime(bars.ts, unit="ns").strftime("%Y-%m-%d %H:%M:%S")
        pd.DataFrame({"timestamp": ts, "open": bars.open, "high": bars.high, "low": bars.low,
                      "close": bars.close, "volume": bars.volume}).to_csv(csv, index=False)
        print(f"csv: {csv.stat().st_size / 1e6:.0f} MB")
        totals = []
        for i in range(args.repeat):
            db = Path(tmp) / f"market{i}.duckdb"
            started = time.perf_counter()
            with MarketStore(db) as store:
                summary = import_file(store, csv, bars.symbol, "M1", DataConfig())
            totals.append(time.perf_counter() - started)
        print(f"import CSV → stored bars, features, sessions: best {min(totals):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in totals)}); target ≤ 10 s")
        print(f"  stored {summary.rows_stored:,} rows; sessions {summary.build.sessions}")

    hours = hours_since_week_open(bars.ts)
    pip = bars.pip

    def kernels() -> None:
        sigma = compute_sigma20(bars.close, pip)
        compute_features(bars.close, bars.high, bars.low, hours, pip)
        compute_outcome(bars.close, sigma, pip)

    kernels()  # compile / load from cache
    t_kernel = best_of(args.repeat, kernels)
    print(f"kernels (features + σ20 + outcome): {t_kernel * 1e3:.0f} ms, "
          f"{n / t_kernel / 1e6:.1f}M bars/s; target ≥ 5M bars/s")
    t_hours = best_of(args.repeat, lambda: hours_since_week_open(bars.ts))
    print(f"H_t (calendar): {t_hours * 1e3:.0f} ms")

    close, high, low = (pd.Series(x) for x in (bars.close, bars.high, bars.low))
    t_pandas = best_of(args.repeat, lambda: pandas_features(close, high, low, hours, pip))
    print(f"pandas peer: {t_pandas * 1e3:.0f} ms, {n / t_pandas / 1e6:.2f}M bars/s")
    print(f"ratio numba / pandas: {t_pandas / t_kernel:.1f}× faster; aim ≥ 10×")
    ref = pandas_features(close, high, low, hours, pip).to_numpy()[:, :11]
    ours = compute_features(bars.close, bars.high, bars.low, hours, pip)
    diff = np.nanmax(np.abs(ref - ours))
    print(f"max |numba − pandas| over all features: {diff:.2e}")


if __name__ == "__main__":
    main()
