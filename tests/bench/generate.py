#!/usr/bin/env python3
"""Synthetic Kubernetes manifests for the meshcheck benchmark.

    python tests/bench/generate.py OUT_DIR --workloads 1000 [--seed 0] [--profile mesh]

or, from Python::

    from generate import generate
    files = generate("/tmp/bench-1k", 1000, seed=0)
    files = generate("/tmp/bench-mesh-1k", 1000, seed=0, profile="mesh")

Writes one multi-document YAML file per namespace (``ns-<i>-<name>.yaml``),
about 50 workloads each.  Every namespace file holds the Namespace object,
then per workload: a Deployment / StatefulSet / Job / CronJob (about
60/20/10/10), its Service, often a ServiceAccount and sometimes a ConfigMap
or a PodDisruptionBudget.  The output is deterministic for a given
``(workloads, seed)`` and is about 3.4 MB of YAML per 1,000 workloads.

What is in there, on purpose:

* Namespaces: most labelled ``istio-injection: enabled``; about one in ten
  with no labels at all; about one in ten ``istio.io/dataplane-mode: ambient``.
* Service ports: most named by Istio's rules (``http``, ``http-metrics``,
  ``grpc-api``, ``tcp-db``, ``https``, ...), about 15% of Services with a
  pitfall: an unnamed port, ``web``, ``appport``, TLS port 443 named ``http``,
  an unnamed Redis/Postgres port, or two Service ports on one targetPort with
  different names (``http`` and ``https``).
* Containers with env (plain values, quoted YAML-1.1 look-alikes such as
  ``"yes"``/``"on"``/``"0644"``, secretKeyRef / configMapKeyRef / fieldRef),
  resources, httpGet / tcpSocket / exec probes, init containers that wait for a
  database, sidecar-ish helper containers, volumes with ``defaultMode: 0644``
  (an *unquoted octal*, 420 in YAML 1.1 and 644 in YAML 1.2), pod-template
  annotations (prometheus, ``sidecar.istio.io/inject``,
  ``proxy.istio.io/config`` with holdApplicationUntilProxyStarts,
  ``traffic.sidecar.istio.io/excludeOutboundPorts``), Helm-style labels.
* Stream syntax seen in rendered charts: ``# Source:`` comments, empty
  documents, files with and without a leading ``---``, flow sequences,
  literal block scalars, ``creationTimestamp: null``.

Profile ``mesh`` (``--profile mesh``) scales the mesh, not only the workloads: the same workloads
(same rng, same objects), each also naming 1-3 external vendor APIs in its env, plus per namespace
ServiceEntries, mesh-bound VirtualServices and Sidecars with ``egress.hosts``, and a root namespace
(``ns-istio-system.yaml``: the mesh ConfigMap, an egress gateway, Gateway, root Sidecar and the shared
catalogue of ServiceEntries visible everywhere).  Sizes from ``mesh_size``: 1,000 ServiceEntries and
500 VirtualServices at 1,000 workloads, twice that at 10,000 (the mesh grows with the teams, slower
than the workloads); a fifth of the entries in the root namespace.  What is in there:

* ServiceEntries: exact hosts (``api.<vendor>``), wildcards (``*.<vendor>``, resolution NONE),
  several hosts, TCP databases with ``addresses`` (CIDRs), plain HTTP; ``exportTo`` unset, ``*``,
  ``.``, lists of namespaces, ``~``; a few pitfalls (an IP in hosts, ``protocol: postgres``,
  wildcard with DNS resolution, one host with two protocols).  Workloads dial hosts that entries
  cover exactly, by wildcard, on a missing port, or not at all, in their own or other namespaces.
* VirtualServices, all bound to ``mesh``: via the egress gateway (``gateways: [mesh, istio-system/
  istio-egressgateway]``, the mesh route to ``istio-egressgateway.istio-system.svc.cluster.local``),
  timeouts and retries for external hosts, canary subsets of in-cluster Services.
* Sidecars: most namespaces have a selector-less one whose ``egress.hosts`` import ``./*`` and all
  or only part of ``istio-system/*`` (entries hidden from them), some REGISTRY_ONLY, some with a
  ``workloadSelector``; the root Sidecar applies to the rest.

Stdlib only: the YAML text is written by a small emitter here (much faster
than PyYAML's dumper); every string that YAML 1.1 or 1.2 could read as
anything but a string is double-quoted.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
from collections.abc import Iterator

__all__ = ["PROFILES", "documents", "emit_document", "generate", "is_raw_octal", "mesh_root_objects", "mesh_size"]

# --------------------------------------------------------------------------
# A small block-style YAML emitter.
# --------------------------------------------------------------------------


class Flow(list):
    """A list emitted in flow style: ``["a", "b"]``."""


class Literal(str):
    """A string emitted as a literal block scalar (``|`` / ``|-``)."""


_PLAIN_OK = re.compile(r"[A-Za-z0-9/][A-Za-z0-9_./:@%-]*\Z")
# Anything either YAML 1.1 (PyYAML, go-yaml v2) or 1.2 might resolve to a
# non-string: booleans, nulls, numbers, timestamps, sexagesimals, inf/nan.
_RESERVED = re.compile(
    r"""(?ix)(
      y|n|yes|no|on|off|true|false|null|~
    | [-+]?\.?(inf|nan)
    | [-+]?[0-9][0-9_:.eExXoObB+-]*      # numbers, octal, hex, 1_000, 12:30
    | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*  # timestamps
    )\Z"""
)


def _scalar(v) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        if _PLAIN_OK.match(v) and not _RESERVED.match(v) and ": " not in v:
            return v
        return json.dumps(v)
    raise TypeError(f"cannot emit {type(v).__name__}")


class _Raw(str):
    """Pre-rendered scalar text (e.g. an unquoted octal ``0644``)."""


def _emit_value(v, indent: int, out: list) -> None:
    """Emit the value that follows ``key:`` or ``- ``; out gets text pieces."""
    pad = " " * indent
    if isinstance(v, dict):
        if not v:
            out.append(" {}\n")
            return
        out.append("\n")
        _emit_map(v, indent, out)
    elif isinstance(v, Flow):
        out.append(" [" + ", ".join(_scalar(x) for x in v) + "]\n")
    elif isinstance(v, list):
        if not v:
            out.append(" []\n")
            return
        out.append("\n")
        _emit_seq(v, indent, out)
    elif isinstance(v, Literal):
        chomp = "" if v.endswith("\n") else "-"
        out.append(f" |{chomp}\n")
        for line in v.rstrip("\n").split("\n"):
            out.append(f"{pad}{line}\n" if line else "\n")
    elif isinstance(v, _Raw):
        out.append(f" {v}\n")
    else:
        out.append(f" {_scalar(v)}\n")


def _emit_map(m: dict, indent: int, out: list, first_prefix: str | None = None) -> None:
    pad = " " * indent
    for i, (k, v) in enumerate(m.items()):
        prefix = first_prefix if (i == 0 and first_prefix is not None) else pad
        out.append(f"{prefix}{_scalar(k)}:")
        _emit_value(v, indent + 2, out)


def _emit_seq(s: list, indent: int, out: list) -> None:
    # Kubernetes style: sequence items at the same indent as the parent key.
    pad = " " * max(indent - 2, 0)
    for item in s:
        if isinstance(item, dict) and item:
            _emit_map(item, indent, out, first_prefix=pad + "- ")
        else:
            out.append(f"{pad}-")
            _emit_value(item, indent, out)


def emit_document(obj: dict) -> str:
    out: list[str] = []
    _emit_map(obj, 0, out)
    return "".join(out)


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

TEAMS = ["payments", "checkout", "catalog", "search", "identity", "orders", "billing",
         "shipping", "inventory", "analytics", "notify", "media", "reviews", "ledger",
         "fraud", "pricing", "loyalty", "support", "platform", "gateway"]
ADJ = ["swift", "amber", "quiet", "brave", "lunar", "rapid", "solid", "bright", "calm",
       "silver", "crimson", "north", "azure", "misty", "golden", "frozen", "iron", "noble"]
NOUN = ["api", "worker", "cache", "ledger", "router", "indexer", "scheduler", "frontend",
        "backend", "auth", "store", "feed", "sync", "broker", "renderer", "collector",
        "exporter", "resolver", "mailer", "uploader", "reporter", "matcher", "planner"]
DB_HOSTS = [("postgres", 5432), ("redis", 6379), ("mysql", 3306), ("mongodb", 27017),
            ("kafka", 9092), ("rabbitmq", 5672)]
EXTERNAL = ["api.stripe.com", "sqs.eu-west-1.amazonaws.com", "storage.googleapis.com",
            "hooks.slack.com", "api.github.com", "login.microsoftonline.com"]
WEIGHTS = {"Deployment": 0.6, "StatefulSet": 0.2, "Job": 0.1, "CronJob": 0.1}

NS_PER = 50  # workloads per namespace


def _kinds_for(n: int, rng: random.Random) -> list[str]:
    """Exactly-proportioned kinds for n workloads, shuffled."""
    counts = {k: int(round(w * n)) for k, w in WEIGHTS.items()}
    diff = n - sum(counts.values())
    counts["Deployment"] += diff
    kinds = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(kinds)
    return kinds


# --------------------------------------------------------------------------
# Object builders
# --------------------------------------------------------------------------


def _namespace(i: int, name: str) -> dict:
    mode = i % 10
    md: dict = {"name": name}
    if mode == 1:
        pass  # no labels at all: not in the mesh
    elif mode == 5:
        md["labels"] = {"istio.io/dataplane-mode": "ambient",
                        "kubernetes.io/metadata.name": name}
    else:
        md["labels"] = {"istio-injection": "enabled",
                        "kubernetes.io/metadata.name": name,
                        "team": name.split("-")[0]}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": md}


def _ports_plan(rng: random.Random, kind: str) -> tuple[list[dict], list[dict], str]:
    """(container ports, service ports, pitfall tag) for one workload."""
    r = rng.random()
    if r < 0.15:
        pit = rng.choice(["unnamed", "web", "appport", "tls-as-http", "db-unnamed", "dual-name"])
    else:
        pit = ""
    cports: list[dict] = []
    sports: list[dict] = []
    if pit == "unnamed":
        cports = [{"containerPort": 8080, "protocol": "TCP"}]
        sports = [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]
    elif pit == "web":
        cports = [{"name": "web", "containerPort": 3000, "protocol": "TCP"}]
        sports = [{"name": "web", "port": 80, "targetPort": "web", "protocol": "TCP"}]
    elif pit == "appport":
        cports = [{"name": "appport", "containerPort": 9080}]
        sports = [{"name": "appport", "port": 9080, "targetPort": 9080}]
    elif pit == "tls-as-http":
        cports = [{"name": "https", "containerPort": 8443}]
        sports = [{"name": "http", "port": 443, "targetPort": 8443, "protocol": "TCP"}]
    elif pit == "db-unnamed":
        db, p = rng.choice([("redis", 6379), ("postgres", 5432)])
        cports = [{"containerPort": p, "protocol": "TCP"}]
        sports = [{"port": p, "targetPort": p}]
    elif pit == "dual-name":
        cports = [{"name": "http", "containerPort": 8080}]
        sports = [{"name": "http", "port": 80, "targetPort": 8080},
                  {"name": "https", "port": 443, "targetPort": 8080}]
    else:
        style = rng.random()
        if kind == "StatefulSet" and style < 0.5:
            db, p = rng.choice(DB_HOSTS[:3])
            cports = [{"name": f"tcp-{db}", "containerPort": p, "protocol": "TCP"},
                      {"name": "http-metrics", "containerPort": 9187}]
            sports = [{"name": f"tcp-{db}", "port": p, "targetPort": f"tcp-{db}"},
                      {"name": "http-metrics", "port": 9187, "targetPort": 9187}]
        elif style < 0.25:
            cports = [{"name": "grpc-api", "containerPort": 9000},
                      {"name": "http-metrics", "containerPort": 9090}]
            sports = [{"name": "grpc-api", "port": 9000, "targetPort": "grpc-api",
                       "appProtocol": "grpc"},
                      {"name": "http-metrics", "port": 9090, "targetPort": "http-metrics"}]
        elif style < 0.35:
            cports = [{"name": "tcp-db", "containerPort": 5432}]
            sports = [{"name": "tcp-db", "port": 5432, "targetPort": 5432}]
        elif style < 0.45:
            cports = [{"name": "http", "containerPort": 8080},
                      {"name": "https", "containerPort": 8443}]
            sports = [{"name": "http", "port": 80, "targetPort": 8080},
                      {"name": "https", "port": 443, "targetPort": 8443}]
        elif style < 0.5:
            cports = [{"name": "http2-web", "containerPort": 8080}]
            sports = [{"name": "http2-web", "port": 80, "targetPort": 8080}]
        else:
            cports = [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                      {"name": "http-metrics", "containerPort": 9090, "protocol": "TCP"}]
            sports = [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                      {"name": "http-metrics", "port": 9090, "targetPort": "http-metrics",
                       "protocol": "TCP"}]
    return cports, sports, pit


def _probe(rng: random.Random, cports: list[dict], kind: str) -> dict:
    r = rng.random()
    port0 = cports[0]
    if r < 0.55 and port0["containerPort"] not in (5432, 6379, 3306):
        port = port0.get("name") if ("name" in port0 and rng.random() < 0.6) else port0["containerPort"]
        handler = {"httpGet": {"path": rng.choice(["/healthz", "/ready", "/actuator/health",
                                                   "/-/healthy", "/live"]),
                               "port": port}}
        if rng.random() < 0.3:
            handler["httpGet"]["scheme"] = "HTTP"
        if rng.random() < 0.15:
            handler["httpGet"]["httpHeaders"] = [{"name": "X-Probe", "value": "kubelet"}]
    elif r < 0.8:
        handler = {"tcpSocket": {"port": port0["containerPort"]}}
    else:
        handler = {"exec": {"command": Flow(rng.choice([
            ["cat", "/tmp/healthy"],
            ["/bin/grpc_health_probe", "-addr=:9000"],
            ["pg_isready", "-U", "postgres"],
            ["redis-cli", "ping"],
            ["sh", "-c", "curl -fsS http://localhost:8080/healthz || exit 1"],
        ]))}}
    handler["initialDelaySeconds"] = rng.choice([0, 5, 10, 15, 30])
    handler["periodSeconds"] = rng.choice([5, 10, 20])
    if rng.random() < 0.3:
        handler["timeoutSeconds"] = rng.choice([1, 2, 5])
        handler["failureThreshold"] = rng.choice([3, 5, 6])
    return handler


def _env(rng: random.Random, name: str, ns: str, db: tuple[str, int]) -> list[dict]:
    env = [
        {"name": "APP_NAME", "value": name},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "DB_HOST", "value": f"{db[0]}.{ns}.svc.cluster.local"},
    ]
    extras = [
        {"name": "LOG_LEVEL", "value": rng.choice(["info", "debug", "warn"])},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "DB_PORT", "value": str(db[1])},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{name}-db", "key": "password"}}},
        {"name": "FEATURE_FLAGS_ENABLED", "value": rng.choice(["yes", "on", "true", "no", "off"])},
        {"name": "UMASK", "value": "0644"},
        {"name": "MAX_CONNECTIONS", "value": str(rng.choice([10, 50, 100, 200]))},
        {"name": "UPSTREAM_URL", "value": f"https://{rng.choice(EXTERNAL)}/v1"},
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"},
        {"name": "JAVA_OPTS", "value": "-Xms256m -Xmx512m -XX:+UseG1GC"},
        {"name": "CACHE_TTL", "value": "1h30m"},
        {"name": "REGION", "valueFrom": {"configMapKeyRef": {"name": "cluster-info", "key": "region"}}},
        {"name": "START_DATE", "value": "2024-01-15"},
        {"name": "RATIO", "value": "0.75"},
    ]
    env += rng.sample(extras, rng.randint(0, 4))
    return env


def _resources(rng: random.Random, small: bool = False) -> dict:
    if small:
        return {"requests": {"cpu": "10m", "memory": "16Mi"},
                "limits": {"cpu": "100m", "memory": "64Mi"}}
    cpu = rng.choice(["50m", "100m", "250m", "500m", "1"])
    mem = rng.choice(["64Mi", "128Mi", "256Mi", "512Mi", "1Gi"])
    res = {"requests": {"cpu": cpu, "memory": mem}}
    if rng.random() < 0.8:
        res["limits"] = {"cpu": rng.choice(["500m", "1", "2"]), "memory": rng.choice(["512Mi", "1Gi", "2Gi"])}
    return res


def _pod_spec(rng: random.Random, name: str, ns: str, kind: str, cports: list[dict],
              labels: dict) -> tuple[dict, dict]:
    """(pod template metadata, pod spec)."""
    db = rng.choice(DB_HOSTS)
    image = (f"registry.example.com/{ns.split('-')[0]}/{name}:"
             f"{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}")
    container: dict = {
        "name": name if rng.random() < 0.7 else "app",
        "image": image,
    }
    if rng.random() < 0.4:
        container["imagePullPolicy"] = rng.choice(["IfNotPresent", "Always"])
    if rng.random() < 0.25:
        container["command"] = Flow(["/bin/sh", "-c"])
        container["args"] = Flow([f"exec /app/{name} --config /etc/{name}/config.yaml"])
    elif rng.random() < 0.2:
        container["args"] = ["--port=8080", f"--db={db[0]}:{db[1]}", "--metrics-addr=:9090"]
    container["ports"] = cports
    container["env"] = _env(rng, name, ns, db)
    if rng.random() < 0.2:
        container["envFrom"] = [{"configMapRef": {"name": f"{name}-config"}}]
    container["resources"] = _resources(rng)
    if kind not in ("Job", "CronJob"):
        if rng.random() < 0.75:
            container["livenessProbe"] = _probe(rng, cports, kind)
        if rng.random() < 0.7:
            container["readinessProbe"] = _probe(rng, cports, kind)
        if rng.random() < 0.15:
            sp = _probe(rng, cports, kind)
            sp["failureThreshold"] = 30
            container["startupProbe"] = sp
    container["volumeMounts"] = [
        {"name": "config", "mountPath": f"/etc/{name}", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if rng.random() < 0.35:
        container["securityContext"] = {
            "runAsNonRoot": True, "runAsUser": rng.choice([1000, 1337, 65532]),
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": Flow(["ALL"])},
        }
    if rng.random() < 0.1:
        container["lifecycle"] = {"preStop": {"exec": {"command": Flow(["sleep", "10"])}}}

    containers = [container]
    if rng.random() < 0.1:
        containers.append({
            "name": "log-shipper", "image": "fluent/fluent-bit:2.2.0",
            "args": Flow(["-c", "/fluent-bit/etc/fluent-bit.conf"]),
            "ports": [{"name": "http-fb", "containerPort": 2020}],
            "resources": _resources(rng, small=True),
            "volumeMounts": [{"name": "tmp", "mountPath": "/var/log/app"}],
        })

    volumes: list[dict] = [
        {"name": "config", "configMap": {"name": f"{name}-config",
                                          "defaultMode": _Raw("0644") if rng.random() < 0.3 else 420}},
        {"name": "tmp", "emptyDir": {} if rng.random() < 0.7 else {"medium": "Memory", "sizeLimit": "64Mi"}},
    ]
    if rng.random() < 0.3:
        volumes.append({"name": "tls", "secret": {"secretName": f"{name}-tls", "defaultMode": 0o400}})
        container["volumeMounts"].append({"name": "tls", "mountPath": "/etc/tls", "readOnly": True})

    spec: dict = {}
    if rng.random() < 0.5:
        spec["serviceAccountName"] = name
    if rng.random() < 0.2:
        host, port = db
        spec["initContainers"] = [{
            "name": f"wait-for-{host}",
            "image": "busybox:1.36",
            "command": Flow(["sh", "-c"]),
            "args": [Literal(f"until nc -z {host}.{ns}.svc.cluster.local {port}; do\n"
                             f"  echo waiting for {host}; sleep 2\ndone\n")],
            "resources": _resources(rng, small=True),
        }]
        if rng.random() < 0.3:
            spec["initContainers"].append({
                "name": "migrate", "image": image,
                "command": Flow([f"/app/{name}", "migrate", "--up"]),
                "envFrom": [{"secretRef": {"name": f"{name}-db"}}],
            })
    spec["containers"] = containers
    spec["volumes"] = volumes
    if kind in ("Job", "CronJob"):
        spec["restartPolicy"] = rng.choice(["Never", "OnFailure"])
    if rng.random() < 0.2:
        spec["securityContext"] = {"fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}}
    if rng.random() < 0.12:
        spec["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
                                "topologyKey": "kubernetes.io/hostname"}}]}}
    if rng.random() < 0.2:
        spec["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": ns.split("-")[0],
                                "effect": "NoSchedule"}]
    if rng.random() < 0.5:
        spec["terminationGracePeriodSeconds"] = rng.choice([10, 30, 60])

    annotations: dict = {}
    if rng.random() < 0.5:
        annotations["prometheus.io/scrape"] = "true"
        annotations["prometheus.io/port"] = "9090"
        annotations["prometheus.io/path"] = "/metrics"
    if rng.random() < 0.05:
        annotations["sidecar.istio.io/inject"] = "false"
    if rng.random() < 0.15:
        annotations["proxy.istio.io/config"] = Literal("holdApplicationUntilProxyStarts: true\n")
    if rng.random() < 0.1:
        annotations["traffic.sidecar.istio.io/excludeOutboundPorts"] = str(db[1])
    if rng.random() < 0.1:
        annotations["sidecar.istio.io/rewriteAppHTTPProbers"] = "false"
    if rng.random() < 0.4:
        annotations["checksum/config"] = f"{rng.getrandbits(256):064x}"
    tmeta: dict = {"labels": dict(labels)}
    if rng.random() < 0.1:
        tmeta["creationTimestamp"] = None
    tmeta["labels"]["version"] = f"v{rng.randint(1, 3)}"
    tmeta["annotations"] = annotations
    return tmeta, spec


def _helm_labels(name: str, chart: str, ver: str) -> dict:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": f"{chart}-{ver}",
    }


def _workload_docs(rng: random.Random, ns: str, name: str, kind: str, chart: str) -> list[tuple[str, dict]]:
    """[(source template, object)] for one workload."""
    ver = f"{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    labels = _helm_labels(name, chart, ver)
    sel = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
    cports, sports, _pit = _ports_plan(rng, kind)
    tmeta, pspec = _pod_spec(rng, name, ns, kind, cports, sel)
    meta = {"name": name, "namespace": ns, "labels": labels}
    short = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                                    "app.kubernetes.io/managed-by")}
    if rng.random() < 0.3:
        meta["annotations"] = {"meta.helm.sh/release-name": chart,
                               "meta.helm.sh/release-namespace": ns}
    template = {"metadata": tmeta, "spec": pspec}
    docs: list[tuple[str, dict]] = []

    if pspec.get("serviceAccountName") == name:
        docs.append(("serviceaccount.yaml", {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "labels": short},
            "automountServiceAccountToken": rng.random() < 0.5}))
    if rng.random() < 0.2:
        docs.append(("configmap.yaml", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{name}-config", "namespace": ns, "labels": short},
            "data": {"LOG_FORMAT": "json", "ENABLE_TRACING": "true",
                     "config.yaml": Literal(f"server:\n  port: 8080\n  name: {name}\n"
                                            f"upstream:\n  url: https://{rng.choice(EXTERNAL)}\n"
                                            f"  timeout: 5s\n")}}))

    svc_spec: dict = {"type": "ClusterIP"}
    if kind == "StatefulSet":
        svc_spec["clusterIP"] = "None"
    svc_spec["selector"] = sel
    svc_spec["ports"] = sports
    docs.append(("service.yaml", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": short},
        "spec": svc_spec}))

    if kind == "Deployment":
        spec = {"replicas": rng.choice([1, 2, 3, 5]),
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": sel}}
        if rng.random() < 0.5:
            spec["strategy"] = {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
        template["metadata"]["labels"].update(sel)
        spec["template"] = template
        obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
        src = "deployment.yaml"
    elif kind == "StatefulSet":
        spec = {"serviceName": name, "replicas": rng.choice([1, 3]),
                "podManagementPolicy": rng.choice(["OrderedReady", "Parallel"]),
                "selector": {"matchLabels": sel}, "template": template,
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": Flow(["ReadWriteOnce"]),
                             "storageClassName": "standard",
                             "resources": {"requests": {"storage": rng.choice(["1Gi", "10Gi", "50Gi"])}}}}]}
        template["metadata"]["labels"].update(sel)
        pspec["containers"][0]["volumeMounts"].append({"name": "data", "mountPath": "/data"})
        obj = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": spec}
        src = "statefulset.yaml"
    elif kind == "Job":
        template["metadata"]["labels"].update(sel)
        spec = {"backoffLimit": rng.choice([0, 3, 6]), "ttlSecondsAfterFinished": 3600,
                "template": template}
        obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}
        src = "job.yaml"
    else:
        template["metadata"]["labels"].update(sel)
        spec = {"schedule": rng.choice(["*/5 * * * *", "0 3 * * *", "@hourly", "30 1 * * 0"]),
                "concurrencyPolicy": rng.choice(["Forbid", "Replace", "Allow"]),
                "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": template}}}
        obj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": spec}
        src = "cronjob.yaml"
    docs.append((src, obj))

    if kind == "Deployment" and rng.random() < 0.1:
        docs.append(("pdb.yaml", {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": ns, "labels": short},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": sel}}}))
    return docs


# --------------------------------------------------------------------------
# Profile "mesh": ServiceEntries, VirtualServices, Sidecars (see the module docstring)
# --------------------------------------------------------------------------

PROFILES = ("workloads", "mesh")
ROOT_NS = "istio-system"
EGRESS_GW = "istio-egressgateway"
EGRESS_GW_HOST = f"{EGRESS_GW}.{ROOT_NS}.svc.cluster.local"
REGIONS = ["eu", "us", "ap", "sa"]
ROOT_SHARE = 5  # one ServiceEntry / VirtualService in five is in the root namespace
_WORKLOAD_KINDS = {"Deployment": "/spec/template", "StatefulSet": "/spec/template", "Job": "/spec/template",
                   "CronJob": "/spec/jobTemplate/spec/template"}


def mesh_size(workloads: int) -> tuple[int, int]:
    """(ServiceEntries, VirtualServices) of the mesh profile: 1,000 and 500 at 1,000 workloads, and
    1,000 / 500 more per 10x more workloads (fewer, proportionally, below 1,000 workloads)."""
    f = 1 + math.log10(workloads / 1000) if workloads >= 1000 else workloads / 1000
    return max(5, round(1000 * f)), max(2, round(500 * f))


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class _MeshPlan:
    """Where the vendor domains live: the root namespace's entries cover vendors ``[0, root)``,
    namespace i's entries its own slice after that (so workloads can dial covered, uncovered and
    other namespaces' hosts on purpose)."""

    def __init__(self, workloads: int):
        n = _n_namespaces(workloads)
        entries, vss = mesh_size(workloads)
        self.root_entries, self.root_vs = entries // ROOT_SHARE, vss // ROOT_SHARE
        self.local_entries = _split(entries - self.root_entries, n)
        self.local_vs = _split(vss - self.root_vs, n)
        self.starts = [self.root_entries + sum(self.local_entries[:i]) for i in range(n)]
        self.n_ns = n

    def own(self, i: int) -> tuple[int, int]:
        return self.starts[i], self.local_entries[i]


