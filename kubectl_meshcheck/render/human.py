"""Human output: one block per finding (rustc/ruff style), the concise one-line format, the topic tables
and the closing summary, all laid out for the terminal's width (:mod:`.terminal`).

A block::

    error[MC103] Deployment shop/argocd-server: container port 8080 is reached by Service ports ...
      --> kubectl_meshcheck/examples/ports.yaml:74
       |
    74 |         - containerPort: 8080
       |           ^^^^^^^^^^^^^^^^^^^
       |
       = the sidecar keeps one inbound filter chain per container port, so only one protocol ...
    help: Declare port(s) ... opaque TCP (appProtocol: tcp) [unsafe, verified]

The headline is the message up to its clause break (see :func:`split_message`), the rest follows as
``=`` lines, so the whole message is always printed. The snippet is the finding's line of the file;
where there is no file to read (live objects, stdin, kustomize output) the block shows the field's path
and its current value instead. Secrets are masked in both.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import Applicability, Finding, FixResult, Severity, pointer_get
from ..redact import MASK, is_secret_name, redact
from .table import Column, fit_table
from .terminal import GLUE, Style, cells, cut, wrap

_CLAUSE = re.compile(r"; |: |\. (?=[A-Z])")
MIN_HEADLINE = 20  # a clause break this early would leave a headline that says nothing
MIN_CLAUSE_WORDS = 5


# -- the parts of a block --------------------------------------------------------------------------


def split_message(message: str) -> tuple[str, str]:
    """(headline, rest): what is wrong, then what follows from it. Messages say "what; consequence", so
    the cut is the first ``;`` outside parentheses, else the first sentence end, else the last ``:``
    (an earlier one may be a ``key: value`` the message quotes) after a clause of a few words (before
    that, ``annotation: ...`` or ``observed on pod x: ...`` is a label, not a clause)."""
    depth, seen = 0, 0
    breaks: dict[str, list[re.Match]] = {";": [], ".": [], ":": []}
    for m in _CLAUSE.finditer(message, MIN_HEADLINE):
        for ch in message[seen:m.start()]:
            depth += 1 if ch in "([{" else -1 if ch in ")]}" and depth else 0
        seen = m.start()
        if depth == 0 and (m.group()[0] != ":" or len(message[:seen].split()) >= MIN_CLAUSE_WORDS):
            breaks[m.group()[0]].append(m)
    cut_at = (breaks[";"] or breaks["."] or breaks[":"][-1:] or [None])[0]
    if cut_at is None:
        return message, ""
    return message[:cut_at.start()].rstrip(". "), message[cut_at.end():].strip()


def fix_label(r: FixResult) -> str:
    """``[unsafe, verified]``: how blindly the fix may be applied, and whether it was proven."""
    if r.verified is None or r.fix.applicability is Applicability.DISPLAY_ONLY:
        return "[display-only]"
    return f"[{r.fix.applicability.value}, {'verified' if r.verified else 'NOT verified'}]"


def usable_fixes(f: Finding) -> list[FixResult]:
    """The fixes that may be offered, best first (an organisation's veto takes one out)."""
    return [r for r in f.fixes if not r.withheld]


def _assumptions(f: Finding) -> list[str]:
    """What the verdict rests on, from the finding or its diagnostic (``assumptions``: strings)."""
    for source in (f, f.diagnostic):
        found = getattr(source, "assumptions", None)
        if found:
            return [str(a) for a in found]
    args = f.diagnostic.args if isinstance(f.diagnostic.args, dict) else {}
    return [str(a) for a in args.get("assumptions") or []]


def pointer_text(path: str) -> str:
    """A JSON Pointer as people write field paths: ``spec.ports[0]``, ``annotations["proxy.istio.io/config"]``."""
    out = ""
    for raw in path.lstrip("/").split("/") if path not in ("", "/") else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        if token.isdigit():
            out += f"[{token}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", token):
            out += f".{token}" if out else token
        else:
            out += f'["{token}"]'
    return out or "(the whole object)"


