"""``kubectl meshcheck capture TARGET``: the plan for one pod, decided by pre-checks, against the API server
emulation (real HTTP, the real client, SelfSubjectAccessReviews counted) and from ``-f`` files. One test per
deciding check: RBAC, PodSecurity, the local kubectl, the proxy image, ambient, the pod's user, the server."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .ptyterm import run_in_pty
from .conftest import require_kubectl
from .kubeapi import KubeAPIServer, write_kubeconfig

EXE = str(Path(sys.executable).parent / "kubectl-meshcheck")
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
PROXY_SC = {"runAsUser": 1337, "runAsGroup": 1337, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
            "privileged": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def namespace(name="shop", inject=True, **labels):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {**({"istio-injection": "enabled"} if inject else {}), **labels}}}


def pod(name="web-7d9c-x2kq", ns="shop", *, distroless=False, ambient=False, pod_sc=None, phase="Running",
        ready=True, owner="web-7d9c"):
    containers = [{"name": "web", "image": "ghcr.io/example/web:1.4",
                   "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9102}]}]
    meta = {"name": name, "namespace": ns, "labels": {"app": "web"}}
    spec = {"containers": containers, "nodeName": "node-a"}
    if ambient:
        meta["annotations"] = {"ambient.istio.io/redirection": "enabled"}
    else:
        tag = "1.26.1-distroless" if distroless else "1.26.1"
        meta["annotations"] = {"sidecar.istio.io/status": '{"containers":["istio-proxy"],"revision":"default"}'}
        spec["initContainers"] = [{"name": "istio-init", "image": f"docker.io/istio/proxyv2:{tag}"}]
        containers.append({"name": "istio-proxy", "image": f"docker.io/istio/proxyv2:{tag}",
                           "securityContext": PROXY_SC})
    if pod_sc:
        spec["securityContext"] = pod_sc
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True,
                                    "uid": f"uid-{owner}"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": phase, "podIP": "10.1.2.3",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def workload(ns="shop"):
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "ghcr.io/example/web:1.4"}]}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": ns, "uid": "uid-web"},
              "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web-7d9c", "namespace": ns, "uid": "uid-web-7d9c", "ownerReferences": [
              {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web", "controller": True}]},
          "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}}
    return [deploy, rs]


def fake_kubectl(tmp_path, version):
    """A ``kubectl`` earlier on PATH that answers only ``version --client -o json``; anything else goes to the
    real kubectl. Every call is logged."""
    real = subprocess.run(["sh", "-c", "command -v kubectl"], capture_output=True, text=True).stdout.strip()
    bindir = tmp_path / "fakebin"
    bindir.mkdir(exist_ok=True)
    answer = json.dumps({"clientVersion": {"major": "1", "minor": version.split(".")[1], "gitVersion": f"v{version}"}})
    script = bindir / "kubectl"
    script.write_text(f"""#!/bin/sh
