"""Real RBAC shapes against the API server emulation: judge what can be read, say what could change
the verdict. Each shape runs the installed tool through the real client under that RBAC and compares
with the full-access run on the same data:

- every finding on a readable object is the full-access finding, or the same finding naming the
  assumption it rests on (``assumptions``); a severity may only drop where it does;
- a full-access finding that is missing is explained by a gap: its object could not be read, or a kind
  its rule needs (or an install fact it uses) could not be read where its object is;
- a finding full access does not have names an assumption;
- ``--require-full-access`` exits 4 under every restricted shape, after printing the findings.
"""

from pathlib import Path

import pytest
import yaml

from kubectl_meshcheck.access import Gap
from kubectl_meshcheck.engine import _expand

from .kubeapi import CATALOG, Authorizer, KubeAPIServer, grant, write_kubeconfig
from .test_live import EXAMPLE_OBJECTS, js, run

ROOT = Path(__file__).resolve().parents[1]
EXTRA = list(yaml.safe_load_all((ROOT / "tests" / "data" / "access" / "extra.yaml").read_text()))
DATA = EXAMPLE_OBJECTS + EXTRA
NAMESPACES = sorted({o["metadata"].get("namespace") for o in DATA if o["metadata"].get("namespace")}
                    | {o["metadata"]["name"] for o in DATA if o["kind"] == "Namespace"})
CLUSTER_SCOPED = [r.plural for r in CATALOG if not r.namespaced]
EVERY = sorted({r.plural for r in CATALOG})


def every_but(*plurals, namespace=None):
    return [grant(*[p for p in EVERY if p not in plurals], namespace=namespace)]


#: an app team's Role, bound in its namespace: the namespaced kinds it works with, not the Namespace object
APP_TEAM = every_but("namespaces", "secrets", namespace="shop")


SHAPES = {
    # a ClusterRole that leaves out one workload kind
    "statefulsets-forbidden": (every_but("statefulsets"), ["-A"]),
    "replicationcontrollers-forbidden": (every_but("replicationcontrollers"), ["-A"]),
    # RoleBindings in every namespace, no ClusterRoleBinding: no cluster-wide list, nothing cluster-scoped
    "namespaced-lists-only": ([grant(namespace=ns) for ns in NAMESPACES], ["-n", "shop"]),
    # an app team: a RoleBinding in its own namespace, nothing else
    "namespace-user": (APP_TEAM, ["-n", "shop"]),
    # cluster-scoped reads allowed, every namespace but istio-system
    "istio-system-forbidden": ([grant(*CLUSTER_SCOPED)] + [grant(namespace=ns) for ns in NAMESPACES
                                                          if ns != "istio-system"], ["-n", "shop"]),
    "nodes-forbidden": (every_but("nodes"), ["-A"]),
}


def _run_json(srv, tmp_path, args, extra=()):
    kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
    p = run(*args, "-o", "json", *extra, kubeconfig=kc)
    assert p.returncode in (0, 1, 4) and "Traceback" not in p.stderr, p.stderr
    return p, js(p)


def key(f):
    o = f["object"]
    return (f["code"], o["kind"], o["namespace"], o["name"], f["path"], f["message"])


def _gaps(doc):
    return [Gap(u["kind"], u["namespace"], u["what"], u["reason"], u.get("fact"), elsewhere=u["elsewhere"],
                read_in=tuple(u["readIn"])) for u in doc["unreadable"]]


def _unread_object(f, gaps):
    o = f["object"]
    for g in gaps:
        if g.kind != o["kind"] or g.fact:
            continue
        if g.namespace is None and not g.elsewhere or g.namespace == o["namespace"]:
            return True
        if g.elsewhere and o["namespace"] not in g.read_in:
            return True
    return False


def _explained(f, gaps, rules):
    """Could a gap have removed this full-access finding?"""
    if _unread_object(f, gaps):
        return True
    r = rules[f["code"]]
    kinds = _expand(set(r.targets) | set(r.reads) | {"Namespace", "ConfigMap"})
    ns = f["object"]["namespace"]
    return any((g.kind in kinds and g.affects(ns)) or (g.fact and g.affects(ns)) for g in gaps)


