"""Support of the cluster tests: Ray's environment for a loopback cluster, and a
workspace with tiny MuZero settings, synthetic data and a saved ``latest``."""

from __future__ import annotations

from pathlib import Path

import torch

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.muzero.codec import MuZeroModel, network_shape
from fxconsole.agents.muzero.networks import MuZeroNet
from fxconsole.config import Config, config_record, load_config, with_overrides
from fxconsole.market.features import FEATURE_SPEC_VERSION
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.trading.market_data import load_market_data
from fxconsole.trading.pinning import make_pin
from fxconsole.trading.spaces import observation_spec

RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ray binds to the host's routable address unless clusters are "off": keep every
    # node, the drivers and the actors on 127.0.0.1
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_DEDUP_LOGS": "0",
}
NODE = {"num_cpus": 1, "object_store_memory": 100 * 2**20, "include_dashboard": False,
        "node_ip_address": "127.0.0.1"}
TOML = """
[train]
agent = "muzero"
[muzero]
channels = 16
static_hidden = 4
envs = 4
[supervisor]
run = "main"
startsecs = 1.0
stopwaitsecs = 15.0
heartbeat_timeout = 60.0
[cluster]
backend = "ray"
address = "{address}"
collectors = 2
"""


def make_workspace(ws: Path, address: str) -> Config:
    """Synthetic data (0.15 years), the config and an untrained ``latest``."""
    (ws / "fxconsole.toml").write_text(TOML.format(address=address))
    cfg = load_config(ws / "fxconsole.toml", environ={})
    synth = with_overrides(cfg, "synth", years=0.15, seed=12)
    with MarketStore(ws / "data" / "market.duckdb") as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, synth.synth, cfg.data)
    save_latest(ws, cfg, seed=0)
    return cfg


def save_latest(ws: Path, cfg: Config, seed: int, timesteps: int = 0) -> str:
    """Save a fresh small network as ``latest`` of run main; returns its sha256."""
    data = load_market_data(ws / "data" / "market.duckdb", cfg.data.symbol, cfg.data.timeframe)
    torch.manual_seed(seed)
    model = MuZeroModel(MuZeroNet(network_shape(cfg.muzero)), None, {"episodes": 0})
    store = RunCheckpoints(ws / "checkpoints" / "main")
    manifest = store.save(model, timesteps=timesteps, tags=["latest"],
                          config=config_record(cfg), observation_spec=observation_spec("muzero"),
                          feature_spec_version=FEATURE_SPEC_VERSION, agent="muzero",
                          pinned=make_pin(data, cfg).to_dict(),
                          state={"counters": {"episodes": 0}})
    return manifest.sha256
