"""The API server emulation in tests/kubeapi, checked through the real ``kubectl`` and the real ``kubernetes``
client over real HTTP: what other tests and the benchmarks rely on when they point a client at it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3
import yaml
from kubernetes import client, config

from .conftest import require_kubectl
from .kubeapi import KubeAPIServer, write_kubeconfig

ROOT = Path(__file__).resolve().parents[1]


def ns(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(name, namespace="shop", **labels):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": f"example/{name}:1"}]}}


OBJECTS = [
    ns("shop", **{"istio-injection": "enabled"}), ns("other"),
    pod("web-1", app="web", tier="front"), pod("web-2", app="web"), pod("db-1", app="db", tier="back"),
    pod("job-1", "other", app="batch"), pod("lone", "other"),
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
     "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "a"}}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
     "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
         "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "example/web:1"}]}}}},
    {"apiVersion": "networking.istio.io/v1beta1", "kind": "ServiceEntry",
     "metadata": {"name": "ext", "namespace": "shop"}, "spec": {"hosts": ["api.example.com"], "resolution": "DNS"}},
]


@pytest.fixture
def srv():
    with KubeAPIServer(objects=OBJECTS) as server:
        yield server


@pytest.fixture
def kc(srv, tmp_path):
    return write_kubeconfig(tmp_path / "config", srv.url, namespace="shop")


@pytest.fixture
def kubectl(tmp_path):
    """``kubectl(kubeconfig, *args)``: the real binary, with its own HOME and discovery cache for this test."""
    require_kubectl()
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"HOME": str(tmp_path)}

    def run(kubeconfig, *args, timeout=60):
        return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"),
                               *args], capture_output=True, text=True, env=env, timeout=timeout)
    return run


def api_client(kubeconfig, retries=True):
    """The official client as an application builds it from a kubeconfig."""
    if retries:
        return config.new_client_from_config(config_file=str(kubeconfig))
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    cfg.retries = False  # the client's default retries would turn one timeout into four
    return client.ApiClient(cfg)


def names(doc):
    return [(i["metadata"].get("namespace", ""), i["metadata"]["name"]) for i in doc["items"]]


def raw_get(api, path, query=None, accept="application/json"):
    """One GET through the client's own transport, answered as (status, headers, raw body)."""
    method, url, headers, _, _ = api.param_serialize("GET", path, query_params=list((query or {}).items()),
                                                     header_params={"Accept": accept}, auth_settings=["BearerToken"])
    resp = api.call_api(method, url, header_params=headers)
    return resp.status, resp.getheaders(), resp.read()


# -- kubectl ---------------------------------------------------------------------------------------