def compare(full, restricted, rules):
    """The checks of the module docstring; returns (kept, with_assumption, explained_missing, new)."""
    gaps = _gaps(restricted)
    assert gaps, "a restricted shape must report what it could not read"
    mine = {key(f): f for f in restricted["findings"] if f["code"] != "MC003"}
    theirs = {key(f): f for f in full["findings"] if f["code"] != "MC003"}
    kept = with_assumption = explained = new = 0
    for k, f in theirs.items():
        if k in mine:
            g = mine[k]
            kept += 1
            with_assumption += bool(g["assumptions"])
            if g["severity"] != f["severity"]:
                assert g["assumptions"], f"severity changed without an assumption: {k}"
        else:
            assert _explained(f, gaps, rules), f"finding vanished with nothing to explain it: {k}"
            explained += 1
    for k, g in mine.items():
        if k not in theirs:
            assert g["assumptions"], f"a finding full access does not have, with no assumption: {k}"
            new += 1
    (mc003,) = [f for f in restricted["findings"] if f["code"] == "MC003"]
    assert len([f for f in restricted["findings"] if f["code"] == "MC003"]) == 1
    return kept, with_assumption, explained, new


@pytest.fixture(scope="module")
def rules(host):
    return {r.code: r for r in host.registry.all()}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_rbac_shape_judges_what_it_can_read(shape, tmp_path, rules):
    grants, args = SHAPES[shape]
    with KubeAPIServer(objects=DATA) as srv:
        _, full = _run_json(srv, tmp_path, args)
    assert not full["unreadable"] and full["summary"]["fullAccess"]
    with KubeAPIServer(objects=DATA, authorizer=Authorizer(grants)) as srv:
        p, restricted = _run_json(srv, tmp_path, args)
        kept, with_assumption, explained, new = compare(full, restricted, rules)
        assert kept >= 0.6 * len(full["findings"]), (shape, kept, len(full["findings"]))  # not "almost silent"
        assert srv.writes == 0
        gated, _ = _run_json(srv, tmp_path, args, ["--require-full-access"])
    assert gated.returncode == 4 and "--require-full-access" in gated.stderr
    assert js(gated)["findings"] == restricted["findings"]  # everything judged is still printed
    assert p.returncode in (0, 1)


def test_a_forbidden_target_kind_only_leaves_its_own_objects_unjudged(tmp_path):
    with KubeAPIServer(objects=DATA, authorizer=Authorizer(every_but("replicationcontrollers"))) as srv:
        _, doc = _run_json(srv, tmp_path, ["-A"])
    (gap,) = doc["unreadable"]
    assert gap["kind"] == "ReplicationController" and gap["effect"].startswith("its objects not judged")
    assert [f for f in doc["findings"] if f["code"] == "MC101" and f["object"]["name"] == "legacy-rc"]
    assert {f["code"] for f in doc["findings"] if f["code"].startswith("MC2")}  # startup still judged
    assert len({f["code"] for f in doc["findings"]}) > 20  # 38 of 50 rules were skipped before


def test_root_namespace_entries_unreadable_still_report_the_endpoint_with_its_assumption(tmp_path):
    shape = SHAPES["istio-system-forbidden"][0]
    with KubeAPIServer(objects=DATA) as srv:
        _, full = _run_json(srv, tmp_path, ["egress", "-n", "shop"])
    covered = {r["host"]: r for r in full["rows"]}["smtp.sendgrid.net"]
    assert covered["coveredBy"] == "istio-system/sendgrid"
    with KubeAPIServer(objects=DATA, authorizer=Authorizer(shape)) as srv:
        _, doc = _run_json(srv, tmp_path, ["egress", "-n", "shop"])
    row = {r["host"]: r for r in doc["rows"]}["smtp.sendgrid.net"]
    assert row["coveredBy"] is None and any("istio-system" in u for u in row["coverageUnknown"])
    (f,) = [f for f in doc["findings"] if f.get("args", {}).get("host") == "smtp.sendgrid.net"]
    assert f["severity"] in ("warning", "info") and any("ServiceEntry in namespace istio-system" in a
                                                         for a in f["assumptions"])
    assert f["fixes"] and f["fixes"][0]["verified"]  # the generated ServiceEntry is still offered, verified


