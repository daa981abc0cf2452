"""Probe rewriting against Istio's injector goldens (../shared/corpus/istio-inject/cases.json).

For every case and every upstream run of it, the probes the kubelet will run (every probe and
lifecycle hook of every container but istio-proxy) and the ISTIO_KUBE_APP_PROBERS value (parsed JSON)
predicted from the input must equal the golden output's. The already-injected input (merge-probers)
is re-injected the way the webhook does it. Reading each golden back (read_probes) must give both sides."""

import json
from collections import Counter

import pytest
import yaml

from kubectl_meshcheck.mesh.config import MeshConfig
from kubectl_meshcheck.mesh.probes import PROBERS_ENV, predict_probes, read_probes

from .conftest import require_corpus
from .test_injection import CASES, _runs, _template

TALLY: Counter = Counter()
KINDS = ("readinessProbe", "livenessProbe", "startupProbe")


def golden_probes(spec: dict) -> dict:
    """(container, kind) -> the probe or hook as the golden output has it."""
    out = {}
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if c.get("name") == "istio-proxy":
                continue
            for kind in KINDS:
                if kind in c:
                    out[(c["name"], kind)] = c[kind]
            for kind, hook in (c.get("lifecycle") or {}).items():
                out[(c["name"], kind)] = hook
    return out


def golden_probers(spec: dict):
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if c.get("name") == "istio-proxy":
            for e in c.get("env") or []:
                if e.get("name") == PROBERS_ENV:
                    return json.loads(e["value"])
    return None


def _pairs(case):
    root = require_corpus() / "istio-inject"
    inputs = [d for d in yaml.safe_load_all((root / case["input"]).read_text()) if d]
    goldens = [d for d in yaml.safe_load_all((root / case["golden_output"]).read_text()) if d]
    assert len(inputs) == len(goldens)
    return list(zip(inputs, goldens))


@pytest.mark.parametrize("case", CASES, ids=[c["golden_output"] for c in CASES])
def test_predicted_probes_match_injector_golden(case):
    for inp, gold in _pairs(case):
        meta, spec = _template(inp)
        gold_spec = _template(gold)[1]
        want_probes, want_probers = golden_probes(gold_spec), golden_probers(gold_spec)
        for settings in _runs(case):
            got = predict_probes(meta, spec, settings, MeshConfig().get("defaultConfig"))
            got_probes = {(p.container, p.kind): p.kubelet for p in got.probes}
            TALLY[("probes", got_probes == want_probes)] += 1
            TALLY[("probers", got.app_probers == want_probers)] += 1
            assert got_probes == want_probes, f"{case['golden_output']} with {settings}"
            assert got.app_probers == want_probers, f"{case['golden_output']} with {settings}"


@pytest.mark.parametrize("case", CASES, ids=[c["golden_output"] for c in CASES])
def test_reading_the_golden_shows_both_sides(case):
    for _, gold in _pairs(case):
        meta, spec = _template(gold)
        got = read_probes(meta, spec)
        assert not got.predicted and got.app_probers == golden_probers(spec)
        summary = case["observed_in_golden_output"]["ISTIO_KUBE_APP_PROBERS"]
        assert (json.loads(summary) if summary else None) == got.app_probers
        for p in got.probes:
            if p.rewritten:  # what the kubelet calls, and the original the agent runs in its place
                assert p.kubelet["httpGet"]["path"] == p.url and p.kubelet["httpGet"]["port"] == 15020
                assert p.prober == got.app_probers[p.url] and p.original[p.handler] == p.prober[p.handler]
            else:
                assert p.kubelet == p.original


def test_report_probe_golden_counts():
    """Prints matched/total for the conformance run above (run with -s to see it)."""
    require_corpus()
    if not TALLY:
        pytest.skip("conformance cases not run in this session")
    for aspect in ("probes", "probers"):
        print(f"probe goldens, {aspect}: {TALLY[(aspect, True)]}/{TALLY[(aspect, True)] + TALLY[(aspect, False)]}")
    assert not TALLY[("probes", False)] and not TALLY[("probers", False)]
