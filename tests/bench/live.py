#!/usr/bin/env python3
"""Live cluster state for the live benchmark (tests/bench/bench_live.py): what a real cluster holds.

    python tests/bench/live.py OUT_DIR --workloads 10000 [--seed 0] [--profile mesh]

or, from Python::

    from live import write_live
    counts, nbytes = write_live("/tmp/live-1k", 1000, seed=0)

Takes the same synthetic workloads as generate.py (same seed, same workloads and profile, read
through ``generate.documents``; profile ``mesh`` adds its ServiceEntries, VirtualServices, Sidecars
and the root namespace's egress gateway and catalogue, ``generate.mesh_root_objects``) and writes
them as the API server would hand them back once
applied and running, so that reading a "cluster" costs what it costs on a real one: server fields (uid,
resourceVersion, generation, creationTimestamp, managedFields like kubectl's / helm's /
kube-controller-manager's / kubelet's, API defaults, status) and the objects controllers and
webhooks add.  One ``kind: List`` JSON file per namespace (``ns-<i>-<name>.json``, plus
``ns-default.json``, ``ns-kube-system.json`` and ``ns-istio-system.json``) and ``cluster.json``
(Namespaces, Nodes), for the API server emulation in tests/kubeapi to load.  Stale ``*.json``
files in OUT_DIR are removed first.  The output is deterministic for a given ``(workloads, seed)``.

What is in there:

* Per workload: the Deployment / StatefulSet / Job / CronJob (Deployments scaled to at most 3
  replicas), its Service (clusterIP, status), the ConfigMap when the manifests have one.
* Deployments own 1-2 ReplicaSets (half also have an older one scaled to 0); ReplicaSets,
  StatefulSets and Jobs own their Pods; each CronJob owns its last Job.  Pods in
  ``istio-injection: enabled`` namespaces carry the sidecar injector's output for Istio 1.24.2
  (istio-init, or istio-proxy as a native sidecar init container for about 30% of workloads;
  the proxy's env, volumes, ``sidecar.istio.io/status``, prometheus merge annotations, app probes
  rewritten to ``/app-health/<c>/...`` on 15020) and are about 15-17 KB of JSON each; pods in
  ambient or unlabelled namespaces have no sidecar.  Pod status has conditions, container
  statuses with restart counts (a few crash-looping), podIP, hostIP, qosClass.  Jobs with a
  classic sidecar never finish (the proxy keeps running); the others have succeeded.
* Every namespace: ConfigMaps ``kube-root-ca.crt`` and ``istio-ca-root-cert``; a few Istio CRs
  (ServiceEntries and DestinationRules networking.istio.io/v1, Sidecars, PeerAuthentications
  security.istio.io/v1).
* istio-system: istiod (docker.io/istio/pilot:1.24.2, ReplicaSet, Pods), its Service, the
  ``istio`` ConfigMap with a ``mesh`` key, mesh-wide PeerAuthentication, DaemonSets ztunnel and
  istio-cni-node; kube-system: coredns, kube-proxy; default: the ``kubernetes`` Service; Nodes
  (one per 50 workloads, at least 3), each running one pod of every DaemonSet.
* Not there: ServiceAccounts, PDBs, Secrets, Endpoints, ControllerRevisions, Events (neither
  meshcheck nor the compared ``kubectl get`` reads them).

About 5 objects and 45 KB of JSON per workload: at 10,000 workloads 53,511 objects and 445 MB
(20,010 Pods, 290 MB: injected ones about 16.6 KB each, the others about 8.8 KB), written in
about 15-20 s.  Pods of one controller share their spec dicts (one kube-api-access volume name
per template, not per pod) so that writing stays fast.
"""
from __future__ import annotations

import argparse
import calendar
import json
import os
import random
import sys
import time
import uuid
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import NS_PER, documents, is_raw_octal, mesh_root_objects  # noqa: E402

__all__ = ["write_live"]

ISTIO = "1.24.2"
PROXY_IMAGE = f"docker.io/istio/proxyv2:{ISTIO}"
ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' generated name suffixes
BASE_TIME = calendar.timegm((2025, 1, 6, 9, 0, 0))
DAY = 86400
WORKLOADS_PER_NODE = 50
EXTERNAL_PORTS = {"api.stripe.com": 443, "sqs.eu-west-1.amazonaws.com": 443, "storage.googleapis.com": 443,
                  "hooks.slack.com": 443, "api.github.com": 443, "login.microsoftonline.com": 443}
CA_PEM = ("-----BEGIN CERTIFICATE-----\n"
          + "\n".join("MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl"[: 64 - i % 3] + "QUFB"[: i % 3]
                      for i in range(17))
          + "\n-----END CERTIFICATE-----\n")
