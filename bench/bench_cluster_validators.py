"""Validation on Ray validator actors against the local validator. Prints figures only.

One synthetic workspace (``--years`` of M1 bars, ``train.agent = "ppo"``) holds
``--checkpoints`` PPO checkpoints tagged ``periodic`` in run ``main``: an exported numpy
actor of seeded random weights each (no training), so that each one differs and trades.
Before any run, one of them is validated by ``fxconsole validate`` on a throwaway copy:
the check that such a checkpoint validates without error, which also fills numba's cache
so that no run pays for compiling. Then, each on a fresh copy of the workspace (no
``validations`` row, no report: every checkpoint validated anew):

- **local** — one ``python -m workers validator`` process (``cluster.backend = "local"``),
  as the supervisor starts it;
- **ray** — one ``python -m workers cluster`` process (the Ray driver, with a private
  one-host cluster in ``data/ray`` bound to 127.0.0.1) placing N validator actors and no
  collector, for N in ``--actors`` (1 and 2 by default).

Per run: the wall time from the process's start until every checkpoint's ``validations``
row (split ``validation``) is in ``console.sqlite``, checkpoints/h over that time, its ratio
to local's, the process's peak RSS (Linux ``VmHWM``: the local validator evaluates in its
own process; for ray it is the driver's, which records while its actors evaluate), and its
start-up time (process start → first validation recorded). Each process is stopped with
SIGTERM; the bench checks that none of the processes it saw under the driver listened
off 127.0.0.1 and that none is left once it has exited.

    .venv/bin/python bench/bench_cluster_validators.py [--checkpoints 4] [--actors 1,2] \
        [--years 1.0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import ipaddress
import itertools
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.ppo.inference import ACTOR_MEMBER
from fxconsole.config import config_record, load_config, with_overrides
from fxconsole.market.features import FEATURE_SPEC_VERSION
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.trading.market_data import load_market_data
from fxconsole.trading.pinning import make_pin
from fxconsole.trading.spaces import observation_spec
from fxconsole.workspace import Workspace

logger = logging.getLogger("bench_cluster_validators")
RUN = "main"
STEP = 1_000  # timesteps between two periodic checkpoints
HIDDEN = 64  # the random actor's hidden layers (SB3's MlpPolicy default: 64, 64)
TOML = """
[train]
agent = "ppo"
keep_periodic = {keep}
[workers]
validator_poll = 0.5
[supervisor]
heartbeat_timeout = 120.0
[cluster]
backend = "{backend}"
address = ""
collectors = 0
validators = {validators}
"""


@dataclass
class Figures:
    """One run's figures (seconds from the process's start)."""

    wall: float
    startup: float
    peak_rss_mb: float
    left_over: int  # Ray processes still alive after the driver exited (should be 0)
    exposed: list[str]  # listening sockets of its processes off loopback (should be none)


class _Zip:
    """Anything with SB3's ``save``: the checkpoint's zip holds only the exported actor."""

    def save(self, buffer: io.BytesIO, /) -> None:
        """Write an empty SB3-like zip to ``buffer``."""
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("data", "{}")


def random_actor(seed: int, inputs: int) -> bytes:
    """An exported actor (``fxconsole_policy.npz``) of seeded random weights.

    Args:
        seed: the weights' seed: each checkpoint its own.
        inputs: the observation's length.

    Returns:
        The npz bytes of a tanh MLP ``inputs → 64 → 64 → 4``.
    """
    rng = np.random.default_rng(seed)
    sizes = [inputs, HIDDEN, HIDDEN, 4]
    arrays: dict[str, np.ndarray] = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        arrays[f"w{i}"] = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        arrays[f"b{i}"] = (0.1 * rng.standard_normal(n_out)).astype(np.float32)
    arrays["activation"] = np.array("Tanh")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def write_config(ws: Path, backend: str, validators: int, keep: int) -> None:
    """The workspace's ``fxconsole.toml`` for one run."""
    (ws / "fxconsole.toml").write_text(
        TOML.format(backend=backend, validators=validators, keep=keep))


def prepare(root: Path, years: float, checkpoints: int) -> None:
    """Synthetic data and ``checkpoints`` periodic PPO checkpoints of random actors."""
    ws = Workspace(root).ensure()
    write_config(root, "local", 0, checkpoints)
    cfg = load_config(ws.config_file, environ={})
    with MarketStore(ws.market_db) as market:
        synthesize(market, cfg.data.symbol, cfg.data.timeframe,
                   with_overrides(cfg, "synth", years=years, seed=3).synth, cfg.data)
    data = load_market_data(ws.market_db, cfg.data.symbol, cfg.data.timeframe)
    pin = make_pin(data, cfg).to_dict()
    spec = observation_spec("ppo")
    run = RunCheckpoints(ws.checkpoints_dir / RUN, keep_periodic=checkpoints)
    for i in range(checkpoints):
        run.save(_Zip(), STEP * (i + 1), ["periodic"], config=config_record(cfg),
                   observation_spec=spec, feature_spec_version=FEATURE_SPEC_VERSION,
                   extras={ACTOR_MEMBER: random_actor(1000 + i, int(spec["shape"][0]))},
                   agent="ppo", pinned=pin)


