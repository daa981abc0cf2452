"""Fixes as patches: apply them offline, prove they clear the finding, and print them.

Every fix a rule proposes is applied with ``jsonpatch`` to a copy of its target (its leading
``test`` ops refuse a stale object), then the rule is re-run with the patched object in place of
the original (a fix that creates an object is re-run with the object added). A fix is *verified*
only if the finding at that path is gone. Display-only fixes (a human must choose a value) are
never applied and carry ``verified: None``.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import jsonpatch
import jsonpointer

from .model import (
    Applicability, Finding, Fix, FixResult, K8sObject, ObjectRef, PatchOp, Workload, escape_pointer,
)


class FixDoesNotApply(Exception):
    pass


def _copy_path(root: Any, pointer: str) -> None:
    """Replace every container from ``root`` down to the parent of ``pointer`` by a shallow copy, so an
    in-place patch changes only copies. Stops where the path does not exist (the patch then fails)."""
    node = root
    for token in jsonpointer.JsonPointer(pointer).parts[:-1]:
        try:
            key: Any = int(token) if isinstance(node, list) else token
            child = node[key]
        except (KeyError, IndexError, ValueError, TypeError):
            return
        if isinstance(child, dict):
            child = node[key] = dict(child)
        elif isinstance(child, list):
            child = node[key] = list(child)
        else:
            return
        node = child


def tree_copy(value: Any) -> Any:
    """A deep copy of a JSON-like tree (dicts and lists copied, scalars shared): what ``copy.deepcopy``
    does for these, several times faster (it was a fifth of fix verification on the mesh bench)."""
    if isinstance(value, dict):
        return {k: tree_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tree_copy(v) for v in value]
    return value


def apply_ops(data: dict, fix: Fix) -> dict:
    """The target's content after the fix (a new dict; ``data`` is left untouched).

    Copy-on-write: only the containers on the patched paths are copied, not the whole object (a
    deep copy per fix was most of the verification cost on big inputs)."""
    ops = tree_copy(fix.patch())  # the ops' values end up in the result: never share them
    if len(ops) == 1 and ops[0].get("op") == "add" and ops[0].get("path") == "" and "value" in ops[0]:
        return ops[0]["value"]  # RFC 6902: adding at the root replaces the document (a fix that creates one)
    out = dict(data)
    for op in ops:
        if op.get("op") != "test":
            for key in ("path", "from"):
                if isinstance(op.get(key), str):
                    _copy_path(out, op[key])
    try:
        return jsonpatch.apply_patch(out, ops, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
        raise FixDoesNotApply(str(e)) from None


#: created document (as compact JSON) -> its YAML: every workload of a namespace that dials one host is
#: offered the same ServiceEntry, so one dump serves them all (14,000 dumps -> 2,000 at 10,000 workloads)
_YAML_OF: dict[str, str] = {}


def _yaml_of(doc: Any) -> str:
    key = json.dumps(doc, separators=(",", ":"), default=str)
    text = _YAML_OF.get(key)
    if text is None:
        from .sources.yamlfast import dump_block

        if len(_YAML_OF) > 50_000:  # a long-lived embedding process: keep the memo bounded
            _YAML_OF.clear()
        text = _YAML_OF[key] = dump_block(doc)
    return text


def kubectl_command(fix: Fix) -> str:
    """A copy-pasteable command for the fix's target: ``kubectl patch``, or for a fix that creates the
    object ``kubectl create`` with the document inline (``create`` refuses an object that exists, as the
    ``test`` ops of a patch refuse one that changed)."""
    if fix.created is not None:
        return f"kubectl create -f - <<'EOF'\n{_yaml_of(fix.created)}EOF"
    ref = fix.target
    patch = json.dumps(fix.patch(), separators=(",", ":"), default=str)
    parts = ["kubectl", "patch", ref.kind.lower(), ref.name]
    if ref.namespace:
        parts += ["-n", ref.namespace]
    parts += ["--type=json", "-p", patch]
    return " ".join(shlex.quote(p) for p in parts)


def created_objects(fixes: Iterable[Fix]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The objects these fixes create, once per identity, in first-seen order.

    Two fixes that create the same ServiceEntry (two workloads of a namespace dialling one host) merge
    their ports, so one ``kubectl create`` serves both: the union still covers what each fix covered."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for part in (p for fix in fixes for p in fix.parts()):
        doc = part.created
        if doc is None:
            continue
        have = out.get(part.target.key)
        if have is None:
            out[part.target.key] = copy.deepcopy(doc)
            continue
        ports = (have.get("spec") or {}).get("ports")
        if isinstance(ports, list):
            numbers = {p.get("number") for p in ports if isinstance(p, dict)}
            ports += [copy.deepcopy(p) for p in (doc.get("spec") or {}).get("ports") or []
                      if isinstance(p, dict) and p.get("number") not in numbers]
            ports.sort(key=lambda p: p.get("number") or 0)
    return out


def best_fix(finding: Finding) -> FixResult | None:
    """The fix offered for a finding: its first one that is not withheld and not disproved."""
    return next((r for r in finding.fixes if not r.withheld and r.verified is not False), None)


def fix_to_apply(finding: Finding, unsafe: bool) -> FixResult | None:
    """The fix ``--fix`` and ``-o patch`` apply: the best one, if verified and allowed (unsafe ones
    only with ``--unsafe-fixes``; display-only never). Suppressed findings are left alone."""
    best = best_fix(finding)
    if finding.suppressed or best is None or best.verified is not True:
        return None
    if best.fix.applicability is Applicability.DISPLAY_ONLY or not best.fix.ops:
        return None
    if best.fix.applicability is Applicability.UNSAFE and not unsafe:
        return None
    return best


def kustomize_target(ref: ObjectRef, kustomization: Mapping[str, Any] | None = None) -> dict[str, str]:
    """A kustomization ``patches`` target naming exactly this (rendered) object. What the kustomization
    itself adds, its ``namePrefix``/``nameSuffix`` and ``namespace``, is left out: its patches run first."""
    own = kustomization or {}
    prefix, suffix = str(own.get("namePrefix") or ""), str(own.get("nameSuffix") or "")
    group, _, version = ref.api_version.rpartition("/")
    name = ref.name
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    if suffix and name.endswith(suffix):
        name = name[: len(name) - len(suffix)]
    target = {"group": group, "version": version, "kind": ref.kind, "name": name}
    if not group:
        del target["group"]
    if ref.namespace and not own.get("namespace"):
        target["namespace"] = ref.namespace
    return target


def kustomize_patch(fix: Fix, comment: str = "", kustomization: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The fix as a kustomization ``patches`` entry: a JSON 6902 patch (its ``test`` ops included, so
    kustomize refuses a base that changed) for its target, as YAML text with ``comment`` on top."""
    import yaml

    ops = yaml.safe_dump(json.loads(json.dumps(fix.patch(), default=str)), sort_keys=False,
                         default_flow_style=False, width=1000)
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return {"target": kustomize_target(fix.target, kustomization), "patch": head + ops}


