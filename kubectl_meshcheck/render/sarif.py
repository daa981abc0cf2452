"""``-o sarif``: SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).

- ``tool.driver.rules``: every rule the run used (and the engine's, when they report), with
  ``shortDescription`` (the summary), ``fullDescription`` (What it checks, at most 1000 characters),
  ``help`` (the whole docstring, text and Markdown), ``helpUri`` into docs/rules.md, the default
  level, and ``properties.tags`` / ``problem.severity`` as GitHub reads them.
- ``results``: ``ruleId``, ``level`` (error, warning, note), ``message``; for manifest findings a
  ``physicalLocation`` whose ``uri`` is relative to the repository root (``uriBaseId`` SRCROOT, see
  ``render.locations``), ``region.startLine`` and ``startColumn`` where the line shows the field.
  Every result also has a logical location ``Kind/namespace/name``. Live findings (and findings
  from stdin or a rendered kustomization) have no file: only the logical location. GitHub code
  scanning refuses a whole upload that has such a result, so upload SARIF from manifests (``-f``).
- ``fixes``: a fix whose JSON patch maps to text edits of the manifest (a scalar replaced, a
  scalar key added to a block mapping) is given as ``artifactChanges``, and only after the edited
  file has been re-parsed and shown to equal the patched object. Other fixes stay in
  ``properties.fixes`` (title, applicability, JSON patch, verified), as in ``-o json``.
- ``partialFingerprints.meshcheck/v1``: rule, object and path, so an alert survives lines moving.
- Suppressed findings (shown with ``--show-suppressed``) carry ``suppressions`` with the reason.
- ``invocations``: the exit code, and every unreadable input as a tool notification.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from .. import __version__
from ..fixes import apply_ops, fix_to_json
from ..model import Finding, Fix, K8sObject, Rule, Severity
from ..ruledoc import HOMEPAGE, help_uri, sections, to_markdown
from ..sources import yamlfast
from .json import dump_json
from .locations import by_ref, file_of, logical_name, place, relative, repo_root, source_line

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
#: GitHub's ``problem.severity``: error, warning or recommendation
PROBLEM_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "recommendation"}
MAX_DESCRIPTION = 1000


def render(findings: list[Finding], rules: list[Rule], summary: dict, unreadable: list,
           objects: list[K8sObject]) -> str:
    return dump_json(document(findings, rules, summary, unreadable, objects))


def document(findings: list[Finding], rules: list[Rule], summary: dict, unreadable: list,
             objects: list[K8sObject]) -> dict[str, Any]:
    used = {r.code: r for r in rules}
    for f in findings:
        used.setdefault(f.code, f.rule)
    ordered = [used[c] for c in sorted(used)]
    index = {r.code: i for i, r in enumerate(ordered)}
    lookup = by_ref(objects)
    results = [_result(f, index[f.code], lookup) for f in findings]
    code = summary.get("exitCode", 0)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "kubectl-meshcheck", "fullName": "kubectl meshcheck", "version": __version__,
                            "semanticVersion": __version__, "informationUri": HOMEPAGE,
                            "rules": [_descriptor(r) for r in ordered]}},
        "invocations": [{"executionSuccessful": code in (0, 1), "exitCode": code,
                         "toolExecutionNotifications": [_notification(u) for u in unreadable]}],
        "originalUriBaseIds": {"SRCROOT": {"uri": repo_root().as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {"summary": summary},
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def _descriptor(r: Rule) -> dict[str, Any]:
    parts = sections(r.doc)
    full = parts.get("What it checks") or parts.get("Description") or r.summary
    out: dict[str, Any] = {
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": _clip(" ".join(full.split()), MAX_DESCRIPTION)},
        "help": {"text": r.doc or r.summary, "markdown": to_markdown(r.doc or r.summary)},
        "defaultConfiguration": {"level": LEVELS[r.severity]},
        "properties": {"tags": ["istio", "kubernetes", r.topic.value], "problem.severity": PROBLEM_SEVERITY[r.severity],
                       "topic": r.topic.value, "fix": r.fix.value, "status": r.status.value, "plugin": r.plugin,
                       "istioctl": list(r.ist_codes)},
    }
    uri = help_uri(r)
    if uri:
        out["helpUri"] = uri
    return out


def _clip(text: str, most: int) -> str:
    if len(text) <= most:
        return text
    cut = text[: most - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _result(f: Finding, rule_index: int, lookup: dict) -> dict[str, Any]:
    where = place(f)
    logical = {"fullyQualifiedName": logical_name(f.object), "name": f.object.name, "kind": "resource"}
    location: dict[str, Any] = {"logicalLocations": [logical]}
    if where.path is not None:
        location["physicalLocation"] = {"artifactLocation": _artifact(where.path, where.in_repo)}
        if where.line:
            region: dict[str, Any] = {"startLine": where.line}
            if where.column:
                region["startColumn"] = where.column
            location["physicalLocation"]["region"] = region
    message = f.diagnostic.message
    if f.owner:
        message += f" (managed by {f.owner.kind} {f.owner.name}: fix it there)"
    props: dict[str, Any] = {"object": f.object.to_json(), "path": f.diagnostic.path,
                             "category": f.rule.topic.value, "severity": str(f.severity),
                             "fixes": [fix_to_json(r.fix, r.verified, r.withheld, r.note) for r in f.fixes]}
    if f.diagnostic.args:
        props["args"] = dict(f.diagnostic.args)
    assumptions = getattr(f, "assumptions", None)
    if assumptions:
        props["assumptions"] = [a if isinstance(a, (str, int, float, bool, dict, list)) else str(a)
                                for a in assumptions]
    out: dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": rule_index,
        "level": LEVELS[f.severity],
        "message": {"text": message},
        "locations": [location],
        "partialFingerprints": {"meshcheck/v1": _fingerprint(f)},
        "properties": props,
    }
    related = [{"id": i, "message": {"text": r.display()},
                "logicalLocations": [{"fullyQualifiedName": logical_name(r), "name": r.name, "kind": "resource"}]}
               for i, r in enumerate(f.diagnostic.related)]
    for rel in related:
        phys = _related_physical(f.diagnostic.related[rel["id"]].origin)
        if phys:
            rel["physicalLocation"] = phys
    if related:
        out["relatedLocations"] = related
    fixes = [x for x in (_sarif_fix(r.fix, lookup) for r in f.fixes if not r.withheld and r.verified) if x]
    if fixes:
        out["fixes"] = fixes
    if f.suppressed:
        inline = f.suppressed.source.startswith("annotation")
        out["suppressions"] = [{"kind": "inSource" if inline else "external", "status": "accepted",
                                "justification": f"{f.suppressed.reason} ({f.suppressed.source})"}]
    return out


def _artifact(path: str, in_repo: bool) -> dict[str, Any]:
    if in_repo:
        return {"uri": quote(path), "uriBaseId": "SRCROOT"}
    return {"uri": Path(path).as_uri()}


def _related_physical(origin: str) -> dict[str, Any] | None:
    file, line, _ = file_of(origin)
    if file is None:
        return None
    path, inside = relative(file)
    out: dict[str, Any] = {"artifactLocation": _artifact(path, inside)}
    if line:
        out["region"] = {"startLine": line}
    return out


def _fingerprint(f: Finding) -> str:
    o = f.object
    key = "\x00".join((f.code, o.kind, o.namespace or "", o.name, f.diagnostic.path, f.diagnostic.subject))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# -- fixes as text edits ------------------------------------------------------------------------------


def _sarif_fix(fix: Fix, lookup: dict) -> dict[str, Any] | None:
    """The fix as ``artifactChanges``, if every part maps to proven text edits of one manifest each."""
    changes = []
    for part in fix.parts():
        obj = lookup.get(part.target.key)
        if obj is None or part.created is not None:
            return None
        file, _, _ = file_of(obj.ref.origin)
        if file is None:
            return None
        edits = _edits(obj, part, file)
        if edits is None or not _proven(obj, part, file, edits):
            return None
        path, inside = relative(file)
        changes.append({"artifactLocation": _artifact(path, inside),
                        "replacements": [_replacement(e) for e in edits]})
    if not changes:
        return None
    return {"description": {"text": fix.title}, "artifactChanges": changes}


# an edit: (line, start column, end column, inserted text); columns 1-based, end exclusive
Edit = tuple[int, int, int, str]


def _edits(obj: K8sObject, fix: Fix, file: str) -> list[Edit] | None:
    tests = {op.path: op.value for op in fix.ops if op.op == "test"}
    edits: list[Edit] = []
    for op in fix.ops:
        if op.op == "test":
            continue
        if not _is_scalar(op.value):
            return None
        parent, _, key = op.path.rpartition("/")
        key = key.replace("~1", "/").replace("~0", "~")
        if op.op == "replace" or (op.op == "add" and obj.get(op.path) is not None and not key.isdigit()):
            old = tests.get(op.path, obj.get(op.path))
            edit = _replace_value(file, obj.line_of(op.path), key, old, op.value)
        elif op.op == "add" and not key.isdigit() and key != "-" and isinstance(obj.get(parent), dict):
            edit = _insert_key(file, obj.line_of(parent), key, op.value)
        else:
            return None
        if edit is None:
            return None
        edits.append(edit)
    return edits or None


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) and not (isinstance(v, str) and "\n" in v)


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    plain = re.fullmatch(r"[A-Za-z0-9_./][A-Za-z0-9_./ -]*", v) is not None and not v.endswith(" ")
    if plain and yaml.safe_load(v) == v:
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _replace_value(file: str, line: int | None, key: str, old: Any, new: Any) -> Edit | None:
    text = source_line(file, line) if line else None
    if text is None or not _is_scalar(old):
        return None
    m = re.search(r"(^|[\s{,-])(['\"]?)" + re.escape(key) + r"\2\s*:\s*", text)
    if not m:
        return None
    start = m.end()
    vm = re.match(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^,}#\s][^,}#]*?(?=\s*(?:[,}]|\s#|$))", text[start:])
    if not vm:
        return None
    try:
        if yaml.safe_load(vm.group(0)) != old:
            return None
    except yaml.YAMLError:
        return None
    return (line, start + 1, start + 1 + len(vm.group(0)), _scalar_text(new))


def _insert_key(file: str, line: int | None, key: str, value: Any) -> Edit | None:
    """A new ``key: value`` line in the block mapping whose first key is on ``line``."""
    text = source_line(file, line) if line else None
    if text is None or source_line(file, line + 1) is None:
        return None
    m = re.match(r"^((?:\s*-\s+)*)(\s*)", text)
    prefix = m.group(0)
    rest = text[len(prefix):]
    km = re.match(r"(['\"]?)[^'\":{}\[\]#]+\1\s*:(\s+(?P<v>.*))?$", rest)
    if not rest or rest[0] in "{[" or not km:
        return None
    value_text = (km.group("v") or "").strip()
    if not value_text or value_text[0] in "|>&*!{[" or value_text.startswith("#"):
        return None  # the first key's value continues on the next lines (or is not plain)
    indent = " " * len(prefix)
    k = _scalar_text(key)
    return (line + 1, 1, 1, f"{indent}{k}: {_scalar_text(value)}\n")


def _apply_edits(lines: list[str], edits: list[Edit], first: int = 1) -> str:
    """``lines`` (the first being line ``first`` of the file) with the edits made."""
    out = list(lines)
    for line, start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        i = line - first
        if start == end == 1 and new.endswith("\n"):
            out.insert(i, new[:-1])
        else:
            out[i] = out[i][: start - 1] + new + out[i][end - 1:]
    return "\n".join(out) + "\n"


@lru_cache(maxsize=8)
def _documents(file: str) -> tuple[bytes, list[tuple[int, int, int]]]:
    data = Path(file).read_bytes()
    return data, yamlfast.split_documents(data)


def _proven(obj: K8sObject, fix: Fix, file: str, edits: list[Edit]) -> bool:
    """Do the text edits give exactly the object the JSON patch gives? Re-parse the edited document to see."""
    try:
        data, spans = _documents(file)
        lines = {e[0] for e in edits}
        chosen = [sp for sp in spans if sp[2] <= min(lines)]
        if not chosen:
            return False
        start, end, first = chosen[-1]
        doc_lines = data[start:end].decode("utf-8").split("\n")
        if doc_lines and doc_lines[-1] == "":
            doc_lines.pop()
        if max(lines) >= first + len(doc_lines):
            return False  # the edits leave the object's document
        want = apply_ops(obj.data, fix)
        docs = [d for _, d in yamlfast.load_documents(_apply_edits(doc_lines, edits, first))]
    except Exception:  # noqa: BLE001 - any failure only means: no text edit offered
        return False
    ref = obj.ref

    def same(d: Any) -> bool:
        meta = d.get("metadata") if isinstance(d, dict) else None
        return isinstance(meta, dict) and d.get("kind") == ref.kind and meta.get("name") == ref.name and \
            (meta.get("namespace") or None) == (obj.data.get("metadata", {}).get("namespace") or None)

    return any(same(d) and d == want for d in docs)


def _replacement(e: Edit) -> dict[str, Any]:
    line, start, end, new = e
    return {"deletedRegion": {"startLine": line, "startColumn": start, "endLine": line, "endColumn": end},
            "insertedContent": {"text": new}}


def _notification(u: dict) -> dict[str, Any]:
    what, reason = u.get("what", ""), u.get("reason")
    text = f"could not read {what}: {reason}" if reason else str(what)
    skipped = u.get("skipped_rules")
    if skipped:
        text += f"; skipped rules: {', '.join(skipped)}"
    return {"level": "warning" if reason else "error", "message": {"text": text}}
