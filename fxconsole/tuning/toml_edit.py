"""Set keys of a TOML configuration file in place, keeping everything else as written.

Line-based on purpose: the user's comments, order and spacing survive. A key's line is
replaced where it is; a missing key goes to the end of its ``[section]``; a missing
section is appended. The result is parsed back and must hold exactly the new values (a
file that sets the key another way — a dotted key, an inline table — is refused rather
than half-edited). Pure: text in, text out.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from fxconsole.config import toml_value

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")


class TomlEditError(ValueError):
    """The file cannot be edited safely (it names the key and why)."""


def set_values(text: str, values: dict[str, dict[str, Any]], comment: str) -> str:
    """``text`` with ``values[section][key]`` set, each line marked ``# comment``.

    Raises:
        TomlEditError: ``text`` is not valid TOML, or the edit would not read back as
            the values set (e.g. the key is set by a dotted key or an inline table).
    """
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlEditError(f"not valid TOML: {exc}") from None
    lines = text.splitlines()
    for section, items in values.items():
        for key, value in items.items():
            lines = _set_one(lines, section, key, f"{key} = {toml_value(value)}  # {comment}")
    out = "\n".join(lines) + "\n"
    try:
        parsed = tomllib.loads(out)
    except tomllib.TOMLDecodeError as exc:
        raise TomlEditError(f"the edited file would not be valid TOML ({exc}): edit "
                            "it by hand") from None
    for section, items in values.items():
        for key, value in items.items():
            got = parsed.get(section, {}).get(key) if isinstance(parsed.get(section), dict) \
                else None
            if got != value:
                raise TomlEditError(f"{section}.{key} is set in a form this editor does not "
                                    f"change (it reads {got!r}): edit it by hand")
    return out


def _set_one(lines: list[str], section: str, key: str, line: str) -> list[str]:
    start = next((i for i, text in enumerate(lines)
                  if (m := _HEADER.match(text)) and m.group(1) == section), None)
    if start is None:
        tail = [""] if lines and lines[-1].strip() else []
        return [*lines, *tail, f"[{section}]", line]
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])
                or lines[i].lstrip().startswith("[[")), len(lines))
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start + 1, end):
        if pattern.match(lines[i]):
            return [*lines[:i], line, *lines[i + 1:]]
    last = start
    for i in range(start + 1, end):
        if lines[i].strip():
            last = i
    return [*lines[:last + 1], line, *lines[last + 1:]]
