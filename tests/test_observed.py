"""Live evidence: which Pods a workload runs, and what they show (injected, proxy state, restarts)."""

import json

from kubectl_meshcheck.index import Context, Index
from kubectl_meshcheck.model import K8sObject, ObjectRef


def obj(data, origin="cluster:emu"):
    m = data["metadata"]
    return K8sObject(data, ObjectRef(data["apiVersion"], data["kind"], m.get("namespace"), m["name"], origin))


def owner(kind, name, uid):
    return [{"apiVersion": "apps/v1" if kind != "Job" else "batch/v1", "kind": kind, "name": name, "uid": uid,
             "controller": True, "blockOwnerDeletion": True}]


TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:1"}]}}
STATUS = json.dumps({"initContainers": ["istio-init"], "containers": ["istio-proxy"], "revision": "default"})


def injected_pod(name, owner_refs, app_state, proxy_state=None, native=False, ready=True):
    proxy = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.2"}
    spec = {"containers": [{"name": "app", "image": "web:1"}], "initContainers": []}
    statuses = [{"name": "app", "ready": "running" in app_state, "restartCount": 3, "state": app_state,
                 "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]
    init_statuses = []
    if native:
        spec["initContainers"].append({**proxy, "restartPolicy": "Always"})
        init_statuses.append({"name": "istio-proxy", "ready": True, "restartCount": 0,
                              "state": proxy_state or {"running": {}}})
    else:
        spec["initContainers"].append({"name": "istio-init", "image": "docker.io/istio/proxyv2:1.24.2"})
        spec["containers"].append(proxy)
        statuses.append({"name": "istio-proxy", "ready": True, "restartCount": 0,
                         "state": proxy_state or {"running": {}}})
    return obj({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "shop", "labels": {"app": "web"},
                             "annotations": {"sidecar.istio.io/status": STATUS}, "ownerReferences": owner_refs},
                "spec": spec,
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}],
                           "containerStatuses": statuses, "initContainerStatuses": init_statuses}})


def test_deployment_pods_are_found_through_their_replicaset_and_decoded():
    dep = obj({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "shop", "uid": "d1"}, "spec": {"template": TEMPLATE}})
    rs = obj({"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": "web-7d9", "namespace": "shop", "uid": "r1", "ownerReferences": owner("Deployment",
                                                                                                         "web", "d1")},
              "spec": {"template": TEMPLATE}})
    pod = injected_pod("web-7d9-abc", owner("ReplicaSet", "web-7d9", "r1"),
                       {"waiting": {"reason": "CrashLoopBackOff"}}, ready=False)
    index = Index([dep, rs, pod])
    (wl,) = index.workloads  # the ReplicaSet and the Pod are the Deployment's, not workloads of their own
    assert wl.obj is dep
    ctx = Context(index, frozenset({"Workload", "Pod"}))
    (seen,) = ctx.observed_pods(wl)
    assert seen.ref.name == "web-7d9-abc" and seen.injected and seen.proxy == "container"
    assert seen.revision == "default" and not seen.ready and seen.restarts == 3
    app = seen.state_of("app")
    assert app.state == "waiting" and app.reason == "CrashLoopBackOff" and app.last_reason == "Error"


def test_a_job_held_open_by_its_classic_sidecar_is_recognised():
    cron = obj({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "report", "namespace": "shop",
                                                                         "uid": "c1"},
                "spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}})
    job = obj({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "report-28", "namespace": "shop", "uid": "j1",
                            "ownerReferences": owner("CronJob", "report", "c1")},
               "spec": {"template": TEMPLATE}, "status": {"active": 1}})
    done = {"terminated": {"reason": "Completed", "exitCode": 0}}
    held = injected_pod("report-28-x", owner("Job", "report-28", "j1"), done)
    native = injected_pod("report-28-y", owner("Job", "report-28", "j1"), done, native=True)
    index = Index([cron, job, held, native])
    (wl,) = index.workloads
    pods = {p.ref.name: p for p in Context(index, frozenset({"Workload", "Pod"})).observed_pods(wl)}
    assert pods["report-28-x"].held_by_proxy  # app Completed, istio-proxy still running: the Job never ends
    assert pods["report-28-y"].proxy == "native" and not pods["report-28-y"].held_by_proxy


def test_manifests_without_pods_have_no_evidence_and_a_bare_pod_is_its_own():
    bare = injected_pod("debug", [], {"running": {}})
    dep = obj({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"template": TEMPLATE}}, origin="web.yaml:1")
    index = Index([bare, dep])
    ctx = Context(index, frozenset({"Workload", "Pod"}))
    by_kind = {w.obj.kind: w for w in index.workloads}
    assert ctx.observed_pods(by_kind["Deployment"]) == []
    assert [p.ref.name for p in ctx.observed_pods(by_kind["Pod"])] == ["debug"]
