"""Conformance with Istio's own analyzer tests (../shared/corpus/istio-analyzers) and robustness on
the real-world manifests (../shared/corpus/real). Skipped with a reason when ../shared is absent."""

import json
from collections import Counter

import pytest

from kubectl_meshcheck.testing import load_objects, run_rules

from .conftest import CORPUS, corpus_cases, require_corpus


#: which port-naming IST messages each of our findings stands for
def ist_messages(finding):
    code, args = finding.code, finding.diagnostic.args
    if code in ("MC101", "MC102"):
        return ["IST0118"]
    if code == "MC105" and args.get("protocol") == "UnsupportedProtocol":
        return ["IST0118"]
    if code == "MC106":
        return ["IST0150"]
    if code == "MC103":
        return [args["ist"]]
    return []


def _cases(area):
    path = CORPUS / "istio-analyzers" / "expected.json"
    if not path.exists():
        return []
    return [c for c in json.loads(path.read_text())["cases"] if c["area"] == area]


PORT_CASES = _cases("port-naming")


@pytest.mark.parametrize("case", corpus_cases(PORT_CASES))
def test_istio_port_naming_case(case, host):
    root = require_corpus() / "istio-analyzers"
    objects = [o for f in case["inputs"] for o in load_objects(root / f)]
    # upstream drops these namespaces before analysing
    objects = [o for o in objects if o.namespace not in ("kube-system", "kube-public", "kube-node-lease",
                                                         "local-path-storage")]
    codes = [r.code for r in host.registry.all() if r.code.startswith("MC1")]
    result = run_rules(objects, codes, host)
    got = Counter((ist, f.object.display()) for f in result.findings for ist in ist_messages(f))
    want = Counter((e["code"], e["resource"]) for e in case["expected"])
    assert got == want, f"{case['name']}: missing {want - got}, extra {got - want}"


def test_port_naming_cases_present():
    require_corpus()
    assert len(PORT_CASES) == 8


def _real_files():
    root = CORPUS / "real"
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")) if root.is_dir() else []


def test_every_real_manifest_loads_and_is_analyzed_without_crash(host):
    root = require_corpus() / "real"
    from kubectl_meshcheck.sources.manifests import load_paths

    loaded = load_paths([str(root)], recursive=True)
    assert loaded.files >= 100, loaded.files
    assert not loaded.errors, loaded.errors
    result = run_rules(loaded.objects, [r.code for r in host.registry.all() if not r.code.startswith("MC0")], host)
    crashed = [f.diagnostic.message for f in result.findings if f.code == "MC001"]
    assert not crashed, crashed[:5]
    # every fix proposed on real input applies offline; a non-verified one must say why
    for f in result.findings:
        for fr in f.fixes:
            assert fr.verified is not False, f"{f.code} {f.object.display()}: {fr.fix.title}: {fr.note}"


def test_argocd_server_conflict_found_in_real_manifest(host):
    root = require_corpus() / "real" / "argo-cd"
    from kubectl_meshcheck.sources.manifests import load_paths

    loaded = load_paths([str(root)], recursive=True)
    result = run_rules(loaded.objects, ["MC103"], host)
    hits = [f for f in result.findings if f.object.name == "argocd-server" and f.object.kind == "Deployment"]
    assert hits, "the ArgoCD http/https -> 8080 conflict must be found in argo-cd's own manifests"
    assert {s["port"] for s in hits[0].diagnostic.args["services"]} >= {80, 443}
