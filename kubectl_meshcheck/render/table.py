"""kubectl-style tables that fit the terminal: never a row split across lines.

A view declares its :class:`Column` s; :func:`fit_table` lays the rows out in the width it is given:
1. at natural width if that fits;
2. else (default output only) leaving out the columns a view marks droppable, lowest ``drop`` first, and
   naming them under the table (with their value, when every row has the same one);
3. else cutting free-text columns (``shrink``) with ``…``, first to no less than 20 cells, then to their
   header (``-o wide`` and ``-o json`` show them whole);
4. else, and for ``-o wide`` whenever it does not fit, one record per row (``HEADER: value`` lines,
   wrapped at word boundaries), which always fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .terminal import cells, cut, wrap

GAP = 2  # spaces between columns
SHRINK_FLOOR = 20  # free text is first cut no shorter than this; only then are columns left out


@dataclass(frozen=True)
class Column:
    """One table column: a header and the row key it shows.

    ``short`` turns the row's value into the default view's cell (``-o wide`` shows the value whole);
    ``shrink`` marks free text that may be cut with ``…`` to fit; ``drop`` > 0 lets the default view
    leave the column out when the terminal is too narrow (lowest first; the table says which).
    """

    header: str
    key: str
    short: Callable[[Any], str] | None = None
    shrink: bool = False
    drop: int = 0

    def cell(self, row: dict, wide: bool) -> str:
        value = row.get(self.key)
        if self.short is not None and not wide:
            return self.short(value) or "-"
        return text_of(value)


def text_of(value: Any) -> str:
    """A row value as a table cell: lists comma-joined, nothing as ``-``, on one line."""
    if isinstance(value, list):
        return ",".join(" ".join(str(x).split()) for x in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value in ("", None) else " ".join(str(value).split())


def head(value: Any) -> str:
    """The first words of a verdict, before its explanation: ``blackhole: ...`` -> ``blackhole``."""
    text = text_of(value)
    for sep in (": ", " ("):
        text = text.split(sep, 1)[0]
    return text


def table(headers: list[str], rows: list[list], maxwidths: list[int | None] | None = None) -> str:
    """A plain table at natural width (lists whose rows are short: plugins)."""
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True, maxcolwidths=maxwidths)


def listing(headers: list[str], rows: list[list], shrink: Sequence[str] = (), drop: Sequence[str] = (),
            wide: bool = False) -> str:
    """A list (rules, plugins) as a table that fits the terminal: ``shrink`` headers name free text that
    may be cut, ``drop`` the columns that may be left out, first named first."""
    from .terminal import terminal_width

    columns = [Column(h, h, shrink=h in shrink, drop=list(drop).index(h) + 1 if h in drop else 0) for h in headers]
    return "\n".join(fit_table(columns, [dict(zip(headers, r)) for r in rows], terminal_width(), wide))


def _natural(cols: Sequence[Column], grid: list[list[str]]) -> list[int]:
    return [max([cells(c.header)] + [cells(r[i]) for r in grid]) for i, c in enumerate(cols)]


def _total(widths: list[int]) -> int:
    return sum(widths) + GAP * (len(widths) - 1) if widths else 0


def _line(values: list[str], widths: list[int]) -> str:
    return (" " * GAP).join(v + " " * (w - cells(v)) for v, w in zip(values, widths)).rstrip()


def _shrunk(cols: list[Column], widths: list[int], width: int, floor: int | None) -> list[int] | None:
    """Widths with free-text columns cut (widest first, not below ``floor`` or the header) to fit, or None."""
    widths = list(widths)
    lows = [max(cells(c.header), floor or 0, 4) if c.shrink else w for c, w in zip(cols, widths)]
    excess = _total(widths) - width
    if excess > sum(w - lo for w, lo in zip(widths, lows) if w > lo):
        return None
    while excess > 0:
        i = max((j for j in range(len(cols)) if widths[j] > lows[j]), key=lambda j: widths[j])
        widths[i] -= 1
        excess -= 1
    return widths


def _hidden(c: Column, grid: list[list[str]], i: int) -> str:
    """A left-out column's name, with its value when every row has the same one (``MESH (all sidecar)``)."""
    values = {r[i] for r in grid}
    return f"{c.header} (all {values.pop()})" if len(values) == 1 and len(grid) > 1 else c.header


def fit_table(columns: Sequence[Column], rows: list[dict], width: int, wide: bool = False,
              after: Callable[[dict], list[str]] | None = None) -> list[str]:
    """The rows as lines no longer than ``width`` (see the module docstring for how); ``after(row)``
    gives lines printed under a row (a command to copy), which are left as they are."""
    columns = list(columns)
    full = [[c.cell(r, wide) for c in columns] for r in rows]
    drops = [] if wide else sorted((c for c in columns if c.drop), key=lambda c: c.drop)
    # columns are left out before any text is cut; -o wide never cuts (records instead)
    tries: list[tuple[int, int | None | bool]] = [(k, False) for k in range(len(drops) + 1)]
    if not wide:
        tries += [(len(drops), SHRINK_FLOOR), (len(drops), None)]
    for k, floor in tries:
        cols = [c for c in columns if c not in drops[:k]]
        keep = [columns.index(c) for c in cols]
        grid = [[r[i] for i in keep] for r in full]
        widths = _natural(cols, grid)
        if _total(widths) > width:
            widths = None if floor is False else _shrunk(cols, widths, width, floor or None)
        if widths is None:
            continue
        lines = [_line([c.header for c in cols], widths)]
        for row, values in zip(rows, grid):
            lines.append(_line([cut(v, w) for v, w in zip(values, widths)], widths))
            lines += after(row) if after else []
        if k:
            hidden = ", ".join(_hidden(c, full, columns.index(c)) for c in drops[:k])
            lines += wrap(f"(not shown at {width} columns: {hidden}; -o wide shows every column)", width)
        return lines
    return records(columns, rows, width, wide, after)


def records(columns: Sequence[Column], rows: list[dict], width: int, wide: bool = False,
            after: Callable[[dict], list[str]] | None = None) -> list[str]:
    """One block per row, ``HEADER: value`` items packed into lines of ``width``: what fits any terminal."""
    out: list[str] = []
    for n, row in enumerate(rows):
        if n and out[-1] != "":
            out.append("")
        block: list[str] = []
        line = ""
        for c in columns:
            item = f"{c.header}: {c.cell(row, wide)}"
            joined = f"{line}   {item}" if line.strip() else line + item
            if cells(joined) <= width:
                line = joined
                continue
            if line.strip():
                block.append(line)
            indent = "  " if block else ""
            pieces = wrap(item, width, indent, indent + "    ")
            block += pieces[:-1]
            line = pieces[-1]
        block.append(line)
        out += block + (after(row) if after else [])
    return out
