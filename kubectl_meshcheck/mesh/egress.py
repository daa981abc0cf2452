"""Egress: the per-workload egress fact and the ServiceEntry indexes behind it, with their re-check updates.

For each endpoint of a workload: what covers it, what else listens on its port, the egress gateway; and
the workload's outbound policy.

Facts (reference/istio-facts.md §A6, §C1-C7):

- Explicit HTTP ports of any Service create ``0.0.0.0:<port>`` listeners routed by Host; TCP ports
  without a VIP (headless, ExternalName, address-less ServiceEntries) create ``0.0.0.0:<port>``
  listeners that take every connection on the port (A6). Server-first protocols hang when sniffed.
- A ServiceEntry covers an endpoint when one visible to the workload's namespace (and imported by its
  Sidecar) matches its host or address and port (``visibility.py``, ``serviceentries.py``).
- Where a workload connects comes from ``endpoints.py``; the outbound policy from ``visibility.py``.
Also here: the outbound IP-range annotations (§C6), judged as the injector parses them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..model import K8sObject
from .config import MeshConfig
from .endpoints import Endpoint, is_ip
from .protocol import HTTP_FAMILY, Protocol, service_port_protocol
from .serviceentries import address_matches, host_matches, se_port_protocol, se_ports, se_spec
from .visibility import (
    OutboundPolicy,
    visible_to,
)


# -- ServiceEntry coverage -------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Which visible ServiceEntry covers an endpoint, and how (``host``, ``address``)."""

    entry: K8sObject | None
    how: str = ""
    port_missing: bool = False  # host/address matched but no port of that number
    hidden_by: K8sObject | None = None  # the entry would cover it, but this Sidecar does not import it
    #: why an entry that would cover it may exist unseen (ServiceEntries that could not be read)
    unknown: tuple[str, ...] = ()

    @property
    def covered(self) -> bool:
        return self.entry is not None and not self.port_missing and self.hidden_by is None


def coverage(ep: Endpoint, namespace: str, entries: Iterable[K8sObject], mesh: MeshConfig) -> Coverage:
    """The first ServiceEntry (by namespace and name) visible to ``namespace`` that covers the endpoint."""
    return covering(EntryIndex([se for se in sorted(entries, key=lambda s: (s.namespace or "", s.name))
                                if visible_to(se, namespace, mesh)]), ep)


class EntryIndex:
    """Visible ServiceEntries, sorted, indexed so an endpoint is only checked against the entries that
    can cover it: those naming its host exactly, those whose ``*.suffix`` wildcard ends its name, and,
    for an IP endpoint, those with addresses (10,000 workloads x 2,000 entries otherwise)."""

    def __init__(self, entries: list[K8sObject], memo: dict | None = None) -> None:
        self.entries = entries
        self._exact: dict[str, list[int]] = {}
        self._suffix: dict[str, list[int]] = {}  # ".example.com" -> entries with a "*.example.com" host
        self._any_name: list[int] = []  # other wildcard forms ("*", "*foo.com"): checked for every name
        self._for_ips: list[int] = []  # entries with addresses or wildcards: checked for every IP
        self._picks: dict[str, list[K8sObject]] = {}
        memo = {} if memo is None else memo
        for i, se in enumerate(entries):
            hosts, always = of_entry(memo, ("index", se.ref), se, lambda se=se: _index_keys(se))
            if always:
                self._for_ips.append(i)
            for h in dict.fromkeys(hosts):
                if h.startswith("*.") and "*" not in h[1:]:
                    self._suffix.setdefault(h[1:], []).append(i)
                elif h.startswith("*"):
                    self._any_name.append(i)
                else:
                    self._exact.setdefault(h, []).append(i)

    def candidates(self, host: str) -> list[K8sObject]:
        h = host.lower().rstrip(".")
        hit = self._picks.get(h)
        if hit is None:
            picks = set(self._exact.get(h, ()))
            if is_ip(h):
                picks.update(self._for_ips)
            else:
                picks.update(self._any_name)
                labels = h.split(".")
                for k in range(1, len(labels)):
                    picks.update(self._suffix.get("." + ".".join(labels[k:]), ()))
            hit = self._picks[h] = [self.entries[i] for i in sorted(picks)]
        return hit


def _index_keys(se: K8sObject) -> tuple[list[str], bool]:
    """An entry's hosts, and whether it must be checked for every IP endpoint (wildcards, addresses)."""
    spec = se_spec(se)
    hosts = [h.lower().rstrip(".") for h in spec.get("hosts") or [] if isinstance(h, str)]
    return hosts, bool(spec.get("addresses")) or any(h.startswith("*") for h in hosts)


