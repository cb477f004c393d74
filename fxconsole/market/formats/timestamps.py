"""Vectorised timestamp parsing for the bar file readers.

The format is detected once, from the first non-empty value, and the whole column is then
parsed in one vectorised pass: non-ISO layouts are rewritten to ISO-8601 with an RE2 regex
(pyarrow) and cast by Arrow's ISO parser; pandas handles offsets and odd cases. Values that
still fail are grouped by the format they look like and parsed again, group by group, so a
file mixing a few layouts stays fast. What fails every format is reported with its rows.

Naive timestamps are taken as UTC; ``Z`` and ``+hh:mm`` offsets are converted to UTC.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fxconsole.market.bars import I64, BarsError
from fxconsole.market.formats._numbers import to_float64

_TIME = r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
_OFFSET = r"(Z|[+-]\d{2}:?\d{2})"

NAT = np.iinfo(np.int64).min
# Epoch units by magnitude of the first value: (values below, microseconds per unit) for
# seconds, milliseconds and microseconds; anything larger is nanoseconds.
EPOCH_UNITS = ((1e11, 1e6), (1e14, 1e3), (1e17, 1.0))


@dataclass(frozen=True)
class TimeFormat:
    """One accepted timestamp layout.

    Attributes:
        name: short key, used to restrict a reader to its own layouts.
        pattern: full-match regex (valid for both Python ``re`` and RE2).
        example: a sample value, shown in error messages.
        rewrite: RE2 replacement turning a match into ISO-8601, or None if already ISO.
        strptime: a pandas ``format`` to use instead of a rewrite (layouts needing padding).
        aware: the value carries a UTC offset.
    """

    name: str
    pattern: str
    example: str
    rewrite: str | None = None
    strptime: str | None = None
    aware: bool = False


TIME_FORMATS: tuple[TimeFormat, ...] = (
    TimeFormat("iso", r"^\d{4}-\d{2}-\d{2}(?:[T ]" + _TIME + ")?$", "2023-01-02 17:00:00"),
    TimeFormat(
        "iso_offset",
        r"^\d{4}-\d{2}-\d{2}[T ]" + _TIME + _OFFSET + "$",
        "2023-01-02T17:00:00+02:00",
        aware=True,
    ),
    TimeFormat(
        "ymd_dots",
        r"^(\d{4})[./](\d{2})[./](\d{2})[ T]" + _TIME + "$",
        "2023.01.02 17:00",
        rewrite=r"\1-\2-\3 \4",
    ),
    TimeFormat("ymd_dots_date", r"^(\d{4})[./](\d{2})[./](\d{2})$", "2023.01.02", r"\1-\2-\3"),
    TimeFormat(
        "dmy_dots",
        r"^(\d{2})\.(\d{2})\.(\d{4}) " + _TIME + "$",
        "02.01.2023 17:00:00.000",
        rewrite=r"\3-\2-\1 \4",
    ),
    TimeFormat(
        "dmy_dots_gmt",
        r"^(\d{2})\.(\d{2})\.(\d{4}) " + _TIME + r" GMT([+-]\d{4})$",
        "02.01.2023 19:00:00.000 GMT+0200",
        rewrite=r"\3-\2-\1 \4\5",
        aware=True,
    ),
    TimeFormat(
        "compact",
        r"^(\d{4})(\d{2})(\d{2})[ T]?(\d{2})(\d{2})(\d{2})$",
        "20230102 170000",
        rewrite=r"\1-\2-\3 \4:\5:\6",
    ),
    TimeFormat(
        "compact_hm",
        r"^(\d{4})(\d{2})(\d{2}) (\d{2})(\d{2})$",
        "20230102 1700",
        rewrite=r"\1-\2-\3 \4:\5",
    ),
    TimeFormat(
        "mdy",
        r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}$",
        "01/02/2023 17:00",
        strptime="%m/%d/%Y %H:%M",
    ),
    TimeFormat(
        "mdy_s",
        r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}$",
        "01/02/2023 17:00:00",
        strptime="%m/%d/%Y %H:%M:%S",
    ),
    TimeFormat("mdy_date", r"^\d{1,2}/\d{1,2}/\d{4}$", "01/02/2023", strptime="%m/%d/%Y"),
    TimeFormat(
        "ymd_compact_date",
        r"^((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$",
        "20230102",
        rewrite=r"\1-\2-\3",
    ),
    TimeFormat("epoch", r"^-?\d+(?:\.\d*)?$", "1672678800 (epoch s or ms)"),
)

# Shown in an error when no value matched any layout.
COMMON_LAYOUTS = ("iso", "ymd_dots", "dmy_dots", "compact", "epoch")
_BY_NAME = {f.name: f for f in TIME_FORMATS}
_COMPILED = {f.name: re.compile(f.pattern) for f in TIME_FORMATS}


def detect_time_format(value: str, allowed: Sequence[str] | None = None) -> TimeFormat | None:
    """Return the first accepted layout that ``value`` matches, or None."""
    value = value.strip()
    for fmt in TIME_FORMATS:
        if (allowed is None or fmt.name in allowed) and _COMPILED[fmt.name].match(value):
            return fmt
    return None


def _iso_to_ns(values: pa.Array, aware: bool) -> I64:
    """Parse ISO-8601 strings to int64 ns (NaT = min int64 where unparsable)."""
    target = pa.timestamp("ns", tz="UTC") if aware else pa.timestamp("ns")
    try:
        cast = pc.cast(values, target)
        return np.asarray(cast.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    obj = values.to_numpy(zero_copy_only=False)
    parsed = pd.to_datetime(obj, format="ISO8601", utc=True, errors="coerce")
    return np.asarray(parsed.as_unit("ns").asi8, dtype=np.int64)


def _epoch_to_ns(values: pa.Array) -> I64:
    """Parse epoch numbers; the unit (s, ms, us, ns) is chosen from the first value."""
    numbers = to_float64(values)
    ok = np.isfinite(numbers)
    out = np.full(numbers.shape, NAT, dtype=np.int64)
    if not ok.any():
        return out
    magnitude = abs(numbers[ok][0])
    us_per_unit = next((us for below, us in EPOCH_UNITS if magnitude < below), None)
    if us_per_unit is None:  # nanoseconds
        out[ok] = np.round(numbers[ok]).astype(np.int64)
    else:
        out[ok] = np.round(numbers[ok] * us_per_unit).astype(np.int64) * 1000
    return out


def _apply(fmt: TimeFormat, values: pa.Array) -> I64:
    """Parse ``values`` with one layout (NaT where a value does not fit it)."""
    if fmt.name == "epoch":
        return _epoch_to_ns(values)
    if fmt.strptime is not None:
        obj = values.to_numpy(zero_copy_only=False)
        parsed = pd.to_datetime(obj, format=fmt.strptime, utc=True, errors="coerce")
        return np.asarray(parsed.as_unit("ns").asi8, dtype=np.int64)
    if fmt.rewrite is not None:
        # The `|^.*$` branch turns a value that does not fit the layout into "-- ..."
        # (empty groups), which the ISO parser rejects, instead of leaving it as it is.
        values = pc.replace_substring_regex(
            values, fmt.pattern + "|^.*$", fmt.rewrite, max_replacements=1
        )
    return _iso_to_ns(values, fmt.aware)


def parse_time_values(
    values: pa.Array, allowed: Sequence[str] | None = None
) -> tuple[I64, I64, TimeFormat | None]:
    """Parse strings to int64 ns since the epoch, UTC.

    Args:
        values: an Arrow string array.
        allowed: names of the layouts to accept (all of ``TIME_FORMATS`` if None).

    Returns:
        ``(ns, bad, fmt)``: the parsed values (undefined where bad), the sorted indices
        of the values no accepted layout could parse, and the layout detected from the
        first non-empty value (None if it matched none).
    """
    values = pc.utf8_trim_whitespace(values)
    out = np.full(len(values), NAT, dtype=np.int64)
    tried: set[str] = set()
    primary: TimeFormat | None = None
    pending = np.arange(len(values))  # not parsed yet, not known to be bad
    bad: list[int] = []
    while pending.size:
        index = int(pending[0])
        fmt = detect_time_format(values[index].as_py() or "", allowed)
        if fmt is None or fmt.name in tried:
            bad.append(index)
            pending = pending[1:]
            continue
        tried.add(fmt.name)
        primary = primary or fmt
        subset = values if pending.size == len(values) else values.take(pa.array(pending))
        out[pending] = _apply(fmt, subset)
        pending = pending[out[pending] == NAT]
        if pending.size and pending[0] == index:
            bad.append(index)
            pending = pending[1:]
    return out, np.asarray(sorted(bad), dtype=np.int64), primary


def parse_timestamps(
    values: pa.Array, *, source: str, rows: I64, allowed: Sequence[str] | None = None
) -> I64:
    """Parse a timestamp column, raising on any value that does not parse.

    Args:
        values: an Arrow string array, one value per bar.
        source: the file name, for the error message.
        rows: the line number of each value, for the error message.
        allowed: names of the layouts to accept (all if None).

    Returns:
        int64 nanoseconds since the epoch, UTC.

    Raises:
        BarsError: naming every row whose timestamp does not parse.
    """
    ns, bad, primary = parse_time_values(values, allowed)
    if bad.size:
        shown = values[int(bad[0])].as_py()
        if primary is not None:
            expected = primary.example
        else:
            names = allowed if allowed is not None else COMMON_LAYOUTS
            expected = " or ".join(repr(_BY_NAME[n].example) for n in names)
        raise BarsError(
            source,
            f"cannot parse timestamp {shown!r} (expected e.g. {expected})",
            rows=[int(r) for r in rows[bad]],
        )
    return ns