def _vendor(k: int) -> str:
    """The domain of vendor k: ``swiftapi.io``, ``amberworker3.io``...; distinct for every k."""
    a, b, c = k % len(ADJ), (k // len(ADJ)) % len(NOUN), k // (len(ADJ) * len(NOUN))
    return f"{ADJ[a]}{NOUN[b]}{c or ''}.io"


def _vendor_endpoints(rng: random.Random, plan: _MeshPlan, i: int) -> list[dict]:
    """1-3 env vars naming external vendor APIs: root-covered, own-namespace, other namespaces', uncovered."""
    env = []
    for j in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.45:
            k = rng.randrange(max(1, int(plan.root_entries * 1.15)))  # past the end: nobody covers it
        elif r < 0.85 or plan.n_ns == 1:
            start, count = plan.own(i)
            k = start + rng.randrange(max(1, int(count * 1.2)))
        else:
            start, count = plan.own(rng.randrange(plan.n_ns))
            k = start + rng.randrange(max(1, count))
        d = _vendor(k)
        r = rng.random()
        if r < 0.15:
            value = f"postgres://app@db.{d}:5432/app"
        else:
            host = f"api.{d}" if r < 0.75 else f"{rng.choice(REGIONS)}.{d}"
            value = f"https://{host}:8443/v1" if rng.random() < 0.08 else f"https://{host}/v{j + 1}"
        env.append({"name": f"VENDOR_{j}_URL", "value": value})
    return env


def _export_to(rng: random.Random, ns: str, root: bool, plan: _MeshPlan) -> list[str] | None:
    if root:
        return None if rng.random() < 0.6 else ["*"]
    r = rng.random()
    if r < 0.45:
        return ["."]
    if r < 0.65:
        return ["*"]
    if r < 0.85:
        return [".", *sorted({_ns_name(rng.randrange(plan.n_ns)) for _ in range(rng.randint(1, 2))} - {ns})]
    return None if r < 0.95 else ["~"]


def _service_entry(rng: random.Random, k: int, ns: str, root: bool, plan: _MeshPlan) -> dict:
    d = _vendor(k)
    r = rng.random()
    https = {"number": 443, "name": "https", "protocol": "HTTPS"}
    tls = {"number": 443, "name": "tls", "protocol": "TLS"}
    if r < 0.40:
        spec = {"hosts": [f"api.{d}"], "location": "MESH_EXTERNAL", "resolution": "DNS", "ports": [https]}
        if rng.random() < 0.2:
            spec["ports"] = [https, {"number": 80, "name": "http", "protocol": "HTTP"}]
    elif r < 0.60:
        spec = {"hosts": [f"*.{d}"], "location": "MESH_EXTERNAL", "resolution": "NONE", "ports": [tls]}
    elif r < 0.70:
        hosts = [f"api.{d}", *(f"{g}.{d}" for g in rng.sample(REGIONS, 2))]
        spec = {"hosts": hosts, "location": "MESH_EXTERNAL", "resolution": "DNS", "ports": [tls]}
    elif r < 0.82:
        spec = {"hosts": [f"db.{d}"], "addresses": [f"10.{200 + k % 50}.{(k // 50) % 256}.0/24"],
                "location": "MESH_EXTERNAL", "resolution": "NONE",
                "ports": [{"number": 5432, "name": "tcp-postgres", "protocol": "TCP"}]}
    elif r < 0.95:
        spec = {"hosts": [f"api.{d}"], "location": "MESH_EXTERNAL", "resolution": "DNS",
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]}
    else:  # the pitfalls the egress rules exist for
        pit = rng.choice(["wildcard-dns", "postgres", "ip-host", "hosts-tcp"])
        spec = {"hosts": [f"*.{d}"] if pit == "wildcard-dns" else [f"db.{d}"], "location": "MESH_EXTERNAL",
                "resolution": "DNS", "ports": [tls]}
        if pit == "postgres":
            spec["ports"] = [{"number": 5432, "name": "tcp-postgres", "protocol": "postgres"}]
        elif pit == "ip-host":
            spec["hosts"] = [f"203.0.{k % 256}.{k // 256 % 250 + 1}"]
            spec["ports"] = [https]
        elif pit == "hosts-tcp":
            spec["hosts"] = [f"db.{d}", f"db-replica.{d}"]
            spec["ports"] = [{"number": 5432, "name": "tcp-postgres", "protocol": "TCP"}]
    export = _export_to(rng, ns, root, plan)
    if export is not None:
        spec["exportTo"] = Flow(export)
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": f"se-{k:05d}-{d.split('.')[0]}", "namespace": ns}, "spec": spec}


