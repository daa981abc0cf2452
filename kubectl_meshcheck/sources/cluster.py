"""Objects from a live cluster, read-only, fast, and graceful under partial access.

- kubeconfig resolved like kubectl: ``--kubeconfig``, else ``$KUBECONFIG`` (several files), else
  ``~/.kube/config``, else in-cluster; ``--context``; the user's kubeconfig is never rewritten.
- Only what the selected rules need: their ``targets | reads`` kinds, in the namespaces in scope,
  never Secrets, and only the one ConfigMap the mesh config lives in.
- Raw JSON pages (limit 500 with continue), not model objects (measured ~8x cheaper), with the
  cyclic GC off while loading. Items come back in the same camelCase shape as manifests, so rules
  and patches work identically on both.
- A 403 on a kind or namespace, an API group that is not served (Istio CRDs absent), a timeout,
  or a 429/5xx after bounded retries: the kind is skipped and reported (MC003); everything readable
  is still analysed. Nothing reachable, or 401: :class:`ClusterError` (exit 4).
- Only GET requests are ever sent.
"""

from __future__ import annotations

import gc
import json
import os
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from ..model import K8sObject, ObjectRef

PAGE = 500
RETRIES = 2  # bounded retries on 429/5xx; urllib3's own retries are switched off


class ClusterError(Exception):
    """The cluster cannot be read at all (unreachable, not authorised, bad kubeconfig)."""


@dataclass(frozen=True)
class Api:
    group: str  # "" for the core group
    versions: tuple[str, ...]  # preferred first
    plural: str
    namespaced: bool = True


