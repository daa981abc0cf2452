"""What a Service port declares: no protocol Istio recognises (MC101), an unknown appProtocol (MC102),
and different protocols reaching one container port (MC103).
"""

from __future__ import annotations

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    PatchOp,
    Protocol,
    Severity,
    Topic,
    rule,
)

from .common import (
    HTTP_FAMILY,
    PREFIX_HELP,
    _GROUP,
    _best,
    _hints,
    _istio_owned,
    _port_args,
    _port_label,
    _ports,
    _protocol_fixes,
    _server_first,
    _set_app_protocol,
)


@rule(code="MC101", name="port-protocol-not-declared", topic=Topic.PORTS, severity=Severity.INFO,
      summary="Service port declares no protocol Istio recognises, so it is sniffed",
      targets={"Service"}, reads={"Workload", "Ingress", "ServiceMonitor"}, fix=FixAvailability.ALWAYS,
      ist_codes=("IST0118",))
def port_protocol_not_declared(svc, ctx):
    """What it checks: a Service port whose name is not ``<protocol>[-suffix]`` (``web``, ``appport``,
    ``otlp-grpc``, unnamed) and that has no ``appProtocol``, outside the port-number fallbacks (25,
    53, 3306, 27017 are treated as TCP). Istio's own Services and gateway-managed ones are skipped,
    as are ExternalName Services (MC106) and ports whose app speaks first (MC105 says more).

    What Istio does: the sidecars on both ends sniff the first bytes of each connection. HTTP/1.x
    and h2c get the HTTP connection manager; anything else is plain TCP. It mostly works, but
    routing, retries and HTTP metrics depend on the guess, TLS-terminating apps may be mishandled,
    and the protocol a VirtualService or AuthorizationPolicy sees is not the one you declared.

    Example: ``ports: [{name: web, port: 80, targetPort: 8080}]`` is sniffed; with
    ``appProtocol: http`` it is HTTP.

    Fixes: set ``appProtocol`` to what the app speaks (safe when the container port's own name or
    the image says it; unsafe when only the port number hints at it); or rename the port
    ``<protocol>-<name>`` (unsafe: Ingresses, ServiceMonitors and SRV records refer to it by name).

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/
    """
    if (svc.data.get("spec") or {}).get("type") == "ExternalName" or _istio_owned(svc):
        return
    for i, port in _ports(svc):
        verdict = ctx.mesh.protocol(port)
        if not verdict.sniffed or port.get("appProtocol"):
            continue
        hints = _hints(svc, port, ctx)
        if _server_first(hints):
            continue  # MC105 reports it with the real consequence
        hint = _best(hints)
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} names no protocol Istio recognises, so sidecars sniff it: "
                     "HTTP/1.x gets L7 handling, anything else is plain TCP. Declare it with appProtocol or a "
                     f"<protocol>[-suffix] name ({PREFIX_HELP})"),
            args={**_port_args(port, verdict), "guess": hint.app if hint else None},
            fixes=_protocol_fixes(svc, i, port, hint, ctx, "this port"),
        )


@rule(code="MC102", name="app-protocol-not-recognised", topic=Topic.PORTS, severity=Severity.WARNING,
      summary="appProtocol Istio does not know overrides the port name, so the port is sniffed",
      targets={"Service"}, reads={"Workload", "Ingress", "ServiceMonitor"}, fix=FixAvailability.ALWAYS)
