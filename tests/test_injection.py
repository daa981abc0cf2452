"""Injection prediction: where istio-proxy goes, container orders, the hold hook, and hold's source.

The conformance test runs the prediction on every input of Istio's injector goldens
(../shared/corpus/istio-inject/cases.json) with that case's settings and compares the four
aspects with the golden output itself (not the case summary)."""

import json
from collections import Counter

import pytest
import yaml

from kubectl_meshcheck import MeshMode
from kubectl_meshcheck.mesh import annotations as ann
from kubectl_meshcheck.mesh.config import MeshConfig, mesh_config_from
from kubectl_meshcheck.mesh.injected_pod import predict_injection, read_injected
from kubectl_meshcheck.mesh.injection import (
    InjectorSettings,
    dataplane_mode,
    parse_proxy_config,
    settings_from_objects,
)
from kubectl_meshcheck.testing import load_objects

from .conftest import CORPUS, corpus_cases, require_corpus

INJECT = CORPUS / "istio-inject"
#: the fake nodes of upstream's TestInjection (kubelet 1.33 and 1.34), and TestInjectionOlderVersion's
NEW_NODES, OLD_NODES = ("v1.33.0", "v1.34.0"), ("v1.28.0",)


def settings_for(text: str) -> list[InjectorSettings]:
    """The case's settings, read from its plain-words description; one entry per upstream run."""
    runs = []
    if "forced off" in text:
        runs.append(InjectorSettings(native_sidecars="false", kubelet_versions=NEW_NODES))
    elif "holdApplicationUntilProxyStarts=true" in text:
        runs.append(InjectorSettings(native_sidecars="auto", kubelet_versions=NEW_NODES, hold_install=True))
    elif text.startswith("Default"):
        runs.append(InjectorSettings(native_sidecars="auto", kubelet_versions=NEW_NODES))
    assert runs, f"settings not understood: {text}"
    return runs


def _cases():
    path = INJECT / "cases.json"
    return json.loads(path.read_text())["cases"] if path.exists() else []


CASES = _cases()


def _template(doc: dict) -> tuple[dict, dict]:
    if doc.get("kind") == "Pod":
        return doc.get("metadata") or {}, doc.get("spec") or {}
    t = (doc.get("spec") or {}).get("template") or {}
    return t.get("metadata") or {}, t.get("spec") or {}


def _golden(doc: dict) -> dict:
    meta, spec = _template(doc)
    got = read_injected(meta, spec)
    return {"placement": got.placement, "containers": list(got.containers),
            "initContainers": list(got.init_containers), "postStartWait": got.post_start_wait}


def _predicted(meta: dict, spec: dict, settings: InjectorSettings, mesh: MeshConfig) -> dict:
    got = predict_injection(meta, spec, settings, mesh.get("defaultConfig"), mesh.source)
    return {"placement": got.placement, "containers": list(got.containers),
            "initContainers": list(got.init_containers), "postStartWait": got.post_start_wait}


def _runs(case):
    runs = settings_for(case["settings"])
    note = case.get("note", "")
    if "forced off" in note or "twice" in note:  # upstream also runs it with native sidecars forced off
        runs.append(InjectorSettings(native_sidecars="false", kubelet_versions=NEW_NODES))
    if "older-kubelet node" in note:
        runs.append(InjectorSettings(native_sidecars="auto", kubelet_versions=OLD_NODES))
    return runs


ASPECTS = ("placement", "containers", "initContainers", "postStartWait")
TALLY: Counter = Counter()


@pytest.mark.parametrize("case", corpus_cases(CASES, "golden_output"))
def test_prediction_matches_injector_golden(case):
    root = require_corpus() / "istio-inject"
    inputs = [d for d in yaml.safe_load_all((root / case["input"]).read_text()) if d]
    goldens = [d for d in yaml.safe_load_all((root / case["golden_output"]).read_text()) if d]
    assert len(inputs) == len(goldens)
    for inp, gold in zip(inputs, goldens):
        meta, spec = _template(inp)
        want = _golden(gold)
        for settings in _runs(case):
            if "already-injected" in case.get("note", ""):
                # upstream re-injects an injected pod; meshcheck reads injected pods as they are
                got = read_injected(meta, spec)
                assert got.predicted is False and got.injected
                TALLY["reinjection-read-as-is"] += 1
                continue
            got = _predicted(meta, spec, settings, MeshConfig())
            for aspect in ASPECTS:
                TALLY[(aspect, got[aspect] == want[aspect])] += 1
            assert got == want, f"{case['golden_output']} with {settings}: got {got}, golden {want}"


