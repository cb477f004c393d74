"""The trading environment (SPEC §4) as a gymnasium ``Env``: one episode = one session.

The numbers come from the numba core (:mod:`fxconsole.trading.core`); this class picks
sessions, holds the preallocated buffers and turns a closed trade into ``info["trade"]``.
A step is one compiled call plus a copy of the observation buffer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from fxconsole.config import Config, load_config
from fxconsole.market.bars import I64
from fxconsole.timeutil import iso_utc
from fxconsole.trading import core
from fxconsole.trading.batch import gate_threshold, trade_record
from fxconsole.trading.market_data import MarketData, load_market_data
from fxconsole.trading.spaces import check_observation, observation_space, observation_spec
from fxconsole.workspace import Workspace, resolve_workspace

logger = logging.getLogger(__name__)

__all__ = ["TradingEnv", "observation_spec"]

_FAST_ACTIONS = frozenset({int, np.int64})
_RESET_OPTIONS = ("start_ts", "start_index")


def _as_action(action: Any) -> int:
    """Any integral scalar (numpy int, 0-d or 1-element array) → int; else ValueError."""
    value = np.asarray(action)
    if value.size != 1 or value.dtype.kind not in "iu":
        raise ValueError(f"action must be an integer 0–3, got {action!r}")
    return int(value.reshape(()))


def _timestamp_ns(value: Any) -> int:
    """An ISO-8601 string or a datetime (naive = UTC) → int64 ns UTC."""
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(f"start_ts {value!r} is not an ISO-8601 date-time") from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise ValueError(f"start_ts must be an ISO-8601 string or a datetime, got {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class TradingEnv(gymnasium.Env[Any, np.int64]):
    """Trade one session of a series with HOLD/BUY/SELL/CLOSE (SPEC §4).

    Attributes:
        data: the shared market arrays.
        config: the configuration in force.
        split: the split whose sessions are played.
        observation: ``"ppo"`` or ``"muzero"``.
        session_bars: steps per episode.
        gating: whether the σ20 entry gate is on.
        gate_sigma_pips: the gate threshold in pips (0.0 when gating is off).
        starts: the valid session starts of the split.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (gymnasium's API)

    def __init__(
        self,
        symbol: str | None = None,
        timeframe: str | None = None,
        split: str = "train",
        observation: str | None = None,
        *,
        workspace: Workspace | Path | str | None = None,
        data: MarketData | None = None,
        config: Config | None = None,
        render_mode: str | None = None,
    ) -> None:
        """Build the environment; every argument defaults from the config.

        Args:
            symbol: series symbol (``data.symbol`` or ``config.data.symbol``).
            timeframe: series timeframe (``data.timeframe`` or ``config.data.timeframe``).
            split: ``"train"``, ``"validation"`` or ``"test"``.
            observation: ``"ppo"`` or ``"muzero"`` (``config.env.observation``).
            workspace: where the config file and ``data/market.duckdb`` are (default:
                ``$FXCONSOLE_WORKSPACE`` or the current folder); unused when both
                ``data`` and ``config`` are given.
            data: preloaded market data (default: the workspace's store, cached per process).
            config: the configuration (default: the workspace's ``fxconsole.toml``).
            render_mode: None or ``"ansi"``.

        Raises:
            ValueError: for an unknown split, a split without sessions, an unknown
                observation or render mode, or data that does not match the arguments.
            FileNotFoundError: if the data must be loaded and there is no store.
        """
        super().__init__()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} not supported; allowed: None, 'ansi'")
        self.render_mode = render_mode
        ws = None
        if config is None or data is None:
            ws = workspace if isinstance(workspace, Workspace) else resolve_workspace(
                None if workspace is None else str(workspace))
        cfg = config if config is not None else load_config(ws.config_file if ws else None)
        self.config = cfg
        self.data = self._market_data(symbol, timeframe, data, ws)
        self.split = split
        self.observation = check_observation(observation or cfg.env.observation)
        self.session_bars = cfg.data.session_bars
        self.starts: I64 = self._check_starts(self.data.split_starts(split))
        self.gating = cfg.env.gating
        gate = gate_threshold(cfg, self.data)
        self.gate_sigma_pips = gate if self.gating else 0.0
        self._table = self.data.table
        self._state = core.new_state(cfg.env, self.data.pip, self.session_bars, gate)
        self.action_space = spaces.Discrete(core.N_ACTIONS)
        self.observation_space = observation_space(self.observation)
        self._ppo = self.observation == "ppo"
        self._obs = np.zeros(core.PPO_SIZE, dtype=np.float32)
        self._temporal = np.zeros((core.TEMPORAL_BARS, core.TEMPORAL_FEATURES), np.float32)
        self._static = np.zeros(core.N_POSITION, dtype=np.float32)

    def _market_data(self, symbol: str | None, timeframe: str | None,
                     data: MarketData | None, ws: Workspace | None) -> MarketData:
        if data is None:
            market_db = (ws or resolve_workspace()).market_db
            return load_market_data(market_db, symbol or self.config.data.symbol,
                                    timeframe or self.config.data.timeframe)
        for name, wanted, got in (("symbol", symbol, data.symbol),
                                  ("timeframe", timeframe, data.timeframe)):
            if wanted is not None and wanted != got:
                raise ValueError(f"{name} {wanted!r} does not match the data's {got!r}")
        return data

    def _check_starts(self, starts: I64) -> I64:
        n, first_needed = len(self.data), core.TEMPORAL_BARS - 1
        if int(starts[-1]) + self.session_bars > n:
            raise ValueError(
                f"split {self.split!r} has a session start {int(starts[-1])} whose "
                f"{self.session_bars} bars run past the {n} rows: the sessions were built "
                "with another data.session_bars (rebuild: `fxconsole data build --force`)"
            )
        if int(starts[0]) < first_needed:
            raise ValueError(f"split {self.split!r} has a session start {int(starts[0])} < "
                             f"{first_needed}: the 32-bar observation window would be short")
        return starts

    # --- gymnasium API ----------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode: a uniformly drawn session of the split, or the one asked for.

        Args:
            seed: reseeds ``self.np_random``.
            options: ``{"start_ts": ISO-8601 string or datetime}`` or
                ``{"start_index": row}``: play that session (a valid start of the split).

        Raises:
            ValueError: for unknown options or a start that is not a valid session start.
        """
        super().reset(seed=seed)
        start = self._chosen_start(options) if options else int(
            self.starts[self.np_random.integers(self.starts.shape[0])])
        core.reset_state(start, self._state)
        info = {"session_start_ts": iso_utc(int(self.data.ts[start])),
                "session_start_index": start, "invalid_actions": 0, "gated": 0,
                "entry_attempts": 0, "position": 0}
        return self._write_observation(), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply an action (0 HOLD, 1 BUY, 2 SELL, 3 CLOSE); see SPEC §4.

        Returns:
            (observation, reward, terminated, truncated = False, info) with running
            counts ``invalid_actions``, ``gated``, ``entry_attempts``, the ``position``
            after the step and, when a trade closed, ``trade``.

        Raises:
            RuntimeError: if the episode is over: call ``reset()``.
            ValueError: for an action outside 0–3.
        """
        if action.__class__ not in _FAST_ACTIONS:
            action = _as_action(action)
        if self._ppo:
            reward, terminated, closed, position, invalid, gated, attempts = core.step_ppo(
                action, self._table, self._state, self._obs)
            obs: Any = self._obs.copy()
        else:
            reward, terminated, closed, position, invalid, gated, attempts = core.step_muzero(
                action, self._table, self._state, self._temporal, self._static)
            obs = {"temporal": self._temporal.copy(), "static": self._static.copy()}
        info: dict[str, Any] = {"invalid_actions": invalid, "gated": gated,
                                "entry_attempts": attempts, "position": position}
        if closed:
            info["trade"] = self.last_trade()
        return obs, reward, terminated, False, info

    def render(self) -> str | None:
        """With ``render_mode="ansi"``: one line on the current bar and position."""
        if self.render_mode != "ansi":
            return None
        s = self._state
        t = int(s[core.S_START] + s[core.S_STEP])
        side = {1: "long", -1: "short"}.get(int(s[core.S_SIDE]), "flat")
        return (f"{iso_utc(int(self.data.ts[t]))} step {int(s[core.S_STEP])} "
                f"close {self.data.close[t]:.5f} {side} "
                f"unrealised {s[core.S_UNREALISED]:+.1f} pips max_dd {s[core.S_MAX_DD]:.1f}")

    # --- helpers ----------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The current position: −1 short, 0 flat, 1 long."""
        return int(self._state[core.S_SIDE])

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """The legal actions of the current position, (4,) bool (SPEC §4: flat HOLD, BUY,
        SELL; in a trade HOLD, CLOSE; gating is not part of it) — sb3-contrib's
        MaskablePPO convention."""
        legal = np.empty(core.N_ACTIONS, dtype=np.bool_)
        core.write_legal(self._state, legal)
        return legal

    def last_trade(self) -> dict[str, Any]:
        """The most recently closed trade as the ``info["trade"]`` dict (SPEC §4)."""
        return trade_record(self._state[core.T_SIDE:core.T_FORCED + 1], self.data.ts)

    def _write_observation(self) -> Any:
        if self._ppo:
            core.write_ppo(self._table, self._state, self._obs)
            return self._obs.copy()
        core.write_muzero(self._table, self._state, self._temporal, self._static)
        return {"temporal": self._temporal.copy(), "static": self._static.copy()}

    def _chosen_start(self, options: dict[str, Any]) -> int:
        unknown = sorted(set(options) - set(_RESET_OPTIONS))
        given = [k for k in _RESET_OPTIONS if k in options]
        if unknown or len(given) != 1:
            raise ValueError(f"reset options {sorted(options)} not understood; give exactly one "
                             f"of {', '.join(_RESET_OPTIONS)}")
        value = options[given[0]]
        if given[0] == "start_index":
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"start_index must be an integer row, got {value!r}")
            row = int(value)
        else:
            ns = _timestamp_ns(value)
            row = int(np.searchsorted(self.data.ts, ns))
            if row >= len(self.data) or int(self.data.ts[row]) != ns:
                row = -1
        pos = int(np.searchsorted(self.starts, row))
        if row < 0 or pos >= self.starts.shape[0] or int(self.starts[pos]) != row:
            first, last = int(self.starts[0]), int(self.starts[-1])
            raise ValueError(
                f"{given[0]} {value!r} is not a valid session start of split {self.split!r} "
                f"({self.starts.shape[0]} starts, rows {first}–{last}, "
                f"{iso_utc(int(self.data.ts[first]))} to {iso_utc(int(self.data.ts[last]))})"
            )
        return row


ENV_ID = "fxconsole/Trading-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="fxconsole.trading.env:TradingEnv",
                       max_episode_steps=None)
