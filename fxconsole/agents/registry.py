"""Resolve an agent by name (``--agent``, ``train.agent``, a manifest's ``agent``) and load
a checkpoint as its Policy.

Agents are imported only when asked for, so a process that plays PPO checkpoints never
imports another agent's dependencies.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fxconsole.agents.base import Agent, Policy
from fxconsole.agents.checkpoint_load import read_verified
from fxconsole.agents.manifest import CheckpointError, Manifest, read_manifest
from fxconsole.trading.spaces import observation_spec

# name → (module, class): the agent's module must be cheap to import (no torch at import).
AGENTS: dict[str, tuple[str, str]] = {
    "ppo": ("fxconsole.agents.ppo.agent", "PPOAgent"),
    "muzero": ("fxconsole.agents.muzero.agent", "MuZeroAgent"),
}


def agent_names() -> tuple[str, ...]:
    """The registered agents."""
    return tuple(AGENTS)


def get_agent(name: str) -> Agent:
    """The agent called ``name``.

    Raises:
        ValueError: naming the agent and the registered ones.
    """
    try:
        module, cls = AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown agent {name!r}; allowed: {', '.join(AGENTS)}") from None
    agent: Agent = getattr(importlib.import_module(module), cls)()
    return agent


def load_policy(manifest_path: Path) -> tuple[Manifest, Policy]:
    """A checkpoint's Policy, by the agent its manifest names; hash and observation spec
    are checked against that agent's kind.

    Raises:
        CheckpointError: a missing, corrupt or mismatching checkpoint, or one of an agent
            this code does not know.
    """
    name = read_manifest(manifest_path).agent
    try:
        agent = get_agent(name)
    except ValueError as exc:
        raise CheckpointError(f"{manifest_path}: {exc}") from None
    # A manifest re-pointed meanwhile to another agent's checkpoint fails the spec check.
    manifest, model = read_verified(manifest_path, observation_spec(agent.observation_kind))
    return manifest, agent.load_policy(manifest, model)
