"""A read-only Kubernetes API server emulation over real HTTP on 127.0.0.1, for tests and benchmarks.

It speaks the REST API the way kube-apiserver does, so the real ``kubectl`` and the official
``kubernetes`` client can be pointed at it unchanged: legacy and aggregated (v2) discovery, LIST
(cluster-wide and per namespace) with ``limit``/``continue`` and label/field selectors, GET, metav1
``Status`` errors worded like the real server's, bearer-token auth, injectable faults and delays.
Writes are refused (405) and counted; the one POST answered is a SelfSubjectAccessReview (``access``
configures the answers, ``access_reviews`` records the questions), which changes nothing. Each object
is encoded to JSON once, when added; list pages are assembled from those bytes, so hundreds of MB are
served without re-encoding.
"""

from __future__ import annotations

import base64
import contextlib
import bisect
import datetime as dt
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

USER = "meshcheck"  # the user named in Forbidden messages (write_kubeconfig's default user)
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
HEALTH = ("/healthz", "/readyz", "/livez")
DISCOVERY_V2 = "application/json;g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList"
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
           429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
MESSAGES = {401: "Unauthorized", 405: "the server does not allow this method on the requested resource",
            409: "the object has been modified; please apply your changes to the latest version and try again",
            410: "The provided continue parameter is too old to display a consistent list result. You can start a "
                 "new list without the continue parameter.",
            429: "Too many requests, please try again later.",
            500: "Internal error occurred: fault injected by the API server emulation",
            503: "the server is currently unable to handle the request",
            504: "the server was unable to return a response in the time allotted, but may still be processing "
                 "the request"}
NOT_FOUND = "the server could not find the requested resource"
#: what kube-apiserver's discovery lists under pods (``kubectl api-resources`` hides subresources)
POD_SUBRESOURCES = (("attach", ("create", "get")), ("binding", ("create",)), ("ephemeralcontainers", ("get", "patch",
                    "update")), ("eviction", ("create",)), ("exec", ("create", "get")), ("log", ("get",)),
                    ("portforward", ("create", "get")), ("proxy", ("create", "delete", "get", "patch", "update")),
                    ("status", ("get", "patch", "update")))
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


