"""The capture plan (``kubectl_meshcheck.mesh.capture``): why tcpdump in istio-proxy fails, what a workload's
proxy is (debug/distroless, privileged or not), the namespace's PodSecurity level, and the ranked commands;
the ``kubectl meshcheck capture`` view on the bundled example; and the injector goldens' istio-proxy."""

import pytest
import yaml

from kubectl_meshcheck.mesh.capture import build_plan
from kubectl_meshcheck.mesh.privileges import (
    privilege_of,
    psa_of,
    raised_privileges,
    unraised,
    variant_of,
)
from kubectl_meshcheck.model import K8sObject, MeshMode, ObjectRef, Workload
from kubectl_meshcheck.testing import run_rules

from .conftest import CORPUS, corpus_cases
from .test_cli import EXAMPLES, js, run
from .test_injection import CASES


def deployment(annotations=None, containers=None, pod_sc=None, labels=None, ns="payments"):
    spec = {"containers": containers or [{"name": "web", "image": "example/web:1", "ports": [
        {"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9102}]}]}
    if pod_sc:
        spec["securityContext"] = pod_sc
    data = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": labels or {"app": "web"},
                                               "annotations": dict(annotations or {})}, "spec": spec}}}
    return Workload(K8sObject(data, ObjectRef("apps/v1", "Deployment", ns, "web", "test.yaml:1")), "/spec/template")


def plan(wl=None, mode=MeshMode.SIDECAR, ns_labels=None, mesh=None, values=None, observed=()):
    return build_plan(wl or deployment(), mode, {"istio-injection": "enabled"} if ns_labels is None else ns_labels,
                      mesh or {}, values or {}, "ConfigMap istio-system/istio-sidecar-injector", list(observed))


def methods(p):
    return {m.key: m for m in p.methods}


# -- the plan --------------------------------------------------------------------------------------


def test_default_sidecar_exec_fails_and_netadmin_debug_is_recommended_with_the_pod_and_ports():
    p = plan(observed=["web-5d8f-abcde"])
    assert p.variant == "debug" and not p.privilege.privileged and p.psa.level == "privileged"
    assert p.exec_tcpdump.startswith("fails: istio-proxy runs as UID 1337")
    assert p.recommended.key == "ephemeral-netadmin"
    assert p.recommended.command == (
        "kubectl debug -n payments web-5d8f-abcde -i -q --keep-labels --image=nicolaka/netshoot --profile=netadmin "
        "--target=web -- tcpdump -i any -U -w - 'port 8080 or port 9102' > web-5d8f-abcde.pcap")
    assert dict(p.recommended.variants)["interactive"] == (
        "kubectl debug -n payments web-5d8f-abcde -it --keep-labels --image=nicolaka/netshoot --profile=netadmin "
        "--target=web -- tcpdump -i any -nn 'port 8080 or port 9102'")
    assert dict(p.recommended.variants)["into Wireshark"].endswith("| wireshark -k -i -")
    assert "pods/ephemeralcontainers" in p.recommended.needs and "kubectl >= 1.27" in p.recommended.needs
    assert "exec-proxy" not in methods(p)  # tcpdump in the unprivileged sidecar is never offered


def test_without_a_live_pod_the_command_finds_one_by_the_selector():
    p = plan()
    assert p.pod == "$(kubectl -n payments get pod -l app=web -o jsonpath='{.items[0].metadata.name}')"
    assert p.recommended.command.startswith(f"kubectl debug -n payments {p.pod} -i -q")  # not shell-quoted
    assert p.recommended.command.endswith("> web.pcap")
    assert not p.pod_observed


def test_psa_baseline_rejects_netadmin_and_changes_the_recommendation():
    p = plan(ns_labels={"istio-injection": "enabled", "pod-security.kubernetes.io/enforce": "baseline"})
    m = methods(p)
    assert m["ephemeral-netadmin"].works == "no"
    assert m["ephemeral-netadmin"].blocked == (
        "PodSecurity: namespace label pod-security.kubernetes.io/enforce=baseline",)
    assert m["ephemeral-baseline"].works == "maybe" and "--profile=baseline" in m["ephemeral-baseline"].command
    assert p.recommended.key == "access-log"
    assert "kind: Telemetry" in p.recommended.command and "selector: {matchLabels: {app: \"web\"}}" in \
        p.recommended.command


def test_psa_restricted_leaves_no_debug_container_that_can_capture():
    p = plan(ns_labels={"pod-security.kubernetes.io/enforce": "restricted", "istio-injection": "enabled"})
    m = methods(p)
    assert m["ephemeral-netadmin"].works == "no" and "ephemeral-baseline" not in m
    assert p.recommended.key == "access-log" and {"proxy-log", "proxy-config", "node"} <= set(m)
    assert psa_of({"pod-security.kubernetes.io/enforce": "restricted"}).allows("restricted")
    assert not psa_of({"pod-security.kubernetes.io/enforce": "baseline"}).allows("general")  # SYS_PTRACE


def test_psa_unlabelled_namespace_is_the_cluster_default_and_unknown_namespace_is_said():
    assert psa_of({}).level == "privileged" and "cluster default" in psa_of({}).source
    assert psa_of(None).level == "unknown"
    assert psa_of({"pod-security.kubernetes.io/enforce": "strict"}).level == "unknown"


def test_pod_level_non_root_user_needs_a_root_debug_container():
    p = plan(deployment(pod_sc={"runAsNonRoot": True, "runAsUser": 1000}))
    assert p.recommended.command.startswith(
        "echo '{\"securityContext\":{\"runAsUser\":0,\"runAsNonRoot\":false}}' > /tmp/meshcheck-debug-root.json && "
        "kubectl debug ")
    assert "--custom=/tmp/meshcheck-debug-root.json" in p.recommended.command
    assert "spec.securityContext.runAsUser: 1000" in p.recommended.needs and "kubectl >= 1.31" in p.recommended.needs


def test_ambient_has_no_istio_proxy_to_exec_into_and_points_at_ztunnel():
    p = plan(mode=MeshMode.AMBIENT, ns_labels={"istio.io/dataplane-mode": "ambient"})
    assert p.variant == "" and p.exec_tcpdump.startswith("no istio-proxy in ambient pods")
    m = methods(p)
    assert p.recommended.key == "ephemeral-netadmin" and "ztunnel-log" in m and "access-log" not in m


def test_node_capture_sees_only_the_encrypted_leg():
    node = methods(plan(observed=["web-1"]))["node"]
    assert node.command.startswith("kubectl debug node/$(kubectl -n payments get pod web-1 -o jsonpath="
                                   "'{.spec.nodeName}') -n payments -it")
    assert "host $(kubectl -n payments get pod web-1 -o jsonpath='{.status.podIP}')" in node.command
    assert "not the plaintext loopback leg" in node.gives_up


# -- proxy image variant -----------------------------------------------------------------------------


@pytest.mark.parametrize("annotations, mesh, values, want", [
    ({}, {}, {}, "debug"),
    ({"sidecar.istio.io/proxyImageType": "distroless"}, {}, {}, "distroless"),
    ({"sidecar.istio.io/proxyImageType": "default"}, {"image": {"imageType": "distroless"}}, {}, "debug"),
    ({"proxy.istio.io/config": '{"image": {"imageType": "distroless"}}'}, {}, {}, "distroless"),
    ({}, {"image": {"imageType": "distroless"}}, {}, "distroless"),
    ({}, {}, {"global": {"variant": "distroless"}}, "distroless"),  # the ambient profile
    ({}, {}, {"global": {"tag": "1.26.1-distroless"}}, "distroless"),
    ({"sidecar.istio.io/proxyImage": "registry.example.com/istio/proxyv2:1.26.1-distroless"}, {}, {}, "distroless"),
    ({"sidecar.istio.io/proxyImage": "registry.example.com/istio/proxyv2:1.26.1"},
     {"image": {"imageType": "distroless"}}, {}, "debug"),
])
def test_proxy_image_variant_follows_the_injector(annotations, mesh, values, want):
    assert variant_of(deployment(annotations), mesh, values, "cm")[0] == want


def test_distroless_proxy_has_no_tcpdump_to_exec():
    p = plan(deployment({"sidecar.istio.io/proxyImageType": "distroless"}), values={
        "global": {"proxy": {"privileged": True}}})
    assert p.exec_tcpdump == "fails: the distroless proxy image has no shell and no tcpdump"
    assert "exec-proxy" not in methods(p)


def test_injected_pod_variant_is_read_from_its_image():
    wl = deployment(annotations={"sidecar.istio.io/status": "{}"}, containers=[
        {"name": "web", "image": "example/web:1"},
        {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.27.0-distroless"}])
    assert variant_of(wl, {}, {}, "")[0] == "distroless"


# -- privileges ------------------------------------------------------------------------------------------


def test_install_privileged_offers_sudo_tcpdump_and_trace_logging_plain_tcpdump():
    p = plan(values={"global": {"proxy": {"privileged": True}}}, observed=["web-1"])
    assert p.privilege.privileged and "values.global.proxy.privileged=true" in p.privilege.sources[0]
    assert methods(p)["exec-proxy"].command == ("kubectl exec -n payments web-1 -c istio-proxy -- sudo tcpdump -i "
                                                "any -nn 'port 8080 or port 9102'")
    assert p.recommended.key == "ephemeral-netadmin"  # the debug container still ranks first
    traced = plan(deployment({"proxy.istio.io/config": "proxyMetadata:\n  IPTABLES_TRACE_LOGGING: 'true'\n"}),
                  observed=["web-1"])
    assert traced.privilege.privileged and "-- tcpdump" in methods(traced)["exec-proxy"].command  # root: no sudo
    assert plan(mesh={"proxyMetadata": {"IPTABLES_TRACE_LOGGING": "true"}}).privilege.privileged


def test_override_privileges_are_found_and_cleaned_keeping_the_rest():
    sc = {"privileged": True, "runAsUser": 0, "runAsNonRoot": False, "readOnlyRootFilesystem": True,
          "capabilities": {"add": ["CAP_NET_RAW", "NET_BIND_SERVICE"], "drop": ["ALL"]}}
    assert raised_privileges(sc) == ["privileged: true", "runAsUser: 0", "capabilities.add: [CAP_NET_RAW]"]
    assert unraised(sc) == {"readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    wl = deployment(containers=[{"name": "web", "image": "example/web:1"},
                                {"name": "istio-proxy", "image": "auto", "securityContext": sc}])
    assert privilege_of(wl, {}, {}, "").sources[0].startswith("istio-proxy override in the pod spec: privileged")


def test_privileged_proxy_under_psa_baseline_cannot_even_start():
    p = plan(values={"global": {"proxy": {"privileged": True}}},
             ns_labels={"istio-injection": "enabled", "pod-security.kubernetes.io/enforce": "baseline"})
    assert "PodSecurity baseline rejects pods with a privileged container" in p.exec_tcpdump
    assert methods(p)["exec-proxy"].works == "no"


def test_tproxy_root_proxy_is_not_mistaken_for_a_capture_privilege():
    wl = deployment(annotations={"sidecar.istio.io/status": "{}", "sidecar.istio.io/interceptionMode": "TPROXY"},
                    containers=[{"name": "web", "image": "example/web:1"}, {
                        "name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.26.1", "securityContext": {
                            "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}])
    assert not privilege_of(wl, {}, {}, "").privileged


# -- the view on the bundled example --------------------------------------------------------------------


def rows_by_name():
    return {(r["namespace"], r["name"]): r for r in js(run("capture", "-f", str(EXAMPLES), "-o", "json"))["rows"]}


def test_capture_example_has_one_case_per_rule_with_proven_fixes():
    p = run("capture", "-f", str(EXAMPLES), "-o", "json")
    assert p.returncode == 0, p.stderr  # warnings and info only
    doc = js(p)
    assert sorted(f["code"] for f in doc["findings"]) == ["MC502", "MC503", "MC504", "MC505"]
    for f in doc["findings"]:
        assert f["category"] == "capture" and f["object"]["origin"].startswith(str(EXAMPLES / "capture.yaml"))
        assert all(x["verified"] is True for x in f["fixes"] if x["applicability"] != "display-only"), f


def test_capture_view_rows():
    rows = rows_by_name()
    orders = rows["payments", "orders"]
    assert orders["pod"] == "orders-6f8d-q7wz" and orders["podObserved"] and orders["ports"] == [8080, 9090]
    assert orders["command"] == ("kubectl debug -n payments orders-6f8d-q7wz -i -q --keep-labels "
                                 "--image=nicolaka/netshoot --profile=netadmin --target=orders -- tcpdump -i any -U "
                                 "-w - 'port 8080 or port 9090' > orders-6f8d-q7wz.pcap")
    assert orders["findings"] == ["MC505"]
    assert not orders["privileged"].startswith("yes")
    broker = rows["vault", "secrets-broker"]
    assert broker["proxyImage"] == "distroless" and broker["psa"] == "baseline"
    assert broker["recommended"] == "Envoy access logs for this workload (Telemetry API)"
    assert broker["execTcpdump"].startswith("fails: the distroless proxy image has no shell")
    # ranked: what works first, then what may work, then what PodSecurity baseline rejects
    assert [(m["key"], m["works"]) for m in broker["methods"]] == [
        ("access-log", "yes"), ("proxy-log", "yes"), ("proxy-config", "yes"), ("ephemeral-baseline", "maybe"),
        ("ephemeral-netadmin", "no"), ("node", "no")]
    assert rows["payments", "checkout"]["findings"] == ["MC502"] and rows["payments", "ledger"]["findings"] == ["MC503"]
    assert rows["payments", "gateway-api"]["findings"] == ["MC504"]
    header = run("capture", "-f", str(EXAMPLES)).stdout.splitlines()[0].split()
    assert header[:4] == ["NAMESPACE", "WORKLOAD", "MESH", "PROXY"]


# -- the injector goldens: the default istio-proxy is unprivileged --------------------------------------


def _goldens():
    return [{"name": c["golden_output"]} for c in CASES]


@pytest.mark.parametrize("case", corpus_cases(_goldens()))
def test_golden_istio_proxy_is_unprivileged_debug_and_silent(case, host):
    path = CORPUS / "istio-inject" / case["name"]
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        kind = doc["kind"]
        ref = ObjectRef(doc.get("apiVersion", "v1"), kind, "default", doc["metadata"]["name"], str(path))
        wl = Workload(K8sObject(doc, ref), "" if kind == "Pod" else "/spec/template")
        proxy = next(c for key in ("initContainers", "containers") for c in wl.pod_spec.get(key) or []
                     if c["name"] == "istio-proxy")
        sc = proxy["securityContext"]
        assert raised_privileges(sc) == [] and sc["runAsUser"] == 1337 and sc["capabilities"]["drop"] == ["ALL"]
        assert not privilege_of(wl, {}, {}, "").privileged
        assert variant_of(wl, {}, {}, "")[0] == "debug"  # registry.istio.io/testing/proxyv2:latest
    objects = [K8sObject(d, ObjectRef(d.get("apiVersion", "v1"), d["kind"], "default", d["metadata"]["name"],
                                      str(path))) for d in docs]
    found = run_rules(objects, ["MC501", "MC502", "MC503", "MC504"], host).findings
    assert [f for f in found if f.code.startswith("MC5")] == []
