"""Istio's analyzer negative cases (../shared/corpus/istio-analyzers, expected: no message) are clean
under every topic, mesh config included: no finding at warning or above, unless it stands for another
Istio analyzer's message (the rule's ``ist_codes``) than the one the case tests. Upstream runs one
analyzer per case, so a case says nothing about the others: the conflicting-protocol input of the
ProtocolAddresses case also triggers IST0177 upstream (conflictingserviceentries.go reads no mesh
config), and MC307 reports it there as IST0177 does."""

import json

import pytest
import yaml

from kubectl_meshcheck.engine import Engine
from kubectl_meshcheck.index import Index
from kubectl_meshcheck.mesh.config import DEFAULTS, MeshConfig, _merge
from kubectl_meshcheck.model import MeshMode, Severity
from kubectl_meshcheck.testing import load_objects

from .conftest import CORPUS, corpus_cases, require_corpus

SYSTEM = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")


def _all_cases():
    path = CORPUS / "istio-analyzers" / "expected.json"
    return json.loads(path.read_text())["cases"] if path.exists() else []


CASES = _all_cases()
NEGATIVE = [c for c in CASES if not c["expected"]]
#: the messages each upstream analyzer emits, from its positive cases
MESSAGES: dict[str, set[str]] = {}
for _c in CASES:
    MESSAGES.setdefault(_c["analyzer"], set()).update(e["code"] for e in _c["expected"])


@pytest.mark.parametrize("case", corpus_cases(NEGATIVE))
def test_negative_case_is_clean(case, host):
    root = require_corpus() / "istio-analyzers"
    objects = [o for f in case["inputs"] for o in load_objects(root / f) if o.namespace not in SYSTEM]
    mesh = None
    if case.get("meshconfig"):
        mesh = MeshConfig(_merge(DEFAULTS, yaml.safe_load((root / case["meshconfig"]).read_text())), "case")
    rules = [r for r in host.registry.all() if not r.code.startswith("MC0")]
    result = Engine(Index(objects, MeshMode.SIDECAR, mesh_config=mesh), host.pm).run(rules)
    tested = MESSAGES.get(case["analyzer"], set())
    wrong = [f"{f.code} {f.object.display()}: {f.diagnostic.message}" for f in result.findings
             if f.severity >= Severity.WARNING and not (set(f.rule.ist_codes) - tested)]
    assert not wrong, f"{case['name']}: {wrong}"


def test_negative_cases_present():
    require_corpus()
    assert len(NEGATIVE) == 9
