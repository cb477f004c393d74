"""The live worker with the paper broker: trades the deployed checkpoint on replayed bars.

Until the live-trading issue adds OANDA, "live" replays the test split's sessions bar by
bar at ``live.bars_per_second`` through the environment's own step core (SPEC §4 costs)
and obeys deploy, pause-entries, resume-entries and kill-switch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxconsole.agents.checkpoints import RunCheckpoints, resolve_checkpoint
from fxconsole.agents.manifest import CheckpointError
from fxconsole.agents.ppo.inference import NumpyActor, load_actor
from fxconsole.evaluation.backtest import backtest_starts
from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.trading.core import BUY, CLOSE, HOLD, SELL
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import load_market_data

logger = logging.getLogger(__name__)
SPLIT = "test"


@dataclass
class LiveState:
    """Operator switches and totals of the paper account."""

    actor: NumpyActor | None = None
    deployed: str = ""
    entries_paused: bool = False
    kill_switch: bool = False
    realised_pips: float = 0.0
    trades: int = 0
    decisions: int = 0


def main(rt: WorkerRuntime) -> None:
    """Replay sessions forever; decide every bar with the deployed policy."""
    cfg = rt.config
    data = load_market_data(rt.workspace.market_db, cfg.data.symbol, cfg.data.timeframe)
    env = TradingEnv(split=SPLIT, data=data, config=cfg)
    starts = backtest_starts(data.split_starts(SPLIT), cfg.data.session_bars)
    st = LiveState()
    rt.handlers.update({
        "deploy": lambda args: _deploy(rt, st, args),
        "pause-entries": lambda args: _switch(st, "entries_paused", True),
        "resume-entries": lambda args: _resume(st),
        "kill-switch": lambda args: _switch(st, "kill_switch", True),
    })
    _load_deployed(rt, st)
    k = 0
    while not rt.stop.is_set():
        obs, _ = env.reset(options={"start_index": int(starts[k % len(starts)])})
        k += 1
        done = False
        while not done and not rt.stop.is_set():
            action = _decide(st, obs, env.position)
            obs, _, done, _, info = env.step(action)
            st.decisions += 1
            if "trade" in info:
                st.realised_pips += info["trade"]["pips"]
                st.trades += 1
                rt.writer.trades(st.decisions, [info["trade"]])
            rt.writer.write(st.decisions, {
                "live/position": float(env.position), "live/realised_pips": st.realised_pips,
                "live/trades": float(st.trades), "live/entries_paused": float(st.entries_paused),
                "live/kill_switch": float(st.kill_switch),
                "live/deployed": float(st.actor is not None)})
            rt.sleep(1.0 / cfg.workers.live_bars_per_second)


def _decide(st: LiveState, obs: np.ndarray, position: int) -> int:
    if st.kill_switch:
        return CLOSE if position != 0 else HOLD
    if st.actor is None:
        return HOLD
    action = int(st.actor(obs[None, :])[0])
    if st.entries_paused and action in (BUY, SELL):
        return HOLD
    return action


def _load_deployed(rt: WorkerRuntime, st: LiveState) -> None:
    """Trade the run's ``deployed.json`` if there is one; an unusable one trades nothing."""
    path = rt.workspace.checkpoints_dir / rt.run / "deployed.json"
    if not path.exists():
        return
    try:
        manifest, st.actor = load_actor(path)
    except CheckpointError as exc:
        logger.error("not trading the deployed checkpoint: %s", exc)
        rt.writer.event("error", "deploy", f"deployed checkpoint unusable: {exc}", {})
        return
    st.deployed = manifest.model_file
    logger.info("trading deployed checkpoint %s", manifest.model_file)


def _deploy(rt: WorkerRuntime, st: LiveState, args: dict[str, Any]) -> str:
    path = resolve_checkpoint(str(args.get("checkpoint", "")), rt.workspace.checkpoints_dir)
    if path.parent.name != rt.run:
        raise ValueError(f"{path} belongs to run {path.parent.name!r}; live trades run "
                         f"{rt.run!r}: deploy one of its checkpoints")
    manifest, actor = load_actor(path)
    RunCheckpoints(path.parent).point("deployed", manifest)
    st.actor, st.deployed = actor, manifest.model_file
    return f"deployed {manifest.run} @ {manifest.timesteps:,} ({manifest.model_file})"


def _switch(st: LiveState, flag: str, value: bool) -> str:
    setattr(st, flag, value)
    return f"{flag.replace('_', ' ')} {'on' if value else 'off'}"


def _resume(st: LiveState) -> str:
    st.entries_paused = False
    st.kill_switch = False
    return "entries resumed (kill switch released)"
