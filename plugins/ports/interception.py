"""Ports the sidecar handles otherwise than the app expects: an ExternalName port captured for every
pod (MC106), UDP that is not proxied (MC108), and ports the sidecar reserves for itself (MC109).
"""

from __future__ import annotations

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    MeshFacts,
    Protocol,
    Severity,
    Topic,
    Workload,
    istio,
    rule,
)

from .common import TCP_FAMILY, _TLS_NUMBERS, _istio_owned, _port_args, _port_label, _ports, _set_app_protocol


@rule(code="MC106", name="externalname-port-captures-all", topic=Topic.PORTS, severity=Severity.WARNING,
      summary="an ExternalName Service with a TCP or sniffed port captures that port for every pod",
      targets={"Service"}, fix=FixAvailability.SOMETIMES, ist_codes=("IST0150",), sidecar_only=False)
def externalname_port_captures_all(svc, ctx):
    """What it checks: ports of ``type: ExternalName`` Services that resolve to TCP (``tcp``,
    ``mongo``, ``mysql``, ``redis``, a port-number fallback) or are sniffed (unnamed, ``web``...).

    What Istio does: an ExternalName Service has no cluster IP, so sidecars build a
    ``0.0.0.0:<port>`` outbound listener for it. For TCP that listener matches *any* destination on
    the port, so every meshed pod's connections to any host on that port go to the ExternalName's
    target (istio/istio#35429: HTTPS on 443 broken cluster-wide). TLS ports are matched by SNI and
    HTTP ports by Host, so they do not capture unrelated traffic.

    The listener is pushed to every sidecar in the mesh, so this rule also runs for Services in
    namespaces that are not themselves meshed (Istio's IST0150 does the same).

    Example: ``{type: ExternalName, externalName: db.example.com, ports: [{name: tcp, port: 443}]}``.

    Fixes: declare the real protocol: ``appProtocol: tls`` on a TLS port (safe on 443/8443), ``http``
    on an HTTP one; for plain TCP, replace the Service with a ServiceEntry that has ``addresses``
    (display-only: the address must come from you).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0150/ ;
    https://istio.io/latest/docs/ops/configuration/traffic-management/traffic-routing/
    """
    spec = svc.data.get("spec") or {}
    if spec.get("type") != "ExternalName" or _istio_owned(svc)  or svc.namespace in istio.SYSTEM_NAMESPACES:
        return
    for i, port in _ports(svc):
        verdict = ctx.mesh.protocol(port)
        if not (verdict.sniffed or verdict.protocol in TCP_FAMILY):
            continue
        number = port.get("port")
        if number in _TLS_NUMBERS:
            fixes = (_set_app_protocol(svc, i, port, "tls", f"Set appProtocol: tls on port {_port_label(port)}",
                                       Applicability.SAFE if number in (443, 8443) else Applicability.UNSAFE),)
        elif number in (80, 8080):
            fixes = (_set_app_protocol(svc, i, port, "http", f"Set appProtocol: http on port {_port_label(port)}",
                                       Applicability.UNSAFE, ("confirm the external service speaks plain HTTP",)),)
        else:
            fixes = (Fix(f"Replace ExternalName {svc.name} with a ServiceEntry for {spec.get('externalName')} "
                         f"with addresses, so only traffic to those addresses on port {number} is matched",
                         Applicability.DISPLAY_ONLY, svc.ref, (), ("the external address must be chosen by you",)),)
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"ExternalName port {_port_label(port)} is "
                     f"{verdict.protocol.value if not verdict.sniffed else 'sniffed'}"
                     f"; with no cluster IP, sidecars listen on 0.0.0.0:{number} and send every pod's connections "
                     f"on port {number}, to any host, to {spec.get('externalName')}"),
            args={**_port_args(port, verdict), "externalName": spec.get("externalName")},
            fixes=fixes,
        )


@rule(code="MC108", name="udp-port-not-proxied", topic=Topic.PORTS, severity=Severity.INFO,
      summary="UDP ports are not proxied: no mTLS, policy or telemetry",
      targets={"Service"}, fix=FixAvailability.NEVER)
def udp_port_not_proxied(svc, ctx):
    """What it checks: Service ports with ``protocol: UDP`` (other than DNS on 53).

    What Istio does: the sidecar's iptables rules redirect TCP only; listeners are never built
    for UDP. The traffic flows as before, but without mTLS, AuthorizationPolicy or telemetry, and
    it cannot pass an ingress or egress gateway.

    Example: ``{name: syslog, port: 514, protocol: UDP}``.

    Fixes: none needed if that is acceptable; protect the port with a NetworkPolicy instead.

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/
    """
    if _istio_owned(svc):
        return
    for i, port in _ports(svc):
        verdict = ctx.mesh.protocol(port)
        if verdict.protocol is Protocol.UDP and port.get("port") != 53:
            yield Diagnostic(
                path=f"/spec/ports/{i}",
                message=(f"UDP port {_port_label(port)} is not proxied by the sidecar: no mTLS, no "
                         "AuthorizationPolicy, no telemetry"),
                args=_port_args(port, verdict),
            )


