"""The trading environment: ``gymnasium.make("fxconsole/Trading-v0", ...)`` (SPEC §4).

Importing this package only registers the environment id; the environment, its numba
core and the market data load when an environment is made.
"""

from __future__ import annotations

import gymnasium

ENV_ID = "fxconsole/Trading-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="fxconsole.trading.env:TradingEnv",
                       max_episode_steps=None)
