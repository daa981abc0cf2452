"""Objects from a live cluster: read-only, fast, and graceful under partial access.

- kubeconfig resolved like kubectl: ``--kubeconfig``, else ``$KUBECONFIG`` (several files, merged by
  the client), else ``~/.kube/config``, else in-cluster; ``--context``; exec credential plugins
  through the client. The user's kubeconfig is never rewritten (``persist_config=False``).
- Namespace scope like kubectl: ``-A``, else ``-n``, else the context's namespace, else ``default``
  (in-cluster: ``$POD_NAMESPACE``, then the service account's namespace file).
- Only what the selected rules need: their ``targets | reads`` kinds, in the namespaces in scope,
  never Secrets, and of ConfigMaps only the install's own, plus (for the egress rules) those the
  workloads read, whose values may name external endpoints.
- Raw JSON pages (limit 500 with continue), not model objects (the client's models cost ~8x the
  parse), with the cyclic GC off while loading. Items come back in the same camelCase shape as
  manifests, so rules and patches work identically on both; ``managedFields`` are dropped on
  arrival (no rule reads them, and they are a fifth of a live object).
- A 403 on a kind or namespace, a timeout, or a 429/5xx after bounded retries: a :class:`~..access.Gap`;
  everything readable is still analysed, and the engine names the gap on the verdicts it could change
  (see ``access.py``). A forbidden cluster-wide list of Istio config falls back to the namespaces in
  scope and the root one. An API group the server does not serve (Istio CRDs not installed) means there are no
  such objects: it is named in the summary, not treated as an error. Nothing reachable, or 401:
  :class:`ClusterError` (exit 4).
- Only GET requests are ever sent.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..access import EXPORTED_KINDS, Gap
from ..index import SELECTABLE_KINDS, TEMPLATE_PATHS
from ..mesh.injection import count_mode_evidence

try:  # measured: 1.6x the stdlib's speed on pages of injected Pods, the bulk of a live read
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - a build without the compiled dependency
    from json import loads as _loads
from ..model import K8sObject, MeshMode, ObjectRef

PAGE = 500  # kubectl's --chunk-size default
RETRIES = 2  # bounded retries on 429/5xx; urllib3's own retries are switched off
MAX_RETRY_WAIT = 5.0  # seconds; a longer Retry-After is capped so a run never stalls
PARALLEL_KINDS = 4  # lists in flight at once: overlaps the server's work with our parsing
CONFIGMAP_LIST_AT = 10  # a namespace referencing this many ConfigMaps is listed once, not read one by one
DEFAULT_TIMEOUT = 30.0  # seconds per request when --request-timeout is not given


class ClusterError(Exception):
    """The cluster cannot be read at all (unreachable, not authorised, bad kubeconfig)."""


@dataclass(frozen=True)
class Api:
    group: str  # "" for the core group
    versions: tuple[str, ...]  # preferred first
    plural: str
    namespaced: bool = True


_ISTIO_NET = ("v1", "v1beta1", "v1alpha3")
#: kinds meshcheck can read, and where. Versions are tried in order; discovery decides.
APIS: dict[str, Api] = {
    "Namespace": Api("", ("v1",), "namespaces", False),
    "Service": Api("", ("v1",), "services"),
    "Pod": Api("", ("v1",), "pods"),
    "ConfigMap": Api("", ("v1",), "configmaps"),
    "Node": Api("", ("v1",), "nodes", False),
    "MutatingWebhookConfiguration": Api("admissionregistration.k8s.io", ("v1",), "mutatingwebhookconfigurations",
                                        False),
    "Deployment": Api("apps", ("v1",), "deployments"),
    "StatefulSet": Api("apps", ("v1",), "statefulsets"),
    "DaemonSet": Api("apps", ("v1",), "daemonsets"),
    "ReplicaSet": Api("apps", ("v1",), "replicasets"),
    "ReplicationController": Api("", ("v1",), "replicationcontrollers"),
    "Job": Api("batch", ("v1",), "jobs"),
    "CronJob": Api("batch", ("v1",), "cronjobs"),
    "Ingress": Api("networking.k8s.io", ("v1",), "ingresses"),
    "HTTPRoute": Api("gateway.networking.k8s.io", ("v1", "v1beta1"), "httproutes"),
    "ServiceMonitor": Api("monitoring.coreos.com", ("v1",), "servicemonitors"),
    "PodMonitor": Api("monitoring.coreos.com", ("v1",), "podmonitors"),
    "ServiceEntry": Api("networking.istio.io", _ISTIO_NET, "serviceentries"),
    "Sidecar": Api("networking.istio.io", _ISTIO_NET, "sidecars"),
    "DestinationRule": Api("networking.istio.io", _ISTIO_NET, "destinationrules"),
    "VirtualService": Api("networking.istio.io", _ISTIO_NET, "virtualservices"),
    "Gateway": Api("networking.istio.io", _ISTIO_NET, "gateways"),
    "WorkloadEntry": Api("networking.istio.io", _ISTIO_NET, "workloadentries"),
    "PeerAuthentication": Api("security.istio.io", ("v1", "v1beta1"), "peerauthentications"),
    "AuthorizationPolicy": Api("security.istio.io", ("v1", "v1beta1"), "authorizationpolicies"),
}
WORKLOAD_KINDS = tuple(k for k in TEMPLATE_PATHS if k in APIS)  # every kind with a pod template
NEVER_READ = frozenset({"Secret"})
ROOT_NAMESPACE = "istio-system"  # Istio's default root namespace (mesh-wide policies live there)
#: the install's own objects, read one by one: (kind, namespace, name, the install fact it decides)
INSTALL_OBJECTS = (
    ("ConfigMap", "istio-system", "istio", "mesh-config"),
    ("ConfigMap", "istio-system", "istio-sidecar-injector", "injector"),
    ("Deployment", "istio-system", "istiod", "injector"),  # the Istio version, ENABLE_NATIVE_SIDECARS
)
#: kinds read for an install fact rather than for a rule (kubelet versions decide native sidecars)
FACT_KINDS = {"Node": "injector", "Namespace": "mode"}


@dataclass(frozen=True)
class Task:
    """One list (all its pages) or one GET."""

    kind: str
    api_version: str
    path: str
    namespace: str | None
    what: str  # how a problem reading it is named
    single: bool = False
    fallback: tuple[Task, ...] = ()  # read these instead when this one is forbidden (403)
    fact: str | None = None  # the install fact it decides (access.FACTS), when no rule declares it


@dataclass
class ClusterSettings:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    selector: str | None = None
    request_timeout: float | None = DEFAULT_TIMEOUT


@dataclass
class ClusterResult:
    objects: list[K8sObject] = field(default_factory=list)
    unreadable: list[Gap] = field(default_factory=list)
    #: per namespace, how many running pods show each data-plane mode (also the owned ones dropped)
    pod_evidence: dict[str, dict[MeshMode, int]] = field(default_factory=dict)
    context: str = ""
    server_version: str = ""
    namespaces: list[str] | None = None  # None: all namespaces
    not_served: list[str] = field(default_factory=list)  # kinds whose API group the server does not serve
    owned_skipped: dict[str, int] = field(default_factory=dict)  # controller-owned objects read, then dropped
    requests: int = 0
    kinds: list[str] = field(default_factory=list)  # what was read

    def istio_not_served(self) -> list[str]:
        """Istio kinds the server does not serve: Istio's CRDs are not installed (or not these versions)."""
        return [k for k in self.not_served if APIS[k].group.endswith("istio.io")]

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        for o in self.objects:
            by_kind[o.kind] = by_kind.get(o.kind, 0) + 1
        return {"context": self.context, "serverVersion": self.server_version,
                "namespaces": self.namespaces or "all", "kindsRead": self.kinds, "objectsByKind": by_kind,
                "ownedSkipped": self.owned_skipped,
                "notServed": self.not_served, "requests": self.requests}


