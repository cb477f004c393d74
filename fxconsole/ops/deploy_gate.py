"""The deploy gate: an OANDA account trades only a VALIDATED checkpoint (DESIGN.md,
Checkpoints; SPEC §6.4).

Every path that makes an OANDA account (practice or live) trade a checkpoint asks
:func:`check` first — the live worker's ``deploy`` command, the worker loading the run's
``deployed.json`` at start, and ``fxconsole live`` — and the console asks a second
confirmation before it sends a forced deploy. Whether a checkpoint is validated is the
console database's answer (:func:`fxconsole.ops.validations.is_validated`):

- validated: trades, on any broker;
- not validated, OANDA: refused (:class:`DeployRefused`, saying why and what to do)
  unless the operator forces it (``--force``, a ``"force": true`` command argument, the
  console's second confirmation) or the deployed pointer records such a force for the
  same OANDA environment (``deployed.json``'s metrics ``{"forced": true,
  "forced_account": "practice", ...}``, see :meth:`Verdict.pointer_metrics`); a forced
  deploy is announced with a warning event (kind ``"deploy"``), on top of the command
  row that already holds its arguments;
- not validated, paper: trades, with a warning.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fxconsole.config import Config
from fxconsole.ops.validations import is_validated, validation_status

EVENT_KIND = "deploy"
FORCED = "forced"
FORCED_ACCOUNT = "forced_account"
FORCED_STATUS = "forced_status"
SKIPPED = "the promotion rule (validation, deflated SQN, test exam)"
FORCE_HINT = "`--force` deploys it anyway"
NOT_EXAMINED = "passed validation, not yet examined on the test split"


class DeployRefused(ValueError):
    """An OANDA account was asked to trade a checkpoint that is not validated."""


def is_oanda(config: Config) -> bool:
    """Whether the live trader's broker is an OANDA account (practice or live)."""
    return config.live.broker == "oanda"


def account_name(config: Config) -> str:
    """``"OANDA practice account"``, ``"OANDA live account"`` or ``"paper account"``."""
    if is_oanda(config):
        return f"OANDA {config.oanda.environment} account"
    return f"{config.live.broker} account"


def checkpoint_label(run: str, timesteps: int, sha256: str) -> str:
    """``run-a @ 50,000 (sha 0123456789ab)``: a checkpoint in refusals and events."""
    return f"{run} @ {timesteps:,} (sha {sha256[:12]})"


def checkpoint_status(conn: sqlite3.Connection, sha256: str) -> str:
    """Where a checkpoint stands, in words: :func:`validation_status`, except that a
    checkpoint that passed validation but has no test examination yet says so (rather
    than "failed validation").
    """
    status = validation_status(conn, sha256)
    if status == "failed validation" and conn.execute(
            "SELECT 1 FROM validations WHERE sha256 = ? AND split = 'validation'"
            " AND validated = 1 LIMIT 1", (sha256,)).fetchone() is not None:
        return NOT_EXAMINED
    return status


@dataclass(frozen=True)
class Verdict:
    """What the gate decided about one checkpoint on one broker (it was allowed: a
    refusal raises).

    Attributes:
        label: the checkpoint, as :func:`checkpoint_label` names it.
        sha256: its model's sha256.
        status: where it stands (:func:`checkpoint_status`).
        account: the account it trades on (:func:`account_name`).
        oanda: whether that account is OANDA's.
        environment: the OANDA environment (``practice`` / ``live``), else empty.
        forced: an OANDA account trades it although it is not validated, because the
            operator forced it (now, or as recorded in the deployed pointer).
        force_recorded: the force is the deployed pointer's record, not a new one.
    """

    label: str
    sha256: str
    status: str
    account: str
    oanda: bool
    environment: str
    forced: bool
    force_recorded: bool = False

    @property
    def validated(self) -> bool:
        """Whether the checkpoint is VALIDATED (SPEC §6.4)."""
        return self.status == "validated"

    @property
    def warning(self) -> str:
        """The warning to log and record when it trades unvalidated ("" when validated)."""
        if self.validated:
            return ""
        if self.forced and self.force_recorded:
            return (f"trading a force-deployed unvalidated checkpoint: {self.label} "
                    f"({self.status}) on the {self.account}")
        if self.forced:
            return (f"forced deploy of an unvalidated checkpoint: {self.label} "
                    f"({self.status}) trades on the {self.account}; this skips {SKIPPED}")
        return (f"{self.label} is not validated ({self.status}): the {self.account} trades "
                "it anyway (an OANDA account would refuse it without --force)")

    def event_data(self) -> dict[str, Any]:
        """The data of the warning event: checkpoint, status, account, forced."""
        return {"sha256": self.sha256, "label": self.label, "status": self.status,
                "account": self.account, "forced": self.forced}

    def pointer_metrics(self) -> dict[str, Any]:
        """What the ``deployed`` pointer records of this deploy: always ``forced`` (so a
        re-pointed manifest never inherits an older force), and for a forced one the
        OANDA environment it was forced for and the status it had then."""
        if not self.forced:
            return {FORCED: False}
        return {FORCED: True, FORCED_ACCOUNT: self.environment, FORCED_STATUS: self.status}


def recorded_force(metrics: Mapping[str, Any], config: Config) -> bool:
    """Whether a deployed pointer's metrics record a force that holds for this config's
    OANDA environment (a force for the practice account does not carry to live)."""
    return (is_oanda(config) and metrics.get(FORCED) is True
            and metrics.get(FORCED_ACCOUNT) == config.oanda.environment)


def check(conn: sqlite3.Connection, config: Config, *, run: str, timesteps: int,
          sha256: str, spec: str, force: bool = False, forced_before: bool = False,
          force_hint: str = FORCE_HINT) -> Verdict:
    """Decide whether the configured broker may trade a checkpoint.

    Args:
        conn: the console database (its ``validations`` table).
        config: the configuration (``live.broker``, ``oanda.environment``).
        run: the checkpoint's run.
        timesteps: its timesteps.
        sha256: its model's sha256.
        spec: how to name the checkpoint to ``fxconsole validate`` in a refusal.
        force: the operator overrides the gate now.
        forced_before: the deployed pointer records that they did
            (:func:`recorded_force`), which holds too.
        force_hint: how to force it, for the refusal (default: ``--force``).

    Returns:
        The verdict (``warning`` says what to log when it trades unvalidated).

    Raises:
        DeployRefused: an OANDA account and a checkpoint that is not validated, unforced.
    """
    label = checkpoint_label(run, timesteps, sha256)
    oanda = is_oanda(config)
    validated = is_validated(conn, sha256)
    status = "validated" if validated else checkpoint_status(conn, sha256)
    if oanda and not validated and not (force or forced_before):
        raise DeployRefused(
            f"checkpoint {label} is not validated ({status}): an OANDA account trades only "
            f"a validated checkpoint; `fxconsole validate {spec}` validates it, {force_hint}")
    return Verdict(label=label, sha256=sha256, status=status, account=account_name(config),
                   oanda=oanda, environment=config.oanda.environment if oanda else "",
                   forced=oanda and not validated,
                   force_recorded=oanda and not validated and not force)
