"""Namespace-less file objects go where ``kubectl apply -f`` puts them: ``-n``, else the kubeconfig
context's namespace, else ``default``; objects naming a namespace keep it, and ``-n`` still selects
what is judged. Run through the installed command, as a user runs it."""

import json

from .test_cli import run


def _deployment(name: str, namespace: str, container: str) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n"
            f"  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
            f"    spec:\n      containers:\n      - {container}\n")


#: a Service without a namespace and a Deployment that names one: ArgoCD's http/https -> 8080 conflict
#: (MC103) is only found when both are in the same namespace; a Deployment elsewhere runs as UID 1337
APP = "---\n".join([
    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports:\n"
    "  - {name: http, port: 80, targetPort: 8080}\n  - {name: https, port: 443, targetPort: 8080}\n",
    _deployment("web", "shop", "{name: web, image: example/web:1, ports: [{containerPort: 8080}]}"),
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n",
    _deployment("other", "elsewhere", "{name: other, image: example/other:1, securityContext: {runAsUser: 1337}}"),
])

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: team
contexts:
- name: team
  context: {cluster: c, user: u, namespace: shop}
- name: bare
  context: {cluster: c, user: u}
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
"""


def _findings(proc):
    return {(f["code"], f["object"]["kind"], f["object"]["namespace"], f["object"]["name"])
            for f in json.loads(proc.stdout)["findings"]}


def _write(tmp_path):
    app = tmp_path / "app.yaml"
    app.write_text(APP)
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(KUBECONFIG)
    return app, cfg


def test_dash_n_puts_namespace_less_objects_there_and_selects(tmp_path):
    app, _ = _write(tmp_path)
    p = run("-f", str(app), "-n", "shop", "--select", "MC103,MC207", "-o", "json",
            env={"KUBECONFIG": str(tmp_path / "none")})
    got = _findings(p)
    assert ("MC103", "Deployment", "shop", "web") in got, p.stdout
    assert not any(ns == "elsewhere" for _, _, ns, _ in got), "-n shop must not judge namespace elsewhere"


def test_kubeconfig_namespace_then_default(tmp_path):
    app, cfg = _write(tmp_path)
    team = _findings(run("-f", str(app), "--select", "MC103", "-o", "json", env={"KUBECONFIG": str(cfg)}))
    assert ("MC103", "Deployment", "shop", "web") in team
    # --context picks a context without a namespace: default, so the Service is not the Deployment's
    bare = run("-f", str(app), "--select", "MC103,MC207", "--context", "bare", "-o", "json",
               env={"KUBECONFIG": str(cfg)})
    got = _findings(bare)
    assert ("MC103", "Deployment", "shop", "web") not in got
    assert ("MC207", "Deployment", "elsewhere", "other") in got  # objects naming a namespace keep it


def test_cluster_scoped_objects_stay_without_namespace():
    from kubectl_meshcheck.sources.manifests import LoadResult, load_bytes

    out = LoadResult(default_namespace="shop")
    load_bytes(APP.encode(), "app.yaml", out)
    by_name = {(o.kind, o.name): o.namespace for o in out.objects}
    assert by_name[("Namespace", "shop")] is None
    assert by_name[("Service", "web")] == "shop" and by_name[("Deployment", "other")] == "elsewhere"
