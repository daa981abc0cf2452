"""Bundled plugin ``egress`` (MC3xx): outbound traffic, ServiceEntries and the outbound policy.

Where a workload connects, whether a ServiceEntry covers it, which outbound policy applies and what
else listens on the port all come from ``egress_of`` (the facts live in
``kubectl_meshcheck.mesh.egress``); these rules judge how bad that is and propose the fix: for an
unregistered external endpoint, a generated ServiceEntry; for a broken ServiceEntry, the smallest
change that makes Istio accept it. Nothing secret is printed: endpoint texts are redacted.
"""

from __future__ import annotations

from collections import defaultdict

from kubectl_meshcheck import (
    CIDR_ANNOTATIONS,
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    K8sObject,
    ObjectRef,
    PatchOp,
    Protocol,
    Severity,
    Topic,
    auto_allocated,
    cidr_list_problem,
    egress_of,
    escape_pointer,
    export_to,
    generated_service_entry,
    hookimpl,
    imported,
    is_ip,
    rule,
    se_port_protocol,
    sidecar_imports,
)

SE_API = "networking.istio.io/v1"
_READS = {"Service", "ServiceEntry", "Sidecar", "Namespace", "VirtualService"}
#: ServiceEntry ``protocol`` values Istio parses (exact, case-insensitive; protocol.Parse)
SE_PROTOCOLS = frozenset({"http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "redis", "mysql",
                          "udp", "http_proxy"})
#: unsupported values that plainly mean one Istio protocol
_PROTOCOL_FOR = {"postgres": "TCP", "postgresql": "TCP", "mariadb": "TCP", "amqp": "TCP", "kafka": "TCP",
                 "ssl": "TLS", "grpcs": "TLS", "h2": "HTTP2", "h2c": "HTTP2", "ws": "HTTP", "wss": "HTTPS"}
_DNS = ("DNS", "DNS_ROUND_ROBIN")


# -- shared helpers ----------------------------------------------------------------------------


def _se_fix(wl, judged, eg, ctx) -> Fix:
    """The generated ServiceEntry for this endpoint's host (all its ports the workload uses).

    Safe when routing is by name (HTTP Host, TLS SNI) or by address. A TCP port by DNS name without
    addresses is matched by port alone (``0.0.0.0:<port>``) unless DNS capture with auto-allocation
    is on: every pod of the namespace dialling any host on that port would then reach this one, so
    that fix is unsafe."""
    ep = judged.endpoint
    same_host = [j.endpoint for j in eg.uncovered_external if j.endpoint.host == ep.host]
    se = generated_service_entry(same_host, wl.namespace or "default", "egress")
    ref = ObjectRef(SE_API, "ServiceEntry", se["metadata"]["namespace"], se["metadata"]["name"])
    ports = ", ".join(f"{p['protocol']} {p['number']}" for p in se["spec"]["ports"]) or "no port known"
    caveats = []
    applicability = Applicability.SAFE
    if (se["spec"].get("resolution") == "DNS" and any(p["protocol"] == "TCP" for p in se["spec"]["ports"])
            and not _vip(K8sObject(se, ref), ctx)):
        applicability = Applicability.UNSAFE
        caveats.append("TCP by DNS name without addresses: sidecars in the namespace match it by port only "
                       "(0.0.0.0:<port>), so connections to any other host on that port reach this one; add "
                       "the database's addresses if they are stable, or turn on DNS capture with "
                       "auto-allocation (MC306)")
    also = _import_fix(wl, se, eg.sidecar)
    if also:
        caveats.append(f"the workload's Sidecar {also[0].target.namespace}/{also[0].target.name} limits what it "
                       "imports (egress.hosts): the entry is added there too")
    if ep.port is None:
        caveats.append("the port is unknown: add the port the app dials to spec.ports")
    if ep.scheme == "mongodb+srv":
        caveats.append("mongodb+srv: the real hosts come from DNS SRV records; add each shard host")
    return Fix(f"Create ServiceEntry {ref.namespace}/{ref.name} for {ep.host} ({ports})",
               applicability, ref, (PatchOp("add", "", se),), tuple(caveats), also)


def _import_fix(wl, se: dict, sidecar) -> tuple[Fix, ...]:
    """When the workload's Sidecar sets ``egress.hosts`` that leave the new entry out, the change that
    imports it (``./<host>``)."""
    new = K8sObject(se, ObjectRef(SE_API, "ServiceEntry", se["metadata"]["namespace"], se["metadata"]["name"]))
    if sidecar is None or imported(new, wl.namespace or "default", sidecar_imports(sidecar)):
        return ()
    return (_sidecar_import(sidecar, f"./{se['spec']['hosts'][0]}"),)


