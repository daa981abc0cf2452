"""Probe rewriting beyond the injector goldens (switches, versions, gRPC, status port, named ports),
inbound mTLS resolution, and the ``kubectl meshcheck probes`` view on the bundled example."""

import json
from pathlib import Path

from kubectl_meshcheck.mesh.injection import InjectorSettings
from kubectl_meshcheck.mesh.mtls import effective_mtls
from kubectl_meshcheck.mesh.probes import predict_probes, read_probes, rewrite_decision, verdict
from kubectl_meshcheck.model import K8sObject, ObjectRef

from .test_cli import EXAMPLES, js, run


def _pod(container: dict, annotations=None):
    return {"annotations": dict(annotations or {})}, {"containers": [{"name": "app", **container}]}


def _plans(container, settings=None, annotations=None):
    got = predict_probes(*_pod(container, annotations), settings or InjectorSettings())
    return {p.kind: p for p in got.probes}, got


def test_annotation_parsed_like_go_parsebool_and_install_value_fallback():
    assert rewrite_decision({"sidecar.istio.io/rewriteAppHTTPProbers": "F"}, InjectorSettings())[0] is False
    assert rewrite_decision({"sidecar.istio.io/rewriteAppHTTPProbers": "TRUE"},
                            InjectorSettings(rewrite_probes=False))[0] is True
    off = InjectorSettings(rewrite_probes=False, source="ConfigMap istio-system/istio-sidecar-injector")
    on, why = rewrite_decision({"sidecar.istio.io/rewriteAppHTTPProbers": "no"}, off)  # not a Go bool: ignored
    assert on is False and why.startswith("install value sidecarInjectorWebhook.rewriteAppHTTPProbe=false")
    assert rewrite_decision({}, InjectorSettings(istio_version=(1, 5)))[0] is False
    assert rewrite_decision({}, InjectorSettings(istio_version=(1, 6)))[0] is True


def test_grpc_probe_becomes_http_to_the_agent_and_keeps_its_timings():
    plans, got = _plans({"readinessProbe": {"grpc": {"port": 9090}, "timeoutSeconds": 3, "periodSeconds": 5}})
    p = plans["readinessProbe"]
    assert p.rewritten and p.kubelet == {"httpGet": {"path": "/app-health/app/readyz", "port": 15020},
                                         "timeoutSeconds": 3, "periodSeconds": 5}
    assert got.app_probers == {"/app-health/app/readyz": {"grpc": {"port": 9090}, "timeoutSeconds": 3}}


def test_versions_gate_tcp_grpc_startup_and_lifecycle_rewriting():
    container = {"livenessProbe": {"tcpSocket": {"port": 6379}}, "readinessProbe": {"grpc": {"port": 9090}},
                 "startupProbe": {"httpGet": {"port": 8080}}, "lifecycle": {"preStop": {"httpGet": {"port": 8080}}}}
    old, got = _plans(container, InjectorSettings(istio_version=(1, 11)))
    assert [k for k, p in old.items() if p.rewritten] == ["startupProbe"]
    assert "since Istio 1.12" in old["livenessProbe"].why
    assert old["preStop"].kubelet == container["lifecycle"]["preStop"]
    assert set(got.app_probers) == {"/app-health/app/startupz"}
    v112, _ = _plans(container, InjectorSettings(istio_version=(1, 12)))
    assert v112["livenessProbe"].rewritten and not v112["readinessProbe"].rewritten
    v16, _ = _plans(container, InjectorSettings(istio_version=(1, 6)))
    assert not v16["startupProbe"].rewritten
    v125, got125 = _plans(container, InjectorSettings(istio_version=(1, 25)))
    assert all(p.rewritten for p in v125.values())
    assert got125.app_probers["/app-lifecycle/app/prestopz"] == {"httpGet": {"port": 8080}}


def test_status_port_annotation_host_headers_and_https():
    container = {"livenessProbe": {"httpGet": {"host": "api.internal", "port": 8443, "scheme": "HTTPS",
                                               "httpHeaders": [{"name": "X-A", "value": "1"}]}}}
    plans, got = _plans(container, annotations={"status.sidecar.istio.io/port": "15099"})
    assert plans["livenessProbe"].kubelet == {"httpGet": {"host": "api.internal", "port": 15099, "scheme": "HTTP",
                                                          "path": "/app-health/app/livez",
                                                          "httpHeaders": [{"name": "X-A", "value": "1"}]}}
    assert got.app_probers["/app-health/app/livez"]["httpGet"]["scheme"] == "HTTPS"  # the agent calls HTTPS
    assert verdict(plans["livenessProbe"], True, "PERMISSIVE").works == "no"  # the kubelet calls api.internal


