"""MuZero self-play and learner speed on one core (issue 13). Prints figures only.

Self-play: the seed's networks (SPEC §7: TCN 9 → 240, 256-float states, 601-atom heads),
untrained, on 0.5 years of synthetic M1 bars (train split, 360-bar sessions), torch and
numba on one thread. Three ways of playing, all in this process:

- **batched** — :class:`~fxconsole.agents.muzero.selfplay.SelfPlayer`: ``--envs``
  (each of 16 and 64 by default; ``muzero.envs`` is 64) sessions in lockstep, the
  sessions' bars encoded by one TCN pass per session, one batched search per step for
  every session (trees in arrays, ≤ 1 afterstate and ≤ 1
  dynamics call per simulation for the whole batch);
- **per-env** — the same networks and the same search code, one environment at a time:
  each decision encodes its own 32-bar window and searches a batch of one (what a
  per-environment Python search does, the seed's way);
- both at ``--simulations`` 5 (the default) and 25.

The per-env figure is measured over ``--per-env-steps`` decisions (not whole episodes:
it is slow) and stated as steps/s and episodes/h at 360 steps an episode.

Learner: :class:`~fxconsole.agents.muzero.learner.Learner` updates on batches of 64
samples unrolled 5 steps, from a buffer filled by the batched self-play.

    .venv/bin/python bench/bench_muzero_selfplay.py [--envs 16,64] [--per-env-steps 300]
"""

from __future__ import annotations

import argparse
import copy
import logging
import time

import numpy as np
import torch

from fxconsole.agents.muzero.learner import Learner
from fxconsole.agents.muzero.model import InferenceModel
from fxconsole.agents.muzero.networks import MuZeroNet
from fxconsole.agents.muzero.replay import ReplayBuffer
from fxconsole.agents.muzero.search import SearchConfig
from fxconsole.agents.muzero.selfplay import SelfPlayer, choose_actions
from fxconsole.config import Config, with_overrides
from fxconsole.market.synth import synth_bars
from fxconsole.trading.batch import TRADE_ROW, MuZeroBatch, legal_actions, new_batch, step_batch
from fxconsole.trading.market_data import MarketData

SESSION = 360


def batched(player: SelfPlayer, envs: int) -> tuple[float, float]:
    """One lockstep batch of ``envs`` episodes: (steps/s, episodes/h)."""
    started = time.perf_counter()
    episodes = player.play(0, n=envs)
    took = time.perf_counter() - started
    steps = sum(len(e) for e in episodes)
    return steps / took, len(episodes) * 3600.0 / took


def per_env(model: InferenceModel, data: MarketData, cfg: Config, steps: int,
            sims: int) -> tuple[float, float]:
    """One environment at a time: window TCN + a search of one root per decision."""
    rng = np.random.default_rng(1)
    search = SearchConfig(simulations=sims)
    starts = np.asarray([data.split_starts("train")[0]], np.int64)
    states, obs = new_batch(starts, cfg, data, "muzero")
    assert isinstance(obs, MuZeroBatch)
    closed = np.empty((1, TRADE_ROW))
    started = time.perf_counter()
    for done in range(steps):
        if done and done % SESSION == 0:
            states, obs = new_batch(starts, cfg, data, "muzero")
            assert isinstance(obs, MuZeroBatch)
        legal = legal_actions(states)
        encoded = model.encode_windows(obs.temporal)
        result = model.search(encoded, obs.static, legal, search, rng)
        action = choose_actions(result.visits, legal, 1.0, 0.2, rng)
        step_batch(action, data.table, states, obs, closed)
    took = time.perf_counter() - started
    return steps / took, steps / SESSION * 3600.0 / took


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="16,64",
                        help="sessions in lockstep (comma-separated: each is measured)")
    parser.add_argument("--per-env-steps", type=int, default=300,
                        help="decisions timed for the per-env search")
    parser.add_argument("--updates", type=int, default=30, help="learner updates timed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    base = Config()
    data = MarketData.from_bars(synth_bars(years=0.5, seed=3, signal=3.0), base.data)
    net = MuZeroNet()
    params = sum(p.numel() for p in net.parameters())
    print(f"networks: {params:,} parameters (SPEC §7 defaults); one thread; "
          f"{data.session_counts()['train']:,} train sessions")
    warm = SelfPlayer(InferenceModel(copy.deepcopy(net)), data, base, np.random.default_rng(0))
    warm.play(0, n=2)  # compile numba kernels, warm torch
    rows = []
    buffer = ReplayBuffer(base.muzero)
    env_counts = [int(part) for part in args.envs.split(",")]
    for sims in (5, 25):
        cfg = with_overrides(base, "muzero", simulations=sims)
        steps = args.per_env_steps if sims == 5 else max(args.per_env_steps // 3, 60)
        u_steps, u_eph = per_env(InferenceModel(copy.deepcopy(net)), data, cfg, steps, sims)
        print(f"{sims:>2} simulations: per-env {u_steps:,.1f} steps/s = {u_eph:,.0f} "
              f"episodes/h ({steps} decisions)")
        for envs in env_counts:
            player = SelfPlayer(InferenceModel(copy.deepcopy(net)), data, cfg,
                                np.random.default_rng(sims))
            b_steps, b_eph = batched(player, envs)
            if sims == 5 and not len(buffer):
                for ep in player.play(0, n=envs):
                    buffer.add(ep)
            rows.append((sims, envs, b_steps, b_eph, u_steps))
            print(f"{sims:>2} simulations: batched ({envs} envs) {b_steps:,.0f} steps/s "
                  f"= {b_eph:,.0f} episodes/h · ratio to per-env {b_steps / u_steps:,.1f}×")
    learner = Learner(net, base.muzero)
    rng = np.random.default_rng(2)
    learner.update(buffer.sample(base.muzero.batch_size, rng, data.table))  # warm-up
    started = time.perf_counter()
    for _ in range(args.updates):
        learner.update(buffer.sample(base.muzero.batch_size, rng, data.table))
    took = time.perf_counter() - started
    ups = args.updates / took
    print(f"learner: {ups:.2f} updates/s = {ups * base.muzero.batch_size:,.0f} samples/s "
          f"(batch {base.muzero.batch_size}, unroll {base.muzero.unroll}, sampling "
          "included)")
    print()
    print(f"{'figure (one core)':<44} {'measured':>14}  goal")
    for sims, envs, b_steps, b_eph, u_steps in rows:
        print(f"{f'self-play, {sims} sims, {envs} envs: episodes/h':<44} {b_eph:>14,.0f}  "
              + ("≥ 3,000 (seed ~200)" if sims == 5 else "-"))
        print(f"{f'self-play, {sims} sims, {envs} envs: / per-env':<44} "
              f"{b_steps / u_steps:>13,.1f}×  " + ("≥ 20×" if sims == 5 else "-"))
    print(f"{'learner: updates/s (samples/s)':<44} "
          f"{f'{ups:.2f} ({ups * base.muzero.batch_size:,.0f})':>14}  -")


if __name__ == "__main__":
    main()