MESH = """accessLogFile: /dev/stdout
defaultConfig:
  discoveryAddress: istiod.istio-system.svc:15012
  proxyMetadata: {}
  tracing:
    zipkin:
      address: zipkin.istio-system:9411
defaultProviders:
  metrics:
  - prometheus
enablePrometheusMerge: true
outboundTrafficPolicy:
  mode: ALLOW_ANY
rootNamespace: istio-system
trustDomain: cluster.local
"""


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _plain(v):
    """Deep copy as plain JSON types; ``0644`` unquoted is octal (420) to kubectl's YAML 1.1 reader."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if is_raw_octal(v):
        return int(v, 8)
    if isinstance(v, str):
        return str(v)
    return v


# --------------------------------------------------------------------------
# managedFields
# --------------------------------------------------------------------------

_LIST_KEYS = {"containers": ("name",), "initContainers": ("name",), "env": ("name",), "volumes": ("name",),
              "volumeMounts": ("mountPath",), "conditions": ("type",), "podIPs": ("ip",), "hostIPs": ("ip",),
              "ownerReferences": ("uid",), "addresses": ("type",)}


_ATOMIC = frozenset({"fieldRef", "resourceFieldRef", "secretKeyRef", "configMapKeyRef"})


def _fields(obj: dict, depth: int = 0) -> dict:
    """FieldsV1 of obj: ``f:`` per field, ``k:{...}`` per keyed list item, ``.`` for set maps."""
    out: dict = {".": {}} if depth > 1 else {}
    for k in sorted(obj):
        v = obj[k]
        if isinstance(v, dict) and v and k not in _ATOMIC:
            out["f:" + k] = _fields(v, depth + 1)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            keys = _LIST_KEYS.get(k)
            if k == "ports":
                keys = ("containerPort", "protocol") if "containerPort" in v[0] else ("port", "protocol")
            if keys is None:
                out["f:" + k] = {}
                continue
            items = {}
            for x in v:
                ident = json.dumps({f: x.get(f) for f in keys}, separators=(",", ":"))
                items["k:" + ident] = _fields(x, 2)
            out["f:" + k] = items
        else:
            out["f:" + k] = {}
    return out


def _mf(manager: str, api_version: str, t: float, fields: dict, subresource: str | None = None) -> dict:
    e = {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": _ts(t),
         "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        e["subresource"] = subresource
    return e


# --------------------------------------------------------------------------
# API server defaulting
# --------------------------------------------------------------------------


def _default_probe(p: dict) -> dict:
    p = dict(p)
    if "httpGet" in p:
        p["httpGet"] = {**p["httpGet"], "scheme": p["httpGet"].get("scheme", "HTTP")}
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    return p


def _default_container(c: dict) -> dict:
    c = _plain(c)
    for p in c.get("ports", ()):
        p.setdefault("protocol", "TCP")
    for e in c.get("env", ()):
        ref = (e.get("valueFrom") or {}).get("fieldRef")
        if ref is not None:
            ref.setdefault("apiVersion", "v1")
    c.setdefault("resources", {})
    for k in ("livenessProbe", "readinessProbe", "startupProbe"):
        if k in c:
            c[k] = _default_probe(c[k])
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", "Always" if c["image"].endswith(":latest") else "IfNotPresent")
    return c


def _default_pod_spec(spec: dict) -> dict:
    out = _plain(spec)
    out["containers"] = [_default_container(c) for c in spec["containers"]]
    if "initContainers" in spec:
        out["initContainers"] = [_default_container(c) for c in spec["initContainers"]]
    for v in out.get("volumes", ()):
        for src in ("configMap", "secret"):
            if src in v:
                v[src].setdefault("defaultMode", 420)
    out.setdefault("restartPolicy", "Always")
    out.setdefault("terminationGracePeriodSeconds", 30)
    out.setdefault("dnsPolicy", "ClusterFirst")
    if "serviceAccountName" in out:
        out["serviceAccount"] = out["serviceAccountName"]
    out.setdefault("securityContext", {})
    out.setdefault("schedulerName", "default-scheduler")
    return out


def _template(tmpl: dict) -> dict:
    meta = _plain(tmpl.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    return {"metadata": meta, "spec": _default_pod_spec(tmpl["spec"])}


# --------------------------------------------------------------------------
# The sidecar injector (Istio 1.24 sidecar template, REDIRECT mode, prometheus merge on)
# --------------------------------------------------------------------------

_PROBE_SUFFIX = {"livenessProbe": "livez", "readinessProbe": "readyz", "startupProbe": "startupz"}
_ISTIO_VOLUMES = ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
                  "istio-podinfo", "istio-token", "istiod-ca-cert"]


def _named_port(c: dict, port):
    if isinstance(port, int):
        return port
    return next((p["containerPort"] for p in c.get("ports", ()) if p.get("name") == port), port)


def _rewrite_probes(containers: list[dict]) -> tuple[list[dict], dict]:
    """App probes pointed at the agent on 15020, and the ISTIO_KUBE_APP_PROBERS map of the originals."""
    probers: dict = {}
    out = []
    for c in containers:
        c = dict(c)
        for key, suffix in _PROBE_SUFFIX.items():
            p = c.get(key)
            if not p or not ({"httpGet", "tcpSocket", "grpc"} & p.keys()):
                continue
            path = f"/app-health/{c['name']}/{suffix}"
            if "httpGet" in p:
                orig = {**p["httpGet"], "port": _named_port(c, p["httpGet"]["port"])}
                probers[path] = {"httpGet": orig, "timeoutSeconds": p["timeoutSeconds"]}
            else:
                probers[path] = {"tcpSocket": {"port": _named_port(c, p["tcpSocket"]["port"])},
                                 "timeoutSeconds": p["timeoutSeconds"]}
            rest = {k: v for k, v in p.items() if k not in ("httpGet", "tcpSocket", "grpc")}
            c[key] = {"httpGet": {"path": path, "port": 15020, "scheme": "HTTP"}, **rest}
        out.append(c)
    return out, probers


def _fref(path: str) -> dict:
    return {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}


def _proxy(ns: str, name: str, owner: str, apps: list[dict], ann: dict, probers: dict, native: bool,
           hold: bool, api_mount: dict) -> dict:
    ports = [json.dumps(p, separators=(",", ":")) for c in apps for p in c.get("ports", ())]
    env = [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
        {"name": "POD_NAME", "valueFrom": _fref("metadata.name")},
        {"name": "POD_NAMESPACE", "valueFrom": _fref("metadata.namespace")},
        {"name": "INSTANCE_IP", "valueFrom": _fref("status.podIP")},
        {"name": "SERVICE_ACCOUNT", "valueFrom": _fref("spec.serviceAccountName")},
        {"name": "HOST_IP", "valueFrom": _fref("status.hostIP")},
        {"name": "ISTIO_CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.cpu"}}},
        {"name": "PROXY_CONFIG", "value": '{"holdApplicationUntilProxyStarts":true}\n' if hold else "{}\n"},
        {"name": "ISTIO_META_POD_PORTS", "value": "[\n    " + "\n    ,".join(ports) + "\n]"},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(c["name"] for c in apps)},
        {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.memory"}}},
        {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.cpu"}}},
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        {"name": "ISTIO_META_NODE_NAME", "valueFrom": _fref("spec.nodeName")},
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": name},
        {"name": "ISTIO_META_OWNER", "value": f"kubernetes://apis/{owner}/{name}"},
        {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        {"name": "TRUST_DOMAIN", "value": "cluster.local"},
    ]
    prom = {k.split("/", 1)[1]: v for k, v in ann.items() if k.startswith("prometheus.io/")}
    if prom:
        env.append({"name": "ISTIO_PROMETHEUS_ANNOTATIONS", "value": json.dumps(prom, separators=(",", ":"))})
    if probers:
        env.append({"name": "ISTIO_KUBE_APP_PROBERS", "value": json.dumps(probers, separators=(",", ":"))})
    c: dict = {
        "name": "istio-proxy", "image": PROXY_IMAGE,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning",
                 "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "env": env,
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
    }
    if hold and not native:
        c["lifecycle"] = {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    c["readinessProbe"] = {"failureThreshold": 4, "httpGet": {"path": "/healthz/ready", "port": 15021,
                                                              "scheme": "HTTP"},
                           "periodSeconds": 15, "successThreshold": 1, "timeoutSeconds": 3}
    if native:
        c["restartPolicy"] = "Always"
    c["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "privileged": False, "readOnlyRootFilesystem": True, "runAsGroup": 1337,
                            "runAsNonRoot": True, "runAsUser": 1337}
    c["startupProbe"] = {"failureThreshold": 600, "httpGet": {"path": "/healthz/ready", "port": 15021,
                                                              "scheme": "HTTP"},
                         "periodSeconds": 1, "successThreshold": 1, "timeoutSeconds": 3}
    c["terminationMessagePath"] = "/dev/termination-log"
    c["terminationMessagePolicy"] = "File"
    c["imagePullPolicy"] = "IfNotPresent"
    c["volumeMounts"] = [
        {"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
        {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
        {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
        {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
        {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
        {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
        {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
        {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"},
        api_mount,
    ]
    return c


def _istio_init(ann: dict, api_mount: dict) -> dict:
    args = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
            "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"]
    if "traffic.sidecar.istio.io/excludeOutboundPorts" in ann:
        args[-1:-1] = ["-o", ann["traffic.sidecar.istio.io/excludeOutboundPorts"]]
    return {
        "name": "istio-init", "image": PROXY_IMAGE, "args": args,
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "10m", "memory": "40Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
                            "privileged": False, "readOnlyRootFilesystem": False, "runAsGroup": 0,
                            "runAsNonRoot": False, "runAsUser": 0},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent", "volumeMounts": [api_mount],
    }


_ISTIO_VOLUME_DEFS = [
    {"emptyDir": {}, "name": "workload-socket"},
    {"emptyDir": {}, "name": "credential-socket"},
    {"emptyDir": {}, "name": "workload-certs"},
    {"emptyDir": {"medium": "Memory"}, "name": "istio-envoy"},
    {"emptyDir": {}, "name": "istio-data"},
    {"downwardAPI": {"defaultMode": 420, "items": [
        {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}, "path": "labels"},
        {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}, "path": "annotations"}]},
     "name": "istio-podinfo"},
    {"name": "istio-token", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}},
    {"configMap": {"defaultMode": 420, "name": "istio-ca-root-cert"}, "name": "istiod-ca-cert"},
]


def _api_volume(name: str) -> dict:
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    "path": "namespace"}]}}]}}


# --------------------------------------------------------------------------
# Per-namespace builder
# --------------------------------------------------------------------------


class _Ns:
    """One namespace's live objects; its own rng, so namespaces can be built in any order."""

    def __init__(self, seed: int, key: str, index: int, ns: str, mode: str, helm: bool, n_nodes: int, t0: float):
        self.rng = random.Random(f"meshcheck-live/{seed}/{key}")
        self.rv = 1_000_000 + index * 100_000
        self.index, self.ns, self.mode, self.helm, self.n_nodes, self.t0 = index, ns, mode, helm, n_nodes, t0
        self.pod_ips = 0
        self.items: list[dict] = []

    # -- small generators --------------------------------------------------
    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def suffix(self, n: int) -> str:
        return "".join(self.rng.choices(ALNUM, k=n))

    def hexid(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def pod_ip(self) -> str:
        self.pod_ips += 1
        return f"10.{64 + (self.index // 256) % 128}.{self.index % 256}.{self.pod_ips % 254 + 1}"

    def cluster_ip(self) -> str:
        return f"10.96.{self.index % 256}.{self.rng.randrange(2, 254)}"

    def meta(self, obj: dict, t: float, generation: int | None = None, owner: dict | None = None,
             generate_name: str | None = None) -> dict:
        src = obj.get("metadata") or {}
        m: dict = {"name": src["name"]}
        if generate_name:
            m["generateName"] = generate_name
        if self.ns:
            m["namespace"] = self.ns
        m["uid"] = self.uid()
        m["resourceVersion"] = self.next_rv()
        if generation is not None:
            m["generation"] = generation
        m["creationTimestamp"] = _ts(t)
        if src.get("labels"):
            m["labels"] = _plain(src["labels"])
        if src.get("annotations"):
            m["annotations"] = _plain(src["annotations"])
        if owner:
            m["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                     "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                     "controller": True, "blockOwnerDeletion": True}]
        return m

    def applied(self, obj: dict, t: float, generation: int | None = 1) -> dict:
        """obj as created by helm or kubectl apply: server metadata and the applier's managedFields."""
        out = {k: _plain(v) for k, v in obj.items() if k != "metadata"}
        md = self.meta(obj, t, generation)
        if not self.helm:
            last = json.dumps(_plain(obj), separators=(",", ":"), sort_keys=True) + "\n"
            md.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = last
        manager = "helm" if self.helm else "kubectl-client-side-apply"
        spec_like = {k: v for k, v in out.items() if k not in ("apiVersion", "kind", "status")}
        meta_fields = {k: md[k] for k in ("labels", "annotations") if k in md}
        md["managedFields"] = [_mf(manager, obj["apiVersion"], t, _fields({"metadata": meta_fields, **spec_like}))]
        out["metadata"] = md
        return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], **{k: v for k, v in out.items()
                                                                         if k not in ("apiVersion", "kind")}}

    def add_status(self, obj: dict, status: dict, t: float, manager: str = "kube-controller-manager") -> None:
        obj["status"] = status
        obj["metadata"]["managedFields"].append(
            _mf(manager, obj["apiVersion"], t, _fields({"status": status}), "status"))

    # -- pods --------------------------------------------------------------
    def pod_template(self, tmpl: dict, owner: dict, owner_path: str, name: str, extra_labels: dict,
                     restart_policy: str | None = None) -> dict:
        """What every pod of one controller shares: labels, annotations, spec (injected), kcm's fields."""
        labels = {**tmpl["metadata"].get("labels", {}), **extra_labels}
        ann = dict(tmpl["metadata"].get("annotations") or {})
        spec = dict(tmpl["spec"])
        owner_ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                     "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        # The controller's fields are tracked before admission: what the webhook and the ServiceAccount,
        # DefaultTolerationSeconds and Priority plugins add below is owned by no manager.
        kcm = _fields({"metadata": {"annotations": ann, "generateName": "", "labels": labels,
                                    "ownerReferences": [owner_ref]}, "spec": spec})
        labels, ann = dict(labels), dict(ann)
        api_name = f"kube-api-access-{self.suffix(5)}"
        api_mount = {"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": api_name,
                     "readOnly": True}
        apps = [{**c, "volumeMounts": [*c.get("volumeMounts", ()), api_mount]} for c in spec["containers"]]
        inits = [{**c, "volumeMounts": [*c.get("volumeMounts", ()), api_mount]} for c in spec.get("initContainers", ())]
        injected = self.mode == "sidecar" and ann.get("sidecar.istio.io/inject") != "false"
        native = injected and self.rng.random() < 0.3
        if injected:
            app_names = [c["name"] for c in apps]
            probers: dict = {}
            if ann.get("sidecar.istio.io/rewriteAppHTTPProbers") != "false":
                apps, probers = _rewrite_probes(apps)
            hold = "holdApplicationUntilProxyStarts: true" in ann.get("proxy.istio.io/config", "")
            proxy = _proxy(self.ns, name, owner_path, apps, ann, probers, native, hold, api_mount)
            init = _istio_init(ann, api_mount)
            if native:
                inits = [init, proxy, *inits]
            else:
                inits = [init, *inits]
                apps = [proxy, *apps] if hold else [*apps, proxy]
            status_ann = {"initContainers": ["istio-init", "istio-proxy"] if native else ["istio-init"],
                          "containers": None if native else ["istio-proxy"], "volumes": _ISTIO_VOLUMES,
                          "imagePullSecrets": None, "revision": "default"}
            ann.update({"istio.io/rev": "default",
                        "kubectl.kubernetes.io/default-container": app_names[0],
                        "kubectl.kubernetes.io/default-logs-container": app_names[0],
                        "prometheus.io/path": "/stats/prometheus", "prometheus.io/port": "15020",
                        "prometheus.io/scrape": "true",
                        "sidecar.istio.io/status": json.dumps(status_ann, separators=(",", ":"))})
            labels.update({"security.istio.io/tlsMode": "istio",
                           "service.istio.io/canonical-name": labels.get("app.kubernetes.io/name", name),
                           "service.istio.io/canonical-revision": labels.get("version", "latest")})
        elif self.mode == "ambient":
            ann["ambient.istio.io/redirection"] = "enabled"
        spec["containers"] = apps
        if inits:
            spec["initContainers"] = inits
        else:
            spec.pop("initContainers", None)
        spec["volumes"] = [*spec.get("volumes", ()), *(_ISTIO_VOLUME_DEFS if injected else ()), _api_volume(api_name)]
        if restart_policy:
            spec["restartPolicy"] = restart_policy
        spec.setdefault("serviceAccountName", "default")
        spec["serviceAccount"] = spec["serviceAccountName"]
        spec["enableServiceLinks"] = True
        spec["priority"] = 0
        spec["preemptionPolicy"] = "PreemptLowerPriority"
        spec["tolerations"] = [*spec.get("tolerations", ()),
                               {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                "tolerationSeconds": 300},
                               {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable",
                                "operator": "Exists", "tolerationSeconds": 300}]
        ordered = {"containers": spec.pop("containers"), **spec}
        return {"labels": labels, "annotations": ann, "spec": ordered, "owner_ref": owner_ref, "kcm": kcm,
                "injected": injected, "native": native}

    def pod(self, pt: dict, name: str, generate_name: str, t: float, phase: str = "Running",
            spec_extra: dict | None = None, labels_extra: dict | None = None, node: int | None = None) -> dict:
        if node is None:
            node = self.rng.randrange(self.n_nodes)
        spec = {**pt["spec"], "nodeName": _node_name(node), **(spec_extra or {})}
        labels = {**pt["labels"], **(labels_extra or {})}
        md = {"name": name, "generateName": generate_name, "namespace": self.ns, "uid": self.uid(),
              "resourceVersion": self.next_rv(), "creationTimestamp": _ts(t), "labels": labels,
              "annotations": pt["annotations"], "ownerReferences": [pt["owner_ref"]]}
        status = self.pod_status(spec, node, t, phase)
        md["managedFields"] = [_mf("kube-controller-manager", "v1", t, pt["kcm"]),
                               _mf("kubelet", "v1", t + 9, _fields({"status": status}), "status")]
        return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}

    def pod_status(self, spec: dict, node: int, t: float, phase: str) -> dict:
        started = t + self.rng.randint(3, 40)
        ip = self.pod_ip()
        host = _node_ip(node)
        done = phase == "Succeeded"
        proxy_only = phase == "Running" and spec.get("restartPolicy") in ("Never", "OnFailure")  # stuck Job pod
        ready = "False" if (done or proxy_only) else "True"
        conds = [{"type": "PodReadyToStartContainers", "status": "False" if done else "True"},
                 {"type": "Initialized", "status": "True"},
                 {"type": "Ready", "status": ready},
                 {"type": "ContainersReady", "status": ready},
                 {"type": "PodScheduled", "status": "True"}]
        for c in conds:
            c["lastProbeTime"] = None
            c["lastTransitionTime"] = _ts(started if c["type"] in ("Ready", "ContainersReady") else t + 1)
            if c["status"] == "False":
                c["reason"] = "PodCompleted" if done else "ContainersNotReady"
        statuses = []
        for c in sorted(spec["containers"], key=lambda c: c["name"]):
            is_proxy = c["name"] == "istio-proxy"
            finished = done or (proxy_only and not is_proxy)
            statuses.append(self.container_status(c, started, finished, not finished))
        inits = []
        for c in spec.get("initContainers", ()):
            sidecar = c.get("restartPolicy") == "Always"
            inits.append(self.container_status(c, t + 2, not sidecar or done, sidecar and not done, init=True))
        st: dict = {"phase": phase, "conditions": conds, "hostIP": host, "hostIPs": [{"ip": host}],
                    "podIP": ip, "podIPs": [{"ip": ip}], "startTime": _ts(t + 1)}
        if inits:
            st["initContainerStatuses"] = inits
        st["containerStatuses"] = statuses
        st["qosClass"] = _qos(spec)
        return st

    def container_status(self, c: dict, started: float, finished: bool, ready: bool, init: bool = False) -> dict:
        image = c["image"]
        repo = image.rsplit(":", 1)[0]
        digest = _image_digest(image) if image.startswith("docker.io/istio") else self.hexid()
        restarts = 0
        if not init and not finished:
            r = self.rng.random()
            restarts = 0 if r < 0.85 else self.rng.randint(1, 3) if r < 0.95 else self.rng.randint(4, 20) \
                if r < 0.99 else self.rng.randint(50, 300)
        cid = f"containerd://{self.hexid()}"
        s: dict = {"containerID": cid, "image": image, "imageID": f"{repo}@sha256:{digest}"}
        if restarts:
            reason, code = self.rng.choice([("OOMKilled", 137), ("Error", 1), ("Error", 143)])
            s["lastState"] = {"terminated": {"containerID": f"containerd://{self.hexid()}", "exitCode": code,
                                             "finishedAt": _ts(started + 3000), "reason": reason,
                                             "startedAt": _ts(started + 1200)}}
        else:
            s["lastState"] = {}
        s["name"] = c["name"]
        s["ready"] = ready
        s["restartCount"] = restarts
        s["started"] = not finished
        if finished:
            s["state"] = {"terminated": {"containerID": cid, "exitCode": 0, "finishedAt": _ts(started + 30),
                                         "reason": "Completed", "startedAt": _ts(started)}}
        else:
            s["state"] = {"running": {"startedAt": _ts(started + (3600 if restarts else 0))}}
        mounts = []  # reported since 1.31 (RecursiveReadOnlyMounts)
        for m in c.get("volumeMounts", ()):
            ms = {"mountPath": m["mountPath"], "name": m["name"]}
            if m.get("readOnly"):
                ms["readOnly"] = True
            ms["recursiveReadOnly"] = "Disabled"
            mounts.append(ms)
        if mounts:
            s["volumeMounts"] = mounts
        return s

    # -- workloads ---------------------------------------------------------
    def workload(self, obj: dict, t: float) -> None:
        kind = obj["kind"]
        name = obj["metadata"]["name"]
        src = dict(obj)
        spec = dict(obj["spec"])
        if kind == "Deployment":
            spec["replicas"] = min(spec["replicas"], 3)
        src["spec"] = spec
        getattr(self, "_" + kind.lower())(src, name, t)

    def _deployment(self, obj: dict, name: str, t: float) -> None:
        spec = obj["spec"]
        two = self.rng.random() < 0.5
        t_new = t + (self.rng.randint(1, 30) * DAY if two else 0)
        d = self.applied(obj, t, 2 if two else 1)
        s = d["spec"]
        s["template"] = _template(spec["template"])
        s.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                              "maxUnavailable": "25%"}})
        s.setdefault("revisionHistoryLimit", 10)
        s["progressDeadlineSeconds"] = 600
        d["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "2" if two else "1"
        self.items.append(d)
        n = s["replicas"]
        rss = []
        new_rs = ""
        if two:
            old_tmpl = json.loads(json.dumps(s["template"]))
            c0 = old_tmpl["spec"]["containers"][0]
            c0["image"] = c0["image"].rsplit(".", 1)[0] + ".0"
            rss.append((old_tmpl, 0, "1", t))
        rss.append((s["template"], n, "2" if two else "1", t_new))
        for tmpl, replicas, rev, t_rs in rss:
            h = self.suffix(10)
            rs_name = new_rs = f"{name}-{h}"
            tmpl = {"metadata": {**tmpl["metadata"], "labels": {**tmpl["metadata"].get("labels", {}),
                                                                "pod-template-hash": h}},
                    "spec": tmpl["spec"]}
            rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": self.meta({"metadata": {"name": rs_name, "labels": {
                      **s["selector"]["matchLabels"], "pod-template-hash": h}, "annotations": {
                      "deployment.kubernetes.io/desired-replicas": str(n),
                      "deployment.kubernetes.io/max-replicas": str(n + max(1, (n + 3) // 4)),
                      "deployment.kubernetes.io/revision": rev}}}, t_rs, 2 if replicas == 0 and two else 1, d),
                  "spec": {"replicas": replicas,
                           "selector": {"matchLabels": {**s["selector"]["matchLabels"], "pod-template-hash": h}},
                           "template": tmpl}}
            rs["metadata"]["managedFields"] = [_mf("kube-controller-manager", "apps/v1", t_rs, _fields({
                "metadata": {k: rs["metadata"][k] for k in ("annotations", "labels", "ownerReferences")},
                "spec": rs["spec"]}))]
            st = {"replicas": replicas, "observedGeneration": rs["metadata"]["generation"]}
            if replicas:
                st.update(fullyLabeledReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas)
            self.add_status(rs, st, t_rs + 60)
            self.items.append(rs)
            if replicas:
                pt = self.pod_template(tmpl, rs, f"apps/v1/namespaces/{self.ns}/deployments", name, {})
                for _ in range(replicas):
                    self.items.append(self.pod(pt, f"{rs_name}-{self.suffix(5)}", f"{rs_name}-",
                                               t_rs + self.rng.randint(0, 7200)))
        self.add_status(d, {
            "observedGeneration": d["metadata"]["generation"], "replicas": n, "updatedReplicas": n,
            "readyReplicas": n, "availableReplicas": n,
            "conditions": [
                {"type": "Available", "status": "True", "lastUpdateTime": _ts(t_new + 60),
                 "lastTransitionTime": _ts(t_new + 60), "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability."},
                {"type": "Progressing", "status": "True", "lastUpdateTime": _ts(t_new + 90),
                 "lastTransitionTime": _ts(t), "reason": "NewReplicaSetAvailable",
                 "message": f'ReplicaSet "{new_rs}" has successfully progressed.'}]}, t_new + 90)

    def _statefulset(self, obj: dict, name: str, t: float) -> None:
        d = self.applied(obj, t)
        s = d["spec"]
        s["template"] = _template(obj["spec"]["template"])
        s["revisionHistoryLimit"] = 10
        s["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        s["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Retain", "whenScaled": "Retain"}
        for vct in s.get("volumeClaimTemplates", ()):
            vct.update(apiVersion="v1", kind="PersistentVolumeClaim")
            vct["spec"]["volumeMode"] = "Filesystem"
            vct["status"] = {"phase": "Pending"}
        self.items.append(d)
        rev = f"{name}-{self.suffix(10)}"
        n = s["replicas"]
        pt = self.pod_template(s["template"], d, f"apps/v1/namespaces/{self.ns}/statefulsets", name,
                               {"controller-revision-hash": rev})
        base_volumes = pt["spec"]["volumes"]
        for k in range(n):
            pod_name = f"{name}-{k}"
            self.items.append(self.pod(
                pt, pod_name, f"{name}-", t + 30 * k + self.rng.randint(0, 600),
                spec_extra={"hostname": pod_name, "subdomain": s.get("serviceName", name),
                            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-{pod_name}"}},
                                        *base_volumes]},
                labels_extra={"apps.kubernetes.io/pod-index": str(k),
                              "statefulset.kubernetes.io/pod-name": pod_name}))
        self.add_status(d, {"observedGeneration": 1, "replicas": n, "readyReplicas": n, "currentReplicas": n,
                            "updatedReplicas": n, "availableReplicas": n, "currentRevision": rev,
                            "updateRevision": rev, "collisionCount": 0}, t + 300)

    def _job_obj(self, job: dict, t: float, owner: dict | None) -> dict:
        """A Job (applied, or created by its CronJob) with its one pod; status as the pod ended up."""
        if owner is None:
            j = self.applied(job, t)
        else:
            j = {"apiVersion": "batch/v1", "kind": "Job", "metadata": self.meta(job, t, 1, owner),
                 "spec": _plain(job["spec"])}
            j["metadata"]["managedFields"] = [_mf("kube-controller-manager", "batch/v1", t, _fields({
                "metadata": {k: j["metadata"][k] for k in ("annotations", "labels", "ownerReferences")
                             if k in j["metadata"]}, "spec": j["spec"]}))]
        s = j["spec"]
        uid = j["metadata"]["uid"]
        name = j["metadata"]["name"]
        job_labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                      "controller-uid": uid, "job-name": name}
        tmpl = _template(job["spec"]["template"])
        tmpl["metadata"]["labels"] = {**tmpl["metadata"].get("labels", {}), **job_labels}
        s.update(parallelism=1, completions=1, completionMode="NonIndexed", suspend=False,
                 podReplacementPolicy="TerminatingOrFailed", manualSelector=False,
                 selector={"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}, template=tmpl)
        s.setdefault("backoffLimit", 6)
        self.items.append(j)
        pt = self.pod_template(tmpl, j, f"batch/v1/namespaces/{self.ns}/jobs", name, {})
        stuck = pt["injected"] and not pt["native"]  # the classic sidecar never exits, so the Job never ends
        self.items.append(self.pod(pt, f"{name}-{self.suffix(5)}", f"{name}-", t + 1,
                                   "Running" if stuck else "Succeeded"))
        if stuck:
            st = {"startTime": _ts(t), "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}}
        else:
            st = {"conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": _ts(t + 70),
                 "lastTransitionTime": _ts(t + 70), "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods"},
                {"type": "Complete", "status": "True", "lastProbeTime": _ts(t + 70),
                 "lastTransitionTime": _ts(t + 70), "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods"}],
                "startTime": _ts(t), "completionTime": _ts(t + 70), "succeeded": 1, "ready": 0, "terminating": 0,
                "uncountedTerminatedPods": {}}
        self.add_status(j, st, t + 70)
        return j

    def _job(self, obj: dict, name: str, t: float) -> None:
        self._job_obj(obj, t, None)

    def _cronjob(self, obj: dict, name: str, t: float) -> None:
        cj = self.applied(obj, t)
        cj["spec"]["suspend"] = False
        cj["spec"]["jobTemplate"]["metadata"] = {"creationTimestamp": None}
        cj["spec"]["jobTemplate"]["spec"]["template"] = _template(obj["spec"]["jobTemplate"]["spec"]["template"])
        self.items.append(cj)
        t_job = t + self.rng.randint(1, 20) * DAY
        sched = int(t_job // 60)
        job = {"metadata": {"name": f"{name}-{sched}", "labels": _plain(
                   obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels", {})),
                            "annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp": _ts(sched * 60)}},
               "spec": obj["spec"]["jobTemplate"]["spec"]}
        j = self._job_obj(job, t_job, cj)
        st = {"lastScheduleTime": _ts(sched * 60)}
        if "completionTime" in j["status"]:
            st["lastSuccessfulTime"] = j["status"]["completionTime"]
        if "active" in j["status"]:
            st["active"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": j["metadata"]["name"],
                             "namespace": self.ns, "resourceVersion": j["metadata"]["resourceVersion"],
                             "uid": j["metadata"]["uid"]}]
        self.add_status(cj, st, t_job + 70)

    def _daemonset(self, obj: dict, name: str, t: float) -> None:
        d = self.applied(obj, t)
        s = d["spec"]
        s["template"] = _template(obj["spec"]["template"])
        s["revisionHistoryLimit"] = 10
        s["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
        self.items.append(d)
        rev = self.suffix(10)
        pt = self.pod_template(s["template"], d, f"apps/v1/namespaces/{self.ns}/daemonsets", name,
                               {"controller-revision-hash": rev, "pod-template-generation": "1"})
        for node in range(self.n_nodes):
            self.items.append(self.pod(pt, f"{name}-{self.suffix(5)}", f"{name}-", t + 10 + node, node=node))
        n = self.n_nodes
        self.add_status(d, {"currentNumberScheduled": n, "desiredNumberScheduled": n, "numberAvailable": n,
                            "numberMisscheduled": 0, "numberReady": n, "observedGeneration": 1,
                            "updatedNumberScheduled": n}, t + 300)

    # -- others ------------------------------------------------------------
    def service(self, obj: dict, t: float) -> None:
        svc = self.applied(obj, t, None)
        s = svc["spec"]
        for p in s.get("ports", ()):
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p["port"])
        ip = s.get("clusterIP") or self.cluster_ip()
        s["clusterIP"] = ip
        s["clusterIPs"] = [ip]
        s.setdefault("type", "ClusterIP")
        s["sessionAffinity"] = "None"
        s["ipFamilies"] = ["IPv4"]
        s["ipFamilyPolicy"] = "SingleStack"
        s["internalTrafficPolicy"] = "Cluster"
        svc["status"] = {"loadBalancer": {}}
        self.items.append(svc)

    def configmap(self, obj: dict, t: float, manager: str | None = None) -> None:
        if manager:
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self.meta(obj, t), "data": obj["data"]}
            cm["metadata"]["managedFields"] = [_mf(manager, "v1", t, _fields({"data": obj["data"], "metadata": {
                k: cm["metadata"][k] for k in ("labels", "annotations") if k in cm["metadata"]}}))]
        else:
            cm = self.applied(obj, t, None)
        self.items.append(cm)

    def standard_configmaps(self, t: float) -> None:
        self.configmap({"metadata": {"name": "istio-ca-root-cert", "labels": {"istio.io/config": "true"}},
                        "data": {"root-cert.pem": CA_PEM}}, t + 5, "pilot-discovery")
        self.configmap({"metadata": {"name": "kube-root-ca.crt", "annotations": {
            "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver "
                                         "when using internal endpoints such as the internal service IP or "
                                         "kubernetes.default.svc. No other usage is guaranteed across "
                                         "distributions of Kubernetes clusters."}},
                        "data": {"ca.crt": CA_PEM}}, t + 1, "kube-controller-manager")

    def istio_crs(self, services: list[dict], t: float, has_sidecar: bool = False) -> None:
        """A few Istio CRs, as a team new to the mesh writes them (no namespace Sidecar if it has one)."""
        rng, ns = self.rng, self.ns
        crs: list[dict] = []
        for host in rng.sample(sorted(EXTERNAL_PORTS), rng.randint(0, 2)):
            proto = rng.choice(["TLS", "TLS", "HTTPS", "HTTP"])
            crs.append({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                        "metadata": {"name": host.replace(".", "-"), "namespace": ns},
                        "spec": {"hosts": [host], "location": "MESH_EXTERNAL", "resolution": "DNS",
                                 "ports": [{"number": EXTERNAL_PORTS[host], "name": proto.lower(),
                                            "protocol": proto}]}})
        for svc in rng.sample(services, min(len(services), rng.randint(0, 3))):
            sname = svc["metadata"]["name"]
            tp: dict = {"connectionPool": {"http": {"http1MaxPendingRequests": 100, "maxRequestsPerConnection": 10},
                                           "tcp": {"maxConnections": 100}},
                        "outlierDetection": {"consecutive5xxErrors": 5, "interval": "30s", "baseEjectionTime": "60s"}}
            if rng.random() < 0.3:
                tp["tls"] = {"mode": rng.choice(["ISTIO_MUTUAL", "DISABLE", "SIMPLE"])}
            crs.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                        "metadata": {"name": sname, "namespace": ns},
                        "spec": {"host": f"{sname}.{ns}.svc.cluster.local", "trafficPolicy": tp,
                                 "subsets": [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]}})
        if rng.random() < 0.3 and not has_sidecar:
            eg: dict = {"egress": [{"hosts": ["./*", "istio-system/*"]}]}
            if rng.random() < 0.5:
                eg["outboundTrafficPolicy"] = {"mode": "REGISTRY_ONLY"}
            crs.append({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
                        "metadata": {"name": "default", "namespace": ns}, "spec": eg})
        if self.mode == "sidecar" and rng.random() < 0.5:
            crs.append({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                        "metadata": {"name": "default", "namespace": ns}, "spec": {"mtls": {"mode": "STRICT"}}})
        if services and rng.random() < 0.2:
            svc = rng.choice(services)
            crs.append({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                        "metadata": {"name": f"{svc['metadata']['name']}-permissive", "namespace": ns},
                        "spec": {"selector": {"matchLabels": svc["spec"].get("selector", {})},
                                 "mtls": {"mode": "STRICT"},
                                 "portLevelMtls": {str(svc["spec"]["ports"][0].get("targetPort", 80)):
                                                   {"mode": "PERMISSIVE"}}}})
        for cr in crs:
            self.items.append(self.applied(cr, t + rng.randint(60, 30 * DAY)))


