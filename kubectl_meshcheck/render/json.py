"""``-o json`` / ``-o yaml``: the stable, documented machine-readable output.

Findings: ``{"findings": [...], "summary": {...}, "unreadable": [...], "notes": [...]}``; topic
views add ``"rows"``. Each finding: code, rule, category (the topic), severity, object
(apiVersion, kind, namespace, name, origin), location, path, message, args, related, owner,
fixes (title, applicability, target, patch, caveats, verified, kubectl, withheld), suppressed,
assumptions (what the verdict rests on that could not be read: empty with full access).
"""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO

import yaml

try:
    import orjson
except ImportError:  # pragma: no cover - a build without the compiled dependency
    orjson = None

from ..fixes import fix_to_json
from ..model import Finding


def finding_to_json(f: Finding, refs: dict | None = None) -> dict[str, Any]:
    """``refs``: ObjectRef -> its JSON, shared by the findings of one stream (an entry is related to
    thousands of findings at 10,000 workloads); leave it out where the dicts may be changed."""
    d = f.diagnostic
    related = [r.to_json() for r in d.related] if refs is None else \
        [refs.get(r) or refs.setdefault(r, r.to_json()) for r in d.related]
    return {
        "code": f.code,
        "rule": f.rule.name,
        "category": f.rule.topic.value,
        "severity": str(f.severity),
        "object": f.object.to_json(),
        "location": f.location,
        "path": d.path,
        "subject": d.subject,  # what at path the finding is about, when the field names several things
        "message": d.message,
        "args": dict(d.args),
        "related": related,
        "owner": f.owner.to_json() if f.owner else None,
        "fixes": [fix_to_json(r.fix, r.verified, r.withheld, r.note) for r in f.fixes],
        "suppressed": {"by": f.suppressed.source, "reason": f.suppressed.reason} if f.suppressed else None,
        "assumptions": list(f.assumptions),
    }


def document(findings: list[Finding], summary: dict, unreadable: list, notes: list[str],
             rows: list[dict] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if rows is not None:
        doc["rows"] = rows
    doc["findings"] = [finding_to_json(f) for f in findings]
    doc["summary"] = summary
    doc["unreadable"] = unreadable
    doc["notes"] = notes
    return doc


def _dumps(value: Any) -> bytes:
    """Indented like kubectl's; orjson when present (the stdlib's indenting encoder is pure Python:
    ~10x slower on the 10,000-workload report). Dataclasses and dates go through ``str`` in both."""
    if orjson is None:
        return json.dumps(value, indent=2, default=str).encode()
    opts = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | \
        orjson.OPT_PASSTHROUGH_DATETIME
    return orjson.dumps(value, default=str, option=opts)


def dump_json(doc: dict) -> str:
    return _dumps(doc).decode()


def write_document(findings: list[Finding], summary: dict, unreadable: list, notes: list[str],
                   rows: list[dict] | None = None, extra: dict | None = None, out: BinaryIO | None = None) -> None:
    """``dump_json`` of ``document(...)`` (``extra``'s keys after ``notes``) and a newline, written to ``out``
    (stdout) a finding at a time: at 10,000 workloads the report is ~120 MB, and building it whole (the
    findings' dicts, then the text) cost ~850 MB more memory. Same bytes: each part is dumped alone and
    indented as it sits in the whole (the encoders indent by depth only)."""
    if out is None:
        sys.stdout.flush()
        out = sys.stdout.buffer
    out.write(b"{\n")
    parts: list[tuple[str, Any]] = [("rows", rows)] if rows is not None else []
    parts += [("findings", findings), ("summary", summary), ("unreadable", unreadable), ("notes", notes),
              *(extra or {}).items()]
    for i, (key, value) in enumerate(parts):
        if i:
            out.write(b",\n")
        if key != "findings" or not findings:
            out.write(_dumps({key: value})[2:-2])  # `  "key": value` without the braces' lines
            continue
        refs: dict = {}
        head, tail = b'{\n  "findings": [\n', b"\n  ]\n}"
        out.write(head[2:])
        for start in range(0, len(findings), 256):  # a batch dumped as the findings list: already indented
            text = _dumps({"findings": [finding_to_json(f, refs) for f in findings[start:start + 256]]})
            out.write((b",\n" if start else b"") + text[len(head):-len(tail)])
        out.write(tail[:-2])
    out.write(b"\n}\n")
    out.flush()


def dump_yaml(doc: dict) -> str:
    # round-trip through JSON so dates and other non-plain values become strings
    return yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False, width=120)
