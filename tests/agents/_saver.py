"""Test helper for the kill test: a zygote that forks checkpoint-saving children.

Usage: ``python _saver.py RUN_DIR KEEP_PERIODIC``. Starting torch and stable-baselines3
costs seconds, so this process pays it once, builds a tiny PPO, then for each stdin line
``go START_TIMESTEPS`` forks a child that saves checkpoints of that PPO in a tight loop
(cycling through the tags, incrementing timesteps and perturbing a parameter so the bytes
change) until it is killed. Protocol on stdout, one line each, written with ``os.write``:
``child PID`` after the fork, ``saved PID`` after the child's first save, and
``reaped PID STATUS`` when the child has died. EOF on stdin ends the zygote.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

TAG_CYCLE = (("latest",), ("periodic",), ("latest", "best"), ("latest", "periodic"))
OBSERVATION_SPEC = {"kind": "box", "shape": [4], "dtype": "float32",
                    "features": ["x", "x_dot", "theta", "theta_dot"]}


def say(line: str) -> None:
    os.write(1, f"{line}\n".encode())


def save_forever(model: Any, run_dir: Path, keep_periodic: int, start: int) -> None:
    import torch

    from fxconsole.agents.checkpoints import RunCheckpoints

    checkpoints = RunCheckpoints(run_dir, keep_periodic=keep_periodic)
    param = next(model.policy.parameters())
    step = start
    for i in range(10**9):
        with torch.no_grad():
            param.view(-1)[0] += 1e-3
        step += 64
        model.num_timesteps = step
        checkpoints.save(
            model, step, TAG_CYCLE[i % len(TAG_CYCLE)], config={"ppo": {"n_steps": 64}},
            observation_spec=OBSERVATION_SPEC, feature_spec_version=1,
            metrics={"sqn": i / 10}, state={"saves": i}, agent="ppo",
        )
        if i == 0:
            say(f"saved {os.getpid()}")


def main() -> None:
    run_dir, keep_periodic = Path(sys.argv[1]), int(sys.argv[2])
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, seed=0,
                policy_kwargs={"net_arch": [8]})
    say("ready")
    for line in sys.stdin:
        start = int(line.split()[1])
        pid = os.fork()
        if pid == 0:
            try:
                save_forever(model, run_dir, keep_periodic, start)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)
        say(f"child {pid}")
        _, status = os.waitpid(pid, 0)
        say(f"reaped {pid} {status}")


if __name__ == "__main__":
    main()