def app_protocol_not_recognised(svc, ctx):
    """What it checks: a Service port with an ``appProtocol`` that Istio cannot parse (for example
    ``HTTP/1.1``, ``web``, ``postgresql``, ``example.com/custom``). Istio's own and gateway-managed
    Services are skipped.

    What Istio does: ``appProtocol`` is read *instead of* the port name, even when the name is a
    valid ``http-*``; an unknown value makes the port "unsupported", so it is sniffed and the name's
    protocol is silently ignored. The Kubernetes values ``kubernetes.io/h2c``, ``kubernetes.io/ws``
    and ``kubernetes.io/wss`` are understood (Istio >= 1.19).

    Example: ``{name: http-api, appProtocol: rest, port: 80}`` is sniffed, not HTTP.

    Fixes: replace ``appProtocol`` with the protocol the name already declares (safe), or with the
    protocol the app's container port or image shows.

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/;
    istio/istio pkg/config/kube/conversion.go (appProtocol preferred over the name).
    """
    if _istio_owned(svc):
        return
    for i, port in _ports(svc):
        app = port.get("appProtocol")
        verdict = ctx.mesh.protocol(port)
        if not app or not verdict.sniffed:
            continue
        by_name = ctx.mesh.protocol({k: v for k, v in port.items() if k != "appProtocol"})
        if by_name.from_name:
            kw = ctx.mesh.canonical_name(by_name.protocol)
            fixes = (_set_app_protocol(svc, i, port, kw, f"Replace appProtocol {app!r} with {kw!r}, as the "
                                       f"port name {port.get('name')!r} declares", Applicability.SAFE),)
            also = f", so its name {port.get('name')!r} ({by_name.protocol.value}) is ignored"
        else:
            fixes = _protocol_fixes(svc, i, port, _best(_hints(svc, port, ctx)), ctx, "this port")
            also = ""
        yield Diagnostic(
            path=f"/spec/ports/{i}/appProtocol",
            message=(f"appProtocol {app!r} on port {_port_label(port)} is not a protocol Istio knows; Istio reads "
                     f"appProtocol instead of the name{also}, and sniffs the port"),
            args=_port_args(port, verdict),
            fixes=fixes,
        )


@rule(code="MC103", name="target-port-protocol-conflict", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="Service ports with different protocols reach one container port (the ArgoCD case)",
      targets={"Workload"}, reads={"Service"}, fix=FixAvailability.ALWAYS, ist_codes=("IST0137", "IST0116"))
def target_port_protocol_conflict(wl, ctx):
    """What it checks: two or more Service ports (of one Service, or of several Services selecting
    the same pods) that reach the same container port with protocols the sidecar handles
    differently: ``http`` 80 and ``https`` 443 both to 8080 (ArgoCD's argocd-server), ``tcp`` and
    ``http`` on 9080, ``http`` and ``grpc``. Named and numeric targetPorts are resolved to the
    container port first, so ``targetPort: http`` and ``targetPort: 8080`` are the same port.

    What Istio does: the inbound listener has one filter chain per container port. Only one of
    the protocols is applied to all traffic on it (the oldest Service wins), so the other kind of
    traffic is mishandled: TLS bytes fed to the HTTP connection manager ("first record does not
    look like a TLS handshake"), HTTP treated as opaque TCP, or gRPC downgraded. istiod counts it in
    ``pilot_conflict_inbound_listener``; istioctl reports IST0137 (different port numbers) or
    IST0116 (same number).

    Example: argocd-server ``[{name: http, port: 80, targetPort: 8080}, {name: https, port: 443,
    targetPort: 8080}]``.

    Fixes: declare every such port opaque TCP with ``appProtocol: tcp`` (unsafe: those ports lose
    L7 routing, retries and HTTP metrics); or, when the ports are in one Service, drop the extra
    port (unsafe: its clients must move; for ArgoCD run the server with ``--insecure`` and let mesh
    mTLS carry the security).

    References: https://istio.io/latest/docs/ops/deployment/application-requirements/ ;
    argoproj/argo-cd#2784; istio/istio#48808; istio/istio pilot/pkg/networking/core/listener_inbound.go.
    """
    containers = list(wl.containers())
    plain = [c for _, c in containers]
    by_target: dict = {}
    for svc in ctx.services_for(wl):
        for i, port in _ports(svc):
            verdict = ctx.mesh.protocol(port)
            if verdict.protocol is Protocol.UDP:
                continue
            number, container, _cport = ctx.mesh.resolve_target_port(port, plain)
            key = number if number is not None else f"name:{port.get('targetPort')}"
            by_target.setdefault(key, []).append((svc, i, port, verdict))
    for key, entries in sorted(by_target.items(), key=lambda kv: str(kv[0])):
        groups = {_GROUP.get(v.protocol, v.protocol.value) for _, _, _, v in entries}
        if len(groups) < 2:
            continue
        path = wl.spec_path
        for cpath, c in containers:
            for j, cp in enumerate(c.get("ports") or []):
                if isinstance(cp, dict) and cp.get("containerPort") == key:
                    path = f"{cpath}/ports/{j}"
        numbers = sorted({p.get("port") for _, _, p, _ in entries},
                         key=lambda n: (not isinstance(n, int), str(n).zfill(6)))
        uses = [f"{s.name}:{p.get('port')} ({v.protocol.value})" for s, _, p, v in entries]
        shown = key if isinstance(key, int) else str(key).removeprefix("name:")
        yield Diagnostic(
            path=path,
            message=(f"container port {shown} is reached by Service ports with different protocols "
                     f"({', '.join(uses)}); the sidecar keeps one inbound filter chain per container port, "
                     "so only one protocol is applied and the other traffic is mishandled"),
            args={"containerPort": shown, "ports": numbers,
                  "services": [{"service": s.name, "port": p.get("port"), "name": p.get("name"),
                                "protocol": v.protocol.value} for s, _, p, v in entries],
                  "ist": "IST0137" if len(numbers) > 1 else "IST0116"},
            related=tuple({s.ref.key: s.ref for s, _, _, _ in entries}.values()),
            fixes=_conflict_fixes(entries),
        )