def test_named_ports_resolve_in_the_same_container_only():
    plans, got = _plans({"ports": [{"name": "web", "containerPort": 8080}],
                         "livenessProbe": {"httpGet": {"port": "web"}}, "readinessProbe": {"httpGet": {"port": "http"}},
                         "startupProbe": {"tcpSocket": {"port": "8081"}}})
    assert got.app_probers == {"/app-health/app/livez": {"httpGet": {"port": 8080}},
                               "/app-health/app/startupz": {"tcpSocket": {"port": 8081}}}
    missing = plans["readinessProbe"]
    assert missing.rewritten and missing.prober is None and "no port named 'http'" in missing.port_error
    assert verdict(missing, True, "PERMISSIVE").works == "no"


def test_rewriting_off_verdicts_follow_the_mtls_mode_and_capture():
    container = {"readinessProbe": {"httpGet": {"port": 8080}}, "livenessProbe": {"tcpSocket": {"port": 8080}},
                 "startupProbe": {"exec": {"command": ["true"]}}}
    plans, got = _plans(container, annotations={"sidecar.istio.io/rewriteAppHTTPProbers": "false"})
    assert got.app_probers is None and not any(p.rewritten for p in plans.values())
    assert verdict(plans["readinessProbe"], True, "STRICT").works == "no"
    assert verdict(plans["readinessProbe"], True, "PERMISSIVE").works == "yes"
    assert verdict(plans["readinessProbe"], True, "STRICT", captured=False).works == "yes"
    assert verdict(plans["livenessProbe"], True, "PERMISSIVE").works == "meaningless"
    assert verdict(plans["startupProbe"], True, "STRICT").works == "yes"


def test_injected_pod_with_broken_probers_env_is_reported():
    meta = {"annotations": {"sidecar.istio.io/status": "{}"}}
    spec = {"containers": [{"name": "app", "readinessProbe": {"httpGet": {"path": "/app-health/app/readyz",
                                                                        "port": 15020}}},
                           {"name": "istio-proxy", "env": [{"name": "ISTIO_KUBE_APP_PROBERS", "value": "{oops"}]}]}
    got = read_probes(meta, spec)
    assert "not valid JSON" in got.error and got.probes[0].rewritten and got.probes[0].prober is None
    assert verdict(got.probes[0], True, "STRICT").works == "no"


def _pa(ns, name, spec, ts=""):
    meta = {"name": name, "namespace": ns, **({"creationTimestamp": ts} if ts else {})}
    return K8sObject({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": meta,
                      "spec": spec}, ObjectRef("security.istio.io/v1", "PeerAuthentication", ns, name))


def test_mtls_narrowest_policy_wins_unset_inherits_and_ports_override():
    mesh = _pa("istio-system", "default", {"mtls": {"mode": "STRICT"}})
    ns = _pa("shop", "default", {"mtls": {"mode": "PERMISSIVE"}})
    wl = _pa("shop", "api", {"selector": {"matchLabels": {"app": "api"}}, "mtls": {"mode": "UNSET"},
                             "portLevelMtls": {8081: {"mode": "DISABLE"}, "8082": {"mode": "STRICT"}}})
    api = {"app": "api"}
    assert effective_mtls("shop", api, 8080, [mesh]).mode == "STRICT"
    assert effective_mtls("shop", api, 8080, [mesh, ns, wl]).mode == "PERMISSIVE"  # UNSET inherits the namespace
    assert effective_mtls("shop", api, 8081, [mesh, ns, wl]).mode == "DISABLE"
    port_level = effective_mtls("shop", api, 8082, [mesh, ns, wl])
    assert (port_level.mode, port_level.source) == ("STRICT", "PeerAuthentication shop/api (portLevelMtls 8082)")
    assert effective_mtls("shop", {"app": "web"}, 8081, [mesh, ns, wl]).mode == "PERMISSIVE"
    assert effective_mtls("shop", api, 8080, []).mode == "PERMISSIVE"


def test_mtls_root_selector_ignored_oldest_wins_custom_root():
    root_sel = _pa("istio-system", "api", {"selector": {"matchLabels": {"app": "api"}}, "mtls": {"mode": "STRICT"}})
    assert effective_mtls("shop", {"app": "api"}, 80, [root_sel]).mode == "PERMISSIVE"
    newer = _pa("shop", "a", {"mtls": {"mode": "STRICT"}}, "2026-02-01T00:00:00Z")
    older = _pa("shop", "b", {"mtls": {"mode": "DISABLE"}}, "2025-01-01T00:00:00Z")
    assert effective_mtls("shop", {}, 80, [newer, older]).mode == "DISABLE"
    custom = _pa("mesh-root", "default", {"mtls": {"mode": "STRICT"}})
    assert effective_mtls("shop", {}, 80, [custom]).mode == "PERMISSIVE"
    assert effective_mtls("shop", {}, 80, [custom], root_namespace="mesh-root").mode == "STRICT"