#: reserved ports nothing outside the pod reaches on the proxy (admin, capture, agent debug, DNS,
#: iptables probe, HBONE): a Service that targets one can only mean the app listens there
_POD_INTERNAL = frozenset({15000, 15001, 15002, 15004, 15006, 15008, 15053})
#: words in a Service port's name that say it reaches the proxy's own status/metrics ports on purpose
_PROXY_WORDS = ("envoy", "istio", "proxy", "sidecar", "status", "stats", "mesh")


@rule(code="MC109", name="istio-reserved-port", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="the app uses a port the sidecar reserves (15000-15090)",
      targets={"Workload", "Service"}, reads={"Workload"}, fix=FixAvailability.ALWAYS)
def istio_reserved_port(subject, ctx):
    """What it checks: an application container (not ``istio-proxy``; native sidecars included) that
    declares a container port Istio's sidecar reserves (15000, 15001, 15002, 15004, 15006, 15008,
    15020, 15021, 15053, 15090); and a Service whose numeric ``targetPort`` is one of them, which
    says the app listens there even when the pod template is not in the input or declares no
    ports. On a Service, 15020, 15021 and 15090 (the agent's merged metrics, Envoy's health and
    stats, which Prometheus reaches from outside the pod) count only when the port's name does not
    say it is the proxy's (``http-envoy-prom``, ``status-port``). Istio's own workloads and Services
    (gateways, istiod, proxies) are skipped.

    What Istio does: Envoy and pilot-agent listen on these ports inside the pod's network
    namespace. The app cannot bind them, or inbound traffic for them is taken by the proxy (15001
    and 15006 are the capture ports; 15020, 15021 and 15090 are excluded from capture).

    Example: ``containerPort: 15020`` for an app's metrics; a Service ``{port: 80, targetPort: 15006}``.

    Fixes: move the app to another port (display-only: the app's configuration must change too).

    References: https://istio.io/latest/docs/ops/deployment/application-requirements/#ports-used-by-istio ;
    reference/istio-facts.md §A7 (which ports are pod-internal).
    """
    if not isinstance(subject, Workload):
        yield from _service_reserved_ports(subject, ctx)
        return
    wl = subject
    labels = wl.pod_labels
    if "istio" in labels or "gateway.istio.io/managed" in wl.obj.labels or "istio.io/gateway-name" in labels \
            or ctx.mesh.gateway_clue(wl.pod_meta, wl.pod_spec):
        return
    for path, c in _reserved_candidates(wl):
        for j, cp in enumerate(c.get("ports") or []):
            n = cp.get("containerPort") if isinstance(cp, dict) else None
            if n in istio.RESERVED_PORTS:
                yield Diagnostic(
                    path=f"{path}/ports/{j}/containerPort",
                    message=(f"container {c.get('name')!r} uses port {n}, which the sidecar reserves for "
                             f"{istio.RESERVED_PORTS[n]}: the app and the proxy collide"),
                    args={"container": c.get("name"), "port": n, "istioUse": istio.RESERVED_PORTS[n]},
                    fixes=(Fix(f"Move container {c.get('name')!r} off port {n} (and the app's own setting)",
                               Applicability.DISPLAY_ONLY, wl.ref, (),
                               ("Services whose targetPort is this number must change with it",)),),
                )


def _reserved_candidates(wl):
    """The containers of a workload that are the app's (regular and native sidecars, not the proxy)."""
    native = [(p, c) for p, c in wl.containers(init=True) if c.get("restartPolicy") == "Always"]
    return [(p, c) for p, c in [*wl.containers(), *native]
            if not (c.get("name") == "istio-proxy" or "proxyv2" in MeshFacts.image_base(c.get("image"))
                    or MeshFacts.image_base(c.get("image")) in ("pilot", "proxyv2"))]


def _service_reserved_ports(svc, ctx):
    spec = svc.data.get("spec") or {}
    if _istio_owned(svc) or spec.get("type") == "ExternalName" or not spec.get("selector"):
        return
    backends = ctx.workloads_for(svc)
    if any(ctx.mesh.gateway_clue(wl.pod_meta, wl.pod_spec) or "istio" in wl.pod_labels for wl in backends):
        return
    declared = {cp.get("containerPort") for wl in backends for _, c in _reserved_candidates(wl)
                for cp in c.get("ports") or [] if isinstance(cp, dict)}
    for i, port in _ports(svc):
        target = ctx.mesh.effective_target_port(port)
        if not isinstance(target, int) or target not in istio.RESERVED_PORTS or target in declared:
            continue  # a container port the workload declares is reported on the workload
        name = str(port.get("name") or "").lower()
        if target not in _POD_INTERNAL and any(w in name for w in _PROXY_WORDS):
            continue
        yield Diagnostic(
            path=f"/spec/ports/{i}/targetPort" if "targetPort" in port else f"/spec/ports/{i}/port",
            message=(f"port {_port_label(port)} sends traffic to port {target} of the pods, which the sidecar "
                     f"reserves for {istio.RESERVED_PORTS[target]}: the app listening there collides with the proxy"),
            args={"port": port.get("port"), "targetPort": target, "istioUse": istio.RESERVED_PORTS[target],
                  "workloads": [wl.ref.display() for wl in backends]},
            fixes=(Fix(f"Move the app behind {svc.name} off port {target} and point targetPort at the new port",
                       Applicability.DISPLAY_ONLY, svc.ref, (), ("the app's own listen setting must change too",)),),
        )
