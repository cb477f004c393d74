"""Reconciliation findings (pure): does the journal's position agree with the broker's?

The engine (:mod:`.engine`) resolves the journal's unresolved orders through
:class:`~.execution.Execution`, then compares positions with :func:`compare` and applies
the finding: a mismatch halts trading (persisted), raises an error event and assumes
nothing — only an explicit flatten may trade until it is resolved; an agreement lifts a
mismatch halt. Positions are compared on start, after every UNKNOWN or NOT_FOUND, before
every entry, after an exit that did not fill as sent and once a minute, so a position
changed behind the trader's back (a margin closeout, a manual close) halts trading too.
"""

from __future__ import annotations

from dataclasses import dataclass


def mismatch_reason(believed: int, actual: int) -> str:
    """Why the positions disagree ("" if they agree)."""
    if believed == actual:
        return ""
    return (f"position mismatch: the journal believes {believed:+d}, the broker "
            f"has {actual:+d}")


@dataclass(frozen=True)
class Finding:
    """The positions compared: what the journal believes and what the broker holds."""

    believed: int
    actual: int

    @property
    def agree(self) -> bool:
        """True if the positions agree."""
        return self.believed == self.actual

    @property
    def reason(self) -> str:
        """Why they disagree ("" if they agree)."""
        return mismatch_reason(self.believed, self.actual)


def compare(believed: int, actual: int) -> Finding:
    """The finding of comparing the ``believed`` position with the broker's ``actual``."""
    return Finding(believed, actual)
