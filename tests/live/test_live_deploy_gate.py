"""The live worker's deploy gate (``workers/live.py``) on the real OANDA broker against the
fake v20 server, and on the paper broker.

The worker's own pieces run in-process: its command handlers behind the runtime's
command polling (so a refusal ends the command as failed, with the reason as its result),
``load_deployed`` at start, and a :class:`LiveTrader` on an :class:`OandaBroker` whose
clock is the fake server's (a Wednesday, so trading is open). A checkpoint is validated
when a ``validations`` row says it passed its test examination.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_v20 import FakeV20, synthetic_mid  # isort: skip
from live_support import record_stage, save_checkpoint  # isort: skip

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.manifest import Manifest
from fxconsole.brokers.credentials import Credentials
from fxconsole.brokers.factory import make_broker
from fxconsole.brokers.oanda import OandaBroker
from fxconsole.config import Config, OandaConfig, with_overrides
from fxconsole.live.engine import LiveTrader
from fxconsole.ops.commands import Command, enqueue, get
from fxconsole.ops.db import connect
from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.ops.writer import MetricsWriter
from fxconsole.trading.core import BUY
from fxconsole.workspace import Workspace
from workers import live as live_worker

NS = 10**9
MIN = 60 * NS
WEDNESDAY = 1710338430 * NS  # 2024-03-13T14:00:30Z: mid-session
RUN = "buyer"


def make_config(oanda: OandaConfig | None) -> Config:
    """A short feature window, no gating; the OANDA broker when ``oanda`` is given, else
    the paper broker on synthetic bars."""
    cfg = with_overrides(Config(), "data", mm_window=40)
    cfg = with_overrides(cfg, "env", gating=False)
    if oanda is None:
        return with_overrides(cfg, "live", broker="paper", paper_source="synth",
                              history_bars=120).validated()
    cfg = with_overrides(cfg, "live", broker="oanda", history_bars=120)
    return dataclasses.replace(cfg, oanda=oanda).validated()


class Worker:
    """The live worker's runtime, trader and handlers, in this process."""

    def __init__(self, root: Path, cfg: Config, fake: FakeV20 | None) -> None:
        self.ws = Workspace(root).ensure()
        self.cfg, self.fake = cfg, fake
        self.rt = WorkerRuntime("live", "live", self.ws, cfg, RUN)
        self.rt.conn = connect(self.ws.console_db)
        self.rt.writer = MetricsWriter(self.rt.conn, RUN, "live", source="live")
        kwargs: dict[str, Any] = {}
        if fake is not None:
            fake.now_ns = WEDNESDAY
            self._set_price()
            self.broker: Any = OandaBroker(cfg.oanda, Credentials(fake.token, fake.account),
                                           environ={}, clock=fake.clock, stream=False,
                                           sleep=lambda s: None)
            kwargs["clock"] = self.clock
        else:
            self.broker = make_broker(cfg, self.ws, self.rt.conn)
        self.trader = LiveTrader(self.broker, self.rt.conn, None, cfg, self.rt.writer,
                                 run=RUN, worker="live", **kwargs)
        self.rt.handlers.update(live_worker.command_handlers(self.rt, self.trader))

    def clock(self) -> float:
        """The fake server's time, in UNIX seconds (the trader's clock)."""
        assert self.fake is not None
        return self.fake.clock() / NS

    def _set_price(self) -> None:
        assert self.fake is not None and self.fake.now_ns is not None
        close = synthetic_mid((self.fake.now_ns // MIN - 1) * MIN, 60)[3]
        self.fake.set_price("GBP_JPY", close - 0.015, close + 0.015)

    def command(self, args: dict[str, Any]) -> Command:
        """Enqueue a deploy as ``fxconsole ctl`` does, let the worker run it."""
        command_id = enqueue(self.rt.conn, "live", "deploy", args, issued_by="ctl")
        self.rt.poll_commands()
        return get(self.rt.conn, command_id)

    def events(self, kind: str = "deploy") -> list[tuple[str, str]]:
        self.rt.writer.flush()
        return [(str(r[0]), str(r[1])) for r in self.rt.conn.execute(
            "SELECT level, message FROM events WHERE kind = ? ORDER BY id", (kind,))]

    def posts(self) -> list[dict[str, Any]]:
        assert self.fake is not None
        return [r.body["order"] for r in self.fake.received("orders.create")]

    def trade_a_bar(self) -> None:
        """Start (warm-up, reconcile), decide the newest bar."""
        assert self.trader.start()
        self.trader.step()

    def deployed(self) -> dict[str, Any]:
        path = self.ws.checkpoints_dir / RUN / "deployed.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def close(self) -> None:
        self.broker.close()
        self.rt.writer.close()
        self.rt.conn.close()


@pytest.fixture
def checkpoint(tmp_path: Path) -> Manifest:
    return save_checkpoint(tmp_path, RUN, BUY)


@pytest.fixture
def oanda(fake_v20: FakeV20, oanda_config: OandaConfig, tmp_path: Path,
          checkpoint: Manifest) -> Iterator[Worker]:
    worker = Worker(tmp_path, make_config(oanda_config), fake_v20)
    yield worker
    worker.close()


@pytest.fixture
def paper(tmp_path: Path, checkpoint: Manifest) -> Iterator[Worker]:
    worker = Worker(tmp_path, make_config(None), None)
    yield worker
    worker.close()


def test_an_unvalidated_deploy_to_oanda_fails_saying_why(oanda: Worker,
                                                         checkpoint: Manifest) -> None:
    record_stage(oanda.rt.conn, checkpoint, "validation", False)
    done = oanda.command({"checkpoint": f"{RUN}/latest"})
    assert done.state == "failed"
    assert done.result == (
        f"checkpoint buyer @ 1,000 (sha {checkpoint.sha256[:12]}) is not validated (failed "
        "validation): an OANDA account trades only a validated checkpoint; `fxconsole "
        "validate buyer/latest` validates it, `--force` deploys it anyway")
    assert oanda.deployed() == {} and oanda.trader.policy is None
    oanda.trade_a_bar()
    assert oanda.posts() == []  # nothing traded
    assert [level for level, _ in oanda.events()] == []


def test_a_forced_deploy_trades_and_is_audited(oanda: Worker, checkpoint: Manifest) -> None:
    done = oanda.command({"checkpoint": f"{RUN}/latest", "force": True})
    assert done.state == "done", done.result
    assert done.result.endswith("; FORCED: not validated (never validated)")
    assert done.args == {"checkpoint": f"{RUN}/latest", "force": True}  # the audit row
    warnings = [m for level, m in oanda.events() if level == "warning"]
    assert warnings == [
        f"forced deploy of an unvalidated checkpoint: buyer @ 1,000 (sha "
        f"{checkpoint.sha256[:12]}) (never validated) trades on the OANDA practice account; "
        "this skips the promotion rule (validation, deflated SQN, test exam)"]
    pointer = oanda.deployed()
    assert pointer["sha256"] == checkpoint.sha256
    assert pointer["metrics"]["forced"] is True
    assert pointer["metrics"]["forced_account"] == "practice"
    oanda.trade_a_bar()
    [order] = oanda.posts()
    assert order["units"] == "1"  # the deployed BUY policy trades


def test_a_validated_checkpoint_deploys_without_force(oanda: Worker,
                                                      checkpoint: Manifest) -> None:
    record_stage(oanda.rt.conn, checkpoint, "validation", True)
    record_stage(oanda.rt.conn, checkpoint, "test", True)
    done = oanda.command({"checkpoint": f"{RUN}/latest"})
    assert done.state == "done" and "not validated" not in done.result
    assert [level for level, _ in oanda.events()] == ["info"]  # "live trades …"
    assert oanda.deployed()["metrics"]["forced"] is False
    oanda.trade_a_bar()
    assert len(oanda.posts()) == 1


def test_a_later_validated_deploy_clears_an_older_force(oanda: Worker,
                                                        checkpoint: Manifest) -> None:
    assert oanda.command({"checkpoint": f"{RUN}/latest", "force": True}).state == "done"
    record_stage(oanda.rt.conn, checkpoint, "test", True)
    assert oanda.command({"checkpoint": f"{RUN}/deployed"}).state == "done"
    assert oanda.deployed()["metrics"]["forced"] is False


def test_the_deploying_pin_is_released_whether_the_deploy_succeeds_or_not(
        oanda: Worker, checkpoint: Manifest) -> None:
    pin = oanda.ws.checkpoints_dir / RUN / "deploying.json"
    assert oanda.command({"checkpoint": f"{RUN}/latest"}).state == "failed"  # not validated
    assert not pin.exists()
    assert oanda.command({"checkpoint": f"{RUN}/latest", "force": True}).state == "done"
    assert not pin.exists()  # `deployed` holds the model now
    tags = {m.tag for m in RunCheckpoints(oanda.ws.checkpoints_dir / RUN).list()}
    assert "deployed" in tags and "deploying" not in tags


def point_deployed(worker: Worker, checkpoint: Manifest, metrics: dict[str, Any]) -> None:
    RunCheckpoints(worker.ws.checkpoints_dir / RUN).point("deployed", checkpoint, metrics)


def test_start_refuses_an_unvalidated_deployed_checkpoint(oanda: Worker,
                                                          checkpoint: Manifest) -> None:
    point_deployed(oanda, checkpoint, {})
    live_worker.load_deployed(oanda.rt, oanda.trader)
    assert oanda.trader.policy is None
    [(level, message)] = oanda.events()
    assert level == "error"
    assert message.startswith("not trading the deployed checkpoint: checkpoint buyer @ 1,000")
    assert "is not validated (never validated)" in message
    assert "`fxconsole ctl live deploy buyer/deployed --force` trades it anyway" in message
    oanda.trade_a_bar()
    assert oanda.posts() == []


@pytest.mark.parametrize(("metrics", "trades"), [
    ({"forced": True, "forced_account": "practice"}, True),
    ({"forced": True, "forced_account": "live"}, False),  # forced for another account
    ({"forced": False}, False),
])
def test_start_trades_a_force_deployed_checkpoint_of_this_account(
        oanda: Worker, checkpoint: Manifest, metrics: dict[str, Any], trades: bool) -> None:
    point_deployed(oanda, checkpoint, metrics)
    live_worker.load_deployed(oanda.rt, oanda.trader)
    assert (oanda.trader.policy is not None) is trades
    [(level, message)] = oanda.events()
    if trades:
        assert level == "warning"
        assert message.startswith("trading a force-deployed unvalidated checkpoint: buyer")
    else:
        assert level == "error" and "not validated" in message


def test_start_trades_a_validated_deployed_checkpoint(oanda: Worker,
                                                      checkpoint: Manifest) -> None:
    point_deployed(oanda, checkpoint, {})
    record_stage(oanda.rt.conn, checkpoint, "test", True)
    live_worker.load_deployed(oanda.rt, oanda.trader)
    assert oanda.trader.policy is not None and oanda.events() == []


def test_paper_trades_an_unvalidated_checkpoint_with_a_warning(
        paper: Worker, checkpoint: Manifest, caplog: pytest.LogCaptureFixture) -> None:
    done = paper.command({"checkpoint": f"{RUN}/latest"})
    assert done.state == "done", done.result
    assert done.result.endswith("; not validated (never validated)")
    assert paper.trader.policy is not None
    assert paper.deployed()["metrics"]["forced"] is False  # nothing was forced
    [(level, message)] = [e for e in paper.events() if e[0] != "info"]
    assert level == "warning"
    assert "is not validated (never validated): the paper account trades it anyway" in message
    assert any("paper account trades it anyway" in r.getMessage() for r in caplog.records)
    # and at start
    paper.trader.policy = None
    live_worker.load_deployed(paper.rt, paper.trader)
    assert paper.trader.policy is not None


# --- live.auto_deploy ----------------------------------------------------------------------


def validate(worker: Worker, checkpoint: Manifest) -> None:
    """What the promotion path does for a checkpoint that passes: rows, then the tag."""
    record_stage(worker.rt.conn, checkpoint, "validation", True)
    record_stage(worker.rt.conn, checkpoint, "test", True)
    RunCheckpoints(worker.ws.checkpoints_dir / RUN).point("validated", checkpoint)


def test_paper_auto_deploys_each_new_validated_checkpoint_once(
        paper: Worker, tmp_path: Path) -> None:
    auto = live_worker.AutoDeployer()
    live_worker._auto_deploy(paper.rt, paper.trader, auto)
    assert paper.deployed() == {}  # nothing validated yet
    first = save_checkpoint(tmp_path, RUN, BUY, timesteps=2000)
    validate(paper, first)
    live_worker._auto_deploy(paper.rt, paper.trader, auto)
    assert paper.deployed()["sha256"] == first.sha256 and paper.trader.policy is not None
    assert any("auto-deployed the newest validated checkpoint" in m for _, m in paper.events())
    # The operator deploys another by hand: it stays until a newer one is validated.
    manual = save_checkpoint(tmp_path, RUN, BUY, timesteps=3000)
    assert paper.command({"checkpoint": f"{RUN}/latest"}).state == "done"
    live_worker._auto_deploy(paper.rt, paper.trader, auto)
    assert paper.deployed()["sha256"] == manual.sha256
    newer = save_checkpoint(tmp_path, RUN, BUY, timesteps=4000)
    validate(paper, newer)
    live_worker._auto_deploy(paper.rt, paper.trader, auto)
    assert paper.deployed()["sha256"] == newer.sha256


@pytest.mark.parametrize(("mode", "broker", "on"), [
    ("auto", "paper", True), ("auto", "oanda", False), ("validated", "oanda", True),
    ("validated", "paper", True), ("off", "paper", False), ("off", "oanda", False)])
def test_auto_deploy_is_paper_only_unless_configured(mode: str, broker: str, on: bool) -> None:
    from fxconsole.live.auto_deploy import enabled

    assert enabled(mode, broker) is on


def test_auto_deploy_on_oanda_goes_through_the_deploy_gate(
        oanda: Worker, checkpoint: Manifest) -> None:
    """(``live.auto_deploy = "validated"``.) A tag pointing at a checkpoint without a
    passed examination is refused by the gate, saying so; a validated one trades."""
    assert Config().live.auto_deploy == "auto"  # the default: paper only
    RunCheckpoints(oanda.ws.checkpoints_dir / RUN).point("validated", checkpoint)
    live_worker._auto_deploy(oanda.rt, oanda.trader, live_worker.AutoDeployer())
    assert oanda.deployed() == {}
    assert any(level == "error" and "auto-deploy of buyer @ 1,000 failed" in m
               and "is not validated" in m for level, m in oanda.events())
    validate(oanda, checkpoint)
    live_worker._auto_deploy(oanda.rt, oanda.trader, live_worker.AutoDeployer())
    assert oanda.deployed()["sha256"] == checkpoint.sha256
    assert oanda.deployed()["metrics"]["forced"] is False
