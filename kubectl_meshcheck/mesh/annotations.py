"""Istio's resource annotations: which exist, where they apply, how mature they are.

The table below transcribes ``istio/api:annotation/annotations.gen.go`` (generated from
``annotation/annotations.yaml``), in the newest version the search store holds: the one that has
``sidecar.istio.io/nativeSidecar`` (added in Istio 1.24) and no longer has the
``install.operator.istio.io/*`` annotations (the in-cluster operator was removed in 1.24). Each
row: name, feature status, the resource kinds it applies to (``Any`` = every kind), and flags
(``deprecated``, ``hidden``). Upstream:
https://github.com/istio/api/blob/master/annotation/annotations.yaml ;
https://istio.io/latest/docs/reference/config/annotations/

``traffic.sidecar.istio.io/kubevirtInterfaces`` is in that version, not yet deprecated there: the
Istio 1.25 release notes deprecate it (below). Rows marked ``+`` are not in that version; each is
known from Istio's own code or release notes (source beside it), and its feature status is unknown
(``?``: never reported as alpha):

- ``istio.io/reroute-virtual-interfaces`` (Pod): added in 1.25; the istio-cni code reads
  ``annotation.IoIstioRerouteVirtualInterfaces``; the 1.25 release notes deprecate
  ``traffic.sidecar.istio.io/kubevirtInterfaces`` in its favour (istio/istio#49829);
- ``ambient.istio.io/dns-capture`` (Pod): the istio-cni code reads ``annotation.AmbientDnsCapture``
  as a boolean; the key's spelling is from its users' manifests (UNCONFIRMED in istio/api);
- ``sidecar.istio.io/statsCompression`` (Pod): read when the bootstrap is built
  (``annotation.SidecarStatsCompression``); deprecated by istio/api#3628 (January 2026) in favour
  of a MeshConfig ``statsCompression`` field;
- ``sidecar.istio.io/init-containers-before-proxy`` (Pod): read by the injector when it orders
  native-sidecar pods (``kubectl_meshcheck.mesh.injection``); not in the table (UNCONFIRMED there),
  so ``istioctl analyze`` may call it unknown, which meshcheck does not.

How ``istioctl analyze`` uses the table (istio/istio
``pkg/config/analysis/analyzers/annotations/annotations.go``, ``.../maturity/maturity.go``):
an annotation is Istio's when the part before ``/`` ends in ``istio.io``, or it is
``kubernetes.io/ingress.class``; one not in the table is unknown (IST0108); a deprecated one is
IST0135 (except the ``sidecar.istio.io/inject`` annotation beside the label of that name); one on
a kind it does not apply to is misplaced (IST0107); alpha ones are IST0136 (an analyzer outside
the default set), except ``sidecar.istio.io/status``, ``gateway.istio.io/controller-version`` and
``istio.io/rev`` (set by Istio, not users), and, on a pod without an ``istio-init`` init container
(the CNI writes them), ``interceptionMode``, ``includeInboundPorts``, ``excludeInboundPorts`` and
``includeOutboundIPRanges``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

_TABLE = """
alpha.istio.io/canonical-serviceaccounts               Alpha  Service                  deprecated,hidden
alpha.istio.io/kubernetes-serviceaccounts              Alpha  Service                  deprecated,hidden
ambient.istio.io/bypass-inbound-capture                Alpha  Pod                      hidden
ambient.istio.io/redirection                           Beta   Pod
ambient.istio.io/waypoint-inbound-binding              Alpha  GatewayClass,Gateway     hidden
galley.istio.io/analyze-suppress                       Alpha  Any
gateway.istio.io/controller-version                    Alpha  Any                      hidden
gateway.istio.io/name-override                         Alpha  Gateway                  hidden
gateway.istio.io/service-account                       Alpha  Gateway                  hidden
inject.istio.io/templates                              Alpha  Pod
istio.io/autoRegistrationGroup                         Alpha  WorkloadEntry            hidden
istio.io/connectedAt                                   Alpha  WorkloadEntry            hidden
istio.io/disconnectedAt                                Alpha  WorkloadEntry            hidden
istio.io/dry-run                                       Alpha  AuthorizationPolicy
istio.io/rev                                           Alpha  Pod
istio.io/workloadController                            Alpha  WorkloadEntry            hidden
kubernetes.io/ingress.class                            Stable Ingress
networking.istio.io/exportTo                           Alpha  Service
networking.istio.io/service-type                       Alpha  Gateway                  hidden
networking.istio.io/traffic-distribution               Alpha  Service,ServiceEntry
prometheus.istio.io/merge-metrics                      Alpha  Pod
proxy.istio.io/config                                  Beta   Pod
proxy.istio.io/overrides                               Alpha  Pod                      hidden
readiness.status.sidecar.istio.io/applicationPorts     Alpha  Pod
readiness.status.sidecar.istio.io/failureThreshold     Alpha  Pod
readiness.status.sidecar.istio.io/initialDelaySeconds  Alpha  Pod
readiness.status.sidecar.istio.io/periodSeconds        Alpha  Pod
sidecar.istio.io/agentLogLevel                         Alpha  Pod
sidecar.istio.io/bootstrapOverride                     Alpha  Pod
sidecar.istio.io/componentLogLevel                     Alpha  Pod
sidecar.istio.io/discoveryAddress                      Alpha  Pod                      deprecated
sidecar.istio.io/enableCoreDump                        Alpha  Pod
sidecar.istio.io/extraStatTags                         Alpha  Pod                      deprecated
sidecar.istio.io/inject                                Beta   Pod                      deprecated
sidecar.istio.io/interceptionMode                      Alpha  Pod
sidecar.istio.io/logLevel                              Alpha  Pod
sidecar.istio.io/nativeSidecar                         Alpha  Pod
sidecar.istio.io/proxyCPU                              Alpha  Pod
sidecar.istio.io/proxyCPULimit                         Alpha  Pod
sidecar.istio.io/proxyImage                            Alpha  Pod
sidecar.istio.io/proxyImageType                        Alpha  Pod
sidecar.istio.io/proxyMemory                           Alpha  Pod
sidecar.istio.io/proxyMemoryLimit                      Alpha  Pod
sidecar.istio.io/rewriteAppHTTPProbers                 Alpha  Pod
sidecar.istio.io/statsHistogramBuckets                 Alpha  Pod
sidecar.istio.io/statsInclusionPrefixes                Alpha  Pod                      deprecated
sidecar.istio.io/statsInclusionRegexps                 Alpha  Pod                      deprecated
sidecar.istio.io/statsInclusionSuffixes                Alpha  Pod                      deprecated
sidecar.istio.io/status                                Alpha  Pod
sidecar.istio.io/userVolume                            Alpha  Pod
sidecar.istio.io/userVolumeMount                       Alpha  Pod
status.sidecar.istio.io/port                           Alpha  Pod
topology.istio.io/controlPlaneClusters                 Alpha  Namespace
traffic.istio.io/nodeSelector                          Stable Service
traffic.sidecar.istio.io/excludeInboundPorts           Alpha  Pod
traffic.sidecar.istio.io/excludeInterfaces             Alpha  Pod
traffic.sidecar.istio.io/excludeOutboundIPRanges       Alpha  Pod
traffic.sidecar.istio.io/excludeOutboundPorts          Alpha  Pod
traffic.sidecar.istio.io/includeInboundPorts           Alpha  Pod
traffic.sidecar.istio.io/includeOutboundIPRanges       Alpha  Pod
traffic.sidecar.istio.io/includeOutboundPorts          Alpha  Pod
traffic.sidecar.istio.io/kubevirtInterfaces            Alpha  Pod                      deprecated
istio.io/reroute-virtual-interfaces                    ?      Pod                      +
ambient.istio.io/dns-capture                           ?      Pod                      +
sidecar.istio.io/statsCompression                      ?      Pod                      deprecated,+
sidecar.istio.io/init-containers-before-proxy          ?      Pod                      +
"""

#: what replaces a deprecated annotation: ("annotation" | "label" | "setting", name)
REPLACEMENTS: dict[str, tuple[str, str]] = {
    # annotations.go deprecationExtraMessages: ' in favor of the "sidecar.istio.io/inject" label'
    "sidecar.istio.io/inject": ("label", "sidecar.istio.io/inject"),
    # Istio 1.25 release notes (istio/istio#49829)
    "traffic.sidecar.istio.io/kubevirtInterfaces": ("annotation", "istio.io/reroute-virtual-interfaces"),
    # istio/api#3628
    "sidecar.istio.io/statsCompression": ("setting", "the MeshConfig statsCompression field"),
}

#: maturity.go: alpha annotations Istio itself sets, never reported
SET_BY_ISTIO = frozenset({"sidecar.istio.io/status", "gateway.istio.io/controller-version", "istio.io/rev"})
#: maturity.go: alpha annotations the CNI writes on pods without an istio-init container
SET_BY_CNI = frozenset({"sidecar.istio.io/interceptionMode", "traffic.sidecar.istio.io/includeInboundPorts",
                        "traffic.sidecar.istio.io/excludeInboundPorts",
                        "traffic.sidecar.istio.io/includeOutboundIPRanges"})
INGRESS_CLASS = "kubernetes.io/ingress.class"


@dataclass(frozen=True)
class Annotation:
    name: str
    status: str  # "Alpha" | "Beta" | "Stable" | "?" (not known)
    resources: tuple[str, ...]
    deprecated: bool = False
    hidden: bool = False
    confirmed: bool = True  # False: not in the transcribed table version (see the module docstring)

    def applies_to(self, kind: str) -> bool:
        return "Any" in self.resources or kind in self.resources

    @property
    def replacement(self) -> tuple[str, str] | None:
        return REPLACEMENTS.get(self.name)


def _parse(text: str) -> dict[str, Annotation]:
    table = {}
    for line in text.strip().splitlines():
        name, status, resources, *rest = line.split()
        flags = set(rest[0].split(",")) if rest else set()
        table[name] = Annotation(name, status, tuple(resources.split(",")), "deprecated" in flags,
                                 "hidden" in flags, "+" not in flags)
    return table


ANNOTATIONS: dict[str, Annotation] = _parse(_TABLE)


def is_istio_annotation(key: object) -> bool:
    """The analyzers' test: the part before ``/`` ends in ``istio.io``, or the Ingress class key."""
    text = str(key)
    return text == INGRESS_CLASS or text.split("/")[0].endswith("istio.io")