#: kinds meshcheck can read, and where. Versions are tried in order; discovery decides.
APIS: dict[str, Api] = {
    "Namespace": Api("", ("v1",), "namespaces", False),
    "Service": Api("", ("v1",), "services"),
    "Pod": Api("", ("v1",), "pods"),
    "ConfigMap": Api("", ("v1",), "configmaps"),
    "Node": Api("", ("v1",), "nodes", False),
    "Deployment": Api("apps", ("v1",), "deployments"),
    "StatefulSet": Api("apps", ("v1",), "statefulsets"),
    "DaemonSet": Api("apps", ("v1",), "daemonsets"),
    "ReplicaSet": Api("apps", ("v1",), "replicasets"),
    "Job": Api("batch", ("v1",), "jobs"),
    "CronJob": Api("batch", ("v1",), "cronjobs"),
    "Ingress": Api("networking.k8s.io", ("v1",), "ingresses"),
    "ServiceMonitor": Api("monitoring.coreos.com", ("v1",), "servicemonitors"),
    "PodMonitor": Api("monitoring.coreos.com", ("v1",), "podmonitors"),
    "ServiceEntry": Api("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "serviceentries"),
    "Sidecar": Api("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "sidecars"),
    "DestinationRule": Api("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "destinationrules"),
    "VirtualService": Api("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "virtualservices"),
    "Gateway": Api("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "gateways"),
    "PeerAuthentication": Api("security.istio.io", ("v1", "v1beta1"), "peerauthentications"),
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
NEVER_READ = frozenset({"Secret"})


@dataclass
class ClusterSettings:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    selector: str | None = None
    request_timeout: float | None = 30.0


@dataclass
class ClusterResult:
    objects: list[K8sObject] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    context: str = ""
    namespaces: list[str] | None = None  # None: all namespaces
    absent: list[str] = field(default_factory=list)  # kinds whose API the server does not serve
    requests: int = 0


def parse_duration(text: str | None) -> float | None:
    """kubectl's ``--request-timeout``: ``0`` = none, ``10`` = seconds, ``1s``, ``2m``, ``1h``."""
    if text is None or text == "":
        return 30.0
    t = text.strip()
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if t.endswith(suffix) and t[: -len(suffix)].replace(".", "", 1).isdigit():
            value = float(t[: -len(suffix)]) * units[suffix]
            return value or None
    if t.replace(".", "", 1).isdigit():
        return float(t) or None
    raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 2m, 0 for none)")


def kinds_to_read(rule_kinds: set[str]) -> list[str]:
    """Expand ``Workload`` and add what every run needs (namespaces, the mesh ConfigMap)."""
    out: set[str] = {"Namespace", "ConfigMap"}
    for k in rule_kinds:
        out.update(WORKLOAD_KINDS if k == "Workload" else (k,))
    return sorted(k for k in out - NEVER_READ if k in APIS)


class _Client:
    """The official client's transport, used for raw GETs only."""

    def __init__(self, settings: ClusterSettings):
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as e:  # pragma: no cover - dependency missing
            raise ClusterError(f"the kubernetes client is not installed: {e}") from None
        cfg = client.Configuration()
        try:
            if settings.kubeconfig or os.environ.get("KUBECONFIG") or os.path.exists(
                    os.path.expanduser("~/.kube/config")):
                config.load_kube_config(config_file=settings.kubeconfig, context=settings.context,
                                        client_configuration=cfg, persist_config=False)
                self.context = settings.context or self._current_context(settings.kubeconfig)
                self.default_namespace = self._context_namespace(settings.kubeconfig, settings.context)
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=cfg)
                self.context = "in-cluster"
                self.default_namespace = _in_cluster_namespace()
            else:
                raise ClusterError("no kubeconfig found (--kubeconfig, $KUBECONFIG or ~/.kube/config) "
                                   "and not running in a cluster")
        except ConfigException as e:
            raise ClusterError(f"kubeconfig: {str(e).splitlines()[0]}") from None
        cfg.retries = False
        self.api = client.ApiClient(cfg)
        self.timeout = settings.request_timeout
        self.requests = 0

    @staticmethod
    def _contexts(path: str | None):
        from kubernetes.config import list_kube_config_contexts

        return list_kube_config_contexts(config_file=path)

    def _current_context(self, path: str | None) -> str:
        try:
            return self._contexts(path)[1]["name"]
        except Exception:
            return "current"

    def _context_namespace(self, path: str | None, name: str | None) -> str:
        try:
            contexts, current = self._contexts(path)
            ctx = next((c for c in contexts if c["name"] == name), None) if name else current
            return (ctx or {}).get("context", {}).get("namespace") or "default"
        except Exception:
            return "default"

    def get(self, path: str, query: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], dict]:
        """(status, parsed JSON body, headers) of one GET; raises only on transport failure."""
        url = path + (("?" + urlencode(query)) if query else "")
        method, full, headers, _body, _ = self.api.param_serialize(
            "GET", url, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        self.requests += 1
        resp = self.api.call_api(method, full, header_params=headers, _request_timeout=self.timeout)
        raw = resp.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"message": raw[:200].decode(errors="replace")}
        return resp.status, body, dict(resp.headers or {})


def _in_cluster_namespace() -> str:
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as fh:
            return fh.read().strip() or "default"
    except OSError:
        return "default"


def _is_transport_error(e: Exception) -> bool:
    mod = type(e).__module__
    return mod.startswith("urllib3") or isinstance(e, (OSError, TimeoutError))


def _message(body: dict, status: int) -> str:
    msg = body.get("message") if isinstance(body, dict) else None
    return f"{status} {msg}" if msg else f"HTTP {status}"


def read_cluster(settings: ClusterSettings, rule_kinds: set[str],
                 progress: Callable[[str], None] | None = None) -> ClusterResult:
    client = _Client(settings)
    result = ClusterResult(context=client.context)
    origin = f"cluster:{client.context}"
    try:
        status, body, _ = client.get("/version")
    except Exception as e:
        if _is_transport_error(e):
            raise ClusterError(f"cannot reach the cluster of context {client.context!r}: "
                               f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
        raise
    if status == 401:
        raise ClusterError(f"not authorised by the cluster of context {client.context!r} (401 Unauthorized)")
    if status >= 400:
        raise ClusterError(f"the cluster of context {client.context!r} answered /version with {_message(body, status)}")

    namespaces = None if settings.all_namespaces else [settings.namespace or client.default_namespace]
    result.namespaces = namespaces
    served = _served_versions(client, {APIS[k].group for k in kinds_to_read(rule_kinds)})
    gc_was = gc.isenabled()
    gc.disable()
    try:
        kinds = kinds_to_read(rule_kinds)
        for done, kind in enumerate(kinds, 1):
            api = APIS[kind]
            version = next((v for v in api.versions if v in served.get(api.group, ())), None)
            if version is None:  # CRD not installed: there are no such objects, nothing is unknown
                result.absent.append(kind)
                continue
            base = f"/api/{version}" if not api.group else f"/apis/{api.group}/{version}"
            api_version = version if not api.group else f"{api.group}/{version}"
            scopes: list[str | None] = [None] if (not api.namespaced or namespaces is None) else list(namespaces)
            for ns in scopes:
                if kind == "Namespace" and namespaces is not None:
                    path, single = f"{base}/namespaces/{namespaces[0]}", True
                elif kind == "ConfigMap":
                    path, single = f"{base}/namespaces/istio-system/configmaps/istio", True
                else:
                    path = f"{base}/namespaces/{ns}/{api.plural}" if ns else f"{base}/{api.plural}"
                    single = False
                _read(client, kind, api_version, path, single, ns, settings, result, origin)
                if kind in ("Namespace", "ConfigMap"):
                    break
            if progress:
                progress(f"read {done}/{len(kinds)} kinds, {len(result.objects)} objects")
    finally:
        if gc_was:
            gc.enable()
    result.requests = client.requests
    return result


def _served_versions(client: _Client, groups: set[str]) -> dict[str, tuple[str, ...]]:
    """Which versions of each API group the server serves (legacy discovery)."""
    out: dict[str, tuple[str, ...]] = {"": ("v1",)}
    if not (groups - {""}):
        return out
    status, body, _ = _get_with_retries(client, "/apis", None)
    if status == 200:
        for g in body.get("groups") or []:
            out[g.get("name", "")] = tuple(v.get("version") for v in g.get("versions") or [])
    else:
        for g in groups - {""}:
            out[g] = APIS_BY_GROUP.get(g, ())
    return out


APIS_BY_GROUP: dict[str, tuple[str, ...]] = {}
for _api in APIS.values():
    APIS_BY_GROUP.setdefault(_api.group, _api.versions)


def _get_with_retries(client: _Client, path: str, query: dict | None) -> tuple[int, dict, dict]:
    for attempt in range(RETRIES + 1):
        status, body, headers = client.get(path, query)
        if (status == 429 or status >= 500) and attempt < RETRIES:
            wait = headers.get("Retry-After") or headers.get("retry-after") or "1"
            time.sleep(min(float(wait) if str(wait).isdigit() else 1.0, 5.0))
            continue
        return status, body, headers
    return status, body, headers  # pragma: no cover


def _read(client: _Client, kind: str, api_version: str, path: str, single: bool, ns: str | None,
          settings: ClusterSettings, result: ClusterResult, origin: str) -> None:
    cont = None
    where = f" in namespace {ns}" if ns else ""
    while True:
        query: dict[str, Any] = {}
        if not single:
            query["limit"] = PAGE
            if cont:
                query["continue"] = cont
            if settings.selector and kind not in ("Namespace", "ConfigMap"):
                query["labelSelector"] = settings.selector
        try:
            status, body, _ = _get_with_retries(client, path, query or None)
        except Exception as e:
            if not _is_transport_error(e):
                raise
            result.unreadable.append({"kind": kind, "namespace": ns, "what": f"{kind}{where}",
                                      "reason": f"request failed: {type(e).__name__} "
                                                f"(timeout {settings.request_timeout}s?)"})
            return
        if status == 401:
            raise ClusterError(f"not authorised to read {kind}{where} (401 Unauthorized)")
        if status == 404 and single:
            return  # the namespace or the mesh ConfigMap does not exist: nothing to read
        if status >= 400:
            result.unreadable.append({"kind": kind, "namespace": ns, "what": f"{kind}{where}",
                                      "reason": _message(body, status)})
            return
        items = [body] if single else body.get("items") or []
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
            meta = item.get("metadata") or {}
            ref = ObjectRef(item["apiVersion"], kind, meta.get("namespace"), meta.get("name", ""), origin)
            result.objects.append(K8sObject(item, ref))
        cont = None if single else (body.get("metadata") or {}).get("continue")
        if not cont:
            return
