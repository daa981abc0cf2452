"""The egress inventory, outbound policy, ServiceEntry coverage, the generated ServiceEntries and
the egress view: what `kubectl meshcheck egress` tells a user, checked on inputs written here and on
the bundled example."""

import ipaddress
import re
import subprocess
from pathlib import Path

import yaml

from kubectl_meshcheck.views import proposed_service_entries
from kubectl_meshcheck.mesh.config import MeshConfig, mesh_config_from
from kubectl_meshcheck.mesh.egress import coverage
from kubectl_meshcheck.mesh.endpoints import cluster_names, inventory
from kubectl_meshcheck.mesh.visibility import outbound_policy
from kubectl_meshcheck.model import K8sObject, ObjectRef, Workload
from kubectl_meshcheck.testing import cases, load_objects, run_rules

EXAMPLES = Path(__file__).resolve().parents[1] / "kubectl_meshcheck" / "examples"
RULES = Path(__file__).parent / "rules"
UNREGISTERED = ["MC301", "MC302", "MC303"]


def obj(doc):
    m = doc["metadata"]
    return K8sObject(doc, ObjectRef(doc.get("apiVersion", "v1"), doc["kind"], m.get("namespace"), m["name"], "t:1"))


def deployment(ns, env=(), args=(), image="example/app:1", labels=None):
    return obj({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": ns},
                "spec": {"template": {"metadata": {"labels": labels or {"app": "app"}}, "spec": {"containers": [
                    {"name": "app", "image": image, "env": list(env), "args": list(args)}]}}}})


def eps_of(d, services=(), configmaps=()):
    names = cluster_names([obj(s) for s in services], ["billing"])
    cms = {(c["metadata"]["namespace"], c["metadata"]["name"]): obj(c) for c in configmaps}
    return inventory(Workload(d, "/spec/template"), names, lambda n, name: cms.get((n, name)))


def test_inventory_finds_every_kind_of_endpoint_with_where_and_protocol():
    env = [
        {"name": "DATABASE_URL", "value": "postgres://app:hunter2@db.example.com/app"},
        {"name": "ORDERS_JDBC", "value": "jdbc:mysql://10.1.2.3:3306/orders?user=x&password=pw1"},
        {"name": "MONGO_URI", "value": "mongodb+srv://u:pw2@cluster0.abc.mongodb.net/db"},
        {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "b1.kafka.example.com:9092,b2.kafka.example.com:9092"},
        {"name": "LEGACY_DB_HOST", "value": "104.155.22.115"}, {"name": "LEGACY_DB_PORT", "value": "3307"},
        {"name": "QUEUE", "value": "amqps://mq.example.net"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "LISTEN", "value": "0.0.0.0:8080"},
        {"name": "ORA", "value": "jdbc:oracle:thin:@//ora.example.com:1521/svc"},
        {"name": "KAFKA_CONTROLLER_QUORUM_VOTERS", "value": "1@kafka:9093"},
    ]
    got = {(e.host, e.port): e for e in eps_of(deployment("shop", env, ["--cache=rediss://:pw3@cache.example.com:6380"]))}
    assert set(got) == {("db.example.com", 5432), ("10.1.2.3", 3306), ("cluster0.abc.mongodb.net", 27017),
                        ("b1.kafka.example.com", 9092), ("b2.kafka.example.com", 9092), ("104.155.22.115", 3307),
                        ("mq.example.net", 5671), ("cache.example.com", 6380), ("ora.example.com", 1521)}
    pg = got[("db.example.com", 5432)]
    assert (pg.app, pg.protocol.value, pg.tls, pg.found_in) == ("PostgreSQL", "TCP", False, "env DATABASE_URL")
    assert pg.text == "postgres://app:****@db.example.com/app"
    assert pg.path == "/spec/template/spec/containers/0/env/0/value"
    assert got[("10.1.2.3", 3306)].server_first and got[("10.1.2.3", 3306)].app == "MySQL"
    cache = got[("cache.example.com", 6380)]
    assert cache.protocol.value == "TLS" and cache.found_in == "args[0]"
    assert got[("mq.example.net", 5671)].protocol.value == "TLS"
    assert all(not e.in_cluster for e in got.values())
    assert not any(s in repr(list(got.values())) for s in ("hunter2", "pw1", "pw2", "pw3"))