class PatchedIndex(EntryIndex):
    """An :class:`EntryIndex` as a fix being re-checked leaves it: some entries replaced or added."""

    def __init__(self, base: EntryIndex, removed: set[tuple[str, str, str]], added: list[K8sObject]) -> None:
        self.base, self.removed, self.added = base, removed, [(se, _index_keys(se)) for se in added]

    def candidates(self, host: str) -> list[K8sObject]:
        found = [e for e in self.base.candidates(host) if e.ref.key not in self.removed]
        h = host.lower().rstrip(".")
        extra = [se for se, (hosts, always) in self.added if always or h in hosts]
        return sorted(found + extra, key=lambda s: (s.namespace or "", s.name)) if extra else found


def covering(index: EntryIndex, ep: Endpoint) -> Coverage:
    """:func:`coverage` over an :class:`EntryIndex` of the entries already visible (the per-run path)."""
    partial: K8sObject | None = None
    for se in index.candidates(ep.host):
        spec = se_spec(se)
        how = ""
        if ep.is_ip and address_matches(spec.get("addresses") or [], ep.host):
            how = "address"
        elif any(isinstance(h, str) and host_matches(h, ep.host) for h in spec.get("hosts") or []):
            how = "host"
        if not how:
            continue
        numbers = {p.get("number") for p in se_ports(se)}
        if ep.port is None or ep.port in numbers:
            return Coverage(se, how)
        partial = partial or se
    return Coverage(partial, "host", True) if partial is not None else Coverage(None)


# -- what else listens on the port ------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    """Another mesh service whose outbound listener on ``0.0.0.0:<port>`` takes this traffic."""

    ref: Any  # ObjectRef
    port: int
    how: str  # "HTTP" (routed by Host) | "TCP" (every connection on the port)

    def to_json(self) -> dict[str, Any]:
        return {"object": self.ref.display(), "port": self.port, "listener": self.how}


def wildcard_listeners(services: Iterable[K8sObject], entries: Iterable[K8sObject],
                       has_vip: Callable[[K8sObject], bool] | None = None) -> dict[int, list[Capture]]:
    """port -> the Services / ServiceEntries that make sidecars listen on ``0.0.0.0:<port>`` (A6):
    explicit HTTP ports of any Service; TCP/sniffed ports without a VIP (headless, ExternalName,
    ServiceEntries without ``addresses`` unless ``has_vip`` says sidecars use an auto-allocated one).
    UDP ports are not proxied."""
    out: dict[int, list[Capture]] = {}
    for svc in services:
        spec = svc.data.get("spec") or {}
        no_vip = spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None"
        for p in spec.get("ports") or []:
            if not isinstance(p, dict) or not isinstance(p.get("port"), int):
                continue
            proto = service_port_protocol(p).protocol
            if proto in HTTP_FAMILY:
                out.setdefault(p["port"], []).append(Capture(svc.ref, p["port"], "HTTP"))
            elif no_vip and proto not in (Protocol.UDP, Protocol.HTTPS, Protocol.TLS):
                out.setdefault(p["port"], []).append(Capture(svc.ref, p["port"], "TCP"))
    for se in entries:
        spec = se_spec(se)
        for p in se_ports(se):
            if not isinstance(p.get("number"), int):
                continue
            proto = se_port_protocol(p)
            if proto in HTTP_FAMILY:
                out.setdefault(p["number"], []).append(Capture(se.ref, p["number"], "HTTP"))
            elif not spec.get("addresses") and proto not in (Protocol.UDP, Protocol.HTTPS, Protocol.TLS) \
                    and not (has_vip is not None and has_vip(se)):
                out.setdefault(p["number"], []).append(Capture(se.ref, p["number"], "TCP"))
    return out


# -- capture annotations (C6) -----------------------------------------------------------------------

#: pod annotations whose CIDR lists the injector parses with netip.ParsePrefix, split on "," untrimmed
CIDR_ANNOTATIONS = ("traffic.sidecar.istio.io/includeOutboundIPRanges",
                    "traffic.sidecar.istio.io/excludeOutboundIPRanges")


