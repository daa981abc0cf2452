"""Fixes written where the objects come from: ``--fix``, ``--diff``, ``--fix -`` and the ``-k`` overlay.

A fix is a JSON patch already proven on the parsed object (``fixes.py``); this module chooses the fixes,
has them written into the text the objects came from (``fix_files.py``: lossless YAML edits, JSON
rewrites, every edited document read back), and proves them again there:

- A file that changed since it was read is refused. Stdin cannot be written back: ``--fix -`` writes the
  fixed stream to stdout.
- With ``-k DIR`` the rendered output is never edited: each fix becomes a ``patches`` entry (JSON 6902
  with a ``target``) in DIR's kustomization, an object a fix creates a new resource file there; the
  overlay is rendered with ``kubectl kustomize`` and re-analysed before anything is written.
- After writing, the input is read and analysed again: what a fix claimed to clear must be gone.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fix_files import Applied, FileWriter, Plan, label_of, yaml_document
from .fixes import FixDoesNotApply, apply_ops, created_objects, fix_to_apply, kustomize_patch
from .model import Applicability, Finding, Fix, K8sObject
from .sources import yamlfast
from .sources.manifests import LoadResult, load_bytes, load_kustomize

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
EXIT_USAGE, EXIT_INPUT = 2, 3  # cli.py's codes (it imports this module, not the other way round)
STDIN = "stdin"


class FixWriteError(Exception):
    """The fixes cannot be written at all (usage or input problem); ``code`` is the exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# -- choosing the fixes ---------------------------------------------------------------------------


def choose(findings: list[Finding], unsafe: bool) -> tuple[list[tuple[Finding, Fix]], dict[str, int]]:
    """The fix to write for each finding, and how many findings were left without one, and why."""
    chosen, left = [], {"unsafe": 0, "display-only": 0, "withheld": 0, "unproven": 0}
    for f in findings:
        if f.suppressed or not f.fixes:
            continue
        r = fix_to_apply(f, unsafe)
        if r is not None:
            chosen.append((f, r.fix))
            continue
        usable = [x for x in f.fixes if not x.withheld]
        first = usable[0] if usable else None
        if first is None:
            left["withheld"] += 1
        elif first.fix.applicability is Applicability.DISPLAY_ONLY or not first.fix.ops:
            left["display-only"] += 1
        elif first.verified is not True:
            left["unproven"] += 1
        else:
            left["unsafe"] += 1
    return chosen, {k: v for k, v in left.items() if v}


# -- kustomize overlays (-k DIR) ------------------------------------------------------------------


def kustomization_file(directory: str) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        p = Path(directory) / name
        if p.is_file():
            return p
    return None


def _kustomize_plan(directory: str, chosen: list[tuple[Finding, Fix]], objects: list[K8sObject]) -> Plan:
    """Each fix as a ``patches`` entry of DIR's kustomization; created objects as new resource files.

    Kustomize applies the patches in order, so each fix is first applied to the rendered object as the
    earlier ones left it: one whose ``test`` ops no longer hold is not written (run --fix again)."""
    import yaml_edit

    plan = Plan()
    state = {o.ref.key: o.data for o in objects}
    kfile = kustomization_file(directory)
    if kfile is None:
        raise FixWriteError(f"{directory}: no kustomization.yaml to add the patches to", EXIT_INPUT)
    before = kfile.read_bytes()
    text = before.decode("utf-8")
    stream = yaml_edit.YamlFile.parse(text)
    root = list(stream.documents())[0].as_mapping()
    own = yamlfast.load_documents(before)[0][1] or {}
    merged = created_objects(fx for _, fx in chosen)
    created: set[tuple[str, str, str]] = set()
    for f, fx in chosen:
        files = [str(kfile)]
        try:
            after = {p.target.key: apply_ops(state[p.target.key], p) for p in fx.parts()
                     if p.created is None and p.target.key in state}
        except FixDoesNotApply:
            plan.not_written.append(f"{label_of(f)}: not written: another fix changed {fx.target.display()} first "
                                    "(run --fix again to apply it to the result)")
            continue
        state.update(after)
        for part in fx.parts():
            if part.created is None:
                entry = kustomize_patch(part, f"{f.code} {f.object.display()}: {fx.title}", own)
                _seq_of(root, "patches").append(entry)
                continue
            if part.target.key in created:
                continue
            created.add(part.target.key)
            t = part.target
            name = f"meshcheck-{t.kind.lower()}-{(t.namespace + '-') if t.namespace else ''}{t.name}.yaml"
            path = Path(directory) / name
            if path.exists():
                plan.not_written.append(f"{label_of(f)}: not written: {path} exists")
                break
            plan.before[str(path)] = None
            plan.after[str(path)] = yaml_document(merged[t.key], f"created by kubectl meshcheck --fix: {fx.title}")
            _seq_of(root, "resources").append(name)
            files.append(str(path))
        else:
            plan.applied.append(Applied(f, fx, files))
    plan.before[str(kfile)] = before
    plan.after[str(kfile)] = str(stream).encode("utf-8")
    return plan


