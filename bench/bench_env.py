"""Benchmark: trading-environment steps per second, against gym-anytrading's ``forex-v0``.

Random actions are drawn up front; every episode end is followed by a reset (counted in
the time). Each figure is the best of ``--repeat`` runs after a warm-up. Printed: our
steps/s through ``gymnasium.make`` (with the checker wrappers ``make`` applies) and on the
unwrapped env, gym-anytrading's the same two ways on its bundled data, the ratios, and the
numba core alone (called from a Python loop, and in a compiled loop).

    .venv/bin/python bench/bench_env.py [--steps 300000] [--repeat 3]

gym-anytrading is not a project dependency: ``pip install gym-anytrading`` to compare.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import gymnasium
import numba
import numpy as np

import fxconsole.trading.env  # noqa: F401  registers fxconsole/Trading-v0
from fxconsole.config import Config
from fxconsole.market.bars import F64, I64
from fxconsole.market.synth import synth_bars
from fxconsole.trading import core
from fxconsole.trading.market_data import MarketData

WARMUP_STEPS = 5_000


def steps_per_second(env: Any, actions: np.ndarray, repeat: int) -> float:
    """Best steps/s of ``repeat`` runs of ``actions`` through ``env.step``."""
    best = 0.0
    for run in range(repeat + 1):
        batch = actions[:WARMUP_STEPS] if run == 0 else actions
        env.reset(seed=run)
        step, reset = env.step, env.reset
        started = time.perf_counter()
        for action in batch:
            _, _, terminated, truncated, _ = step(action)
            if terminated or truncated:
                reset()
        if run:
            best = max(best, len(batch) / (time.perf_counter() - started))
    return best


@numba.njit(cache=True)
def _compiled_loop(actions: I64, starts: I64, table: F64, state: F64, obs: Any) -> float:
    """Every action through the core in one compiled loop; returns the reward sum."""
    total = 0.0
    episode = 0
    core.reset_state(starts[0], state)
    core.write_ppo(table, state, obs)
    for i in range(actions.shape[0]):
        reward, _ = core.apply_step(actions[i], table, state)
        core.write_ppo(table, state, obs)
        total += reward
        if state[core.S_DONE] != 0.0:
            episode += 1
            core.reset_state(starts[episode % starts.shape[0]], state)
            core.write_ppo(table, state, obs)
    return total


def kernel_figures(env: Any, actions: np.ndarray, repeat: int) -> tuple[float, float]:
    """(steps/s calling ``core.step_ppo`` from Python, steps/s in a compiled loop)."""
    table, state, obs, starts = env._table, env._state, env._obs, env.starts
    step_ppo, reset_state, done = core.step_ppo, core.reset_state, core.S_DONE

    def python_loop() -> None:
        reset_state(int(starts[0]), state)
        for action in actions:
            step_ppo(action, table, state, obs)
            if state[done]:
                reset_state(int(starts[0]), state)

    python_loop()
    _compiled_loop(actions[:10], starts, table, state, obs)
    t_py = best_of(repeat, python_loop)
    t_nb = best_of(repeat, lambda: _compiled_loop(actions, starts, table, state, obs))
    return len(actions) / t_py, len(actions) / t_nb


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def anytrading_figures(n_steps: int, repeat: int) -> tuple[float, float] | None:
    """gym-anytrading forex-v0 (bundled EUR/USD data): (make steps/s, unwrapped steps/s)."""
    try:
        import gym_anytrading  # noqa: F401  registers forex-v0
    except ImportError:
        return None
    env = gymnasium.make("forex-v0")
    actions = np.random.default_rng(1).integers(0, 2, n_steps)
    return (steps_per_second(env, actions, repeat),
            steps_per_second(env.unwrapped, actions, repeat))


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--years", type=float, default=0.25, help="synthetic data span")
    args = parser.parse_args()

    cfg = Config()
    data = MarketData.from_bars(synth_bars(years=args.years, seed=1), cfg.data)
    actions = np.random.default_rng(0).integers(0, core.N_ACTIONS, args.steps)
    env = gymnasium.make("fxconsole/Trading-v0", data=data, config=cfg)
    print(f"data: {len(data):,} bars, train sessions {data.session_counts()['train']:,}; "
          f"{args.steps:,} random steps, best of {args.repeat}")
    print(f"wrappers applied by make: {env}")
    ours_make = steps_per_second(env, actions, args.repeat)
    ours_raw = steps_per_second(env.unwrapped, actions, args.repeat)
    muzero = gymnasium.make("fxconsole/Trading-v0", data=data, config=cfg,
                            observation="muzero").unwrapped
    ours_muzero = steps_per_second(muzero, actions, args.repeat)
    print(f"fxconsole ppo    via make: {ours_make:>10,.0f} steps/s")
    print(f"fxconsole ppo    unwrapped: {ours_raw:>9,.0f} steps/s")
    print(f"fxconsole muzero unwrapped: {ours_muzero:>9,.0f} steps/s")
    py_loop, nb_loop = kernel_figures(env.unwrapped, actions, args.repeat)
    print(f"numba core, Python loop:    {py_loop:>9,.0f} steps/s")
    print(f"numba core, compiled loop:  {nb_loop:>9,.0f} steps/s")
    peer = anytrading_figures(args.steps, args.repeat)
    if peer is None:
        print("gym-anytrading not installed: `pip install gym-anytrading` for the ratios")
        return
    print(f"gym-anytrading forex-v0 via make: {peer[0]:>10,.0f} steps/s")
    print(f"gym-anytrading forex-v0 unwrapped: {peer[1]:>9,.0f} steps/s")
    print(f"ratio via make:  {ours_make / peer[0]:.2f}× (target ≥ 2×)")
    print(f"ratio unwrapped: {ours_raw / peer[1]:.2f}×")


if __name__ == "__main__":
    main()
