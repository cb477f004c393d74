"""A DummyVecEnv without the per-step deepcopy of infos.

SB3's DummyVecEnv deep-copies every step's info dicts (protecting envs that reuse one
dict). The trading env builds a fresh info dict on every step, so a shallow copy of
the list is as safe; the deepcopy cost ~8 % of training time (measured with cProfile).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn


class FreshInfoDummyVecEnv(DummyVecEnv):
    """DummyVecEnv for envs that return a new info dict on every step."""

    def step_wait(self) -> VecEnvStepReturn:
        """Step every env in turn; reset the finished ones (as DummyVecEnv does)."""
        for i, env in enumerate(self.envs):
            obs, self.buf_rews[i], terminated, truncated, info = env.step(self.actions[i])
            self.buf_dones[i] = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if self.buf_dones[i]:
                info["terminal_observation"] = obs
                obs, self.reset_infos[i] = env.reset()
            self.buf_infos[i] = info
            self._save_obs(i, obs)
        return (self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones),
                list(self.buf_infos))