def _masked(value: Any, name: str | None = None) -> Any:
    """A field's value as it may be shown: env values of secret-looking names masked, URLs redacted."""
    if isinstance(value, dict):
        secret = is_secret_name(str(value.get("name"))) if "name" in value else False
        return {k: (MASK if secret and k == "value" else _masked(v, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, str):
        return MASK if name and is_secret_name(name) and name not in ("name", "key") else redact(value)
    return value


def _inline(value: Any) -> str:
    """One line of YAML flow style for a field's value."""
    if isinstance(value, (dict, list)):
        import yaml

        return " ".join(yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).split())
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if value != "" else '""'


def _under_secret_env(data: Any, path: str) -> bool:
    """Is the field at ``path`` (or one of its parents) an env entry whose name looks secret?"""
    parts = path.lstrip("/").split("/") if path else []
    for n in range(len(parts), 0, -1):
        node = pointer_get(data, "/" + "/".join(parts[:n]))
        if isinstance(node, dict) and "value" in node and is_secret_name(str(node.get("name"))):
            return True
    return False


class Sources:
    """Lines of the input files (read once each) and the objects, for snippets."""

    def __init__(self, index: Any = None):
        self.index = index
        self._files: dict[str, list[str] | None] = {}

    def line(self, location: str) -> tuple[str, int, str] | None:
        """(file, line number, text) for a ``file:line`` location whose file can be read."""
        path, _, number = location.rpartition(":")
        if not path or not number.isdigit() or path.startswith("cluster:"):
            return None
        if path not in self._files:
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    self._files[path] = fh.read().splitlines()
            except OSError:
                self._files[path] = None
        lines = self._files[path]
        n = int(number)
        if not lines or not 0 < n <= len(lines):
            return None
        return path, n, lines[n - 1].replace("\t", " ").rstrip()

    def value(self, f: Finding) -> tuple[str, Any] | None:
        """(path, current value) of the finding's field, or of its nearest parent that exists."""
        obj = self.index.by_ref(f.object) if self.index is not None else None
        if obj is None:
            return None
        parts = f.diagnostic.path.lstrip("/").split("/") if f.diagnostic.path else []
        missing = object()
        for n in range(len(parts), -1, -1):
            path = "/" + "/".join(parts[:n]) if n else ""
            value = pointer_get(obj.data, path, missing)
            if value is not missing:
                return path, MASK if isinstance(value, str) and _under_secret_env(obj.data, path) else _masked(value)
        return None

    def secret_line(self, f: Finding) -> bool:
        obj = self.index.by_ref(f.object) if self.index is not None else None
        return obj is not None and _under_secret_env(obj.data, f.diagnostic.path)


def _caret_span(text: str) -> tuple[int, int]:
    """Where the caret goes on a YAML line: from the key (after indentation and ``- ``) to the end,
    leaving out a trailing comment."""
    start = len(text) - len(text.lstrip())
    if text[start:start + 2] == "- ":
        start += 2
    body = text[start:]
    m = re.search(r"\s+#", body)
    if m and body[: m.start()].count('"') % 2 == 0 and body[: m.start()].count("'") % 2 == 0:
        body = body[: m.start()]
    return start, max(cells(body.rstrip()), 1)


def _mask_value_line(text: str) -> str:
    m = re.match(r"(\s*(?:- )?value:\s*)\S", text)
    return m.group(1) + MASK if m else redact(text)


def finding_block(f: Finding, style: Style, sources: Sources, wide: bool = False) -> list[str]:
    """One finding as a block of lines no longer than the width (a long word is cut, never split)."""
    width = style.width
    headline, rest = split_message(f.diagnostic.message)
    label = str(f.severity)
    prefix = f"{label}[{f.code}] "
    lines = wrap(f"{prefix}{f.object.display()}: {headline}", width, "", " " * len(prefix))
    lines[0] = style.severity(f.severity, label) + style.bold(f"[{f.code}]") + lines[0][len(prefix) - 1:]

    whole = f.diagnostic.path in ("", "/")  # about the object as a whole: the headline names it
    snippet = None if whole else sources.line(f.location)
    number = str(snippet[1]) if snippet else ""
    gutter = " " * max(len(number), 1)
    bar = f"{gutter} |"
    lines += wrap(f"--> {f.location}", width, gutter, f"{gutter}    ")
    if snippet:
        text = _mask_value_line(snippet[2]) if sources.secret_line(f) else redact(snippet[2])
        room = width - len(number) - 3
        start, length = _caret_span(text)
        shown = cut(text, room)
        lines += [bar, f"{number} | {shown}".rstrip()]
        if start < room:
            lines.append(f"{bar} {' ' * start}{'^' * max(min(length, room - start), 1)}")
    elif not whole:
        found = sources.value(f)
        if found is not None:
            path, value = found
            lines += [bar, cut(f"{bar} {pointer_text(path)}: {_inline(value)}", width)]
    notes: list[tuple[str, str]] = []
    if rest:
        notes.append(("", rest))
    if f.owner:
        hint = f": {f.owner.hint}" if f.owner.hint else ""
        notes.append(("note: ", f"managed by {f.owner.kind} {f.owner.name}{hint}"))
    if f.suppressed:
        notes.append(("note: ", f"suppressed by {f.suppressed.source}: {f.suppressed.reason}"))
    for a in _assumptions(f):
        notes.append(("note: ", a if a.lower().startswith("assum") else f"assumes {a}"))
    for r in f.fixes:
        if r.withheld:
            notes.append(("note: ", f"a fix was withheld: {r.withheld}"))
    if wide:
        for ref in f.diagnostic.related:
            notes.append(("related: ", f"{ref.display()} ({ref.origin})" if ref.origin else ref.display()))
    if notes:
        lines.append(bar)
    for kind, text in notes:
        lines += wrap(f"{kind}{text}", width, f"{gutter} = ", f"{gutter}   " + " " * len(kind))
    fixes = usable_fixes(f)
    for n, r in enumerate(fixes if wide else fixes[:1]):
        lead = "help: " if n == 0 else "  or: "
        lines += wrap(f"{lead.strip()} {r.fix.title} {fix_label(r).replace(' ', GLUE)}", width,
                      " " * (len(lead) - len(lead.lstrip())), " " * len(lead))
        if r.note:
            lines += wrap(r.note, width, " " * len(lead))
        for c in r.fix.caveats:
            lines += wrap(f"caveat: {c}", width, " " * len(lead), " " * (len(lead) + 8))
    return lines


def concise_line(f: Finding, style: Style) -> str:
    """``path:line: severity[CODE] Kind ns/name: message``: one line, never wrapped (grep, editors)."""
    message = " ".join(f.diagnostic.message.split())
    tail = f" [suppressed: {f.suppressed.reason}]" if f.suppressed else ""
    return (f"{f.location}: {style.severity(f.severity)}{style.bold(f'[{f.code}]')} "
            f"{f.object.display()}: {message}{tail}")


# -- the closing summary ---------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 or word == "info" else f"{n} {word}s"


@dataclass
class Summary:
    """What the closing lines say. ``extra`` lines follow the counts (e.g. what ``--fix`` changed);
    ``notes`` follow as ``note:`` lines (assumptions, what could not be read)."""

    findings: list[Finding]  # every finding of the run, suppressed ones too
    shown: list[Finding]
    objects: int
    rules: int
    show_suppressed: bool = False
    extra: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: what could not be read, grouped (input, scope, reason, effect), and how many findings rest on it
    unreadable: list[dict] = field(default_factory=list)
    with_assumptions: int = 0


UNREADABLE_COLUMNS = (Column("INPUT", "input"), Column("SCOPE", "scope"),
                      Column("REASON", "reason", shrink=True), Column("EFFECT", "effect", shrink=True))


def unreadable_lines(s: Summary, style: Style) -> list[str]:
    """The short block of what these credentials could not read, and what that did to the verdicts."""
    if not s.unreadable:
        return []
    head = (f"Not readable with these credentials ({_plural(s.with_assumptions, 'finding')} rest on an "
            "assumption, named in each block and in -o json 'assumptions'; --require-full-access fails such a run):")
    return [*wrap(head, style.width), *fit_table(UNREADABLE_COLUMNS, s.unreadable, style.width)]


def summary_lines(s: Summary, style: Style) -> list[str]:
    active = [f for f in s.findings if not f.suppressed]
    counts = [(sev, sum(1 for f in active if f.severity == sev)) for sev in reversed(Severity)]
    text = ", ".join(style.severity(sev, _plural(n, str(sev))) for sev, n in counts if n)
    plain = ", ".join(_plural(n, str(sev)) for sev, n in counts if n)
    suppressed = sum(1 for f in s.findings if f.suppressed)
    hidden = len(active) - sum(1 for f in s.shown if not f.suppressed)
    tail = ""
    if suppressed:
        tail += f"; {suppressed} suppressed" + ("" if s.show_suppressed else " (--show-suppressed lists them)")
    if hidden > 0:
        tail += f"; {hidden} below --min-severity not shown"
    checked = f"{_plural(s.objects, 'object')} checked with {_plural(s.rules, 'rule')}"
    out: list[str] = []
    if active:
        first = wrap(f"Found {_plural(len(active), 'finding')}: {plain}{tail}. {checked}.", style.width)
        first[0] = first[0].replace(plain, text, 1)
        out += first
    else:
        out += wrap(f"No findings{tail}. {checked}.", style.width)
    best = [fixes[0] for f in s.shown if not f.suppressed and (fixes := usable_fixes(f))]
    safe = sum(1 for r in best if r.verified and r.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for r in best if r.verified and r.fix.applicability is Applicability.UNSAFE)
    if safe or unsafe:
        what = (f"{safe} with a safe, verified fix" + (f", {unsafe} with an unsafe one" if unsafe else "")
                if safe else f"{unsafe} with an unsafe, verified fix")
        how = "rerun with -o patch" + (" --unsafe-fixes" if unsafe and not safe else "")
        more = " (add --unsafe-fixes for the unsafe ones)" if unsafe and safe else ""
        out += wrap(f"{what}: {how} to print them as a script{more}.", style.width)
    for line in s.extra:
        out += wrap(line, style.width, "", "  ")
    for note in s.notes:
        out += wrap(f"note: {note}", style.width, "", "      ")
    return out


# -- a whole run -----------------------------------------------------------------------------------


@dataclass
class View:
    """A topic table: its rows and columns (the wide ones added with ``-o wide``) and per-row detail."""

    rows: list[dict]
    columns: list[Column]
    wide_columns: list[Column] = field(default_factory=list)
    detail: Any = None  # row -> lines printed under it


def render_run(out, style: Style, output: str, findings: Iterable[Finding], summary: Summary,
               views: Sequence[View] = (), sources: Sources | None = None) -> None:
    """Print a run for people: the topic tables, then one block per finding, then the summary.
    ``-o concise`` prints one line per finding on stdout and the summary on stderr."""
    findings = list(findings)
    if output == "concise":
        for f in findings:
            out.write(concise_line(f, style) + "\n")
        err = Style(style.width, False)
        for line in summary_lines(summary, err):
            sys.stderr.write(line + "\n")
        return
    wide = output == "wide"
    sources = sources or Sources()
    chunks: list[list[str]] = []
    for v in views:
        if not v.rows:
            chunks.append(["(no rows: the input has nothing this table describes)"])
            continue
        chunks.append(fit_table(v.columns + (v.wide_columns if wide else []), v.rows, style.width, wide, v.detail))
    for f in findings:
        chunks.append(finding_block(f, style, sources, wide))
    for chunk in chunks:
        while chunk and chunk[-1] == "":
            chunk.pop()
        out.write("\n".join(chunk) + "\n\n")
    out.write("\n".join(summary_lines(summary, style)) + "\n")
    block = unreadable_lines(summary, style)
    if block:
        out.write("\n" + "\n".join(block) + "\n")


def _some(names: list[str], most: int = 10) -> str:
    """A readable list for a one-line note: the first few, then how many more (JSON has them all)."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def run_notes(index: Any, live: Any) -> list[str]:
    """What the verdicts rest on and what the run could not see, as ``note:`` lines."""
    notes = []
    assumed = sorted(index.assumed_namespaces)
    if assumed:
        notes.append(f"namespace(s) {_some([a or '(none)' for a in assumed])} are not described by the "
                     f"input; assumed {index.assume_mode.value} mode (set one with --mesh-mode).")
    if live is not None:
        scope = "all namespaces" if live.namespaces is None else f"namespace {live.namespaces[0]}"
        notes.append(f"read {scope} of context {live.context} ({live.server_version or 'version unknown'}) "
                     f"in {live.requests} requests.")
        istio_missing = live.istio_not_served()
        if istio_missing:
            notes.append(f"the cluster does not serve {', '.join(istio_missing)} (Istio's CRDs are not "
                         "installed?); analysed as if none exist.")
    if index.unmeshed_namespaces:
        notes.append(f"namespace(s) {_some(sorted(index.unmeshed_namespaces))} are not in the mesh; "
                     "sidecar findings are skipped there (--mesh-mode sidecar checks them as if meshed).")
    for reason in index.inferred_namespaces.values():
        notes.append(f"{reason} (its Namespace object could not be read).")
    return notes


def unreadable_rows(result: Any) -> list[dict]:
    """The run's gaps, one row per input and reason, namespaces joined (see ``access.group``)."""
    from ..access import group, short_reason

    effects = {(u["label"], short_reason(u["reason"])): u["effect"] for u in result.unreadable}
    return [{"input": label, "scope": scope, "reason": reason, "effect": effects.get((label, reason), "")}
            for label, scope, reason in group(result.gaps)]


def print_analysis(topic: Any, output: str, colour: str, show_suppressed: bool, result: Any,
                   shown: list[Finding], index: Any, live: Any, objects: int, rules: int,
                   rows: list[dict] | None, preface_rows: list[dict] | None) -> None:
    """What ``run_analysis`` prints for people: the topic's tables (rows as ``-o json`` has them), the
    findings and the summary. Extra summary lines and notes go into :class:`Summary` here."""
    from ..views import DETAILS, PREFACES, VIEWS

    views = []
    if topic in PREFACES:
        views.append(View(preface_rows or [], PREFACES[topic][2]))
    if topic in VIEWS:
        _, columns, wide_columns = VIEWS[topic]
        views.append(View(rows or [], columns, wide_columns, DETAILS.get(topic)))
    summary = Summary(result.findings, shown, objects, rules, show_suppressed, notes=run_notes(index, live),
                      unreadable=unreadable_rows(result),
                      with_assumptions=sum(1 for f in result.findings if f.assumptions and not f.suppressed))
    render_run(sys.stdout, width_and_colour(colour), output, shown, summary, views, Sources(index))


def width_and_colour(choice: str) -> Style:
    """The style for stdout: its width and the colour decision for ``--color``."""
    from .terminal import terminal_width, use_colour

    return Style(terminal_width(sys.stdout), use_colour(choice, sys.stdout))

