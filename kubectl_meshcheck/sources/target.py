"""The live reads of ``kubectl meshcheck capture TARGET``: one pod (or one workload and its pods), its
namespace, the API server's version and discovery, and the user's own permissions.

- GETs only, through the same client and kubeconfig handling as ``sources/cluster.py``, except one kind of
  request: ``SelfSubjectAccessReview`` (``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews``),
  the API's way to ask "may I ...?" with the caller's own identity. It stores nothing and changes
  nothing; it is sent only by this subcommand, once per permission a route needs, and
  ``--no-access-review`` skips it (the plan then says the permissions are unknown).
- A pod's controller is followed one or two GETs up (ReplicaSet -> Deployment), so the plan can name
  the workload to patch and read its pod template.
- The local kubectl's version comes from ``kubectl version --client -o json`` (no cluster contact).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from ..mesh.capture_env import Answer, Question
from ..model import K8sObject, ObjectRef
from .cluster import ClusterError, ClusterSettings, _Client, _is_transport_error, _json, _message, _transport_text

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
#: TARGET kinds: (API path base, plural, apiVersion)
WORKLOAD_APIS = {
    "Pod": ("/api/v1", "pods", "v1"),
    "Deployment": ("/apis/apps/v1", "deployments", "apps/v1"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", "apps/v1"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", "apps/v1"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", "apps/v1"),
    "Job": ("/apis/batch/v1", "jobs", "batch/v1"),
}


class TargetError(Exception):
    """The target does not exist or is not a workload (exit 3)."""


@dataclass
class TargetRead:
    context: str = ""
    namespace: str = ""
    server_version: str = ""
    ephemeral_served: bool | None = None
    objects: list[K8sObject] = field(default_factory=list)
    workload: K8sObject | None = None  # the TARGET when it is a workload, or the pod's controller
    pods: list[K8sObject] = field(default_factory=list)  # the TARGET pod, or the workload's pods
    notes: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    requests: int = 0
    reviews: int = 0


class TargetReader:
    """One cluster conversation for one capture plan: reads first, then (``review``) the permissions."""

    def __init__(self, settings: ClusterSettings):
        self.client = _Client(settings)
        self.namespace = settings.namespace or self.client.default_namespace
        self.result = TargetRead(context=self.client.context, namespace=self.namespace)
        self.origin = f"cluster:{self.client.context}"

    def _get(self, path: str, query: dict | None = None) -> tuple[int, Any]:
        try:
            status, raw, _ = self.client.get(path, query)
        except Exception as e:
            if not _is_transport_error(e):
                raise
            raise ClusterError(f"cannot reach the cluster of context {self.client.context!r} at {self.client.host}: "
                               f"{_transport_text(e)}") from None
        if status == 401:
            raise ClusterError(f"not authorised by the cluster of context {self.client.context!r} (401 Unauthorized)")
        return status, (_json(raw) if status < 400 else _message(raw, status))

    def _object(self, item: dict, kind: str, api_version: str) -> K8sObject:
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
        meta = item.get("metadata") or {}
        meta.pop("managedFields", None)
        obj = K8sObject(item, ObjectRef(api_version, kind, meta.get("namespace"), meta.get("name", ""), self.origin))
        self.result.objects.append(obj)
        return obj

    def read(self, kind: str, name: str) -> TargetRead:
        res, ns = self.result, self.namespace
        status, body = self._get("/version")
        if status >= 400:
            raise ClusterError(f"the cluster of context {self.client.context!r} answered /version with {body}")
        res.server_version = str(body.get("gitVersion", ""))
        status, body = self._get("/api/v1")
        if status < 400:
            res.ephemeral_served = any(r.get("name") == "pods/ephemeralcontainers" for r in body.get("resources") or [])
        else:
            res.notes.append(f"discovery /api/v1 unreadable ({body}): pods/ephemeralcontainers not checked")
        status, body = self._get(f"/api/v1/namespaces/{ns}")
        if status < 400:
            self._object(body, "Namespace", "v1")
        elif status == 404:
            raise TargetError(f"namespace {ns!r} not found in context {self.client.context!r}")
        else:
            res.notes.append(f"Namespace {ns} unreadable ({body}): its PodSecurity level and mesh labels are unknown")
        base, plural, api_version = WORKLOAD_APIS[kind]
        status, body = self._get(f"{base}/namespaces/{ns}/{plural}/{name}")
        if status == 404:
            raise TargetError(f"{kind.lower()} {name!r} not found in namespace {ns} (context {self.client.context!r})")
        if status >= 400:
            raise ClusterError(f"cannot read {kind.lower()} {ns}/{name}: {body}")
        target = self._object(body, kind, api_version)
        if kind == "Pod":
            res.pods = [target]
            res.workload = self._controller(target)
        else:
            res.workload = target
            res.pods = self._pods_of(target)
        res.requests = self.client.requests
        return res

    def _controller(self, pod: K8sObject) -> K8sObject | None:
        """The pod's controller, followed up once more (ReplicaSet -> Deployment, Job -> CronJob stops)."""
        obj, seen = pod, 0
        while seen < 2:
            ref = next((r for r in (obj.data.get("metadata") or {}).get("ownerReferences") or []
                        if isinstance(r, dict) and r.get("controller")), None)
            if ref is None or ref.get("kind") not in WORKLOAD_APIS:
                break
            base, plural, api_version = WORKLOAD_APIS[ref["kind"]]
            status, body = self._get(f"{base}/namespaces/{self.namespace}/{plural}/{ref.get('name')}")
            if status >= 400:
                self.result.notes.append(f"{ref['kind']} {ref.get('name')} unreadable ({body})")
                break
            obj, seen = self._object(body, ref["kind"], api_version), seen + 1
        return obj if obj is not pod else None

    def _pods_of(self, workload: K8sObject) -> list[K8sObject]:
        selector = label_selector_text((workload.data.get("spec") or {}).get("selector"))
        if selector is None and workload.kind == "Job":
            selector = f"job-name={workload.name}"
        if not selector:
            return []
        status, body = self._get(f"/api/v1/namespaces/{self.namespace}/pods", {"labelSelector": selector})
        if status >= 400:
            self.result.notes.append(f"pods of {workload.kind}/{workload.name} unreadable ({body})")
            return []
        return [self._object(item, "Pod", "v1") for item in body.get("items") or []]

    def review(self, questions: tuple[Question, ...]) -> list[Answer]:
        """One SelfSubjectAccessReview per question, as the user (the only non-GET request)."""
        answers = []
        for q in questions:
            body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": q.attributes()}}
            try:
                status, raw = self._post(SSAR_PATH, body)
            except Exception as e:
                if not _is_transport_error(e):
                    raise
                answers.append(Answer(q, None, f"review failed: {_transport_text(e)}"))
                continue
            if status >= 400:
                answers.append(Answer(q, None, f"review refused: {_message(raw, status)}"))
                continue
            st = (_json(raw) or {}).get("status") or {}
            answers.append(Answer(q, bool(st.get("allowed")) and not st.get("denied"),
                                  str(st.get("reason") or st.get("evaluationError") or "")))
        self.result.answers = answers
        self.result.requests = self.client.requests
        return answers

    def _post(self, path: str, body: dict) -> tuple[int, bytes]:
        api = self.client.api
        method, url, headers, payload, _ = api.param_serialize(
            "POST", path, body=body, header_params={"Accept": "application/json", "Content-Type": "application/json"},
            auth_settings=["BearerToken"])
        self.client.requests += 1
        self.result.reviews += 1
        resp = api.call_api(method, url, header_params=headers, body=payload, _request_timeout=self.client.timeout)
        return resp.status, resp.read()


def label_selector_text(selector: Any) -> str | None:
    """A LabelSelector as the ``labelSelector`` query string (None when it is not one)."""
    if not isinstance(selector, dict):
        return None
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        if not isinstance(e, dict) or not e.get("key"):
            continue
        op, key, values = e.get("operator"), e["key"], ",".join(map(str, e.get("values") or []))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(parts) or None


def local_kubectl_version(kubectl: str = "kubectl") -> tuple[str, str]:
    """(gitVersion, problem) of the kubectl on PATH, from ``kubectl version --client -o json``."""
    path = shutil.which(kubectl)
    if path is None:
        return "", "kubectl not found on PATH"
    try:
        proc = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True,
                              timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "", f"{path} version --client failed: {type(e).__name__}"
    try:
        version = str(json.loads(proc.stdout)["clientVersion"]["gitVersion"])
    except (ValueError, KeyError, TypeError):
        first = (proc.stderr or proc.stdout).strip().splitlines()
        return "", f"{path} version --client -o json gave no version" + (f" ({first[0][:120]})" if first else "")
    return version, ""
