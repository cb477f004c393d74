"""A MuZero checkpoint round trip plays identically; backtests are deterministic and the
sessions' cached encodings play like each window's; shards are whole or absent, also
when their writer is SIGKILLed mid-write."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fxconsole.agents.manifest import CheckpointError
from fxconsole.agents.muzero.codec import MuZeroModel, load_model
from fxconsole.agents.muzero.learner import Learner
from fxconsole.agents.muzero.networks import MuZeroNet
from fxconsole.agents.muzero.policy import MuZeroPolicy
from fxconsole.agents.muzero.search import SearchConfig
from fxconsole.agents.muzero.selfplay import Episode
from fxconsole.agents.muzero.shards import ShardTail, read_shard, write_shard
from fxconsole.config import Config
from fxconsole.evaluation.backtest import play_sessions
from fxconsole.trading.batch import MuZeroBatch, legal_actions, new_batch
from fxconsole.trading.market_data import MarketData


def saved(model: MuZeroModel) -> bytes:
    buf = io.BytesIO()
    model.save(buf)
    return buf.getvalue()


def test_checkpoint_round_trip_decides_identically(small_net: MuZeroNet, mz_data: MarketData,
                                                   mz_cfg: Config) -> None:
    learner = Learner(small_net, mz_cfg.muzero)
    model = MuZeroModel(small_net, learner.optimizer.state_dict(), {"episodes": 7, "updates": 3})
    loaded = load_model(saved(model), "x")
    assert loaded.counters == {"episodes": 7, "updates": 3}
    assert loaded.optimizer is not None
    for key, value in small_net.state_dict().items():
        assert torch.equal(value, loaded.net.state_dict()[key]), key
    starts = mz_data.split_starts("validation")[:6]
    states, obs = new_batch(starts, mz_cfg, mz_data, "muzero")
    assert isinstance(obs, MuZeroBatch)
    legal = legal_actions(states)
    a = MuZeroPolicy(small_net, SearchConfig())(obs, legal)
    b = MuZeroPolicy(loaded.net, SearchConfig())(obs, legal)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(CheckpointError, match="bad.zip: not a MuZero model file"):
        load_model(b"PK\x03\x04 not a model", "bad.zip")


class Recording(MuZeroPolicy):
    """Records each call's actions and root values."""

    calls: list[tuple[np.ndarray, np.ndarray]]

    def __call__(self, obs, legal):  # type: ignore[no-untyped-def]
        actions = super().__call__(obs, legal)
        self.calls.append((actions.copy(), self.last_values.copy()))
        return actions


class WindowsOnly(Recording):
    """The same policy, never using the sessions' cached encodings."""

    def prepare_sessions(self, table: np.ndarray, starts: np.ndarray, length: int) -> None:
        pass

    def __call__(self, obs, legal):  # type: ignore[no-untyped-def]
        return super().__call__(MuZeroBatch(obs.temporal, obs.static), legal)


def test_backtests_are_deterministic_and_the_cache_plays_like_windows(
        small_net: MuZeroNet, mz_data: MarketData, mz_cfg: Config) -> None:
    starts = mz_data.split_starts("validation")[:8]
    policies = [Recording(small_net, SearchConfig()) for _ in range(2)]
    policies.append(WindowsOnly(small_net, SearchConfig()))
    results = []
    for policy in policies:
        policy.calls = []
        results.append(play_sessions(policy, mz_data, starts, mz_cfg, "validation"))
    assert results[0].trades == results[1].trades == results[2].trades
    assert len(policies[0].calls) == 360
    for a, b, w in zip(*(p.calls for p in policies), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[0], w[0])
        np.testing.assert_allclose(a[1], w[1], atol=1e-4)  # cached = window encodings


def test_shard_round_trip_and_tail(tmp_path: Path, played: list[Episode]) -> None:
    folder = tmp_path / "replay"
    write_shard(folder, "a-1", played[:2], {"actor": "a"})
    time.sleep(0.01)
    write_shard(folder, "a-2", played[2:], {"actor": "a"})
    shard = read_shard(folder / "a-1.npz")
    assert shard.meta == {"actor": "a"}
    for got, want in zip(shard.episodes, played[:2], strict=True):
        for name in ("rows", "static", "actions", "rewards", "policy", "values", "chance"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
        assert got.trades == want.trades and got.start == want.start
    (folder / ".tmp-half.npz").write_bytes(b"PK\x03")
    (folder / "broken.npz").write_bytes(b"not a zip")
    tail = ShardTail(folder, keep=1)
    names = [s.name for s in tail.poll()]
    assert names == ["a-1", "a-2"]
    assert tail.poll() == []
    assert (folder / "broken.bad").exists()
    old = time.time() - 3600
    os.utime(folder / ".tmp-half.npz", (old, old))
    assert tail.prune() == 1
    assert sorted(p.name for p in folder.iterdir()) == ["a-2.npz", "broken.bad"]


WRITER = """
import sys, numpy as np
from fxconsole.agents.muzero.selfplay import Episode
from fxconsole.agents.muzero.shards import write_shard
from pathlib import Path
n = 360
eps = [Episode(i, np.arange(n), np.random.rand(n, 6).astype(np.float32),
               np.zeros(n, np.int8), np.random.rand(n).astype(np.float32),
               np.full((n, 4), 0.25, np.float32), np.zeros(n, np.float32),
               np.zeros(n, np.int8), [{"pips": 1.0}] * 50) for i in range(256)]
print("ready", flush=True)
k = 0
while True:
    k += 1
    write_shard(Path(sys.argv[1]), f"w-{k:06d}", eps, {"k": k})
"""


def test_a_writer_killed_mid_write_leaves_no_misreadable_shard(tmp_path: Path) -> None:
    folder = tmp_path / "replay"
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    tail = ShardTail(folder, keep=10**6)
    shards = tail.poll()
    assert shards, "the writer wrote no shard"
    assert all(len(s.episodes) == 256 for s in shards)
    assert not list(folder.glob("*.bad"))
    leftovers = [p.name for p in folder.iterdir() if p.suffix != ".npz"
                 or p.name.startswith(".tmp-")]
    assert all(name.startswith(".tmp-") for name in leftovers)