def lookup(key: object) -> Annotation | None:
    return ANNOTATIONS.get(str(key))


def closest_annotation(key: object) -> str | None:
    """The known annotation a misspelt key most likely meant: same name but for case, else the one
    close match (difflib ratio >= 0.85) within the same prefix; None when unsure."""
    text = str(key)
    by_case = [n for n in ANNOTATIONS if n.lower() == text.lower()]
    if by_case:
        return by_case[0]
    prefix = text.split("/")[0]
    same_prefix = [n for n in ANNOTATIONS if n.split("/")[0] == prefix]
    matches = difflib.get_close_matches(text, same_prefix, n=2, cutoff=0.85)
    if len(matches) == 1:
        return matches[0]
    return None


def alpha_reported(ann: Annotation, kind: str, init_containers: list[str] | None = None) -> bool:
    """Would Istio's alpha-annotation analyzer report this annotation on a ``kind`` object?

    ``init_containers`` are a Pod object's init container names (a pod without ``istio-init`` had
    the CNI write some annotations); None for a pod template, whose annotations the user wrote."""
    if ann.status != "Alpha" or ann.name in SET_BY_ISTIO:
        return False
    cni = kind == "Pod" and init_containers is not None and "istio-init" not in init_containers
    return not (cni and ann.name in SET_BY_CNI)


