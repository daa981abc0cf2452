"""Visibility: which ServiceEntries a workload's sidecar sees (exportTo, Sidecar imports) and its outbound policy.

The Sidecar resource that applies to a workload, what its ``egress.hosts`` import, and the outbound
traffic policy it (or the mesh config) sets.

Facts (reference/istio-facts.md §C1-C5):

- ``outboundTrafficPolicy``: mesh config ``outboundTrafficPolicy.mode`` (default ALLOW_ANY), overridden
  by the Sidecar resource that applies to the workload (one with a matching ``workloadSelector`` in
  its namespace, else the namespace's selector-less one, else the selector-less one in the root
  namespace). A Sidecar with ``outboundTrafficPolicy: {}`` means REGISTRY_ONLY (the enum's zero
  value; istiod uses the field whenever it is non-nil). Whether the chosen Sidecar's *missing* field
  falls back to the mesh config rather than to a root-namespace Sidecar is source-derived.
- REGISTRY_ONLY: unknown TCP goes to BlackHoleCluster (reset), unknown HTTP gets a 502.
  ALLOW_ANY: PassthroughCluster (works, no mesh features).
- ``exportTo`` (default ``*``, or the mesh's ``defaultServiceExportTo``; ``.`` = own namespace; ``~`` =
  none) limits who sees a ServiceEntry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..model import K8sObject
from .config import MeshConfig
from .serviceentries import host_matches, se_spec

# -- outbound traffic policy ---------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundPolicy:
    """The outboundTrafficPolicy mode a workload's sidecar uses, and where it comes from."""

    mode: str  # ALLOW_ANY | REGISTRY_ONLY | ALLOW_ANY_DYNAMIC_DNS
    source: str
    sidecar: K8sObject | None = None
    gotcha: bool = False  # ``outboundTrafficPolicy: {}`` read as REGISTRY_ONLY

    @property
    def registry_only(self) -> bool:
        return self.mode == "REGISTRY_ONLY"

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source, "emptyPolicyGotcha": self.gotcha}


def _selects(sidecar: K8sObject, labels: dict) -> bool:
    sel = ((sidecar.data.get("spec") or {}).get("workloadSelector") or {}).get("labels") or {}
    return all(str(labels.get(k)) == str(v) and k in labels for k, v in sel.items())


def _has_selector(sidecar: K8sObject) -> bool:
    return bool(((sidecar.data.get("spec") or {}).get("workloadSelector") or {}).get("labels"))


def applicable_sidecar(namespace: str, labels: dict | None, sidecars: Iterable[K8sObject],
                       root: str) -> K8sObject | None:
    """The Sidecar resource that configures a workload (or, with ``labels=None``, a namespace's default)."""
    scs = sorted((s for s in sidecars if s.namespace in (namespace, root)), key=lambda s: (s.namespace or "", s.name))
    if labels is not None:
        for s in scs:
            if s.namespace == namespace and _has_selector(s) and _selects(s, labels):
                return s
    for ns in dict.fromkeys([namespace, root]):
        for s in scs:
            if s.namespace == ns and not _has_selector(s):
                return s
    return None


def root_namespace(mesh: MeshConfig) -> str:
    """The mesh config's root namespace (``istio-system`` by default): its Sidecars and policies apply mesh-wide."""
    return str(mesh.get("rootNamespace") or "istio-system")


def sidecar_imports(sidecar: K8sObject | None) -> list[tuple[str, str]] | None:
    """The ``(namespace, dnsName)`` patterns a Sidecar's ``egress[].hosts`` import, or None when it
    sets no egress (then every ServiceEntry exported to the namespace is imported).

    ``*/x`` any namespace, ``./x`` the workload's own, ``~/*`` nothing; ``dnsName`` ``*`` or a left-most
    wildcard (istio/api networking/v1alpha3/sidecar.proto; ``.`` and ``~`` from istio.io's Sidecar
    reference). Ports of port-specific listeners are not told apart: the hosts of all listeners are
    joined (an approximation: a host imported on one port only counts for every port)."""
    egress = (sidecar.data.get("spec") or {}).get("egress") if sidecar is not None else None
    if not isinstance(egress, list) or not egress:
        return None
    out = []
    for listener in egress:
        for h in (listener or {}).get("hosts") or [] if isinstance(listener, dict) else []:
            ns, sep, dns = str(h).partition("/")
            out.append((ns, dns) if sep else ("*", ns))
    return out