@dataclass(frozen=True)
class Resource:
    """One entry of the catalog: what discovery advertises and where objects of a kind live."""

    group: str  # "" for the core group
    versions: tuple[str, ...]  # preferred first
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(VERBS)
    subresources: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, verbs) as discovery lists them

    @property
    def qualified(self) -> str:
        """``pods`` or ``deployments.apps``: how the real server names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version


def _catalog() -> list[Resource]:
    core, apps, istio, sec, all_ = ("v1",), ("v1",), ("v1", "v1beta1", "v1alpha3"), ("v1", "v1beta1"), ("all",)
    R = Resource
    return [
        R("", core, "Namespace", "namespaces", False, ("ns",)),
        R("", core, "Node", "nodes", False, ("no",)),
        R("", core, "Pod", "pods", True, ("po",), all_, subresources=POD_SUBRESOURCES),
        R("", core, "Service", "services", True, ("svc",), all_),
        R("", core, "ConfigMap", "configmaps", True, ("cm",)),
        R("", core, "Secret", "secrets"),
        R("", core, "Endpoints", "endpoints", True, ("ep",)),
        R("", core, "ServiceAccount", "serviceaccounts", True, ("sa",)),
        R("", core, "Event", "events", True, ("ev",)),
        R("", core, "ReplicationController", "replicationcontrollers", True, ("rc",), all_),
        R("apps", apps, "Deployment", "deployments", True, ("deploy",), all_),
        R("apps", apps, "StatefulSet", "statefulsets", True, ("sts",), all_),
        R("apps", apps, "DaemonSet", "daemonsets", True, ("ds",), all_),
        R("apps", apps, "ReplicaSet", "replicasets", True, ("rs",), all_),
        R("batch", ("v1",), "Job", "jobs", True, (), all_),
        R("batch", ("v1",), "CronJob", "cronjobs", True, ("cj",), all_),
        R("networking.k8s.io", ("v1",), "Ingress", "ingresses", True, ("ing",)),
        R("policy", ("v1",), "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",)),
        R("apiextensions.k8s.io", ("v1",), "CustomResourceDefinition", "customresourcedefinitions", False,
          ("crd", "crds")),
        R("monitoring.coreos.com", ("v1",), "ServiceMonitor", "servicemonitors", True, ("smon",)),
        R("monitoring.coreos.com", ("v1",), "PodMonitor", "podmonitors", True, ("pmon",)),
        R("gateway.networking.k8s.io", ("v1", "v1beta1"), "HTTPRoute", "httproutes", True, (), ("gateway-api",)),
        R("gateway.networking.k8s.io", ("v1", "v1beta1"), "Gateway", "gateways", True, ("gtw",), ("gateway-api",)),
        R("networking.istio.io", istio, "ServiceEntry", "serviceentries", True, ("se",), ("istio-io",)),
        R("networking.istio.io", istio, "Sidecar", "sidecars", True, (), ("istio-io",)),
        R("networking.istio.io", istio, "DestinationRule", "destinationrules", True, ("dr",), ("istio-io",)),
        R("networking.istio.io", istio, "VirtualService", "virtualservices", True, ("vs",), ("istio-io",)),
        R("networking.istio.io", istio, "Gateway", "gateways", True, ("gw",), ("istio-io",)),
        R("networking.istio.io", istio, "WorkloadEntry", "workloadentries", True, ("we",), ("istio-io",)),
        R("networking.istio.io", ("v1alpha3",), "EnvoyFilter", "envoyfilters", True, (), ("istio-io",)),
        R("security.istio.io", sec, "PeerAuthentication", "peerauthentications", True, ("pa",), ("istio-io",)),
        R("security.istio.io", sec, "AuthorizationPolicy", "authorizationpolicies", True, ("ap",), ("istio-io",)),
        R("security.istio.io", sec, "RequestAuthentication", "requestauthentications", True, ("ra",),
          ("istio-io",)),
        R("authorization.k8s.io", ("v1",), "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
          verbs=("create",)),
    ]


CATALOG: tuple[Resource, ...] = tuple(_catalog())


class Entry:
    """A stored object: its JSON once encoded (without ``apiVersion``), and what selectors need."""

    __slots__ = ("namespace", "name", "labels", "tail")

    def __init__(self, namespace: str, name: str, labels: dict[str, str], tail: bytes):
        self.namespace, self.name, self.labels, self.tail = namespace, name, labels, tail


class Store:
    """The objects of one resource, by (namespace, name), with the sorted key list kept lazily."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}
        self._keys: list[tuple[str, str]] | None = []
        self._lock = threading.Lock()

    def put(self, entry: Entry) -> None:
        key = (entry.namespace, entry.name)
        with self._lock:
            new = key not in self.entries
            self.entries[key] = entry
            if new:
                self._keys = None  # re-sorted on the next read

    def keys(self) -> list[tuple[str, str]]:
        """Sorted like etcd keys; replaced, never mutated, so readers on other threads are safe."""
        keys = self._keys
        if keys is None:
            with self._lock:
                keys = self._keys = sorted(self.entries)
        return keys


@dataclass
class Fault:
    resource: str
    namespace: str | None
    verb: str
    status: int | None
    delay: float
    times: int | None
    retry_after: int | None
    group: str | None
    message: str | None

    def matches(self, res: Resource, namespace: str | None, verb: str) -> bool:
        return (self.resource in ("*", res.plural) and self.verb in ("*", verb)
                and (self.namespace is None or self.namespace == namespace)
                and (self.group is None or self.group == res.group))


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """Answered as a metav1 Status."""

    def __init__(self, code: int, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code, self.message, self.details, self.headers = code, message, details or {}, headers or {}

    def reply(self) -> Reply:
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                  "reason": REASONS.get(self.code, ""), "details": self.details, "code": self.code}
        return Reply(self.code, _dumps(status), headers=self.headers)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()


