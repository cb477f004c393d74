"""Issue 17 defects 7 and 14, the trainer's messages: each save logged once; a restarted
trainer says (log and event) which checkpoint and step it resumes from; a rollback's event
names the step and the model, not only the moving pointer; steps/s reads 0 while paused."""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fxconsole.agents.base import TrainRequest
from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.ppo.checkpointing import CheckpointPolicy
from fxconsole.config import Config, with_overrides
from fxconsole.ops.db import connect
from fxconsole.trading.metrics import TradeMetrics, trade_metrics
from fxconsole.workspace import Workspace
from workers import trainer

from checkpoint_support import Bytes, save_bytes  # isort: skip


@dataclass
class FakeWriter:
    """The worker's writer, in memory."""

    metrics: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    events: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def write(self, step: int, values: dict[str, float]) -> None:
        self.metrics.append((step, dict(values)))

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        pass

    def event(self, level: str, kind: str, message: str, data: dict[str, Any]) -> None:
        self.events.append((level, kind, message, data))

    def flush(self) -> bool:
        return True

    def close(self) -> None:
        pass


@dataclass
class FakeRuntime:
    """What the trainer uses of :class:`~fxconsole.ops.runtime.WorkerRuntime`."""

    config: Config
    workspace: Workspace
    conn: sqlite3.Connection
    run: str = "main"
    writer: FakeWriter = field(default_factory=FakeWriter)
    stop: threading.Event = field(default_factory=threading.Event)
    handlers: dict[str, Any] = field(default_factory=dict)
    deferred: dict[str, Any] = field(default_factory=dict)
    on_sleep: list[Any] = field(default_factory=list)

    def beat(self, step: int = 0, info: dict[str, Any] | None = None,
             force: bool = False) -> None:
        pass

    def sleep(self, seconds: float) -> None:
        if self.on_sleep:
            self.on_sleep.pop(0)()


@dataclass
class Handle:
    num_timesteps: int

    def save_manual(self) -> Any:
        raise AssertionError("not asked")


class ScriptedAgent:
    """Each train() call runs one scripted chunk: a list of callables between steps."""

    def __init__(self, chunks: list[list[Any]], rt: FakeRuntime) -> None:
        self.chunks, self.rt, self.resumes = chunks, rt, []

    def train(self, request: TrainRequest) -> None:
        self.resumes.append(request.resume)
        script = self.chunks.pop(0) if self.chunks else []
        handle = Handle(1000)
        for action in script:
            action()
            if not request.control(handle):
                break
        if not self.chunks:
            self.rt.stop.set()


@pytest.fixture
def rt(tmp_path: Path) -> FakeRuntime:
    ws = Workspace(tmp_path).ensure()
    store = RunCheckpoints(ws.checkpoints_dir / "main")
    save_bytes(store, 750, ["periodic"])
    save_bytes(store, 820, ["latest"])
    return FakeRuntime(Config(), ws, connect(ws.console_db))


def run_trainer(rt: FakeRuntime, chunks: list[list[Any]],
                monkeypatch: pytest.MonkeyPatch) -> ScriptedAgent:
    agent = ScriptedAgent(chunks, rt)
    monkeypatch.setattr(trainer, "get_agent", lambda name: agent)
    trainer.main(rt)  # type: ignore[arg-type]
    return agent


def test_a_restarted_trainer_says_what_it_resumes_from(
        rt: FakeRuntime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="workers.trainer"):
        run_trainer(rt, [[]], monkeypatch)
    (level, kind, message, data), = rt.writer.events
    assert (level, kind) == ("info", "resume")
    assert message.startswith("main: resuming from main/latest: 820 timesteps, models/")
    assert data["timesteps"] == 820 and data["model_file"].startswith("models/")
    assert "resuming from main/latest: 820 timesteps, models/" in caplog.text


def test_a_rollback_event_names_the_step_and_the_model(
        rt: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    periodic = next(p for p in (rt.workspace.checkpoints_dir / "main").glob("periodic-*.json"))
    rollback = [lambda: rt.handlers["rollback-to"]({"checkpoint": str(periodic)})]
    agent = run_trainer(rt, [rollback, []], monkeypatch)
    assert agent.resumes == ["main/latest", "main/rollback"]
    _, kind, message, data = rt.writer.events[-1]
    assert kind == "rollback"
    assert message.startswith("main: rolled back; resuming from main/rollback: 750 timesteps, "
                              "models/")
    assert data["timesteps"] == 750 and data["sha256"]


def test_steps_per_second_read_zero_while_paused(
        rt: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    rt.on_sleep.append(lambda: rt.handlers["resume"]({}))
    run_trainer(rt, [[lambda: rt.handlers["pause"]({}), lambda: None]], monkeypatch)
    written = [values for _, values in rt.writer.metrics]
    assert written == [{"train/fps": 0.0, "train/paused": 1.0}, {"train/paused": 0.0}]


def test_each_save_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = with_overrides(Config(), "train", latest_every=10, periodic_every=10_000)
    policy = CheckpointPolicy(RunCheckpoints(tmp_path / "main"), cfg.train, {}, {"k": 1}, 1)
    metrics: TradeMetrics = trade_metrics([1.0, -1.0])
    with caplog.at_level(logging.INFO):
        policy.on_step(Bytes(10), 10, lambda: metrics, {})
    saves = [r for r in caplog.records if "checkpoint" in r.getMessage()]
    assert len(saves) == 1 and "10 timesteps" in saves[0].getMessage()