def _node_name(k: int) -> str:
    return f"worker-{k:04d}"


def _node_ip(k: int) -> str:
    return f"10.0.{k // 250}.{k % 250 + 4}"


def _image_digest(image: str) -> str:
    return f"{random.Random(image).getrandbits(256):064x}"


def _qos(spec: dict) -> str:
    res = [c.get("resources") or {} for c in spec["containers"]]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    for r in res:
        lim, req = r.get("limits") or {}, r.get("requests") or {}
        if not (lim.get("cpu") and lim.get("memory")) or any(req.get(k, lim[k]) != lim[k] for k in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"


def _ns_mode(labels: dict) -> str:
    if labels.get("istio-injection") == "enabled":
        return "sidecar"
    return "ambient" if labels.get("istio.io/dataplane-mode") == "ambient" else "none"


# --------------------------------------------------------------------------
# Namespaces
# --------------------------------------------------------------------------


#: the Istio kinds generate.py's mesh profile writes, applied as they are
MESH_KINDS = ("ServiceEntry", "VirtualService", "Sidecar", "Gateway", "DestinationRule")


def _app_namespace(seed: int, i: int, ns: str, objs: list[dict], n_nodes: int) -> tuple[dict, list[dict]]:
    """(live Namespace, the namespace's objects) for one generated namespace."""
    ns_obj = objs[0]
    t0 = BASE_TIME + i * 3600
    g = _Ns(seed, f"ns/{i}", i, ns, _ns_mode(ns_obj["metadata"].get("labels") or {}), i % 3 != 2, n_nodes, t0)
    g.standard_configmaps(t0)
    services = []
    has_sidecar = False
    for k, obj in enumerate(objs[1:]):
        t = t0 + 60 + 7 * k
        kind = obj["kind"]
        if kind == "Service":
            g.service(obj, t)
            services.append(obj)
        elif kind == "ConfigMap":
            g.configmap(obj, t)
        elif kind in ("Deployment", "StatefulSet", "Job", "CronJob"):
            g.workload(obj, t)
        elif kind in MESH_KINDS:  # profile mesh
            g.items.append(g.applied(obj, t + 600))
            has_sidecar = has_sidecar or (kind == "Sidecar" and not obj["spec"].get("workloadSelector"))
    g.istio_crs(services, t0 + 600, has_sidecar)
    return _namespace_obj(ns_obj, seed, i, t0), g.items


def _namespace_obj(obj: dict, seed: int, i: int, t: float) -> dict:
    g = _Ns(seed, f"namespace/{obj['metadata']['name']}", i, "", "none", i % 3 != 2, 1, t)
    labels = {**(obj["metadata"].get("labels") or {}), "kubernetes.io/metadata.name": obj["metadata"]["name"]}
    n = g.applied({**obj, "metadata": {**obj["metadata"], "labels": labels}}, t, None)
    n["spec"] = {"finalizers": ["kubernetes"]}
    n["status"] = {"phase": "Active"}
    return n


def _node(k: int, t: float) -> dict:
    name = _node_name(k)
    zone = "abc"[k % 3]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": name, "uid": str(uuid.UUID(int=random.Random(name).getrandbits(128), version=4)),
        "resourceVersion": str(900_000 + k), "creationTimestamp": _ts(t),
        "labels": {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                   "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                   "node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/region": "eu-west-1",
                   "topology.kubernetes.io/zone": f"eu-west-1{zone}"},
        "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                        "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": f"10.244.{k % 256}.0/24", "podCIDRs": [f"10.244.{k % 256}.0/24"],
                 "providerID": f"aws:///eu-west-1{zone}/i-0{k:016x}"},
        "status": {
            "addresses": [{"address": _node_ip(k), "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
            "allocatable": {"cpu": "7910m", "ephemeral-storage": "95551679124", "memory": "31619464Ki", "pods": "110"},
            "capacity": {"cpu": "8", "ephemeral-storage": "103705600Ki", "memory": "32327048Ki", "pods": "110"},
            "conditions": [{"type": t_, "status": "False" if t_ != "Ready" else "True",
                            "lastHeartbeatTime": _ts(BASE_TIME + 90 * DAY), "lastTransitionTime": _ts(t),
                            "reason": r, "message": m} for t_, r, m in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ("Ready", "KubeletReady", "kubelet is posting ready status"))],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "bootID": str(uuid.UUID(int=k + 1)),
                         "containerRuntimeVersion": "containerd://1.7.23", "kernelVersion": "6.1.119",
                         "kubeProxyVersion": "v1.32.0", "kubeletVersion": "v1.32.0",
                         "machineID": f"{k:032x}", "operatingSystem": "linux", "osImage": "Ubuntu 22.04.5 LTS",
                         "systemUUID": str(uuid.UUID(int=k + 7))}}}