def _virtual_service(rng: random.Random, n: int, k: int, ns: str, services: list[str], root: bool) -> dict:
    d = _vendor(k)
    host = f"api.{d}"
    r = rng.random()
    if r < (0.7 if root else 0.4) or not services:
        gw = f"{ROOT_NS}/{EGRESS_GW}"
        spec = {"hosts": [host], "gateways": Flow(["mesh", gw]), "tls": [
            {"match": [{"gateways": Flow(["mesh"]), "port": 443, "sniHosts": Flow([host])}],
             "route": [{"destination": {"host": EGRESS_GW_HOST, "port": {"number": 443}}}]},
            {"match": [{"gateways": Flow([gw]), "port": 443, "sniHosts": Flow([host])}],
             "route": [{"destination": {"host": host, "port": {"number": 443}}}]}]}
        name = f"egress-{d.split('.')[0]}"
    elif r < 0.75:
        spec = {"hosts": [host], "http": [{"timeout": "5s", "retries": {"attempts": 3, "perTryTimeout": "2s"},
                                           "route": [{"destination": {"host": host}}]}]}
        name = f"timeouts-{d.split('.')[0]}"
    else:
        svc = rng.choice(services)
        spec = {"hosts": [svc], "http": [{"route": [
            {"destination": {"host": svc, "subset": "v1"}, "weight": 90},
            {"destination": {"host": svc, "subset": "v2"}, "weight": 10}]}]}
        name = f"canary-{svc}"
    r = rng.random()
    if r < 0.3 and not root:
        spec["exportTo"] = Flow(["."])
    elif r < 0.5:
        spec["exportTo"] = Flow(["*"])
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": f"{name}-{n}", "namespace": ns}, "spec": spec}


