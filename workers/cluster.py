"""The cluster worker: the Ray driver of ``cluster.backend = "ray"`` (issue 15).

Its own process under the supervisor, never the UI's or the supervisor's: it joins the
cluster (:mod:`fxconsole.cluster.session`), places the collector and validator actors
and writes what they return (:class:`fxconsole.cluster.driver.ClusterDriver`), and obeys
``restart-actor`` (the console's ``r`` on an actor's row, forwarded by the supervisor)
and ``validate`` (a checkpoint queued for the validator actors).
When the cluster's head cannot be reached or is lost it records a ``cluster-lost`` event
and exits with 69 (``EX_UNAVAILABLE``): the supervisor restarts it under its crash policy
and, with ``cluster.fallback_local``, starts local collectors meanwhile.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from fxconsole.cluster.driver import ClusterDriver
from fxconsole.cluster.session import ClusterUnavailable, connect
from fxconsole.cluster.store import ClusterStore
from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.trading.market_data import load_market_data

logger = logging.getLogger(__name__)

EX_UNAVAILABLE = 69


def main(rt: WorkerRuntime) -> None:
    """Join, place the actors, then loop until told to stop; exit 69 if the head is lost."""
    cfg = rt.config
    store = ClusterStore(rt.conn, rt.run, rt.workspace.checkpoints_dir, driver=rt.name)
    driver = ClusterDriver(cfg, rt.workspace, rt.run, store)  # checks train.agent first
    rt.beat(0, {"backend": "ray", "state": "joining"}, force=True)
    try:
        address = connect(cfg.cluster, rt.workspace.data_dir, f"fxconsole-{rt.run}")
        _obey_signals(rt)  # ray.init installed its own SIGTERM handler (it exits 15)
        market = load_market_data(rt.workspace.market_db, cfg.data.symbol, cfg.data.timeframe)
        driver.start(market)
        store.prune_tasks()
        rt.handlers["restart-actor"] = lambda args: driver.restart(str(args["worker"]))
        rt.handlers["validate"] = lambda args: driver.ask(str(args.get("checkpoint", "")))
        store.event("info", "cluster-joined",
                    f"joined Ray cluster {address}: {len(driver.nodes)} node(s), "
                    f"{cfg.cluster.collectors} collector and {cfg.cluster.validators} "
                    "validator actor(s)", driver.info())
        while not rt.stop.is_set():
            driver.step(wait=0.5)
            rt.beat(sum(s.episodes for s in driver.slots.values()),
                    {**driver.info(), "address": address})
    except ClusterUnavailable as exc:
        logger.error("%s", exc)
        store.event("error", "cluster-lost", f"Ray cluster unavailable: {exc}", {})
        _shutdown(driver)
        sys.exit(EX_UNAVAILABLE)
    _shutdown(driver)
    logger.info("cluster driver stopped; its actors are gone")


def _obey_signals(rt: WorkerRuntime) -> None:
    """SIGTERM and SIGINT set the stop flag again: the driver then stops its actors."""
    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping the actors, then exiting", signum)
        rt.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _shutdown(driver: ClusterDriver) -> None:
    import ray

    driver.close()
    try:
        ray.shutdown()
    except Exception:  # the head may be gone
        logger.debug("ray.shutdown failed", exc_info=True)