def _system_workload(kind: str, ns: str, name: str, image: str, labels: dict, ports: list[dict],
                     replicas: int | None = None, args: list[str] | None = None) -> dict:
    c: dict = {"name": "discovery" if name == "istiod" else name, "image": image}
    if args:
        c["args"] = args
    c["ports"] = ports
    c["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}}
    if ports and kind == "Deployment":
        c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": ports[0]["containerPort"]},
                               "initialDelaySeconds": 1, "periodSeconds": 3}
    spec: dict = {"selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}},
                               "spec": {"containers": [c], "serviceAccountName": name,
                                        "priorityClassName": "system-node-critical" if kind == "DaemonSet"
                                        else "system-cluster-critical"}}}
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": spec}


def _system_namespaces(seed: int, n_nodes: int, n_app: int,
                       mesh_objects: list[dict] = ()) -> list[tuple[str, dict, list[dict]]]:
    """default, kube-system and istio-system (with ``mesh_objects``, the mesh profile's root objects)."""
    out = []
    t = BASE_TIME - 7 * DAY
    for k, ns in enumerate(("default", "kube-system", "istio-system")):
        i = n_app + k
        g = _Ns(seed, ns, i, ns, "none", True, n_nodes, t)
        g.standard_configmaps(t)
        if ns == "default":
            g.service({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "labels": {
                "component": "apiserver", "provider": "kubernetes"}}, "spec": {
                "clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}}, t)
        elif ns == "kube-system":
            g.workload(_system_workload("Deployment", ns, "coredns", "registry.k8s.io/coredns/coredns:v1.11.3",
                                        {"k8s-app": "kube-dns"}, [{"name": "dns", "containerPort": 53,
                                                                   "protocol": "UDP"}], 2,
                                        ["-conf", "/etc/coredns/Corefile"]), t)
            g.workload(_system_workload("DaemonSet", ns, "kube-proxy", "registry.k8s.io/kube-proxy:v1.32.0",
                                        {"k8s-app": "kube-proxy"}, [],
                                        args=["--config=/var/lib/kube-proxy/config.conf"]), t)
            g.service({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "labels": {
                "k8s-app": "kube-dns"}}, "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"},
                                                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                                                            {"name": "dns-tcp", "port": 53}]}}, t)
        else:
            rev = {"app": "istiod", "istio": "pilot", "istio.io/rev": "default", "release": "istio"}
            g.workload(_system_workload("Deployment", ns, "istiod", f"docker.io/istio/pilot:{ISTIO}", rev, [
                {"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 15010, "protocol": "TCP"},
                {"containerPort": 15017, "protocol": "TCP"}], 2,
                ["discovery", "--monitoringAddr=:15014", "--log_output_level=default:info", "--domain",
                 "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"]), t)
            g.service({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "istiod", "labels": rev},
                       "spec": {"selector": {"app": "istiod", "istio": "pilot"}, "ports": [
                           {"name": "grpc-xds", "port": 15010}, {"name": "https-dns", "port": 15012},
                           {"name": "https-webhook", "port": 443, "targetPort": 15017},
                           {"name": "http-monitoring", "port": 15014}]}}, t)
            g.configmap({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "labels": {
                "install.operator.istio.io/owning-resource": "unknown", "istio.io/rev": "default",
                "operator.istio.io/component": "Pilot", "release": "istio"}},
                "data": {"mesh": MESH, "meshNetworks": "networks: {}"}}, t)
            g.workload(_system_workload("DaemonSet", ns, "ztunnel", f"docker.io/istio/ztunnel:{ISTIO}",
                                        {"app": "ztunnel"}, [{"name": "ztunnel-stats", "containerPort": 15020}],
                                        args=["proxy", "ztunnel"]), t)
            g.workload(_system_workload("DaemonSet", ns, "istio-cni-node", f"docker.io/istio/install-cni:{ISTIO}",
                                        {"k8s-app": "istio-cni-node"}, [{"name": "metrics", "containerPort": 15014}],
                                        args=["--log_output_level=info"]), t)
            g.items.append(g.applied({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                                      "metadata": {"name": "default"}, "spec": {"mtls": {"mode": "PERMISSIVE"}}}, t))
            for obj in mesh_objects:
                if obj["kind"] == "Deployment":
                    g.workload(obj, t)
                elif obj["kind"] == "Service":
                    g.service(obj, t)
                else:
                    g.items.append(g.applied(obj, t + 600))
        out.append((ns, _namespace_obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                                       seed, i, t), g.items))
    return out