def _conflict_fixes(entries) -> tuple[Fix, ...]:
    by_svc: dict = {}
    for svc, i, port, verdict in entries:
        by_svc.setdefault(svc.ref, (svc, []))[1].append((i, port, verdict))
    parts, labels = [], []
    for svc, ports in by_svc.values():
        todo = [(i, p) for i, p, v in ports if _GROUP.get(v.protocol) != "TCP"]
        if not todo:
            continue
        ops: list[PatchOp] = []
        for i, port in todo:
            ops += list(_set_app_protocol(svc, i, port, "tcp", "", Applicability.UNSAFE).ops)
        labels += [f"{svc.name} {_port_label(p)}" for _, p in todo]
        parts.append(Fix("", Applicability.UNSAFE, svc.ref, tuple(ops)))
    fixes = []
    if parts:
        fixes.append(Fix(f"Declare port(s) {', '.join(labels)} opaque TCP (appProtocol: tcp)", Applicability.UNSAFE,
                         parts[0].target, parts[0].ops,
                         ("these ports lose HTTP routing, retries and HTTP metrics; TLS passes through untouched",),
                         tuple(parts[1:])))
    if len(by_svc) == 1:
        svc, ports = next(iter(by_svc.values()))
        keep = next((p for p in ports if p[2].protocol in HTTP_FAMILY), ports[0])
        drop = sorted((p for p in ports if p is not keep), key=lambda p: -p[0])
        ops = []
        for i, port, _ in drop:
            ops += [PatchOp("test", f"/spec/ports/{i}/port", port.get("port")), PatchOp("remove", f"/spec/ports/{i}")]
        fixes.append(Fix(
            f"Keep only port {_port_label(keep[1])} of Service {svc.name} for this container port",
            Applicability.UNSAFE, svc.ref, tuple(ops),
            (f"clients of port(s) {', '.join(str(p.get('port')) for _, p, _ in drop)} must move to "
             f"{keep[1].get('port')}; if the app served TLS there, let mesh mTLS carry it (ArgoCD: --insecure)",)))
    return tuple(fixes)
