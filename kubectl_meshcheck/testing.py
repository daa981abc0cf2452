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

An organisation's rules are tested the same way, with its plugin and config::

    import meshcheck_acme
    from kubectl_meshcheck.testing import cases, check_case, contract_problems, plugin_host

    HOST = plugin_host(plugins=[("acme", meshcheck_acme)], config="meshcheck.yaml")

    @pytest.mark.parametrize("case", cases("tests/rules"), ids=lambda c: c.id)
    def test_case(case):
        check_case(case, HOST)

    def test_contract():
        assert not contract_problems(HOST, "tests/rules", prefix="ACME")

:func:`contract_problems` runs the checks that guard the bundled rules: codes, names, docstring
sections, fail and pass cases per rule, declared kinds equal to the kinds looked up, fix availability.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import Config, load_config
from .engine import RunResult, fix_availability_ok
from .fixes import apply_ops
from .index import ALWAYS_READ
from .model import CODE_RE, Applicability, Finding, K8sObject, MeshMode, Rule, Topic
from .pipeline import Settings, analyse
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


@dataclass
class HarnessHost:
    """The plugins and config a test runs with (see :func:`plugin_host`)."""

    host: PluginHost
    config: Config


def plugin_host(plugins: Iterable[tuple[str, Any]] = (), config: Config | str | None = None,
                autoload: bool = False) -> HarnessHost:
    """The bundled plugins plus ``plugins`` ((name, module) pairs, as the entry-point group would load
    them), with ``config`` (a :class:`Config` or the path of a config file: parameters, severities,
    suppressions). Entry points are not loaded unless ``autoload``, so tests see only what they name."""
    cfg = load_config(config) if isinstance(config, (str, Path)) else (config or Config())
    return HarnessHost(build_plugin_manager(cfg, autoload=autoload, extra_plugins=tuple(plugins)), cfg)


def _test_host(host: PluginHost | HarnessHost | None) -> HarnessHost:
    if isinstance(host, HarnessHost):
        return host
    return HarnessHost(host or build_plugin_manager(autoload=False), Config())


def run_rules(objects: list[K8sObject], codes: list[str], host: PluginHost | HarnessHost | None = None,
              assume: MeshMode = MeshMode.SIDECAR) -> RunResult:
    """Run the rules ``codes`` over ``objects``, as ``kubectl meshcheck -f`` would (fixes verified)."""
    th = _test_host(host)
    rules = [r for r in th.host.registry.all() if r.code in codes]
    missing = set(codes) - {r.code for r in rules}
    if missing:
        loaded = ", ".join(f"{i.name} ({i.status})" for i in th.host.infos)
        raise AssertionError(f"no rule registered for {sorted(missing)}; plugins: {loaded} "
                             "(pass yours with plugin_host(plugins=[(name, module)]))")
    return analyse(objects, rules, Settings(th.host, th.config, assume_mode=assume))[2]


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


def check_case(case: RuleCase, host: PluginHost | HarnessHost | None = None, kubectl: bool = False) -> list[Finding]:
    """Run one fixture case and assert everything it promises. Returns the rule's findings."""
    host = _test_host(host)
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


def _check_fixes(case: RuleCase, objects: list[K8sObject], findings: list[Finding], host: HarnessHost,
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


# -- the contract every rule keeps (the registry meta-checks, for any plugin's rules) --------------

SECTIONS = ("What it checks", "What Istio does", "Example", "Fixes", "References")


def doc_problems(r: Rule) -> list[str]:
    """What the rule's own data lacks: a valid code and kebab name, the check named after the rule,
    a short summary, and the docstring sections users read in ``kubectl meshcheck rules CODE``."""
    out = []
    if not CODE_RE.match(r.code):
        out.append(f"{r.code}: code must match {CODE_RE.pattern}")
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.name):
        out.append(f"{r.code}: name {r.name!r} is not kebab-case")
    if r.check.__name__ not in ("<lambda>", r.name.replace("-", "_")):
        out.append(f"{r.code}: check function {r.check.__name__!r} should be named {r.name.replace('-', '_')!r}")
    if not r.summary or len(r.summary) >= 110:
        out.append(f"{r.code}: summary must be one short line (under 110 characters)")
    positions = [r.doc.find(s + ":") for s in SECTIONS]
    missing = [s for s, p in zip(SECTIONS, positions) if p < 0]
    if missing:
        out.append(f"{r.code}: docstring lacks {missing}")
    elif positions != sorted(positions):
        out.append(f"{r.code}: docstring sections out of order (want {', '.join(SECTIONS)})")
    return out


def lookup_problems(r: Rule, rule_cases: Iterable[RuleCase], host: PluginHost | HarnessHost | None = None) -> list[str]:
    """Run the rule's cases and compare what it looked up with what it declares (the live source
    lists only declared kinds, so an undeclared lookup finds nothing in a cluster), and its declared
    fix availability with the fixes it produced."""
    th = _test_host(host)
    looked: set[str] = set()
    out = []
    for c in rule_cases:
        result = run_rules(load_objects(c.path), [r.code], th)
        looked |= result.looked_up[r.code]
        if not fix_availability_ok(r, [f.diagnostic for f in result.findings if f.code == r.code]):
            out.append(f"{c.id}: fix availability {r.fix.value} not kept")
    undeclared = looked - ALWAYS_READ - r.kinds  # ALWAYS_READ: install facts every rule may read
    if undeclared:
        out.append(f"{r.code} looked up {sorted(undeclared)} without declaring them in reads")
    if not looked >= r.reads:
        out.append(f"{r.code} declares reads {sorted(r.reads - looked)} that its cases never use")
    return out


def contract_problems(host: PluginHost | HarnessHost | None, root: str | Path, prefix: str = "") -> list[str]:
    """Every problem of every rule whose code starts with ``prefix``: :func:`doc_problems`, fail and
    pass cases under ``root/<CODE>/``, and :func:`lookup_problems`. Empty when all is well."""
    th = _test_host(host)
    all_cases = cases(root)
    out = []
    for r in th.host.registry.all():
        if r.topic is Topic.ENGINE or not r.code.startswith(prefix):
            continue
        mine = [c for c in all_cases if c.code == r.code]
        out += doc_problems(r)
        if {c.outcome for c in mine} != {"fail", "pass"}:
            out.append(f"{r.code} needs fail.* and pass.* cases in {Path(root) / r.code}/")
        out += lookup_problems(r, mine, th)
    return out