def test_injector_cases_present_and_summary_agrees():
    """The golden files say what the case summaries say (so our golden reader is right)."""
    require_corpus()
    assert len(CASES) == 22
    for case in CASES:
        seen = case["observed_in_golden_output"]
        gold = [d for d in yaml.safe_load_all((INJECT / case["golden_output"]).read_text()) if d][-1]
        g = _golden(gold)
        assert g["containers"] == seen["container_order"], case["golden_output"]
        assert g["initContainers"] == seen["init_container_order"], case["golden_output"]
        assert g["postStartWait"] == bool(seen["istio_proxy_postStart"]), case["golden_output"]
        assert (g["placement"] == "native") == seen["istio_proxy_placement"].startswith("initContainers")


def _pod(annotations=None, inits=(), containers=("app",)):
    meta = {"annotations": dict(annotations or {})}
    spec = {"initContainers": [{"name": n} for n in inits], "containers": [{"name": n} for n in containers]}
    return meta, spec


CLASSIC = InjectorSettings(native_sidecars="false")


def test_classic_hold_from_annotation_json_and_yaml_forms():
    for text, form in (('{"holdApplicationUntilProxyStarts": true}', "JSON"),
                       ("holdApplicationUntilProxyStarts: true\n", "YAML")):
        meta, spec = _pod({"proxy.istio.io/config": text}, inits=("migrate",))
        got = predict_injection(meta, spec, CLASSIC)
        assert got.placement == "first" and got.post_start_wait and got.hold.in_effect
        assert got.hold.source == f"pod annotation proxy.istio.io/config ({form})"
        assert got.containers == ("istio-proxy", "app")
        assert got.init_containers == ("migrate", "istio-init")  # user init containers run before iptables


def test_pod_false_overrides_mesh_default_but_install_value_is_ored():
    meta, spec = _pod({"proxy.istio.io/config": "holdApplicationUntilProxyStarts: false"})
    mesh, _ = mesh_config_from({"mesh": "defaultConfig:\n  holdApplicationUntilProxyStarts: true\n"}, "ConfigMap x")
    assert not predict_injection(meta, spec, CLASSIC, mesh.get("defaultConfig")).hold.in_effect
    assert predict_injection(_pod()[0], spec, CLASSIC, mesh.get("defaultConfig"), mesh.source).hold.source == \
        "meshConfig.defaultConfig (ConfigMap x)"
    held = predict_injection(meta, spec, InjectorSettings(native_sidecars="false", hold_install=True))
    assert held.hold.in_effect and held.hold.source.startswith("install value values.global.proxy.")


def test_native_ignores_hold_and_says_so():
    meta, spec = _pod({"proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"}, inits=("init-db",))
    got = predict_injection(meta, spec, InjectorSettings(native_sidecars="true"))
    assert got.native and not got.post_start_wait and not got.hold.in_effect and got.hold.requested
    assert "ignored" in got.hold.ignored
    assert got.init_containers == ("istio-init", "istio-proxy", "init-db")


def test_versions_decide_native_defaults_and_the_annotation():
    meta, spec = _pod({"sidecar.istio.io/nativeSidecar": "true"})
    assert predict_injection(meta, spec, InjectorSettings(istio_version=(1, 24))).native
    assert not predict_injection(meta, spec, InjectorSettings(istio_version=(1, 23))).native  # annotation too new
    assert InjectorSettings(istio_version=(1, 26)).native_mode == "false"
    assert InjectorSettings(istio_version=(1, 27)).native_mode == "auto"
    assert InjectorSettings(istio_version=(1, 18), native_sidecars="true").native_mode == "false"
    auto = predict_injection(*_pod(), InjectorSettings())
    assert not auto.native and auto.assumed and "kubelet versions unknown" in auto.native_reason
    one_old = InjectorSettings(native_sidecars="auto", kubelet_versions=("v1.34.1", "v1.32.9"))
    assert not predict_injection(*_pod(), one_old).native


def test_cni_and_interception_none():
    got = predict_injection(*_pod(inits=("fetch",)), InjectorSettings(native_sidecars="false", cni=True))
    assert got.init_containers == ("istio-validation", "fetch") and got.iptables == "istio-validation"
    meta, spec = _pod({"sidecar.istio.io/interceptionMode": "NONE"}, inits=("fetch",))
    assert predict_injection(meta, spec, CLASSIC).init_containers == ("fetch",)


def test_init_containers_before_proxy_annotation():
    meta, spec = _pod({"sidecar.istio.io/init-containers-before-proxy": "vault,missing"}, inits=("a", "vault"))
    got = predict_injection(meta, spec, InjectorSettings(native_sidecars="true"))
    assert got.init_containers == ("istio-init", "vault", "istio-proxy", "a")


def test_malformed_proxy_config_is_reported_not_raised():
    bad = parse_proxy_config('{"holdApplicationUntilProxyStarts": true')
    assert bad.present and bad.config is None and "not valid JSON" in bad.error
    assert parse_proxy_config("- a\n- b").error.startswith("not a ProxyConfig mapping")
    assert parse_proxy_config("holdApplicationUntilProxyStarts: 'yes'").hold is None


