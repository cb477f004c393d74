"""Sniffing which bar file format a file is in, from its first few kilobytes."""

from __future__ import annotations

import re
from pathlib import Path

from fxconsole.market.bars import BarsError
from fxconsole.market.formats._table import head_lines, sniff_delimiter

FORMATS: tuple[str, ...] = ("oanda", "csv", "histdata", "metatrader", "dukascopy")

_HISTDATA = re.compile(r"^\d{8} \d{6};")
_METATRADER = re.compile(r"^\d{4}\.\d{2}\.\d{2},\d{2}:\d{2}(?::\d{2})?,")
_DUKASCOPY = re.compile(r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)?,")
_CANDLES = re.compile(r'"candles"\s*:')
_LETTER = re.compile(r"[A-Za-z]")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_header(line: str) -> bool:
    """Whether ``line`` is a header: delimited names, none a number, some with letters."""
    fields = [f.strip().strip("\"'") for f in line.split(sniff_delimiter(line))]
    return (
        len(fields) >= 2
        and not any(_is_number(f) for f in fields if f)
        and any(_LETTER.search(f) for f in fields)
    )


def _is_dukascopy(lines: list[str]) -> bool:
    """Dukascopy rows, either first or after a ``Gmt time,...`` header."""
    if _DUKASCOPY.match(lines[0]):
        return True
    first_field = lines[0].split(",")[0].strip().strip("\"'").lower()
    return first_field == "gmt time" and len(lines) > 1 and bool(_DUKASCOPY.match(lines[1]))


def detect_format(path: Path) -> str:
    """Guess the format of a bar file from its first few kilobytes.

    Args:
        path: the file.

    Returns:
        One of ``FORMATS``: ``oanda`` for JSON with ``candles``; ``histdata`` for
        ``YYYYMMDD HHMMSS;`` lines; ``metatrader`` for headerless ``YYYY.MM.DD,HH:MM,``
        lines; ``dukascopy`` for ``DD.MM.YYYY HH:MM:SS.fff,`` lines (with or without a
        ``Gmt time`` header); ``csv`` for any other delimited file with a header.

    Raises:
        BarsError: if the file is empty or matches none of them.
    """
    source = str(path)
    lines = [line.strip() for line in head_lines(path)]
    if not lines:
        raise BarsError(source, "the file is empty")
    first = lines[0]
    if first.startswith(("{", "[")):
        if _CANDLES.search("\n".join(lines)):
            return "oanda"
    elif _HISTDATA.match(first):
        return "histdata"
    elif _METATRADER.match(first):
        return "metatrader"
    elif _is_dukascopy(lines):
        return "dukascopy"
    elif looks_like_header(first):
        return "csv"
    raise BarsError(source, f"cannot detect the format; use --format one of {', '.join(FORMATS)}")
