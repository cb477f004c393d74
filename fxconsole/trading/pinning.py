"""SPEC §6.1: what a run is pinned to at its first checkpoint, and playing by the pin.

A :class:`Pin` holds the absolute split bounds the run trained with (``t0``, ``b1``,
``b2``, ``t1`` as they were), the fingerprints of the bars of its train and validation
windows, the gate threshold and every ``env`` parameter. Every checkpoint of the run
carries it (``Manifest.pinned``). Backtests, validation, the collector and live play a
checkpoint by its pin: :func:`pinned_data` re-splits the stored valid starts by the pinned
bounds (refusing when the pinned windows' bars changed) and :func:`pinned_config` puts the
pinned env parameters in place of the configured ones. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxconsole.config import Config, EnvConfig
from fxconsole.market.bars import I64
from fxconsole.market.sessions import SPLITS, session_splits, split_bounds
from fxconsole.timeutil import iso_utc
from fxconsole.trading.batch import gate_threshold
from fxconsole.trading.market_data import MarketData

PIN_FORMAT = 1
PRE_REWARD_ENV = {"reward": "amddp1"}  # env keys a pin may lack, as they were then
WINDOWS = ("train", "validation")  # fingerprinted; the test window grows with new bars


class PinError(ValueError):
    """The stored data or the checkpoint's pin cannot be played as pinned."""


@dataclass(frozen=True)
class WindowPrint:
    """Row count and sha256 of the bars of one pinned window."""

    rows: int
    sha256: str


