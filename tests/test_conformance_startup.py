"""Conformance of the startup rules with Istio's analyzer tests (../shared/corpus/istio-analyzers) in
the areas they cover: application-uid (IST0144, all cases must match exactly), injection (IST0102,
IST0148, IST0123, IST0146, IST0147 exactly; IST0103 except where meshcheck deliberately differs,
listed below) and annotations (IST0107, IST0108, IST0125, IST0135 and, from the alpha analyzer
outside Istio's default set, IST0136: all exactly)."""

import json
from collections import Counter

import pytest

from kubectl_meshcheck import Topic
from kubectl_meshcheck.testing import load_objects, run_rules

from .conftest import CORPUS, corpus_cases, require_corpus

SYSTEM = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")


def ist_messages(finding):
    """The istioctl message each startup finding stands for."""
    if finding.code == "MC209":
        return ["IST0148" if finding.diagnostic.args.get("namespacesByDefault") else "IST0102"]
    if finding.code == "MC203":  # one finding per metadata map; istioctl reports each annotation
        return ["IST0107"] * len(finding.diagnostic.args["annotations"])
    return {"MC207": ["IST0144"], "MC210": ["IST0103"], "MC211": ["IST0123"], "MC212": ["IST0146"],
            "MC213": ["IST0147"], "MC214": ["IST0108"], "MC215": ["IST0107"], "MC216": ["IST0135"],
            "MC217": ["IST0136"], "MC218": ["IST0125"]}.get(finding.code, [])


def _cases(area):
    path = CORPUS / "istio-analyzers" / "expected.json"
    if not path.exists():
        return []
    return [c for c in json.loads(path.read_text())["cases"] if c["area"] == area]


def _run(case, host, messages):
    """Our findings on the case's inputs as (IST code, resource), limited to the messages of the
    analyzer under test (upstream runs one analyzer per case)."""
    root = require_corpus() / "istio-analyzers"
    objects = [o for f in case["inputs"] for o in load_objects(root / f) if o.namespace not in SYSTEM]
    codes = [r.code for r in host.registry.all() if r.code.startswith("MC2")]
    result = run_rules(objects, codes, host)
    return Counter((ist, f.object.display()) for f in result.findings for ist in ist_messages(f) if ist in messages)


UID_CASES = _cases("application-uid")


@pytest.mark.parametrize("case", corpus_cases(UID_CASES))
def test_istio_application_uid_case(case, host):
    got = _run(case, host, {"IST0144"})
    want = Counter((e["code"], e["resource"]) for e in case["expected"])
    assert got == want, f"{case['name']}: missing {want - got}, extra {got - want}"


ANNOTATION_CASES = [c for c in _cases("annotations") if not c.get("not_in_default_analyzer_set")]
ALPHA_CASES = [c for c in _cases("annotations") if c.get("not_in_default_analyzer_set")]


@pytest.mark.parametrize("case", corpus_cases(ANNOTATION_CASES))
def test_istio_annotation_case(case, host):
    """Unknown (MC214), misplaced (MC203 on controllers, MC215 elsewhere), invalid (MC218) and
    deprecated (MC216) annotations: the expected multiset exactly."""
    got = _run(case, host, {"IST0107", "IST0108", "IST0125", "IST0135"})
    want = Counter((e["code"], e["resource"]) for e in case["expected"])
    assert got == want, f"{case['name']}: missing {want - got}, extra {got - want}"


@pytest.mark.parametrize("case", corpus_cases(ALPHA_CASES))
def test_istio_alpha_annotation_case(case, host):
    """Alpha annotations (MC217, a preview rule like Istio's analyzer outside the default set)."""
    got = _run(case, host, {"IST0136"})
    want = Counter((e["code"], e["resource"]) for e in case["expected"])
    assert got == want, f"{case['name']}: missing {want - got}, extra {got - want}"


def test_alpha_annotation_rule_is_preview(host):
    (alpha,) = [r for r in host.registry.all() if "IST0136" in r.ist_codes]
    assert alpha.status.value == "preview"
    assert alpha.code not in {r.code for r in host.registry.select(Topic.STARTUP)}


#: expected messages meshcheck does not report on purpose, with the reason
DIVERGENCES = {
    ("IST0103", "Pod default/noninjectedpod"):
        "a Pod manifest (no status, uid or creationTimestamp) is injected when it is created; "
        "MC210 reports only pods the API server created without a sidecar",
}
INJECTION_CASES = [c for c in _cases("injection") if c["analyzer"] == "injection.Analyzer"]


@pytest.mark.parametrize("case", corpus_cases(INJECTION_CASES))
def test_istio_injection_case(case, host):
    got = _run(case, host, {"IST0102", "IST0103", "IST0123", "IST0148"})
    pairs = [(e["code"], e["resource"]) for e in case["expected"]]
    want = Counter(p for p in pairs if p not in DIVERGENCES)
    assert got == want, f"{case['name']}: missing {want - got}, extra {got - want}"


IMAGE_AUTO_CASES = [c for c in _cases("injection") if c["analyzer"] == "injection.ImageAutoAnalyzer"]


@pytest.mark.parametrize("case", corpus_cases(IMAGE_AUTO_CASES))
def test_istio_image_auto_case(case, host):
    got = _run(case, host, {"IST0146", "IST0147"})
    want = Counter((e["code"], e["resource"]) for e in case["expected"])
    assert got == want, f"{case['name']}: missing {want - got}, extra {got - want}"


def test_startup_areas_present():
    require_corpus()
    assert len(UID_CASES) == 4 and len(ANNOTATION_CASES) == 1 and len(ALPHA_CASES) == 1
    assert len(INJECTION_CASES) == 2 and len(IMAGE_AUTO_CASES) == 1
