"""Egress rules on ServiceEntries (MC304-MC308, MC311): what Istio's webhook rejects or sidecars misread.

Each with the smallest change that makes Istio accept it.
"""

from __future__ import annotations

from collections import defaultdict

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    MeshFacts,
    PatchOp,
    Protocol,
    Severity,
    Topic,
    rule,
)

SE_API = "networking.istio.io/v1"
#: ServiceEntry ``protocol`` values Istio parses (exact, case-insensitive; protocol.Parse)
SE_PROTOCOLS = frozenset({"http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "redis", "mysql",
                          "udp", "http_proxy"})
#: unsupported values that plainly mean one Istio protocol
_PROTOCOL_FOR = {"postgres": "TCP", "postgresql": "TCP", "mariadb": "TCP", "amqp": "TCP", "kafka": "TCP",
                 "ssl": "TLS", "grpcs": "TLS", "h2": "HTTP2", "h2c": "HTTP2", "ws": "HTTP", "wss": "HTTPS"}
_DNS = ("DNS", "DNS_ROUND_ROBIN")


# -- reading ServiceEntries ----------------------------------------------------------------------------


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
        if not ctx.mesh.is_ip(host.strip("[]")):
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
    opaque = [p for _, p in _ports(se) if ctx.mesh.se_port_protocol(p) not in
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
    if spec.get("addresses") or status.get("addresses") or ctx.mesh.auto_allocated(se):
        return
    for i, port in _ports(se):
        proto = str(port.get("protocol") or "")
        if proto and proto.upper() != "TCP":
            continue
        by_name = ctx.mesh.se_port_protocol({"protocol": str(port.get("name") or "").split("-", 1)[0]})
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
    for t in MeshFacts.export_to(se, mesh):
        if t == "*":
            return None
        if t == ".":
            out.add(se.namespace or "")
        elif t != "~":
            out.add(t)
    return frozenset(out)


def _entries_by_host(ctx) -> tuple[list, dict[str, list[int]], list]:
    """Every ServiceEntry, the positions of those naming each host (lower case), and each one's scope:
    built once per run, so comparing entries costs the entries sharing a host, not all pairs."""
    entries = ctx.objects("ServiceEntry")
    by_host: dict[str, list[int]] = defaultdict(list)
    for k, se in enumerate(entries):
        for h in dict.fromkeys(h.lower() for _, h in _hosts(se)):
            by_host[h].append(k)
    return entries, by_host, [_scope(se, ctx.mesh.config) for se in entries]


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
    entries, by_host, scopes = ctx.cached(("MC307.by-host",), lambda: _entries_by_host(ctx), kinds={"ServiceEntry"})
    mine = _scope(se, ctx.mesh.config)
    ports = {p.get("number"): str(p.get("protocol") or "").upper() for _, p in _ports(se)}
    hosts = {h.lower() for _, h in _hosts(se)}
    clashes: dict[tuple[str, int], set[str]] = defaultdict(set)
    others: dict[tuple[str, int], list] = defaultdict(list)
    for k in sorted({k for h in hosts for k in by_host.get(h, ())}):  # only entries sharing a host, in order
        other = entries[k]
        if other.ref.key == se.ref.key or not _overlap(mine, scopes[k]):
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
        if ctx.mesh.se_port_protocol(port) in keep:
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