@dataclass(frozen=True)
class Pin:
    """What a run is pinned to (SPEC §6.1). Times are int64 ns UTC.

    Attributes:
        symbol, timeframe: the series.
        t0, t1: the first and last stored timestamps when the run was pinned.
        b1, b2: the split bounds: train ``t0 ≤ ts < b1``, validation ``b1 ≤ ts < b2``,
            test ``ts ≥ b2``.
        windows: fingerprints of the train ``[t0, b1)`` and validation ``[b1, b2)`` bars.
        gate_sigma_pips: the resolved entry gate (0.0 when gating is off).
        env: every ``env`` parameter, ``gate_sigma_pips`` resolved.
        session_bars: the session length.
    """

    symbol: str
    timeframe: str
    t0: int
    t1: int
    b1: int
    b2: int
    windows: dict[str, WindowPrint]
    gate_sigma_pips: float
    env: dict[str, Any]
    session_bars: int

    def window(self, name: str) -> tuple[int, int]:
        """The ``[lo, hi)`` ns bounds of ``train``, ``validation`` or ``test``."""
        return {"train": (self.t0, self.b1), "validation": (self.b1, self.b2),
                "test": (self.b2, 2**62)}[name]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for the manifest (times also as ISO-8601, for readers)."""
        return {
            "format": PIN_FORMAT, "symbol": self.symbol, "timeframe": self.timeframe,
            "t0": self.t0, "t1": self.t1, "b1": self.b1, "b2": self.b2,
            "iso": {k: iso_utc(getattr(self, k)) for k in ("t0", "b1", "b2", "t1")},
            "windows": {k: dataclasses.asdict(v) for k, v in self.windows.items()},
            "gate_sigma_pips": self.gate_sigma_pips, "env": dict(self.env),
            "session_bars": self.session_bars,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "pin") -> Pin:
        """Parse :meth:`to_dict`'s output.

        Raises:
            PinError: naming ``source`` and the bad key.
        """
        if raw.get("format") != PIN_FORMAT:
            raise PinError(f"{source}: pinned format {raw.get('format')!r} is not supported "
                           f"(only {PIN_FORMAT})")
        try:
            windows = {k: WindowPrint(int(v["rows"]), str(v["sha256"]))
                       for k, v in raw["windows"].items()}
            # Pins older than env.reward trained the seed's reward, whatever the default now.
            env = {**PRE_REWARD_ENV, **dict(raw["env"])}
            unknown = sorted(set(env) - {f.name for f in dataclasses.fields(EnvConfig)})
            if unknown:
                raise PinError(f"{source}: pinned env has unknown key(s) {', '.join(unknown)}")
            return cls(str(raw["symbol"]), str(raw["timeframe"]), int(raw["t0"]),
                       int(raw["t1"]), int(raw["b1"]), int(raw["b2"]), windows,
                       float(raw["gate_sigma_pips"]), env, int(raw["session_bars"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, PinError):
                raise
            raise PinError(f"{source}: malformed pin ({type(exc).__name__}: {exc})") from None


def make_pin(data: MarketData, cfg: Config) -> Pin:
    """Pin ``data`` as it is now, with ``cfg``'s splits, env and session length.

    Raises:
        ValueError: the series is empty, or gating needs a train split it lacks.
    """
    if len(data) == 0:
        raise ValueError(f"{data.symbol} {data.timeframe}: no bars to pin")
    t0, t1 = int(data.ts[0]), int(data.ts[-1])
    b1, b2 = split_bounds(t0, t1, cfg.data.train_fraction, cfg.data.validation_fraction)
    gate = gate_threshold(cfg, data) if cfg.env.gating else 0.0
    env = {**dataclasses.asdict(cfg.env), "gate_sigma_pips": gate}
    windows = {"train": WindowPrint(*data.fingerprint(t0, b1)),
               "validation": WindowPrint(*data.fingerprint(b1, b2))}
    return Pin(data.symbol, data.timeframe, t0, t1, b1, b2, windows, gate, env,
               cfg.data.session_bars)


def check_pin(data: MarketData, pin: Pin) -> None:
    """Refuse data whose pinned windows changed, naming what changed.

    Raises:
        PinError: other series, or the bars of a pinned window differ.
    """
    if (data.symbol, data.timeframe) != (pin.symbol, pin.timeframe):
        raise PinError(f"the checkpoint is pinned to {pin.symbol} {pin.timeframe}, "
                       f"not {data.symbol} {data.timeframe}")
    for name in WINDOWS:
        want = pin.windows.get(name)
        if want is None:
            continue
        lo, hi = pin.window(name)
        rows, sha = data.fingerprint(lo, hi)
        if (rows, sha) != (want.rows, want.sha256):
            change = (f"{want.rows:,} bars when pinned, {rows:,} now" if rows != want.rows
                      else f"{rows:,} bars, but their prices differ (sha256 "
                           f"{want.sha256[:12]} pinned, {sha[:12]} now)")
            raise PinError(
                f"the stored {pin.symbol} {pin.timeframe} bars of the pinned {name} window "
                f"[{iso_utc(lo)}, {iso_utc(hi)}) changed: {change}. A backtest would not play "
                "the bars this checkpoint was trained and validated with; restore the data "
                "or train a new run")


def pinned_sessions(data: MarketData, pin: Pin) -> dict[str, I64]:
    """The stored valid starts, split by the pinned bounds.

    Train holds only sessions at or after the pinned ``t0`` (older history imported later
    is none of the run's windows); a session straddling a pinned bound is in no split.
    """
    starts = data.all_starts()
    if starts.size == 0:
        return {split: np.zeros(0, np.int64) for split in SPLITS}
    ends_ok = starts + pin.session_bars - 1 < len(data)
    starts = starts[ends_ok]
    label = session_splits(data.ts, starts, pin.session_bars, (pin.b1, pin.b2))
    label = np.where(data.ts[starts] < pin.t0, np.int8(-1), label)
    return {split: starts[label == i] for i, split in enumerate(SPLITS)}


def pinned_data(data: MarketData, pin: Pin) -> MarketData:
    """``data`` re-split by the pin, after :func:`check_pin`.

    Raises:
        PinError: see :func:`check_pin`.
    """
    check_pin(data, pin)
    return data.resplit(pinned_sessions(data, pin))


def pinned_config(cfg: Config, pin: Pin) -> Config:
    """``cfg`` with the pinned env parameters and session length in place."""
    env = EnvConfig(**pin.env)
    return dataclasses.replace(cfg, env=env,
                               data=dataclasses.replace(cfg.data, session_bars=pin.session_bars))


def pin_differences(cfg: Config, pin: Pin) -> list[str]:
    """The configured values that differ from the pinned ones (the pinned ones are used)."""
    out = []
    configured = {**dataclasses.asdict(cfg.env), "session_bars": cfg.data.session_bars}
    pinned = {**pin.env, "session_bars": pin.session_bars}
    for key, want in pinned.items():
        have = configured.get(key)
        if key == "gate_sigma_pips" and have == 0.0:
            continue  # "calibrate": the pinned value is that calibration
        if isinstance(want, float) and isinstance(have, float) and math.isclose(want, have):
            continue
        if want != have:
            section = "data" if key == "session_bars" else "env"
            out.append(f"{section}.{key} = {have!r} configured, {want!r} pinned")
    return out


def pin_of(pinned: dict[str, Any], source: str) -> Pin | None:
    """The :class:`Pin` of a manifest's ``pinned`` dict; None for an unpinned checkpoint."""
    return Pin.from_dict(pinned, source) if pinned else None


def pinned_play(data: MarketData, cfg: Config, pinned: dict[str, Any], source: str
                ) -> tuple[MarketData, Config]:
    """The data and config a checkpoint plays: split and env as its run is pinned to
    (unpinned: as given).

    Raises:
        PinError: its pinned windows' bars changed, or a malformed pin.
    """
    pin = pin_of(pinned, source)
    if pin is None:
        return data, cfg
    return pinned_data(data, pin), pinned_config(cfg, pin)
