"""What each operator action asks for: the command row and its confirmation (pure).

Lifecycle verbs go to the supervisor with ``{"worker": NAME}``; the trainer's and live's
own verbs go to the worker holding that role (DESIGN.md, Commands). A request that can
harm (stop, roll back, deploy, kill switch) carries the question to ask first, naming
its target.

A deploy to an OANDA account of a checkpoint that is not VALIDATED carries an
``override``: once the first question is answered yes, a second one says what the
deploy skips, and only its yes sends the deploy, with ``"force": true`` (the live
worker refuses it otherwise: :mod:`fxconsole.ops.deploy_gate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fxconsole.config import Config
from fxconsole.ops.commands import DONE, SUPERVISOR
from fxconsole.ops.deploy_gate import SKIPPED
from fxconsole.ui.data import CheckpointView, ConsoleSnapshot

TRAINER_STATE_VERBS = ("pause", "resume", "rollback-to")
CONFIRM_LABELS = {"stop": "Stop", "rollback-to": "Roll back", "deploy": "Deploy",
                  "kill-switch": "Kill switch", "resume-entries": "Release"}


@dataclass(frozen=True)
class Request:
    """One command to write: ``target``, ``verb``, ``args``; ``confirm`` asks first.

    ``override``, if set, replaces this request once confirmed: its own question is asked
    next and it is what is sent (a forced deploy). ``yes`` labels the confirm button
    (default: by verb).
    """

    target: str
    verb: str
    args: Mapping[str, Any] = field(default_factory=dict)
    confirm: str = ""
    override: Request | None = None
    yes: str = ""

    @property
    def confirm_label(self) -> str:
        """The label of the button that confirms it."""
        return self.yes or CONFIRM_LABELS.get(self.verb, self.verb.capitalize())

    @property
    def title(self) -> str:
        """``restart collector-1``, ``checkpoint-now → trainer``."""
        worker = self.args.get("worker")
        if self.target == SUPERVISOR and worker:
            return f"{self.verb} {worker}"
        return f"{self.verb} → {self.target}"


def lifecycle(verb: str, worker: str) -> Request:
    """Start, stop or restart one worker through the supervisor (stop asks first)."""
    confirm = (f"Stop worker [b]{worker}[/b]?\n\nThe supervisor sends it SIGTERM (SIGKILL "
               "after stopwaitsecs); it stays stopped until you start it.") if verb == "stop" \
        else ""
    return Request(SUPERVISOR, verb, {"worker": worker}, confirm)


def checkpoint_now(snap: ConsoleSnapshot | None) -> Request:
    """Ask the trainer to save a checkpoint at its next step."""
    return Request(_role(snap, "trainer"), "checkpoint-now")


def training_paused(snap: ConsoleSnapshot | None) -> bool:
    """Whether the trainer is paused: what its newest heartbeat reports, else (an older
    trainer that does not report it) whether its newest completed pause/resume/rollback
    left it paused.

    Only commands finished since the trainer last started count (a restart resumes).
    """
    if snap is None:
        return False
    trainer = snap.worker(_role(snap, "trainer"))
    reported = (trainer.row.heartbeat_info or {}).get("paused") if trainer else None
    if isinstance(reported, bool):
        return reported
    started = (trainer.row.started if trainer else None) or 0.0
    for command in snap.commands:  # newest first
        if (command.target == _role(snap, "trainer") and command.verb in TRAINER_STATE_VERBS
                and command.state == DONE and command.updated >= started):
            return command.verb == "pause"
    return False


def pause_or_resume(snap: ConsoleSnapshot | None) -> Request:
    """Pause training, or resume it if it is paused."""
    return Request(_role(snap, "trainer"), "resume" if training_paused(snap) else "pause")


def rollback_question(snap: ConsoleSnapshot | None, checkpoint: CheckpointView) -> str:
    """The rollback dialog's question: which checkpoint, what each choice does."""
    trainer, live = _role(snap, "trainer"), _role(snap, "live")
    return (f"Roll back to [b]{_escape(checkpoint.label)}[/b]?\n\n"
            f"[b]Training[/b]: {trainer} resumes from it and its step counter.\n"
            f"[b]Live[/b]: {live} trades it from its next decision."
            f"{_validation_warning(checkpoint)}"
            "\n[b]Both[/b]: the two. Nothing is deleted.")


def rollback_requests(snap: ConsoleSnapshot | None, checkpoint: CheckpointView,
                      choice: str, config: Config | None = None) -> list[Request]:
    """The commands of a confirmed rollback: ``training``, ``live`` or ``both``; live's
    deploy carries the OANDA override (:func:`deploy`) where it needs one."""
    out = []
    if choice in ("training", "both"):
        out.append(Request(_role(snap, "trainer"), "rollback-to", {"checkpoint": checkpoint.spec}))
    if choice in ("live", "both"):
        live = _role(snap, "live")
        out.append(Request(live, "deploy", {"checkpoint": checkpoint.spec},
                           override=_override(snap, checkpoint, config, live)))
    return out


