"""The look-ahead check: clean features pass, leaky ones are named, and the CLI end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fxconsole.cli import main
from fxconsole.config import DataConfig
from fxconsole.market.bars import F64, Bars
from fxconsole.market.features import FEATURE_NAMES, N_FEATURES
from fxconsole.market.incremental import lookback_rows
from fxconsole.market.lookahead import (
    DEFAULT_SAMPLES,
    DEFAULT_TOLERANCE,
    ROWS_PER_CUT,
    candidate_range,
    check_lookahead,
    pick_cuts,
    pipeline_features,
)
from fxconsole.market.pipeline import compute_series
from fxconsole.market.store import FEATURES_TABLE, MarketStore
from fxconsole.market.synth import synth_bars

WINDOW = 1440  # the default W: the check must hold with the real look-back


@pytest.fixture(scope="module")
def bars() -> Bars:
    # Starts on a Wednesday: the series crosses weekend gaps.
    return synth_bars(years=0.03, seed=5, start="2022-03-02")


@pytest.fixture(scope="module")
def stored(bars: Bars) -> F64:
    """Features as `fxconsole data build` stores them: one pass of the pipeline."""
    table, _ = compute_series(bars, DataConfig(mm_window=WINDOW))
    return table.values


def _col(name: str) -> int:
    return FEATURE_NAMES.index(name)


# --- pure logic ---------------------------------------------------------------------------


def test_pipeline_features_are_the_pipelines(bars: Bars, stored: F64) -> None:
    np.testing.assert_array_equal(pipeline_features(bars, WINDOW), stored)


def test_clean_features_pass(bars: Bars, stored: F64) -> None:
    n = len(bars)
    cuts = pick_cuts(n, 60, seed=1, window=WINDOW)
    # Edge cuts too: the first rows, the warm-up (NaN == NaN), the first defined row, the end.
    first_defined = lookback_rows(WINDOW) - 1
    edges = np.array([0, 1, 3, 700, first_defined - 1, first_defined, first_defined + 2,
                      n - 2, n - 1])
    all_cuts = np.concatenate([cuts, edges])
    report = check_lookahead(bars, stored, all_cuts, WINDOW)
    assert report.clean and report.differences == []
    np.testing.assert_array_equal(report.cuts, np.unique(all_cuts))
    expected_rows = sum(min(ROWS_PER_CUT, int(c) + 1) for c in np.unique(all_cuts))
    assert report.rows_compared == expected_rows
    assert report.max_abs_diff.shape == (N_FEATURES,)
    assert np.all(report.max_abs_diff == 0.0)  # same kernels, exact min/max: bit for bit


def _next_bar_change(bars: Bars, window: int) -> F64:
    """price_change_pips computed from the *next* bar (a kernel shifted by −1)."""
    out = pipeline_features(bars, window).copy()
    change = np.full(len(bars), np.nan)
    change[:-1] = np.diff(bars.close) / bars.pip
    out[:, _col("price_change_pips")] = np.tanh(change / 10.0)
    return out


def test_a_shifted_kernel_is_caught_at_the_cut(bars: Bars) -> None:
    leaky_stored = _next_bar_change(bars, WINDOW)
    cuts = pick_cuts(len(bars), 25, seed=2, window=WINDOW)
    report = check_lookahead(bars, leaky_stored, cuts, WINDOW, compute=_next_bar_change)
    assert not report.clean
    # Exactly one value per cut: the cut row, whose next bar was cut off.
    assert [d.row for d in report.differences] == [int(c) for c in cuts]
    assert {d.feature for d in report.differences} == {"price_change_pips"}
    j = _col("price_change_pips")
    for d in report.differences:
        assert d.cut == d.row and d.ts == int(bars.ts[d.row])
        assert d.stored == leaky_stored[d.row, j] and np.isfinite(d.stored)
        assert np.isnan(d.recomputed)  # no next bar once truncated


def _centred_range_position(bars: Bars, window: int) -> F64:
    """position_in_range_60 replaced by a centred (future-reading) rolling mean."""
    out = pipeline_features(bars, window).copy()
    j = _col("position_in_range_60")
    out[:, j] = pd.Series(out[:, j]).rolling(11, center=True).mean().to_numpy()
    return out


def test_a_centred_rolling_mean_is_caught_on_the_rows_before_the_cut(bars: Bars) -> None:
    leaky_stored = _centred_range_position(bars, WINDOW)
    cuts = pick_cuts(len(bars), 10, seed=3, window=WINDOW)
    report = check_lookahead(bars, leaky_stored, cuts, WINDOW, compute=_centred_range_position)
    assert {d.feature for d in report.differences} == {"position_in_range_60"}
    # A centred window of 11 reads 5 rows ahead: every checked row of every cut changes.
    expected = [(int(c), int(c) - k) for c in cuts for k in range(ROWS_PER_CUT - 1, -1, -1)]
    assert [(d.cut, d.row) for d in report.differences] == expected
    assert report.rows_compared == len(cuts) * ROWS_PER_CUT


def test_a_whole_series_statistic_is_caught(bars: Bars) -> None:
    def zscored(b: Bars, window: int) -> F64:  # momentum_60_pips standardised over all rows
        out = pipeline_features(b, window).copy()
        col = out[:, _col("momentum_60_pips")]
        out[:, _col("momentum_60_pips")] = (col - np.nanmean(col)) / np.nanstd(col)
        return out

    cuts = pick_cuts(len(bars), 5, seed=4, window=WINDOW)
    report = check_lookahead(bars, zscored(bars, WINDOW), cuts, WINDOW, compute=zscored)
    assert {d.feature for d in report.differences} == {"momentum_60_pips"}
    assert len(report.differences) == len(cuts) * ROWS_PER_CUT
    assert report.max_abs_diff[_col("momentum_60_pips")] > 1e-6
    assert np.all(np.delete(report.max_abs_diff, _col("momentum_60_pips")) == 0.0)


def test_tolerance_and_nan_awareness(bars: Bars, stored: F64) -> None:
    cut = len(bars) // 2
    tampered = stored.copy()
    tampered[cut, 0] += DEFAULT_TOLERANCE / 10  # round-off: not a difference
    tampered[cut - 1, 2] += 1e-6
    tampered[cut - 2, 9] = np.nan  # stored undefined, recomputed defined
    report = check_lookahead(bars, tampered, np.array([cut]), WINDOW)
    got = [(d.feature, d.row) for d in report.differences]
    assert got == [("volatility_20", cut - 2), ("min_max_scaled_rolling_range", cut - 1)]
    nan_diff = report.differences[0]
    assert np.isnan(nan_diff.stored) and nan_diff.recomputed == stored[cut - 2, 9]
    assert report.differences[1].recomputed == stored[cut - 1, 2]
    strict = check_lookahead(bars, tampered, np.array([cut]), WINDOW, tolerance=0.0)
    assert ("position_in_range_60", cut) in [(d.feature, d.row) for d in strict.differences]


def test_pick_cuts_is_seeded_distinct_and_in_range(bars: Bars) -> None:
    n = len(bars)
    a = pick_cuts(n, DEFAULT_SAMPLES, seed=7, window=WINDOW)
    assert np.array_equal(a, pick_cuts(n, DEFAULT_SAMPLES, seed=7, window=WINDOW))
    assert not np.array_equal(a, pick_cuts(n, DEFAULT_SAMPLES, seed=8, window=WINDOW))
    assert len(np.unique(a)) == DEFAULT_SAMPLES and np.all(np.diff(a) > 0)
    assert a[0] >= lookback_rows(WINDOW) - 1 and a[-1] <= n - 2
    assert candidate_range(n, WINDOW) == (lookback_rows(WINDOW) - 1, n - 2)
    # Short series: every row but the last qualifies, and no more cuts than rows.
    assert candidate_range(100, WINDOW) == (0, 98)
    assert np.array_equal(pick_cuts(5, 50, seed=0, window=WINDOW), np.arange(4))
    with pytest.raises(ValueError, match="samples must be >= 1, got 0"):
        pick_cuts(n, 0, seed=0, window=WINDOW)
    with pytest.raises(ValueError, match="at least 2 bars"):
        pick_cuts(1, 3, seed=0, window=WINDOW)


def test_bad_input_is_refused(bars: Bars, stored: F64) -> None:
    with pytest.raises(ValueError, match="one row per bar"):
        check_lookahead(bars, stored[:-1], np.array([5]), WINDOW)
    with pytest.raises(ValueError, match="cut points must lie in"):
        check_lookahead(bars, stored, np.array([len(bars)]), WINDOW)
    with pytest.raises(ValueError, match="rows_per_cut"):
        check_lookahead(bars, stored, np.array([5]), WINDOW, rows_per_cut=0)


# --- the CLI ------------------------------------------------------------------------------


def run(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


@pytest.fixture
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    assert run(ws, "data", "synth", "--years", "0.02", "--seed", "3") == 0
    return ws


def test_cli_clean_store_passes(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(workspace, "data", "lookahead", "--samples", "7", "--seed", "11") == 0
    out = capsys.readouterr().out
    assert "7 cut points, 11 features, no look-ahead" in out
    assert "seed 11" in out and "GBPJPY M1" in out
    for name in FEATURE_NAMES:
        assert name in out
    assert run(workspace, "data", "lookahead") == 0  # default: 20 cuts, a random seed printed
    out = capsys.readouterr().out
    assert "20 cut points, 11 features, no look-ahead" in out and "seed " in out


def test_cli_tampered_row_fails_naming_it(workspace: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = workspace / "data" / "market.duckdb"
    with MarketStore(db, read_only=True) as store:
        bars = store.load_bars("GBPJPY", "M1")
        assert bars is not None
        stored = store.load_features("GBPJPY", "M1").values
    row = int(pick_cuts(len(bars), 5, seed=21, window=WINDOW)[2])  # a cut row of --seed 21
    before = stored[row, _col("min_max_scaled_momentum_5")]
    with MarketStore(db) as store:
        store.con.execute(
            f'UPDATE {FEATURES_TABLE} SET "min_max_scaled_momentum_5" = '
            '"min_max_scaled_momentum_5" + 0.25 WHERE symbol = ? AND timeframe = ? AND idx = ?',
            ["GBPJPY", "M1", row])
    capsys.readouterr()
    assert run(workspace, "data", "lookahead", "--samples", "5", "--seed", "21") == 1
    out = " ".join(capsys.readouterr().out.split())  # undo any wrapping at the console width
    when = f"{np.datetime_as_string(np.datetime64(int(bars.ts[row]), 'ns'), unit='s')}Z"
    assert (f"min_max_scaled_momentum_5 row {row:,} ({when}, cut {row:,}): stored "
            f"{before + 0.25:.12g} vs recomputed {before:.12g}") in out
    assert "look-ahead: 1 stored value(s) differ" in out and "no look-ahead" not in out


def test_cli_caps_the_listing(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with MarketStore(workspace / "data" / "market.duckdb") as store:
        store.con.execute(f'UPDATE {FEATURES_TABLE} SET "dow_cos_final" = 2.0')  # every row
    capsys.readouterr()
    assert run(workspace, "data", "lookahead", "--samples", "6", "--seed", "1") == 1
    out = capsys.readouterr().out
    listed = [line for line in out.splitlines() if line.startswith("  dow_cos_final row ")]
    assert len(listed) == 20  # 6 cuts × 5 rows = 30 differences, 20 listed
    assert "… and 10 more" in out
    assert "look-ahead: 30 stored value(s) differ" in " ".join(out.split())


def test_cli_bad_input(tmp_path: Path, workspace: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "data", "lookahead") == 1
    assert "fxconsole data synth" in capsys.readouterr().err
    assert run(workspace, "data", "lookahead", "--symbol", "EURUSD") == 1
    assert "no bars stored for EURUSD M1" in capsys.readouterr().err
    with MarketStore(workspace / "data" / "market.duckdb") as store:
        store.con.execute("DELETE FROM feature_sets")
    assert run(workspace, "data", "lookahead") == 1
    assert "no features stored for GBPJPY M1" in capsys.readouterr().err
    for bad, named in (("0", "got 0"), ("-3", "got -3"), ("x", "got 'x'")):
        with pytest.raises(SystemExit) as exit_info:
            run(workspace, "data", "lookahead", "--samples", bad)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "argument --samples: must be" in err and named in err


def test_cli_refuses_features_of_other_bars(workspace: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with MarketStore(workspace / "data" / "market.duckdb") as store:
        store.con.execute("UPDATE bars SET close = close + 0.001, high = high + 0.001 "
                          "WHERE ts = (SELECT max(ts) FROM bars)")
    assert run(workspace, "data", "lookahead") == 1
    assert "computed from other bars: run `fxconsole data build`" in capsys.readouterr().err


def test_cli_default_samples_match_the_module() -> None:
    from fxconsole.cli.data_cmd import LOOKAHEAD_SAMPLES

    assert LOOKAHEAD_SAMPLES == DEFAULT_SAMPLES