def test_settings_from_injector_configmap(tmp_path):
    values = {"global": {"tag": "1.26.2", "proxy": {"holdApplicationUntilProxyStarts": True}},
              "pilot": {"env": {"ENABLE_NATIVE_SIDECARS": "true"}}, "istio_cni": {"enabled": True}}
    f = tmp_path / "cm.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "istio-sidecar-injector", "namespace": "istio-system"},
                                 "data": {"values": json.dumps(values), "config": "policy: enabled"}}))
    s = settings_from_objects(load_objects(f))
    assert (s.istio_version, s.native_mode, s.hold_install, s.cni) == ((1, 26), "true", True, True)
    flags = settings_from_objects(load_objects(f), InjectorSettings(istio_version=(1, 28), native_sidecars="false",
                                                                    source="flags"))
    assert (flags.istio_version, flags.native_mode) == ((1, 28), "false")  # flags win


def test_report_golden_counts():
    """Prints the per-aspect tally of the conformance run above (run with -s to see it)."""
    require_corpus()
    if not TALLY:
        pytest.skip("conformance cases not run in this session")
    for aspect in ASPECTS:
        print(f"{aspect}: {TALLY[(aspect, True)]}/{TALLY[(aspect, True)] + TALLY[(aspect, False)]}")
    print(f"re-injection cases read as they are: {TALLY['reinjection-read-as-is']}")
    assert all(TALLY[(a, False)] == 0 for a in ASPECTS)


def test_image_auto_placeholder_is_not_a_sidecar_and_is_merged():
    from kubectl_meshcheck.mesh.injection import is_injected

    meta, spec = {}, {"containers": [{"name": "istio-proxy", "image": "auto"}, {"name": "app"}]}
    assert not is_injected(meta, spec)
    got = predict_injection(meta, spec, CLASSIC)
    assert got.containers == ("app", "istio-proxy") and got.predicted


def test_settings_from_istiod_and_nodes(tmp_path):
    docs = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod", "namespace": "istio-system"},
         "spec": {"template": {"spec": {"containers": [
             {"name": "discovery", "image": "docker.io/istio/pilot:1.26.3",
              "env": [{"name": "ENABLE_NATIVE_SIDECARS", "value": "auto"}]}]}}}},
        *({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}, "status": {"nodeInfo": {"kubeletVersion": v}}}
          for n, v in (("a", "v1.33.4"), ("b", "v1.32.9"))),
    ]
    f = tmp_path / "install.yaml"
    f.write_text(yaml.safe_dump_all(docs))
    s = settings_from_objects(load_objects(f))
    assert (s.istio_version, s.native_mode, s.kubelet_versions) == ((1, 26), "auto", ("v1.33.4", "v1.32.9"))
    assert s.source == "Deployment istio-system/istiod + 2 Node(s)"
    assert not predict_injection(*_pod(), s).native  # one node below 1.33 turns auto off


# -- Istio's annotation table and the injector's value checks (mesh/annotations.py) ------------------

def test_annotation_table_rows_are_well_formed():
    table = ann.ANNOTATIONS
    assert len(table) == len(set(table)) and all(a.name == n for n, a in table.items())
    kinds = {"Any", "AuthorizationPolicy", "Gateway", "GatewayClass", "Ingress", "Namespace", "Pod", "Service",
             "ServiceEntry", "WorkloadEntry"}  # annotations.gen.go ResourceTypes
    assert all(set(a.resources) <= kinds and a.status in ("Alpha", "Beta", "Stable", "?") for a in table.values())
    assert all(a.status == "?" for a in table.values() if not a.confirmed)
    assert all(table[n].deprecated for n in ann.REPLACEMENTS)
    inject, native = table["sidecar.istio.io/inject"], table["sidecar.istio.io/nativeSidecar"]
    assert inject.deprecated and inject.status == "Beta"
    assert inject.applies_to("Pod") and not inject.applies_to("Namespace")
    assert native.status == "Alpha" and not native.deprecated
    assert table["galley.istio.io/analyze-suppress"].applies_to("Namespace")  # Any


@pytest.mark.parametrize("key, istio", [
    ("sidecar.istio.io/inject", True), ("networking.istio.io/exportThree", True), ("kubernetes.io/ingress.class", True),
    ("fooistio.io/x", True),  # the analyzers' test is a suffix test on the part before "/"
    ("kubernetes.io/psp", False), ("example.com/istio.io-note", False), ("helm.sh/hook", False)])
def test_which_keys_are_istio_annotations(key, istio):
    assert ann.is_istio_annotation(key) is istio