echo "$*" >> {shlex.quote(str(bindir / 'calls.log'))}
if [ "$1 $2 $3 $4" = "version --client -o json" ]; then echo {shlex.quote(answer)}; exit 0; fi
exec {shlex.quote(real or '/usr/bin/kubectl')} "$@"
""")
    script.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}, bindir / "calls.log"


def run(*args, env=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "COLUMNS")}
    e.update({"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})})
    return subprocess.run([EXE, "capture", *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=120)


class Source:
    """The same objects read live (the emulation) or from a file: ``plan(*args)`` returns the JSON plan."""

    def __init__(self, kind, tmp_path, objects, server=None):
        self.kind, self.tmp_path, self.objects = kind, tmp_path, objects
        self.srv = None
        self.env = {"HOME": str(tmp_path)}
        if kind == "live":
            self.srv = server or KubeAPIServer(objects=objects)
            self.srv.start()
            self.env["KUBECONFIG"] = write_kubeconfig(str(tmp_path / "kube" / "config"), self.srv.url,
                                                      namespace="shop")
        else:
            self.file = tmp_path / "objects.yaml"
            self.file.write_text(yaml.safe_dump_all(objects))

    def proc(self, *args, env=None, cwd=None):
        extra = () if self.kind == "live" else ("-f", str(self.file))
        return run(*args, *extra, env={**self.env, **(env or {})}, cwd=cwd)

    def plan(self, *args, env=None):
        p = self.proc(*args, "-o", "json", env=env)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def close(self):
        if self.srv:
            self.srv.stop()


@pytest.fixture
def source(request, tmp_path):
    made = []

    def make(objects, kind=None, server=None):
        s = Source(kind or request.param, tmp_path, objects, server)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def routes(doc):
    return {r["key"]: r for r in doc["routes"]}


def check(doc, key):
    return next(c for c in doc["checks"] if c["key"] == key)


BOTH = pytest.mark.parametrize("source", ["live", "files"], indirect=True)
LIVE = pytest.mark.parametrize("source", ["live"], indirect=True)


# -- the default: a debug container, the pod's real ports, the reviews counted ---------------------------


@LIVE
def test_allowed_user_gets_the_netadmin_debug_container_and_each_permission_is_one_counted_review(source):
    s = source([namespace(), pod(), *workload()])
    doc = s.plan("pod/web-7d9c-x2kq")
    assert doc["chosen"] == "ephemeral-netadmin"
    assert doc["commands"]["ephemeral-netadmin"] == (
        "kubectl debug -n shop web-7d9c-x2kq -i -q --keep-labels --image=nicolaka/netshoot --profile=netadmin "
        "--target=web -- tcpdump -i any -U -w - 'port 8080 or port 9102' > web-7d9c-x2kq.pcap")
    assert doc["target"]["workload"] == "Deployment/web" and doc["mesh"] == "sidecar"
    posts = [r for r in s.srv.requests if r["method"] != "GET"]
    assert posts and all(r["method"] == "POST" and r["path"] == SSAR and r["status"] == 201 for r in posts)
    assert len(posts) == len(s.srv.access_reviews) == doc["source"]["accessReviews"] == len(doc["accessReviews"])
    assert s.srv.writes == 0
    asked = {(a.get("verb"), a.get("resource"), a.get("subresource")) for a in s.srv.access_reviews}
    assert {("patch", "pods", "ephemeralcontainers"), ("create", "pods", "attach"), ("create", "pods", "exec"),
            ("patch", "deployments", None)} <= asked
    first = s.srv.access_reviews[0]
    assert first == {"namespace": "shop", "verb": "patch", "resource": "pods", "subresource": "ephemeralcontainers",
                     "name": "web-7d9c-x2kq"}


@LIVE
def test_rbac_denying_ephemeral_containers_moves_the_plan_to_what_the_user_may_do(source):
    s = source([namespace(), pod(), *workload()])
    srv = s.srv
    srv.access("patch", "pods", False, subresource="ephemeralcontainers", reason="RBAC: no rule allows it")
    doc = s.plan("pod/web-7d9c-x2kq")
    r = routes(doc)
    assert r["ephemeral-netadmin"]["works"] == "no"
    assert r["ephemeral-netadmin"]["blockedBy"] == [
        "RBAC: you may not patch pods/ephemeralcontainers in namespace shop (RBAC: no rule allows it)"]
    assert check(doc, "rbac:ephemeral")["status"] == "blocks"
    assert doc["chosen"] == "access-log"  # works, and changes nothing for the running pods
    # no debug container is allowed: the privileged-proxy route is offered, last of what works, with its undo
    keys = [x["key"] for x in doc["routes"]]
    assert keys.index("privileged-proxy") > keys.index("node") and r["privileged-proxy"]["works"] == "yes"
    assert dict((v["label"], v["command"]) for v in r["privileged-proxy"]["variants"])["undo"].startswith(
        "kubectl -n shop patch deployment/web --type=merge -p '{\"spec\":{\"template\":{\"metadata\":{\"annotations\":"
        "{\"proxy.istio.io/config\":null}}}}}'")
    srv.access("patch", "deployments", False, group="apps")
    assert routes(s.plan("pod/web-7d9c-x2kq"))["privileged-proxy"]["works"] == "no"


@LIVE
def test_no_access_review_sends_no_post_and_says_the_permissions_are_unknown(source):
    s = source([namespace(), pod(), *workload()])
    doc = s.plan("pod/web-7d9c-x2kq", "--no-access-review")
    assert [r for r in s.srv.requests if r["method"] != "GET"] == [] and s.srv.access_reviews == []
    assert check(doc, "rbac")["status"] == "unknown" and "--no-access-review" in check(doc, "rbac")["found"]
    assert doc["chosen"] == "ephemeral-netadmin"


# -- one test per deciding check, live and from files --------------------------------------------------


@BOTH
def test_restricted_pod_security_leaves_no_capturing_debug_container(source):
    s = source([namespace(**{"pod-security.kubernetes.io/enforce": "restricted"}), pod(), *workload()])
    doc = s.plan("web-7d9c-x2kq")
    psa = check(doc, "psa")
    assert psa["status"] == "blocks" and "enforce=restricted" in psa["found"]
    r = routes(doc)
    assert r["ephemeral-netadmin"]["works"] == "no" and "ephemeral-baseline" not in r
    assert r["node"]["works"] == "no"  # the node debugger pod is privileged too
    assert doc["chosen"] == "access-log"


@BOTH
def test_baseline_pod_security_offers_the_runtime_capabilities_as_a_maybe(source):
    s = source([namespace(**{"pod-security.kubernetes.io/enforce": "baseline"}), pod(), *workload()])
    r = routes(s.plan("pod/web-7d9c-x2kq"))
    assert r["ephemeral-netadmin"]["works"] == "no" and r["ephemeral-baseline"]["works"] == "maybe"
    assert "--profile=baseline" in r["ephemeral-baseline"]["command"]


@BOTH
def test_an_old_local_kubectl_has_no_netadmin_profile(source, tmp_path):
    env, calls = fake_kubectl(tmp_path, "1.26.3")
    s = source([namespace(), pod(), *workload()])
    doc = s.plan("pod/web-7d9c-x2kq", env=env)
    kubectl = check(doc, "kubectl")
    assert kubectl["status"] == "blocks" and kubectl["found"].startswith("v1.26.3 has no --profile=netadmin")
    r = routes(doc)
    assert r["ephemeral-netadmin"]["works"] == "no"
    legacy = r["ephemeral-baseline"]  # kubectl 1.26: no --profile at all, the runtime's default capabilities
    assert legacy["works"] == "maybe" and "--profile" not in legacy["command"] and "--keep-labels" not in \
        legacy["command"]
    assert "--profile=sysadmin" not in r["node"]["command"] and r["node"]["works"] == "maybe"
    assert calls.read_text().splitlines() == ["version --client -o json"]  # asked for its version only


@BOTH
def test_a_distroless_proxy_has_no_tcpdump_and_no_privileged_proxy_route(source):
    s = source([namespace(), pod(distroless=True), *workload()])
    if s.srv:  # no debug container either: privileges for istio-proxy would still not bring tcpdump
        s.srv.access("patch", "pods", False, subresource="ephemeralcontainers")
    doc = s.plan("pod/web-7d9c-x2kq")
    proxy = doc["proxy"]
    assert proxy["variant"] == "distroless"
    assert proxy["execTcpdump"] == "fails: the distroless proxy image has no shell and no tcpdump"
    assert "istio-proxy image: docker.io/istio/proxyv2:1.26.1-distroless (distroless)" in proxy["fields"]
    assert "istio-proxy securityContext.runAsUser: 1337" in proxy["fields"]
    r = routes(doc)
    assert "exec-proxy" not in r and "privileged-proxy" not in r


@BOTH
def test_an_ambient_pod_is_captured_in_its_namespace_or_at_its_nodes_ztunnel(source):
    objects = [namespace(inject=False, **{"istio.io/dataplane-mode": "ambient"}),
               pod(ambient=True), *workload()]
    s = source(objects)
    doc = s.plan("pod/web-7d9c-x2kq")
    assert doc["mesh"] == "ambient" and doc["proxy"]["execTcpdump"].startswith("no istio-proxy in ambient pods")
    r = routes(doc)
    assert doc["chosen"] == "ephemeral-netadmin" and "access-log" not in r and "exec-proxy" not in r
    assert r["ztunnel-node"]["command"] == ("kubectl debug node/node-a -n shop -it --image=nicolaka/netshoot "
                                            "--profile=sysadmin -- tcpdump -i any -nn host 10.1.2.3 and port 15008")
    assert "ztunnel-log" in r and [i["name"] for i in doc["interfaces"]] == ["lo", "eth0", "any"]


@BOTH
def test_a_non_root_pod_gets_a_root_debug_container_or_is_blocked_where_that_is_impossible(source, tmp_path):
    s = source([namespace(), pod(pod_sc={"runAsNonRoot": True, "runAsUser": 1000}), *workload()])
    doc = s.plan("pod/web-7d9c-x2kq")
    assert check(doc, "pod-user") == {"key": "pod-user", "title": "pod user", "status": "limits",
                                      "found": "spec.securityContext.runAsUser: 1000",
                                      "effect": "the debug container inherits it: the command runs it as root with "
                                                "--custom (runAsUser 0)"}
    command = doc["commands"]["ephemeral-netadmin"]
    assert command.startswith("echo '{\"securityContext\":{\"runAsUser\":0,\"runAsNonRoot\":false}}' > "
                              "/tmp/meshcheck-debug-root.json && kubectl debug ")
    env, _ = fake_kubectl(tmp_path, "1.29.2")  # --custom came in 1.30 (alpha) / 1.31
    old = s.plan("pod/web-7d9c-x2kq", env=env)
    assert check(old, "pod-user")["status"] == "blocks" and routes(old)["ephemeral-netadmin"]["works"] == "no"


@LIVE
def test_a_server_without_ephemeral_containers_blocks_every_debug_container(source):
    srv = KubeAPIServer(objects=[namespace(), pod(), *workload()], version="v1.22.17")
    srv.ephemeral_containers = False
    s = source([], server=srv)
    doc = s.plan("pod/web-7d9c-x2kq")
    assert check(doc, "server") == {"key": "server", "title": "API server", "status": "blocks",
                                    "found": "v1.22.17; pods/ephemeralcontainers not served",
                                    "effect": "no debug container can be added to a running pod (GA in 1.25)"}
    assert routes(doc)["ephemeral-netadmin"]["works"] == "no"


# -- targets --------------------------------------------------------------------------------------------


@BOTH
def test_a_deployment_target_picks_a_running_ready_pod_and_says_which(source):
    s = source([namespace(), pod("web-7d9c-aaaa", phase="Pending", ready=False), pod("web-7d9c-zzzz"), *workload()])
    doc = s.plan("deploy/web")
    assert doc["target"]["pod"] == "web-7d9c-zzzz"
    assert doc["target"]["picked"] == "picked pod web-7d9c-zzzz (Running and Ready; 2 pod(s) of deployment/web)"
    assert doc["commands"]["ephemeral-netadmin"].startswith("kubectl debug -n shop web-7d9c-zzzz ")


def test_a_workload_without_pods_in_the_files_is_planned_from_its_template(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text(yaml.safe_dump_all([namespace(), *workload()]))
    doc = json.loads(run("deployment/web", "-f", str(f), "-o", "json").stdout)
    assert doc["target"]["pod"] == "$(kubectl -n shop get pod -l app=web -o jsonpath='{.items[0].metadata.name}')"
    assert doc["notes"][0].startswith("no pod of deployment/web in the input")
    assert "predicted from Istio's injection template" in doc["proxy"]["fields"][0]


@pytest.mark.parametrize("args, code, message", [
    (["svc/web"], 2, "error: TARGET 'svc/web': use pod/NAME, NAME (a pod), or deploy|sts|ds|rs|job/NAME"),
    (["pod/nope"], 3, "error: capture: pod 'nope' not found in the input"),
    (["pod/web-7d9c-x2kq", "-c", "sidecar"], 2, "error: capture: -c sidecar: no such app container in "
                                                "pod/web-7d9c-x2kq (have: web)"),
    (["--port", "8080"], 2, "error: capture: --port, --host, -c, --no-access-review and --image need a TARGET "
                            "(e.g. pod/NAME or deploy/NAME)"),
])
def test_bad_targets_are_one_line_with_a_distinct_exit_code(tmp_path, args, code, message):
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump_all([namespace(), pod()]))
    p = run(*args, "-f", str(f))
    assert (p.returncode, p.stderr.strip(), p.stdout) == (code, message, "")


def test_a_live_target_that_does_not_exist_is_one_line(tmp_path):
    with KubeAPIServer(objects=[namespace()]) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        p = run("pod/ghost", env={"KUBECONFIG": kc, "HOME": str(tmp_path)})
    assert p.returncode == 3 and p.stderr.strip() == "error: pod 'ghost' not found in namespace shop (context 'emu')"


def test_host_and_port_build_the_filter_and_the_lo_leg_of_outbound_calls(tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump_all([namespace(), pod()]))
    doc = json.loads(run("pod/web-7d9c-x2kq", "-f", str(f), "--port", "5432", "--host", "db.example.com",
                         "-o", "json").stdout)
    assert doc["filter"] == "(port 5432) and (host db.example.com) or port 15001"
    assert doc["filterFrom"] == "--port/--host"
    assert "'(port 5432) and (host db.example.com) or port 15001'" in doc["commands"]["ephemeral-netadmin"]


# -- the chosen command runs ----------------------------------------------------------------------------


def test_the_chosen_debug_command_is_accepted_by_the_real_kubectl_and_aims_at_the_pod(tmp_path):
    """kubectl parses every flag of the command (also --custom with the file the command writes) and sends
    the ephemeral-container PATCH for the right pod; the emulation refuses it, as it refuses every write."""
    require_kubectl()
    objects = [namespace(), pod(pod_sc={"runAsUser": 1000}), *workload()]
    with KubeAPIServer(objects=objects) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        env = {"KUBECONFIG": kc, "HOME": str(tmp_path)}
        doc = json.loads(run("pod/web-7d9c-x2kq", "-o", "json", env=env).stdout)
        command = doc["commands"][doc["chosen"]]
        assert doc["chosen"] == "ephemeral-netadmin" and "--custom=" in command
        before = len(srv.requests)
        p = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env={**os.environ, **env})
        sent = [(r["method"], r["path"]) for r in srv.requests[before:]]
    assert ("PATCH", "/api/v1/namespaces/shop/pods/web-7d9c-x2kq/ephemeralcontainers") in sent, p.stderr
    assert "unknown flag" not in p.stderr and "MethodNotAllowed" in p.stderr


# -- the plan as text -----------------------------------------------------------------------------------


def _command_lines(doc):
    lines = set()
    for r in doc["routes"]:
        for c in [r["command"], *(v["command"] for v in r["variants"])]:
            lines.update(x.strip() for x in c.splitlines())
    return lines


def _in_pty(args, columns, env):
    e = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "KUBECONFIG")}
    e.update({"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", **env})
    shown, rc, err = run_in_pty([EXE, "capture", *args], columns, e, timeout=60)
    assert rc == 0, err
    return shown


@pytest.mark.parametrize("columns", [60, 100, 140])
def test_the_text_plan_fits_the_terminal_and_keeps_commands_whole(tmp_path, columns):
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump_all([namespace(**{"pod-security.kubernetes.io/enforce": "baseline"}), pod(),
                                     *workload()]))
    args = ["pod/web-7d9c-x2kq", "-f", str(f)]
    text = _in_pty(args, columns, {"HOME": str(tmp_path)})
    doc = json.loads(run(*args, "-o", "json").stdout)
    commands = _command_lines(doc)
    flat = " ".join(text.split())
    headings = ["Capture plan for pod shop/web-7d9c-x2kq", "Why `kubectl exec -c istio-proxy -- tcpdump` does not "
                "do it here", "Pre-checks", "Best route: Envoy access logs for this workload (Telemetry API)",
                "Alternatives, best first"]
    assert flat.startswith(headings[0]) and [flat.index(h) for h in headings] == sorted(flat.index(h) for h in headings)
    for line in text.splitlines():
        if line.strip().removeprefix("$ ") not in commands:
            assert len(line) <= columns, line
    for c in commands:  # every command line is printed whole
        assert c in text
    order = [r["title"] for r in doc["routes"]]
    at = [flat.index(f"{n}. {t} (works:") for n, t in enumerate(order[1:], 2)]
    assert at == sorted(at)


def test_piped_text_is_100_columns_and_columns_wins(tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump_all([namespace(), pod(), *workload()]))
    doc = json.loads(run("pod/web-7d9c-x2kq", "-f", str(f), "-o", "json").stdout)
    commands = _command_lines(doc)
    for env, width in (({}, 100), ({"COLUMNS": "72"}, 72)):
        text = run("pod/web-7d9c-x2kq", "-f", str(f), env=env).stdout
        prose = [line for line in text.splitlines() if line.strip().removeprefix("$ ") not in commands]
        assert max(map(len, prose)) <= width and max(map(len, prose)) > width - 15


# -- the emulation's side: access reviews and the pods' subresources -----------------------------------


def test_the_emulation_answers_access_reviews_and_lists_ephemeral_containers_like_kube_apiserver(tmp_path):
    from kubernetes import client

    with KubeAPIServer() as srv:
        srv.access("create", "pods", False, subresource="exec", namespace="shop", reason="no exec here")
        api = client.ApiClient(client.Configuration(host=srv.start()))
        authz = client.AuthorizationV1Api(api)

        def review(**attrs):
            body = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(**attrs)))
            return authz.create_self_subject_access_review(body).status

        denied = review(verb="create", resource="pods", subresource="exec", namespace="shop", name="web")
        assert (denied.allowed, denied.reason) == (False, "no exec here")
        assert review(verb="create", resource="pods", subresource="exec", namespace="other").allowed is True
        assert srv.access_reviews[0] == {"verb": "create", "resource": "pods", "subresource": "exec",
                                         "namespace": "shop", "name": "web"}
        assert srv.writes == 0
        pods = {r.name: r.verbs for r in client.CoreV1Api(api).get_api_resources().resources}
        assert pods["pods/ephemeralcontainers"] == ["get", "patch", "update"] and "pods/exec" in pods
        listing = client.ApiClient(client.Configuration(host=srv.url)).call_api(
            "GET", f"{srv.url}{SSAR}").status
        assert listing == 405  # a review can be created, never read back
    old = KubeAPIServer()
    old.ephemeral_containers = False
    with old:
        api = client.ApiClient(client.Configuration(host=old.start()))
        assert "pods/ephemeralcontainers" not in {r.name for r in client.CoreV1Api(api).get_api_resources().resources}


def test_the_emulations_command_line_denies_what_deny_names(tmp_path):
    ready = tmp_path / "url"
    kc = tmp_path / "kube" / "config"
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump_all([namespace(), pod(), *workload()]))
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.kubeapi", "--data", str(f), "--kubeconfig", str(kc),
                             "--ready-file", str(ready), "--deny", "patch:pods/ephemeralcontainers"], cwd=root,
                            stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), "the emulation did not start"
        p = run("pod/web-7d9c-x2kq", "-n", "shop", "-o", "json", env={"KUBECONFIG": str(kc), "HOME": str(tmp_path)})
        doc = json.loads(p.stdout)
        assert routes(doc)["ephemeral-netadmin"]["works"] == "no" and doc["chosen"] == "access-log"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_pod_the_user_may_not_read_is_one_line_and_exit_4(tmp_path):
    with KubeAPIServer(objects=[namespace(), pod()]) as srv:
        srv.fault("pods", verb="get", status=403)
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        p = run("pod/web-7d9c-x2kq", env={"KUBECONFIG": kc, "HOME": str(tmp_path)})
    assert p.returncode == 4 and p.stderr.count("\n") == 1
    assert p.stderr.startswith("error: cannot read pod shop/web-7d9c-x2kq: 403 pods \"web-7d9c-x2kq\" is forbidden")


@pytest.mark.parametrize("source", ["files"], indirect=True)
def test_a_finished_pod_takes_no_debug_container_and_a_pending_one_only_once_it_runs(source):
    s = source([namespace(), pod(phase="Succeeded", ready=False), pod("web-7d9c-pend", phase="Pending", ready=False),
                *workload()])
    done = s.plan("pod/web-7d9c-x2kq")
    assert check(done, "pod")["status"] == "blocks" and check(done, "pod")["found"] == "Succeeded"
    r = routes(done)
    assert r["ephemeral-netadmin"]["works"] == "no" and r["proxy-config"]["works"] == "no"
    pending = s.plan("pod/web-7d9c-pend")
    assert check(pending, "pod") == {"key": "pod", "title": "pod phase", "found": "Pending", "status": "limits",
                                     "effect": "a debug container starts only once the pod runs"}
    assert pending["chosen"] == "ephemeral-netadmin"


@LIVE
def test_a_kubectl_outside_the_supported_skew_is_said(source, tmp_path):
    env, _ = fake_kubectl(tmp_path, "1.29.4")
    doc = source([namespace(), pod(), *workload()]).plan("pod/web-7d9c-x2kq", env=env)
    assert check(doc, "kubectl") == {"key": "kubectl", "title": "local kubectl", "status": "limits",
                                     "found": "v1.29.4, server v1.32.4",
                                     "effect": "outside kubectl's supported version skew (one minor version either "
                                               "way)"}


@pytest.mark.parametrize("source", ["files"], indirect=True)
def test_the_istioctl_routes_depend_on_istioctl_being_installed(source, tmp_path):
    s = source([namespace(), pod(), *workload()])
    bindir = tmp_path / "istioctl-bin"
    bindir.mkdir()
    (bindir / "istioctl").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "istioctl").chmod(0o755)
    found = s.plan("pod/web-7d9c-x2kq", env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"})
    assert check(found, "istioctl")["status"] == "ok" and routes(found)["proxy-log"]["works"] == "yes"
    if shutil.which("istioctl") is None:
        missing = s.plan("pod/web-7d9c-x2kq")
        assert check(missing, "istioctl") == {"key": "istioctl", "title": "local istioctl", "found": "not on PATH",
                                              "status": "limits", "effect": "the Envoy log and config routes need it"}
        assert routes(missing)["proxy-log"]["works"] == "maybe"
        assert routes(missing)["proxy-log"]["needs"].startswith("istioctl is not on PATH (install it first); ")
