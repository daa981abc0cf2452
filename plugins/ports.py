"""Bundled plugin ``ports`` (MC1xx): port names and protocols, and what Istio does with them.

Istio's protocol verdict for every Service port comes from ``service_port_protocol`` (the facts
live in ``kubectl_meshcheck.mesh.protocol``); these rules only judge whether that verdict fits
the application behind the port, and compute the least disruptive fix: ``appProtocol`` first
(it changes nothing else), renaming second (other objects may refer to the port by name).
"""

from __future__ import annotations

from collections.abc import Iterator

from kubectl_meshcheck import (
    RESERVED_PORTS,
    SYSTEM_NAMESPACES,
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    Hint,
    PatchOp,
    Protocol,
    Reason,
    Severity,
    Topic,
    Workload,
    app_hints,
    canonical_name,
    effective_target_port,
    gateway_clue,
    hookimpl,
    image_base,
    resolve_target_port,
    rule,
    service_port_protocol,
)

HTTP_FAMILY = {Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB, Protocol.HTTP_PROXY}
TCP_FAMILY = {Protocol.TCP, Protocol.MYSQL, Protocol.REDIS, Protocol.MONGO}
#: protocols that the sidecar handles identically (same chain, same upstream protocol)
_GROUP = {
    Protocol.HTTP: "HTTP/1.1",
    Protocol.HTTP_PROXY: "HTTP/1.1",
    Protocol.HTTP2: "HTTP/2",
    Protocol.GRPC: "HTTP/2",
    Protocol.GRPC_WEB: "HTTP/2",
    Protocol.HTTPS: "TLS",
    Protocol.TLS: "TLS",
    Protocol.TCP: "TCP",
    Protocol.MYSQL: "TCP",
    Protocol.REDIS: "TCP",
    Protocol.MONGO: "Mongo",
    Protocol.UNSUPPORTED: "sniffed",
}
_TLS_NUMBERS = {443, 8443, 6443, 9443}
PREFIX_HELP = "http, http2, https, grpc, grpc-web, tcp, tls, mongo, mysql, redis or udp"


# -- shared judgement helpers ------------------------------------------------------------------


def _istio_owned(svc) -> bool:
    """Services Istio manages itself: control plane and gateway-controller output (IST0118's skips)."""
    labels = svc.labels
    return "istio" in labels or labels.get("release") == "istio" or "gateway.istio.io/managed" in labels


def _ports(svc) -> Iterator[tuple[int, dict]]:
    for i, p in enumerate((svc.data.get("spec") or {}).get("ports") or []):
        if isinstance(p, dict):
            yield i, p


def _port_label(port: dict) -> str:
    name = port.get("name")
    return f"{name!r} ({port.get('port')})" if name else f"{port.get('port')} (unnamed)"


def _backends(svc, port: dict, ctx) -> list[tuple[object, dict | None, dict | None, int | None]]:
    """(workload, container, container port, number) for each workload behind this Service port."""
    out = []
    for wl in ctx.workloads_for(svc):
        containers = [c for _, c in wl.containers()]
        number, container, cport = resolve_target_port(port, containers)
        out.append((wl, container, cport, number))
    return out


def _hints(svc, port: dict, ctx) -> list[Hint]:
    key = ("ports.hints", svc.ref, port.get("port"), port.get("name"), str(effective_target_port(port)))
    return ctx.cached(key, lambda: _compute_hints(svc, port, ctx))


def _compute_hints(svc, port: dict, ctx) -> list[Hint]:
    backends = _backends(svc, port, ctx)
    if not backends:
        target = effective_target_port(port)
        return app_hints(port, None, None, target if isinstance(target, int) else None)
    out: list[Hint] = []
    for _, container, cport, number in backends:
        out.extend(app_hints(port, container, cport, number))
    return out


def _best(hints: list[Hint], want: set[Protocol] | None = None) -> Hint | None:
    pool = [h for h in hints if want is None or h.protocol in want]
    strong = [h for h in pool if h.strong]
    return (strong or pool or [None])[0]


