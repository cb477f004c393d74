"""The CLI's Rich consoles: terminal-sized on a TTY, unwrapped when piped or redirected.

Rich gives a console that is not a terminal a width of 80 columns and wraps every line
there, so ``fxconsole status > file`` or ``| grep`` split words ("…not\\nvalidated") and
metric names. A console writing to a pipe or file gets a width no line reaches instead;
colour follows Rich's rules (none when not a terminal, none when ``NO_COLOR`` is set).
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console

PIPE_WIDTH = 10_000
"""Columns of a console writing to a pipe or a file: wide enough that nothing wraps."""


def is_tty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for a closed or unusual stream)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def make_console(*, stderr: bool = False, highlight: bool = False) -> Console:
    """A console for one command's output.

    Args:
        stderr: Write to standard error instead of standard output.
        highlight: Let Rich colour numbers and strings it recognises.

    Returns:
        A console that follows the terminal's width, or never wraps when the stream
        is not a terminal.
    """
    stream = sys.stderr if stderr else sys.stdout
    if is_tty(stream):
        return Console(stderr=stderr, highlight=highlight)
    return Console(stderr=stderr, highlight=highlight, width=PIPE_WIDTH, soft_wrap=True)
