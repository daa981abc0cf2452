"""What the terminal allows: its width, whether to colour, and text that fits it without splitting words.

Width: ``COLUMNS`` if set, else the terminal's own size, else 100 (a pipe, ``| less``), like most tools.
Colour (https://no-color.org, https://bixense.com/clicolors): ``--color always|never`` wins; with ``auto``
a non-empty ``NO_COLOR`` turns it off, then ``CLICOLOR_FORCE`` (non-empty, not ``0``) turns it on, then
``CLICOLOR=0`` turns it off, then colour only on a TTY whose ``TERM`` is not ``dumb``. Only severities
are coloured and codes bold; nothing else, so the output reads the same without colour.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from ..model import Severity

PIPE_WIDTH = 100
MIN_WIDTH = 40  # below this nothing reads well; lay out as if the terminal were this wide
COLOR_CHOICES = ("auto", "always", "never")
ELLIPSIS = "…"
GLUE = "\u00a0"  # a space that :func:`wrap` never breaks at
_SPACES = re.compile(r"[ \t\r\n]+")

_SEVERITY_SGR = {Severity.ERROR: "1;31", Severity.WARNING: "1;33", Severity.INFO: "1;36"}


def terminal_width(stream=None) -> int:
    """Columns to lay out for: ``COLUMNS``, else the TTY's size, else 100."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return max(int(env), MIN_WIDTH)
    stream = stream or sys.stdout
    try:
        columns = os.get_terminal_size(stream.fileno()).columns if stream.isatty() else 0
        if columns > 0:  # a pseudo-terminal nobody sized says 0
            return max(columns, MIN_WIDTH)
    except (OSError, ValueError, AttributeError):
        pass
    return PIPE_WIDTH


def use_colour(choice: str = "auto", stream=None) -> bool:
    """Colour decision for ``--color`` (auto/always/never) and the environment, in the ecosystem's order."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    env = os.environ
    if env.get("NO_COLOR"):
        return False
    if env.get("CLICOLOR_FORCE") not in (None, "", "0"):
        return True
    if env.get("CLICOLOR") == "0":
        return False
    stream = stream or sys.stdout
    try:
        tty = stream.isatty()
    except (ValueError, AttributeError):
        tty = False
    return tty and env.get("TERM") != "dumb"


@dataclass(frozen=True)
class Style:
    """Width and colour of one output; every human renderer formats through it."""

    width: int = PIPE_WIDTH
    colour: bool = False

    def severity(self, severity: Severity, text: str | None = None) -> str:
        text = str(severity) if text is None else text
        return f"\033[{_SEVERITY_SGR[severity]}m{text}\033[0m" if self.colour else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.colour else text


def cells(text: str) -> int:
    """Terminal cells ``text`` takes (wide CJK characters take two)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, the cut marked with ``…``."""
    if cells(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    if text.isascii():
        return text[: width - 1] + ELLIPSIS
    from rich.cells import set_cell_size

    return set_cell_size(text, width - 1) + ELLIPSIS


def wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """``text`` wrapped at word boundaries (never mid-word, never at hyphens) with the given prefixes.

    A single word longer than a whole line (a long URL) is cut with ``…`` rather than split, so no line
    ever exceeds ``width``. Words joined by ``GLUE`` stay on one line (a fix's ``[safe, verified]``).
    """
    rest = first if rest is None else rest
    room = max(width - max(cells(first), cells(rest)), 10)
    lines: list[str] = []
    line, used, fresh = first, cells(first), True
    for word in _SPACES.split(text.strip()):
        if not word:
            continue
        size = cells(word)
        if size > room:
            word, size = cut(word, room), room
        if fresh or used + 1 + size <= width:
            line, used = (line + word, used + size) if fresh else (f"{line} {word}", used + 1 + size)
            fresh = False
            continue
        lines.append(line)
        line, used = rest + word, cells(rest) + size
    lines.append(line.rstrip() if fresh else line)
    return [ln.replace(GLUE, " ") for ln in lines]