def _json_default(value: Any) -> str:
    """YAML loaders turn timestamps into datetimes; the API speaks RFC 3339."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.timezone.utc) if value.tzinfo else value
        return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# -- selectors ---------------------------------------------------------------------------------------

_REQUIREMENT = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=|>|<)\s*([^\s,()]*)|\s+(in|notin)\s*"
                          r"\(([^)]*)\))?\s*$")


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses: ``a in (x,y),b`` is two requirements."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str) -> list[tuple[str, str, Any]]:
    """``[(key, op, value)]`` for =, ==, !=, in, notin, exists, !exists, >, <; ValueError when malformed."""
    out: list[tuple[str, str, Any]] = []
    for part in _split_top(text):
        m = _REQUIREMENT.match(part)
        if not m or (m.group(1) and (m.group(3) or m.group(5))):
            raise ValueError(f"unable to parse requirement: {part.strip()!r}")
        neg, key, op, value, set_op, values = m.groups()
        if set_op:
            out.append((key, set_op, {v.strip() for v in values.split(",") if v.strip()}))
        elif op:
            if op in ("<", ">") and not value.lstrip("-").isdigit():
                raise ValueError(f"unable to parse requirement: for 'gt', 'lt' operators, the value must be an "
                                 f"integer: {value!r}")
            out.append((key, {"==": "="}.get(op, op), value))
        else:
            out.append((key, "!exists" if neg else "exists", None))
    return out


def _labels_match(labels: dict[str, str], requirements: list[tuple[str, str, Any]]) -> bool:
    for key, op, value in requirements:
        have = labels.get(key)
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op == "in" and have not in value or op == "notin" and have in value:
            return False
        if op == "exists" and have is None or op == "!exists" and have is not None:
            return False
        if op in ("<", ">") and not (have is not None and have.lstrip("-").isdigit()
                               and (int(have) > int(value) if op == ">" else int(have) < int(value))):
            return False
    return True


def parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    """``[(field, equal, value)]``: metadata.name and metadata.namespace with =, == and !=."""
    out = []
    for part in _split_top(text):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(\S*)\s*$", part)
        if not m:
            raise ValueError(f"invalid selector: {part.strip()!r}; can't understand {part.strip()!r}")
        if m.group(1) not in ("metadata.name", "metadata.namespace"):
            raise ValueError(f'field label not supported: {m.group(1)}')
        out.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return out


def _fields_match(entry: Entry, requirements: list[tuple[str, bool, str]]) -> bool:
    for name, equal, value in requirements:
        have = entry.name if name == "metadata.name" else entry.namespace
        if (have == value) != equal:
            return False
    return True


def _encode_continue(rv: int, key: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ns, name = doc["start"]
        if doc.get("v") != "meta.k8s.io/v1" or not isinstance(ns, str) or not isinstance(name, str):
            raise ValueError
        return ns, name
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ApiError(400, "invalid continue token: continue key is not valid: incorrect encoded start "
                            "resourceVersion (version meta.k8s.io/v1)") from None


# -- the server --------------------------------------------------------------------------------------

class KubeAPIServer:
    """A read-only API server with the built-in catalog; see the module docstring."""

    #: False: a server without ``pods/ephemeralcontainers`` (before 1.23, or the feature gate off):
    #: discovery does not list it, as kube-apiserver does not. Set before ``start``.
    ephemeral_containers = True

    def __init__(self, objects: Iterable[dict] = (), token: str | None = None, absent_groups: Iterable[str] = (),
                 served_versions: dict[str, list[str]] | None = None, version: str = "v1.32.4",
                 host: str = "127.0.0.1", port: int = 0, authorizer: Any = None):
        """``authorizer``: an :class:`~tests.kubeapi.rbac.Authorizer` (RBAC grants); None allows everything."""
        self.token, self.version, self.host, self.port = token, version, host, port
        self.authorizer = authorizer
        self.requests: list[dict[str, Any]] = []
        self._writes = 0
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rv = 0
        self._created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._by_kind = {(r.group, r.kind): r for r in CATALOG}
        self._stores: dict[tuple[str, str], Store] = {(r.group, r.plural): Store() for r in CATALOG}
        self._served = self._served_resources(set(absent_groups), served_versions or {})
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.access_reviews: list[dict[str, Any]] = []  # the resourceAttributes of each SelfSubjectAccessReview
        self._access_rules: list[tuple[dict[str, str], bool, str]] = []
        for obj in objects:
            self.add(obj)

    @staticmethod
    def _served_resources(absent: set[str], restrict: dict[str, list[str]]) -> dict[str, dict[str, list[Resource]]]:
        """group -> version (preferred first) -> resources served there."""
        groups = {r.group for r in CATALOG}
        unknown = (absent | set(restrict)) - groups
        if unknown:
            raise ValueError(f"unknown API group(s) {sorted(unknown)}; the catalog has {sorted(groups)}")
        for group, versions in restrict.items():
            known = {v for r in CATALOG if r.group == group for v in r.versions}
            if not versions or set(versions) - known:
                raise ValueError(f"served_versions[{group!r}] = {versions}: the catalog has {sorted(known)}")
        served: dict[str, dict[str, list[Resource]]] = {}
        for res in CATALOG:
            if res.group in absent:
                continue
            allowed = restrict.get(res.group)
            for v in res.versions:
                if allowed is None or v in allowed:
                    served.setdefault(res.group, {}).setdefault(v, []).append(res)
        order = {g: [v for r in CATALOG if r.group == g for v in r.versions] for g in served}
        return {g: dict(sorted(vs.items(), key=lambda kv: order[g].index(kv[0]))) for g, vs in served.items()}

    # -- objects -------------------------------------------------------------------------------------

    def add(self, obj: dict) -> None:
        """Store one object as the real server would after a create (uid, resourceVersion, timestamp)."""
        if not isinstance(obj, dict):
            raise ValueError(f"an object must be a mapping, not {type(obj).__name__}")
        api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
        group = api_version.rpartition("/")[0]
        res = self._by_kind.get((group, kind))
        if res is None:
            known = sorted({f"{r.kind} ({r.api_version(r.versions[0])})" for r in CATALOG})
            raise ValueError(f"unknown kind {kind or '<none>'!r} in apiVersion {api_version or '<none>'!r}: "
                             f"the emulated catalog has {', '.join(known)}")
        meta = dict(obj.get("metadata") or {})
        name = meta.get("name")
        if not name or not isinstance(name, str):
            raise ValueError(f"{kind} without metadata.name")
        if res.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        given = str(meta.get("resourceVersion") or "")
        with self._lock:  # a dump's own resourceVersion is kept; the list's is the highest seen
            self._rv = max(self._rv + 1, int(given) if given.isdigit() else 0)
            meta["resourceVersion"] = given if given.isdigit() else str(self._rv)
        if not meta.get("uid"):  # stable across runs, so outputs that show uids can be compared
            meta["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{res.qualified}/{meta.get('namespace')}/{name}"))
        meta.setdefault("creationTimestamp", self._created)
        rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        tail = _dumps({"kind": kind, "metadata": meta, **rest})[1:]  # without "{": the apiVersion goes first
        self._stores[(res.group, res.plural)].put(Entry(meta.get("namespace", ""), name, labels, tail))

    # -- faults and counters -------------------------------------------------------------------------

    def fault(self, resource: str = "pods", namespace: str | None = None, verb: str = "list",
              status: int | None = 403, delay: float = 0.0, times: int | None = None,
              retry_after: int | None = None, group: str | None = None, message: str | None = None) -> None:
        """Answer matching LIST/GET requests with ``status`` (after ``delay`` s), for ``times`` requests."""
        if verb not in ("list", "get", "*"):
            raise ValueError(f"verb must be 'list', 'get' or '*', not {verb!r}")
        with self._lock:
            self._faults.append(Fault(resource, namespace, verb, status, delay, times, retry_after, group, message))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def writes(self) -> int:
        """Requests with a method other than GET/HEAD (all refused), SelfSubjectAccessReviews aside."""
        return self._writes

    def _take_fault(self, res: Resource, namespace: str | None, verb: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.matches(res, namespace, verb):
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            self._faults.remove(f)
                    return f
        return None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on a daemon thread; returns the URL (the same one when already started)."""
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self.port), _Handler)
            self._httpd.api = self
            host, port = self._httpd.server_address[:2]
            self.url = f"http://{host}:{port}"
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),  # a quick stop()
                                            name=f"kubeapi:{port}", daemon=True)
            self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop listening and cut kept-alive connections, so clients see the server gone."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
            if self._thread:
                self._thread.join(5)

    def __enter__(self) -> KubeAPIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, body: bytes = b"") -> Reply:
        """One request to one reply; never raises."""
        split = urlsplit(target)
        path = unquote(split.path).rstrip("/") or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        if method not in ("GET", "HEAD") and (method, path) != ("POST", SSAR_PATH):
            with self._lock:
                self._writes += 1
        try:
            reply = self._route(method, path, query, headers, body)
        except ApiError as e:
            reply = e.reply()
        except Exception as e:  # a bug here must show up as a 500, not as a hung client
            reply = ApiError(500, f"Internal error occurred: {type(e).__name__}: {e}").reply()
        self.requests.append({"method": method, "path": split.path, "query": query, "status": reply.status})
        return reply

    def _route(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes = b"") -> Reply:
        if self.token and path not in HEALTH and headers.get("Authorization", "") != f"Bearer {self.token}":
            raise ApiError(401, MESSAGES[401])
        if (method, path) == ("POST", SSAR_PATH):
            return self._access_review(body, headers.get("Content-Type", ""))
        if method not in ("GET", "HEAD"):
            raise ApiError(405, MESSAGES[405])
        if path in HEALTH:
            return Reply(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return Reply(200, _dumps(self._version_info()))
        if path == "/":
            return Reply(200, _dumps({"paths": ["/api", "/api/v1", "/apis", *self._group_paths(), *HEALTH,
                                                "/version"]}))
        if path in ("/api", "/apis"):
            v2 = _wants_discovery_v2(headers.get("Accept", ""))
            if v2:
                body = self._discovery_v2(core=path == "/api", version=v2)
                return Reply(200, _dumps(body), DISCOVERY_V2.format(v2))
            return Reply(200, _dumps(self._api_versions() if path == "/api" else self._group_list()))
        parts = path.split("/")[1:]
        if parts[0] == "api" and len(parts) >= 2:
            return self._resource_request("", parts[1], parts[2:], query)
        if parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                if parts[1] not in self._served:
                    raise ApiError(404, NOT_FOUND)
                return Reply(200, _dumps({"kind": "APIGroup", "apiVersion": "v1", **self._group(parts[1])}))
            return self._resource_request(parts[1], parts[2], parts[3:], query)
        raise ApiError(404, NOT_FOUND)

    def _resource_request(self, group: str, version: str, rest: list[str], query: dict[str, str]) -> Reply:
        resources = self._served.get(group, {}).get(version)
        if resources is None:
            raise ApiError(404, NOT_FOUND)
        if not rest:
            return Reply(200, _dumps(self._resource_list(group, version, resources)))
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        res = next((r for r in resources if r.plural == rest[0]), None)
        if (res is None or len(rest) > 2 or (namespace is not None and not res.namespaced)
                or (res.namespaced and namespace is None and len(rest) == 2)):
            raise ApiError(404, NOT_FOUND)
        name = rest[1] if len(rest) == 2 else None
        if ("get" if name else "list") not in res.verbs:  # SelfSubjectAccessReviews are only created
            raise ApiError(405, MESSAGES[405])
        if res.plural == "namespaces" and name:
            namespace = name  # RBAC sees a Namespace GET as a request in that namespace
        verb = "get" if name else "list"
        if self.authorizer is not None and not self.authorizer.allows(verb, res.group, res.plural, namespace):
            raise self._fault_error(Fault(res.plural, namespace, verb, 403, 0, None, None, None, None), res,
                                    namespace, verb, name)
        fault = self._take_fault(res, namespace, verb)
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                raise self._fault_error(fault, res, namespace, verb, name)
        if query.get("watch") in ("1", "true"):
            raise ApiError(405, "watch is not supported by the API server emulation")
        prefix = b'{"apiVersion":"' + res.api_version(version).encode() + b'",'
        if name:
            entry = self._stores[(res.group, res.plural)].entries.get((namespace if res.namespaced else "", name))
            if entry is None:
                raise ApiError(404, f'{res.qualified} "{name}" not found', _details(res, name))
            return Reply(200, prefix + entry.tail)
        return Reply(200, self._list(res, version, namespace, query, prefix))

    def _list(self, res: Resource, version: str, namespace: str | None, query: dict[str, str],
              prefix: bytes) -> bytes:
        """One page of a LIST, assembled from the pre-encoded items."""
        store = self._stores[(res.group, res.plural)]
        keys = store.keys()
        lo, hi = 0, len(keys)
        if namespace is not None:
            lo, hi = bisect.bisect_left(keys, (namespace, "")), bisect.bisect_left(keys, (namespace + "\0", ""))
        try:
            labels = parse_label_selector(query.get("labelSelector", ""))
            fields = parse_field_selector(query.get("fieldSelector", ""))
            limit = int(query.get("limit") or 0)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        if query.get("continue"):
            lo = max(lo, bisect.bisect_right(keys, _decode_continue(query["continue"]), lo, hi))
        parts: list[bytes] = []
        count, last, more = 0, lo, False
        entries = store.entries
        for i in range(lo, hi):
            entry = entries[keys[i]]
            if (labels and not _labels_match(entry.labels, labels)) or (fields and not _fields_match(entry, fields)):
                continue
            if limit and count == limit:
                more = True
                break
            parts += (prefix, entry.tail, b",")
            count, last = count + 1, i
        if parts:
            parts.pop()
        meta: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if more:
            meta["continue"] = _encode_continue(self._rv, keys[last])
            if not labels and not fields:  # the real server cannot count past a selector either
                meta["remainingItemCount"] = hi - last - 1
        head = (b'{"kind":"' + res.kind.encode() + b'List","apiVersion":"' + res.api_version(version).encode()
                + b'","metadata":' + _dumps(meta) + b',"items":[')
        return b"".join([head, *parts, b"]}"])

    def _fault_error(self, fault: Fault, res: Resource, namespace: str | None, verb: str,
                     name: str | None) -> ApiError:
        code = fault.status or 500
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        details = _details(res, name)
        if code == 403:
            what = f'{res.qualified} "{name}"' if name else res.qualified
            where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            message = (f'{what} is forbidden: User "{USER}" cannot {verb} resource "{res.plural}" in API group '
                       f'"{res.group}" {where}')
        elif code == 404:
            message = f'{res.qualified} "{name}" not found' if name else NOT_FOUND
            details = details if name else {}
        else:
            message = MESSAGES.get(code, f"the server answered {code} (fault injected by the API server emulation)")
            if code == 429 and fault.retry_after is not None:
                details["retryAfterSeconds"] = fault.retry_after
        return ApiError(code, fault.message or message, details, headers)

    # -- access reviews ------------------------------------------------------------------------------

    def access(self, verb: str = "*", resource: str = "*", allowed: bool = False, *, subresource: str = "*",
               namespace: str | None = None, group: str | None = None, name: str | None = None,
               reason: str = "") -> None:
        """How SelfSubjectAccessReviews are answered: the first matching rule, newest first, decides;
        without one the review is allowed (an admin). ``*`` or None matches anything."""
        match = {"verb": verb, "resource": resource, "subresource": subresource, "namespace": namespace,
                 "group": group, "name": name}
        with self._lock:
            self._access_rules.insert(0, ({k: v for k, v in match.items() if v not in (None, "*")}, allowed, reason))

    def _access_review(self, body: bytes, content_type: str = "") -> Reply:
        """Answer a SelfSubjectAccessReview as kube-apiserver does: the review with ``status`` filled in.
        JSON only: kubectl's protobuf bodies get a 415 naming that."""
        if "protobuf" in content_type:
            raise ApiError(415, "the API server emulation reads JSON only (kubectl sends protobuf: use the "
                                "kubernetes client)")
        try:
            review = json.loads(body or b"{}")
            attrs = review["spec"]["resourceAttributes"]
            if not isinstance(attrs, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "SelfSubjectAccessReview in version \"v1\" cannot be handled: "
                                "spec.resourceAttributes is required") from None
        with self._lock:
            self.access_reviews.append(dict(attrs))
            rules = list(self._access_rules)
        allowed, reason = True, ""
        for match, rule_allowed, rule_reason in rules:
            if all(str(attrs.get(k, "")) == v for k, v in match.items()):
                allowed, reason = rule_allowed, rule_reason
                break
        else:  # no access() rule says: the RBAC grants answer, as for the 403s they decide
            if self.authorizer is not None:
                resource = str(attrs.get("resource", "")) + (f"/{attrs['subresource']}" if attrs.get("subresource")
                                                             else "")
                allowed = self.authorizer.allows(str(attrs.get("verb", "")), str(attrs.get("group", "")), resource,
                                                 attrs.get("namespace") or None)
                reason = "" if allowed else "no RBAC grant allows it (API server emulation)"
        status: dict[str, Any] = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        doc = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
               "metadata": {"creationTimestamp": None}, "spec": review["spec"], "status": status}
        return Reply(201, _dumps(doc))

    def _subresources(self, res: Resource) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple((s, v) for s, v in res.subresources if s != "ephemeralcontainers" or self.ephemeral_containers)

    # -- discovery -----------------------------------------------------------------------------------

    def _version_info(self) -> dict[str, str]:
        m = re.match(r"v?(\d+)\.(\d+)", self.version)
        major, minor = m.groups() if m else ("1", "32")
        return {"major": major, "minor": minor, "gitVersion": self.version,
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                "buildDate": "2025-04-22T00:00:00Z", "goVersion": "go1.23.8", "compiler": "gc",
                "platform": "linux/amd64"}

    def _group_paths(self) -> list[str]:
        return [p for g, vs in self._served.items() if g for p in (f"/apis/{g}", *(f"/apis/{g}/{v}" for v in vs))]

    def _api_versions(self) -> dict[str, Any]:
        address = self.url.removeprefix("http://")
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}

    def _group(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self._served[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def _group_list(self) -> dict[str, Any]:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group(g) for g in self._served if g]}

    def _resource_list(self, group: str, version: str, resources: list[Resource]) -> dict[str, Any]:
        items = []
        for r in resources:
            items.append({"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced, "kind": r.kind,
                          "verbs": list(r.verbs), "shortNames": list(r.short_names), "categories": list(r.categories)})
            items += [{"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                       "kind": _subresource_kind(r, sub), "verbs": list(verbs)} for sub, verbs in self._subresources(r)]
        doc: dict[str, Any] = {"kind": "APIResourceList", "groupVersion": f"{group}/{version}" if group else version,
                               "resources": items}
        return doc if not group else {"kind": "APIResourceList", "apiVersion": "v1", **doc}

    def _discovery_v2(self, core: bool, version: str) -> dict[str, Any]:
        """Aggregated discovery: every group, version and resource in one document."""
        items = []
        for group, versions in self._served.items():
            if (group == "") != core:
                continue
            items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": [
                {"version": v, "freshness": "Current", "resources": [
                    {"resource": r.plural, "responseKind": {"group": r.group, "version": v, "kind": r.kind},
                     "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.kind.lower(),
                     "verbs": list(r.verbs), "shortNames": list(r.short_names), "categories": list(r.categories),
                     **({"subresources": [
                         {"subresource": sub, "responseKind": {"group": r.group, "version": v,
                                                               "kind": _subresource_kind(r, sub)},
                          "verbs": list(verbs)} for sub, verbs in self._subresources(r)]}
                        if self._subresources(r) else {})}
                    for r in resources]}
                for v, resources in versions.items()]})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
                "metadata": {}, "items": items}