def test_a_namespace_user_gets_one_short_block_not_a_finding_per_kind(tmp_path):
    with KubeAPIServer(objects=DATA, authorizer=Authorizer(APP_TEAM)) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        doc = js(run("-n", "shop", "-o", "json", kubeconfig=kc))
        cluster_wide = [r for r in srv.requests if r["status"] == 403 and "/namespaces/" not in r["path"]]
        human = run("-n", "shop", kubeconfig=kc)
    assert len([f for f in doc["findings"] if f["code"] == "MC003"]) == 1
    assert len(cluster_wide) == len({r["path"] for r in cluster_wide})  # each cluster-wide list tried once
    assert doc["summary"]["inferredMeshMode"] == {"shop": doc["summary"]["inferredMeshMode"]["shop"]}
    assert "sidecar mode inferred from its running pods" in doc["summary"]["inferredMeshMode"]["shop"]
    assert "Not readable with these credentials" in human.stdout
    block = human.stdout.split("Not readable with these credentials", 1)[1]
    assert "ServiceEntry" in block and "other namespaces" in block  # -o json: "namespaces other than shop, ..."
    assert any(u["scope"] == "namespaces other than shop, istio-system" for u in doc["unreadable"])
    assert len(block.splitlines()) < 20


def test_mesh_mode_is_inferred_from_running_pods_when_the_namespace_is_unreadable(tmp_path):
    ambient_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "web-1", "namespace": "amb", "annotations": {"ambient.istio.io/redirection": "enabled"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]}, "status": {"phase": "Running"}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "amb"},
              "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                  "metadata": {"labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "web", "image": "nginx", "securityContext": {"runAsUser": 1337}}]}}}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "amb",
                                                                 "labels": {"istio.io/dataplane-mode": "ambient"}}}
    team = every_but("namespaces", namespace="amb")
    with KubeAPIServer(objects=[ns, ambient_pod, deploy], authorizer=Authorizer(team)) as srv:
        _, doc = _run_json(srv, tmp_path, ["startup", "-n", "amb"])
    inferred = doc["summary"]["inferredMeshMode"]["amb"]
    assert "ambient mode inferred from its running pods (1 ambient-enrolled)" in inferred
    assert not [f for f in doc["findings"] if f["code"] == "MC207"]  # a sidecar rule: not for ambient pods
    with KubeAPIServer(objects=[ns, deploy], authorizer=Authorizer(team)) as srv:
        _, doc = _run_json(srv, tmp_path, ["startup", "-n", "amb"])  # no pods: the assumption, named
    (f,) = [f for f in doc["findings"] if f["code"] == "MC207"]
    assert any("sidecar mode assumed (no running pods there" in a for a in f["assumptions"])


def test_a_kind_absent_from_discovery_is_no_gap(tmp_path, rules):
    without = [o for o in DATA if not o["apiVersion"].startswith("security.istio.io/")]
    with KubeAPIServer(objects=without) as srv:
        _, full = _run_json(srv, tmp_path, ["-A"])
    with KubeAPIServer(objects=DATA, absent_groups=("security.istio.io",)) as srv:
        p, doc = _run_json(srv, tmp_path, ["-A", "--require-full-access"])
    assert p.returncode != 4 and not doc["unreadable"]  # not installed is not forbidden: there are none
    assert "PeerAuthentication" in doc["summary"]["cluster"]["notServed"]
    assert {key(f) for f in doc["findings"]} == {key(f) for f in full["findings"]}