def test_in_cluster_names_are_told_apart_from_external_ones():
    services = [{"kind": "Service", "metadata": {"name": "ledger", "namespace": "billing"},
                 "spec": {"clusterIP": "10.96.0.12"}}]
    env = [{"name": f"E{i}", "value": v} for i, v in enumerate([
        "http://ledger.billing:8080", "redis://sessions:6379", "http://cart.shop.svc.cluster.local:7070",
        "http://10.96.0.12:80", "https://api.example.com"])]
    verdict = {e.host: (e.in_cluster, e.why) for e in eps_of(deployment("shop", env), services)}
    assert verdict["ledger.billing"][0] and verdict["sessions"][0] and verdict["cart.shop.svc.cluster.local"][0]
    assert verdict["10.96.0.12"] == (True, "a Service's cluster IP")
    assert verdict["api.example.com"] == (False, "an external DNS name")


def test_configmap_values_are_read_only_when_the_configmap_is_in_the_input_and_secrets_never():
    env = [{"name": "DB", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "db"}}},
           {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "app", "key": "pw"}}}]
    cm = {"kind": "ConfigMap", "metadata": {"name": "app", "namespace": "shop"},
          "data": {"db": "mysql://reports.example.net:3306/r"}}
    (ep,) = eps_of(deployment("shop", env), configmaps=[cm])
    assert ep.host == "reports.example.net" and ep.found_in == "env DB (ConfigMap shop/app key db)"
    assert eps_of(deployment("shop", env)) == []


def _sidecar(ns, name, otp, selector=None):
    spec = {"outboundTrafficPolicy": otp} if otp is not None else {}
    if selector:
        spec["workloadSelector"] = {"labels": selector}
    return obj({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": name, "namespace": ns},
                "spec": spec})


def test_outbound_policy_follows_istio_precedence_and_the_empty_policy_gotcha():
    mesh = MeshConfig()
    assert outbound_policy("shop", {"app": "a"}, [], mesh).mode == "ALLOW_ANY"
    registry, _ = mesh_config_from({"mesh": "outboundTrafficPolicy: {mode: REGISTRY_ONLY}"},
                                   "ConfigMap istio-system/istio")
    p = outbound_policy("shop", {}, [], registry)
    assert p.mode == "REGISTRY_ONLY" and "ConfigMap istio-system/istio" in p.source
    empty = outbound_policy("shop", {}, [_sidecar("shop", "default", {})], mesh)
    assert empty.mode == "REGISTRY_ONLY" and empty.gotcha
    root = [_sidecar("istio-system", "default", {"mode": "REGISTRY_ONLY"})]
    assert outbound_policy("shop", {}, root, mesh).source.startswith("root-namespace Sidecar")
    # a selecting Sidecar beats the namespace's, which beats the root one
    scs = root + [_sidecar("shop", "ns", {"mode": "REGISTRY_ONLY"}),
                  _sidecar("shop", "open", {"mode": "ALLOW_ANY"}, {"app": "a"})]
    assert outbound_policy("shop", {"app": "a"}, scs, mesh).mode == "ALLOW_ANY"
    assert outbound_policy("shop", {"app": "b"}, scs, mesh).source == "Sidecar shop/ns"
    # a namespace Sidecar without the field uses the mesh config, not the root Sidecar
    assert outbound_policy("shop", {}, root + [_sidecar("shop", "x", None)], mesh).mode == "ALLOW_ANY"


def test_coverage_respects_export_to_wildcards_cidrs_and_ports():
    def se(ns, hosts, ports, export=None, addresses=None):
        spec = {"hosts": hosts, "ports": [{"number": n, "name": f"p{n}", "protocol": "TCP"} for n in ports]}
        if export:
            spec["exportTo"] = export
        if addresses:
            spec["addresses"] = addresses
        return obj({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                    "metadata": {"name": f"se-{ns}-{hosts[0]}", "namespace": ns}, "spec": spec})

    env = [{"name": "A", "value": "https://api.stripe.com"}, {"name": "B", "value": "10.20.30.40:3306"}]
    api, vm = eps_of(deployment("shop", env))
    mesh = MeshConfig()
    assert not coverage(api, "shop", [se("other", ["api.stripe.com"], [443], ["."])], mesh).covered
    assert coverage(api, "shop", [se("other", ["*.stripe.com"], [443], ["shop"])], mesh).covered
    assert coverage(api, "shop", [se("shop", ["api.stripe.com"], [80])], mesh).port_missing
    assert coverage(vm, "shop", [se("x", ["vm.internal"], [3306], addresses=["10.20.30.0/24"])], mesh).how == "address"