def _sidecar_import(sidecar, host: str) -> Fix:
    """Add ``host`` (``namespace/dnsName``) to a Sidecar's first egress listener without a port (else
    its first listener)."""
    listeners = sidecar.data["spec"]["egress"]
    i = next((k for k, lst in enumerate(listeners) if isinstance(lst, dict) and not lst.get("port")), 0)
    hosts = listeners[i].get("hosts") if isinstance(listeners[i], dict) else None
    base = f"/spec/egress/{i}"
    ops = ((PatchOp("test", f"{base}/hosts", hosts), PatchOp("add", f"{base}/hosts/-", host))
           if isinstance(hosts, list) else
           (PatchOp("test", base, listeners[i]), PatchOp("add", f"{base}/hosts", [host])))
    return Fix(f"Import {host} in Sidecar {sidecar.namespace}/{sidecar.name} (egress.hosts)", Applicability.SAFE,
               sidecar.ref, ops)


def _endpoint_args(j, eg) -> dict:
    return {**j.to_json(eg.policy), "policy": eg.policy.mode, "policySource": eg.policy.source}


def _unregistered(wl, ctx, want):
    """Diagnostics for uncovered external endpoints of the kind ``want(judged, policy)`` selects."""
    eg = egress_of(wl, ctx)
    for j in eg.uncovered_external:
        if not want(j, eg.policy):
            continue
        ep = j.endpoint
        why = ""
        hidden = j.coverage.hidden_by
        if hidden is not None and j.coverage.entry is not None:
            why = (f" (ServiceEntry {j.coverage.entry.namespace}/{j.coverage.entry.name} names it, but Sidecar "
                   f"{hidden.namespace}/{hidden.name} does not import it in egress.hosts)")
        elif j.coverage.port_missing and j.coverage.entry is not None:
            why = (f" (ServiceEntry {j.coverage.entry.namespace}/{j.coverage.entry.name} names the host but not "
                   f"port {ep.port})")
        yield Diagnostic(
            path=ep.path,
            message=(f"container {ep.container!r} connects to {ep.display()} ({ep.app}, {ep.found_in}) and no "
                     f"ServiceEntry visible to namespace {wl.namespace} covers it{why}; outbound policy "
                     f"{eg.policy.mode} ({eg.policy.source}): {j.fate(eg.policy)}"
                     + (f" (unless it is {ep.could_be_service}, which pods try first: then it is in-cluster and "
                        "needs none)" if ep.could_be_service else "")),
            args=_endpoint_args(j, eg),
            related=tuple(c.ref for c in j.captures),
            subject=f"{ep.host}:{ep.port}",
            assumptions=j.coverage.unknown,
            fixes=((_sidecar_import(hidden, f"{j.coverage.entry.namespace}/{ep.host}"),) if hidden is not None
                   and j.coverage.entry is not None else ()) + (_se_fix(wl, j, eg, ctx),),
        )


def _at_risk(j, policy) -> bool:
    return bool(j.endpoint.server_first or j.captures)


def _spec(se) -> dict:
    spec = se.data.get("spec")
    return spec if isinstance(spec, dict) else {}


def _hosts(se):
    for i, h in enumerate(_spec(se).get("hosts") or []):
        if isinstance(h, str):
            yield i, h


def _ports(se):
    for i, p in enumerate(_spec(se).get("ports") or []):
        if isinstance(p, dict):
            yield i, p


# -- unregistered external endpoints --------------------------------------------------------------


@rule(code="MC301", name="egress-blocked-by-registry-only", topic=Topic.EGRESS, severity=Severity.ERROR,
      summary="an external endpoint has no ServiceEntry and the outbound policy is REGISTRY_ONLY",
      targets={"Workload"}, reads=_READS, fix=FixAvailability.ALWAYS)
def egress_blocked_by_registry_only(wl, ctx):
    """What it checks: an external host the workload's containers name (env values, ConfigMap keys
    they reference, args, command: URLs, JDBC, ``host:port``, Kafka lists, bare IPs) that no
    ServiceEntry visible to the workload's namespace covers (host or address, and port), while the
    outbound policy for its sidecar is REGISTRY_ONLY (mesh config, or the Sidecar resource that
    applies: a namespace or root-namespace one, or one whose ``workloadSelector`` matches). A Sidecar
    with ``outboundTrafficPolicy: {}`` counts as REGISTRY_ONLY, as istiod reads it. When ServiceEntries
    that could cover the host could not be read (RBAC: the root namespace, or other namespaces whose
    entries are exported to all), coverage is unknown: the endpoint is still reported, at most as a
    warning, naming what could not be read (MC301-MC303 alike).

    What Istio does: under REGISTRY_ONLY an unknown TCP destination goes to ``BlackHoleCluster`` (the
    connection is reset at once) and an unknown HTTP host gets a 502 from Envoy. The app sees
    "connection reset" or "upstream connect error".

    Example: ``DATABASE_URL=postgres://app:****@orders.cluster-x.eu-west-1.rds.amazonaws.com:5432/app``
    in a namespace whose Sidecar sets ``outboundTrafficPolicy: {}``.

    Fixes: the generated ServiceEntry (a new object, created with ``kubectl create``; verified by
    re-checking with it added) for the host in the workload's namespace with ``exportTo: ["."]``:
    TLS/HTTPS ports for TLS-first protocols, HTTP only for plain HTTP, TCP for databases and brokers;
    ``resolution: DNS`` for names, and for IPs ``addresses: [<ip>/32]`` with ``resolution: NONE`` and a
    made-up host (hosts cannot be IPs). A TCP port by DNS name without DNS capture and auto-allocation
    is matched by port alone, so that fix is marked unsafe. When a ServiceEntry exists but the
    workload's Sidecar does not import it (``egress.hosts``), the first fix adds it there; a generated
    entry that the Sidecar would hide the same way comes with that import.

    References: reference/istio-facts.md §C1, §C4;
    https://istio.io/latest/docs/tasks/traffic-management/egress/egress-control/
    """
    yield from _unregistered(wl, ctx, lambda j, policy: policy.registry_only)