def test_kubectl_lists_core_objects_across_namespaces(srv, kc, kubectl):
    p = kubectl(kc, "get", "pods,svc", "-A", "-o", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    kinds = [(i["kind"], i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]]
    assert kinds == [("Pod", "other", "job-1"), ("Pod", "other", "lone"), ("Pod", "shop", "db-1"),
                     ("Pod", "shop", "web-1"), ("Pod", "shop", "web-2"), ("Service", "shop", "web")]
    web = doc["items"][3]
    assert web["apiVersion"] == "v1" and web["spec"]["containers"][0]["image"] == "example/web-1:1"
    assert web["metadata"]["uid"] and web["metadata"]["resourceVersion"] and web["metadata"]["creationTimestamp"]
    p = kubectl(kc, "get", "pods")  # the context's namespace, and the human table
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout.split()[:2] == ["NAME", "AGE"] and "web-2" in p.stdout and "lone" not in p.stdout
    assert srv.writes == 0


def test_kubectl_shows_namespace_labels_and_cluster_scoped_objects(kc, kubectl):
    p = kubectl(kc, "get", "ns", "--show-labels")
    assert p.returncode == 0, p.stderr
    rows = [line.split() for line in p.stdout.splitlines()]
    assert rows[0] == ["NAME", "AGE", "LABELS"]
    assert [(r[0], r[-1]) for r in rows[1:]] == [("other", "<none>"), ("shop", "istio-injection=enabled")]
    node = json.loads(kubectl(kc, "get", "node", "n1", "-o", "json").stdout)
    assert node["kind"] == "Node" and "namespace" not in node["metadata"]
    assert kubectl(kc, "get", "ns", "shop", "-o", "name").stdout == "namespace/shop\n"


def test_kubectl_lists_custom_resources_in_every_served_version(kc, kubectl):
    p = kubectl(kc, "get", "serviceentries.networking.istio.io", "-A", "-o", "json")
    assert p.returncode == 0, p.stderr
    (se,) = json.loads(p.stdout)["items"]
    assert se["apiVersion"] == "networking.istio.io/v1"  # stored as v1beta1, served at the preferred version
    assert se["spec"]["hosts"] == ["api.example.com"]
    p = kubectl(kc, "get", "serviceentries.v1alpha3.networking.istio.io", "-n", "shop", "-o", "json")
    assert json.loads(p.stdout)["items"][0]["apiVersion"] == "networking.istio.io/v1alpha3", p.stderr
    p = kubectl(kc, "api-resources", "--api-group", "networking.istio.io", "-o", "name")
    assert "serviceentries.networking.istio.io" in p.stdout.split() and "envoyfilters.networking.istio.io" in p.stdout


def test_kubectl_label_and_field_selectors_filter_on_the_server(srv, kc, kubectl):
    def get(*args):
        p = kubectl(kc, "get", "pods", "-o", "name", *args)
        assert p.returncode == 0, p.stderr
        return p.stdout.split()
    assert get("-l", "app=web") == ["pod/web-1", "pod/web-2"]
    assert get("-A", "-l", "app in (db,batch),tier") == ["pod/db-1"]
    assert get("-A", "-l", "!app") == ["pod/lone"]
    assert get("-A", "-l", "app!=web,app notin (db)") == ["pod/job-1", "pod/lone"]
    assert get("-A", "--field-selector", "metadata.namespace=other") == ["pod/job-1", "pod/lone"]
    assert get("-A", "--field-selector", "metadata.name!=web-1,metadata.namespace==shop") == ["pod/db-1", "pod/web-2"]
    assert any(r["query"].get("labelSelector") == "app=web" for r in srv.requests)
    p = kubectl(kc, "get", "pods", "-l", "app in web")
    assert p.returncode == 1 and "Error from server (BadRequest)" in p.stderr, p.stderr
    assert "unable to parse requirement: 'app in web'" in p.stderr


def test_kubectl_chunked_list_gets_every_item(srv, kc, kubectl):
    p = kubectl(kc, "get", "pods", "-A", "--chunk-size=2", "-o", "json")
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["items"]) == 5
    pages = [r["query"] for r in srv.requests if r["path"] == "/api/v1/pods"]
    assert [q["limit"] for q in pages] == ["2", "2", "2"]
    assert "continue" not in pages[0] and pages[1]["continue"] != pages[2]["continue"]


def test_kubectl_get_of_a_missing_object_is_not_found(kc, kubectl):
    p = kubectl(kc, "get", "pod", "nope", "-n", "shop")
    assert p.returncode == 1
    assert p.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
    p = kubectl(kc, "get", "deploy", "nope", "-n", "shop")
    assert p.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'


def test_kubectl_shows_a_forbidden_fault_as_the_real_server_words_it(srv, kc, kubectl):
    srv.fault(resource="pods", status=403)
    p = kubectl(kc, "get", "pods", "-A")
    assert p.returncode == 1
    assert p.stderr.strip() == ('Error from server (Forbidden): pods is forbidden: User "meshcheck" cannot list '
                                'resource "pods" in API group "" at the cluster scope')
    p = kubectl(kc, "get", "pods", "-n", "shop")
    assert 'cannot list resource "pods" in API group "" in the namespace "shop"' in p.stderr
    assert kubectl(kc, "get", "svc", "-n", "shop", "-o", "name").stdout == "service/web\n"  # only pods are denied
    srv.clear_faults()
    srv.fault(resource="deployments", namespace="shop", group="apps", verb="*", status=403)
    assert 'deployments.apps is forbidden: User "meshcheck" cannot list resource "deployments" in API group "apps" ' \
           'in the namespace "shop"' in kubectl(kc, "get", "deploy").stderr
    assert kubectl(kc, "get", "deploy", "-n", "other").returncode == 0


def test_an_absent_api_group_is_an_unknown_resource_type(tmp_path, kubectl):
    with KubeAPIServer(objects=OBJECTS, absent_groups=("networking.istio.io",)) as srv:
        kc = write_kubeconfig(tmp_path / "config", srv.url)
        p = kubectl(kc, "get", "serviceentries", "-A")
        assert p.returncode == 1
        assert p.stderr.strip() == 'error: the server doesn\'t have a resource type "serviceentries"'
        api = api_client(kc)
        groups = [g.name for g in client.ApisApi(api).get_api_versions().groups]
        assert "networking.istio.io" not in groups and "security.istio.io" in groups
        for path in ("/apis/networking.istio.io", "/apis/networking.istio.io/v1/serviceentries"):
            status, _, body = raw_get(api, path)
            assert status == 404 and json.loads(body)["reason"] == "NotFound"