# -- values the injector validates (istio/istio pkg/kube/inject/validate.go, AnnotationValidation) ----
# The CIDR lists (include/excludeOutboundIPRanges) are judged by kubectl_meshcheck.mesh.egress
# (cidr_list_problem) and proxy.istio.io/config by kubectl_meshcheck.mesh.injection
# (parse_proxy_config); the rest is here. An invalid value makes injection fail.

_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
INTERCEPTION_MODES = ("REDIRECT", "TPROXY", "NONE")


def _uint(text: str, bits: int) -> bool:
    """Go's ``strconv.ParseUint(text, 10, bits)``: decimal digits only, no sign or spaces."""
    return text.isascii() and text.isdigit() and int(text) < 2 ** bits


def _port_list_problem(value: str, wildcard: bool) -> str | None:
    """``parsePorts``: the whole value trimmed, split on ``,``, each item trimmed and a uint16."""
    if wildcard and value == "*":
        return None
    text = value.strip()
    if not text:
        return None
    bad = [item for item in text.split(",") if not _uint(item.strip(), 16)]
    return f"{', '.join(repr(b) for b in bad)} {'is not a port' if len(bad) == 1 else 'are not ports'}" if bad else None


def _checks() -> dict:
    def uint32(v: str) -> str | None:
        return None if _uint(v, 32) else f"{v!r} is not a non-negative integer"

    return {
        "sidecar.istio.io/interceptionMode":
            lambda v: None if v in INTERCEPTION_MODES else f"{v!r} is not one of {', '.join(INTERCEPTION_MODES)}",
        "status.sidecar.istio.io/port": lambda v: None if _uint(v.strip(), 16) else f"{v!r} is not a port",
        "readiness.status.sidecar.istio.io/initialDelaySeconds": uint32,
        "readiness.status.sidecar.istio.io/periodSeconds": uint32,
        "readiness.status.sidecar.istio.io/failureThreshold": uint32,
        "traffic.sidecar.istio.io/includeInboundPorts": lambda v: _port_list_problem(v, True),
        "traffic.sidecar.istio.io/excludeInboundPorts": lambda v: _port_list_problem(v, False),
        "traffic.sidecar.istio.io/excludeOutboundPorts": lambda v: _port_list_problem(v, False),
        "prometheus.istio.io/merge-metrics": lambda v: None if v in _GO_BOOLS else f"{v!r} is not a boolean",
    }