def _keyword(h: Hint, port: dict) -> str:
    """What to declare: opaque ``tcp`` for databases (Istio's MySQL/Redis filters are experimental)."""
    if h.protocol in (Protocol.TLS, Protocol.HTTPS):
        return "https" if port.get("port") in _TLS_NUMBERS else "tls"
    if h.protocol in TCP_FAMILY:
        return "tcp"
    return canonical_name(h.protocol)


def _set_app_protocol(svc, i: int, port: dict, value: str, title: str, applicability: Applicability,
                      caveats: tuple[str, ...] = ()) -> Fix:
    base = f"/spec/ports/{i}"
    ops = [PatchOp("test", f"{base}/port", port.get("port"))]
    if "appProtocol" in port:
        ops += [PatchOp("test", f"{base}/appProtocol", port["appProtocol"]),
                PatchOp("replace", f"{base}/appProtocol", value)]
    else:
        ops.append(PatchOp("add", f"{base}/appProtocol", value))
    return Fix(title, applicability, svc.ref, tuple(ops), caveats)


def _name_references(svc, name: str, ctx) -> list[str]:
    """Objects in the input that refer to this Service port by name (a rename breaks them)."""
    out = []
    for ing in ctx.objects("Ingress"):
        if ing.namespace != svc.namespace:
            continue
        spec = ing.data.get("spec") or {}
        backends = [spec.get("defaultBackend") or {}]
        for r in spec.get("rules") or []:
            backends += [p.get("backend") or {} for p in ((r or {}).get("http") or {}).get("paths") or []]
        for b in backends:
            s = (b or {}).get("service") or {}
            if s.get("name") == svc.name and (s.get("port") or {}).get("name") == name:
                out.append(f"Ingress {ing.namespace}/{ing.name} selects port {name!r} of this Service by name")
                break
    for sm in ctx.objects("ServiceMonitor"):
        spec = sm.data.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        ns_sel = spec.get("namespaceSelector") or {}
        in_ns = ns_sel.get("any") or svc.namespace in (ns_sel.get("matchNames") or [sm.namespace])
        if (
            sel
            and in_ns
            and all(svc.labels.get(k) == v for k, v in sel.items())
            and any((e or {}).get("port") == name for e in spec.get("endpoints") or [])
        ):
            out.append(f"ServiceMonitor {sm.namespace}/{sm.name} scrapes port {name!r} of this Service by name")
    return out


def _rename(svc, i: int, port: dict, keyword: str, ctx) -> Fix | None:
    old = port.get("name") or ""
    if not keyword:
        return None
    new = keyword if not old else f"{keyword}-{old}"[:63].rstrip("-")
    taken = {p.get("name") for _, p in _ports(svc)}
    if new in taken:
        return None
    base = f"/spec/ports/{i}"
    ops = [PatchOp("test", f"{base}/port", port.get("port"))]
    if old:
        ops += [PatchOp("test", f"{base}/name", old), PatchOp("replace", f"{base}/name", new)]
    else:
        ops.append(PatchOp("add", f"{base}/name", new))
    caveats = _name_references(svc, old, ctx) if old else []
    caveats.append("anything else that looks the port up by name breaks: DNS SRV records "
                   f"(_{old or new}._tcp), charts, NetworkPolicies of other tools")
    return Fix(f"Rename port {old or '(unnamed)'} to {new!r}", Applicability.UNSAFE, svc.ref, tuple(ops),
               tuple(caveats))