def test_a_wrong_token_is_unauthorized_and_the_right_one_or_an_exec_plugin_reads(tmp_path, kubectl):
    with KubeAPIServer(objects=OBJECTS, token="s3cret") as srv:
        wrong = write_kubeconfig(tmp_path / "wrong", srv.url, token="nope")
        with pytest.raises(client.ApiException) as e:
            client.VersionApi(api_client(wrong)).get_code()
        assert e.value.status == 401 and json.loads(e.value.body)["reason"] == "Unauthorized"
        right = write_kubeconfig(tmp_path / "right", srv.url, token="s3cret", namespace="shop")
        assert [p.metadata.name for p in client.CoreV1Api(api_client(right)).list_namespaced_pod("shop").items] == \
            ["db-1", "web-1", "web-2"]
        plugin = tmp_path / "cred.py"
        plugin.write_text("import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                          "'kind': 'ExecCredential', 'status': {'token': 's3cret'}}))\n")
        by_exec = write_kubeconfig(tmp_path / "exec", srv.url, exec_command=[sys.executable, str(plugin)])
        assert [n.metadata.name for n in client.CoreV1Api(api_client(by_exec)).list_namespace().items] == \
            ["other", "shop"]
        assert [r["status"] for r in srv.requests if r["path"].startswith("/api/v1/")] == [200, 200]
        # kubectl (client-go) sends credentials over TLS only: to a plain-HTTP server, even the right token is
        # withheld, so kubectl always sees what a real server answers to no credentials
        for kubeconfig in (wrong, right):
            p = kubectl(kubeconfig, "get", "pods")
            assert p.returncode == 1 and "error: You must be logged in to the server" in p.stderr, p.stderr


def test_writes_are_refused_and_counted(srv, kc, kubectl):
    p = kubectl(kc, "delete", "pod", "web-1", "-n", "shop")
    assert p.returncode == 1
    assert "Error from server (MethodNotAllowed)" in p.stderr
    assert srv.writes == 1
    assert kubectl(kc, "get", "pod", "web-1", "-o", "name").stdout == "pod/web-1\n"  # nothing was deleted
    assert [r["method"] for r in srv.requests if r["method"] != "GET"] == ["DELETE"]


# -- the official client -------------------------------------------------------------------------

def test_the_typed_client_reads_namespaces_pods_and_custom_objects(kc):
    api = api_client(kc)
    core = client.CoreV1Api(api)
    assert [n.metadata.name for n in core.list_namespace().items] == ["other", "shop"]
    assert core.read_namespace("shop").metadata.labels == {"istio-injection": "enabled"}
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(label_selector="app=web").items] == \
        ["web-1", "web-2"]
    assert core.read_namespaced_pod("db-1", "shop").spec.containers[0].image == "example/db-1:1"
    assert core.read_node("n1").metadata.labels == {"zone": "a"}
    assert client.AppsV1Api(api).list_namespaced_deployment("shop").items[0].metadata.name == "web"
    custom = client.CustomObjectsApi(api)
    items = custom.list_namespaced_custom_object("networking.istio.io", "v1beta1", "shop", "serviceentries")["items"]
    assert [(i["apiVersion"], i["metadata"]["name"]) for i in items] == [("networking.istio.io/v1beta1", "ext")]
    assert len(custom.list_cluster_custom_object("networking.istio.io", "v1", "serviceentries")["items"]) == 1
    # discovery with the client's trailing-slash paths, validated by its models
    assert client.VersionApi(api).get_code().git_version == "v1.32.4"
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    assert core.get_api_resources().group_version == "v1"
    istio = next(g for g in client.ApisApi(api).get_api_versions().groups if g.name == "networking.istio.io")
    assert istio.preferred_version.version == "v1" and [v.version for v in istio.versions] == \
        ["v1", "v1beta1", "v1alpha3"]
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_pod("nope", "shop")
    assert e.value.status == 404
    assert json.loads(e.value.body)["details"] == {"name": "nope", "kind": "pods"}


