"""Issue 17 defect 6: the validator's `validating` pin is gone once the validation ends
(pass, fail or error), and the report names the checkpoint by an immutable manifest and
its model, not by the moving pointer `validating.json` it was loaded through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.ops.db import connect
from fxconsole.ops.promotion import immutable_identity
from fxconsole.workspace import Workspace
from workers.validator import PIN_TAG, release_pin, validate_one

from test_promotion import CFG, full_bars, save_checkpoints, ws  # noqa: F401  # isort: skip


class Writer:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, dict[str, Any]]] = []
        self.metrics: list[dict[str, float]] = []

    def write(self, step: int, values: dict[str, float]) -> None:
        self.metrics.append(values)

    def event(self, level: str, kind: str, message: str, data: dict[str, Any]) -> None:
        self.events.append((level, kind, message, data))


class Runtime:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace, self.config = workspace, CFG
        self.conn = connect(workspace.console_db)
        self.writer = Writer()


def test_the_validator_pin_is_released_and_the_report_names_the_real_checkpoint(
        ws: Workspace) -> None:  # noqa: F811
    (saved,) = save_checkpoints(ws, "main", [0])
    run_dir = ws.checkpoints_dir / "main"
    rt = Runtime(ws)
    validate_one(rt, run_dir, saved)  # type: ignore[arg-type]
    assert not (run_dir / f"{PIN_TAG}.json").exists()
    assert all(m.tag != PIN_TAG for m in RunCheckpoints(run_dir).list())
    (_, kind, message, data), = rt.writer.events
    report = json.loads(Path(data["report"]["json"]).read_text())
    ck = report["checkpoint"]
    assert ck["tag"] == saved.tag and ck["tag"].startswith("periodic-")
    assert ck["manifest"] == str(run_dir / f"{saved.tag}.json")
    assert ck["model_file"] == saved.model_file and ck["sha256"] == saved.sha256
    assert ck["loaded_from"] == str(run_dir / f"{PIN_TAG}.json")
    assert kind == "validation" and f"main @ 1,000 ({saved.tag}, {saved.model_file})" in message


def test_a_failed_validation_releases_the_pin_too(ws: Workspace,  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (saved,) = save_checkpoints(ws, "main", [0])
    run_dir = ws.checkpoints_dir / "main"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr("workers.validator.validate_and_promote", broken)
    rt = Runtime(ws)
    validate_one(rt, run_dir, saved)  # type: ignore[arg-type]
    assert not (run_dir / f"{PIN_TAG}.json").exists()
    assert rt.writer.events[0][0] == "error"


def test_a_pin_moved_to_another_model_is_left_alone(tmp_path: Path) -> None:
    assert release_pin(tmp_path / "main", PIN_TAG, "ab" * 32) is False


def test_identity_prefers_a_periodic_or_manual_manifest(ws: Workspace) -> None:  # noqa: F811
    (saved,) = save_checkpoints(ws, "main", [0])
    checkpoints = RunCheckpoints(ws.checkpoints_dir / "main")
    pointer = checkpoints.point("best", saved)
    path = ws.checkpoints_dir / "main" / "best.json"
    named, named_path = immutable_identity(checkpoints, pointer, path)
    assert named.tag == saved.tag and named_path.name == f"{saved.tag}.json"
    assert immutable_identity(checkpoints, saved, named_path) == (saved, named_path)


def test_a_pin_left_by_a_killed_validator_is_released_at_start(ws: Workspace) -> None:  # noqa: F811
    import threading

    from workers import validator

    (saved,) = save_checkpoints(ws, "main", [0])
    run_dir = ws.checkpoints_dir / "main"
    RunCheckpoints(run_dir).point(PIN_TAG, saved)  # the validator died holding it
    rt = Runtime(ws)
    rt.run, rt.handlers, rt.stop = "main", {}, threading.Event()  # type: ignore[attr-defined]
    rt.stop.set()  # type: ignore[attr-defined]
    validator.main(rt)  # type: ignore[arg-type]
    assert not (run_dir / f"{PIN_TAG}.json").exists()
