"""Fixture-folder harness for rule tests, ours and organisations' alike.

Layout, one folder per rule code::

    tests/rules/MC101/
      fail.<case>.yaml     manifests on which the rule must fire
      pass.<case>.yaml     manifests on which it must stay silent
      expected.yaml        per fail case: the findings (object, path, args subset)
      fixed.<case>.yaml    the fail case after the first fix of each finding

``expected.yaml``::

    name-is-web:
      - object: Service shop/frontend
        path: /spec/ports/0
        args: {port: 80, protocol: UnsupportedProtocol}

Use :func:`cases` to parametrise a test and :func:`check_case` to run one; ``check_case`` proves
fixes: the first fix of every finding is applied with ``jsonpatch`` (and, with
``kubectl=True``, with ``kubectl patch --local``), the result must equal ``fixed.<case>.yaml``, and
re-running the rule on it must find nothing. A fix that creates an object (a generated ServiceEntry)
adds it: ``fixed.<case>.yaml`` then holds it too.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .engine import Engine, RunResult
from .fixes import apply_ops
from .index import Index
from .model import Applicability, Finding, K8sObject, MeshMode
from .plugins import PluginHost, build_plugin_manager
from .sources.manifests import LoadResult, load_paths


@dataclass(frozen=True)
class RuleCase:
    code: str
    outcome: str  # "fail" | "pass"
    name: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.code}/{self.outcome}.{self.name}"

    @property
    def fixed_path(self) -> Path:
        return self.path.with_name(f"fixed.{self.name}.yaml")


def cases(root: str | Path) -> list[RuleCase]:
    out = []
    for folder in sorted(Path(root).iterdir()):
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.yaml")):
            outcome, _, rest = f.name.partition(".")
            if outcome in ("fail", "pass"):
                out.append(RuleCase(folder.name, outcome, rest.removesuffix(".yaml"), f))
    return out


def load_objects(path: str | Path) -> list[K8sObject]:
    result: LoadResult = load_paths([str(path)])
    if result.errors:
        raise AssertionError(f"{path}: fixture does not load: {result.errors}")
    return result.objects


def run_rules(objects: list[K8sObject], codes: list[str], host: PluginHost | None = None,
              assume: MeshMode = MeshMode.SIDECAR) -> RunResult:
    host = host or build_plugin_manager(autoload=False)
    rules = [r for r in host.registry.all() if r.code in codes]
    missing = set(codes) - {r.code for r in rules}
    if missing:
        raise AssertionError(f"no rule registered for {sorted(missing)}")
    return Engine(Index(objects, assume), host.pm).run(rules)


def _of(result: RunResult, code: str) -> list[Finding]:
    return [f for f in result.findings if f.code == code]


def _subset(want: Any, got: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _subset(v, got[k]) for k, v in want.items())
    return want == got


def kubectl_patch_local(obj: dict, patch: list[dict] | dict, kind: str = "json") -> dict:
    """Apply a JSON (or merge) patch with the real ``kubectl patch --local`` (no server involved)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(obj, fh, default=str)
        name = fh.name
    try:
        env = {**os.environ, "KUBECONFIG": os.devnull}
        proc = subprocess.run(["kubectl", "patch", "--local", "-f", name, f"--type={kind}", "-p",
                               json.dumps(patch, default=str), "-o", "json"], capture_output=True, text=True,
                              env=env, timeout=60)
    finally:
        os.unlink(name)
    if proc.returncode != 0:
        raise AssertionError(f"kubectl patch --local failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def check_case(case: RuleCase, host: PluginHost | None = None, kubectl: bool = False) -> list[Finding]:
    """Run one fixture case and assert everything it promises. Returns the rule's findings."""
    host = host or build_plugin_manager(autoload=False)
    objects = load_objects(case.path)
    findings = _of(run_rules(objects, [case.code], host), case.code)
    if case.outcome == "pass":
        assert not findings, f"{case.id}: expected no {case.code}, got " + \
            "; ".join(f"{f.object.display()} {f.diagnostic.path}: {f.diagnostic.message}" for f in findings)
        return findings
    expected_file = case.path.parent / "expected.yaml"
    expected = (yaml.safe_load(expected_file.read_text()) or {}).get(case.name) if expected_file.exists() else None
    assert expected is not None, f"{case.id}: no entry {case.name!r} in {expected_file}"
    got = [(f.object.display(), f.diagnostic.path, dict(f.diagnostic.args)) for f in findings]
    assert len(got) == len(expected), f"{case.id}: expected {len(expected)} finding(s), got {len(got)}: {got}"
    for want in expected:
        match = [g for g in got if g[0] == want["object"] and g[1] == want.get("path", g[1])
                 and _subset(want.get("args", {}), g[2])]
        assert match, f"{case.id}: no finding like {want}; got {got}"
    if case.fixed_path.exists():
        _check_fixes(case, objects, findings, host, kubectl)
    return findings


def _check_fixes(case: RuleCase, objects: list[K8sObject], findings: list[Finding], host: PluginHost,
                 kubectl: bool) -> None:
    current = {o.ref.key: copy.deepcopy(o.data) for o in objects}
    for f in findings:
        usable = [r for r in f.fixes if r.fix.applicability is not Applicability.DISPLAY_ONLY]
        if not usable:
            continue
        r = usable[0]
        assert r.verified, f"{case.id}: first fix of {f.object.display()} is not verified: {r.note}"
        for part in r.fix.parts():
            key = part.target.key
            if part.created is not None:
                assert key not in current, f"{case.id}: the fix creates {part.target.display()}, which exists"
            t = part.target
            # kubectl needs an object to patch: a new one starts as its identity alone
            identity = {"name": t.name, **({"namespace": t.namespace} if t.namespace else {})}
            before = current.get(key) or {"apiVersion": t.api_version, "kind": t.kind, "metadata": identity}
            after = apply_ops(before, part)
            if kubectl:
                # kubectl's JSON patch cannot add at the root: a new object is merged onto its identity
                via_kubectl = (kubectl_patch_local(before, part.patch()) if part.created is None
                               else kubectl_patch_local(before, part.created, "merge"))
                assert via_kubectl == json.loads(json.dumps(after, default=str)), \
                    f"{case.id}: kubectl patch --local and jsonpatch disagree on {part.target.display()}"
            current[key] = after
    fixed = {o.ref.key: o.data for o in load_objects(case.fixed_path)}
    assert set(fixed) == set(current), f"{case.id}: fixed file holds other objects than the fail case"
    for key, data in current.items():
        assert json.loads(json.dumps(data, default=str)) == json.loads(json.dumps(fixed[key], default=str)), \
            f"{case.id}: {key} after the fixes differs from {case.fixed_path.name}"
    again = _of(run_rules(load_objects(case.fixed_path), [case.code], host), case.code)
    assert not again, f"{case.id}: {case.code} still fires after the fixes: " + \
        "; ".join(f.diagnostic.message for f in again)
