"""``-o github``: GitHub Actions workflow commands, one annotation per finding.

``::error file=deploy/app.yaml,line=12,col=7,title=meshcheck (MC103)::message``: ``error`` for
errors, ``warning`` for warnings, ``notice`` for info. The file is relative to the repository root
(``render.locations``); live findings carry no file and appear on the run's summary page only.
Values are escaped exactly as ``@actions/core`` escapes them (``%`` ``\\r`` ``\\n`` in the message;
also ``:`` and ``,`` in properties), so a message can never end the command or start another.
Unreadable inputs become warnings. GitHub shows at most 10 annotations of each level per step and
50 per job; the rest are still in the log.
"""

from __future__ import annotations

from ..model import Finding, K8sObject, Rule, Severity
from .locations import place

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **props: object) -> str:
    given = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items() if v not in (None, ""))
    return f"::{name}{' ' + given if given else ''}::{escape_data(message)}"


def annotation(f: Finding) -> str:
    where = place(f)
    message = f"{f.object.display()}: {f.diagnostic.message}"
    if f.suppressed:
        message = f"[suppressed: {f.suppressed.reason}] {message}"
    best = next((r for r in f.fixes if not r.withheld and r.verified is not False), None)
    if best is not None:
        state = ", verified" if best.verified else ""
        message += f"\nFix ({best.fix.applicability.value}{state}): {best.fix.title}"
    if f.owner:
        message += f"\nManaged by {f.owner.kind} {f.owner.name}: fix it there."
    for a in getattr(f, "assumptions", None) or ():
        message += f"\nAssumes: {a}"
    name = "notice" if f.suppressed else COMMANDS[f.severity]
    return command(name, message, file=where.path if where.in_repo else None, line=where.line, col=where.column,
                   title=f"meshcheck ({f.code})")


def render(findings: list[Finding], rules: list[Rule], summary: dict, unreadable: list,
           objects: list[K8sObject]) -> str:
    lines = [annotation(f) for f in findings]
    for u in unreadable:
        reason = u.get("reason")
        text = f"could not read {u.get('what')}: {reason}" if reason else str(u.get("what"))
        lines.append(command("warning", text, title="meshcheck"))
    by_sev = summary.get("bySeverity") or {}
    counts = ", ".join(f"{n} {s}" for s, n in reversed(list(by_sev.items())) if n)
    lines.append(f"meshcheck: {summary.get('findings', len(findings))} finding(s)" + (f" ({counts})" if counts else "")
                 + f" in {summary.get('objects', 0)} objects; exit code {summary.get('exitCode', 0)}")
    return "\n".join(lines) + "\n"