def _protocol_fixes(svc, i: int, port: dict, hint: Hint | None, ctx, what: str) -> tuple[Fix, ...]:
    """appProtocol from the best clue (safe only on strong evidence), then a rename."""
    if hint is None:
        return (Fix(f"Set appProtocol on port {_port_label(port)} to the protocol the app speaks ({PREFIX_HELP})",
                    Applicability.DISPLAY_ONLY, svc.ref, (), (f"nothing in the input says what {what} speaks",)),)
    kw = _keyword(hint, port)
    if hint.strong:
        first = _set_app_protocol(svc, i, port, kw, f"Set appProtocol: {kw} on port {_port_label(port)}",
                                  Applicability.SAFE)
    else:
        first = _set_app_protocol(svc, i, port, kw, f"Set appProtocol: {kw} on port {_port_label(port)}",
                                  Applicability.UNSAFE,
                                  (f"a guess from weak evidence ({hint.evidence}): confirm the app speaks {hint.app}",))
    fixes = [first]
    renamed = _rename(svc, i, port, kw, ctx)
    if renamed is not None and not port.get("appProtocol"):
        fixes.append(renamed)
    return tuple(fixes)


def _http_ports_behind(svc, ctx, pick) -> Iterator[tuple[int, dict, object, Hint]]:
    """(index, port, verdict, clue) for the HTTP-family ports of a Service (not Istio's own) whose app
    ``pick`` finds a clue against in the hints."""
    if _istio_owned(svc):
        return
    for i, port in _ports(svc):
        verdict = service_port_protocol(port)
        if verdict.protocol not in HTTP_FAMILY:
            continue
        hint = pick(_hints(svc, port, ctx))
        if hint is not None:
            yield i, port, verdict, hint


def _server_first(hints: list[Hint]) -> Hint | None:
    return _best([h for h in hints if h.server_first])


def _port_args(port: dict, verdict) -> dict:
    return {"port": port.get("port"), "name": port.get("name"), "appProtocol": port.get("appProtocol"),
            "targetPort": effective_target_port(port), **verdict.to_json()}


# -- rules -------------------------------------------------------------------------------------


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
        verdict = service_port_protocol(port)
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
        verdict = service_port_protocol(port)
        if not app or not verdict.sniffed:
            continue
        by_name = service_port_protocol({k: v for k, v in port.items() if k != "appProtocol"})
        if by_name.reason is Reason.NAME:
            kw = canonical_name(by_name.protocol)
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
            verdict = service_port_protocol(port)
            if verdict.protocol is Protocol.UDP:
                continue
            number, container, _cport = resolve_target_port(port, plain)
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


@rule(code="MC104", name="tls-port-declared-http", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="a TLS port is declared http/http2/grpc, so TLS bytes meet an HTTP parser",
      targets={"Service"}, reads={"Workload"}, fix=FixAvailability.ALWAYS)
def tls_port_declared_http(svc, ctx):
    """What it checks: a Service port declared ``http``, ``http2``, ``grpc`` or ``grpc-web`` (by name or
    appProtocol) whose app serves TLS: the container port is named ``https``/``tls`` (or mentions
    it), the container is started with a TLS certificate, or the port number is a TLS convention
    (443, 8443, 6443, 9443; weaker evidence).

    What Istio does: an HTTP-declared port goes through Envoy's HTTP connection manager. Clients
    that speak TLS to it are parsed as HTTP and fail ("tls: first record does not look like a TLS
    handshake", 400/404 from Envoy). Because explicit HTTP ports share one ``0.0.0.0:<port>``
    outbound listener, an HTTP declaration on 443 also routes every meshed pod's outgoing HTTPS on
    443 through an HTTP listener (istio/istio#47088).

    Example: ``{name: http, port: 443, targetPort: 8443}`` in front of a server with
    ``--tls-cert-file``.

    Fixes: ``appProtocol: https`` (or ``tls`` off 443): opaque TLS, routed by IP:port or SNI (safe
    when the container port's name or arguments show TLS; unsafe when only the number does).

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/ ;
    https://istio.io/latest/docs/ops/configuration/traffic-management/traffic-routing/ ;
    kubernetes-sigs/metrics-server#1540.
    """
    for i, port, verdict, hint in _http_ports_behind(svc, ctx, lambda hs: _best(hs, {Protocol.TLS, Protocol.HTTPS})):
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} is declared {verdict.protocol.value} ({verdict.reason.value} "
                     f"{verdict.source!r}) but the app serves TLS ({hint.evidence}); TLS clients are fed to Envoy's "
                     "HTTP parser and fail"),
            args={**_port_args(port, verdict), "evidence": hint.evidence},
            fixes=(_set_app_protocol(
                svc, i, port, _keyword(hint, port),
                f"Set appProtocol: {_keyword(hint, port)} on port {_port_label(port)}",
                Applicability.SAFE if hint.strong else Applicability.UNSAFE,
                () if hint.strong else (f"based on {hint.evidence}: if the app really serves plain HTTP here, "
                                        "keep it and suppress this finding with a reason",)),),
        )