def _seq_of(root: Any, key: str) -> Any:
    node = root.get(key)
    if node is None or not node.is_sequence():
        root[key] = []
        node = root.get(key)
    return node.as_sequence()


def _render_overlay(directory: str, plan: Plan, kubectl: str = "kubectl") -> LoadResult:
    """Render the overlay as the plan would leave it, in a sibling copy (``../base`` still resolves)."""
    src = Path(directory).resolve()
    tmp = Path(tempfile.mkdtemp(prefix=f".{src.name}-meshcheck-", dir=src.parent))
    try:
        shutil.rmtree(tmp)
        shutil.copytree(src, tmp, symlinks=True)
        for path, content in plan.after.items():
            rel = Path(path).resolve().relative_to(src)
            (tmp / rel).write_bytes(content)
        rendered = load_kustomize(str(tmp), kubectl=kubectl)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rendered


# -- the command ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What ``run_fixes`` did: lines for the user, what to print on stdout, and the re-analysis."""

    plan: Plan
    lines: list[str]
    stdout: str | None  # the diff or the fixed stream; None when the files were written
    exit_code: int | None  # --diff: 1 when there is a diff; otherwise the re-analysis decides
    reloaded: LoadResult | None = None
    result: Any = None


Analyse = Callable[[LoadResult], Any]  # objects of a LoadResult -> RunResult, as the first run did


def check_options(opts: Any) -> None:
    """Refuse what cannot be fixed before anything is read (a live cluster is never even listed)."""
    if not opts.filename and not opts.kustomize:
        raise FixWriteError("--fix and --diff need -f FILE or -k DIR: a live cluster is never changed "
                            "(use -o patch or -o kustomize for live objects)", EXIT_USAGE)
    if opts.filename and opts.kustomize:
        raise FixWriteError("--fix and --diff take -f or -k, not both", EXIT_USAGE)
    if opts.fix and not opts.diff and "-" in (opts.filename or []):
        raise FixWriteError("stdin cannot be fixed in place: use --fix - to write the fixed stream to stdout, "
                            "or --diff", EXIT_USAGE)