def fix_to_json(fix: Fix, verified: bool | None, withheld: str | None, note: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": fix.title,
        "applicability": fix.applicability.value,
        "target": fix.target.to_json(),
        "patch": fix.patch(),
        "caveats": list(fix.caveats),
        "verified": verified,
    }
    if fix.applicability is not Applicability.DISPLAY_ONLY and fix.ops:
        out["kubectl"] = kubectl_command(fix)
    if fix.also:
        out["also"] = [fix_to_json(part, verified, None) for part in fix.also]
    if withheld:
        out["withheld"] = withheld
    if note:
        out["note"] = note
    return out


def patched(obj: K8sObject, fix: Fix) -> K8sObject:
    return obj.replaced(apply_ops(obj.data, fix))


# -- building fixes on a pod template (shared by the bundled plugins; public API) ---------------------


def pin_pod_template(wl: Workload) -> list[PatchOp]:
    """A ``test`` op that pins the pod template the fix was computed for (its first container's name)."""
    first = next(iter(wl.containers()), None)
    return [PatchOp("test", f"{first[0]}/name", first[1].get("name"))] if first else []


def pod_metadata_ops(wl: Workload, field: str, key: str, value: str) -> list[PatchOp]:
    """Set pod-template ``metadata.<field>[key] = value``, creating the maps as needed.

    Creating a map replaces whatever is there, so the parent is pinned with a ``test`` first: a second
    fix computed against the same original then refuses to apply instead of dropping the first one."""
    base = f"{wl.template_path}/metadata"
    meta = wl.template.get("metadata")
    if not isinstance(meta, dict):
        return [PatchOp("test", wl.template_path, wl.template), PatchOp("add", base, {field: {key: value}})]
    current = meta.get(field)
    if not isinstance(current, dict):
        return [PatchOp("test", base, meta), PatchOp("add", f"{base}/{field}", {key: value})]
    path = f"{base}/{field}/{escape_pointer(key)}"
    if key in current:
        return [PatchOp("test", path, current[key]), PatchOp("replace", path, value)]
    return [PatchOp("add", path, value)]