def check(base: Path, tmp: Path) -> str:
    """Validate the newest checkpoint with ``fxconsole validate`` on a throwaway copy.

    Proves that such a checkpoint validates without error, and fills numba's cache.

    Returns:
        A line of the report's figures.

    Raises:
        RuntimeError: the validation failed or the checkpoint made no trade.
    """
    ws = copy_workspace(base, tmp / "check")
    newest = max(RunCheckpoints(ws / "checkpoints" / RUN).list(), key=lambda m: m.timesteps)
    command = [str(Path(sys.executable).parent / "fxconsole"), "--workspace", str(ws),
               "validate", f"{RUN}/{newest.tag}", "--json", "--no-chart"]
    out = subprocess.run(command, capture_output=True, text=True, env=child_env(),
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"fxconsole validate failed ({out.returncode}):\n{out.stderr}")
    report = json.loads(out.stdout)
    trades = int(report["policy"]["trades"])
    if trades == 0:
        raise RuntimeError(f"{RUN}/{newest.tag} made no trade: pick other weights")
    shutil.rmtree(ws)
    return (f"check: fxconsole validate {RUN}/{newest.tag}: {trades:,} trades, "
            f"{report['policy']['sessions']} sessions, "
            f"{'VALIDATED' if report['verdict']['validated'] else 'not validated'}, "
            f"{report['seconds']['total']:.1f} s inside the process")


def copy_workspace(base: Path, dest: Path) -> Path:
    """A fresh copy of the prepared workspace (data and checkpoints only)."""
    dest.mkdir()
    shutil.copytree(base / "data", dest / "data")
    shutil.copytree(base / "checkpoints", dest / "checkpoints")
    shutil.copy2(base / "fxconsole.toml", dest / "fxconsole.toml")
    return dest


def child_env() -> dict[str, str]:
    """A worker's environment as the pool sets it (one thread each), Ray's stats off."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def spawn(ws: Path, role: str, name: str) -> subprocess.Popen[bytes]:
    """``python -m workers ROLE`` as the supervisor starts it; output in ``NAME.out``."""
    log = (ws / f"{name}.out").open("ab")
    return subprocess.Popen([sys.executable, "-m", "workers", role, "--workspace", str(ws),
                             "--name", name, "--run", RUN], stdout=log,
                            stderr=subprocess.STDOUT, env=child_env(), start_new_session=True)


def validated(ws: Path) -> list[float]:
    """The ``ts`` of each validation-split row recorded so far, oldest first."""
    db = ws / "data" / "console.sqlite"
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:
        return []
    try:
        rows = conn.execute("SELECT ts FROM validations WHERE run = ? AND split = 'validation'"
                            " ORDER BY ts", (RUN,)).fetchall()
        return [float(ts) for (ts,) in rows]
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()


def trades_per_checkpoint(ws: Path) -> list[int]:
    """The validation trades of each recorded checkpoint (every one should trade)."""
    conn = sqlite3.connect(f"file:{ws / 'data' / 'console.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT trades FROM validations WHERE run = ? AND "
                            "split = 'validation' ORDER BY timesteps", (RUN,)).fetchall()
        return [int(t or 0) for (t,) in rows]
    finally:
        conn.close()


def peak_rss(pid: int) -> float | None:
    """The process's high-water RSS in bytes (Linux ``VmHWM``), or None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def stop(proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    """SIGTERM, then wait; its process group is killed if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("pid %d ignored SIGTERM for %.0f s: killing its group", proc.pid,
                       timeout)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def measure(ws: Path, backend: str, checkpoints: int, timeout: float) -> Figures:
    """Start the validator (``local``) or the driver (``ray``), wait for every validation.

    Raises:
        RuntimeError: the process exited, or not every checkpoint was validated in time.
    """
    started = time.time()
    proc = (spawn(ws, "cluster", "cluster") if backend == "ray"
            else spawn(ws, "validator", "validator"))
    ps = psutil.Process(proc.pid)
    seen: dict[int, psutil.Process] = {}  # every process under it (Ray's, for ray)
    rss = 0.0
    hwm: float | None = None
    exposed: list[str] = []
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the {backend} process exited with {proc.returncode}: "
                                   f"see {ws}/*.out")
            try:
                rss = max(rss, float(ps.memory_info().rss))
                hwm = peak_rss(proc.pid) or hwm
                for child in ps.children(recursive=True):
                    seen.setdefault(child.pid, child)
            except psutil.Error:
                pass
            done = validated(ws)
            if len(done) >= checkpoints:
                exposed = listening_off_loopback([ps, *seen.values()])
                break
            if time.time() - started > timeout:
                raise RuntimeError(f"{len(done)} of {checkpoints} validations after "
                                   f"{timeout:.0f} s: see {ws}/*.out")
            time.sleep(0.2)
    finally:
        stop(proc)
    left = [p for p in seen.values() if _alive(p)]
    left += [p for p in psutil.process_iter() if p.pid not in seen and p.pid != proc.pid
             and _alive(p) and any(str(ws) in arg for arg in _cmdline(p))]
    left = [p for p in psutil.wait_procs(left, timeout=10.0)[1] if _alive(p)]  # grace
    for p in left:  # a Ray process the driver should have ended: ours, ended by its pid
        logger.warning("left over after the driver exited: pid %d %s", p.pid,
                       " ".join(_cmdline(p))[:120])
        with contextlib.suppress(psutil.Error):
            p.kill()
    return Figures(done[checkpoints - 1] - started, done[0] - started,
                   (hwm if hwm is not None else rss) / 2**20, len(left), exposed)