def test_pages_follow_limit_and_continue(srv, kc):
    api = api_client(kc)
    core = client.CoreV1Api(api)
    first = core.list_pod_for_all_namespaces(limit=2)
    assert [p.metadata.name for p in first.items] == ["job-1", "lone"]
    assert first.metadata.remaining_item_count == 3 and first.metadata.var_continue
    srv.add(pod("aaa", "other"))  # added after the first page: sorts before it, so it is not seen
    second = core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata.var_continue)
    last = core.list_pod_for_all_namespaces(limit=2, _continue=second.metadata.var_continue)
    assert [p.metadata.name for p in second.items + last.items] == ["db-1", "web-1", "web-2"]
    assert last.metadata.var_continue is None and last.metadata.remaining_item_count is None
    assert len(core.list_pod_for_all_namespaces().items) == 6  # a new list sees it
    shop = core.list_namespaced_pod("shop", limit=1, label_selector="app=web")
    assert [p.metadata.name for p in shop.items] == ["web-1"] and shop.metadata.remaining_item_count is None
    with pytest.raises(client.ApiException) as e:
        core.list_pod_for_all_namespaces(limit=2, _continue="not-a-token")
    assert e.value.status == 400 and json.loads(e.value.body)["reason"] == "BadRequest"
    status, headers, body = raw_get(api, "/api/v1/namespaces/shop/pods")
    doc = json.loads(body)
    assert (doc["kind"], doc["apiVersion"], int(headers["Content-Length"])) == ("PodList", "v1", len(body))
    assert doc["metadata"]["resourceVersion"].isdigit() and "continue" not in doc["metadata"]


def test_aggregated_discovery_is_served_when_asked_for(kc):
    api = api_client(kc)
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    status, headers, body = raw_get(api, "/apis", accept=accept)
    assert headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    doc = json.loads(body)
    istio = next(g for g in doc["items"] if g["metadata"]["name"] == "networking.istio.io")
    assert [v["version"] for v in istio["versions"]] == ["v1", "v1beta1", "v1alpha3"]
    envoy = [r["resource"] for v in istio["versions"] for r in v["resources"] if r["resource"] == "envoyfilters"]
    assert envoy == ["envoyfilters"]  # v1alpha3 only
    status, headers, body = raw_get(api, "/apis")
    assert headers["Content-Type"] == "application/json" and json.loads(body)["kind"] == "APIGroupList"


def test_served_versions_emulate_an_older_istio(tmp_path):
    with KubeAPIServer(objects=OBJECTS, served_versions={"networking.istio.io": ["v1beta1", "v1alpha3"]}) as srv:
        api = api_client(write_kubeconfig(tmp_path / "config", srv.url))
        istio = next(g for g in client.ApisApi(api).get_api_versions().groups if g.name == "networking.istio.io")
        assert istio.preferred_version.version == "v1beta1"
        custom = client.CustomObjectsApi(api)
        assert custom.list_cluster_custom_object("networking.istio.io", "v1beta1", "serviceentries")["items"]
        with pytest.raises(client.ApiException) as e:
            custom.list_cluster_custom_object("networking.istio.io", "v1", "serviceentries")
        assert e.value.status == 404


def test_objects_get_server_fields_but_a_dumps_own_are_kept(tmp_path):
    dumped = pod("old")
    dumped["metadata"].update(uid="u-1", resourceVersion="9000", creationTimestamp="2025-01-06T09:00:00Z")
    with KubeAPIServer(objects=[pod("new", namespace=None), dumped]) as srv:
        core = client.CoreV1Api(api_client(write_kubeconfig(tmp_path / "config", srv.url)))
        old = core.read_namespaced_pod("old", "shop").metadata
        assert (old.uid, old.resource_version, old.creation_timestamp.year) == ("u-1", "9000", 2025)
        new = core.read_namespaced_pod("new", "default").metadata  # no namespace: "default", as on create
        assert new.uid and new.resource_version and new.creation_timestamp
        assert int(core.list_pod_for_all_namespaces().metadata.resource_version) >= 9000


