"""Suppressions: silence a finding on purpose, always with a reason.

- Annotation on the object, or on its pod template for workloads (charts often expose only pod
  annotations): ``meshcheck.io/ignore-MC101: "Helm chart owns this port name; PLAT-123"``.
  An empty reason does not suppress; it is reported as MC004.
- Config entries ``{code, kind, namespace, name, reason}`` (globs allowed, reason required).

Suppressed findings are kept and counted (``--show-suppressed`` lists them); a suppression that
matches no finding of a rule that ran is reported as MC002, so stale ones do not pile up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .config import SuppressEntry
from .index import TEMPLATE_PATHS
from .model import Finding, K8sObject, ObjectRef, Suppression, pointer_get

ANNOTATION_PREFIX = "meshcheck.io/ignore-"


@dataclass(frozen=True)
class Problem:
    """A suppression the engine must report: ``kind`` is "unused" (MC002) or "no-reason" (MC004)."""

    kind: str
    obj: ObjectRef
    path: str
    message: str
    code: str


def _annotation_sources(obj: K8sObject) -> list[tuple[str, dict]]:
    out = [("/metadata/annotations", obj.annotations)]
    tpl = TEMPLATE_PATHS.get(obj.kind)
    if tpl is not None and tpl != "":
        anns = pointer_get(obj.data, f"{tpl}/metadata/annotations") or {}
        out.append((f"{tpl}/metadata/annotations", anns))
    return out


def apply_suppressions(
    findings: list[Finding],
    objects: Iterable[K8sObject],
    entries: list[SuppressEntry],
    ran_codes: set[str],
    use_annotations: bool = True,
) -> tuple[list[Finding], list[Problem]]:
    """Mark suppressed findings; return them with the suppressions to report."""
    problems: list[Problem] = []
    by_obj: dict[tuple, dict[str, tuple[str, str, str]]] = {}
    refs: dict[tuple, ObjectRef] = {}
    if use_annotations:
        for obj in objects:
            refs[obj.ref.key] = obj.ref
            for base, anns in _annotation_sources(obj):
                for key, value in anns.items():
                    if not str(key).startswith(ANNOTATION_PREFIX):
                        continue
                    code = str(key)[len(ANNOTATION_PREFIX):].upper()
                    path = f"{base}/{str(key).replace('~', '~0').replace('/', '~1')}"
                    reason = str(value or "").strip()
                    if not reason:
                        problems.append(Problem("no-reason", obj.ref, path,
                                                f"suppression {key} has no reason, so it suppresses nothing; "
                                                "write why as the annotation's value", code))
                        continue
                    by_obj.setdefault(obj.ref.key, {})[code] = (f"annotation {key}", reason, path)
    used_ann: set[tuple] = set()
    used_cfg: set[int] = set()
    out = []
    for f in findings:
        sup = None
        ann = by_obj.get(f.object.key, {})
        for code, (source, reason, _path) in ann.items():
            if f.code.startswith(code):
                sup = Suppression(source, reason)
                used_ann.add((f.object.key, code))
                break
        if sup is None:
            for e in entries:
                if (fnmatchcase(f.code, e.code) or f.code.startswith(e.code)) and fnmatchcase(f.object.kind, e.kind) \
                        and fnmatchcase(f.object.namespace or "", e.namespace) and fnmatchcase(f.object.name, e.name):
                    if not e.reason:
                        continue
                    sup = Suppression(f"config entry {e.index}", e.reason)
                    used_cfg.add(e.index)
                    break
        out.append(dataclasses.replace(f, suppressed=sup) if sup else f)
    for key, codes in by_obj.items():
        for code, (source, _reason, path) in codes.items():
            ran = any(c.startswith(code) for c in ran_codes)
            if ran and (key, code) not in used_ann:
                problems.append(Problem("unused", refs[key], path, f"{source} suppresses nothing: {code} "
                                        "has no finding on this object", code))
    for e in entries:
        if not e.reason:
            problems.append(Problem("no-reason", ObjectRef("meshcheck.io/v1", "Config", None, f"suppress[{e.index}]"),
                                    "", f"config suppression entry {e.index} ({e.code}) has no reason, "
                                    "so it suppresses nothing", e.code))
        elif e.index not in used_cfg and any(fnmatchcase(c, e.code) or c.startswith(e.code) for c in ran_codes):
            problems.append(Problem("unused", ObjectRef("meshcheck.io/v1", "Config", None, f"suppress[{e.index}]"),
                                    "", f"config suppression entry {e.index} ({e.code}) matches no finding", e.code))
    return out, problems