@rule(code="MC302", name="egress-unregistered-at-risk", topic=Topic.EGRESS, severity=Severity.WARNING,
      summary="an external endpoint has no ServiceEntry and its protocol or port makes passthrough unsafe",
      targets={"Workload"}, reads=_READS, fix=FixAvailability.ALWAYS)
def egress_unregistered_at_risk(wl, ctx):
    """What it checks: like MC301, under ALLOW_ANY, where passthrough is not enough: the protocol is
    server-first (MySQL, SMTP, NATS, FTP), or a Service or ServiceEntry makes sidecars listen on
    ``0.0.0.0:<port>`` for TCP (headless or ExternalName Services, ServiceEntries without
    ``addresses``). A server-first endpoint is flagged even when no mesh port of its number exists
    today: any HTTP or sniffed port of that number added later makes it hang (whether the plain
    passthrough path itself ever waits for client bytes is UNCONFIRMED; ``capturedBy`` in the
    args says when a listener is there now).

    What Istio does: with no ServiceEntry, connections on a port no mesh service uses go to
    PassthroughCluster and work. But a TCP listener without a VIP on the same port takes *every*
    connection on it, to any host, and sends it to that service; an HTTP listener on the port
    sniffs the first bytes, and a server-first client waits forever for a greeting that never comes.

    Example: ``mysql://reports.example.net:3306`` while an ExternalName Service ``legacy-db`` has a
    ``tcp`` port 3306.

    Fixes: the generated ServiceEntry (a new object, verified by re-checking with it added), as for MC301.

    References: reference/istio-facts.md §A6, §A2, §C4;
    https://istio.io/latest/docs/ops/configuration/traffic-management/traffic-routing/
    """
    yield from _unregistered(wl, ctx, lambda j, policy: not policy.registry_only and _at_risk(j, policy))


@rule(code="MC303", name="egress-unregistered", topic=Topic.EGRESS, severity=Severity.INFO,
      summary="an external endpoint has no ServiceEntry: it passes through without mesh features",
      targets={"Workload"}, reads=_READS, fix=FixAvailability.ALWAYS)
def egress_unregistered(wl, ctx):
    """What it checks: like MC301, under ALLOW_ANY, where nothing else on the port interferes.

    What Istio does: the connection goes to PassthroughCluster (the original destination). It works,
    but without mTLS origination, retries, timeouts or per-host telemetry (it shows up as
    ``PassthroughCluster``), and it breaks the day the mesh switches to REGISTRY_ONLY.

    Example: ``PAYMENTS_API=https://api.stripe.com/v1`` with the default ALLOW_ANY.

    Fixes: the generated ServiceEntry (a new object, verified by re-checking with it added), as for MC301.

    References: reference/istio-facts.md §C1, §C4
    """
    yield from _unregistered(wl, ctx, lambda j, policy: not policy.registry_only and not _at_risk(j, policy))


# -- ServiceEntry problems -----------------------------------------------------------------------


@rule(code="MC304", name="serviceentry-host-is-ip", topic=Topic.EGRESS, severity=Severity.ERROR,
      summary="a ServiceEntry lists an IP address in hosts, which Istio's webhook rejects",
      targets={"ServiceEntry"}, fix=FixAvailability.ALWAYS, ist_codes=("IST0106",), sidecar_only=False)