def parse_duration(text: str | None) -> float | None:
    """kubectl's ``--request-timeout``: ``0`` = none, ``10`` = seconds, ``1s``, ``2m``, ``1h``, ``500ms``."""
    if text is None or text == "":
        return DEFAULT_TIMEOUT
    t = text.strip()
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        number = t[: -len(suffix)]
        if t.endswith(suffix) and number.replace(".", "", 1).isdigit():
            return float(number) * units[suffix] or None
    if t.replace(".", "", 1).isdigit():
        return float(t) or None
    raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 2m, or 0 for none)")


def kinds_to_read(rule_kinds: set[str] | frozenset[str]) -> list[str]:
    """Expand ``Workload`` and add what every run needs (namespaces, the mesh ConfigMap)."""
    out: set[str] = {"Namespace", "ConfigMap"}
    for k in rule_kinds:
        out.update(WORKLOAD_KINDS if k == "Workload" else (k,))
    if "Workload" in rule_kinds:
        out.add("Node")  # kubelet versions decide whether native sidecars are used (auto)
    return sorted(k for k in out - NEVER_READ if k in APIS)


class _Client:
    """The official client's configuration and transport, used for raw GETs only."""

    def __init__(self, settings: ClusterSettings):
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as e:  # pragma: no cover - dependency missing
            raise ClusterError(f"the kubernetes client is not installed: {e}") from None
        cfg = client.Configuration()
        path = settings.kubeconfig
        if path and not os.path.exists(os.path.expanduser(path)):
            raise ClusterError(f"--kubeconfig {path}: no such file")
        env_paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        have_file = bool(path) or any(os.path.exists(os.path.expanduser(p)) for p in env_paths) or (
            not env_paths and os.path.exists(os.path.expanduser("~/.kube/config")))
        try:
            if have_file:
                contexts, current = config.list_kube_config_contexts(config_file=path)
                chosen = next((c for c in contexts if c["name"] == settings.context), None) if settings.context \
                    else current
                if chosen is None:
                    where = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
                    raise ClusterError(f"kubeconfig {where}: context {settings.context!r} not found "
                                       f"(have: {', '.join(c['name'] for c in contexts) or 'none'})")
                config.load_kube_config(config_file=path, context=settings.context, client_configuration=cfg,
                                        persist_config=False)
                self.context = chosen["name"]
                self.default_namespace = (chosen.get("context") or {}).get("namespace") or "default"
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=cfg)
                self.context = "in-cluster"
                self.default_namespace = _in_cluster_namespace()
            else:
                raise ClusterError("no kubeconfig found (--kubeconfig, $KUBECONFIG or ~/.kube/config) and not "
                                   "running in a cluster; to analyse files instead use -f FILE|DIR or -k DIR")
        except ConfigException as e:
            raise ClusterError(f"kubeconfig: {str(e).strip().splitlines()[0]}") from None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:  # malformed kubeconfig
            raise ClusterError(f"kubeconfig {path or os.environ.get('KUBECONFIG') or '~/.kube/config'}: "
                               f"cannot be used: {type(e).__name__}: {str(e).strip()[:200]}") from None
        cfg.retries = False  # our own bounded retries; urllib3's would turn one timeout into four
        self.api = client.ApiClient(cfg)
        self.host = cfg.host
        self.timeout = settings.request_timeout
        self.requests = 0

    def get(self, path: str, query: dict[str, Any] | None = None) -> tuple[int, bytes, dict]:
        """(status, raw body, headers) of one GET; raises only on transport failure."""
        method, url, headers, _body, _ = self.api.param_serialize(
            "GET", path, query_params=list((query or {}).items()), header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"])
        self.requests += 1
        resp = self.api.call_api(method, url, header_params=headers, _request_timeout=self.timeout)
        return resp.status, resp.read(), dict(resp.headers or {})


def _in_cluster_namespace() -> str:
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as fh:
            return fh.read().strip() or "default"
    except OSError:
        return "default"


def _is_transport_error(e: Exception) -> bool:
    return type(e).__module__.startswith("urllib3") or isinstance(e, (OSError, TimeoutError))


def _transport_text(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if "timed out" in text.lower() or "timeout" in type(e).__name__.lower():
        return "timed out"
    return f"{type(e).__name__}: {text[:160]}"


def _json(raw: bytes) -> Any:
    try:
        return _loads(raw) if raw else {}
    except ValueError:  # orjson.JSONDecodeError is a ValueError too
        return {"message": raw[:200].decode(errors="replace")}


def _message(raw: bytes, status: int) -> str:
    body = _json(raw)
    msg = body.get("message") if isinstance(body, dict) else None
    return f"{status} {msg}" if msg else f"HTTP {status}"


def _get_with_retries(client: _Client, path: str, query: dict | None) -> tuple[int, bytes, dict]:
    """A GET retried on 429 (honouring Retry-After) and 5xx, at most RETRIES times."""
    for attempt in range(RETRIES + 1):
        status, raw, headers = client.get(path, query)
        if (status == 429 or status >= 500) and attempt < RETRIES:
            wait = str(headers.get("Retry-After") or headers.get("retry-after") or "")
            time.sleep(min(float(wait) if wait.isdigit() else 0.5 * (attempt + 1), MAX_RETRY_WAIT))
            continue
        return status, raw, headers
    raise AssertionError("unreachable")  # pragma: no cover


def read_cluster(settings: ClusterSettings, rule_kinds: set[str] | frozenset[str],
                 progress: Callable[[str], None] | None = None) -> ClusterResult:
    client = _Client(settings)
    result = ClusterResult(context=client.context)
    try:
        status, raw, _ = client.get("/version")
    except Exception as e:
        if not _is_transport_error(e):
            raise
        raise ClusterError(f"cannot reach the cluster of context {client.context!r} at {client.host}: "
                           f"{_transport_text(e)}") from None
    if status == 401:
        raise ClusterError(f"not authorised by the cluster of context {client.context!r} at {client.host} "
                           "(401 Unauthorized: check the credentials or the exec plugin of the kubeconfig user)")
    if status >= 400:
        raise ClusterError(f"the cluster of context {client.context!r} answered /version with {_message(raw, status)}")
    result.server_version = str((_json(raw) or {}).get("gitVersion", ""))

    namespaces = None if settings.all_namespaces else [settings.namespace or client.default_namespace]
    result.namespaces = namespaces
    kinds = kinds_to_read(rule_kinds)
    served = _served_versions(client, {APIS[k].group for k in kinds})
    tasks: list[Task] = []
    listed: set[tuple[str, str | None]] = set()  # (kind, namespace or None for everywhere) read by lists
    for kind in kinds:
        api = APIS[kind]
        served_as = _served_as(api, served)
        if served_as is None:  # the CRD is not installed: there are no such objects
            result.not_served.append(kind)
            continue
        api_version, base = served_as
        result.kinds.append(kind)
        if kind == "Namespace" and namespaces is not None:
            ns = namespaces[0]
            tasks.append(Task(kind, api_version, f"{base}/namespaces/{ns}", ns, f"Namespace {ns}", single=True,
                              fact="mode"))
        elif kind == "ConfigMap" and "ConfigMap" not in rule_kinds:
            continue  # only the install's ConfigMaps, below
        elif not api.namespaced or namespaces is None:
            fact = FACT_KINDS.get(kind) if kind == "Namespace" or kind not in rule_kinds else None
            tasks.append(Task(kind, api_version, f"{base}/{api.plural}", None, kind, fact=fact))
            listed.add((kind, None))
        elif api.group.endswith("istio.io"):
            # Istio config reaches across namespaces (root-namespace PeerAuthentications and Sidecars,
            # exportTo): read it all; if that is forbidden, the namespaces in scope and the root one
            fallback = tuple(Task(kind, api_version, f"{base}/namespaces/{ns}/{api.plural}", ns,
                                  f"{kind} in namespace {ns}") for ns in dict.fromkeys([*namespaces, ROOT_NAMESPACE]))
            tasks.append(Task(kind, api_version, f"{base}/{api.plural}", None, kind, fallback=fallback))
            listed.add((kind, None))
        else:
            for ns in namespaces:
                tasks.append(Task(kind, api_version, f"{base}/namespaces/{ns}/{api.plural}", ns,
                                  f"{kind} in namespace {ns}"))
                listed.add((kind, ns))
    wanted = [o for o in INSTALL_OBJECTS if o[0] == "ConfigMap" or "Workload" in rule_kinds]
    for kind, ns, name, fact in wanted:  # single GETs for what no list above covers
        api = APIS[kind]
        served_as = _served_as(api, served)
        if served_as is None or (kind, None) in listed or (kind, ns) in listed:
            continue
        api_version, base = served_as
        tasks.append(Task(kind, api_version, f"{base}/namespaces/{ns}/{api.plural}/{name}", ns,
                          f"{kind} {ns}/{name}", single=True, fact=fact))

    origin = f"cluster:{client.context}"
    # controller-owned Pods, ReplicaSets and Jobs are not workloads of their own (the controller's
    # template is the truth); they are kept only as evidence for rules that read Pods
    drop_owned = frozenset() if "Pod" in rule_kinds else frozenset(CONTROLLED_KINDS) - set(rule_kinds)
    gc_was = gc.isenabled()
    gc.disable()  # pages build millions of acyclic objects; the cyclic GC only costs time here
    done = 0
    try:
        with ThreadPoolExecutor(PARALLEL_KINDS) as pool:
            futures = [pool.submit(_read, client, t, settings, origin, t.kind in drop_owned) for t in tasks]
            for task, fut in zip(tasks, futures):  # in task order: the result does not depend on timing
                objects, unreadable, dropped, evidence = fut.result()
                if dropped:
                    result.owned_skipped[task.kind] = result.owned_skipped.get(task.kind, 0) + dropped
                for ns, counts in evidence.items():
                    mine = result.pod_evidence.setdefault(ns, {})
                    for mode, n in counts.items():
                        mine[mode] = mine.get(mode, 0) + n
                result.objects.extend(objects)
                result.unreadable.extend(unreadable)
                done += 1
                if progress:
                    progress(f"reading the cluster: {done}/{len(tasks)} lists, {len(result.objects)} objects")
    finally:
        gc.freeze()  # what was read lives for the whole run: keep it out of later collections
        if gc_was:
            gc.enable()
    if "Workload" in rule_kinds and "ServiceEntry" in rule_kinds:
        _read_referenced_configmaps(client, result, settings, origin, served)
    result.requests = client.requests
    return result


def _read_referenced_configmaps(client: _Client, result: ClusterResult, settings: ClusterSettings, origin: str,
                                served: dict[str, tuple[str, ...]]) -> None:
    """The ConfigMaps the workloads read (env, envFrom, mounted files), for the egress inventory:
    endpoints hide there. Single GETs, or one list where a namespace references many; never any other
    ConfigMap's content is kept. A ConfigMap that cannot be read is named (its endpoints are missed);
    no rule is skipped for it."""
    from ..mesh.endpoints import referenced_configmaps
    from ..model import pointer_get

    served_as = _served_as(APIS["ConfigMap"], served)
    if served_as is None:
        return
    api_version, base = served_as
    have = {(o.namespace, o.name) for o in result.objects if o.kind == "ConfigMap"}
    wanted: dict[str, set[str]] = {}
    for o in result.objects:
        pointer = TEMPLATE_PATHS.get(o.kind)
        if pointer is None or _owned(o.data):  # an owned Pod or ReplicaSet reads what its controller's template does
            continue
        spec = pointer_get(o.data, f"{pointer}/spec", None)
        if isinstance(spec, dict):
            for name in referenced_configmaps(spec):
                if (o.namespace, name) not in have:
                    wanted.setdefault(o.namespace or "default", set()).add(name)
    tasks = []
    for ns, names in sorted(wanted.items()):
        if len(names) >= CONFIGMAP_LIST_AT:
            tasks.append((Task("ConfigMap", api_version, f"{base}/namespaces/{ns}/configmaps", ns,
                               f"ConfigMaps in namespace {ns} (endpoints named in them are not inventoried)"), names))
        else:
            tasks += [(Task("ConfigMap", api_version, f"{base}/namespaces/{ns}/configmaps/{n}", ns,
                            f"ConfigMap {ns}/{n} (endpoints named in it are not inventoried)", single=True), {n})
                      for n in sorted(names)]
    with ThreadPoolExecutor(PARALLEL_KINDS) as pool:
        futures = [pool.submit(_read, client, t, settings, origin) for t, _ in tasks]
        for (_, names), fut in zip(tasks, futures):
            objects, unreadable, _, _ = fut.result()
            result.objects += [o for o in objects if o.name in names]
            result.unreadable += unreadable


def _served_as(api: Api, served: dict[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """(apiVersion, URL base) of the first version of ``api`` the server serves; None if none is."""
    version = next((v for v in api.versions if v in served.get(api.group, ())), None)
    if version is None:
        return None
    if not api.group:
        return version, f"/api/{version}"
    return f"{api.group}/{version}", f"/apis/{api.group}/{version}"


def _served_versions(client: _Client, groups: set[str]) -> dict[str, tuple[str, ...]]:
    """Which versions of each API group the server serves (legacy discovery: one request)."""
    out: dict[str, tuple[str, ...]] = {"": ("v1",)}
    if not (groups - {""}):
        return out
    try:
        status, raw, _ = _get_with_retries(client, "/apis", None)
    except Exception as e:
        if not _is_transport_error(e):
            raise
        status, raw = 0, b""
    if status == 200:
        for g in _json(raw).get("groups") or []:
            out[g.get("name", "")] = tuple(v.get("version") for v in g.get("versions") or [])
    else:  # discovery unreadable: try each kind's versions and let the lists answer
        for api in APIS.values():
            out.setdefault(api.group, api.versions)
    return out


#: kinds whose controller-owned objects are evidence only: their pod template is the controller's
CONTROLLED_KINDS = ("Pod", "ReplicaSet", "Job")


def _owned(item: dict) -> bool:
    refs = (item.get("metadata") or {}).get("ownerReferences") or ()
    return any(isinstance(r, dict) and r.get("controller") for r in refs)


def _slim(item: dict) -> dict:
    meta = item.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return item


Read = tuple[list[K8sObject], list[Gap], int, dict[str, dict[MeshMode, int]]]


def _read(client: _Client, task: Task, settings: ClusterSettings, origin: str, drop_owned: bool = False) -> Read:
    """All pages of one list (or one GET): the objects, how many owned ones were dropped, and for Pods
    the data-plane mode each namespace's running pods show; or why they could not be read."""
    kind, api_version, path, single, what = task.kind, task.api_version, task.path, task.single, task.what
    objects: list[K8sObject] = []
    evidence: dict[str, dict[MeshMode, int]] = {}
    dropped = 0
    cont: str | None = None
    restarted = False
    while True:
        query: dict[str, Any] = {}
        if not single:
            query["limit"] = PAGE
            if cont:
                query["continue"] = cont
            if settings.selector and kind in SELECTABLE_KINDS:
                query["labelSelector"] = settings.selector
        try:
            status, raw, _ = _get_with_retries(client, path, query or None)
        except Exception as e:
            if not _is_transport_error(e):
                raise
            timeout = f" (--request-timeout {settings.request_timeout:g}s)" if settings.request_timeout else ""
            return [], [_gap(task, f"request failed: {_transport_text(e)}{timeout}")], 0, {}
        if status == 401:
            raise ClusterError(f"not authorised to read {what} (401 Unauthorized)")
        if status == 404 and single:
            return [], [], 0, {}  # the namespace or the mesh ConfigMap does not exist: nothing to read
        if status == 410 and cont and not restarted:  # continue token expired: one fresh, consistent list
            objects, evidence, dropped, cont, restarted = [], {}, 0, None, True
            continue
        if status == 403 and task.fallback and not cont:
            return _fall_back(client, task, _message(raw, status), settings, origin, drop_owned)
        if status >= 400:
            return [], [_gap(task, _message(raw, status))], 0, {}
        body = _json(raw)
        items = [body] if single else body.get("items") or []
        for item in items:
            if kind == "Pod":
                count_mode_evidence(evidence, item)
            if drop_owned and _owned(item):
                dropped += 1
                continue
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
            meta = item.get("metadata") or {}
            ref = ObjectRef(item["apiVersion"], kind, meta.get("namespace"), meta.get("name", ""), origin)
            objects.append(K8sObject(_slim(item), ref))
        cont = None if single else (body.get("metadata") or {}).get("continue")
        if not cont:
            return objects, [], dropped, evidence


def _fall_back(client: _Client, task: Task, reason: str, settings: ClusterSettings, origin: str,
               drop_owned: bool) -> Read:
    """The cluster-wide list was forbidden: read the namespaces in scope and the root one instead. Of
    kinds whose objects reach across namespaces (``exportTo``), the other namespaces stay unknown: one
    gap says so, not one per namespace."""
    objects: list[K8sObject] = []
    gaps: list[Gap] = []
    dropped = 0
    for t in task.fallback:
        o, u, d, _ = _read(client, t, settings, origin, drop_owned)
        objects += o
        gaps += u
        dropped += d
    if task.kind in EXPORTED_KINDS:
        read_in = tuple(t.namespace or "" for t in task.fallback)
        gaps.append(Gap(task.kind, None, f"{task.kind} outside {', '.join(read_in)}", reason, elsewhere=True,
                        read_in=read_in))
    return objects, gaps, dropped, {}


def _gap(task: Task, reason: str) -> Gap:
    return Gap(task.kind, task.namespace, task.what, reason, task.fact, name=task.path.rsplit("/", 1)[1]
               if task.single else "")
