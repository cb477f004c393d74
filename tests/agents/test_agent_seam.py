"""The Agent seam: the registry, checkpoints loaded as Policies, observations of each kind.

PPO became the first agent behind the seam without changing a figure: a fixed
checkpoint's backtest trades are those recorded before the seam existed (the digests
below were computed with the pre-seam code path on the same data and weights).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fxconsole.agents.base import Policy
from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.manifest import CheckpointError
from fxconsole.agents.ppo.inference import ACTOR_MEMBER
from fxconsole.agents.registry import agent_names, get_agent, load_policy
from fxconsole.config import AGENT_OBSERVATIONS, AGENTS, Config, ConfigError, with_overrides
from fxconsole.evaluation.backtest import play_sessions, run_backtest
from fxconsole.market.synth import synth_bars
from fxconsole.trading import core
from fxconsole.trading.batch import MuZeroBatch
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData
from fxconsole.trading.spaces import observation_spec

CFG = Config()
# (trades, sessions, gated, invalid, total pips, sha256 of the trades as sorted JSON),
# recorded with the code before the seam (evaluation called the NumpyActor directly).
BEFORE = {
    "validation": (126, 38, 1102, 5458, 783.2,
                   "c8480b755745f3468796e5b2c7eeca8abe1e574fd01bd6188e9f24e5a9b43395"),
    "test": (114, 38, 591, 6286, -1451.9,
             "ca39f85e2588f32af2b39fc44f11c6d4669cf4e6766ea9fb7edcbe7a6cc4264a"),
}


@pytest.fixture(scope="module")
def data() -> MarketData:
    return MarketData.from_bars(synth_bars(years=0.25, seed=4, signal=1.0), CFG.data)


def fixed_actor_npz() -> bytes:
    rng = np.random.default_rng(11)
    weights = {
        "w0": rng.normal(0, 1.0, (16, 17)).astype(np.float32),
        "b0": rng.normal(0, 0.1, 16).astype(np.float32),
        "w1": rng.normal(0, 1.0, (4, 16)).astype(np.float32),
        "b1": np.array([0.0, 0.3, 0.3, 0.2], np.float32),
        "activation": np.array("Tanh"),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **weights)  # type: ignore[arg-type]
    return buffer.getvalue()


class _Model:
    """Anything with SB3's ``save``: the zip holds only the exported actor."""

    def save(self, buffer: io.BytesIO) -> None:
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("data", "{}")


def save_fixed(run_dir: Path, agent: str = "ppo", kind: str = "ppo") -> Path:
    RunCheckpoints(run_dir).save(
        _Model(), 1000, ["latest"], config={}, observation_spec=observation_spec(kind),
        feature_spec_version=1, extras={ACTOR_MEMBER: fixed_actor_npz()}, agent=agent)
    return run_dir / "latest.json"


@pytest.mark.parametrize("split", ["validation", "test"])
def test_a_fixed_ppo_checkpoint_trades_as_before_the_seam(tmp_path: Path, data: MarketData,
                                                         split: str) -> None:
    manifest, policy = load_policy(save_fixed(tmp_path / "fixed"))
    assert manifest.agent == "ppo" and policy.observation_kind == "ppo"
    result = run_backtest(policy, data, split, CFG)
    digest = hashlib.sha256(json.dumps(result.trades, sort_keys=True).encode()).hexdigest()
    trades, sessions, gated, invalid, pips, sha = BEFORE[split]
    assert (len(result.trades), result.sessions, result.gated, result.invalid_actions) == (
        trades, sessions, gated, invalid)
    assert round(sum(t["pips"] for t in result.trades), 6) == pips
    assert digest == sha


def test_the_registry_knows_the_configured_agents() -> None:
    assert agent_names() == AGENTS
    for name in agent_names():
        agent = get_agent(name)
        assert agent.name == name
        assert agent.observation_kind == AGENT_OBSERVATIONS[name]
    with pytest.raises(ValueError, match=r"unknown agent 'dqn'; allowed: ppo"):
        get_agent("dqn")


