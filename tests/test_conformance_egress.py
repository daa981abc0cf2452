"""Conformance of the egress rules with Istio's analyzer tests in the egress-serviceentry area
(../shared/corpus/istio-analyzers): IST0134 (MC306) and IST0177 (MC307) must match exactly, mesh
config included; and no credential planted in the real-world corpus may appear in any output."""

import json
import re
import subprocess
from collections import Counter

import pytest
import yaml

from kubectl_meshcheck.index import Index
from kubectl_meshcheck.engine import Engine
from kubectl_meshcheck.mesh.config import DEFAULTS, MeshConfig, _merge
from kubectl_meshcheck.model import MeshMode
from kubectl_meshcheck.testing import load_objects

from .conftest import CORPUS, corpus_cases, require_corpus

SYSTEM = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")
IST = {"MC306": "IST0134", "MC307": "IST0177"}
#: upstream runs one analyzer per case: the message each analyzer under test emits
ANALYZER_MESSAGE = {"serviceentry.ProtocolAddressesAnalyzer": "IST0134",
                    "serviceentry.ConflictingServiceEntryProtocolAnalyzer": "IST0177"}


def _cases(area):
    path = CORPUS / "istio-analyzers" / "expected.json"
    if not path.exists():
        return []
    return [c for c in json.loads(path.read_text())["cases"] if c["area"] == area]


SE_CASES = _cases("egress-serviceentry")


def _run(case, host):
    root = require_corpus() / "istio-analyzers"
    objects = [o for f in case["inputs"] for o in load_objects(root / f) if o.namespace not in SYSTEM]
    mesh = None
    if case.get("meshconfig"):  # a bare MeshConfig document merged over the defaults
        mesh = MeshConfig(_merge(DEFAULTS, yaml.safe_load((root / case["meshconfig"]).read_text())), "case")
    rules = [r for r in host.registry.all() if r.code.startswith("MC3")]
    return Engine(Index(objects, MeshMode.SIDECAR, mesh_config=mesh), host.pm).run(rules)


@pytest.mark.parametrize("case", corpus_cases(SE_CASES))
def test_istio_serviceentry_case(case, host):
    result = _run(case, host)
    want_code = ANALYZER_MESSAGE[case["analyzer"]]
    got = Counter((IST[f.code], f.object.display()) for f in result.findings if IST.get(f.code) == want_code)
    want = Counter((e["code"], e["resource"]) for e in case["expected"])
    assert got == want, f"{case['name']}: missing {want - got}, extra {got - want}"


def test_serviceentry_area_present():
    require_corpus()
    assert len(SE_CASES) == 8 and sum(len(c["expected"]) for c in SE_CASES) == 7


#: what a planted credential looks like in the corpus: a URL's password, or a secret-named env value
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s/:@'\"]+:([^\s/@'\"]{3,})@")


def _planted(objects):
    """Credential values the real corpus carries in env literals and URLs (never from Secrets)."""
    from kubectl_meshcheck.redact import is_secret_name

    out = set()
    for o in objects:
        text = json.dumps(o.data)
        out |= {m.group(1) for m in _URL_PASSWORD.finditer(text) if "$" not in m.group(1) and "*" not in m.group(1)}
        stack = [o.data]
        while stack:
            cur = stack.pop()
            if isinstance(cur, dict):
                if o.kind != "Secret" and isinstance(cur.get("name"), str) and isinstance(cur.get("value"), str) \
                        and is_secret_name(cur["name"]) and len(cur["value"]) >= 4:
                    out.add(cur["value"])
                stack.extend(cur.values())
            elif isinstance(cur, list):
                stack.extend(cur)
    return out


def _distinctive(planted, objects):
    """Values that occur in the input only where they are secret: printing one anywhere is a leak
    (a password "postgres" that is also a user and an image name proves nothing)."""
    text = "\n".join(json.dumps(o.data) for o in objects)
    out = set()
    for v in planted:
        if len(v) < 6 or v.isdigit() or "$(" in v or "{{" in v:
            continue
        if text.count(v) == text.count(json.dumps(v)[1:-1] + '"') and text.count(v) <= 2:
            out.add(v)
    return out


def test_no_planted_credential_appears_in_any_output(tmp_path):
    root = require_corpus() / "real"
    from kubectl_meshcheck.sources.manifests import load_paths

    objects = load_paths([str(root)], recursive=True).objects
    planted = _distinctive(_planted(objects), objects)
    assert planted, "the real corpus is expected to carry some credential-looking values"
    for args in (["-o", "json"], ["egress", "-o", "json"], ["-o", "wide"]):
        proc = subprocess.run(["kubectl-meshcheck", *args, "-R", "-f", str(root), "--fail-on", "error"],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        leaked = sorted(v for v in planted if v in proc.stdout or v in proc.stderr)
        assert not leaked, f"{args}: credential values printed: {leaked[:5]}"