def _valid_service_entry(doc):
    """Istio's rules for a ServiceEntry (istio-facts.md §C2): hosts are no IPs, FQDNs under DNS,
    addresses are CIDRs, port numbers and names unique DNS-1123 labels, names DNS-1123."""
    spec = doc["spec"]
    label = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
    assert label.fullmatch(doc["metadata"]["name"]) and len(doc["metadata"]["name"]) <= 63
    for h in spec["hosts"]:
        assert not re.fullmatch(r"[\d.]+|[0-9a-f:]+", h), h
        if spec.get("resolution") == "DNS":
            assert "*" not in h and "." in h and all(label.fullmatch(x) for x in h.split(".")), h
    for a in spec.get("addresses", []):
        assert "/" in a and ipaddress.ip_network(a)
    numbers = [p["number"] for p in spec["ports"]]
    names = [p["name"] for p in spec["ports"]]
    assert len(set(numbers)) == len(numbers) and len(set(names)) == len(names)
    assert all(label.fullmatch(n) for n in names) and numbers
    assert spec["exportTo"] == ["."] and spec.get("resolution") in ("DNS", "NONE", "STATIC")


def test_generated_service_entries_are_valid_and_clear_the_finding(host):
    checked = 0
    for case in cases(RULES):
        if case.code not in UNREGISTERED or case.outcome != "fail":
            continue
        objects = load_objects(case.path)
        result = run_rules(objects, UNREGISTERED, host)
        proposed = proposed_service_entries(result)
        if not proposed:  # the best fix is a change to an existing object (a Sidecar importing an entry)
            assert all(f.fixes[0].fix.created is None for f in result.findings), case.id
            continue
        for doc in proposed:
            _valid_service_entry(yaml.safe_load(yaml.safe_dump(doc)))  # parsed back as a user would apply it
        added = [obj(d) for d in proposed]
        again = run_rules(objects + added, UNREGISTERED + ["MC304", "MC305", "MC308", "MC311"], host)
        assert not again.findings, f"{case.id}: {[f.diagnostic.message for f in again.findings]}"
        checked += len(proposed)
    assert checked >= 5


def test_ip_endpoints_get_a_static_address_entry(host):
    objects = load_objects(RULES / "MC301" / "fail.root-sidecar-and-ip.yaml")
    (doc,) = proposed_service_entries(run_rules(objects, UNREGISTERED, host))
    assert doc["spec"]["addresses"] == ["10.20.30.40/32"] and doc["spec"]["resolution"] == "NONE"
    assert doc["spec"]["ports"] == [{"number": 3306, "name": "tcp-3306", "protocol": "TCP"}]
    assert doc["metadata"]["namespace"] == "analytics"


def test_no_secret_of_the_example_is_printed_in_any_format():
    secrets = ("Xk9-not-a-real-pw", "SG.not-a-real-key", "not-a-real-pw")
    for args in (["egress", "-o", "json"], ["egress", "-o", "yaml"], ["egress", "-o", "wide"], ["-o", "patch"],
                 ["-o", "json"]):
        proc = subprocess.run(["kubectl-meshcheck", *args, "-f", str(EXAMPLES)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode in (0, 1), proc.stderr
        assert not [s for s in secrets if s in proc.stdout + proc.stderr], args


def test_kubelet_variable_expansion_and_host_variables_are_followed():
    env = [{"name": "DB_HOST", "value": "wordpress-mysql"},
           {"name": "API_HOST", "value": "api.partner.example.com"}, {"name": "API_PORT", "value": "8443"},
           {"name": "COLLECTOR", "value": "otel-gw.example.org"},
           {"name": "OTLP", "value": "http://$(COLLECTOR):4318"}]
    got = {(e.host, e.port, e.in_cluster) for e in eps_of(deployment("shop", env))}
    assert got == {("wordpress-mysql", None, True), ("api.partner.example.com", 8443, False),
                   ("otel-gw.example.org", 4318, False)}


def test_rules_follow_configmap_references_in_file_input(host):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "shop"},
          "data": {"api": "https://api.partner.example.com/v2?api_key=k-123456"}}
    d = deployment("shop", [{"name": "PARTNER", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "api"}}}])
    (f,) = [f for f in run_rules([obj(cm), d], ["MC303"], host).findings if f.code == "MC303"]
    assert f.diagnostic.args["foundIn"] == "env PARTNER (ConfigMap shop/app key api)"
    assert f.diagnostic.args["text"] == "https://api.partner.example.com/v2?api_key=****"
    assert f.diagnostic.path == "/spec/template/spec/containers/0/env/0/valueFrom/configMapKeyRef"


