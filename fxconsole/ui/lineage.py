"""The current lineage of a training series after rollbacks (pure).

A rollback makes the trainer resume from an older checkpoint, so its step counter goes
back (1.82M → 750k) and the metrics of the abandoned timeline (750k–1.82M) stay in the
store. Read in the order they were written, the current lineage is every point whose
step is below that of every point written after it; the rest is the abandoned timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[int, float]  # (step, value)


@dataclass(frozen=True)
class Lineage:
    """A series reduced to its current timeline.

    Attributes:
        points: (step, value) of the current lineage, in step order.
        rollbacks: the steps training resumed from (the current lineage's last point
            before each rollback), oldest first.
        abandoned: how many points of abandoned timelines were left out.
    """

    points: tuple[Point, ...]
    rollbacks: tuple[int, ...] = ()
    abandoned: int = 0


def current_lineage(written: Sequence[Point]) -> Lineage:
    """The current lineage of ``written`` (points in the order they were written).

    Args:
        written: (step, value) pairs, oldest write first.

    Returns:
        The points kept (in step order), the rollback points, the count left out.
    """
    kept: list[Point] = []
    low: int | None = None
    drops: list[int] = []  # the step each rollback resumed at, newest first
    for i in range(len(written) - 1, -1, -1):
        step, value = written[i]
        if low is None or step < low:
            kept.append((step, value))
            low = step
        if i > 0 and written[i - 1][0] > step:  # the step went back here: a rollback
            drops.append(step)
    points = tuple(reversed(kept))
    # each rollback resumed just after the newest kept point older than its first step
    rollbacks = []
    for first in reversed(drops):
        before = [s for s, _ in points if s < first]
        rollbacks.append(before[-1] if before else first)
    return Lineage(points, tuple(dict.fromkeys(rollbacks)), len(written) - len(points))
