"""Egress rules on workloads: uncovered endpoints (MC301-303), IP-range annotations (MC309), idle pools (MC310).

External endpoints no ServiceEntry covers, outbound IP-range annotations the injector rejects, pooled
database connections with no idle timeout or keepalive.
"""

from __future__ import annotations

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    K8sObject,
    MeshFacts,
    ObjectRef,
    PatchOp,
    Severity,
    Topic,
    escape_pointer,
    istio,
    rule,
)

from .serviceentries import SE_API

_READS = {"Service", "ServiceEntry", "Sidecar", "Namespace", "VirtualService"}


# -- shared helpers ----------------------------------------------------------------------------


def _se_fix(wl, judged, eg, ctx) -> Fix:
    """The generated ServiceEntry for this endpoint's host (all its ports the workload uses).

    Safe when routing is by name (HTTP Host, TLS SNI) or by address. A TCP port by DNS name without
    addresses is matched by port alone (``0.0.0.0:<port>``) unless DNS capture with auto-allocation
    is on: every pod of the namespace dialling any host on that port would then reach this one, so
    that fix is unsafe."""
    ep = judged.endpoint
    same_host = [j.endpoint for j in eg.uncovered_external if j.endpoint.host == ep.host]
    se = ctx.mesh.generated_service_entry(same_host, wl.namespace or "default", "egress")
    ref = ObjectRef(SE_API, "ServiceEntry", se["metadata"]["namespace"], se["metadata"]["name"])
    ports = ", ".join(f"{p['protocol']} {p['number']}" for p in se["spec"]["ports"]) or "no port known"
    caveats = []
    applicability = Applicability.SAFE
    if (se["spec"].get("resolution") == "DNS" and any(p["protocol"] == "TCP" for p in se["spec"]["ports"])
            and not ctx.mesh.auto_allocated(K8sObject(se, ref))):
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
    if sidecar is None or MeshFacts.imported(new, wl.namespace or "default", MeshFacts.sidecar_imports(sidecar)):
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
    eg = ctx.mesh.egress(wl)
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
            fixes=() if ctx.rechecking else  # a re-check only asks whether the finding is still there
            ((_sidecar_import(hidden, f"{j.coverage.entry.namespace}/{ep.host}"),) if hidden is not None
             and j.coverage.entry is not None else ()) + (_se_fix(wl, j, eg, ctx),),
        )


def _at_risk(j, policy) -> bool:
    return bool(j.endpoint.server_first or j.captures)

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
    for key in istio.CIDR_ANNOTATIONS:
        value = annotations.get(key)
        if not isinstance(value, str):
            continue
        problem = ctx.mesh.cidr_list_problem(value)
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
    eg = ctx.mesh.egress(wl)
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