VALUE_CHECKS = _checks()


def annotation_value_problem(name: str, value: object) -> str | None:
    """Why the injector rejects this value of annotation ``name``; None when valid or not checked here."""
    check = VALUE_CHECKS.get(name)
    if check is None:
        return None
    return check(value if isinstance(value, str) else str(value))


def corrected_annotation_value(name: str, value: object) -> str | None:
    """The value meant, when it is clear: case of a mode, spaces or empty items in a port list, a
    unit suffix on a number, yes/no for a boolean. None when the value is valid, or a person has to
    decide."""
    if annotation_value_problem(name, value) is None:
        return None
    text = str(value).strip()
    candidates = {
        "sidecar.istio.io/interceptionMode": text.upper(),
        "prometheus.istio.io/merge-metrics": {"yes": "true", "on": "true", "no": "false", "off": "false"}.get(
            text.lower(), text.lower()),
    }
    if name.startswith("traffic.sidecar.istio.io/") and name.endswith("Ports"):
        candidates[name] = ",".join(i.strip() for i in text.split(",") if i.strip())
    elif name.startswith(("readiness.status.", "status.sidecar.")):
        candidates[name] = text.removesuffix("s")
    fixed = candidates.get(name)
    if fixed is None or fixed == value or annotation_value_problem(name, fixed) is not None:
        return None
    return fixed