def test_a_checkpoint_of_an_unknown_agent_is_refused(tmp_path: Path) -> None:
    path = save_fixed(tmp_path / "alien", agent="alien")
    with pytest.raises(CheckpointError, match=r"alien.*unknown agent 'alien'"):
        load_policy(path)


def test_a_checkpoint_of_another_observation_kind_is_refused(tmp_path: Path) -> None:
    path = save_fixed(tmp_path / "mz", agent="ppo", kind="muzero")
    with pytest.raises(CheckpointError, match="observation spec"):
        load_policy(path)


def test_config_takes_the_muzero_agent_and_refuses_unknown_ones() -> None:
    assert with_overrides(CFG, "train", agent="muzero").train.agent == "muzero"
    assert with_overrides(CFG, "env", observation="muzero").env.observation == "muzero"
    with pytest.raises(ConfigError, match=r"train.agent = 'alien' is not allowed"):
        with_overrides(CFG, "train", agent="alien")


class RecordingPolicy:
    """Records what a backtest shows it; trades by a fixed rule on the position."""

    def __init__(self, kind: str) -> None:
        self.observation_kind = kind
        self.seen: list[tuple[Any, np.ndarray]] = []

    def __call__(self, obs: Any, legal: np.ndarray) -> np.ndarray:
        kept = (MuZeroBatch(obs.temporal.copy(), obs.static.copy())
                if isinstance(obs, MuZeroBatch) else obs.copy())  # the buffers are reused
        self.seen.append((kept, legal.copy()))
        side = obs.static[:, 0] if isinstance(obs, MuZeroBatch) else obs[:, 7]
        step = len(self.seen)
        return np.where(side == 0, core.BUY if step % 3 else core.SELL,
                        core.CLOSE if step % 7 == 0 else core.HOLD).astype(np.int64)


def test_backtests_show_a_policy_its_observation_kind_and_the_legal_actions(
        data: MarketData) -> None:
    starts = data.split_starts("validation")[:3].astype(np.int64)
    cfg = with_overrides(CFG, "env", gating=False)
    by_kind = {}
    for kind in ("ppo", "muzero"):
        policy: Policy = RecordingPolicy(kind)
        by_kind[kind] = (play_sessions(policy, data, starts, cfg, "validation"), policy)
    (ppo, ppo_policy), (mz, mz_policy) = by_kind["ppo"], by_kind["muzero"]
    assert ppo.trades == mz.trades  # the same rule on the same positions: the same trades
    for step in (0, 1, 100, 359):
        obs, legal = mz_policy.seen[step]  # type: ignore[attr-defined]
        assert isinstance(obs, MuZeroBatch)
        assert obs.temporal.shape == (3, 32, 9) and obs.static.shape == (3, 6)
        ppo_obs, ppo_legal = ppo_policy.seen[step]  # type: ignore[attr-defined]
        np.testing.assert_array_equal(legal, ppo_legal)
        np.testing.assert_array_equal(ppo_obs[:, 7:13], obs.static)  # the same position
        flat = obs.static[:, 0] == 0
        np.testing.assert_array_equal(legal, np.stack(
            [np.ones(3, bool), flat, flat, ~flat], axis=1))
    # The window is the one the environment shows at the same bar.
    env = TradingEnv(data=data, config=cfg, observation="muzero", split="validation")
    first, _ = env.reset(options={"start_index": int(starts[0])})
    np.testing.assert_array_equal(mz_policy.seen[0][0].temporal[0],  # type: ignore[attr-defined]
                                  first["temporal"])


def test_loading_a_ppo_policy_imports_no_torch(tmp_path: Path) -> None:
    path = save_fixed(tmp_path / "fixed")
    code = ("import sys; from pathlib import Path; from fxconsole.agents.registry import "
            f"load_policy; load_policy(Path({str(path)!r})); "
            "print(sorted(m for m in ('torch', 'stable_baselines3', 'pandas', 'pyarrow') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