def serviceentry_host_is_ip(se, ctx):
    """What it checks: an IPv4 or IPv6 literal in ``spec.hosts``.

    What Istio does: the validating webhook rejects it (a host's top-level label may not be
    all-numeric; with ``resolution: DNS`` and no endpoints, hosts must also be FQDNs). If it is stored
    anyway (webhook absent or not yet enforcing), istiod uses it as-is: with DNS resolution Envoy
    "resolves" the IP and, without a VIP, every connection on that port to any host goes to it
    (source-derived, UNCONFIRMED by experiment).

    Example: ``hosts: [104.155.22.115]``, ``ports: [{number: 3307, protocol: tcp}]``, ``resolution: DNS``.

    Fixes: a made-up DNS name in ``hosts``, the IP in ``addresses`` as ``/32`` (``/128``), and for DNS
    resolution without endpoints ``resolution: STATIC`` with the IP as endpoint (unsafe: review the
    name; the documented pattern of istio.io's egress-mongo blog).

    References: reference/istio-facts.md §C2, §C3; https://istio.io/latest/blog/2018/egress-mongo/
    """
    spec = _spec(se)
    for i, host in _hosts(se):
        if not is_ip(host.strip("[]")):
            continue
        ip = host.strip("[]")
        new_host = ip.replace(".", "-").replace(":", "-") + ".external.invalid"
        cidr = ip + ("/128" if ":" in ip else "/32")
        ops = [PatchOp("test", f"/spec/hosts/{i}", host), PatchOp("replace", f"/spec/hosts/{i}", new_host)]
        addresses = spec.get("addresses")
        if not isinstance(addresses, list):
            ops.append(PatchOp("add", "/spec/addresses", [cidr]))
        elif cidr not in addresses and ip not in addresses:
            ops.append(PatchOp("add", "/spec/addresses/-", cidr))
        resolution = str(spec.get("resolution") or "NONE").upper()
        if resolution in _DNS and not spec.get("endpoints"):
            ops += [PatchOp("test", "/spec/resolution", spec.get("resolution")),
                    PatchOp("replace", "/spec/resolution", "STATIC"),
                    PatchOp("add", "/spec/endpoints", [{"address": ip}])]
        yield Diagnostic(
            path=f"/spec/hosts/{i}",
            message=(f"host {host!r} is an IP address: Istio's webhook rejects it, and if stored anyway with "
                     f"resolution {resolution} it can take every connection on its ports; put the IP in addresses"),
            args={"host": host, "resolution": resolution, "ist": "IST0106"},
            fixes=(Fix(f"Move {ip} to addresses ({cidr}) and name the host {new_host}", Applicability.UNSAFE,
                       se.ref, tuple(ops), ("the host name is made up: VirtualServices and DestinationRules that "
                                            "name the IP as host must use the new name",)),),
        )


@rule(code="MC305", name="serviceentry-wildcard-dns", topic=Topic.EGRESS, severity=Severity.ERROR,
      summary="a wildcard ServiceEntry host with resolution DNS has nothing Envoy can resolve",
      targets={"ServiceEntry"}, fix=FixAvailability.ALWAYS, sidecar_only=False)
def serviceentry_wildcard_dns(se, ctx):
    """What it checks: a ServiceEntry with ``resolution: DNS`` (or DNS_ROUND_ROBIN), no ``endpoints``,
    and a wildcard host (``*.example.com``).

    What Istio does: with DNS resolution and no endpoints the host itself is the DNS name Envoy
    resolves; a wildcard is no resolvable name. The webhook requires FQDN hosts in that case (whether
    it rejects prefix wildcards or only warns is UNCONFIRMED). Wildcards need ``resolution: NONE``
    (traffic goes to the IP the app resolved) or, with Istio >= 1.28 APIs, DYNAMIC_DNS.

    Example: ``hosts: ["*.googleapis.com"]``, ``resolution: DNS``, ``ports: [{number: 443, protocol: TLS}]``.

    Fixes: ``resolution: NONE`` (unsafe: safe for HTTP/TLS ports, matched by Host/SNI; a TCP port
    without addresses then matches every connection on the port, so it is display-only there).

    References: reference/istio-facts.md §C2
    """
    spec = _spec(se)
    resolution = str(spec.get("resolution") or "NONE").upper()
    if resolution not in _DNS or spec.get("endpoints"):
        return
    opaque = [p for _, p in _ports(se) if se_port_protocol(p) not in
              (Protocol.HTTP, Protocol.HTTP2, Protocol.HTTPS, Protocol.TLS, Protocol.GRPC, Protocol.GRPC_WEB)]
    for i, host in _hosts(se):
        if "*" not in host:
            continue
        ops = (PatchOp("test", f"/spec/hosts/{i}", host), PatchOp("test", "/spec/resolution", spec.get("resolution")),
               PatchOp("replace", "/spec/resolution", "NONE"))
        if opaque:
            fix = Fix("Set resolution: NONE and give the TCP ports addresses", Applicability.DISPLAY_ONLY, se.ref,
                      (), ("TCP ports without addresses would match every connection on the port",))
        else:
            fix = Fix("Set resolution: NONE (traffic goes to the address the app resolved)", Applicability.UNSAFE,
                      se.ref, ops, ("Envoy no longer resolves the host itself",))
        yield Diagnostic(
            path=f"/spec/hosts/{i}",
            message=(f"wildcard host {host!r} with resolution {resolution} and no endpoints: Envoy resolves the host "
                     "itself, and a wildcard is no DNS name; use resolution NONE"),
            args={"host": host, "resolution": resolution},
            fixes=(fix,),
        )