def _subresource_kind(res: Resource, sub: str) -> str:
    return {"attach": "PodAttachOptions", "binding": "Binding", "eviction": "Eviction", "exec": "PodExecOptions",
            "portforward": "PodPortForwardOptions", "proxy": "PodProxyOptions"}.get(sub, res.kind)


def _details(res: Resource, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name} if name else {}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    return details


def _wants_discovery_v2(accept: str) -> str | None:
    """'v2' or 'v2beta1' when the first acceptable media type is aggregated discovery, else None (legacy)."""
    for media in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
            if params.get("v") in ("v2", "v2beta1"):
                return params["v"]
        elif media.strip():
            return None
    return None


class _HTTPServer(ThreadingHTTPServer):
    """Daemon threads, and a record of open connections so ``stop`` can cut keep-alive clients."""

    daemon_threads = True
    allow_reuse_address = True
    api: KubeAPIServer

    def __init__(self, *args: Any, **kwargs: Any):
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as kubectl and urllib3 expect
    disable_nagle_algorithm = True  # else Nagle plus delayed ACK costs ~40 ms per request
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is ``KubeAPIServer.requests``."""

    def do_GET(self) -> None:
        self._answer(self.server.api.handle("GET", self.path, self.headers))

    def do_HEAD(self) -> None:
        self._answer(self.server.api.handle("HEAD", self.path, self.headers), body=False)

    def __getattr__(self, name: str) -> Any:
        """Every other method (POST, PUT, PATCH, DELETE, ...) is a write: counted and refused."""
        if not name.startswith("do_"):
            raise AttributeError(name)
        return self._write

    def _write(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = b""
        if length:
            body = self.rfile.read(length)
        elif "chunked" in self.headers.get("Transfer-Encoding", ""):
            self.close_connection = True  # body not read: do not reuse the connection
        self._answer(self.server.api.handle(self.command, self.path, self.headers, body))

    def _answer(self, reply: Reply, body: bool = True) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout): nothing to tell it
            self.close_connection = True


# -- loading files and writing kubeconfigs -----------------------------------------------------------

def data_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files to load: each file given, and the .json/.yaml/.yml files under each directory, sorted."""
    out: list[Path] = []
    for top in map(Path, paths):
        if not top.exists():
            raise FileNotFoundError(f"{top}: no such file or directory")
        out += sorted(p for p in top.rglob("*") if p.suffix in (".json", ".yaml", ".yml")) if top.is_dir() else [top]
    return out


