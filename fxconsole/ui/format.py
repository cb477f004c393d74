"""Short, column-friendly renderings of numbers, ages and sizes (pure)."""

from __future__ import annotations

DASH = "—"


def age(seconds: float | None) -> str:
    """``5s``, ``3m``, ``2h``, ``4d`` (negative ages show as 0s; None as a dash)."""
    if seconds is None:
        return DASH
    seconds = max(seconds, 0.0)
    for limit, unit, size in ((120, "s", 1), (7200, "m", 60), (172_800, "h", 3600)):
        if seconds < limit:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds / 86_400:.0f}d"


def si(value: float | None) -> str:
    """Counts in a few characters: ``950``, ``12.3k``, ``4.56M``."""
    if value is None:
        return DASH
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def num(value: float | None, spec: str = ".2f") -> str:
    """``format(value, spec)``, or a dash for None."""
    return DASH if value is None else format(value, spec)


def pct(value: float | None) -> str:
    """A fraction as a percentage: ``0.523`` → ``52.3%``."""
    return DASH if value is None else f"{value:.1%}"


def pips(value: float | None) -> str:
    """Signed pips with one decimal: ``+12.5``."""
    return DASH if value is None else f"{value:+,.1f}"


def mem(rss: int | None) -> str:
    """Resident memory: ``812M``, ``1.2G``."""
    if rss is None:
        return DASH
    mib = rss / 2**20
    return f"{mib / 1024:.1f}G" if mib >= 1024 else f"{mib:.0f}M"
