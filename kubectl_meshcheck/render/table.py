"""Human output: kubectl-style plain tables (tabulate), colour only on a TTY without NO_COLOR."""

from __future__ import annotations

import os
import sys

from tabulate import tabulate

from ..model import Applicability, Finding, Severity

_COLOURS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _sev(s: Severity, colour: bool) -> str:
    return f"{_COLOURS[s]}{s.name}\033[0m" if colour else s.name


def _fix_cell(f: Finding) -> str:
    withheld = [r for r in f.fixes if r.withheld]
    note = f" [fix withheld: {withheld[0].withheld}]" if withheld else ""
    for r in f.fixes:
        if r.withheld:
            continue
        if r.verified is None:
            return f"{r.fix.title} (display-only){note}"
        mark = "verified" if r.verified else "NOT verified"
        kind = "" if r.fix.applicability is Applicability.SAFE else f"{r.fix.applicability.value}, "
        return f"{r.fix.title} ({kind}{mark}){note}"
    return note.strip(" []")


def table(headers: list[str], rows: list[list], maxwidths: list[int | None] | None = None) -> str:
    return tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True, maxcolwidths=maxwidths)


def findings_table(findings: list[Finding], wide: bool, colour: bool) -> str:
    headers = ["SEVERITY", "CODE", "OBJECT", "LOCATION", "MESSAGE", "FIX"]
    rows = []
    for f in findings:
        msg = f.diagnostic.message
        if f.suppressed:
            msg = f"[suppressed: {f.suppressed.reason}] {msg}"
        if f.owner and wide:
            msg += f" [managed by {f.owner.kind} {f.owner.name}]"
        rows.append([_sev(f.severity, colour), f.code, f.object.display(), f.location, msg, _fix_cell(f)])
    widths = [None, None, 36, None, 64, 46] if not wide else [None, None, None, None, 110, 70]
    return table(headers, rows, widths)
