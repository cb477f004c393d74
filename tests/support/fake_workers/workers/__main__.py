"""``python -m workers ROLE --workspace DIR --name NAME --run RUN --config FILE``, faked.

Each worker loads its config (a bad one exits 78, through the real exit-code contract),
then behaves as ``WORKSPACE/fake-workers.json`` says for its name (default ``loop``):

- ``loop``: sleep in one long call; SIGTERM exits 0;
- ``config-error``: raise ConfigError at start (exit 78);
- ``crash-after:SECONDS``: run that long, then raise RuntimeError (exit 1);
- ``stubborn``: ignore SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from pathlib import Path


def _exit_0(signum: int, frame: object) -> None:
    print("SIGTERM: exiting 0", flush=True)
    sys.exit(0)


def behave(mode: str) -> None:
    from fxconsole.config import ConfigError

    if mode == "config-error":
        raise ConfigError("fake.toml: ppo.n_envs = 0 must be ≥ 1")
    signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else _exit_0)
    if mode.startswith("crash-after:"):
        time.sleep(float(mode.split(":", 1)[1]))
        raise RuntimeError("OANDA said 503 (fake crash)")
    while True:
        time.sleep(300)  # one long call: only a signal ends it


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--config")
    args = parser.parse_args()
    print(f"fake worker {args.name} starting", flush=True)
    try:
        from fxconsole.config import load_config

        load_config(Path(args.config) if args.config else None)
        plan = Path(args.workspace) / "fake-workers.json"
        modes = json.loads(plan.read_text()) if plan.exists() else {}
        behave(str(modes.get(args.name, "loop")))
    except Exception as exc:
        from fxconsole.ops.exitcodes import exit_code_for

        traceback.print_exc()
        return exit_code_for(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