def run_fixes(opts: Any, loaded: LoadResult, result: Any, analyse: Analyse) -> Outcome:
    """``--fix``, ``--fix -`` or ``--diff`` for this run's input (files or ``-k DIR``)."""
    check_options(opts)
    mode = "diff" if opts.diff else ("stdout" if opts.fix_to_stdout else "write")
    if loaded.errors:
        raise FixWriteError("not writing fixes: part of the input is unreadable (see above); fix that first",
                            EXIT_INPUT)
    chosen, left = choose(result.findings, opts.unsafe_fixes)
    if opts.kustomize:
        plan, reloaded = _proven_overlay(opts.kustomize, chosen, loaded, analyse)
        plan.left_out = left
    else:
        writer = FileWriter(loaded, loaded.objects)
        for f, fx in chosen:
            writer.add(f, fx)
        plan = writer.render(chosen)
        plan.left_out = left
        reloaded = _reload(loaded, plan) if mode != "write" else loaded
    plan.notes.extend(_owner_notes(plan))
    if mode == "write":
        _write(plan)
        reloaded = _reload(loaded, plan, True) if not opts.kustomize else load_kustomize(opts.kustomize)
    again = analyse(reloaded)
    lines = summary_lines(plan, again, mode)
    if mode == "diff":
        diff = unified_diff(plan)
        return Outcome(plan, lines, diff, 1 if diff else 0, reloaded, again)
    if mode == "stdout":  # -k: the overlay rendered with its fixes, as kubectl kustomize would print it
        stream = _stream(loaded, plan) if not opts.kustomize else \
            "".join(src.data.decode("utf-8") for src in reloaded.sources.values())
        return Outcome(plan, lines, stream, None, reloaded, again)
    return Outcome(plan, lines, None, None, reloaded, again)


def _proven_overlay(directory: str, chosen: list[tuple[Finding, Fix]], loaded: LoadResult,
                    analyse: Analyse) -> tuple[Plan, LoadResult]:
    """The overlay plan, rendered and re-analysed; a patch kustomize did not make clear its finding (its
    target matched nothing, say) is taken out again and the rest proven anew, so none is written."""
    disproved: list[Applied] = []
    for _ in range(2):
        plan = _kustomize_plan(directory, chosen, loaded.objects)
        if not plan.applied:
            plan.after = {}
            return plan, loaded
        rendered = _render_overlay(directory, plan)
        if rendered.errors:
            raise FixWriteError(f"the overlay with the fixes does not render: {rendered.errors[0]}", EXIT_INPUT)
        remaining = {_key(f) for f in analyse(rendered).findings}
        disproved = [a for a in plan.applied if _key(a.finding) in remaining]
        if not disproved:
            break
        chosen = [(f, fx) for f, fx in chosen if all(a.finding is not f for a in disproved)]
    plan.not_written += [f"{label_of(a.finding)}: not written: with its patch the rendered overlay still has the "
                         "finding (does the target match?)" for a in disproved]
    return plan, rendered


def _reload(loaded: LoadResult, plan: Plan, from_disk: bool = False) -> LoadResult:
    """The input as the plan leaves it, in the original order: changed files parsed again (from disk
    after writing: the proof is on what was written), the objects of unchanged ones reused."""
    by_file: dict[str, list[K8sObject]] = {}
    for o in loaded.objects:
        by_file.setdefault(o.ref.origin.rpartition(":")[0] or o.ref.origin, []).append(o)
    out = LoadResult()
    for origin, src in loaded.sources.items():
        data = plan.after.get(origin, src.data)
        if from_disk and origin != STDIN:
            try:
                data = Path(origin).read_bytes()
            except OSError as e:
                out.errors.append(f"{origin}: cannot read after writing: {e.strerror or e}")
                continue
        if data == src.data:
            out.files += 1
            out.sources[origin] = src
            out.objects.extend(by_file.get(origin, []))
        else:
            load_bytes(data, origin, out)
    for path, content in plan.after.items():
        if path not in loaded.sources:
            load_bytes(Path(path).read_bytes() if from_disk else content, path, out)
    return out


def _write(plan: Plan) -> None:
    """Write each changed file atomically; refuse (and leave alone) a file that changed since it was read."""
    for path in plan.changed():
        before = plan.before.get(path)
        p = Path(path)
        now = p.read_bytes() if p.exists() else None
        if now != before:
            what = "was created" if before is None else "changed"
            plan.not_written.append(f"{path}: not written: it {what} since meshcheck read it; run again")
            plan.applied = [a for a in plan.applied if path not in a.files]
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=str(p.parent or "."))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(plan.after[path])
            if before is not None:
                shutil.copymode(path, tmp)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