def test_mounted_configmap_files_are_scanned_line_by_line():
    d = deployment("shop")
    spec = d.data["spec"]["template"]["spec"]
    spec["containers"][0]["volumeMounts"] = [{"name": "cfg", "mountPath": "/etc/app"},
                                             {"name": "one", "mountPath": "/etc/x/cache.yaml", "subPath": "cache.yaml"}]
    spec["volumes"] = [{"name": "cfg", "configMap": {"name": "app-config", "items": [
                           {"key": "props", "path": "application.properties"}, {"key": "kafka", "path": "k.yaml"}]}},
                       {"name": "one", "projected": {"sources": [{"configMap": {"name": "cache"}}]}}]
    props = ("server.port=8080\nspring.datasource.url=jdbc:postgresql://app:pw@orders.db.example.com:5432/orders\n"
             "spring.datasource.password=hunter2\npayments.api.host=api.payments.example\n")
    cms = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": "shop"},
            "data": {"props": props, "kafka": "kafka:\n  bootstrap: 'b1.kafka.example.com:9092'\ncart: http://cart:7070\n",
                     "unmounted": "url: https://not-projected.example.com\n"}},
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cache", "namespace": "shop"},
            "data": {"cache.yaml": "url: rediss://cache.example.com:6380\n", "other.yaml": "u: https://x.example.com\n"}}]
    got = {e.host: e for e in eps_of(d, services=[{"apiVersion": "v1", "kind": "Service",
                                                    "metadata": {"name": "cart", "namespace": "shop"}}],
                                     configmaps=cms)}
    assert set(got) == {"orders.db.example.com", "api.payments.example", "b1.kafka.example.com", "cart",
                        "cache.example.com"}
    db = got["orders.db.example.com"]
    assert (db.port, db.app) == (5432, "PostgreSQL")
    assert db.found_in == "file /etc/app/application.properties:2 (ConfigMap shop/app-config)"
    assert "pw" not in db.text and "hunter2" not in str([e.text for e in got.values()])
    assert got["cache.example.com"].found_in.startswith("file /etc/x/cache.yaml:1 ") and got["cache.example.com"].tls
    assert got["cart"].in_cluster and got["b1.kafka.example.com"].app == "Kafka"
    assert db.path == "/spec/template/spec/containers/0/volumeMounts/0"


def test_traffic_sent_to_an_egress_gateway_is_shown_as_routed_through_it(host):
    from kubectl_meshcheck.engine import Engine
    from kubectl_meshcheck.index import Index
    from kubectl_meshcheck.views import egress_rows

    objects = load_objects(Path(__file__).parent / "data" / "egress-gateway.yaml")
    rules = [r for r in host.registry.all() if r.code.startswith("MC3")]
    (row,) = egress_rows(Engine(Index(objects), host.pm).run(rules))
    assert row["egressGateway"] == "istio-egressgateway.istio-system.svc.cluster.local"
    assert row["routedBy"] == "shop/stripe-via-egress" and row["fate"].startswith("routed via egress gateway")
    # the same VirtualService bound only to the gateway does not move the sidecar's traffic
    vs = next(o for o in objects if o.kind == "VirtualService")
    vs.data["spec"]["gateways"] = ["istio-system/istio-egressgateway"]
    (row,) = egress_rows(Engine(Index(objects), host.pm).run(rules))
    assert row["egressGateway"] is None and row["fate"] == "routed (ServiceEntry shop/stripe)"


def test_each_kind_takes_its_own_mesh_default_export_to():
    """A VirtualService or DestinationRule without ``exportTo`` is exported as the mesh config's default for
    its kind says (istio.io MeshConfig: defaultVirtualServiceExportTo, defaultDestinationRuleExportTo), not
    as ServiceEntries' ``defaultServiceExportTo``."""
    from kubectl_meshcheck.mesh.visibility import visible_to
    from kubectl_meshcheck.model import K8sObject, ObjectRef

    mesh, _ = mesh_config_from({"mesh": "defaultServiceExportTo: ['*']\ndefaultVirtualServiceExportTo: ['.']\n"
                                        "defaultDestinationRuleExportTo: ['~']\n"}, "test")

    def obj(kind):
        return K8sObject({"spec": {"hosts": ["api.example.com"]}},
                         ObjectRef("networking.istio.io/v1", kind, "team-a", "x"))

    assert visible_to(obj("ServiceEntry"), "team-b", mesh)
    assert not visible_to(obj("VirtualService"), "team-b", mesh) and visible_to(obj("VirtualService"), "team-a", mesh)
    assert not visible_to(obj("DestinationRule"), "team-a", mesh)