def imported(se: K8sObject, namespace: str, imports: list[tuple[str, str]] | None) -> bool:
    """Does a Sidecar with these imports configure the ServiceEntry for a workload in ``namespace``?"""
    return importer(namespace, imports)(se)


def importer(namespace: str, imports: list[tuple[str, str]] | None) -> Callable[[K8sObject], bool]:
    """:func:`imported` for many entries: the imports grouped by the namespace they name once, so each
    entry is checked against the patterns that can apply to its namespace only."""
    if imports is None:
        return lambda se: True
    by_ns: dict[str, list[str]] = {}
    for ns, dns in imports:
        if ns != "~":
            by_ns.setdefault(namespace if ns == "." else ns, []).append(dns)
    anywhere = by_ns.get("*", [])

    def test(se: K8sObject) -> bool:
        patterns = by_ns.get(se.namespace, []) + anywhere
        if not patterns:
            return False
        if "*" in patterns:
            return True
        hosts = [h for h in se_spec(se).get("hosts") or [] if isinstance(h, str)]
        return any(host_matches(dns, h) or host_matches(h, dns) for dns in patterns for h in hosts)
    return test


def outbound_policy(namespace: str, labels: dict | None, sidecars: Iterable[K8sObject],
                    mesh: MeshConfig) -> OutboundPolicy:
    """REGISTRY_ONLY or ALLOW_ANY for a sidecar, and where it comes from: the Sidecar that applies
    (workload selector, namespace, root namespace), else the mesh config."""
    root = root_namespace(mesh)
    sc = applicable_sidecar(namespace, labels, sidecars, root)
    if sc is not None:
        otp = (sc.data.get("spec") or {}).get("outboundTrafficPolicy")
        if isinstance(otp, dict):
            mode = str(otp.get("mode") or "REGISTRY_ONLY").upper()
            where = "root-namespace " if sc.namespace == root and namespace != root else ""
            gotcha = not otp.get("mode")
            note = " (outboundTrafficPolicy without mode means REGISTRY_ONLY)" if gotcha else ""
            return OutboundPolicy(mode, f"{where}Sidecar {sc.namespace}/{sc.name}{note}", sc, gotcha)
    mode = str(mesh.get("outboundTrafficPolicy.mode") or "ALLOW_ANY").upper()
    src = f"mesh config ({mesh.source})" if mesh.source != "Istio defaults" else "Istio defaults"
    return OutboundPolicy(mode, src, None)


# -- exportTo ----------------------------------------------------------------------------------------


#: the mesh config field that sets the exportTo of objects of a kind that set none (istio.io MeshConfig:
#: defaultServiceExportTo, defaultVirtualServiceExportTo, defaultDestinationRuleExportTo; unset: all)
DEFAULT_EXPORT_TO = {"VirtualService": "defaultVirtualServiceExportTo",
                     "DestinationRule": "defaultDestinationRuleExportTo"}


def export_to(obj: K8sObject, mesh: MeshConfig) -> list[str]:
    """The namespaces an Istio object is exported to: its ``exportTo``, else the mesh default of its kind
    (ServiceEntries: ``defaultServiceExportTo``), else all."""
    spec = se_spec(obj)
    value = spec.get("exportTo")
    if not value:
        value = mesh.get(DEFAULT_EXPORT_TO.get(obj.kind, "defaultServiceExportTo")) or ["*"]
    return [str(v) for v in value]


def visible_to(obj: K8sObject, namespace: str, mesh: MeshConfig) -> bool:
    """Does a ServiceEntry's ``exportTo`` make it visible to pods of ``namespace``?"""
    return visible_in(obj, export_to(obj, mesh), namespace)


def visible_in(obj: K8sObject, targets: list[str], namespace: str) -> bool:
    """:func:`visible_to` from the object's :func:`export_to` (worked out once per object when many
    namespaces ask)."""
    if "~" in targets and len(targets) == 1:
        return False
    return "*" in targets or namespace in targets or ("." in targets and obj.namespace == namespace)