def test_closest_annotation_only_when_one_is_close():
    assert ann.closest_annotation("SIDECAR.ISTIO.IO/PROXYCPU") == "sidecar.istio.io/proxyCPU"
    assert ann.closest_annotation("sidecar.istio.io/nativeSidecars") == "sidecar.istio.io/nativeSidecar"
    assert ann.closest_annotation("proxy.istio.io/confg") == "proxy.istio.io/config"
    assert ann.closest_annotation("networking.istio.io/visibility") is None
    assert ann.closest_annotation("sidecar.istio.io/proxyMem") is None  # proxyMemory or proxyMemoryLimit?


@pytest.mark.parametrize("key, value, problem, corrected", [
    ("readiness.status.sidecar.istio.io/periodSeconds", "10", False, None),
    ("readiness.status.sidecar.istio.io/periodSeconds", "10s", True, "10"),
    ("readiness.status.sidecar.istio.io/initialDelaySeconds", "bar", True, None),
    ("readiness.status.sidecar.istio.io/failureThreshold", "-1", True, None),  # ParseUint: no sign
    ("readiness.status.sidecar.istio.io/failureThreshold", "4294967296", True, None),  # > uint32
    ("status.sidecar.istio.io/port", " 15021 ", False, None),  # parsePort trims
    ("status.sidecar.istio.io/port", "70000", True, None),
    ("sidecar.istio.io/interceptionMode", "TPROXY", False, None),
    ("sidecar.istio.io/interceptionMode", "redirect", True, "REDIRECT"),
    ("traffic.sidecar.istio.io/includeInboundPorts", "*", False, None),
    ("traffic.sidecar.istio.io/excludeInboundPorts", "*", True, None),  # the wildcard is for include only
    ("traffic.sidecar.istio.io/excludeOutboundPorts", "5432, 6379", False, None),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", "5432,,6379", True, "5432,6379"),
    ("traffic.sidecar.istio.io/excludeInboundPorts", "", False, None),
    ("prometheus.istio.io/merge-metrics", "False", False, None),  # Go ParseBool spellings
    ("prometheus.istio.io/merge-metrics", "yes", True, "true"),
    ("sidecar.istio.io/proxyCPU", "lots", False, None),  # not validated by the injector
])
def test_injector_value_checks(key, value, problem, corrected):
    assert (ann.annotation_value_problem(key, value) is not None) is problem
    assert ann.corrected_annotation_value(key, value) == corrected


def test_alpha_reporting_follows_the_maturity_analyzer():
    mode = ann.ANNOTATIONS["sidecar.istio.io/interceptionMode"]
    assert ann.alpha_reported(mode, "Pod", ("istio-init",))  # written by the user: iptables from istio-init
    assert not ann.alpha_reported(mode, "Pod", ("istio-validation",))  # CNI pods: the CNI wrote it
    assert ann.alpha_reported(mode, "Pod", None)  # a pod template: the user wrote it
    assert ann.alpha_reported(mode, "Deployment", ())
    assert not ann.alpha_reported(ann.ANNOTATIONS["istio.io/rev"], "Pod", ("istio-init",))
    assert not ann.alpha_reported(ann.ANNOTATIONS["proxy.istio.io/config"], "Pod", None)  # Beta
    assert not ann.alpha_reported(ann.ANNOTATIONS["istio.io/reroute-virtual-interfaces"], "Pod", None)  # unknown


def test_malformed_metadata_maps_do_not_break_the_mode_decision():
    d = dataplane_mode("shop", {"istio-injection": "enabled"}, {"labels": "bad", "annotations": [1]}, "nope")
    assert d.mode is MeshMode.SIDECAR


def test_an_install_lifecycle_override_replaces_the_hold_hook():
    from kubectl_meshcheck.mesh.injected_pod import predict_injection
    from kubectl_meshcheck.mesh.injection import InjectorSettings, settings_from_injector_values

    meta = {"annotations": {"proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"}}
    spec = {"containers": [{"name": "app", "image": "x"}]}
    classic = InjectorSettings(native_sidecars="false")
    drain = settings_from_injector_values(
        {"global": {"proxy": {"lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}}}}}, classic)
    held = predict_injection(meta, spec, classic)
    dropped = predict_injection(meta, spec, drain)
    assert held.hold.in_effect and held.post_start_wait and held.placement == "first"
    assert not dropped.hold.in_effect and not dropped.post_start_wait and dropped.placement == "first"
    assert "values.global.proxy.lifecycle" in dropped.hold.ignored
    waits = settings_from_injector_values({"global": {"proxy": {"lifecycle": {"postStart": {"exec": {
        "command": ["pilot-agent", "wait"]}}}}}}, classic)
    assert predict_injection(meta, spec, waits).hold.in_effect  # an override that keeps the wait still holds