def _vip(se, ctx) -> bool:
    """Do sidecars reach this address-less entry through an auto-allocated VIP (DNS capture on, v1 or v2)?"""
    return auto_allocated(se, ctx.mesh_config, ctx.injector_settings.istiod_allocates_ips)


@rule(code="MC306", name="serviceentry-addresses-required", topic=Topic.EGRESS, severity=Severity.WARNING,
      summary="a TCP (or protocol-less) ServiceEntry port without addresses matches its port for every host",
      targets={"ServiceEntry"}, fix=FixAvailability.ALWAYS, ist_codes=("IST0134",), sidecar_only=False)
def serviceentry_addresses_required(se, ctx):
    """What it checks: a ServiceEntry without ``addresses`` (and none allocated in its status) whose
    port has no protocol or ``TCP`` (any case), unless sidecars reach it through an auto-allocated VIP:
    DNS capture on (``ISTIO_META_DNS_CAPTURE``) with the agent's allocation
    (``ISTIO_META_DNS_AUTO_ALLOCATE``, istioctl's IST0134 logic) or istiod's own (its
    ``PILOT_ENABLE_IP_AUTOALLOCATE``, on by default since 1.25; not for ``resolution: NONE``, wildcard
    hosts or entries that opt out with ``networking.istio.io/enable-autoallocate-ip: "false"``;
    reference/istio-facts.md §C7).

    What Istio does: with no VIP, sidecars build a ``0.0.0.0:<port>`` TCP listener for the entry, so
    every connection from the pod on that port, to any host, goes to it; two such entries on one port
    cannot be told apart. A protocol-less port is sniffed, so it behaves the same for non-HTTP.
    Sidecars only use auto-allocated (status) addresses when DNS capture is on.

    Example: ``hosts: [db.example.com]``, ``ports: [{number: 5432, name: tcp-pg, protocol: TCP}]``,
    no ``addresses``.

    Fixes: when the port's name declares HTTP/TLS (``https``, ``tls-x``), set that protocol (unsafe:
    confirm); else add the service's IPs to ``addresses`` (display-only: they must come from you), or
    enable DNS capture with auto-allocation.

    References: reference/istio-facts.md §A6, §C7;
    https://istio.io/latest/docs/reference/config/analysis/ist0134/
    """
    spec = _spec(se)
    status = se.data.get("status") if isinstance(se.data.get("status"), dict) else {}
    if spec.get("addresses") or status.get("addresses") or _vip(se, ctx):
        return
    for i, port in _ports(se):
        proto = str(port.get("protocol") or "")
        if proto and proto.upper() != "TCP":
            continue
        by_name = se_port_protocol({"protocol": str(port.get("name") or "").split("-", 1)[0]})
        if not proto and by_name not in (Protocol.UNSUPPORTED, Protocol.TCP, Protocol.UDP):
            fix = Fix(f"Set protocol: {by_name.value} on port {port.get('number')}, as its name "
                      f"{port.get('name')!r} says", Applicability.UNSAFE, se.ref,
                      (PatchOp("test", f"/spec/ports/{i}/number", port.get("number")),
                       PatchOp("add", f"/spec/ports/{i}/protocol", by_name.value)),
                      ("confirm the service speaks this protocol on the port",))
        else:
            fix = Fix("Add the service's IP addresses (CIDRs) to spec.addresses", Applicability.DISPLAY_ONLY, se.ref,
                      (), ("or turn on DNS capture and auto-allocation (ISTIO_META_DNS_CAPTURE / "
                           "ISTIO_META_DNS_AUTO_ALLOCATE) for the sidecars",))
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {port.get('number')} is {proto or 'protocol-less (sniffed)'} and the entry has no "
                     f"addresses: sidecars listen on 0.0.0.0:{port.get('number')} and send every connection on that "
                     "port, to any host, to this entry"),
            args={"port": port.get("number"), "protocol": proto, "ist": "IST0134"},
            fixes=(fix,),
        )


def _scope(se, mesh) -> frozenset[str] | None:
    """Namespaces a ServiceEntry is visible in; None for all."""
    out: set[str] = set()
    for t in export_to(se, mesh):
        if t == "*":
            return None
        if t == ".":
            out.add(se.namespace or "")
        elif t != "~":
            out.add(t)
    return frozenset(out)


def _overlap(a, b) -> bool:
    if a is None:
        return b is None or bool(b)
    if b is None:
        return bool(a)
    return bool(a & b)