@rule(code="MC105", name="server-first-protocol-sniffed", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="a server-first protocol (MySQL, SMTP, NATS...) on a sniffed or HTTP port: connections hang",
      targets={"Service"}, reads={"Workload", "Ingress", "ServiceMonitor"}, fix=FixAvailability.ALWAYS,
      ist_codes=("IST0118",))
def server_first_protocol_sniffed(svc, ctx):
    """What it checks: a Service port that is sniffed (no recognised name or appProtocol) or
    declared HTTP, in front of an app whose protocol makes the *server* speak first: MySQL/MariaDB,
    SMTP, NATS, FTP, POP3, IMAP (by image or port number). Service ports 25, 53, 3306 and 27017
    are already treated as TCP by Istio and are not flagged; the trap is a different Service port
    (13306 -> 3306) or a non-default port.

    What Istio does: protocol sniffing waits for the client's first bytes to decide between HTTP
    and TCP. A server-first client waits for the server's greeting, which the sidecar never
    forwards: with ``protocolDetectionTimeout`` at its default 0s (since Istio 1.8) the connection
    hangs forever. PostgreSQL, Redis, MongoDB, AMQP and Kafka are client-first and do not hang.

    Example: ``{port: 13306, targetPort: 3306}`` in front of ``image: mysql:8``: ``mysql`` clients
    hang at connect (istio/istio#38284).

    Fixes: ``appProtocol: tcp`` (safe when the image and its default port agree; unsafe on a port
    number alone); or rename the port ``tcp-<name>``.

    References:
    https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/#server-first-protocols ;
    istio/api mesh/v1alpha1/config.proto (protocol_detection_timeout).
    """
    if _istio_owned(svc) or (svc.data.get("spec") or {}).get("type") == "ExternalName":
        return
    for i, port in _ports(svc):
        verdict = service_port_protocol(port)
        if not (verdict.sniffed or verdict.protocol in HTTP_FAMILY):
            continue
        hint = _server_first(_hints(svc, port, ctx))
        if hint is None:
            continue
        how = "sniffed" if verdict.sniffed else f"declared {verdict.protocol.value}"
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} is {how}, but {hint.app} is server-first ({hint.evidence}): the "
                     "sidecar waits for client bytes that never come, so connections hang"),
            args={**_port_args(port, verdict), "app": hint.app, "evidence": hint.evidence},
            fixes=_protocol_fixes(svc, i, port, hint, ctx, hint.app),
        )


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
    if spec.get("type") != "ExternalName" or _istio_owned(svc)  or svc.namespace in SYSTEM_NAMESPACES:
        return
    for i, port in _ports(svc):
        verdict = service_port_protocol(port)
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


@rule(code="MC107", name="grpc-port-declared-http", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="a gRPC server behind a port declared http (HTTP/1.1 upstream) breaks",
      targets={"Service"}, reads={"Workload"}, fix=FixAvailability.ALWAYS)