def cidr_list_problem(value: str) -> tuple[str, str] | None:
    """(problem, corrected value) for a CIDR-list annotation the injector would reject, else None.

    ``*`` and ``""`` are valid; every item must carry a prefix length and no spaces (the list is
    split on ``,`` without trimming). The correction adds ``/32`` (``/128``) and drops spaces."""
    if value.strip() in ("*", ""):
        return None
    problems, fixed = [], []
    for item in value.split(","):
        bare = item.strip()
        if bare != item:
            problems.append(f"{item!r} has spaces")
        try:
            if "/" in bare:
                ipaddress.ip_network(bare, strict=False)
                fixed.append(bare)
            else:
                addr = ipaddress.ip_address(bare)
                problems.append(f"{bare!r} has no prefix length")
                fixed.append(f"{bare}/{'128' if addr.version == 6 else '32'}")
        except ValueError:
            problems.append(f"{bare!r} is not a CIDR")
            fixed.append(bare)
    if not problems:
        return None
    return "; ".join(problems), ",".join(f for f in fixed if f)


# -- one workload's egress, judged -----------------------------------------------------------------


# -- egress gateways ---------------------------------------------------------------------------------


def _egress_gateway_host(host: str, services: dict[tuple[str, str], K8sObject], namespace: str) -> bool:
    """Is a route destination an egress gateway (a Service selecting ``istio: egressgateway`` pods, or
    one named like Istio's ``istio-egressgateway``)?"""
    short, _, rest = host.partition(".")
    ns = rest.split(".", 1)[0] if rest else namespace
    svc = services.get((ns, short))
    selector = ((svc.data.get("spec") or {}).get("selector") or {}) if svc is not None else {}
    return selector.get("istio") == "egressgateway" or "egressgateway" in short


def mesh_bound_index(virtual_services: list[K8sObject]) -> tuple[dict[str, list[int]], list[int]]:
    """The mesh-bound VirtualServices, as positions in ``virtual_services``: by exact host, and those with
    a wildcard host. Routing an endpoint then looks at the few that can name its host, not at every
    VirtualService (1,000 VirtualServices x 27,000 endpoints otherwise); which of those a namespace sees
    is :func:`gateway_route`'s test (one index for the run, not one per namespace)."""
    exact: dict[str, list[int]] = {}
    wild: list[int] = []
    for i, vs in enumerate(virtual_services):
        spec = vs.data.get("spec") if isinstance(vs.data.get("spec"), dict) else {}
        if "mesh" not in (spec.get("gateways") or ["mesh"]):
            continue
        hosts = [h.lower().rstrip(".") for h in spec.get("hosts") or [] if isinstance(h, str)]
        if any(h.startswith("*") for h in hosts):
            wild.append(i)
        for h in dict.fromkeys(h for h in hosts if not h.startswith("*")):
            exact.setdefault(h, []).append(i)
    return exact, wild


def gateway_route(ep: Endpoint, namespace: str, virtual_services: list[K8sObject],
                  services: dict[tuple[str, str], K8sObject], mesh: MeshConfig,
                  index: tuple[dict[str, list[int]], list[int]] | None = None) -> tuple[K8sObject, str] | None:
    """(VirtualService, gateway host) when sidecars send this endpoint's traffic to an egress gateway.

    The pattern of istio.io's Egress Gateways task: a VirtualService for the external host bound to
    ``mesh`` (and the gateway), whose routes matching ``gateways: [mesh]`` (and the port) go to the
    egress gateway's Service (https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/).
    ``index`` (:func:`mesh_bound_index`) narrows the VirtualServices looked at; the first that routes
    it, in their order, wins either way."""
    candidates: Iterable[K8sObject] = virtual_services
    if index is not None:
        exact, wild = index
        picks = exact.get(ep.host.lower().rstrip("."), [])
        candidates = [virtual_services[i] for i in (sorted({*picks, *wild}) if wild and picks else picks or wild)]
    for vs in candidates:
        spec = vs.data.get("spec") if isinstance(vs.data.get("spec"), dict) else {}
        gateways = spec.get("gateways") or ["mesh"]
        if "mesh" not in gateways or not visible_to(vs, namespace, mesh):
            continue
        if not any(isinstance(h, str) and host_matches(h, ep.host) for h in spec.get("hosts") or []):
            continue
        for kind in ("http", "tls", "tcp"):
            for r in spec.get(kind) or []:
                if not isinstance(r, dict):
                    continue
                matches = [m for m in r.get("match") or [{}] if isinstance(m, dict)]
                if not any(("mesh" in (m.get("gateways") or gateways)) and m.get("port") in (None, ep.port)
                           for m in matches):
                    continue
                for dest in r.get("route") or []:
                    host = str(((dest or {}).get("destination") or {}).get("host") or "")
                    if host and _egress_gateway_host(host, services, vs.namespace or namespace):
                        return vs, host
    return None


