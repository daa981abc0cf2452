"""What could not be read, and what each gap means for the verdicts: judge what can be judged, say
what could change the verdict.

A :class:`Gap` is one part of the input that could not be read (a kind in a namespace or everywhere,
one install object, a cluster-wide list read only in some namespaces). Gaps never silence a rule:

- a kind a rule *targets* that could not be read only means those objects are not judged (said once,
  in the summary);
- a kind a rule *looks up*, or an install fact it uses (mesh config, injector, Nodes, the Namespace
  that decides the data-plane mode), is judged on the assumption a user would make, and every finding
  it touches names that assumption (``Finding.assumptions``), so CI can filter on it, and
  ``--require-full-access`` can refuse the partial answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Istio kinds whose objects in *any* namespace can apply to a workload (``exportTo`` defaults to all)
EXPORTED_KINDS = frozenset({"ServiceEntry", "VirtualService", "DestinationRule"})
#: Istio kinds whose root-namespace objects are mesh-wide defaults (istio.io: Sidecar, PeerAuthentication,
#: AuthorizationPolicy, Telemetry and EnvoyFilter "in the root namespace apply to all workloads")
ROOT_WIDE = frozenset({"Sidecar", "PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication",
                       "EnvoyFilter", "Telemetry", "WasmPlugin"})

#: what is assumed of a kind that could not be read, as the rest of a sentence "judged as if ..."
ASSUMED = {
    "ServiceEntry": "no ServiceEntry there covers these hosts",
    "Sidecar": "no Sidecar there narrows egress or sets the outbound policy",
    "VirtualService": "no VirtualService there routes these hosts",
    "DestinationRule": "no DestinationRule there sets TLS or a traffic policy",
    "PeerAuthentication": "no PeerAuthentication there (mTLS PERMISSIVE, Istio's default)",
    "AuthorizationPolicy": "no AuthorizationPolicy there",
    "Gateway": "no Gateway there",
    "WorkloadEntry": "no WorkloadEntry there",
    "Service": "no Service there selects these pods",
    "Pod": "no running Pods there (templates only)",
    "ConfigMap": "the ConfigMap names no endpoint",
    "Ingress": "no Ingress there",
    "HTTPRoute": "no HTTPRoute there",
    "ServiceMonitor": "no ServiceMonitor there",
    "PodMonitor": "no PodMonitor there",
    "MutatingWebhookConfiguration": "the default injection webhook",
}
#: install facts (not declared kinds): what each one decides, and what is assumed without it
FACTS = {
    "mesh-config": "Istio's default mesh config",
    "injector": "the injector's defaults (version from the flags or the newest, classic sidecars)",
    "mode": "the data-plane mode inferred from the namespace's pods, or sidecar mode",
}


@dataclass(frozen=True)
class Gap:
    """One part of the input that could not be read.

    ``namespace`` None: everywhere (a cluster-scoped kind, or a cluster-wide list). ``elsewhere``: the
    kind was read only in ``read_in`` (the cluster-wide list was forbidden), so the other namespaces
    are unknown. ``fact``: the install fact it decides (``mesh-config``, ``injector``, ``mode``), for
    objects read one by one."""

    kind: str
    namespace: str | None
    what: str
    reason: str
    fact: str | None = None
    elsewhere: bool = False
    read_in: tuple[str, ...] = ()
    name: str = ""  # the object, for a single read (an install object, a workload's ConfigMap)

    @property
    def label(self) -> str:
        """How the summary names it: the kind, and the object for single reads (the scope says where)."""
        return f"{self.kind} {self.name}" if self.name else self.kind

    @property
    def scope(self) -> str:
        if self.elsewhere:
            return "namespaces other than " + ", ".join(self.read_in)
        return f"namespace {self.namespace}" if self.namespace else "cluster-wide"

    def affects(self, namespace: str | None, root: str = "istio-system") -> bool:
        """Could a verdict about an object in ``namespace`` change if this were readable?"""
        if self.namespace is None or self.elsewhere:
            return True
        if self.namespace == namespace:
            return True
        return self.namespace == root and (self.kind in EXPORTED_KINDS or self.kind in ROOT_WIDE)

    def assumption(self, decided: str | None = None) -> str:
        """The sentence a finding carries: what could not be read, and what it was judged on instead
        (``decided``: the decision actually made, e.g. the mode inferred from the namespace's pods)."""
        if decided:
            return f"{self.what} could not be read ({self.reason}): {decided}"
        if self.fact:
            return f"{self.what} could not be read ({self.reason}): judged on {FACTS[self.fact]}"
        return f"{self.what} could not be read ({self.reason}): judged as if {ASSUMED.get(self.kind, 'none exist')}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "scope": self.scope, "what": self.what,
                "label": self.label, "reason": self.reason, "fact": self.fact, "elsewhere": self.elsewhere,
                "readIn": list(self.read_in)}


def effect(gap: Gap, targeted: Iterable[str], looked_up: Iterable[str]) -> str:
    """What the gap did to the run, in a few words, for the summary block (each finding's assumption
    has the whole sentence)."""
    parts = []
    if gap.fact:
        parts.append("mode inferred from pods, else assumed" if gap.fact == "mode" else "defaults assumed")
    else:
        if gap.kind in set(targeted):
            parts.append("its objects not judged")
        if gap.kind in set(looked_up):
            parts.append("judged as if none")
    return "; ".join(parts) or "no rule needed it"


def short_reason(reason: str) -> str:
    """``403 serviceentries.networking.istio.io is forbidden: ...`` -> ``403 forbidden``."""
    code = reason.split(" ", 1)[0]
    if code.isdigit():
        word = {"403": "forbidden", "404": "not found", "429": "too many requests"}.get(code, "")
        return f"{code} {word}".strip() if word or int(code) < 500 else f"{code} server error"
    reason = reason.removeprefix("request failed: ")
    return reason if len(reason) <= 48 else reason[:47] + "…"


def short_scope(gap: Gap) -> str:
    if gap.elsewhere:
        return "other namespaces"
    return gap.namespace or "cluster-wide"


def group(gaps: list[Gap]) -> list[tuple[str, str, str]]:
    """(input, scopes, reason) rows, one per input and short reason, scopes joined: the short block."""
    rows: dict[tuple[str, str], list[str]] = {}
    for g in gaps:
        rows.setdefault((g.label, short_reason(g.reason)), []).append(short_scope(g))
    return [(label, ", ".join(dict.fromkeys(scopes)), reason) for (label, reason), scopes in rows.items()]