@rule(code="MC307", name="serviceentry-protocol-conflict", topic=Topic.EGRESS, severity=Severity.WARNING,
      summary="ServiceEntries give the same host and port different protocols",
      targets={"ServiceEntry"}, reads={"ServiceEntry"}, fix=FixAvailability.ALWAYS, ist_codes=("IST0177",),
      sidecar_only=False)
def serviceentry_protocol_conflict(se, ctx):
    """What it checks: another ServiceEntry, visible in at least one namespace where this one is
    (``exportTo``), that declares the same host and port number with a different protocol (compared
    ignoring case). Same logic as istioctl's IST0177 (Istio 1.31 pre-release).

    What Istio does: one outbound listener per port serves both; only one protocol can win, so one
    of the entries is handled with the other's protocol (HTTP parsed as TLS or the reverse). Entries
    for one host in one namespace do not merge: istiod keeps the oldest and ignores the rest
    (``initServiceRegistry`` in istio/istio pilot/pkg/model/push_context.go). DNS auto-allocation does
    not change this: it gives a host one address, and the clash is within one host; so the rule also
    fires with ``ISTIO_META_DNS_AUTO_ALLOCATE`` on, as IST0177 does (it reads no mesh config).

    Example: ``se-https`` with ``example.com`` port 13835 HTTPS and ``se-http`` with the same host and
    port HTTP.

    Fixes: make the protocols agree or use different ports (display-only: which one is right is yours
    to say).

    References: reference/istio-facts.md §H1 (IST0177), §H2 (KIA1212)
    """
    mine = _scope(se, ctx.mesh_config)
    ports = {p.get("number"): str(p.get("protocol") or "").upper() for _, p in _ports(se)}
    hosts = {h.lower() for _, h in _hosts(se)}
    clashes: dict[tuple[str, int], set[str]] = defaultdict(set)
    others: dict[tuple[str, int], list] = defaultdict(list)
    for other in ctx.objects("ServiceEntry"):
        if other.ref.key == se.ref.key or not _overlap(mine, _scope(other, ctx.mesh_config)):
            continue
        for _, h in _hosts(other):
            if h.lower() not in hosts:
                continue
            for _, p in _ports(other):
                n, proto = p.get("number"), str(p.get("protocol") or "").upper()
                if n in ports and proto != ports[n]:
                    clashes[(h.lower(), n)].add(proto)
                    others[(h.lower(), n)].append(other)
    for (host, number), protos in sorted(clashes.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        i = next(i for i, p in _ports(se) if p.get("number") == number)
        names = sorted({f"{o.namespace}/{o.name}" for o in others[(host, number)]} | {f"{se.namespace}/{se.name}"})
        all_protos = sorted(protos | {ports[number]})
        same_ns = all(o.namespace == se.namespace for o in others[(host, number)])
        outcome = (f"istiod keeps only the oldest entry for {host!r} in namespace {se.namespace} and ignores the "
                   "others, so one protocol wins" if same_ns else "one protocol wins for both")
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"ServiceEntries {', '.join(names)} define host {host!r} port {number} with conflicting protocols "
                     f"({', '.join(p or '(none)' for p in all_protos)}): {outcome}"),
            args={"host": host, "port": number, "protocols": all_protos, "serviceEntries": names, "ist": "IST0177",
                  "sameNamespace": same_ns},
            related=tuple(o.ref for o in others[(host, number)]),
            fixes=(Fix(f"Use one protocol for {host}:{number} in every ServiceEntry", Applicability.DISPLAY_ONLY,
                       se.ref, (), ("which protocol the service speaks must come from you",)),),
        )


@rule(code="MC308", name="serviceentry-protocol-unsupported", topic=Topic.EGRESS, severity=Severity.ERROR,
      summary="a ServiceEntry port's protocol is not one Istio knows, so the webhook rejects it",
      targets={"ServiceEntry"}, fix=FixAvailability.ALWAYS, sidecar_only=False)
def serviceentry_protocol_unsupported(se, ctx):
    """What it checks: a ServiceEntry port whose ``protocol`` is not one of HTTP, HTTP2, HTTPS, GRPC,
    GRPC-Web, TCP, TLS, Mongo, Redis, MySQL, UDP (any case), e.g. ``postgres`` or ``SSL``.

    What Istio does: the webhook rejects the entry (``unsupported protocol: X``); stored anyway, the
    port is not usable as declared.

    Example: ``ports: [{number: 5432, name: tcp-pg, protocol: postgres}]``.

    Fixes: the Istio protocol the value means (unsafe: ``postgres``/``kafka``/``amqp`` -> TCP, ``ssl``
    -> TLS, ``h2c`` -> HTTP2); otherwise display-only.

    References: reference/istio-facts.md §C2, §A1 (protocol list)
    """
    for i, port in _ports(se):
        proto = port.get("protocol")
        if not proto or str(proto).lower() in SE_PROTOCOLS:
            continue
        target = _PROTOCOL_FOR.get(str(proto).lower())
        path = f"/spec/ports/{i}/protocol"
        if target:
            fix = Fix(f"Set protocol: {target} (what {proto!r} means to Istio)", Applicability.UNSAFE, se.ref,
                      (PatchOp("test", path, proto), PatchOp("replace", path, target)))
        else:
            fix = Fix("Set the port's protocol to one Istio knows (HTTP, HTTP2, HTTPS, GRPC, TCP, TLS...)",
                      Applicability.DISPLAY_ONLY, se.ref, ())
        yield Diagnostic(
            path=path,
            message=f"protocol {proto!r} on port {port.get('number')} is not one Istio knows: the webhook rejects it",
            args={"port": port.get("number"), "protocol": proto, "suggested": target},
            fixes=(fix,),
        )