@dataclass(frozen=True)
class Judged:
    """An endpoint with what covers it, what else listens on its port, and the egress gateway (with the
    VirtualService sending it there) when there is one."""

    endpoint: Endpoint
    coverage: Coverage
    captures: tuple[Capture, ...] = ()
    gateway: tuple[K8sObject, str] | None = None

    def fate(self, policy: OutboundPolicy) -> str:
        """What Istio will do with the connection (§A6, §C1, §C4)."""
        ep = self.endpoint
        if ep.in_cluster:
            return "in-cluster"
        if self.coverage.covered and self.coverage.entry is not None:
            if self.gateway is not None:
                vs, host = self.gateway
                return f"routed via egress gateway {host.split('.')[0]} (VirtualService {vs.namespace}/{vs.name})"
            return f"routed (ServiceEntry {self.coverage.entry.namespace}/{self.coverage.entry.name})"
        if self.coverage.hidden_by is not None and policy.registry_only:
            return (f"{'502' if ep.protocol is Protocol.HTTP else 'blackhole'}: Sidecar "
                    f"{self.coverage.hidden_by.namespace}/{self.coverage.hidden_by.name} does not import the entry")
        tcp = [c for c in self.captures if c.how == "TCP"]
        if tcp:
            return f"captured by {tcp[0].ref.display()} (0.0.0.0:{tcp[0].port})"
        if ep.server_first and self.captures:
            return f"hangs: HTTP listener of {self.captures[0].ref.display()} waits for client bytes"
        if policy.registry_only:
            if ep.protocol is Protocol.HTTP:
                return "502 (REGISTRY_ONLY)"
            return "blackhole: connection reset (REGISTRY_ONLY)"
        return "passthrough (no mesh features)"

    def to_json(self, policy: OutboundPolicy) -> dict[str, Any]:
        cov = self.coverage.entry
        return {**self.endpoint.to_json(),
                "coveredBy": f"{cov.namespace}/{cov.name}" if cov is not None and self.coverage.covered else None,
                "portMissingIn": f"{cov.namespace}/{cov.name}" if cov is not None and self.coverage.port_missing
                else None,
                "notImportedBy": (f"{self.coverage.hidden_by.namespace}/{self.coverage.hidden_by.name}"
                                  if self.coverage.hidden_by is not None else None),
                "capturedBy": captures_json(self.captures),
                "coverageUnknown": list(self.coverage.unknown) or None,
                "egressGateway": self.gateway[1] if self.gateway else None,
                "routedBy": f"{self.gateway[0].namespace}/{self.gateway[0].name}" if self.gateway else None,
                "fate": self.fate(policy)}


@dataclass(frozen=True)
class WorkloadEgress:
    policy: OutboundPolicy
    judged: tuple[Judged, ...]
    sidecar: K8sObject | None = None  # the Sidecar resource that configures the workload, if any

    @property
    def uncovered_external(self) -> list[Judged]:
        return [j for j in self.judged if not j.endpoint.in_cluster and not j.coverage.covered]