def test_unknown_kinds_and_groups_are_rejected_clearly():
    srv = KubeAPIServer()
    with pytest.raises(ValueError, match="unknown kind 'Widget' in apiVersion 'example.com/v1'"):
        srv.add({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    with pytest.raises(ValueError, match="unknown kind 'Deployment' in apiVersion 'extensions/v1beta1'"):
        srv.add({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "d"}})
    with pytest.raises(ValueError, match="unknown API group"):
        KubeAPIServer(absent_groups=("istio.io",))
    with pytest.raises(ValueError, match=r"served_versions\['networking.istio.io'\] = \['v1alpha1'\]"):
        KubeAPIServer(served_versions={"networking.istio.io": ["v1alpha1"]})


# -- faults ----------------------------------------------------------------------------------------

def test_a_delay_fault_makes_a_client_timeout_fire(srv, kc):
    core = client.CoreV1Api(api_client(kc, retries=False))
    srv.fault(resource="pods", verb="list", status=None, delay=3, times=1)
    t0 = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        core.list_namespaced_pod("shop", _request_timeout=1)
    assert 0.9 < time.monotonic() - t0 < 2
    assert len(core.list_namespaced_pod("shop", _request_timeout=1).items) == 3  # times=1: over
    srv.fault(resource="services", status=None, delay=0.3)  # a slow answer that still arrives
    t0 = time.monotonic()
    assert len(core.list_namespaced_service("shop").items) == 1 and time.monotonic() - t0 >= 0.3


def test_429_once_then_success_with_retry_after(srv, kc):
    api = api_client(kc, retries=False)
    srv.fault(resource="pods", status=429, retry_after=2, times=1)
    with pytest.raises(client.ApiException) as e:
        client.CoreV1Api(api).list_pod_for_all_namespaces()
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "2"
    body = json.loads(e.value.body)
    assert (body["reason"], body["details"]["retryAfterSeconds"]) == ("TooManyRequests", 2)
    assert len(client.CoreV1Api(api).list_pod_for_all_namespaces().items) == 5
    assert [r["status"] for r in srv.requests if r["path"] == "/api/v1/pods"] == [429, 200]


@pytest.mark.parametrize("status,reason", [(500, "InternalError"), (503, "ServiceUnavailable"), (404, "NotFound"),
                                           (401, "Unauthorized"), (410, "Expired")])
def test_fault_statuses_carry_the_real_reasons(srv, kc, status, reason):
    core = client.CoreV1Api(api_client(kc, retries=False))
    srv.fault(resource="*", verb="get", group="", status=status)
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_pod("web-1", "shop")
    assert (e.value.status, json.loads(e.value.body)["reason"]) == (status, reason)
    assert len(core.list_namespaced_pod("shop").items) == 3  # verb="get": lists still work
    assert client.AppsV1Api(core.api_client).read_namespaced_deployment("web", "shop")  # group "": apps works


def test_stop_cuts_kept_alive_connections(tmp_path):
    srv = KubeAPIServer(objects=OBJECTS)
    core = client.CoreV1Api(api_client(write_kubeconfig(tmp_path / "config", srv.start()), retries=False))
    assert core.list_namespace().items
    srv.stop()
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.list_namespace(_request_timeout=2)


# -- the command line ------------------------------------------------------------------------------

def test_cli_serves_files_until_sigterm(tmp_path, kubectl):
    data = tmp_path / "data"
    (data / "nested").mkdir(parents=True)
    (data / "ns.yaml").write_text(yaml.safe_dump_all([ns("shop"), pod("web-1", app="web")]))
    (data / "nested" / "list.json").write_text(json.dumps({"apiVersion": "v1", "kind": "PodList",
                                                           "items": [pod("web-2"), pod("db-1")]}))
    (data / "nested" / "array.json").write_text(json.dumps([pod("lone", "other")]))
    (data / "README.md").write_text("not an object")
    ready, kc = tmp_path / "url", tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "tests.kubeapi", "--data", str(data), "--ready-file", str(ready),
                             "--kubeconfig", str(kc), "--absent-group", "security.istio.io"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "not ready in 15 s"
        url = ready.read_text().strip()
        assert url.startswith("http://127.0.0.1:") and yaml.safe_load(kc.read_text())["current-context"] == "emu"
        p = kubectl(kc, "get", "pods", "-A", "-o", "json")
        assert names(json.loads(p.stdout)) == [("other", "lone"), ("shop", "db-1"), ("shop", "web-1"),
                                               ("shop", "web-2")], p.stderr
        assert "peerauthentications" in kubectl(kc, "get", "peerauthentications").stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out.strip() == url and err == ""


def test_cli_rejects_an_unknown_kind_with_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    p = subprocess.run([sys.executable, "-m", "tests.kubeapi", "--data", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert p.stderr.startswith(f"error: {tmp_path / 'bad.yaml'}: unknown kind 'Widget' in apiVersion 'example.com/v1'")