@rule(code="MC311", name="serviceentry-multiple-hosts-tcp", topic=Topic.EGRESS, severity=Severity.ERROR,
      summary="a ServiceEntry with several hosts and a non-HTTP, non-TLS port needs resolution NONE",
      targets={"ServiceEntry"}, fix=FixAvailability.ALWAYS, sidecar_only=False)
def serviceentry_multiple_hosts_tcp(se, ctx):
    """What it checks: a ServiceEntry with more than one host, a port that is neither HTTP-like nor
    TLS (TCP, Mongo, MySQL, Redis, or no protocol), and a resolution other than NONE.

    What Istio does: the webhook rejects it: on a TCP port the sidecar cannot tell the hosts apart
    (there is no Host header or SNI), so with DNS or STATIC resolution it would not know which
    host's endpoints to use.

    Example: ``hosts: [b1.kafka.example.com, b2.kafka.example.com]``, ``ports: [{number: 9092,
    protocol: TCP}]``, ``resolution: DNS``.

    Fixes: ``resolution: NONE`` when the entry has ``addresses`` and no endpoints (unsafe: traffic goes
    to the address the app dialled); otherwise one ServiceEntry per host (display-only).

    References: reference/istio-facts.md §C2 (ValidateServiceEntry)
    """
    spec = _spec(se)
    hosts = list(_hosts(se))
    resolution = str(spec.get("resolution") or "NONE").upper()
    if len(hosts) < 2 or resolution == "NONE":
        return
    keep = (Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB, Protocol.HTTP_PROXY, Protocol.HTTPS,
            Protocol.TLS)
    for i, port in _ports(se):
        if se_port_protocol(port) in keep:
            continue
        if spec.get("addresses") and not spec.get("endpoints"):
            fix = Fix("Set resolution: NONE (the addresses already limit what it matches)", Applicability.UNSAFE,
                      se.ref, (PatchOp("test", "/spec/resolution", spec.get("resolution")),
                               PatchOp("replace", "/spec/resolution", "NONE")),
                      ("Envoy no longer resolves the hosts: traffic goes to the address the app dialled",))
        else:
            fix = Fix("Split the entry into one ServiceEntry per host", Applicability.DISPLAY_ONLY, se.ref, (),
                      ("each with its own addresses, so TCP connections can be told apart",))
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"{len(hosts)} hosts share port {port.get('number')} ({port.get('protocol') or 'no protocol'}) "
                     f"with resolution {resolution}: TCP traffic cannot be told apart by host, so Istio's webhook "
                     "rejects the entry"),
            args={"port": port.get("number"), "protocol": port.get("protocol") or "", "resolution": resolution,
                  "hosts": [h for _, h in hosts]},
            fixes=(fix,),
        )
        return


# -- capture annotations ---------------------------------------------------------------------------


