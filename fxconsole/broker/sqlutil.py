"""Timestamps between the broker's ns and the console database's UNIX seconds.

The broker package sits below ``ops`` (DESIGN.md: dependencies point one way): it gets a
plain ``sqlite3.Connection`` and writes with :func:`fxconsole.sqlitetx.immediate`.
"""

from __future__ import annotations


def ns_to_seconds(ns: int | None) -> float | None:
    """UNIX ns → seconds (REAL columns hold seconds, as every timestamp of the schema)."""
    return None if ns is None else ns / 1e9


def seconds_to_ns(seconds: float | None) -> int | None:
    """UNIX seconds from a REAL column → ns, exact to the microsecond."""
    return None if seconds is None else round(seconds * 1e6) * 1000