def _sidecars(rng: random.Random, ns: str, workloads: list[str], plan: _MeshPlan) -> list[dict]:
    out = []
    r = rng.random()
    if r < 0.8:
        hosts = ["./*", f"{ROOT_NS}/*"]
        if r >= 0.5:  # imports only part of the root catalogue: the other entries are hidden here
            picks = sorted(rng.sample(range(plan.root_entries), min(plan.root_entries, rng.randint(3, 8))))
            hosts = ["./*", *(f"{ROOT_NS}/*.{_vendor(k)}" for k in picks), f"*/{EGRESS_GW_HOST}"]
        spec: dict = {"egress": [{"hosts": hosts}]}
        if rng.random() < 0.25:
            spec["outboundTrafficPolicy"] = {"mode": "REGISTRY_ONLY"}
        out.append({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
                    "metadata": {"name": "default", "namespace": ns}, "spec": spec})
    if workloads and rng.random() < 0.3:
        wl = rng.choice(workloads)
        out.append({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
                    "metadata": {"name": f"{wl}-egress", "namespace": ns},
                    "spec": {"workloadSelector": {"labels": {"app.kubernetes.io/name": wl}},
                             "egress": [{"hosts": ["./*", f"{ROOT_NS}/*"]}],
                             "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}})
    return out


def _namespace_mesh(seed: int, i: int, ns: str, workloads: list[str], services: list[str],
                    plan: _MeshPlan) -> list[dict]:
    """Namespace i's ServiceEntries (its own vendor slice), VirtualServices and Sidecars."""
    rng = random.Random(f"meshcheck-bench-mesh/{seed}/{i}")
    start, count = plan.own(i)
    out = [_service_entry(rng, k, ns, False, plan) for k in range(start, start + count)]
    for n in range(plan.local_vs[i]):
        k = start + rng.randrange(count) if count and rng.random() < 0.7 else rng.randrange(plan.root_entries)
        out.append(_virtual_service(rng, n, k, ns, services, False))
    return out + _sidecars(rng, ns, workloads, plan)


def mesh_root_objects(workloads: int, seed: int = 0) -> list[dict]:
    """The root namespace's mesh objects: egress gateway (Deployment, Service, Gateway), the root
    Sidecar, the shared catalogue of ServiceEntries and its VirtualServices (no Namespace or mesh
    ConfigMap: live.py has its own)."""
    plan = _MeshPlan(workloads)
    rng = random.Random(f"meshcheck-bench-mesh/{seed}/root")
    labels = {"app": EGRESS_GW, "istio": "egressgateway"}
    out: list[dict] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": EGRESS_GW, "namespace": ROOT_NS,
                                                                      "labels": labels},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}},
             "spec": {"serviceAccountName": EGRESS_GW, "containers": [{
                 "name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.2", "args": Flow(["proxy", "router"]),
                 "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 8443, "protocol": "TCP"}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": EGRESS_GW, "namespace": ROOT_NS, "labels": labels},
         "spec": {"type": "ClusterIP", "selector": labels, "ports": [
             {"name": "http2", "port": 80, "targetPort": 8080}, {"name": "https", "port": 443, "targetPort": 8443}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
         "metadata": {"name": EGRESS_GW, "namespace": ROOT_NS},
         "spec": {"selector": {"istio": "egressgateway"}, "servers": [
             {"port": {"number": 443, "name": "tls", "protocol": "TLS"}, "hosts": Flow(["*"]),
              "tls": {"mode": "PASSTHROUGH"}}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
         "metadata": {"name": "default", "namespace": ROOT_NS},
         "spec": {"egress": [{"hosts": Flow(["./*", f"{ROOT_NS}/*"])}]}},
    ]
    out += [_service_entry(rng, k, ROOT_NS, True, plan) for k in range(plan.root_entries)]
    out += [_virtual_service(rng, n, rng.randrange(plan.root_entries), ROOT_NS, [], True) for n in range(plan.root_vs)]
    return out


def _root_documents(workloads: int, seed: int) -> list[dict]:
    """The file ``ns-istio-system.yaml`` of the mesh profile: Namespace, mesh ConfigMap, then the mesh objects."""
    mesh = "rootNamespace: istio-system\noutboundTrafficPolicy:\n  mode: ALLOW_ANY\ntrustDomain: cluster.local\n"
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ROOT_NS}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": ROOT_NS},
             "data": {"mesh": Literal(mesh)}},
            *mesh_root_objects(workloads, seed)]


def _ns_name(i: int) -> str:
    return f"{TEAMS[i % len(TEAMS)]}-{i:03d}"


def _namespace_docs(seed: int, i: int, n_workloads: int,
                    plan: _MeshPlan | None = None) -> Iterator[tuple[str | None, dict | None, str]]:
    """(source template, object or None for an empty document, chart) of namespace i, in file order.

    With a mesh ``plan`` (profile ``mesh``) the workloads also name vendor APIs (their own rng, so the
    objects are otherwise those of the plain profile) and the namespace's mesh objects come last."""
    rng = random.Random(f"meshcheck-bench/{seed}/{i}")
    mrng = random.Random(f"meshcheck-bench-mesh-env/{seed}/{i}")
    ns = _ns_name(i)
    helm = i % 3 != 2  # two in three files look like `helm template` output
    yield "namespace.yaml", _namespace(i, ns), ns
    used: set[str] = set()
    services: list[str] = []
    chart = ns.split("-")[0]
    for kind in _kinds_for(n_workloads, rng):
        while True:
            name = f"{rng.choice(ADJ)}-{rng.choice(NOUN)}"
            if name not in used:
                break
            name = f"{name}-{rng.randint(2, 99)}"
            if name not in used:
                break
        used.add(name)
        chart = name.split("-")[1] if rng.random() < 0.5 else ns.split("-")[0]
        for src, obj in _workload_docs(rng, ns, name, kind, chart):
            if plan is not None and obj["kind"] in _WORKLOAD_KINDS:
                pod = obj
                for part in _WORKLOAD_KINDS[obj["kind"]].strip("/").split("/"):
                    pod = pod[part]
                pod["spec"]["containers"][0]["env"] += _vendor_endpoints(mrng, plan, i)
            elif obj["kind"] == "Service":
                services.append(name)
            yield src, obj, chart
        if helm and rng.random() < 0.08:
            yield "hpa.yaml", None, chart  # disabled template: an empty document
        elif rng.random() < 0.01:
            yield None, None, chart  # a bare `---` followed by another `---`
    if plan is not None:
        for obj in _namespace_mesh(seed, i, ns, sorted(used), services, plan):
            yield "istio.yaml", obj, chart


def _namespace_text(seed: int, i: int, n_workloads: int, plan: _MeshPlan | None = None) -> tuple[str, str]:
    """(file name, YAML text) for namespace i with n_workloads workloads."""
    ns = _ns_name(i)
    helm = i % 3 != 2
    leading = helm or i % 2 == 0
    parts: list[str] = []
    for src, obj, chart in _namespace_docs(seed, i, n_workloads, plan):
        if parts or leading:
            parts.append("---\n")
        if helm and src:
            parts.append(f"# Source: {chart}/templates/{src}\n")
        if obj is not None:
            parts.append(emit_document(obj))
    return f"ns-{i:03d}-{ns}.yaml", "".join(parts)


def documents(workloads: int, seed: int = 0, profile: str = "workloads") -> Iterator[tuple[int, str, list[dict]]]:
    """(namespace index, namespace, its objects) in the order generate() writes them; same rng.

    The objects are the dicts the YAML is emitted from (Flow/Literal are list/str subclasses; an
    unquoted octal ``0644`` is a str subclass, see ``is_raw_octal``): for tools that want the
    same workloads in another form, e.g. live.py.  The root namespace's mesh objects of profile
    ``mesh`` are not among them: see ``mesh_root_objects``.
    """
    plan = _plan(workloads, profile)
    for i in range(_n_namespaces(workloads)):
        n = min(NS_PER, workloads - i * NS_PER)
        yield i, _ns_name(i), [obj for _src, obj, _chart in _namespace_docs(seed, i, n, plan) if obj is not None]


def _plan(workloads: int, profile: str) -> _MeshPlan | None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (use {', '.join(PROFILES)})")
    return _MeshPlan(workloads) if profile == "mesh" else None


def is_raw_octal(v) -> bool:
    """True for a scalar the YAML holds unquoted, like ``0644`` (420 to YAML 1.1 readers such as kubectl)."""
    return isinstance(v, _Raw)


def _n_namespaces(workloads: int) -> int:
    return (workloads + NS_PER - 1) // NS_PER


def generate(out_dir: str, workloads: int, seed: int = 0, profile: str = "workloads") -> list[str]:
    """Write the manifests for ``workloads`` workloads (of ``profile``, see the module docstring) under ``out_dir``.

    Returns the list of file paths written (one per namespace).  Existing
    ``ns-*.yaml`` files in ``out_dir`` are removed first so that the set
    matches the request exactly.
    """
    if workloads < 1:
        raise ValueError("workloads must be >= 1")
    plan = _plan(workloads, profile)
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.startswith("ns-") and f.endswith(".yaml"):
            os.remove(os.path.join(out_dir, f))
    texts = [_namespace_text(seed, i, min(NS_PER, workloads - i * NS_PER), plan)
             for i in range(_n_namespaces(workloads))]
    if plan is not None:
        root = "".join("---\n" + emit_document(o) for o in _root_documents(workloads, seed))
        texts.append((f"ns-{ROOT_NS}.yaml", root))
    paths = []
    for fname, text in texts:
        path = os.path.join(out_dir, fname)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--workloads", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", choices=PROFILES, default="workloads")
    args = ap.parse_args(argv)
    paths = generate(args.out_dir, args.workloads, args.seed, args.profile)
    total = sum(os.path.getsize(p) for p in paths)
    print(f"{len(paths)} files, {args.workloads} workloads, {total:,} bytes "
          f"({total / 1e6:.1f} MB) in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
