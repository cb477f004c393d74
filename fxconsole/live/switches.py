"""The operator's switches and the trading halt, kept in ``live_state``.

The kill switch and paused entries stop new entries (exits go on); the kill switch also
flattens if ``live.flatten_on_kill``. A halt (the broker's position is not what the
journal believes) stops the policy's exits too: only an explicit flatten may trade. Each
change is persisted at once, so a restarted trader keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fxconsole.live import journal as keys
from fxconsole.live.journal import Journal
from fxconsole.live.status import Sink

MISMATCH = "mismatch"  # the kind of halt a reconciliation raises


class Switches:
    """The switches and the halt of one trader.

    Attributes:
        kill_switch: the operator's kill switch is engaged (no new entries).
        entries_paused: the operator paused entries.
        halted: the halt (``kind``, ``reason``, ``since``), or None.
        flatten_pending: a flatten is sent at the next step (persisted until it is done
            or refused, so a restarted trader still flattens).
    """

    def __init__(self, journal: Journal, sink: Sink, clock: Callable[[], float],
                 flatten_on_kill: bool) -> None:
        """Persist through ``journal``, report to ``sink``; ``clock`` stamps a halt."""
        self.journal, self.sink, self.clock = journal, sink, clock
        self.flatten_on_kill = flatten_on_kill
        self.kill_switch = False
        self.entries_paused = False
        self.halted: dict[str, Any] | None = None
        self.flatten_pending = False

    def load(self) -> None:
        """Read the persisted switches and halt."""
        j = self.journal
        self.kill_switch = bool(j.get_state(keys.KILL_SWITCH, False))
        self.entries_paused = bool(j.get_state(keys.ENTRIES_PAUSED, False))
        self.halted = j.get_state(keys.HALTED)
        self.flatten_pending = bool(j.get_state(keys.FLATTEN_PENDING, False))
        if self.kill_switch and self.flatten_on_kill:
            self.flatten_pending = True

    # --- operator commands ----------------------------------------------------------

    def engage_kill(self) -> str:
        """Stop entries; flatten too if configured. Returns the reply to the operator."""
        self.kill_switch = True
        self.journal.set_state(keys.KILL_SWITCH, True)
        flatten = self.flatten_on_kill
        if flatten:
            self.set_flatten(True)
        self.sink.event("warning", "kill-switch", "kill switch engaged" +
                        (": flattening" if flatten else ""), {})
        return "kill switch on: no new entries" + ("; flattening" if flatten else "")

    def pause(self) -> str:
        """Stop opening positions. Returns the reply to the operator."""
        self.entries_paused = True
        self.journal.set_state(keys.ENTRIES_PAUSED, True)
        return "entries paused"

    def resume(self) -> str:
        """Allow entries and release the kill switch. Returns the reply to the operator."""
        self.entries_paused = self.kill_switch = False
        self.journal.set_states({keys.ENTRIES_PAUSED: False, keys.KILL_SWITCH: False})
        extra = f" (still halted: {self.halted['reason']})" if self.halted else ""
        return "entries resumed (kill switch released)" + extra

    def request_flatten(self) -> str:
        """Flatten at the next step (persisted). Returns the reply to the operator."""
        self.set_flatten(True)
        return "flatten requested: the broker's position is closed at the next step"

    def set_flatten(self, pending: bool) -> None:
        """Ask for a flatten, or clear the request once done or refused (persisted)."""
        self.flatten_pending = pending
        self.journal.set_state(keys.FLATTEN_PENDING, pending)

    # --- the halt -------------------------------------------------------------------

    def halt(self, kind: str, reason: str) -> None:
        """Halt trading (persisted) for ``reason``."""
        self.halted = {"kind": kind, "reason": reason, "since": self.clock()}
        self.journal.set_state(keys.HALTED, self.halted)

    def unhalt(self, why: str) -> None:
        """Lift the halt (persisted) and say ``why``."""
        self.halted = None
        self.journal.set_state(keys.HALTED, None)
        self.sink.event("info", "reconcile", f"halt lifted: {why}", {})

    @property
    def mismatch_halt(self) -> bool:
        """True if trading is halted by a position mismatch."""
        return self.halted is not None and self.halted.get("kind") == MISMATCH

    def halt_reason(self, reconciled: bool) -> str:
        """Why trading is halted ("" if it is not), unresolved orders included."""
        halted = str(self.halted.get("reason", "halted")) if self.halted else ""
        if not halted and not reconciled:
            halted = "orders unresolved"
        return halted
