"""Synthetic GBPJPY-like bars: the embedded default data set.

The bars lie on the open FX week (Sunday 17:00 to Friday 17:00 New York, SPEC §1), one
per period, with a few dropped at random (mostly single minutes, some runs of 2–8 and,
about twice a year, a gap of 15–60 minutes). Prices are simulated in pips on the full
grid before the drop, so a bar after a gap opens where the missing bars left off. For
bar ``t`` (``h_x = 0.5^(period / half-life_x)`` is the per-bar AR(1) coefficient)::

    log σ_t = log k + log S(t) + v_t + w_t + q_t + ε_t       (volatility, pips)
    u_t = h_u u_{t−1} + U √(1 − h_u²) ξ_t                    (hidden target, 2 h, U = 80)
    a_t = a_{t−1} + κ (u_t − a_{t−1}),  κ = 1 − h_a           (trend chasing it, 30 min)
    d_t = h_L d_{t−1} + g_t + σ_t z_t + signal · (a_t − a_{t−1})
    c_t = L + d_t,  o_t = L + d_{t−1} + g_t                  (close and open, pips)
    high_t, low_t = (o_t + c_t ± √((c_t − o_t)² + 2 σ_t² E_t^±)) / 2

``S`` is the intraday seasonality (quiet Asia, Tokyo morning, London 07–16 UK time,
highest in the London/New York overlap, a dip around the 17:00 New York rollover);
``v, w, q`` are AR(1) log-vols with half-lives 20 minutes, 2 days and 30 days, ``ε`` is
iid, and ``k`` sets the mean M1 range to 3.9 pips. ``z, ξ ~ N(0, 1)``; ``g_t ~ N(0, 15²)``
is the weekend gap at a week's first bar (else 0); ``E^± ~ Exp(1)`` make high and low
exact draws of the extremes of a Brownian bridge from ``o_t`` to ``c_t``. ``L`` is the
start level and ``h_L`` a pull toward it with a half-life of ~a year of trading minutes
(< 0.01 pip a minute). With ``signal = 0`` the close is (up to that pull) a martingale:
no edge. The trend ``a`` is a smoothed, bounded copy of ``u``, so its increments persist
for 30–60 minutes — momentum that a 5–60-minute rule can exploit — without moving the
long-run level; every random draw is the same whatever ``signal``. Prices are rounded
to a tenth of a pip behind a softplus guard that keeps them positive (the identity at
any realistic level). Volume is ``1 + Poisson(λ)``, ``λ`` rising with ``σ_t``. Other
timeframes scale the per-minute model by the bar length.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numba
import numpy as np
import numpy.typing as npt

from fxconsole.market.bars import F64, I64, Bars, pip_size
from fxconsole.market.fxcalendar import is_weekend, new_york_offset_ns
from fxconsole.timeutil import NS_PER_DAY, NS_PER_HOUR, NS_PER_SECOND, timeframe_seconds

logger = logging.getLogger(__name__)

LONDON = ZoneInfo("Europe/London")
DAYS_PER_YEAR = 365.25
MEAN_RANGE_M1_PIPS = 3.9
BM_RANGE_FACTOR = 2.0 * math.sqrt(2.0 / math.pi)  # E[range] of a Brownian minute = 1.596 σ
WEEKEND_GAP_PIPS = 15.0
LEVEL_HALF_LIFE = 260 * 1440.0  # minutes: about a year of trading minutes
# Log-volatility components: (half-life in minutes, stationary sd).
VOL_COMPONENTS = ((20.0, 0.35), (2 * 1440.0, 0.25), (30 * 1440.0, 0.15))
VOL_IID_SD = 0.3
# Planted trend: target half-life, chase half-life (minutes), target sd (pips).
TARGET_HALF_LIFE = 120.0
CHASE_HALF_LIFE = 30.0
TARGET_SD_PIPS = 80.0
# Missing bars: rate of short events per bar, chance of a run, longest run, long gaps a year.
DROP_RATE = 0.0005
RUN_PROB = 0.15
MAX_RUN = 8
LONG_GAPS_PER_YEAR = 2.0
LONG_GAP_MINUTES = (15, 60)
VOLUME_PER_MINUTE = 50.0


MAX_SIGNAL = 4.0


def synth_bars(
    symbol: str = "GBPJPY",
    years: float = 3.5,
    seed: int = 0,
    signal: float = 0.0,
    start: str = "2021-01-03",
    timeframe: str = "M1",
) -> Bars:
    """Generate realistic synthetic bars, bit-identical for a given seed.

    Args:
        symbol: the symbol carried by the bars; sets the pip, level and decimals.
        years: length of the span from ``start``, in years of 365.25 days (> 0).
        seed: seed of ``np.random.default_rng``.
        signal: amount of planted short-term momentum in [0, 4]; 0 is pure noise, 1 the
            calibrated amount (a 30-minute momentum rule nets a few pips after spread).
        start: first UTC date (or ISO date-time) of the span; bars start at the first
            open minute at or after it.
        timeframe: bar timeframe, one of ``fxconsole.market.bars.TIMEFRAME_SECONDS``.

    Returns:
        Bars sorted by unique ``ts``, none in the weekend closure, OHLC consistent.

    Raises:
        ValueError: if an argument is out of range; the message names it.
    """
    period_s, start_ns = _validate(years, signal, start, timeframe)
    rng = np.random.default_rng(seed)
    ts = _open_grid(start_ns, years, period_s)
    keep = _keep_mask(rng, ts.shape[0], years, period_s)
    sigma = _sigma_pips(rng, ts, period_s)
    week_start = np.ones(ts.shape[0], dtype=np.bool_)
    week_start[1:] = np.diff(ts) > period_s * NS_PER_SECOND
    pip, level = pip_size(symbol), _start_level(symbol)
    ohlc = _path_pips(rng, sigma, week_start, signal, period_s)
    o, hi, lo, c = _prices(ohlc, week_start, pip, level)
    volume = _volume(rng, sigma, period_s)
    dropped = int(keep.size - keep.sum())
    logger.debug("synth_bars %s %s: %d bars, %d dropped", symbol, timeframe, keep.sum(), dropped)
    return Bars(
        symbol=symbol,
        timeframe=timeframe,
        ts=ts[keep],
        open=o[keep],
        high=hi[keep],
        low=lo[keep],
        close=c[keep],
        volume=volume[keep],
    )


def _path_pips(
    rng: np.random.Generator,
    sigma: F64,
    week_start: npt.NDArray[np.bool_],
    signal: float,
    period_s: int,
) -> tuple[F64, F64, F64, F64]:
    """Open, high, low, close in pips relative to the start level (see the module doc)."""
    n = sigma.shape[0]
    trend = _trend_pips(rng, n, period_s)
    gaps = np.where(week_start, WEEKEND_GAP_PIPS * rng.standard_normal(n), 0.0)
    gaps[:1] = 0.0
    steps = sigma * rng.standard_normal(n) + signal * np.diff(trend, prepend=trend[:1])
    close = _ar1(gaps + steps, _phi(period_s, LEVEL_HALF_LIFE))
    open_ = np.concatenate([[0.0], close[:-1]])[:n] + gaps
    move, var2 = close - open_, 2.0 * sigma**2
    high = 0.5 * (open_ + close + np.sqrt(move**2 + var2 * rng.standard_exponential(n)))
    low = 0.5 * (open_ + close - np.sqrt(move**2 + var2 * rng.standard_exponential(n)))
    return open_, high, low, close


def _validate(years: float, signal: float, start: str, timeframe: str) -> tuple[int, int]:
    """Check the arguments; return (period in seconds, start in UTC ns)."""
    if not (isinstance(years, int | float) and math.isfinite(years) and years > 0):
        raise ValueError(f"years must be a finite number > 0, got {years!r}")
    if not (isinstance(signal, int | float) and 0.0 <= signal <= MAX_SIGNAL):
        raise ValueError(f"signal must be a number in [0, {MAX_SIGNAL:g}], got {signal!r}")
    try:
        period_s = timeframe_seconds(timeframe)
    except ValueError as exc:
        raise ValueError(f"timeframe: {exc}") from None
    try:
        moment = datetime.fromisoformat(start)
    except (TypeError, ValueError):
        raise ValueError(
            f"start must be an ISO date or date-time such as '2021-01-03', got {start!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    start_ns = round(moment.timestamp()) * NS_PER_SECOND
    return period_s, start_ns


def _start_level(symbol: str) -> float:
    """A plausible starting price: 155 for JPY-quoted pairs, 1.30 otherwise."""
    return 155.0 if pip_size(symbol) == 0.01 else 1.30


def _open_grid(start_ns: int, years: float, period_s: int) -> I64:
    """Every bar open time in [start, start + years) that is not in the weekend closure."""
    period_ns = period_s * NS_PER_SECOND
    count = math.ceil(years * DAYS_PER_YEAR * 86400 / period_s)
    ts = start_ns + np.arange(count, dtype=np.int64) * period_ns
    return ts[~is_weekend(ts)]


def _keep_mask(
    rng: np.random.Generator, n: int, years: float, period_s: int
) -> npt.NDArray[np.bool_]:
    """False for the dropped bars: short runs at random plus a few long gaps."""
    if n == 0:
        return np.ones(0, dtype=np.bool_)
    n_short = int(rng.binomial(n, DROP_RATE))
    starts = rng.integers(0, n, n_short)
    runs = np.minimum(1 + rng.geometric(0.5, n_short), MAX_RUN)
    lengths = np.where(rng.random(n_short) < RUN_PROB, runs, 1)
    n_long = math.floor(LONG_GAPS_PER_YEAR * years + 0.5)
    long_starts = rng.integers(0, n, n_long)
    minutes = rng.integers(LONG_GAP_MINUTES[0], LONG_GAP_MINUTES[1] + 1, n_long)
    long_lengths = np.maximum(1, np.round(minutes * 60 / period_s)).astype(np.int64)
    starts = np.concatenate([starts, long_starts])
    lengths = np.concatenate([lengths, long_lengths])
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    dropped = np.repeat(starts, lengths) + offsets
    keep = np.ones(n, dtype=np.bool_)
    keep[dropped[dropped < n]] = False
    return keep


@numba.njit(cache=True)
def _ar1(x: F64, phi: float) -> F64:  # pragma: no cover - compiled
    """``y_0 = x_0``, ``y_t = phi · y_{t−1} + x_t``."""
    y = np.empty_like(x)
    if x.shape[0] == 0:
        return y
    y[0] = x[0]
    for t in range(1, x.shape[0]):
        y[t] = phi * y[t - 1] + x[t]
    return y


def _stationary_ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> F64:
    """A stationary Gaussian AR(1) of coefficient ``phi`` and standard deviation ``sd``."""
    x = rng.standard_normal(n) * (sd * math.sqrt(1.0 - phi * phi))
    if n:
        x[0] /= math.sqrt(1.0 - phi * phi)
    return _ar1(x, phi)


def _phi(period_s: int, half_life_minutes: float) -> float:
    """The per-bar AR coefficient of a process with this half-life."""
    return float(0.5 ** (period_s / 60.0 / half_life_minutes))


def _sigma_pips(rng: np.random.Generator, ts: I64, period_s: int) -> F64:
    """Per-bar volatility in pips: seasonality × clustered log-vol, scaled to the target."""
    minutes, n = period_s / 60.0, int(ts.shape[0])
    log_vol = rng.standard_normal(n) * (VOL_IID_SD / math.sqrt(minutes))
    for half_life, sd in VOL_COMPONENTS:
        log_vol += _stationary_ar1(rng, n, _phi(period_s, half_life), sd)
    raw = _bar_seasonality(ts, period_s) * np.exp(log_vol)
    if raw.size == 0:
        return raw
    target = MEAN_RANGE_M1_PIPS * math.sqrt(minutes)  # Brownian scaling for longer bars
    return raw * (target / (BM_RANGE_FACTOR * float(raw.mean())))


def _trend_pips(rng: np.random.Generator, n: int, period_s: int) -> F64:
    """The planted trend ``a``: a smoothed copy of an AR(1) target, in pips."""
    scale = math.sqrt(period_s / 60.0)  # keeps the per-minute model for longer bars
    target = _stationary_ar1(rng, n, _phi(period_s, TARGET_HALF_LIFE), TARGET_SD_PIPS * scale)
    kappa = 1.0 - _phi(period_s, CHASE_HALF_LIFE)
    x = kappa * target
    if n:
        x[0] = target[0]
    return _ar1(x, 1.0 - kappa)


def _london_offset_ns(ts: I64) -> I64:
    """London's UTC offset at each ts, looked up per UTC day at noon.

    Exact for open bars: the UK switches on Sundays at 01:00 UTC, inside the weekend closure.
    """
    days = np.floor_divide(ts, NS_PER_DAY)
    first = int(days.min())
    table = np.empty(int(days.max()) - first + 1, dtype=np.int64)
    for i in range(table.shape[0]):
        noon = datetime.fromtimestamp((first + i) * 86400 + 43200, tz=UTC)
        offset = noon.astimezone(LONDON).utcoffset() or timedelta(0)
        table[i] = int(offset.total_seconds()) * NS_PER_SECOND
    return table[days - first]


def _window(hour: F64, begin: float, end: float, edge: float = 0.2) -> F64:
    """A smooth 0–1 window that is ~1 for ``begin <= hour < end`` (hours of a local day)."""
    rise = 1.0 / (1.0 + np.exp(-(hour - begin) / edge))
    fall = 1.0 / (1.0 + np.exp(-(end - hour) / edge))
    return rise * fall


def _seasonality(ts: I64) -> F64:
    """Intraday volatility multiplier ``S(t)`` (~0.55 in Asia, ~1.6 in the overlap)."""

    def local_hour(offset: I64 | int) -> F64:
        return ((ts + offset) % NS_PER_DAY).astype(np.float64) / NS_PER_HOUR

    new_york = local_hour(new_york_offset_ns(ts))
    london = local_hour(_london_offset_ns(ts))
    tokyo = local_hour(9 * NS_PER_HOUR)
    level = (
        0.55
        + 0.25 * _window(tokyo, 9.0, 12.0)
        + 0.55 * _window(london, 7.0, 16.0)
        + 0.50 * _window(new_york, 8.0, 12.0)
        + 0.15 * _window(new_york, 12.0, 16.0)
    )
    rollover = 1.0 - 0.55 * np.exp(-0.5 * ((new_york - 17.0) / 0.35) ** 2)
    return level * rollover


def _bar_seasonality(ts: I64, period_s: int) -> F64:
    """RMS of ``S`` over up to 16 points inside each bar."""
    if ts.size == 0:
        return np.zeros(0, dtype=np.float64)
    points = min(max(period_s // 60, 1), 16)
    total = np.zeros(ts.shape[0], dtype=np.float64)
    for j in range(points):
        total += _seasonality(ts + (2 * j + 1) * period_s * NS_PER_SECOND // (2 * points)) ** 2
    return np.sqrt(total / points)


def _volume(rng: np.random.Generator, sigma: F64, period_s: int) -> F64:
    """Tick counts ``1 + Poisson(λ)`` with ``λ`` rising with volatility."""
    if sigma.size == 0:
        return np.zeros(0, dtype=np.float64)
    relative = sigma / float(sigma.mean())
    noise = np.exp(0.25 * rng.standard_normal(sigma.shape[0]))
    lam = VOLUME_PER_MINUTE * (period_s / 60.0) * relative**1.2 * noise
    return (1 + rng.poisson(lam)).astype(np.float64)


def _prices(
    pips: tuple[F64, F64, F64, F64], week_start: npt.NDArray[np.bool_], pip: float, level: float
) -> tuple[F64, F64, F64, F64]:
    """Pips to rounded, positive prices with ``o_t = c_{t−1}`` and ``low <= o, c <= high``."""
    decimals = round(-math.log10(pip)) + 1
    guard = level / 15.0  # softplus: moves a price by < 1e-4 of the level above half of it
    o, hi, lo, c = (
        np.round(guard * np.logaddexp(0.0, level / guard + p * (pip / guard)), decimals)
        for p in pips
    )
    o = np.where(week_start, o, np.roll(c, 1))
    hi = np.maximum(hi, np.maximum(o, c))
    lo = np.minimum(lo, np.minimum(o, c))
    return o, hi, lo, c
