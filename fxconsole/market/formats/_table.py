"""Reading delimited text files into string columns with their line numbers.

Shared by the CSV-like readers. Every cell is read as a string (Arrow's multithreaded CSV
parser) and converted afterwards, so one bad value never fails a whole column. Empty
lines, anywhere in the file, are skipped but still counted, so ``rows`` holds the real
1-based line numbers. Quoted values spanning lines are not supported (bar files have none).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from fxconsole.market.bars import F64, I64, BarsError, RawBars

logger = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class TextTable:
    """The data rows of a delimited file, as string columns.

    Attributes:
        header: the header fields (empty when the file was read without a header).
        columns: one Arrow string array per field.
        rows: the 1-based line number of each data row.
        delimiter: the field delimiter used.
    """

    header: list[str]
    columns: list[pa.Array]
    rows: I64
    delimiter: str


def read_bytes(path: Path) -> bytes:
    """Read a file as UTF-8 bytes without a byte-order mark (UTF-16 files are re-encoded)."""
    data = path.read_bytes()
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16").encode("utf-8")
    return data.removeprefix(_UTF8_BOM)


def head_lines(path: Path, size: int = 8192) -> list[str]:
    """Return the first non-empty lines within the first ``size`` bytes of a file."""
    with path.open("rb") as handle:
        chunk = handle.read(size)
        truncated = bool(handle.read(1))
    if chunk.startswith(_UTF16_BOMS):
        text = chunk.decode("utf-16", errors="ignore")
    else:
        text = chunk.removeprefix(_UTF8_BOM).decode("utf-8", errors="replace")
    lines = text.splitlines()
    if truncated and len(lines) > 1:
        lines.pop()  # cut short; a single long line (minified JSON) is kept as it is
    return [line for line in lines if line.strip()]


def sniff_delimiter(line: str) -> str:
    """Return the most frequent of ``,`` ``;`` and tab in ``line`` (``,`` if none)."""
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _line_bounds(buf: npt.NDArray[np.uint8]) -> tuple[I64, I64]:
    """Byte offsets of every line's start and end (its newline, or the end of the data)."""
    newlines = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    ends = np.concatenate((newlines, [buf.size])).astype(np.int64)
    return starts, ends


def _blank_lines(data: bytes, starts: I64, ends: I64) -> list[int]:
    """Indices of the non-empty lines holding only spaces, tabs or CRs."""
    # Only lines starting with a space, tab or CR are checked one by one.
    buf = np.frombuffer(data, dtype=np.uint8)
    first = buf[np.minimum(starts, max(buf.size - 1, 0))] if buf.size else buf
    spaced = (ends > starts) & np.isin(first, np.frombuffer(b" \t\r", dtype=np.uint8))
    return [int(i) for i in np.flatnonzero(spaced) if not data[starts[i] : ends[i]].strip()]


def line_spans(data: bytes) -> tuple[bytes, I64, I64, I64]:
    """Locate the non-blank lines of ``data``.

    Returns:
        ``(data, numbers, starts, ends)``: the data with blank lines (spaces, tabs, CRs)
        emptied so the CSV parser skips them, then the 1-based numbers of the other lines
        and the byte offsets of their first character and of their end (the newline, or
        the end of the data).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _line_bounds(buf)
    blank = _blank_lines(data, starts, ends)
    if blank:
        keep_bytes = np.ones(buf.size, dtype=np.bool_)
        for i in blank:
            keep_bytes[starts[i] : ends[i]] = False
        data = buf[keep_bytes].tobytes()
        starts, ends = _line_bounds(np.frombuffer(data, dtype=np.uint8))
    keep = np.flatnonzero(ends > starts)
    return data, keep.astype(np.int64) + 1, starts[keep], ends[keep]


def _field_count_errors(text: bytes, delimiter: str, expected: int, numbers: I64) -> list[int]:
    """Return the line numbers whose field count differs from ``expected`` (slow path)."""
    lines = [line for line in text.decode("utf-8", errors="replace").splitlines() if line]
    counts = (len(fields) for fields in csv.reader(lines, delimiter=delimiter))
    return [int(n) for n, count in zip(numbers, counts, strict=False) if count != expected]


def read_table(
    path: Path, *, header: bool, delimiter: str | None = None, data: bytes | None = None
) -> TextTable:
    """Read a delimited file into string columns.

    Args:
        path: the file.
        header: whether the first non-empty line is a header.
        delimiter: the field delimiter; sniffed from the first line if None.
        data: the file's bytes if already read (as returned by ``read_bytes``).

    Returns:
        The data rows; the number of fields is taken from the first line.

    Raises:
        BarsError: if the file has no data rows or a line has a different field count.
    """
    source = str(path)
    data = read_bytes(path) if data is None else data
    data, numbers, starts, ends = line_spans(data)
    if numbers.size == 0:
        raise BarsError(source, "the file is empty")
    first = data[starts[0] : ends[0]].decode("utf-8", errors="replace").rstrip("\r")
    delimiter = delimiter or sniff_delimiter(first)
    fields = next(csv.reader([first], delimiter=delimiter))
    body, fields_line = pa.py_buffer(data), int(numbers[0])
    if header:
        body, numbers = body.slice(int(ends[0])), numbers[1:]
    if numbers.size == 0:
        raise BarsError(source, "no data rows")
    keys = [f"f{i}" for i in range(len(fields))]
    try:
        table = pacsv.read_csv(
            body,
            read_options=pacsv.ReadOptions(column_names=keys),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(keys, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        bad = _field_count_errors(body.to_pybytes(), delimiter, len(fields), numbers)
        reason = f"expected {len(fields)} fields separated by {delimiter!r} like line {fields_line}"
        raise BarsError(source, reason if bad else f"cannot parse: {exc}", rows=bad) from None
    if table.num_rows != numbers.size:
        logger.warning(
            "%s: %d rows but %d lines; numbering rows in order",
            source,
            table.num_rows,
            numbers.size,
        )
        numbers = np.arange(table.num_rows, dtype=np.int64) + numbers[0]
    columns = [table.column(k).combine_chunks() for k in keys]
    return TextTable(fields if header else [], columns, numbers, delimiter)


def make_bars(
    source: str, ts: I64, prices: tuple[F64, F64, F64, F64], volume: F64 | None, rows: I64
) -> RawBars:
    """Assemble ``RawBars``; a missing volume becomes zeros."""
    if volume is None:
        volume = np.zeros(ts.shape, dtype=np.float64)
    o, h, low, c = prices
    return RawBars(
        source=source,
        ts=ts,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=volume,
        row=np.asarray(rows, dtype=np.int64),
    )