_STATUS_WORDS = {"failed validation": "has [b]not passed validation[/b]",
                 "never validated": "has [b]not been validated[/b]"}


def _validation_warning(checkpoint: CheckpointView) -> str:
    if checkpoint.is_validated:
        return ""
    words = _STATUS_WORDS.get(checkpoint.status,
                              f"is [b]not validated[/b] ({_escape(checkpoint.status)})")
    return f"\n\nThis checkpoint {words}."


def oanda_environment(snap: ConsoleSnapshot | None, config: Config | None) -> str | None:
    """The OANDA environment live trades on (``practice`` / ``live``), or None for paper:
    the config's ``live.broker``, or the broker the live worker reports."""
    if config is not None and config.live.broker == "oanda":
        return config.oanda.environment
    reported = snap.live_state.get("broker") if snap is not None else None
    if isinstance(reported, Mapping) and reported.get("name") == "oanda":
        return config.oanda.environment if config is not None else "practice"
    return None


def _override(snap: ConsoleSnapshot | None, checkpoint: CheckpointView,
              config: Config | None, live: str) -> Request | None:
    """The forced deploy, with its question, when live trades on OANDA and the checkpoint
    is not validated; else None."""
    environment = oanda_environment(snap, config)
    if environment is None or checkpoint.is_validated:
        return None
    return Request(
        live, "deploy", {"checkpoint": checkpoint.spec, "force": True},
        f"[b]NOT VALIDATED[/b] — [b]{_escape(checkpoint.label)}[/b]: "
        f"{_escape(checkpoint.status)}.\n\nThis skips {SKIPPED}; deploy to the "
        f"[b]OANDA {environment}[/b] account anyway?\n\nThe override is recorded in the "
        "audit trail.", yes="Deploy anyway")


def broker_words(snap: ConsoleSnapshot | None, config: Config | None) -> str:
    """The broker live trades through, for a question: ``the paper broker``, ``the OANDA
    practice account``, ``the OANDA LIVE account (real money)``."""
    environment = oanda_environment(snap, config)
    if environment is None:
        return "the paper broker"
    if environment == "live":
        return "the OANDA [b]LIVE[/b] account (real money)"
    return f"the OANDA {_escape(environment)} account"


def deploy(snap: ConsoleSnapshot | None, checkpoint: CheckpointView,
           config: Config | None = None) -> Request:
    """Make live trade ``checkpoint`` (asks first, naming the broker, warning if it is not
    validated; on an OANDA account an unvalidated one asks a second time and is sent
    forced)."""
    live = _role(snap, "live")
    return Request(live, "deploy", {"checkpoint": checkpoint.spec},
                   f"Deploy [b]{_escape(checkpoint.label)}[/b] to [b]{live}[/b] on "
                   f"{broker_words(snap, config)}?"
                   f"{_validation_warning(checkpoint)}",
                   override=_override(snap, checkpoint, config, live))


def kill_switch(snap: ConsoleSnapshot | None, config: Config | None = None) -> Request:
    """Engage the kill switch of live, or release it if engaged (asks first either way;
    engaging says whether ``live.flatten_on_kill`` will close the open position)."""
    live = _role(snap, "live")
    if snap is not None and snap.value("live/kill_switch"):
        return Request(live, "resume-entries", {},
                       f"Release the kill switch of [b]{live}[/b]?\n\nNew entries are allowed "
                       "again.")
    if config is None:
        flattening = ("The open position is closed too if [b]live.flatten_on_kill[/b] is "
                      "on; [b]X[/b] flattens it.")
    elif config.live.flatten_on_kill:
        flattening = ("[b]live.flatten_on_kill is on[/b]: the open position is closed at "
                      "market too.")
    else:
        flattening = ("[b]live.flatten_on_kill is off[/b]: the open position stays open "
                      "([b]X[/b] flattens it).")
    return Request(live, "kill-switch", {},
                   f"Engage the kill switch of [b]{live}[/b] on {broker_words(snap, config)}?"
                   f"\n\nIt stops new entries at once. {flattening}")


def flatten(snap: ConsoleSnapshot | None) -> Request:
    """Close live's open position at market (asks first)."""
    live = _role(snap, "live")
    position = None if snap is None else snap.value("live/position")
    held = "" if position is None else (
        " It is flat now." if position == 0 else f" It holds {position:+,.0f} units.")
    return Request(live, "flatten", {},
                   f"Flatten [b]{live}[/b]: close its open position at market?{held}")


def entries(snap: ConsoleSnapshot | None, pause: bool) -> Request:
    """Pause or resume new entries of live (resuming also releases the kill switch)."""
    return Request(_role(snap, "live"), "pause-entries" if pause else "resume-entries")


def _role(snap: ConsoleSnapshot | None, role: str) -> str:
    return role if snap is None else snap.worker_for_role(role)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
