"""Injection prediction: where istio-proxy goes, container orders, the hold hook, and hold's source.

The conformance test runs the prediction on every input of Istio's injector goldens
(../shared/corpus/istio-inject/cases.json) with that case's settings and compares the four
aspects with the golden output itself (not the case summary)."""

import json
from collections import Counter

import pytest
import yaml

from kubectl_meshcheck.mesh.config import MeshConfig, mesh_config_from
from kubectl_meshcheck.mesh.injection import (
    InjectorSettings,
    parse_proxy_config,
    predict_injection,
    read_injected,
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
