"""``kubectl meshcheck`` against a live cluster: the API server emulation in tests/kubeapi over real HTTP,
read by the installed tool (the real ``kubernetes`` client) and cross-checked with the real ``kubectl``."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from .ptyterm import run_in_pty
from .conftest import require_kubectl
from .kubeapi import KubeAPIServer, write_kubeconfig

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "kubectl-meshcheck")
EXAMPLES = ROOT / "kubectl_meshcheck" / "examples"
EXAMPLE_OBJECTS = [d for f in sorted(EXAMPLES.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
EXTRA = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other", "labels": {"istio-injection": "enabled"}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "other", "labels": {"team": "a"}},
     "spec": {"selector": {"app": "web"}, "ports": [{"name": "web", "port": 80}]}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "other"},
     "data": {"password": "aHVudGVyMg=="}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "other"}, "data": {}},
]


def run(*args, kubeconfig=None, env=None, timeout=120):
    e = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    e.update({"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", "HOME": str(Path(kubeconfig).parent) if kubeconfig else
              e.get("HOME", "/tmp")})
    if kubeconfig:
        e["KUBECONFIG"] = str(kubeconfig)
    e.update(env or {})
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=e, timeout=timeout)


def js(proc):
    assert proc.stdout.startswith("{"), proc.stderr
    return json.loads(proc.stdout)


def findings(proc, *codes):
    return [f for f in js(proc)["findings"] if not codes or f["code"] in codes]


def identity(f):
    o = f["object"]
    return (f["code"], o["kind"], o["namespace"], o["name"], f["path"], f["message"])


@pytest.fixture
def cluster(tmp_path):
    with KubeAPIServer(objects=EXAMPLE_OBJECTS + EXTRA) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        yield srv, kc


def paths(srv):
    return [r["path"] for r in srv.requests]


# -- the same answers as on manifests ------------------------------------------------------------

@pytest.mark.parametrize("topic", [None, "ports", "startup", "egress", "probes", "capture"])
def test_live_cluster_gives_the_same_findings_and_views_as_the_manifests(tmp_path, topic):
    srv = KubeAPIServer(objects=EXAMPLE_OBJECTS)
    srv.start()
    kc = write_kubeconfig(str(tmp_path / "config"), srv.url)
    args = [topic] if topic else []
    from_files = run(*args, "-f", str(EXAMPLES), "-o", "json")
    live = run(*args, "-A", "-o", "json", kubeconfig=kc)
    in_shop = run(*args, "-n", "shop", "-o", "json", kubeconfig=kc)
    srv.stop()
    assert {f["object"]["namespace"] for f in findings(in_shop)} <= {"shop", None}
    assert live.returncode == from_files.returncode, live.stderr
    assert sorted(map(identity, findings(live))) == sorted(map(identity, findings(from_files)))
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("origin", "location")} for r in rows or []]  # noqa
    assert strip(js(live).get("rows")) == strip(js(from_files).get("rows"))
    for f in findings(live):
        assert f["object"]["origin"] == "cluster:emu"
        for fix in f["fixes"]:
            assert fix["verified"] is not False, fix  # fixes are proven on live objects exactly as on files
    assert srv.writes == 0


def test_reads_only_what_the_rules_need_and_never_writes_or_reads_secrets(cluster):
    srv, kc = cluster
    p = run("-A", "-o", "json", kubeconfig=kc)
    assert p.returncode == 1, p.stderr
    seen = paths(srv)
    assert srv.writes == 0 and {r["method"] for r in srv.requests} == {"GET"}
    assert not [x for x in seen if "secrets" in x]
    # the install's own, one by one, and the one a workload mounts (egress inventory); no other ConfigMap
    assert sorted(x for x in seen if "configmaps" in x) == [
        "/api/v1/namespaces/billing/configmaps/invoicer-config",
        "/api/v1/namespaces/istio-system/configmaps/istio",
        "/api/v1/namespaces/istio-system/configmaps/istio-sidecar-injector"]
    lists = [r for r in srv.requests if r["path"].endswith(("/services", "/pods", "/deployments"))]
    assert lists and all(r["query"].get("limit") == "500" for r in lists)
    # a narrower selection lists fewer kinds: MC101 needs Services and workloads, never ServiceEntries
    srv.requests.clear()
    run("-A", "-o", "json", "--select", "MC101", kubeconfig=kc)
    assert not [x for x in paths(srv) if "istio.io" in x and x.count("/") > 3]


def test_what_meshcheck_read_is_what_kubectl_get_shows(cluster, tmp_path):
    require_kubectl()
    srv, kc = cluster
    summary = js(run("-A", "-o", "json", kubeconfig=kc))["summary"]["cluster"]
    by_kind = summary["objectsByKind"]
    for kind in summary["kindsRead"]:
        if kind == "ConfigMap":
            continue  # only the mesh config is read
        resource = {"Namespace": "namespaces"}.get(kind, kind.lower())
        out = subprocess.run(["kubectl", "--kubeconfig", kc, "--cache-dir", str(tmp_path / "cache"), "get", resource,
                              "-A", "-o", "json"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        items = json.loads(out.stdout)["items"]
        assert by_kind.get(kind, 0) + summary["ownedSkipped"].get(kind, 0) == len(items), kind
    assert srv.writes == 0


def test_namespace_scope_follows_kubectl(cluster):
    srv, kc = cluster
    in_context = {f["object"]["namespace"] for f in findings(run("-o", "json", kubeconfig=kc))}
    assert in_context == {"shop"}
    srv.requests.clear()
    other = findings(run("-n", "other", "-o", "json", kubeconfig=kc))
    assert {(f["code"], f["object"]["name"]) for f in other} == {("MC101", "web")}
    assert all("/namespaces/shop" not in x for x in paths(srv))
    everywhere = {f["object"]["namespace"] for f in findings(run("-A", "-o", "json", kubeconfig=kc))}
    assert everywhere >= {"shop", "other"}
    srv.requests.clear()
    labelled = findings(run("-A", "-l", "team=a", "-o", "json", kubeconfig=kc))
    assert {f["object"]["name"] for f in labelled if f["object"]["kind"] != "Namespace"} == {"web"}
    assert any(r["query"].get("labelSelector") == "team=a" for r in srv.requests if r["path"].endswith("/services"))


def test_the_install_seen_in_the_cluster_decides_the_injection_prediction(tmp_path):
    istiod = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "istiod", "namespace": "istio-system"},
              "spec": {"selector": {"matchLabels": {"app": "istiod"}}, "template": {
                  "metadata": {"labels": {"app": "istiod"}},
                  "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.28.1"}]}}}}
    nodes = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}"},
              "status": {"nodeInfo": {"kubeletVersion": "v1.33.2"}}} for i in range(2)]
    with KubeAPIServer(objects=EXAMPLE_OBJECTS + [istiod, *nodes]) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        rows = {r["workload"]: r for r in js(run("startup", "-o", "json", kubeconfig=kc))["rows"]}
        offline = {r["workload"]: r for r in js(run("startup", "-f", str(EXAMPLES), "-o", "json"))["rows"]}
        assert offline["Deployment/frontend"]["placement"] == "last"  # offline: kubelets unknown, classic assumed
        assert rows["Deployment/frontend"]["placement"] == "native", rows["Deployment/frontend"]["nativeReason"]
        assert "/apis/apps/v1/namespaces/istio-system/deployments/istiod" in paths(srv)
    srv_nodes = KubeAPIServer(objects=EXAMPLE_OBJECTS)
    with srv_nodes:
        srv_nodes.fault(resource="nodes", status=403)
        kc = write_kubeconfig(str(tmp_path / "config"), srv_nodes.start(), namespace="shop")
        p = run("startup", "-o", "json", kubeconfig=kc)
        (mc003,) = findings(p, "MC003")
        assert "Node (cluster-wide: 403 forbidden)" in mc003["message"]
        rows = {r["workload"]: r for r in js(p)["rows"]}
        assert rows["Deployment/frontend"]["placement"] == "last"  # classic sidecars assumed, as offline
        # no rule is skipped: the verdicts that depend on native sidecars (Jobs, the hold) say what they assumed
        carriers = {f["code"] for f in findings(p) if any(a.startswith("Node could not be read") for a in
                                                         f["assumptions"])}
        assert {"MC201", "MC202"} <= carriers and "MC203" not in carriers  # annotation placement needs no Node


def test_large_lists_are_read_page_by_page(tmp_path):
    services = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i:04d}", "namespace": "big"},
                 "spec": {"selector": {"app": f"a{i}"}, "ports": [{"name": "web", "port": 80}]}} for i in range(1203)]
    with KubeAPIServer(objects=services) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start())
        p = run("-A", "-o", "json", "--select", "MC101", "--fail-on", "info", kubeconfig=kc)
        assert p.returncode == 1, p.stderr
        assert len(findings(p, "MC101")) == 1203
        pages = [r for r in srv.requests if r["path"] == "/api/v1/services"]
        assert len(pages) == 3 and "continue" in pages[1]["query"] and "continue" in pages[2]["query"]


# -- partial access degrades, it never fails the run -----------------------------------------------

def test_a_forbidden_looked_up_kind_is_named_on_the_findings_that_rest_on_it(cluster):
    srv, kc = cluster
    full = findings(run("-A", "-o", "json", kubeconfig=kc))
    srv.fault(resource="ingresses", status=403)
    p = run("-A", "-o", "json", kubeconfig=kc)
    assert p.returncode == 1, p.stderr
    (mc003,) = findings(p, "MC003")
    assert "Ingress" in mc003["message"] and "forbidden" in mc003["message"]
    assert {identity(f) for f in full} == {identity(f) for f in findings(p) if f["code"] != "MC003"}  # none lost
    readers = [f for f in findings(p) if any(a.startswith("Ingress could not be read") for a in f["assumptions"])]
    assert readers and all(f["code"].startswith("MC1") for f in readers)
    assert all(not f["assumptions"] for f in findings(p, "MC103"))  # it does not read Ingresses
    assert "could not read Ingress (cluster-wide)" in p.stderr and "Traceback" not in p.stderr


def test_a_forbidden_namespace_leaves_only_its_objects_unjudged(cluster):
    srv, kc = cluster
    full = findings(run("-n", "shop", "-o", "json", kubeconfig=kc))
    srv.fault(resource="deployments", namespace="shop", status=403)
    p = run("-n", "shop", "-o", "json", kubeconfig=kc)
    (mc003,) = findings(p, "MC003")
    assert "Deployment (shop: 403 forbidden)" in mc003["message"]
    got = findings(p)
    assert not [f for f in got if f["object"]["kind"] == "Deployment"]  # not read, so not judged
    assert {f["code"] for f in full if f["object"]["kind"] not in ("Deployment", "Service")} <= {
        f["code"] for f in got}  # everything else is still judged (tests/test_access.py compares each finding)
    on_services = [f for f in got if f["object"]["kind"] == "Service" and f["code"].startswith("MC1")]
    assert on_services and all(any("Deployment in namespace shop" in a for a in f["assumptions"])
                               for f in on_services if f["code"] != "MC106")
    assert findings(run("-n", "other", "-o", "json", kubeconfig=kc), "MC101")


def test_istio_crds_absent_is_said_and_not_an_error(tmp_path):
    from kubectl_meshcheck.sources.cluster import ClusterSettings, read_cluster

    objects = EXAMPLE_OBJECTS + [{"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                                  "metadata": {"name": "db", "namespace": "shop"}, "spec": {"hosts": ["db.example"]}}]
    with KubeAPIServer(objects=objects) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        read = read_cluster(ClusterSettings(kubeconfig=kc), {"Service", "ServiceEntry", "PeerAuthentication"})
        want = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "ServiceEntry")
        assert sorted(o.name for o in read.objects if o.kind == "ServiceEntry") == want and not read.not_served
        assert "db" in want
    with KubeAPIServer(objects=objects, served_versions={"networking.istio.io": ["v1alpha3"]}) as srv:  # old Istio
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        read = read_cluster(ClusterSettings(kubeconfig=kc), {"ServiceEntry"})
        assert {o.ref.api_version for o in read.objects if o.kind == "ServiceEntry"} == {"networking.istio.io/v1alpha3"}
    with KubeAPIServer(objects=EXAMPLE_OBJECTS, absent_groups=("networking.istio.io", "security.istio.io")) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        read = read_cluster(ClusterSettings(kubeconfig=kc), {"Service", "ServiceEntry", "PeerAuthentication"})
        assert read.istio_not_served() == ["PeerAuthentication", "ServiceEntry"] and not read.unreadable
        assert not [r for r in srv.requests if "istio.io/" in r["path"]]  # absent from discovery: never asked
        p = run("-o", "json", kubeconfig=kc)
        assert p.returncode == 1 and not findings(p, "MC003"), p.stderr


def test_a_slow_list_times_out_and_the_rest_is_analysed(cluster):
    srv, kc = cluster
    srv.fault(resource="ingresses", verb="list", status=None, delay=4)
    t0 = time.monotonic()
    p = run("-A", "-o", "json", "--request-timeout", "1s", kubeconfig=kc)
    assert time.monotonic() - t0 < 4
    (mc003,) = findings(p, "MC003")
    assert "timed out" in mc003["message"] and "--request-timeout 1s" in mc003["message"]
    assert findings(p, "MC103")


def test_429_is_retried_after_the_servers_delay_and_500_after_bounded_retries(cluster):
    srv, kc = cluster
    srv.fault(resource="services", status=429, retry_after=1, times=1)
    p = run("-A", "-o", "json", kubeconfig=kc)
    assert not findings(p, "MC003") and findings(p, "MC101"), p.stderr
    srv.requests.clear()
    srv.clear_faults()
    srv.fault(resource="services", status=500)
    p = run("-A", "-o", "json", kubeconfig=kc)
    (mc003,) = findings(p, "MC003")
    assert "Service" in mc003["message"] and "500" in mc003["message"]
    assert len([x for x in paths(srv) if x == "/api/v1/services"]) == 3  # one try and two retries


def test_unreachable_or_unauthorised_cluster_is_one_line_and_exit_4(tmp_path):
    kc = write_kubeconfig(str(tmp_path / "config"), "http://127.0.0.1:9")
    p = run(kubeconfig=kc, timeout=30)
    assert p.returncode == 4 and p.stderr.count("\n") == 1 and "cannot reach the cluster of context 'emu'" in p.stderr
    with KubeAPIServer(objects=EXAMPLE_OBJECTS, token="right") as srv:
        url = srv.start()
        wrong = write_kubeconfig(str(tmp_path / "wrong"), url, token="wrong")
        p = run(kubeconfig=wrong)
        assert p.returncode == 4 and "401 Unauthorized" in p.stderr and "Traceback" not in p.stderr
        right = write_kubeconfig(str(tmp_path / "right"), url, token="right", namespace="shop")
        assert run("-o", "json", kubeconfig=right).returncode == 1
    p = run(env={"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)})
    assert p.returncode == 4 and "no kubeconfig found" in p.stderr
    p = run("--kubeconfig", str(tmp_path / "missing"))
    assert p.returncode == 4 and p.stderr.strip() == f"error: --kubeconfig {tmp_path / 'missing'}: no such file"
    p = run("--context", "nope", kubeconfig=kc)
    assert p.returncode == 4 and "context 'nope' not found (have: emu)" in p.stderr


# -- kubeconfig resolution like kubectl -----------------------------------------------------------

def test_kubeconfig_list_context_and_exec_plugin(cluster, tmp_path):
    srv, kc = cluster
    doc = yaml.safe_load(Path(kc).read_text())
    # KUBECONFIG of two files: clusters and users in one, contexts in the other (kubectl merges them)
    first = tmp_path / "a.yaml"
    first.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": doc["clusters"],
                                     "users": doc["users"], "contexts": []}))
    second = tmp_path / "b.yaml"
    second.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "in-other",
                                      "contexts": [{"name": "in-other", "context": {
                                          "cluster": doc["contexts"][0]["context"]["cluster"],
                                          "user": doc["contexts"][0]["context"]["user"], "namespace": "other"}},
                                          doc["contexts"][0]]}))
    before = (first.read_bytes(), second.read_bytes())
    p = run("-o", "json", env={"KUBECONFIG": f"{first}{os.pathsep}{second}", "HOME": str(tmp_path)})
    assert {f["object"]["namespace"] for f in findings(p)} == {"other"}, p.stderr
    p = run("--context", "emu", "-o", "json", env={"KUBECONFIG": f"{first}{os.pathsep}{second}"})
    assert {f["object"]["namespace"] for f in findings(p)} == {"shop"}, p.stderr
    assert (first.read_bytes(), second.read_bytes()) == before  # the user's kubeconfig is never rewritten

    with KubeAPIServer(objects=EXAMPLE_OBJECTS, token="from-exec") as guarded:
        plugin = tmp_path / "cred.py"
        plugin.write_text("import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                          "'kind': 'ExecCredential', 'status': {'token': 'from-exec'}}))\n")
        exec_kc = write_kubeconfig(str(tmp_path / "exec"), guarded.start(), namespace="shop",
                                   exec_command=[sys.executable, str(plugin)])
        p = run("-o", "json", kubeconfig=exec_kc)
        assert p.returncode == 1 and findings(p, "MC103"), p.stderr


# -- the plugin as kubectl runs it, and progress on a terminal -------------------------------------

def test_kubectl_meshcheck_reads_the_cluster_through_plugin_discovery(cluster):
    require_kubectl()
    srv, kc = cluster
    env = {**os.environ, "PATH": f"{Path(EXE).parent}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": kc,
           "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    p = subprocess.run(["kubectl", "meshcheck", "ports", "-o", "json"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 1, p.stderr
    assert {r["service"] for r in json.loads(p.stdout)["rows"]} >= {"frontend", "argocd-server"}
    assert srv.writes == 0


def test_progress_goes_to_a_terminal_stderr_and_never_to_stdout(cluster):
    srv, kc = cluster
    env = {**os.environ, "KUBECONFIG": kc, "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    err, _, out = run_in_pty([EXE, "-A", "-o", "json"], 100, env, stream="stderr")
    assert "reading the cluster:" in err and "\r" in err
    doc = json.loads(out)
    assert Counter(f["code"] for f in doc["findings"])["MC103"] >= 1
    quiet = run("-A", "-o", "json", kubeconfig=kc)
    assert "reading the cluster" not in quiet.stderr


def test_istio_config_outside_the_namespace_is_read_and_forbidden_cluster_reads_fall_back(tmp_path):
    from kubectl_meshcheck.sources.cluster import ClusterSettings, read_cluster

    def se(name, ns):
        return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                "metadata": {"name": name, "namespace": ns}, "spec": {"hosts": [f"{name}.example.com"]}}

    with KubeAPIServer(objects=[se("a", "shop"), se("root", "istio-system"), se("b", "other")]) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        read = read_cluster(ClusterSettings(kubeconfig=kc), {"ServiceEntry"})
        assert sorted(o.name for o in read.objects if o.kind == "ServiceEntry") == ["a", "b", "root"]
        srv.fault(resource="serviceentries", status=403, times=1)  # a namespace user: no cluster-wide list
        read = read_cluster(ClusterSettings(kubeconfig=kc), {"ServiceEntry"})
        assert sorted(o.name for o in read.objects if o.kind == "ServiceEntry") == ["a", "root"]
        (gap,) = read.unreadable  # entries elsewhere may be exported here: unknown, said once (not per namespace)
        assert gap.elsewhere and gap.read_in == ("shop", "istio-system") and gap.reason.startswith("403")
        srv.fault(resource="sidecars", status=403, times=1)
        read = read_cluster(ClusterSettings(kubeconfig=kc), {"Sidecar"})
        assert not read.unreadable  # a Sidecar applies only in its own namespace (or from the root one)


def test_objects_outside_the_namespace_inform_but_are_not_judged(tmp_path):
    install = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod", "namespace": "istio-system"},
         "spec": {"selector": {"matchLabels": {"app": "istiod"}}, "template": {
             "metadata": {"labels": {"app": "istiod"}},
             "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.28.1"}]}}}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
         "status": {"nodeInfo": {"kubeletVersion": "v1.33.2"}}},
    ]
    (tmp_path / "install.yaml").write_text(yaml.safe_dump_all(install))
    for f in EXAMPLES.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    rows = js(run("startup", "-f", str(tmp_path), "-n", "shop", "-o", "json"))["rows"]
    assert {r["namespace"] for r in rows} == {"shop"}  # istiod itself is not judged with -n shop...
    by_name = {r["workload"]: r for r in rows}
    assert by_name["Deployment/frontend"]["placement"] == "native"  # ...but its version and the Node inform it


CM_WORKLOAD = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "billing", "namespace": "fin"},
     "spec": {"selector": {"matchLabels": {"app": "billing"}}, "template": {
         "metadata": {"labels": {"app": "billing"}},
         "spec": {"containers": [{"name": "billing", "image": "example/billing:1",
                                  "env": [{"name": "LEDGER_URL", "valueFrom": {"configMapKeyRef": {
                                      "name": "ledger", "key": "url"}}}],
                                  "volumeMounts": [{"name": "cfg", "mountPath": "/etc/billing"}]}],
                  "volumes": [{"name": "cfg", "configMap": {"name": "billing-files"}}]}}}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ledger", "namespace": "fin"},
     "data": {"url": "https://ledger.example.net/api"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "billing-files", "namespace": "fin"},
     "data": {"app.properties": "db.url=jdbc:postgresql://pg.example.net:5432/bills\ndb.password=hunter2\n"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated", "namespace": "fin"},
     "data": {"x": "https://never-read.example.org"}},
]


def test_configmaps_the_workloads_read_are_fetched_for_the_egress_inventory(tmp_path):
    f = tmp_path / "fin.yaml"
    f.write_text(yaml.safe_dump_all(CM_WORKLOAD))
    with KubeAPIServer(objects=CM_WORKLOAD) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="fin")
        live = js(run("egress", "-o", "json", kubeconfig=kc))
        gets = [r["path"] for r in srv.requests if "configmaps" in r["path"]]
        assert not [p for p in gets if p.endswith("/configmaps") or "unrelated" in p], gets  # only what is referenced
        files = js(run("egress", "-f", str(f), "-o", "json"))
        hosts = lambda doc: sorted((r["host"], r["foundIn"]) for r in doc["rows"])  # noqa: E731
        assert hosts(live) == hosts(files) and {h for h, _ in hosts(live)} == {"ledger.example.net", "pg.example.net"}
        assert "hunter2" not in json.dumps(live)
        srv.fault(resource="configmaps", namespace="fin", verb="get", status=403)
        degraded = run("egress", "-o", "json", kubeconfig=kc)
        (mc003, *_) = findings(degraded, "MC003")
        assert "ConfigMap billing-files (fin: 403 forbidden)" in mc003["message"]  # its endpoints are missed: named
        gaps = [u for u in js(degraded)["unreadable"] if u["kind"] == "ConfigMap"]
        assert gaps and all(g["what"].startswith("ConfigMap fin/") and "not inventoried" in g["what"]
                            and g["scope"] == "namespace fin" for g in gaps), gaps
        assert srv.writes == 0