def merged(a: dict[int, list[Capture]], b: dict[int, list[Capture]]) -> dict[int, list[Capture]]:
    out = {k: list(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, []).extend(v)
    return out


class Listeners:
    """The ``0.0.0.0:<port>`` listeners a namespace's sidecars have: for an endpoint, those that take its
    connection (TCP ones, and HTTP ones too for a server-first protocol), one tuple per (port,
    server-first) shared by every endpoint asking (so its JSON is built once too, :func:`captures_json`)."""

    def __init__(self, by_port: dict[int, list[Capture]]) -> None:
        self.by_port = by_port
        self._taking: dict[tuple[int, bool], tuple[Capture, ...]] = {}
        self._keys: dict[int, frozenset] = {}

    def keys_on(self, port: int) -> frozenset:
        """The identities of the objects listening on the port."""
        hit = self._keys.get(port)
        if hit is None:
            hit = self._keys[port] = frozenset(c.ref.key for c in self.by_port.get(port, ()))
        return hit

    def taking(self, port: int, server_first: bool) -> tuple[Capture, ...]:
        key = (port, server_first)
        hit = self._taking.get(key)
        if hit is None:
            hit = self._taking[key] = tuple(c for c in self._on(port) if c.how == "TCP" or server_first)
        return hit

    def _on(self, port: int) -> list[Capture]:
        return self.by_port.get(port, [])


class PatchedListeners(Listeners):
    """:class:`Listeners` as a fix being re-checked leaves them: the listeners of the entries it replaces
    left out, those of the entries it leaves added; worked out only for the ports asked about."""

    def __init__(self, base: Listeners, removed: set[tuple[str, str, str]], added: dict[int, list[Capture]]) -> None:
        super().__init__(base.by_port)
        self.base, self.removed, self.added = base, removed, added

    def taking(self, port: int, server_first: bool) -> tuple[Capture, ...]:
        if port not in self.added and (not self.removed or self.removed.isdisjoint(self.base.keys_on(port))):
            return self.base.taking(port, server_first)  # the fix changes nothing on this port
        return super().taking(port, server_first)

    def _on(self, port: int) -> list[Capture]:
        caps = self.by_port.get(port, [])
        if self.removed and not self.removed.isdisjoint(self.base.keys_on(port)):
            caps = [c for c in caps if c.ref.key not in self.removed]
        return caps + self.added[port] if port in self.added else caps


_CAPTURES_JSON: dict[int, tuple[tuple[Capture, ...], list[dict[str, Any]]]] = {}


def captures_json(caps: tuple[Capture, ...]) -> list[dict[str, Any]]:
    """``[c.to_json() ...]``, built once per shared tuple (every uncovered endpoint on a busy port lists the
    same hundreds of listeners)."""
    hit = _CAPTURES_JSON.get(id(caps))
    if hit is None or hit[0] is not caps:
        if len(_CAPTURES_JSON) > 100_000:
            _CAPTURES_JSON.clear()
        hit = _CAPTURES_JSON[id(caps)] = (caps, [c.to_json() for c in caps])
    return list(hit[1])


def of_entry(memo: dict, key: tuple, se: K8sObject, compute: Callable[[], Any]) -> Any:
    """A fact about one ServiceEntry, memoised by the identity of its content: re-checking a fix that
    creates (or patches) one entry recomputes that entry's facts, not all of them. The memo holds the
    content it was computed from, so an identity can never be reused by another object."""
    hit = memo.get(key)
    if hit is None or hit[0] is not se.data:
        hit = memo[key] = (se.data, compute())
    return hit[1]


def entry_listeners(entries: list[K8sObject], memo: dict,
                     has_vip: Callable[[K8sObject], bool] | None = None) -> dict[int, list[Capture]]:
    """wildcard_listeners of the entries, each entry's part memoised (:func:`of_entry`)."""
    out: dict[int, list[Capture]] = {}
    for se in entries:
        part = of_entry(memo, ("listeners", se.ref), se, lambda se=se: wildcard_listeners([], [se], has_vip))
        for port, caps in part.items():
            out.setdefault(port, []).extend(caps)
    return out


def judge(endpoints: Iterable[Endpoint], policy: OutboundPolicy, sidecar: K8sObject | None, visible: EntryIndex,
          seen: EntryIndex, listeners: Listeners, unknown: tuple[str, ...],
          route: Callable[[Endpoint], tuple[K8sObject, str] | None] | None) -> WorkloadEgress:
    """A workload's egress: each endpoint with what covers it among the entries its sidecar ``seen``s (the
    ``visible`` ones when its Sidecar hides the cover), what else listens on its port, and, when covered,
    its egress gateway (``route``). ``unknown``: why covering entries may be unread (RBAC), said per
    uncovered endpoint."""
    judged = []
    for ep in endpoints:
        cov = Coverage(None) if ep.in_cluster else covering(seen, ep)
        if not cov.covered and seen is not visible:
            full = covering(visible, ep)
            if full.covered:
                cov = Coverage(full.entry, full.how, hidden_by=sidecar)
        if not ep.in_cluster and not cov.covered and unknown:
            cov = dataclasses.replace(cov, unknown=unknown)  # the cover may be among the entries not read
        caps: tuple[Capture, ...] = ()
        if not ep.in_cluster and not cov.covered and ep.port is not None:
            caps = listeners.taking(ep.port, ep.server_first)
        gw = route(ep) if cov.covered and route is not None else None
        judged.append(Judged(ep, cov, caps, gw))
    return WorkloadEgress(policy, tuple(judged), sidecar)


def patched_entries(visible: list[K8sObject], delta: tuple[set, list[K8sObject]] | None, ns: str,
                    mesh: MeshConfig) -> list[K8sObject]:
    """The entries visible to ``ns`` as a fix being re-checked leaves them (``delta``: the identities it
    replaces, the entries it leaves), in order."""
    if delta is None:
        return visible
    removed, changed = delta
    kept = [se for se in visible if se.ref.key not in removed]
    return sorted(kept + [se for se in changed if visible_to(se, ns, mesh)], key=lambda s: (s.namespace or "", s.name))
