"""Lines about market data for people: the sessions of a series, a synthesis summary, and
the stage-by-stage progress of a long synthesis (pure text, plus a tiny printer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from fxconsole.market.sessions import SPLITS

if TYPE_CHECKING:
    from fxconsole.market.pipeline import ImportSummary

STRADDLING = "none"  # fxconsole.market.pipeline.STRADDLING (a light import here)
STAGE_TEXT = {"synthesise": "generating bars", "store bars": "storing bars",
              "features": "computing features and sessions",
              "store features": "storing features"}


def sessions_line(counts: dict[str, int]) -> str:
    """``train 1,234 · validation 210 · test 200 (+12 straddling two splits)``.

    Args:
        counts: ``split → sessions`` (the straddling ones under ``"none"``).

    Returns:
        One line, splits in their order.
    """
    line = " · ".join(f"{k} {counts.get(k, 0):,}" for k in SPLITS)
    straddling = counts.get(STRADDLING, 0)
    return f"{line} (+{straddling:,} straddling two splits)" if straddling else line


def when(ts: np.datetime64) -> str:
    """A bar time as ``2024-01-02 03:04 UTC``."""
    return f"{np.datetime_as_string(ts, unit='m').replace('T', ' ')} UTC"


def synth_summary(s: ImportSummary, seconds: float) -> str:
    """What a synthesis stored, in one readable line (not a dict of sessions).

    Args:
        s: The synthesis' summary.
        seconds: How long it took.

    Returns:
        E.g. ``stored 1,234,567 GBPJPY M1 bars (2019-01-01 00:00 UTC → …) in 19.8 s;
        sessions: train 1,234 · validation 210 · test 200``.
    """
    return (f"stored {s.rows_stored:,} {s.symbol} {s.timeframe} bars ({when(s.first_ts)} → "
            f"{when(s.last_ts)}) in {seconds:.1f} s; sessions: {sessions_line(s.build.sessions)}")


def stage_printer(emit: Callable[[str], None],
                  clock: Callable[[], float] = time.monotonic) -> Callable[[str], None]:
    """A pipeline ``progress`` callback that prints one line per stage with the time so far.

    Args:
        emit: Prints a line.
        clock: Seconds (monotonic).

    Returns:
        The callback: ``progress("features")`` prints ``  computing features and
        sessions… (12.3 s)``.
    """
    started = clock()

    def progress(stage: str) -> None:
        emit(f"  {STAGE_TEXT.get(stage, stage)}… ({clock() - started:.1f} s)")

    return progress