def grpc_port_declared_http(svc, ctx):
    """What it checks: a Service port declared exactly ``http`` (name prefix or appProtocol) in
    front of a gRPC server: the container port is named ``grpc*`` or mentions grpc, or the
    Service port name does (``http-grpc``), or the port is gRPC's by convention (50051, OTLP 4317;
    weaker evidence).

    What Istio does: for ``http`` the sidecar speaks HTTP/1.1 to the destination, even when the
    client spoke HTTP/2. gRPC needs HTTP/2, so calls fail. ``grpc``, ``grpc-web`` and ``http2``
    force HTTP/2 upstream.

    Example: ``{name: http-grpc, port: 9000}`` in front of a gRPC server.

    Fixes: ``appProtocol: grpc`` (safe when a name says grpc; unsafe on a port number alone).

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/ ;
    istio/istio pilot/pkg/networking/core/cluster_builder.go (setUpstreamProtocol).
    """
    if _istio_owned(svc):
        return
    for i, port in _ports(svc):
        verdict = service_port_protocol(port)
        if verdict.protocol is not Protocol.HTTP:
            continue
        hint = _best(_hints(svc, port, ctx), {Protocol.GRPC})
        if hint is None:
            continue
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} is declared HTTP, so the sidecar speaks HTTP/1.1 upstream, but the app "
                     f"is a gRPC server ({hint.evidence}) and gRPC needs HTTP/2: calls fail"),
            args={**_port_args(port, verdict), "evidence": hint.evidence},
            fixes=(_set_app_protocol(
                svc, i, port, "grpc", f"Set appProtocol: grpc on port {_port_label(port)}",
                Applicability.SAFE if hint.strong else Applicability.UNSAFE,
                () if hint.strong else (f"based on {hint.evidence}: confirm the app serves gRPC",)),),
        )


def _opaque_app(hints: list[Hint]) -> Hint | None:
    """The clue that the app speaks a client-first TCP protocol (a database's or a broker's wire
    protocol: PostgreSQL, Redis, MongoDB, AMQP, Kafka...): its image on that image's own port, or its
    container port's name. A bare port number, or the image on another port (a database's web UI), is
    not enough. Server-first apps are MC105's."""
    return _best([h for h in hints if h.protocol in TCP_FAMILY and not h.server_first and h.strong])


@rule(code="MC110", name="http-declared-for-tcp-app", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="a port declared http/http2/grpc in front of a database or broker that speaks its own protocol",
      targets={"Service"}, reads={"Workload", "Ingress", "ServiceMonitor"}, fix=FixAvailability.ALWAYS)
def http_declared_for_tcp_app(svc, ctx):
    """What it checks: a Service port declared ``http``, ``http2``, ``grpc``, ``grpc-web`` or
    ``http_proxy`` (by name or appProtocol) in front of an app that speaks a non-HTTP wire protocol:
    an image of a known database or broker (PostgreSQL, Redis/Valkey, MongoDB, RabbitMQ, Kafka,
    ZooKeeper, Memcached, Cassandra) on its own port, or a container port named ``tcp``/``mongo``/``redis``.
    Server-first ones (MySQL, SMTP, NATS...) are MC105's; TLS ones MC104's.

    What Istio does: an HTTP-declared port goes through Envoy's HTTP connection manager on both
    sidecars; the client's first bytes (a PostgreSQL startup message, a RESP command) are no HTTP,
    so the connection is closed with a protocol error. Explicit HTTP ports also make every sidecar
    listen on ``0.0.0.0:<port>`` routed by Host, so other meshed pods' traffic on that port to any
    host (an external Redis on 6379) meets the same HTTP parser.

    Example: ``{name: http-redis, port: 6379}`` in front of ``image: redis:7``; ``{name: grpc, port:
    5432}`` in front of ``postgres:16``.

    Fixes: ``appProtocol: tcp`` (safe: the image and its default port agree, or the container port's
    name says it); or rename the port ``tcp-<name>``.

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/ ;
    https://istio.io/latest/docs/ops/configuration/traffic-management/traffic-routing/ ;
    reference/istio-facts.md §A1, §A6.
    """
    for i, port, verdict, hint in _http_ports_behind(svc, ctx, _opaque_app):
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} is declared {verdict.protocol.value} ({verdict.reason.value} "
                     f"{verdict.source!r}), but the app speaks {hint.app} ({hint.evidence}): the sidecars parse its "
                     "bytes as HTTP and close the connections"),
            args={**_port_args(port, verdict), "app": hint.app, "evidence": hint.evidence},
            fixes=_protocol_fixes(svc, i, port, hint, ctx, hint.app),
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
        verdict = service_port_protocol(port)
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
            or gateway_clue(wl.pod_meta, wl.pod_spec):
        return
    for path, c in _reserved_candidates(wl):
        for j, cp in enumerate(c.get("ports") or []):
            n = cp.get("containerPort") if isinstance(cp, dict) else None
            if n in RESERVED_PORTS:
                yield Diagnostic(
                    path=f"{path}/ports/{j}/containerPort",
                    message=(f"container {c.get('name')!r} uses port {n}, which the sidecar reserves for "
                             f"{RESERVED_PORTS[n]}: the app and the proxy collide"),
                    args={"container": c.get("name"), "port": n, "istioUse": RESERVED_PORTS[n]},
                    fixes=(Fix(f"Move container {c.get('name')!r} off port {n} (and the app's own setting)",
                               Applicability.DISPLAY_ONLY, wl.ref, (),
                               ("Services whose targetPort is this number must change with it",)),),
                )


