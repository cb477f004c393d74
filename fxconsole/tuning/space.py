"""What a tuning trial samples, and the configuration a trial's parameters make.

Parameters are named ``section.key`` of the configuration, so a trial's parameters are
exactly the overrides it trains with and ``tune --apply`` writes. Pure: no I/O, and the
sampler is anything with Optuna's ``suggest_*`` methods (importing this loads no Optuna).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Protocol

from fxconsole.config import REWARDS, Config, with_overrides

N_STEPS = (256, 512, 1024, 2048)
BATCH_SIZES = (64, 128, 256)
NET_ARCHS = ("64,64", "128,128", "256,256")


class Suggester(Protocol):
    """The part of ``optuna.Trial`` a search space uses."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False
                      ) -> float:
        """A float in [low, high]."""
        ...

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        """One of ``choices``."""
        ...


def sample(trial: Suggester) -> dict[str, Any]:
    """One trial's PPO parameters (issue 14's space: learning rate, n_steps, batch size,
    gamma, entropy coefficient, net size, masks on/off, the reward variant)."""
    return {
        "ppo.learning_rate": trial.suggest_float("ppo.learning_rate", 1e-5, 1e-3, log=True),
        "ppo.n_steps": trial.suggest_categorical("ppo.n_steps", N_STEPS),
        "ppo.batch_size": trial.suggest_categorical("ppo.batch_size", BATCH_SIZES),
        "ppo.gamma": trial.suggest_float("ppo.gamma", 0.95, 0.9995),
        "ppo.ent_coef": trial.suggest_float("ppo.ent_coef", 1e-4, 5e-2, log=True),
        "ppo.net_arch": trial.suggest_categorical("ppo.net_arch", NET_ARCHS),
        "ppo.mask_actions": trial.suggest_categorical("ppo.mask_actions", (True, False)),
        "env.reward": trial.suggest_categorical("env.reward", REWARDS),
    }


def by_section(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"ppo.gamma": 0.99}`` → ``{"ppo": {"gamma": 0.99}}``.

    Raises:
        ValueError: a name without a section.
    """
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for name, value in params.items():
        section, dot, key = name.partition(".")
        if not dot or not section or not key:
            raise ValueError(f"tuning parameter {name!r}: expected SECTION.KEY")
        out[section][key] = value
    return dict(out)


def configured(cfg: Config, params: dict[str, Any]) -> Config:
    """``cfg`` with a trial's parameters in place (validated like any config).

    Raises:
        ConfigError: a parameter the configuration does not have or does not allow.
    """
    for section, values in by_section(params).items():
        cfg = with_overrides(cfg, section, **values)
    return cfg


SHORT_NAMES = {"ppo.learning_rate": "lr", "ppo.n_steps": "n_steps", "ppo.batch_size": "batch",
               "ppo.gamma": "γ", "ppo.ent_coef": "ent", "ppo.net_arch": "net",
               "ppo.mask_actions": "mask", "env.reward": "reward"}


def short_params(params: dict[str, Any]) -> str:
    """A trial's parameters on one line: ``reward=mtm γ=0.98 mask=on …`` (sorted by name)."""
    return " ".join(f"{SHORT_NAMES.get(k, k)}={_short(v)}" for k, v in sorted(params.items()))


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:.3g}" if isinstance(value, float) else str(value)
