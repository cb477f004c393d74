"""The Ray driver's logic: actors placed, fed, watched and written (``workers/cluster.py``
runs it in its own process).

One :class:`ActorSlot` per ``collector-N`` and ``validator-N``: its Ray handle, the task
(a self-play batch, a batch of out-of-sample sessions, an evaluation) and the ping in
flight, and what the console shows (state, pid, node, restarts, heartbeat). Ray restarts
a dead actor (``max_restarts``) and retries the task it was running
(``max_task_retries``); the driver notices the new pid, counts a restart and records an
event. The driver only reads the run folder's checkpoints and writes shards, rows and
reports: an actor never touches the workspace. A validator actor is sent the bytes of each
new candidate or periodic checkpoint (newest first, pinned meanwhile by the actor's own
pin, :func:`pin_tag`), evaluates it and returns the
evaluation; the driver judges and records it like the local validator
(:func:`fxconsole.ops.promotion.promote`), once per report id.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fxconsole.agents.checkpoint_load import read_verified
from fxconsole.agents.manifest import CheckpointError, Manifest, read_manifest
from fxconsole.cluster.actor import (
    Checkpoint,
    CollectorActor,
    EvaluateResult,
    Identity,
    PlayResult,
    ValidatorActor,
    Weights,
    report_id,
)
from fxconsole.cluster.session import ClusterUnavailable, Node, actor_state, nodes
from fxconsole.cluster.store import ClusterStore
from fxconsole.config import Config
from fxconsole.trading.market_data import MarketData
from fxconsole.trading.metrics import RollingTrades, trade_metrics
from fxconsole.trading.spaces import observation_spec
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

PING_SECONDS = 1.0  # how often each actor is asked who it is (its heartbeat)
WEIGHTS_SECONDS = 1.0  # how often ``latest`` is checked
NODES_SECONDS = 5.0  # how often the nodes (and the head's health) are read
PENDING_SECONDS = 30.0  # an actor not placed for this long is reported (an event)
PENDING_STATES = ("PENDING_CREATION", "DEPENDENCIES_UNREADY")  # Ray's, before placement


def placement_gap(nodes: list[Node], need: float) -> str:
    """Why an actor needing ``need`` CPUs cannot be placed now ("" if a node has them).

    Args:
        nodes: the cluster's nodes (their free CPUs as Ray counts them).
        need: ``cluster.cpus_per_actor``.
    """
    alive = [n for n in nodes if n.alive]
    if any(n.free_cpus >= need for n in alive):
        return ""
    free = sum(n.free_cpus for n in alive)
    total = sum(n.cpus for n in alive)
    return (f"pending: needs {need:g} CPU, no node has it free (the cluster has {free:g} of "
            f"{total:g} CPUs free)")


def _cause(exc: Exception) -> BaseException:
    """The actor's own exception inside Ray's task error."""
    cause = getattr(exc, "cause", None)
    return cause if cause is not None else exc


def pin_tag(actor: str) -> str:
    """The pin holding the checkpoint ``actor`` validates (its model kept from gc until
    recorded): ``validating`` for ``validator-1``, as the local validator's, and
    ``validating-N`` for ``validator-N``, so that several in flight each keep theirs."""
    n = actor.rsplit("-", 1)[-1]
    return "validating" if n == "1" else f"validating-{n}"


@dataclass
class ValidationJob:
    """A checkpoint a validator actor evaluates; the validation split's result kept while
    the test split is evaluated (only when recording it would examine the checkpoint)."""

    manifest: Manifest
    path: Path  # its manifest file in the run folder (the ``validating`` pin's source)
    box: list[Any]  # [ObjectRef] of its model bytes
    sha_pinned: str = ""  # the pin set for it ("": none)
    pin_tag: str = "validating"  # its actor's own pin (:func:`pin_tag`)
    validation: EvaluateResult | None = None


@dataclass
class ActorSlot:
    """One collector or validator actor as the driver tracks it."""

    name: str
    seed: int
    role: str = "collector"
    job: ValidationJob | None = None
    handle: Any = None
    state: str = "STARTING"
    pid: int | None = None
    node: str = ""
    node_id: str = ""
    host: str = ""
    restarts: int = 0
    started: float | None = None
    heard: float | None = None  # the driver's clock when the actor last answered
    play_ref: Any = None  # a collector's play task, a validator's evaluate task
    ping_ref: Any = None
    ping_sent: float = 0.0
    episodes: int = 0
    base: int = 0  # episodes written before this driver started (not in its throughput)
    steps: int = 0
    first_batch: float | None = None
    message: str = ""
    not_before: float = 0.0  # an out-of-sample collector rests between batches (as local)
    pending_told: bool = False  # its placement's wait reported (once per placement)
    rolling: RollingTrades | None = None  # an out-of-sample collector's last trades


@dataclass
class ClusterDriver:
    """Places ``cluster.collectors`` self-play actors and ``cluster.validators`` validator
    actors and writes what they return."""

    cfg: Config
    ws: Workspace
    run: str
    store: ClusterStore
    clock: Callable[[], float] = time.time
    slots: dict[str, ActorSlot] = field(default_factory=dict)
    weights: Weights | None = None
    nodes: list[Node] = field(default_factory=list)
    _weights_box: list[Any] = field(default_factory=list)
    _market_ref: Any = None
    _next_weights: float = 0.0
    _next_nodes: float = 0.0
    _seq: int = 0
    _tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _blocked: str = ""
    _next_checkpoints: float = 0.0
    _done: set[str] = field(default_factory=set)  # checkpoints validated or in hand
    _queue: list[Manifest] = field(default_factory=list)  # to validate, newest first

    @property
    def latest(self) -> Any:
        """The run's ``latest`` manifest path."""
        return self.ws.checkpoints_dir / self.run / "latest.json"

    @property
    def run_dir(self) -> Path:
        """The run's checkpoint folder."""
        return Path(self.ws.checkpoints_dir) / self.run

    def start(self, market: MarketData) -> None:
        """Put the market data in the object store once and place every actor."""
        import ray

        self._market_ref = ray.put(market)
        for i in range(self.cfg.cluster.collectors):
            name = f"collector-{i + 1}"
            slot = ActorSlot(name, self.cfg.muzero.seed + 1000 * (i + 1))
            slot.episodes = slot.base = self.store.played_before(name)
            self.slots[name] = slot
            self._place(slot)
        if self.cfg.cluster.validators:
            self._start_validation()
        for i in range(self.cfg.cluster.validators):
            slot = ActorSlot(f"validator-{i + 1}", 0, role="validator")
            self.slots[slot.name] = slot
            self._place(slot)
        self.refresh_nodes()

    def _start_validation(self) -> None:
        """What the local validator does first: release the pins left behind (``validating``,
        ``validating-N``), take the run's validated checkpoints as done."""
        from fxconsole.ops.promotion import release_stale_pins
        from fxconsole.ops.validations import validated_shas

        release_stale_pins(self.run_dir)
        self._done = validated_shas(self.store.conn, self.run)

    def _place(self, slot: ActorSlot) -> None:
        import ray

        c = self.cfg.cluster
        cls = CollectorActor if slot.role == "collector" else ValidatorActor
        remote = ray.remote(cls).options(
            num_cpus=c.cpus_per_actor, max_restarts=c.max_restarts,
            max_task_retries=c.max_task_retries, max_concurrency=2,
            scheduling_strategy="SPREAD")
        if slot.role == "collector":
            slot.handle = remote.remote(slot.name, self.cfg, self._market_ref, slot.seed)
        else:
            slot.handle = remote.remote(slot.name, self.cfg, self._market_ref)
        self._requeue(slot)
        slot.state, slot.play_ref, slot.ping_ref = "STARTING", None, None
        slot.pending_told = False
        slot.started = self.clock()
        self._publish(slot)

    # ------------------------------------------------------------------ the loop
    def step(self, wait: float = 0.5) -> None:
        """One pass: weights, pings, plays; wait up to ``wait`` s for results.

        Raises:
            ClusterUnavailable: the head stopped answering.
        """
        import ray

        now = self.clock()
        if now >= self._next_weights:
            self._next_weights = now + WEIGHTS_SECONDS
            self.poll_weights()
        if now >= self._next_nodes:
            self._next_nodes = now + NODES_SECONDS
            self.refresh_nodes()
            self.check_pending(now)
        if self.cfg.cluster.validators and now >= self._next_checkpoints:
            self._next_checkpoints = now + self.cfg.workers.validator_poll
            self.poll_checkpoints()
        for slot in self.slots.values():
            self._submit(slot, now)
        refs = {r: (s, kind) for s in self.slots.values()
                for r, kind in ((s.ping_ref, "ping"), (s.play_ref, "play")) if r is not None}
        if not refs:
            time.sleep(wait)
            return
        # back as soon as one is ready (a finished batch is resubmitted at once), with
        # every other one ready by then
        ready, rest = ray.wait(list(refs), num_returns=1, timeout=wait)
        if ready and rest:
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        for ref in ready:
            slot, kind = refs[ref]
            if kind == "ping":
                slot.ping_ref = None
                self._on_ping(slot, ref)
            elif slot.role == "validator":
                slot.play_ref = None
                self._on_evaluate(slot, ref)
            else:
                slot.play_ref = None
                self._on_play(slot, ref)

    def _submit(self, slot: ActorSlot, now: float) -> None:
        """A ping when due; a task when the actor has none (a batch, or an evaluation)."""
        if slot.ping_ref is None and now - slot.ping_sent >= PING_SECONDS:
            slot.ping_ref, slot.ping_sent = slot.handle.identity.remote(), now
        if slot.play_ref is not None:
            return
        if slot.role == "validator":
            self._send_validation(slot)
        elif self.weights is not None and self.weights.sha256 != self._blocked \
                and now >= slot.not_before:
            slot.play_ref = slot.handle.play.remote(self._task_id(slot), self.weights,
                                                    self._weights_box)

    def _task_id(self, slot: ActorSlot) -> str:
        """A new task's id: the write key of what it returns (unique per driver)."""
        self._seq += 1
        return f"{slot.name}-{self._tag}-{self._seq:08d}"

    def poll_weights(self) -> bool:
        """Put the weights of a new ``latest`` in the object store; True if new."""
        import ray

        from fxconsole.agents.registry import get_agent

        if not self.cfg.cluster.collectors or not self.latest.exists():
            return False
        try:
            if self.weights is not None and read_manifest(self.latest).sha256 == \
                    self.weights.sha256:
                return False
            agent = get_agent(read_manifest(self.latest).agent)
            manifest, data = read_verified(self.latest, observation_spec(agent.observation_kind))
        except (CheckpointError, ValueError) as exc:  # mid-save, unusable: keep the last ones
            logger.warning("not sending %s: %s", self.latest, exc)
            return False
        counters = manifest.state.get("counters", {}) if isinstance(manifest.state, dict) else {}
        self._weights_box = [ray.put(data)]
        self.weights = Weights(manifest.sha256, manifest.timesteps,
                               int(counters.get("episodes", 0)), dict(manifest.pinned),
                               f"{self.run}/{manifest.model_file}", manifest.agent, manifest)
        logger.info("sending %s @ %d timesteps to %d actor(s)", manifest.model_file,
                    manifest.timesteps, len(self.slots))
        return True

    # ------------------------------------------------------------------ validation
    def poll_checkpoints(self) -> int:
        """Queue the run's new candidate and periodic checkpoints, newest first (as the
        local validator); returns the queue's length."""
        from fxconsole.ops.promotion import new_checkpoints

        queued = {m.sha256 for m in self._queue}
        fresh = [m for m in new_checkpoints(self.run_dir, self._done) if m.sha256 not in queued]
        self._queue = sorted([*self._queue, *fresh], key=lambda m: -m.timesteps)
        return len(self._queue)

    def ask(self, spec: str) -> str:
        """Queue a checkpoint of this run first (``validate`` sent to the driver: ``fxconsole
        ctl validate cluster RUN/TAG``).

        Raises:
            ValueError: no validator actor, another run's checkpoint, or one validated.
            CheckpointError: no such checkpoint.
        """
        from fxconsole.agents.checkpoints import resolve_checkpoint

        if not self.cfg.cluster.validators:
            raise ValueError("no validator actor (cluster.validators = 0)")
        m = read_manifest(resolve_checkpoint(spec, self.ws.checkpoints_dir))
        if m.run and m.run != self.run:
            raise ValueError(f"{spec}: the driver validates run {self.run}'s checkpoints")
        if self.store.reported(report_id(m.sha256, "validation")):
            raise ValueError(f"{spec} was validated before (fxconsole validate revalidates)")
        self._queue = [m, *(q for q in self._queue if q.sha256 != m.sha256)]
        self._done.discard(m.sha256)
        return f"{spec} queued for a validator actor"

    def _send_validation(self, slot: ActorSlot) -> None:
        """Give an idle validator actor the newest queued checkpoint (its bytes in the
        object store, the checkpoint pinned by the actor's own pin meanwhile)."""
        import ray

        from fxconsole.agents.checkpoints import RunCheckpoints
        from fxconsole.agents.registry import get_agent

        while slot.job is None and self._queue:
            m = self._queue.pop(0)
            self._done.add(m.sha256)
            path = self.run_dir / f"{m.tag}.json"
            try:
                spec = observation_spec(get_agent(m.agent).observation_kind)
                manifest, data = read_verified(path, spec)
                if manifest.sha256 != m.sha256:  # re-pointed since listed: listed anew
                    continue
                pinned = RunCheckpoints(self.run_dir).point(pin_tag(slot.name), manifest)
            except (CheckpointError, ValueError) as exc:  # pruned and gc'd, or unusable
                logger.info("not validating %s: %s", m.model_file, exc)
                continue
            slot.job = ValidationJob(manifest, path, [ray.put(data)], pinned.sha256,
                                     pinned.tag)
        if slot.job is not None:
            self._evaluate(slot, "test" if slot.job.validation is not None else "validation")

    def _evaluate(self, slot: ActorSlot, split: str) -> None:
        assert slot.job is not None
        m = slot.job.manifest
        checkpoint = Checkpoint(str(slot.job.path), m, f"{self.run}/{m.model_file}")
        slot.play_ref = slot.handle.evaluate.remote(self._task_id(slot), checkpoint,
                                                    slot.job.box, split)

    def _on_evaluate(self, slot: ActorSlot, ref: Any) -> None:
        import ray

        job = slot.job
        try:
            result: EvaluateResult = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the actor's own error (a bad pin…)
            if job is not None:
                self._failed(slot, job, _cause(exc))
            return
        except ray.exceptions.ActorDiedError as exc:
            self._died(slot, exc)  # its job goes back to the queue
            return
        except ray.exceptions.RayError as exc:  # lost with its actor beyond the retries
            logger.warning("%s: evaluation lost (%s); sending it again", slot.name,
                           type(exc).__name__)
            return
        slot.heard = self.clock()
        if job is None or result.sha256 != job.manifest.sha256:
            return  # a stale answer (its job was requeued meanwhile)
        try:
            self._take_evaluation(slot, job, result)
        except Exception as exc:  # one bad checkpoint must not stop the driver
            logger.exception("recording the validation of %s failed", job.manifest.model_file)
            self._failed(slot, job, exc)

    def _take_evaluation(self, slot: ActorSlot, job: ValidationJob,
                         result: EvaluateResult) -> None:
        """The validation split's result: evaluate the test split first if recording it
        would examine the checkpoint; else (or with the exam's result) record."""
        from fxconsole.evaluation.runner import checkpoint_context
        from fxconsole.ops.promotion import needs_exam

        ctx = checkpoint_context(job.path, job.manifest, self.cfg)
        if result.split == "validation":
            if self.store.reported(result.report_id):  # a duplicate: recorded once
                self._finish(slot, job)
                return
            job.validation = result
            if needs_exam(self.store.conn, job.manifest, result.evaluation, ctx.config):
                self._evaluate(slot, "test")  # slot.job kept: this slot is busy
                return
            exam = None
        else:
            exam = result.evaluation
        first = job.validation
        assert first is not None
        self.store.record_validation(slot.name, ctx, first.evaluation, exam,
                                     {**first.seconds, **({"exam": result.seconds["evaluate"]}
                                                          if exam is not None else {})})
        self._finish(slot, job)

    def _failed(self, slot: ActorSlot, job: ValidationJob, exc: BaseException) -> None:
        m = job.manifest
        logger.error("%s: validation of %s failed: %s", slot.name, m.model_file, exc)
        self.store.event("error", "validation",
                         f"validation of {m.run} @ {m.timesteps:,} failed: {exc}", {},
                         source=slot.name)
        self._finish(slot, job)

    def _finish(self, slot: ActorSlot, job: ValidationJob) -> None:
        from fxconsole.ops.promotion import release_pin

        slot.job = None
        if job.sha_pinned:
            release_pin(self.run_dir, job.pin_tag, job.sha_pinned)

    def _requeue(self, slot: ActorSlot) -> None:
        """A job whose actor is gone goes back to the queue (validated from the start)."""
        if slot.job is not None:
            self._queue.insert(0, slot.job.manifest)
            self._done.discard(slot.job.manifest.sha256)
            self._finish(slot, slot.job)

    def check_pending(self, now: float) -> None:
        """Say why an actor Ray has not placed waits (in its row's message) when no node
        has the CPUs it needs, and record a warning once it has waited
        :data:`PENDING_SECONDS`: Ray would keep it pending silently."""
        need = self.cfg.cluster.cpus_per_actor
        gap = placement_gap(self.nodes, need)
        for slot in self.slots.values():
            if slot.state != "STARTING" or slot.pid is not None or slot.started is None:
                continue
            # placed (it answers soon), or Ray does not say: nothing to explain
            why = gap if actor_state(slot.handle) in PENDING_STATES else ""
            if slot.message != why:
                slot.message = why
                self._publish(slot)
            if why and not slot.pending_told and now - slot.started >= PENDING_SECONDS:
                slot.pending_told = True
                c = self.cfg.cluster
                logger.warning("%s not placed after %.0f s: %s", slot.name,
                               now - slot.started, why)
                self.store.event(
                    "warning", "actor-pending",
                    f"{slot.name} not placed after {now - slot.started:.0f} s: {why}; "
                    f"{c.collectors} collector and {c.validators} validator actor(s) need "
                    f"{(c.collectors + c.validators) * need:g} CPUs (lower cluster.collectors, "
                    "cluster.validators or cluster.cpus_per_actor, or add a node)",
                    {"need": need, "nodes": [n.as_dict() for n in self.nodes]},
                    source=slot.name)

    def refresh_nodes(self) -> list[Node]:
        """Read the nodes and their free CPUs (raises ClusterUnavailable if the head is
        gone)."""
        self.nodes = nodes()
        if not any(n.alive for n in self.nodes):
            raise ClusterUnavailable("the cluster has no live node")
        return self.nodes

    def _on_ping(self, slot: ActorSlot, ref: Any) -> None:
        import ray

        try:
            who: Identity = ray.get(ref)
        except ray.exceptions.ActorDiedError as exc:
            self._died(slot, exc)
            return
        except ray.exceptions.RayError as exc:  # restarting, or unreachable for now
            if slot.state == "RUNNING":
                slot.state, slot.message = "STARTING", f"unreachable: {type(exc).__name__}"
                self._publish(slot)
            return
        now = self.clock()
        if slot.pid is not None and who.pid != slot.pid:
            slot.restarts += 1
            slot.started = now
            logger.warning("%s restarted by Ray on %s (pid %d -> %d)", slot.name, who.node,
                           slot.pid, who.pid)
            self.store.event("warning", "actor-restarted",
                             f"{slot.name} restarted by Ray on {who.node} (pid {slot.pid} -> "
                             f"{who.pid})", {"node": who.node, "pid": who.pid,
                                             "restarts": slot.restarts}, source=slot.name)
        changed = (slot.state, slot.pid, slot.node) != ("RUNNING", who.pid, who.node)
        slot.pid, slot.node, slot.host, slot.heard = who.pid, who.node, who.host, now
        slot.node_id = who.node_id
        slot.state, slot.message = "RUNNING", ""
        if changed:
            self._publish(slot)
        self.store.heartbeat(slot.name, who.pid, slot.episodes, who.node, who.host, now,
                             who.node_id)

    def _on_play(self, slot: ActorSlot, ref: Any) -> None:
        import ray

        try:
            result: PlayResult = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the actor's own error (a bad pin…)
            cause = _cause(exc)
            if self.weights is not None and self._blocked != self.weights.sha256:
                self._blocked = self.weights.sha256
                logger.error("%s: not playing %s: %s", slot.name, self.weights.label, cause)
                self.store.event("error", "collector",
                                 f"not playing {self.weights.label}: {cause}", {},
                                 source=slot.name)
            return
        except ray.exceptions.ActorDiedError as exc:
            self._died(slot, exc)
            return
        except ray.exceptions.RayError as exc:  # lost with its actor beyond the retries
            logger.warning("%s: batch lost (%s); playing again", slot.name, type(exc).__name__)
            return
        self._take(slot, result)

    def _take(self, slot: ActorSlot, result: PlayResult) -> None:
        if result.agent != "muzero":
            self._take_out_of_sample(slot, result)
            return
        now = self.clock()
        slot.first_batch = slot.first_batch or slot.started or now
        slot.steps += result.steps
        episodes = slot.episodes + len(result.episodes)
        elapsed = max(now - slot.first_batch, 1e-9)
        metrics = {"selfplay/episodes": float(episodes),
                   "selfplay/episodes_per_hour": (episodes - slot.base) * 3600.0 / elapsed,
                   "selfplay/steps_per_s": slot.steps / elapsed,
                   "selfplay/checkpoint_timesteps": float(result.checkpoint_timesteps),
                   **{f"selfplay/{k.split('/')[-1]}": v for k, v in result.stats.items()}}
        if self.store.record(result, metrics, episodes):
            slot.episodes = episodes
        slot.heard = now
        self.store.heartbeat(slot.name, result.pid, slot.episodes, result.node,
                             slot.host or result.node, now, slot.node_id)

    def _take_out_of_sample(self, slot: ActorSlot, result: PlayResult) -> None:
        """Record a batch of validation-split sessions as a local PPO collector does: its
        trades, episodes and the ``collect/*`` figures of the actor's last trades."""
        from fxconsole.ops.run_trades import run_trades

        now = self.clock()
        if slot.rolling is None:
            slot.rolling = RollingTrades(self.cfg.train.best_window)
        rolling = slot.rolling
        step = rolling.total
        pips = [float(t["pips"]) for t in result.trades]
        # the window with this batch, before it is recorded (a batch written before is not)
        m = trade_metrics([*rolling.window, *pips][-self.cfg.train.best_window:])
        if self.store.record(result, {"collect/expectancy": m.expectancy,
                                      "collect/win_rate": m.win_rate, "collect/sqn": m.sqn},
                             step):
            rolling.extend(pips)
            slot.episodes += len(result.episodes)
            self.store.metrics(slot.name, step, {
                "collect/trades": float(run_trades(self.store.conn, self.run, ("collect",)))})
        slot.not_before = now + self.cfg.workers.collector_pause
        slot.heard = now
        self.store.heartbeat(slot.name, result.pid, slot.episodes, result.node,
                             slot.host or result.node, now, slot.node_id)

    def _died(self, slot: ActorSlot, exc: Exception) -> None:
        """Ray gave up on the actor (its restarts spent): place a new one."""
        logger.error("%s died for good (%s): placing a new actor", slot.name,
                     str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        self.store.event("warning", "actor-died",
                         f"{slot.name} died on {slot.node or '?'}: placing a new actor",
                         {"node": slot.node}, source=slot.name)
        slot.restarts += 1
        slot.pid = None
        self._place(slot)

    def _publish(self, slot: ActorSlot) -> None:
        self.store.actor_row(slot.name, slot.state, slot.pid, slot.node, slot.restarts,
                             self.cfg.supervisor.heartbeat_timeout, slot.message,
                             slot.started, role=slot.role)

    # ------------------------------------------------------------------ commands
    def restart(self, name: str) -> str:
        """Kill the actor ``name``; Ray restarts it (``r`` on its row).

        Raises:
            ValueError: no actor of that name.
        """
        import ray

        slot = self.slots.get(name)
        if slot is None:
            raise ValueError(f"no actor {name!r} (actors: {', '.join(self.slots) or 'none'})")
        ray.kill(slot.handle, no_restart=False)
        slot.state, slot.message = "STARTING", "restart requested"
        self._publish(slot)
        return f"{name}: killed on {slot.node or '?'}; Ray restarts it"

    def info(self) -> dict[str, Any]:
        """The driver's heartbeat info: nodes, free CPUs, actors."""
        return {"backend": "ray", "nodes": [n.as_dict() for n in self.nodes],
                "free_cpus": sum(n.free_cpus for n in self.nodes if n.alive),
                "cpus": sum(n.cpus for n in self.nodes if n.alive),
                "actors": {s.name: s.node for s in self.slots.values()},
                "weights": self.weights.label if self.weights else ""}

    def close(self) -> None:
        """Kill every actor and mark its row STOPPED."""
        import ray

        for slot in self.slots.values():
            try:
                ray.kill(slot.handle, no_restart=True)
            except Exception:  # the head may be gone already
                logger.debug("could not kill %s", slot.name, exc_info=True)
            slot.state, slot.pid, slot.message = "STOPPED", None, "driver stopped"
            try:
                self._publish(slot)
            except Exception:
                logger.exception("could not record %s as STOPPED", slot.name)
