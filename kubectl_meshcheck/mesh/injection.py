"""Will Istio put a sidecar in this pod, enrol it in ambient, or leave it alone?

Facts (reference/istio-facts.md §F1; istio/istio pkg/kube/inject/inject.go ``injectRequired``,
manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml):

- Namespace label ``istio-injection=enabled`` or ``istio.io/rev=<rev>`` selects sidecar injection;
  ``istio-injection=disabled`` switches it off; if both labels are present ``istio-injection`` wins.
- The pod *label* ``sidecar.istio.io/inject`` is the API: ``"false"`` opts out, ``"true"`` opts in
  even in an unlabeled namespace (but not in an ``istio-injection=disabled`` one). The
  *annotation* of the same name is deprecated; ``"false"`` still opts out inside the webhook, but
  ``"true"`` cannot opt in, because the webhook's selectors only see labels.
- A pod label ``istio.io/rev`` selects injection in an unlabeled namespace.
- Never injected: ``hostNetwork: true`` pods, kube-system, kube-public, kube-node-lease and
  local-path-storage.
- Ambient: label ``istio.io/dataplane-mode=ambient`` on the namespace or pod (pod wins, ``none``
  opts out); sidecar injection takes precedence over ambient.
- Already-injected pods (``sidecar.istio.io/status`` or an ``istio-proxy`` container or init
  container) are read as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import MeshMode

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})

INJECT_LABEL = "sidecar.istio.io/inject"
NS_INJECTION_LABEL = "istio-injection"
REV_LABEL = "istio.io/rev"
DATAPLANE_LABEL = "istio.io/dataplane-mode"
STATUS_ANNOTATION = "sidecar.istio.io/status"
PROXY_CONTAINER = "istio-proxy"


@dataclass(frozen=True)
class ModeDecision:
    """The data-plane mode of a pod and why; ``assumed`` when the input did not say."""

    mode: MeshMode
    reason: str
    assumed: bool = False


def is_injected(pod_meta: dict, pod_spec: dict) -> bool:
    """The pod already carries a sidecar (live pods, or injected manifests)."""
    if STATUS_ANNOTATION in ((pod_meta or {}).get("annotations") or {}):
        return True
    for key in ("containers", "initContainers"):
        for c in (pod_spec or {}).get(key) or []:
            if isinstance(c, dict) and c.get("name") == PROXY_CONTAINER:
                return True
    return False


def dataplane_mode(
    namespace: str | None,
    ns_labels: dict | None,
    pod_meta: dict | None,
    pod_spec: dict | None,
    assume: MeshMode = MeshMode.SIDECAR,
) -> ModeDecision:
    """Decide the mode of one pod template.

    ``ns_labels`` is None when the input holds no Namespace object for ``namespace``: then the
    namespace labels are unknown and ``assume`` applies (flagged ``assumed``), unless the pod
    itself decides.
    """
    pod_meta = pod_meta or {}
    pod_spec = pod_spec or {}
    labels = pod_meta.get("labels") or {}
    annotations = pod_meta.get("annotations") or {}
    if is_injected(pod_meta, pod_spec):
        return ModeDecision(MeshMode.SIDECAR, "already injected (istio-proxy present)")
    if pod_spec.get("hostNetwork") is True:
        return ModeDecision(MeshMode.NONE, "hostNetwork pods are never injected")
    if namespace in SYSTEM_NAMESPACES:
        return ModeDecision(MeshMode.NONE, f"namespace {namespace} is never injected")
    pod_inject = str(labels.get(INJECT_LABEL, "")).lower()
    ann_inject = str(annotations.get(INJECT_LABEL, "")).lower()
    ns_inj = None if ns_labels is None else str(ns_labels.get(NS_INJECTION_LABEL, "")).lower()
    if pod_inject == "false":
        return ModeDecision(MeshMode.NONE, f"pod label {INJECT_LABEL}=false")
    if ann_inject == "false":
        return ModeDecision(MeshMode.NONE, f"pod annotation {INJECT_LABEL}=false")
    if ns_inj == "disabled":
        return ModeDecision(MeshMode.NONE, f"namespace label {NS_INJECTION_LABEL}=disabled")
    if pod_inject == "true":
        return ModeDecision(MeshMode.SIDECAR, f"pod label {INJECT_LABEL}=true")
    if labels.get(REV_LABEL):
        return ModeDecision(MeshMode.SIDECAR, f"pod label {REV_LABEL}={labels[REV_LABEL]}")
    if ns_labels is not None:
        if ns_inj == "enabled":
            return ModeDecision(MeshMode.SIDECAR, f"namespace label {NS_INJECTION_LABEL}=enabled")
        if ns_labels.get(REV_LABEL):
            return ModeDecision(MeshMode.SIDECAR, f"namespace label {REV_LABEL}={ns_labels[REV_LABEL]}")
    pod_dp = str(labels.get(DATAPLANE_LABEL, "")).lower()
    if pod_dp == "none":
        return ModeDecision(MeshMode.NONE, f"pod label {DATAPLANE_LABEL}=none")
    if pod_dp == "ambient":
        return ModeDecision(MeshMode.AMBIENT, f"pod label {DATAPLANE_LABEL}=ambient")
    if ns_labels is not None:
        if str(ns_labels.get(DATAPLANE_LABEL, "")).lower() == "ambient":
            return ModeDecision(MeshMode.AMBIENT, f"namespace label {DATAPLANE_LABEL}=ambient")
        return ModeDecision(MeshMode.NONE, f"namespace {namespace} has no injection or ambient label")
    return ModeDecision(assume, f"namespace {namespace or '(none)'} not in the input; assumed {assume.value}", True)


def namespace_mode(namespace: str | None, ns_labels: dict | None, assume: MeshMode) -> ModeDecision:
    """The mode a namespace gives pods that do not decide for themselves (for Services)."""
    return dataplane_mode(namespace, ns_labels, None, None, assume)