def _stream(loaded: LoadResult, plan: Plan) -> str:
    """``--fix -``: the fixed input on stdout (several files: one stream, ``---`` between them)."""
    parts = []
    for origin, src in loaded.sources.items():
        parts.append(plan.after.get(origin, src.data).decode("utf-8"))
    for path, content in plan.after.items():
        if path not in loaded.sources:
            parts.append(content.decode("utf-8"))
    out = ""
    for text in parts:
        if out and not out.endswith("\n"):
            out += "\n"
        if out and not text.lstrip().startswith("---"):
            out += "---\n"
        out += text
    return out


def unified_diff(plan: Plan, context: int = 3) -> str:
    """``diff -u`` of every file the plan changes. Lines are compared only inside the documents that
    differ (the others are equal by construction): difflib over two whole 2 MB files takes seconds."""
    out = []
    for path in plan.changed():
        before, after = plan.before.get(path) or b"", plan.after[path]
        a_docs, b_docs = _document_lines(before), _document_lines(after)
        a = [ln for doc in a_docs for ln in doc]
        b = [ln for doc in b_docs for ln in doc]
        out += [f"--- {path if plan.before.get(path) is not None else '/dev/null'}\n", f"+++ {path}\n"]
        for group in _Opcodes(_opcodes(a_docs, b_docs)).get_grouped_opcodes(context):
            first, last = group[0], group[-1]
            out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
            for tag, x1, x2, y1, y2 in group:
                lines = [("-" if tag != "equal" else " ", ln) for ln in a[x1:x2]]
                if tag in ("replace", "insert"):
                    lines += [("+", ln) for ln in b[y1:y2]]
                for mark, ln in lines:
                    out.append(mark + ln if ln.endswith("\n") else f"{mark}{ln}\n\\ No newline at end of file\n")
    return "".join(out)


def _document_lines(data: bytes) -> list[list[str]]:
    """The file's lines, cut where its documents start (together they are the whole file)."""
    starts = [0] + [s for s, _, _ in yamlfast.split_documents(data)][1:] + [len(data)]
    return [data[s:e].decode("utf-8").splitlines(keepends=True) for s, e in zip(starts, starts[1:])]


def _opcodes(a_docs: list[list[str]], b_docs: list[list[str]]) -> list[tuple[str, int, int, int, int]]:
    """difflib opcodes over the whole files, computed document by document (the fixes never add,
    drop or reorder documents, only append created ones)."""
    codes: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    for k in range(max(len(a_docs), len(b_docs))):
        al = a_docs[k] if k < len(a_docs) else []
        bl = b_docs[k] if k < len(b_docs) else []
        local = [("equal", 0, len(al), 0, len(bl))] if al == bl else \
            difflib.SequenceMatcher(None, al, bl, autojunk=False).get_opcodes()
        for tag, x1, x2, y1, y2 in local:
            if x1 == x2 and y1 == y2:
                continue
            if tag == "equal" and codes and codes[-1][0] == "equal":
                codes[-1] = ("equal", codes[-1][1], i + x2, codes[-1][3], j + y2)
            else:
                codes.append((tag, i + x1, i + x2, j + y1, j + y2))
        i += len(al)
        j += len(bl)
    return codes or [("equal", 0, 0, 0, 0)]


class _Opcodes(difflib.SequenceMatcher):
    """difflib's hunk grouping over opcodes computed elsewhere."""

    def __init__(self, codes: list[tuple[str, int, int, int, int]]):
        super().__init__(None, [], [])
        self._codes = codes

    def get_opcodes(self):  # noqa: D102 - difflib's interface
        return self._codes


def _range(start: int, stop: int) -> str:
    """A unified diff hunk range (``start,length``, 1-based; an empty range names the line before)."""
    length = stop - start
    return f"{start + 1}" if length == 1 else f"{start + (1 if length else 0)},{length}"


def _key(f: Finding) -> tuple:
    return (f.code, f.object.key, f.diagnostic.path, f.diagnostic.subject)


