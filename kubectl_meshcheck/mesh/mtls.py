"""Which inbound mTLS mode does a workload's sidecar enforce on a port?

Facts (PeerAuthentication reference, https://istio.io/latest/docs/reference/config/security/peer_authentication/
and https://istio.io/latest/docs/concepts/security/#peer-authentication):

- Mesh-wide: a PeerAuthentication without a selector in the root namespace (``meshConfig.rootNamespace``,
  default istio-system). Policies *with* a selector in the root namespace are ignored (istio/api#3604).
- Namespace-wide: one without a selector (or with empty ``matchLabels``) in the workload's namespace.
- Workload: one whose ``selector.matchLabels`` match the pod's labels, in the workload's namespace.
- The narrowest wins: workload > namespace > mesh. ``mode: UNSET`` (or no ``mtls``) inherits from the
  level above. Nothing set anywhere: PERMISSIVE.
- ``portLevelMtls`` (keys: the workload's port, i.e. the container port) only counts on a policy with a
  selector, and overrides the workload's mode for that port; ``UNSET`` there inherits too.
- Several policies at one level: the oldest (``creationTimestamp``) wins, as Istio documents for
  conflicting mesh- and namespace-wide policies; for several matching workload policies the same
  tie-break is used (**UNCONFIRMED** for that level). Without timestamps (manifests): by name.

DestinationRules set what *clients* send; the kubelet is no mesh client, so they do not change whether
a probe is accepted and are not read here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..model import K8sObject, ObjectRef

MODES = ("STRICT", "PERMISSIVE", "DISABLE")
DEFAULT_MODE = "PERMISSIVE"


@dataclass(frozen=True)
class MtlsMode:
    """The effective inbound mode and the policy that decided it (None: Istio's default)."""

    mode: str
    source: str
    policy: ObjectRef | None = None

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source,
                "policy": self.policy.display() if self.policy else None}


def _mode(value: Any) -> str | None:
    text = str((value or {}).get("mode") or "").upper() if isinstance(value, dict) else ""
    return text if text in MODES else None


def _selector(pa: K8sObject) -> dict | None:
    sel = (pa.data.get("spec") or {}).get("selector")
    labels = sel.get("matchLabels") if isinstance(sel, dict) else None
    return labels if isinstance(labels, dict) and labels else None


def _oldest(policies: list[K8sObject]) -> K8sObject | None:
    def key(pa: K8sObject):
        ts = str((pa.data.get("metadata") or {}).get("creationTimestamp") or "")
        return (ts == "", ts, pa.name)
    return min(policies, key=key) if policies else None


def effective_mtls(namespace: str | None, pod_labels: dict, port: int | None, policies: Iterable[K8sObject],
                   root_namespace: str = "istio-system") -> MtlsMode:
    """The inbound mTLS mode on ``port`` (None: the workload's mode, no port-level override)."""
    ns = namespace or ""
    pas = [p for p in policies if p.kind == "PeerAuthentication"]
    mesh = _oldest([p for p in pas if (p.namespace or "") == root_namespace and _selector(p) is None])
    nsw = _oldest([p for p in pas if (p.namespace or "") == ns and ns != root_namespace and _selector(p) is None])
    wl = _oldest([p for p in pas if (p.namespace or "") == ns and ns != root_namespace and _selector(p) is not None
                  and all(k in pod_labels and str(pod_labels[k]) == str(v) for k, v in _selector(p).items())])
    result = MtlsMode(DEFAULT_MODE, "Istio default (no PeerAuthentication sets a mode)")
    for pa, level in ((mesh, "mesh-wide"), (nsw, "namespace-wide"), (wl, "workload")):
        if pa is None:
            continue
        mode = _mode((pa.data.get("spec") or {}).get("mtls"))
        if mode:
            result = MtlsMode(mode, f"PeerAuthentication {pa.namespace}/{pa.name} ({level})", pa.ref)
    if wl is not None and port is not None:
        levels = (wl.data.get("spec") or {}).get("portLevelMtls") or {}
        if isinstance(levels, dict):
            for key, value in levels.items():
                if str(key) == str(port) and _mode(value):
                    result = MtlsMode(_mode(value), f"PeerAuthentication {wl.namespace}/{wl.name} "
                                                    f"(portLevelMtls {port})", wl.ref)
    return result
