"""One way to format numbers for people: CLI output, reports, the console.

Pure functions, no I/O. Every number shown to an operator goes through here so
that the same quantity never appears as ``1.51e+06`` in one place and
``1,510,000`` in another:

* thousands separators on every magnitude ≥ 1,000;
* a fixed number of decimals when the caller knows the unit (pips, ratios),
  otherwise decimals chosen by magnitude (:func:`num`);
* ``"—"`` (:data:`UNDEFINED`) for a value that does not exist: ``None``, NaN or
  an infinity (a win rate with no trades, a profit factor with no losses).
"""

from __future__ import annotations

import math
from numbers import Real

UNDEFINED = "—"
"""What an undefined value (``None``, NaN, ±inf) is shown as."""


def defined(value: object) -> bool:
    """Whether a value is a finite real number (``bool`` is not a number here).

    Args:
        value: Anything.

    Returns:
        True for finite ints and floats, False for ``None``, NaN, ±inf and non-numbers.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, Real):
        return False
    return math.isfinite(float(value))


def finite_or_none(value: float | int | None) -> float | None:
    """A float, or ``None`` when the value is undefined (for JSON: ``null``, not NaN).

    Args:
        value: A number or ``None``.

    Returns:
        ``float(value)`` when finite, else ``None``.
    """
    return float(value) if value is not None and defined(value) else None


def num(value: object, digits: int | None = None, *, sign: bool = False) -> str:
    """Format a number with thousands separators, or "—" when undefined.

    Args:
        value: The number (int, float, numpy scalar) or ``None``.
        digits: Decimals to show. ``None`` chooses by magnitude: integers and
            values ≥ 1,000 get none, values ≥ 1 get two, smaller ones three
            significant digits (``0.000312``); below 1e-4 scientific (``3.1e-06``).
        sign: Show a leading ``+`` on positive values (P/L, expectancy, SQN).

    Returns:
        The formatted number, e.g. ``"1,510,000"``, ``"+12.34"``, ``"—"``.
    """
    if not defined(value):
        return UNDEFINED
    plus = "+" if sign else ""
    if _is_integral_type(value) and digits is None:
        return f"{int(value):{plus},d}"  # type: ignore[call-overload]
    x = float(value)  # type: ignore[arg-type]
    if digits is not None:
        text = f"{x:{plus},.{digits}f}"
        return _no_negative_zero(text)
    magnitude = abs(x)
    if magnitude == 0.0:
        return "0"
    if magnitude >= 1000:
        return _no_negative_zero(f"{x:{plus},.0f}")
    if magnitude >= 1:
        return f"{x:{plus},.2f}"
    if magnitude >= 1e-4:
        return f"{x:{plus}.3g}"
    return f"{x:{plus}.1e}"


def signed(value: object, digits: int = 2) -> str:
    """A signed number with fixed decimals (``+12.30``, ``-7,921.30``), or "—".

    Args:
        value: The number or ``None``.
        digits: Decimals to show.

    Returns:
        The formatted number.
    """
    return num(value, digits, sign=True)


def pct(value: object, digits: int = 1) -> str:
    """A fraction as a percentage (``0.523`` → ``"52.3%"``), or "—" when undefined.

    Args:
        value: A fraction (1.0 is 100 %) or ``None``.
        digits: Decimals of the percentage.

    Returns:
        The formatted percentage.
    """
    if not defined(value):
        return UNDEFINED
    return _no_negative_zero(f"{float(value) * 100:,.{digits}f}%")  # type: ignore[arg-type]


def count(value: object) -> str:
    """An integer count with thousands separators (``18,342``), or "—".

    Args:
        value: A count or ``None``.

    Returns:
        The formatted count.
    """
    if not defined(value):
        return UNDEFINED
    return f"{round(float(value)):,d}"  # type: ignore[arg-type]


def rate(value: object, unit: str = "/s") -> str:
    """A rate such as steps per second (``1,204/s``, ``3.50/s``), or "—".

    Args:
        value: The rate or ``None``.
        unit: Appended to the number.

    Returns:
        The formatted rate.
    """
    text = num(value)
    return text if text == UNDEFINED else f"{text}{unit}"


def _is_integral_type(value: object) -> bool:
    """Whether a value's type is an integer type (Python or numpy), not a float."""
    return isinstance(value, int) or type(value).__name__.startswith(("int", "uint"))


def _no_negative_zero(text: str) -> str:
    """Drop the sign of a value that rounds to zero (``-0.00`` → ``0.00``)."""
    stripped = text.lstrip("+-")
    if stripped.replace("0", "").replace(".", "").replace(",", "").rstrip("%") == "":
        return stripped
    return text