def _reserved_candidates(wl):
    """The containers of a workload that are the app's (regular and native sidecars, not the proxy)."""
    native = [(p, c) for p, c in wl.containers(init=True) if c.get("restartPolicy") == "Always"]
    return [(p, c) for p, c in [*wl.containers(), *native]
            if not (c.get("name") == "istio-proxy" or "proxyv2" in image_base(c.get("image"))
                    or image_base(c.get("image")) in ("pilot", "proxyv2"))]


def _service_reserved_ports(svc, ctx):
    spec = svc.data.get("spec") or {}
    if _istio_owned(svc) or spec.get("type") == "ExternalName" or not spec.get("selector"):
        return
    backends = ctx.workloads_for(svc)
    if any(gateway_clue(wl.pod_meta, wl.pod_spec) or "istio" in wl.pod_labels for wl in backends):
        return
    declared = {cp.get("containerPort") for wl in backends for _, c in _reserved_candidates(wl)
                for cp in c.get("ports") or [] if isinstance(cp, dict)}
    for i, port in _ports(svc):
        target = effective_target_port(port)
        if not isinstance(target, int) or target not in RESERVED_PORTS or target in declared:
            continue  # a container port the workload declares is reported on the workload
        name = str(port.get("name") or "").lower()
        if target not in _POD_INTERNAL and any(w in name for w in _PROXY_WORDS):
            continue
        yield Diagnostic(
            path=f"/spec/ports/{i}/targetPort" if "targetPort" in port else f"/spec/ports/{i}/port",
            message=(f"port {_port_label(port)} sends traffic to port {target} of the pods, which the sidecar "
                     f"reserves for {RESERVED_PORTS[target]}: the app listening there collides with the proxy"),
            args={"port": port.get("port"), "targetPort": target, "istioUse": RESERVED_PORTS[target],
                  "workloads": [wl.ref.display() for wl in backends]},
            fixes=(Fix(f"Move the app behind {svc.name} off port {target} and point targetPort at the new port",
                       Applicability.DISPLAY_ONLY, svc.ref, (), ("the app's own listen setting must change too",)),),
        )


RULES = (
    port_protocol_not_declared,
    app_protocol_not_recognised,
    target_port_protocol_conflict,
    tls_port_declared_http,
    server_first_protocol_sniffed,
    externalname_port_captures_all,
    grpc_port_declared_http,
    http_declared_for_tcp_app,
    udp_port_not_proxied,
    istio_reserved_port,
)


@hookimpl
def meshcheck_register_rules(register):
    for r in RULES:
        register(r)

