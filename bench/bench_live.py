"""Live trading speed: decision latency from a new bar to the order request, and the live
worker's memory and idle CPU. Prints figures only.

A temporary workspace gets a small synthetic data set (0.25 years of M1 bars) and a real
PPO checkpoint trained for 20,480 steps (about 5 s), traded through its torch-free
PPO Policy (its :class:`~fxconsole.agents.ppo.inference.NumpyActor`); with
``--agent muzero`` a MuZero checkpoint of the seed's networks (one self-play batch of 16
episodes and 16 learner updates), traded through its search (SPEC §7: 5 simulations,
the most visited legal action; the window is encoded per bar). The default
configuration is used (1,440-row feature window, 2,000 bars of history), except where
noted.

1. Paper broker, in this process: :class:`~fxconsole.live.engine.LiveTrader` over the
   test split, moved one bar per step with ``PaperBroker.advance(1)``. The policy is run on
   every bar, but its action is overridden by a fixed pattern BUY, CLOSE, SELL, CLOSE, HOLD
   so that four bars in five send an order (risk: the daily loss limit off, gating off).
   "new bar" is the moment ``BarFeed.poll`` returns it; "request" the moment
   ``broker.market_order`` is called, i.e. after the journal's INTENT and SENT commits
   (the trader's own ``live/latency_ms`` measures the same span, from its own clock
   readings: bar seen in ``step`` → request out); "decided"
   the moment the trader's observer gets the decision (journal, state and metrics
   written). The breakdown times the features, the policy, every journal/``live_state``
   write (SQLite commits, WAL, the journal's synchronous=FULL), the broker calls, the
   metrics writer and garbage collection, for the mean bar and for the slowest 1 % of
   steps. Run twice: with the journal's synchronous=FULL (what the live worker uses) and
   with NORMAL (what it used before issue 16), to show what durability costs. Bars come
   back to back (a tight loop), so the metrics writer's once-a-second flush carries
   hundreds of bars' rows, far more than live, where a bar comes once a minute.
2. OANDA broker against the fake v20 server of the tests (its own process on 127.0.0.1, so
   that its Python does not share this process's GIL) with the pricing stream on, as the
   worker runs it. The server's clock is moved one minute per bar and a new price is
   streamed; once it has arrived the trader steps: one candles request finds the bar, the
   quote comes from the stream, the order is one POST. Reported: new bar → request sent,
   and → fill received (the whole HTTP round trip), plus the candles poll itself.
3. A real ``fxconsole live --broker paper`` process trading the deployed checkpoint, at
   ``live.bars_per_second = 0.1`` (a bar every 10 s: mostly idle) and at the default 2
   bars/s: start-up to the first decision, then RSS (and the process's peak, VmHWM) and
   CPU over ``--idle-seconds``.

    .venv/bin/python bench/bench_live.py [--bars 2000] [--oanda-bars 300] [--idle-seconds 20]
        [--journal-only]   (only part 1, FULL vs NORMAL)
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import math
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

from fxconsole.agents.base import Policy
from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.manifest import read_manifest
from fxconsole.agents.ppo.train import train_ppo
from fxconsole.agents.registry import load_policy
from fxconsole.agents.sinks import MemorySink
from fxconsole.brokers.base import Broker
from fxconsole.brokers.credentials import Credentials
from fxconsole.brokers.factory import paper_bars
from fxconsole.brokers.oanda import OandaBroker
from fxconsole.brokers.paper import PaperBroker
from fxconsole.config import Config, OandaConfig, with_overrides
from fxconsole.live.engine import LiveTrader
from fxconsole.live.journal import TOTALS
from fxconsole.market.bars import pip_size
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.ops.db import connect
from fxconsole.ops.writer import MetricsWriter
from fxconsole.trading.core import BUY, CLOSE, HOLD, SELL
from fxconsole.workspace import Workspace

RUN = "bench-live"
PATTERN = (BUY, CLOSE, SELL, CLOSE, HOLD)
WARMUP_BARS = 20  # decided but not counted (first calls, caches)
FAKE_DIR = Path(__file__).resolve().parent.parent / "tests" / "support"
OANDA_START = datetime(2024, 1, 8, 10, 0, tzinfo=UTC)  # a Monday morning
MINUTE_NS = 60 * 10**9
BUCKETS = ("features", "policy", "journal", "broker", "metrics", "gc")


# --- timing ------------------------------------------------------------------------------

@dataclass
class BarTiming:
    """perf_counter stamps (s) and bucket totals of one step that found a new bar."""

    start: float
    seen: float = math.nan
    request: float = math.nan
    reply: float = math.nan
    decided: float = math.nan
    end: float = math.nan
    trader_ms: float = math.nan  # the trader's own live/latency_ms
    buckets: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def ordered(self) -> bool:
        """An order request went out on this bar."""
        return not math.isnan(self.request)


class Probe:
    """Wraps a trader's collaborators to time each step that finds a new bar."""

    def __init__(self) -> None:
        self.bars: list[BarTiming] = []
        self.current: BarTiming | None = None
        self.refused = 0

    def watch_gc(self) -> None:
        """Time the garbage collector's pauses into the ``gc`` bucket."""
        started = [0.0]

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            elif self.current is not None:
                self.current.buckets["gc"] += time.perf_counter() - started[0]

        gc.callbacks.append(callback)

    def begin(self) -> None:
        """A step starts."""
        self.current = BarTiming(time.perf_counter())

    def finish(self, new_bar: bool) -> None:
        """A step ended; keep its timing if it processed a new bar."""
        if self.current is not None and new_bar:
            self.current.end = time.perf_counter()
            self.bars.append(self.current)
        self.current = None

    def mark(self, stamp: str) -> None:
        """Set a stamp of the current step now."""
        if self.current is not None:
            setattr(self.current, stamp, time.perf_counter())

    def timed(self, bucket: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its wall time added to ``bucket`` of the current step."""
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.current is not None:
                    self.current.buckets[bucket] += time.perf_counter() - started
        return wrapper

    def instrument(self, trader: LiveTrader) -> None:
        """Wrap the trader's features, policy, journal, broker and sink (instance attributes)."""
        features = trader.features
        features.extend = self.timed("features", features.extend)  # type: ignore[method-assign]
        if trader.policy is not None:
            trader.policy = TimedPolicy(trader.policy, self.timed("policy", trader.policy))
        journal = trader.journal
        for name in ("record_intent", "mark_sent", "record_outcome", "set_states",
                     "set_state"):
            setattr(journal, name, self.timed("journal", getattr(journal, name)))
        broker: Any = trader.broker
        for name in ("now", "candles", "quote", "position"):
            setattr(broker, name, self.timed("broker", getattr(broker, name)))
        order = self.timed("broker", broker.market_order)

        def market_order(request: Any) -> Any:
            self.mark("request")
            try:
                return order(request)
            finally:
                self.mark("reply")

        broker.market_order = market_order
        sink: Any = trader.sink
        for name in ("write", "trades", "event"):
            setattr(sink, name, self.timed("metrics", getattr(sink, name)))
        poll = trader.feed.poll

        def timed_poll() -> Any:
            bars = poll()
            if bars:
                self.mark("seen")
            return bars

        trader.feed.poll = timed_poll  # type: ignore[method-assign]
        trader.observer = self.decided

    def decided(self, decision: Any) -> None:
        """The trader's observer: the decision is complete (journaled, state written)."""
        self.mark("decided")
        self.refused += decision.reason.startswith("risk")


class LatencySink:
    """A MetricsWriter that also keeps the trader's ``live/latency_ms`` values."""

    def __init__(self, writer: MetricsWriter) -> None:
        self.writer = writer
        self.latencies: list[float] = []

    def write(self, step: int, values: Mapping[str, float]) -> None:
        """Forward; remember a latency."""
        if "live/latency_ms" in values:
            self.latencies.append(values["live/latency_ms"])
        self.writer.write(step, values)

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Forward."""
        self.writer.trades(step, trades)

    def event(self, level: str, kind: str, message: str,
              data: Mapping[str, Any] | None = None) -> None:
        """Forward."""
        self.writer.event(level, kind, message, data)


class TimedPolicy:
    """A policy whose calls go through ``call`` (timed), of the same observation kind."""

    def __init__(self, policy: Policy, call: Callable[..., Any]) -> None:
        self.observation_kind = policy.observation_kind
        self.call = call

    def __call__(self, obs: Any, legal: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """The wrapped policy's actions."""
        return np.asarray(self.call(obs, legal), dtype=np.int64)


class PatternActor:
    """Runs the real policy on every bar, then plays ``PATTERN`` instead of its action."""

    def __init__(self, actor: Policy) -> None:
        self.actor = actor
        self.observation_kind = actor.observation_kind
        self.calls = 0

    def __call__(self, obs: Any, legal: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """The policy's forward pass, then the pattern's next action."""
        self.actor(obs, legal)
        action = PATTERN[self.calls % len(PATTERN)]
        self.calls += 1
        return np.array([action], dtype=np.int64)


def ms(values: list[float]) -> str:
    """p50 / p99 / max of seconds, in ms."""
    if not values:
        return "n/a"
    a = np.asarray(values) * 1000.0
    return (f"p50 {np.percentile(a, 50):6.2f}  p99 {np.percentile(a, 99):6.2f}  "
            f"max {a.max():6.2f} ms  (> 10 ms: {int((a > 10.0).sum())} of {a.size})")


def report_bars(bars: list[BarTiming], trader_ms: list[float], label: str) -> dict[str, float]:
    """Print the latency figures of the counted bars; return p99s for the summary."""
    counted = bars[WARMUP_BARS:]
    orders = [b for b in counted if b.ordered]
    holds = [b for b in counted if not b.ordered]
    wall = counted[-1].end - counted[0].start if counted else math.nan
    print(f"{label}: {len(counted):,} bars after {WARMUP_BARS} warm-up bars, {len(orders):,} "
          f"with an order; {len(counted) / wall:,.0f} decisions/s in a tight loop")
    to_request = [b.request - b.seen for b in orders]
    print(f"  new bar → order request (after the journal's INTENT+SENT commits) {ms(to_request)}")
    print(f"  trader's own live/latency_ms (same span, its own clock)         "
          f"{ms([v / 1000.0 for v in trader_ms[WARMUP_BARS:]])}")
    print(f"  new bar → reply from the broker (fill)                           "
          f"{ms([b.reply - b.seen for b in orders])}")
    print(f"  broker round trip (request → fill)                               "
          f"{ms([b.reply - b.request for b in orders])}")
    print(f"  new bar → decided, bars with an order (all journaled)           "
          f"{ms([b.decided - b.seen for b in orders])}")
    print(f"  new bar → decided, bars without an order (decision only)        "
          f"{ms([b.decided - b.seen for b in holds])}")
    print(f"  whole step (poll for the bar + everything)                       "
          f"{ms([b.end - b.start for b in counted])}")
    print(f"  poll until the new bar is seen                                   "
          f"{ms([b.seen - b.start for b in counted])}")
    fifth = max(1, len(orders) // 5)
    early, late = ([b.request - b.seen for b in part] for part in (orders[:fifth],
                                                                    orders[-fifth:]))
    if early and late:
        print(f"  new bar → order request p50, first vs last fifth of the orders: "
              f"{np.median(early) * 1000:.2f} → {np.median(late) * 1000:.2f} ms "
              f"(journal grows)")
    parts = "  ".join(f"{name} {_mean_ms(counted, name):.3f}" for name in BUCKETS)
    print(f"  mean per bar, ms: {parts}")
    slow = sorted(counted, key=lambda b: b.end - b.start)[-max(1, len(counted) // 100):]
    parts = "  ".join(f"{name} {_mean_ms(slow, name):.2f}" for name in BUCKETS)
    whole = float(np.mean([b.end - b.start for b in slow])) * 1000.0
    print(f"  slowest 1 % of steps ({len(slow)}), mean ms: whole {whole:.2f} = {parts}  "
          f"other {whole - sum(_mean_ms(slow, name) for name in BUCKETS[:-1]):.2f} "
          "(gc pauses overlap the others)")
    p99 = float(np.percentile(to_request, 99)) * 1000.0 if to_request else math.nan
    p99_hold = float(np.percentile([b.decided - b.seen for b in holds], 99)) * 1000.0 \
        if holds else math.nan
    p50 = float(np.percentile(to_request, 50)) * 1000.0 if to_request else math.nan
    return {"p99": p99, "p50": p50, "p99_hold": p99_hold}


def _mean_ms(bars: list[BarTiming], bucket: str) -> float:
    return float(np.mean([b.buckets.get(bucket, 0.0) for b in bars])) * 1000.0 if bars else 0.0


# --- set-up --------------------------------------------------------------------------------

def prepare(ws: Workspace, agent: str = "ppo") -> float:
    """Synthetic data, a short run of ``agent`` and its deployed pointer; return the
    seconds taken."""
    started = time.perf_counter()
    cfg = with_overrides(Config(), "synth", years=0.25)
    with MarketStore(ws.market_db) as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    if agent == "muzero":
        from fxconsole.agents.base import TrainRequest
        from fxconsole.agents.muzero.train import train_muzero

        mz = with_overrides(cfg, "muzero", updates_per_episode=1.0)
        result = train_muzero(TrainRequest(mz, ws, MemorySink(), timesteps=5_760, run=RUN))
    else:
        result = train_ppo(cfg, ws, MemorySink(), timesteps=20_480, run=RUN)
    RunCheckpoints(result.run_dir).point("deployed", read_manifest(result.latest))
    return time.perf_counter() - started


def bench_config() -> Config:
    """Defaults, with the daily loss limit off (the pattern pays the spread every trade)."""
    return with_overrides(Config(), "risk", daily_loss_pips=0.0).validated()


def make_trader(broker: Broker, conn: sqlite3.Connection, actor: Policy, cfg: Config,
                ) -> tuple[LiveTrader, LatencySink, Probe]:
    """A started, instrumented trader with the pattern actor on ``broker``."""
    sink = LatencySink(MetricsWriter(conn, RUN, "live", source="live"))
    trader = LiveTrader(broker, conn, PatternActor(actor), cfg, sink, run=RUN,
                        deployed="bench")
    if not trader.start():
        raise RuntimeError("the trader did not start")
    probe = Probe()
    probe.instrument(trader)
    probe.watch_gc()
    return trader, sink, probe


def step(trader: LiveTrader, probe: Probe) -> bool:
    """One timed step."""
    probe.begin()
    new = trader.step()
    probe.finish(new)
    return new


# --- 1. paper ------------------------------------------------------------------------------

def bench_paper(ws: Workspace, actor: Policy, n_bars: int,
                synchronous: str = "FULL") -> dict[str, float]:
    """The paper broker in this process, one bar per step, the journal's connection at
    ``synchronous`` (FULL as the live worker runs it, or NORMAL to compare)."""
    cfg = bench_config()
    conn = connect(ws.root / f"paper-bench-{synchronous.lower()}.sqlite")
    broker = PaperBroker(conn, paper_bars(cfg, ws), "GBP_JPY", pip_size(cfg.data.symbol),
                         cfg.env.spread_pips, bars_per_second=None)
    trader, sink, probe = make_trader(broker, conn, actor, cfg)
    conn.execute(f"PRAGMA synchronous = {synchronous}")  # the Journal set FULL
    try:
        step(trader, probe)
        while len(probe.bars) < n_bars + WARMUP_BARS:
            broker.advance(1)
            step(trader, probe)
        trader.close()
    finally:
        sink.writer.close()
        broker.close()
        conn.close()
    out = report_bars(probe.bars, sink.latencies,
                      f"1. paper broker, in-process, journal synchronous={synchronous}")
    print(f"  (orders refused by the risk limits, e.g. the weekend: {probe.refused})")
    return out


# --- 2. OANDA against the fake v20 server ----------------------------------------------------

def fake_server(pipe: Any, nagle: bool) -> None:
    """The fake v20 server in its own process, driven through ``pipe``.

    Its ``http.server`` handler writes the headers and the body of a reply in two sends;
    with Nagle's algorithm on, the body waits for the client's delayed ACK (~40 ms on
    Linux) on every request. A real server does not do that, so it is off unless ``nagle``.
    """
    sys.path.insert(0, str(FAKE_DIR))
    module = importlib.import_module("fake_v20")
    module._Handler.disable_nagle_algorithm = not nagle
    fake = module.FakeV20()
    fake.heartbeat_seconds = 5.0  # OANDA's pricing stream heartbeat
    fake.now_ns = int(OANDA_START.timestamp()) * 10**9
    fake.start()
    pipe.send((fake.api_url, fake.token, fake.account))
    while True:
        msg = pipe.recv()
        if msg[0] == "stop":
            break
        fake.now_ns = msg[1]
        fake.set_price("GBP_JPY", msg[2], msg[2] + 0.03)
        pipe.send("ok")
    fake.close()
    pipe.send("closed")


def bench_oanda(ws: Workspace, actor: Policy, n_bars: int, nagle: bool
                ) -> dict[str, float]:
    """The OANDA broker (pricing stream on) against the fake server in another process."""
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    server = ctx.Process(target=fake_server, args=(there, nagle), daemon=True)
    server.start()
    api_url, token, account = here.recv()
    now = [int(OANDA_START.timestamp()) * 10**9]
    ocfg = OandaConfig(api_url=api_url, stream_url=api_url)
    broker = OandaBroker(ocfg, Credentials(token, account), environ={}, clock=lambda: now[0])
    cfg = bench_config()
    conn = connect(ws.root / "oanda-bench.sqlite")
    trader, sink, probe = make_trader(broker, conn, actor, cfg)
    try:
        step(trader, probe)
        for k in range(n_bars + WARMUP_BARS):
            now[0] += MINUTE_NS
            here.send(("tick", now[0], round(187.5 + 0.01 * (k % 50), 3)))
            here.recv()
            wait_for_streamed(broker, now[0])
            step(trader, probe)
        trader.close()
    finally:
        sink.writer.close()
        broker.close()
        conn.close()
        here.send(("stop",))
        here.recv()
        server.join(timeout=5)
    return report_bars(probe.bars, sink.latencies,
                       "2. OANDA broker → fake v20 server on 127.0.0.1 (stream on, Nagle "
                       f"{'on' if nagle else 'off'})")


def wait_for_streamed(broker: OandaBroker, now_ns: int, timeout: float = 5.0) -> None:
    """Until the stream has delivered the price of ``now_ns`` (else quotes are requests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.quote("GBP_JPY").ts >= now_ns:
            return
        time.sleep(0.001)


# --- 3. the live process ---------------------------------------------------------------------

def read_totals(db: Path) -> float:
    """Decisions made so far by the live process (0 until it has decided)."""
    if not db.exists():
        return 0.0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT value FROM live_state WHERE key = ?",
                               (TOTALS,)).fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0.0
    return float(json.loads(row[0]).get("decisions", 0)) if row else 0.0


def tree_rss(proc: psutil.Process) -> int:
    """RSS of the process and its children, bytes."""
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs)


def tree_cpu(proc: psutil.Process) -> float:
    """User + system CPU seconds of the process and its children."""
    procs = [proc, *proc.children(recursive=True)]
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def peak_rss(pid: int) -> int:
    """VmHWM of a process, bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def bench_process(ws: Workspace, bars_per_second: float, seconds: float) -> dict[str, float]:
    """A real ``fxconsole live`` process: start-up, then RSS and CPU over ``seconds``."""
    fx = str(Path(sys.executable).parent / "fxconsole")
    env = {**os.environ, "FXCONSOLE_LIVE__BARS_PER_SECOND": str(bars_per_second)}
    db = ws.console_db
    before = read_totals(db)
    started = time.monotonic()
    popen = subprocess.Popen([fx, "--workspace", str(ws.root), "live", "--broker", "paper",
                              "--run", RUN], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
    proc = psutil.Process(popen.pid)
    try:
        while read_totals(db) <= before:
            if popen.poll() is not None:
                err = popen.stderr.read().decode() if popen.stderr else ""
                raise RuntimeError(f"fxconsole live exited {popen.returncode}: {err[-2000:]}")
            if time.monotonic() - started > 120:
                raise TimeoutError("fxconsole live made no decision in 120 s")
            time.sleep(0.05)
        first = time.monotonic() - started
        time.sleep(2.0)
        decided, cpu0, t0 = read_totals(db), tree_cpu(proc), time.monotonic()
        rss_max = 0
        while time.monotonic() - t0 < seconds:
            rss_max = max(rss_max, tree_rss(proc))
            time.sleep(0.25)
        cpu = (tree_cpu(proc) - cpu0) / (time.monotonic() - t0)
        out = {"first": first, "rss": tree_rss(proc) / 2**20, "rss_max": rss_max / 2**20,
               "peak": peak_rss(popen.pid) / 2**20, "cpu": 100.0 * cpu,
               "decisions": read_totals(db) - decided}
    finally:
        popen.send_signal(signal.SIGTERM)
        popen.wait(timeout=30)
    print(f"3. fxconsole live --broker paper at {bars_per_second:g} bars/s: first decision "
          f"{out['first']:.1f} s after start; over {seconds:.0f} s ({out['decisions']:.0f} "
          f"bars decided): RSS {out['rss']:.0f} MB (max sampled {out['rss_max']:.0f} MB, "
          f"process peak {out['peak']:.0f} MB), CPU {out['cpu']:.2f} % of a core")
    return out


# --- main ------------------------------------------------------------------------------------

def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=2000, help="paper bars timed")
    parser.add_argument("--oanda-bars", type=int, default=300, help="OANDA bars timed")
    parser.add_argument("--idle-seconds", type=float, default=20.0,
                        help="sampling window of each live process")
    parser.add_argument("--fake-nagle", action="store_true",
                        help="leave Nagle's algorithm on in the fake v20 server (+~40 ms "
                             "per request)")
    parser.add_argument("--agent", choices=("ppo", "muzero"), default="ppo",
                        help="the agent whose checkpoint is traded")
    parser.add_argument("--journal-only", action="store_true",
                        help="only part 1: the journal's synchronous=FULL vs NORMAL")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp)).ensure()
        took = prepare(ws, args.agent)
        what = "PPO 20,480 steps" if args.agent == "ppo" else "MuZero 16 episodes"
        print(f"set-up: 0.25 years of synthetic M1 bars + {what} in {took:.1f} s")
        _, actor = load_policy(ws.checkpoints_dir / RUN / "deployed.json")
        paper = bench_paper(ws, actor, args.bars)
        normal = bench_paper(ws, actor, args.bars, "NORMAL")
        if args.journal_only:
            print(f"\njournal synchronous=FULL vs NORMAL, new bar → order request p99: "
                  f"{paper['p99']:.2f} vs {normal['p99']:.2f} ms; p50 "
                  f"{paper['p50']:.2f} vs {normal['p50']:.2f} ms")
            return
        oanda = bench_oanda(ws, actor, args.oanda_bars, args.fake_nagle)
        idle = bench_process(ws, 0.1, args.idle_seconds)
        busy = bench_process(ws, 2.0, args.idle_seconds)
    print()
    print(f"{'figure':<58} {'measured':>12}  target")
    goal = "p99 < 10 ms" if args.agent == "ppo" else "p99 < 50 ms"
    rows = [
        ("paper: new bar → order request, p99", f"{paper['p99']:.2f} ms", goal),
        ("paper, journal synchronous=NORMAL: the same, p99", f"{normal['p99']:.2f} ms",
         "(before issue 16)"),
        ("paper: new bar → decided (no order), p99", f"{paper['p99_hold']:.2f} ms",
         goal),
        ("OANDA (fake, local): new bar → order request, p99", f"{oanda['p99']:.2f} ms",
         goal),
        ("live process, 0.1 bar/s: RSS (process peak)",
         f"{idle['rss']:.0f} ({idle['peak']:.0f}) MB", "RSS < 500 MB"),
        ("live process, 0.1 bar/s: CPU", f"{idle['cpu']:.2f} %", "idle"),
        ("live process, 2 bars/s: RSS (process peak)",
         f"{busy['rss']:.0f} ({busy['peak']:.0f}) MB", "RSS < 500 MB"),
        ("live process, 2 bars/s: CPU", f"{busy['cpu']:.2f} %", "-"),
    ]
    for name, value, target in rows:
        print(f"{name:<58} {value:>12}  {target}")


if __name__ == "__main__":
    main()