def _owner_notes(plan: Plan) -> list[str]:
    notes, seen = [], set()
    for a in plan.applied:
        o = a.finding.owner
        if o is None or (o.kind, o.name) in seen:
            continue
        seen.add((o.kind, o.name))
        notes.append(f"{a.finding.object.display()} is managed by {o.kind} {o.name}: where this file is generated "
                     f"from its source, the edit is lost at the next render. {o.hint}")
    return notes


def summary_lines(plan: Plan, again: Any, mode: str) -> list[str]:
    """What was fixed, where, and what remains: plain lines any renderer can print."""
    verb = {"diff": "would fix", "stdout": "fixed", "write": "fixed"}[mode]
    lines = [f"{verb} {label_of(a.finding)}: {a.fix.title}" for a in plan.applied]
    lines += plan.not_written
    remaining = {_key(f) for f in again.findings if not f.suppressed}
    still = [a for a in plan.applied if _key(a.finding) in remaining]
    lines += [f"warning: {label_of(a.finding)} is still reported after its fix was written" for a in still]
    if mode == "write":
        for path in plan.changed():
            n = sum(1 for a in plan.applied if path in a.files)
            lines.append(f"wrote {path} ({n} fix{'es' if n != 1 else ''})")
    lines += [f"note: {n}" for n in plan.notes]
    left = plan.left_out
    why = []
    if left.get("unsafe"):
        why.append(f"{left['unsafe']} unsafe (add --unsafe-fixes)")
    if left.get("display-only"):
        why.append(f"{left['display-only']} need a value you choose (display-only)")
    if left.get("withheld"):
        why.append(f"{left['withheld']} withheld by policy")
    if left.get("unproven"):
        why.append(f"{left['unproven']} not proven")
    rest = sum(1 for f in again.findings if not f.suppressed)
    done = len(plan.applied) - len(still)
    line = f"{done} finding(s) {verb.replace('would fix', 'would be fixed')}, {rest} remaining"
    if why:
        line += f"; fixes not applied: {', '.join(why)}"
    lines.append(line + ".")
    return lines


@dataclass
class FixRun:
    """The re-analysis ``--fix`` hands back to the CLI to render what remains, and what it fixed."""

    loaded: LoadResult
    objects: list[K8sObject]
    index: Any
    result: Any
    applied: list[dict[str, Any]]


def applied_json(plan: Plan) -> list[dict[str, Any]]:
    """``summary.fixed`` of ``-o json``: one entry per finding a written fix cleared."""
    return [{"code": a.finding.code, "object": a.finding.object.to_json(), "path": a.finding.diagnostic.path,
             "subject": a.finding.diagnostic.subject, "title": a.fix.title,
             "applicability": a.fix.applicability.value, "files": a.files} for a in plan.applied]


def cli_check(opts: Any) -> None:
    """The CLI's early check (before reading any input)."""
    from .cli import CliError

    try:
        check_options(opts)
    except FixWriteError as e:
        raise CliError(str(e), e.code) from None


def cli_fix(opts: Any, loaded: LoadResult, result: Any, analyse: Callable[[list[K8sObject]], tuple],
            fail_on: Any) -> int | FixRun:
    """The CLI's entry: run the fixes, print the summary on stderr (and the diff or stream on stdout).

    Returns the exit code when the run ends here (``--diff``, ``--fix -``), else the re-analysis of
    what was written, for the usual rendering of what remains."""
    import typer

    from .cli import CliError

    runs: dict[str, tuple] = {}

    def analysed(new: LoadResult) -> Any:
        runs["last"] = analyse(new.objects)
        return runs["last"][2]

    try:
        out = run_fixes(opts, loaded, result, analysed)
    except FixWriteError as e:
        raise CliError(str(e), e.code) from None
    for line in out.lines:
        typer.echo(line, err=True)
    objects, index, again = runs["last"]
    if out.stdout is not None:
        typer.echo(out.stdout, nl=False)
        if out.exit_code is not None:
            return out.exit_code
        return EXIT_INPUT if out.reloaded.errors else (1 if again.failing(fail_on) else 0)
    return FixRun(out.reloaded, objects, index, again, applied_json(out.plan))