@rule(code="MC309", name="capture-annotation-invalid", topic=Topic.EGRESS, severity=Severity.ERROR,
      summary="an outbound IP-range annotation the injector rejects, so pods cannot be created",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def capture_annotation_invalid(wl, ctx):
    """What it checks: the pod template annotations
    ``traffic.sidecar.istio.io/includeOutboundIPRanges`` and ``excludeOutboundIPRanges`` for an IP
    without prefix length (``10.1.2.3`` instead of ``10.1.2.3/32``), spaces after commas, or items that
    are no CIDR.

    What Istio does: the injector parses each item with ``netip.ParsePrefix`` after splitting on
    ``,`` without trimming; an invalid value makes injection fail, so the webhook rejects the pod and
    the controller never gets pods.

    Example: ``excludeOutboundIPRanges: "10.0.0.5, 169.254.169.254/32"``.

    Fixes: the same ranges written ``10.0.0.5/32,169.254.169.254/32`` (safe: the meaning Istio would
    have read is kept).

    References: reference/istio-facts.md §C6; istio/istio pkg/kube/inject/validate.go
    """
    annotations = wl.pod_annotations
    for key in CIDR_ANNOTATIONS:
        value = annotations.get(key)
        if not isinstance(value, str):
            continue
        problem = cidr_list_problem(value)
        if problem is None:
            continue
        what, fixed = problem
        path = f"{wl.template_path}/metadata/annotations/{escape_pointer(key)}"
        yield Diagnostic(
            path=path,
            message=(f"{key}: {what}; the injector rejects the value, so pods of this {wl.obj.kind} cannot be "
                     "created"),
            args={"annotation": key, "value": value, "problem": what, "corrected": fixed},
            fixes=(Fix(f"Write {key} as {fixed!r}", Applicability.SAFE, wl.ref,
                       (PatchOp("test", path, value), PatchOp("replace", path, fixed))),),
        )


# -- long-lived database connections ------------------------------------------------------------


def _has_keepalive(dr) -> bool:
    tcp = (((dr.data.get("spec") or {}).get("trafficPolicy") or {}).get("connectionPool") or {}).get("tcp") or {}
    return bool(tcp.get("idleTimeout") or tcp.get("tcpKeepalive"))


@rule(code="MC310", name="db-connection-no-idle-timeout", topic=Topic.EGRESS, severity=Severity.INFO,
      summary="a pooled database connection through the sidecar has no idle timeout or keepalive set",
      targets={"Workload"}, reads=_READS | {"DestinationRule"},
      fix=FixAvailability.ALWAYS)
def db_connection_no_idle_timeout(wl, ctx):
    """What it checks: an endpoint of a database or broker (PostgreSQL, MySQL, MongoDB, Redis, AMQP,
    Kafka, SQL Server, Oracle, Cassandra, NATS) that the workload reaches through its sidecar, with no
    DestinationRule for that host setting ``trafficPolicy.connectionPool.tcp.idleTimeout`` or
    ``tcpKeepalive``.

    What Istio does: the sidecar proxies the connection as TCP; Envoy closes TCP connections idle for
    longer than its idle timeout (1 hour by default: UNCONFIRMED in our fact sheet), so pooled
    connections die and the app logs "connection closed unexpectedly" / "server closed the
    connection" on its next query.

    Example: a connection pool to ``postgres://...@db.example.com:5432`` that sits idle overnight.

    Fixes: a DestinationRule for the host with ``connectionPool.tcp.tcpKeepalive`` and an
    ``idleTimeout`` longer than the pool's own (display-only: the values must fit your pool).

    References: https://istio.io/latest/docs/reference/config/networking/destination-rule/#ConnectionPoolSettings-TCPSettings
    """
    eg = egress_of(wl, ctx)
    kept_alive = ctx.cached(("egress.keepalive-hosts",), lambda: frozenset(
        str((dr.data.get("spec") or {}).get("host") or "").lower()
        for dr in ctx.objects("DestinationRule") if _has_keepalive(dr)), kinds={"DestinationRule"})
    for j in eg.judged:
        ep = j.endpoint
        if not ep.long_lived or j.fate(eg.policy).startswith(("blackhole", "502")):
            continue
        host = ep.host
        if host in kept_alive or host.split(".")[0] in kept_alive:
            continue
        dr = {"apiVersion": SE_API, "kind": "DestinationRule",
              "metadata": {"name": f"{host.split('.')[0]}-keepalive", "namespace": wl.namespace},
              "spec": {"host": host, "trafficPolicy": {"connectionPool": {"tcp": {
                  "tcpKeepalive": {"time": "300s", "interval": "75s"}, "idleTimeout": "24h"}}}}}
        ref = ObjectRef(SE_API, "DestinationRule", wl.namespace, dr["metadata"]["name"])
        yield Diagnostic(
            path=ep.path,
            message=(f"container {ep.container!r} keeps {ep.app} connections to {ep.display()} open through the "
                     "sidecar with no idle timeout or TCP keepalive set: idle pooled connections are closed by Envoy "
                     "and the app sees \"connection closed unexpectedly\""),
            args={"host": host, "port": ep.port, "app": ep.app, "container": ep.container},
            subject=f"{ep.host}:{ep.port}",
            fixes=(Fix(f"Create DestinationRule {wl.namespace}/{ref.name} with TCP keepalive and an idle timeout "
                       f"for {host}", Applicability.DISPLAY_ONLY, ref, (PatchOp("add", "", dr),),
                       ("choose an idleTimeout longer than your pool's idle lifetime",)),),
        )


RULES = (
    egress_blocked_by_registry_only,
    egress_unregistered_at_risk,
    egress_unregistered,
    serviceentry_host_is_ip,
    serviceentry_wildcard_dns,
    serviceentry_addresses_required,
    serviceentry_protocol_conflict,
    serviceentry_protocol_unsupported,
    serviceentry_multiple_hosts_tcp,
    capture_annotation_invalid,
    db_connection_no_idle_timeout,
)


@hookimpl
def meshcheck_register_rules(register):
    for r in RULES:
        register(r)