def load_file(path: Path) -> Iterator[dict]:
    """The objects of one file: JSON (an object, a ``*List``, an array) or multi-document YAML."""
    if path.suffix == ".json":
        docs: Iterable[Any] = [json.loads(path.read_bytes())]
    else:
        docs = yaml.load_all(path.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for doc in docs:
        yield from _flatten(doc, path)


def load_objects(paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict]:
    """Every object under ``paths`` (files or directories, recursively)."""
    for path in data_files(paths):
        yield from load_file(path)


def _flatten(doc: Any, path: Path) -> Iterator[dict]:
    if doc is None:
        return
    if isinstance(doc, list):
        for item in doc:
            yield from _flatten(item, path)
    elif isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from _flatten(item, path)
    elif isinstance(doc, dict):
        yield doc
    else:
        raise ValueError(f"{path}: expected Kubernetes objects, found {type(doc).__name__}")


def write_kubeconfig(path: str | os.PathLike[str], server_url: str, *, context: str = "emu",
                     namespace: str | None = None, token: str | None = None, exec_command: list[str] | None = None,
                     user: str = "meshcheck", cluster: str = "emu") -> str:
    """A kubeconfig for the emulation (plain HTTP, no TLS): a token, an exec plugin, or no credentials.

    The Python client sends the token (and runs the exec plugin) over plain HTTP; kubectl (client-go) sends
    credentials over TLS only, so against this server kubectl always requests anonymously.
    """
    creds: dict[str, Any] = {}
    if token is not None:
        creds["token"] = token
    if exec_command:
        creds["exec"] = {"apiVersion": "client.authentication.k8s.io/v1", "command": exec_command[0],
                         "args": list(exec_command[1:]), "interactiveMode": "Never"}
    ctx: dict[str, Any] = {"cluster": cluster, "user": user}
    if namespace:
        ctx["namespace"] = namespace
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
           "clusters": [{"name": cluster, "cluster": {"server": server_url}}],
           "contexts": [{"name": context, "context": ctx}], "users": [{"name": user, "user": creds}]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)