def test_probes_example_has_one_case_per_rule_with_proven_fixes():
    p = run("probes", "-f", str(EXAMPLES), "-o", "json")
    assert p.returncode == 1, p.stderr
    doc = js(p)
    assert sorted(f["code"] for f in doc["findings"]) == [f"MC40{i}" for i in range(1, 9)]
    for f in doc["findings"]:
        assert f["category"] == "probes" and f["object"]["origin"].startswith(str(EXAMPLES / "probes.yaml"))
        assert all(x["verified"] is True for x in f["fixes"] if x["applicability"] != "display-only"), f
    observed = next(f for f in doc["findings"] if f["code"] == "MC408")
    assert observed["message"].startswith("observed on pod ledger-6f7b9-q8w2z")


def test_probes_view_explains_each_probe():
    rows = {(r["workload"], r["container"], r["probe"]): r for r in js(run("probes", "-f", str(EXAMPLES),
                                                                          "-o", "json"))["rows"]}
    reviews = rows[("Deployment/reviews", "reviews", "readinessProbe")]
    assert (reviews["works"], reviews["mtls"], reviews["findings"]) == ("no", "STRICT", ["MC401"])
    assert reviews["kubeletCalls"] == "as written" and reviews["original"] == "httpGet :http=9080/ready"
    assert reviews["mtlsSource"] == "PeerAuthentication istio-system/default (mesh-wide)"
    tls = rows[("Deployment/tls-api", "api", "readinessProbe")]
    assert tls["kubeletCalls"] == "httpGet :15020/app-health/api/readyz" and tls["works"] == "yes"
    assert tls["prober"] == {"httpGet": {"path": "/ready", "port": 8443, "scheme": "HTTPS"}}
    assert rows[("StatefulSet/session-cache", "redis", "livenessProbe")]["works"] == "meaningless"
    assert rows[("Deployment/ledger", "ledger", "livenessProbe")]["findings"] == ["MC408"]
    assert json.dumps(rows[("Deployment/indexer", "indexer", "livenessProbe")]["kubelet"]) == \
        '{"httpGet": {"path": "/app-health/indexer/livez", "port": 15020}}'
    table = run("probes", "-f", str(EXAMPLES), "-o", "wide", env={"COLUMNS": "300"}).stdout
    assert "KUBELET CALLS" in table.splitlines()[0] and "httpGet :15020/app-health/api/readyz" in table


def test_live_root_namespace_policy_counts_outside_the_namespace_scope(tmp_path):
    """-n shop judges only shop, but the mesh-wide PeerAuthentication in istio-system still decides STRICT."""
    from .kubeapi import KubeAPIServer, write_kubeconfig
    from .test_live import EXAMPLE_OBJECTS
    from .test_live import run as run_live

    with KubeAPIServer(objects=EXAMPLE_OBJECTS) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        p = run_live("probes", "-n", "shop", "-o", "json", kubeconfig=kc)
    doc = js(p)
    (f,) = [f for f in doc["findings"] if f["code"] == "MC401"]
    assert f["object"]["namespace"] == "shop" and f["args"]["probes"][0]["source"] == \
        "PeerAuthentication istio-system/default (mesh-wide)"
    observed = [f for f in doc["findings"] if f["code"] == "MC408"]
    assert observed and "observed on pod ledger-6f7b9-q8w2z" in observed[0]["message"]


def test_the_install_rewrite_value_can_be_given_offline_in_the_config(tmp_path):
    case = (Path(__file__).parent / "rules" / "MC401" / "fail.annotation-off-mesh-strict.yaml").read_text()
    manifest = tmp_path / "api.yaml"
    manifest.write_text(case.replace('annotations: {sidecar.istio.io/rewriteAppHTTPProbers: "false"}', ""))
    assert "rewriteAppHTTPProbers" not in manifest.read_text()
    default = js(run("probes", "-f", str(manifest), "-o", "json", "--select", "MC401"))
    assert default["findings"] == []  # rewriting is on by default: the probes pass through pilot-agent
    config = tmp_path / "meshcheck.yaml"
    config.write_text("injection:\n  rewriteAppHTTPProbe: false\n")
    off = js(run("probes", "-f", str(manifest), "-o", "json", "--select", "MC401", "--config", str(config)))
    (finding,) = off["findings"]
    assert finding["code"] == "MC401" and finding["object"]["name"] == "api"
    config.write_text("injection:\n  rewriteAppHTTPProbe: maybe\n")
    p = run("probes", "-f", str(manifest), "--config", str(config))
    assert p.returncode == 3 and "injection.rewriteAppHTTPProbe must be true or false" in p.stderr
