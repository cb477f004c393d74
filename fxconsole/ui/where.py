"""Where am I: the trading mode (PAPER / PRACTICE / LIVE), times with their zone, the
forex trading day (it rolls at 17:00 New York), and replayed paper bars (pure).

The console shows every time in one zone (``ui.timezone``, UTC by default) and names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

NEW_YORK = "America/New_York"
ROLL_HOUR = 17  # the forex day ends at 17:00 New York (EST or EDT)
PAPER, PRACTICE, LIVE = "PAPER", "PRACTICE", "LIVE"
ROLL_MARK = "◆"  # marks the first bar of a trading day


@dataclass(frozen=True)
class Where:
    """What the live worker trades on: ``mode`` (PAPER, PRACTICE or LIVE) and, for paper,
    whether it replays stored bars (``replay_year``: the year of the newest bar replayed)."""

    mode: str
    replay: bool = False
    replay_year: int | None = None

    @property
    def label(self) -> str:
        """``PAPER replay 2023``, ``PAPER``, ``PRACTICE``, ``LIVE``."""
        if not self.replay:
            return self.mode
        return f"{self.mode} replay" + (f" {self.replay_year}" if self.replay_year else "")


def trading_mode(broker: str, environment: str | None) -> str:
    """PAPER for the paper broker, else the OANDA environment in capitals (PRACTICE, LIVE).

    Args:
        broker: ``live.broker`` (``paper`` or ``oanda``) or what the live worker reports.
        environment: ``oanda.environment`` (``practice`` or ``live``); unused for paper.
    """
    if broker != "oanda":
        return PAPER
    return LIVE if environment == "live" else PRACTICE


def where(broker: str, environment: str | None, paper_source: str,
          decisions: list[Mapping[str, Any]] | None = None) -> Where:
    """The mode, and for a paper broker replaying stored bars, their year.

    Args:
        broker: ``live.broker``.
        environment: ``oanda.environment``.
        paper_source: ``live.paper_source`` (``replay`` or ``synth``).
        decisions: live's last decisions (newest first; ``bar_ts`` ISO strings).
    """
    mode = trading_mode(broker, environment)
    if mode != PAPER or paper_source != "replay":
        return Where(mode)
    year = next((bar_year(d.get("bar_ts")) for d in decisions or ()
                 if bar_year(d.get("bar_ts")) is not None), None)
    return Where(mode, replay=True, replay_year=year)


def bar_year(iso: object) -> int | None:
    """The year of a bar time ``2023-11-14T22:29:00Z`` (None if not one)."""
    parsed = parse_iso(iso)
    return None if parsed is None else parsed.year


def parse_iso(iso: object) -> datetime | None:
    """An ISO time (``Z`` or an offset; naive means UTC) as an aware datetime, or None."""
    if not isinstance(iso, str) or not iso:
        return None
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@lru_cache(maxsize=8)
def zone(name: str) -> tzinfo:
    """The zone called ``name`` (``UTC`` or an IANA name, checked by the config)."""
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def zone_name(tz: tzinfo, at: datetime) -> str:
    """The short name of ``tz`` at ``at`` (``UTC``, ``BST``, ``EST``; else its offset)."""
    name = at.astimezone(tz).tzname() or "UTC"
    return name if name[:1].isalpha() else f"UTC{name}"


def clock(ts: float, tz_name: str = "UTC") -> str:
    """``13:05 UTC``: the time of UNIX ``ts`` in the zone, named."""
    at = datetime.fromtimestamp(ts, UTC)
    tz = zone(tz_name)
    return f"{at.astimezone(tz):%H:%M} {zone_name(tz, at)}"


def stamp(at: datetime, tz_name: str = "UTC") -> str:
    """``11-14 22:29``: month, day and time of ``at`` in the zone (the zone is named
    once, in the column's heading: :func:`zone_label`)."""
    return f"{at.astimezone(zone(tz_name)):%m-%d %H:%M}"


def zone_label(tz_name: str, ts: float) -> str:
    """The zone's short name at UNIX ``ts`` (``UTC``, ``BST``)."""
    return zone_name(zone(tz_name), datetime.fromtimestamp(ts, UTC))


def trading_day(at: datetime) -> date:
    """The forex trading day ``at`` belongs to: it starts at 17:00 New York the evening
    before (a bar at 17:00 NY or later counts for the next calendar day)."""
    ny = at.astimezone(zone(NEW_YORK))
    return (ny + timedelta(hours=24 - ROLL_HOUR)).date()


def next_roll(at: datetime) -> datetime:
    """The next 17:00 New York after ``at`` (when the trading day rolls), in UTC."""
    ny = at.astimezone(zone(NEW_YORK))
    roll = ny.replace(hour=ROLL_HOUR, minute=0, second=0, microsecond=0)
    if roll <= ny:
        roll = (ny + timedelta(days=1)).replace(hour=ROLL_HOUR, minute=0, second=0,
                                                microsecond=0)
    return roll.astimezone(UTC)


def roll_marks(times: list[datetime | None]) -> list[bool]:
    """For times newest first, whether each is the first of its trading day among them
    (the one after a 17:00 New York roll); the oldest is never marked (its day may have
    begun before it)."""
    marks = []
    for i, at in enumerate(times):
        older = times[i + 1] if i + 1 < len(times) else None
        marks.append(at is not None and older is not None
                     and trading_day(at) != trading_day(older))
    return marks
