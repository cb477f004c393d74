"""The deploy gate's decisions on a real console database (rows as the validator writes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from live_support import record_stage, save_checkpoint  # isort: skip

from fxconsole.agents.manifest import Manifest
from fxconsole.config import Config, with_overrides
from fxconsole.ops import deploy_gate
from fxconsole.ops.db import connect
from fxconsole.ops.deploy_gate import DeployRefused, check, recorded_force
from fxconsole.trading.core import BUY

PAPER = Config()
PRACTICE = with_overrides(Config(), "live", broker="oanda")
LIVE = with_overrides(PRACTICE, "oanda", environment="live")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(tmp_path / "console.sqlite")
    yield c
    c.close()


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return save_checkpoint(tmp_path, "run-a", BUY, timesteps=50_000)


def gate(conn: sqlite3.Connection, m: Manifest, cfg: Config, **kwargs: bool
         ) -> deploy_gate.Verdict:
    return check(conn, cfg, run=m.run, timesteps=m.timesteps, sha256=m.sha256,
                 spec="run-a/latest", **kwargs)


@pytest.mark.parametrize(("stages", "status"), [
    ([], "never validated"),
    ([("validation", False)], "failed validation"),
    ([("validation", True)], "passed validation, not yet examined on the test split"),
    ([("validation", True), ("test", False)], "failed its test examination"),
])
def test_oanda_refuses_an_unvalidated_checkpoint_saying_why(
        conn: sqlite3.Connection, manifest: Manifest, stages: list[tuple[str, bool]],
        status: str) -> None:
    for split, ok in stages:
        record_stage(conn, manifest, split, ok)
    with pytest.raises(DeployRefused) as refused:
        gate(conn, manifest, PRACTICE)
    assert str(refused.value) == (
        f"checkpoint run-a @ 50,000 (sha {manifest.sha256[:12]}) is not validated ({status}):"
        " an OANDA account trades only a validated checkpoint; `fxconsole validate "
        "run-a/latest` validates it, `--force` deploys it anyway")


def test_force_lets_it_through_and_is_recorded(conn: sqlite3.Connection,
                                               manifest: Manifest) -> None:
    verdict = gate(conn, manifest, PRACTICE, force=True)
    assert verdict.forced and not verdict.validated and not verdict.force_recorded
    assert verdict.warning.startswith("forced deploy of an unvalidated checkpoint: run-a @ "
                                      "50,000")
    assert "OANDA practice account" in verdict.warning and "test exam" in verdict.warning
    assert verdict.pointer_metrics() == {"forced": True, "forced_account": "practice",
                                         "forced_status": "never validated"}
    assert verdict.event_data()["forced"] is True


def test_a_validated_checkpoint_needs_no_force(conn: sqlite3.Connection,
                                               manifest: Manifest) -> None:
    record_stage(conn, manifest, "validation", True)
    record_stage(conn, manifest, "test", True)
    for cfg in (PRACTICE, LIVE, PAPER):
        for force in (False, True):
            verdict = gate(conn, manifest, cfg, force=force)
            assert verdict.validated and not verdict.forced and verdict.warning == ""
            assert verdict.pointer_metrics() == {"forced": False}


def test_paper_trades_anything_with_a_warning(conn: sqlite3.Connection,
                                              manifest: Manifest) -> None:
    verdict = gate(conn, manifest, PAPER)
    assert not verdict.forced and not verdict.oanda
    assert "is not validated (never validated): the paper account trades it anyway" \
        in verdict.warning
    assert verdict.pointer_metrics() == {"forced": False}


def test_a_recorded_force_holds_only_for_its_oanda_environment(
        conn: sqlite3.Connection, manifest: Manifest) -> None:
    practice = gate(conn, manifest, PRACTICE, force=True).pointer_metrics()
    assert recorded_force(practice, PRACTICE)
    assert not recorded_force(practice, LIVE)  # a practice force does not carry to live
    assert not recorded_force(practice, PAPER)
    assert not recorded_force({"forced": "yes", "forced_account": "practice"}, PRACTICE)
    verdict = gate(conn, manifest, PRACTICE, forced_before=True)
    assert verdict.forced and verdict.force_recorded
    assert verdict.warning.startswith("trading a force-deployed unvalidated checkpoint")
    with pytest.raises(DeployRefused, match="OANDA account trades only a validated"):
        gate(conn, manifest, LIVE, forced_before=recorded_force(practice, LIVE))