def listening_off_loopback(procs: list[psutil.Process]) -> list[str]:
    """``pid name ip:port`` of each TCP/UDP socket of ``procs`` listening off 127.0.0.1/::1."""
    out = []
    for p in procs:
        try:
            conns = p.net_connections(kind="inet")
            name = p.name()
        except psutil.Error:
            continue
        for c in conns:
            listening = c.status == psutil.CONN_LISTEN or (not c.raddr and c.laddr)
            ip = c.laddr.ip.removeprefix("::ffff:") if c.laddr else ""  # v4-mapped
            if listening and ip and not ipaddress.ip_address(ip).is_loopback:
                out.append(f"{p.pid} {name} {c.laddr.ip}:{c.laddr.port}")
    return out


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def main() -> None:
    """Parse arguments, prepare the workspace, run each configuration, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=4,
                        help="periodic checkpoints to validate in each run")
    parser.add_argument("--actors", default="1,2", help="validator actors of each ray run")
    parser.add_argument("--years", type=float, default=1.0,
                        help="years of synthetic M1 bars")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds a run may take before the bench gives up")
    args = parser.parse_args()
    if args.checkpoints < 1:
        parser.error("--checkpoints must be ≥ 1")
    actors = [int(x) for x in args.actors.split(",") if x.strip()]
    logging.basicConfig(level=logging.WARNING)
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="fxb", dir="/tmp"))  # Ray's sockets: keep it short
    finished = False
    try:
        base = tmp / "base"
        prepare(base, args.years, args.checkpoints)
        checked = check(base, tmp)
        runs: list[tuple[str, int, Figures]] = []
        trades: list[int] = []
        for backend, n in [("local", 0), *(("ray", n) for n in actors)]:
            ws = copy_workspace(base, tmp / f"{backend}{n}")
            write_config(ws, backend, n, args.checkpoints)
            runs.append((backend, n, measure(ws, backend, args.checkpoints, args.timeout)))
            if backend == "local":
                trades = trades_per_checkpoint(ws)
            shutil.rmtree(ws, ignore_errors=True)
        finished = True
    finally:
        if finished:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"bench stopped: its workspaces (and the workers' *.out) are kept in {tmp}",
                  file=sys.stderr)
    print(f"validation of {args.checkpoints} random-actor PPO checkpoints, {args.years:g} "
          f"years of synthetic M1 bars, {os.cpu_count()} cores, load average at start "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)")
    print(checked)
    print(f"validation trades per checkpoint (local run): "
          f"{', '.join(f'{t:,}' for t in trades)}")
    for backend, n, f in runs:
        if backend == "ray":
            print(f"ray, {n} actor(s): sockets listening off 127.0.0.1: "
                  f"{'; '.join(f.exposed) or 'none'}")
    print("| run | validators | wall time to all validated | checkpoints/h | vs local "
          "| peak RSS (ray: the driver) | start-up (to the first validation) "
          "| Ray processes left |")
    print("|---|---|---|---|---|---|---|---|")
    local_rate = args.checkpoints * 3600.0 / runs[0][2].wall
    for backend, n, f in runs:
        rate = args.checkpoints * 3600.0 / f.wall
        left = str(f.left_over) if backend == "ray" else "–"
        print(f"| {backend} | {n if backend == 'ray' else 'local process'} | {f.wall:.1f} s | "
              f"{rate:,.0f} | {rate / local_rate:.2f}× | {f.peak_rss_mb:.0f} MB | "
              f"{f.startup:.1f} s | {left} |")


if __name__ == "__main__":
    main()