def _list(items: list[dict]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items},
                      separators=(",", ":"))


def _count(items: list[dict], counts: Counter) -> None:
    for it in items:
        counts[it["kind"]] += 1


def write_live(out_dir: str, workloads: int, seed: int = 0, profile: str = "workloads") -> tuple[Counter, int]:
    """Write the live state for ``workloads`` workloads of ``profile`` (generate.PROFILES) under ``out_dir``:
    (objects per kind, bytes written)."""
    if workloads < 1:
        raise ValueError("workloads must be >= 1")
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith(".json"):
            os.remove(os.path.join(out_dir, f))
    n_nodes = max(3, workloads // WORKLOADS_PER_NODE)
    n_app = (workloads + NS_PER - 1) // NS_PER
    counts: Counter = Counter()
    total = 0
    cluster = [_node(k, BASE_TIME - 8 * DAY + 60 * k) for k in range(n_nodes)]

    def write(fname: str, items: list[dict]) -> None:
        nonlocal total
        text = _list(items)
        with open(os.path.join(out_dir, fname), "w", encoding="utf-8") as fh:
            fh.write(text)
        total += len(text)  # ASCII: json.dumps escapes the rest
        _count(items, counts)

    root = mesh_root_objects(workloads, seed) if profile == "mesh" else []
    for ns, ns_obj, items in _system_namespaces(seed, n_nodes, n_app, root):
        cluster.append(ns_obj)
        write(f"ns-{ns}.json", items)
    for i, ns, objs in documents(workloads, seed, profile):
        ns_obj, items = _app_namespace(seed, i, ns, objs, n_nodes)
        cluster.append(ns_obj)
        write(f"ns-{i:03d}-{ns}.json", items)
    write("cluster.json", cluster)
    return counts, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--workloads", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", choices=("workloads", "mesh"), default="workloads")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    counts, total = write_live(args.out_dir, args.workloads, args.seed, args.profile)
    took = time.perf_counter() - t0
    width = max(map(len, counts))
    for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {kind:{width}} {n:>8,}")
    print(f"{sum(counts.values()):,} objects, {args.workloads:,} workloads, {total:,} bytes ({total / 1e6:.1f} MB) "
          f"of JSON in {args.out_dir} ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
