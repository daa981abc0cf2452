"""What the ports rules share: a Service port's backends and app hints, and the fixes they rank
(``appProtocol`` first, renaming second).
"""

from __future__ import annotations

from collections.abc import Iterator

from kubectl_meshcheck import Applicability, Fix, MeshFacts, PatchOp, Protocol


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
        number, container, cport = ctx.mesh.resolve_target_port(port, containers)
        out.append((wl, container, cport, number))
    return out


def _hints(svc, port: dict, ctx) -> list:
    key = ("ports.hints", svc.ref, port.get("port"), port.get("name"), str(ctx.mesh.effective_target_port(port)))
    return ctx.cached(key, lambda: _compute_hints(svc, port, ctx))


def _compute_hints(svc, port: dict, ctx) -> list:
    backends = _backends(svc, port, ctx)
    if not backends:
        target = ctx.mesh.effective_target_port(port)
        return ctx.mesh.app_hints(port, None, None, target if isinstance(target, int) else None)
    out: list = []
    for _, container, cport, number in backends:
        out.extend(ctx.mesh.app_hints(port, container, cport, number))
    return out


def _best(hints: list, want: set[Protocol] | None = None):
    pool = [h for h in hints if want is None or h.protocol in want]
    strong = [h for h in pool if h.strong]
    return (strong or pool or [None])[0]


def _keyword(h, port: dict) -> str:
    """What to declare: opaque ``tcp`` for databases (Istio's MySQL/Redis filters are experimental)."""
    if h.protocol in (Protocol.TLS, Protocol.HTTPS):
        return "https" if port.get("port") in _TLS_NUMBERS else "tls"
    if h.protocol in TCP_FAMILY:
        return "tcp"
    return MeshFacts.canonical_name(h.protocol)


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


def _protocol_fixes(svc, i: int, port: dict, hint, ctx, what: str) -> tuple[Fix, ...]:
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


def _http_ports_behind(svc, ctx, pick) -> Iterator[tuple]:
    """(index, port, verdict, clue) for the HTTP-family ports of a Service (not Istio's own) whose app
    ``pick`` finds a clue against in the hints."""
    if _istio_owned(svc):
        return
    for i, port in _ports(svc):
        verdict = ctx.mesh.protocol(port)
        if verdict.protocol not in HTTP_FAMILY:
            continue
        hint = pick(_hints(svc, port, ctx))
        if hint is not None:
            yield i, port, verdict, hint


def _server_first(hints: list):
    return _best([h for h in hints if h.server_first])


def _port_args(port: dict, verdict) -> dict:
    return {"port": port.get("port"), "name": port.get("name"), "appProtocol": port.get("appProtocol"),
            "targetPort": MeshFacts.effective_target_port(port), **verdict.to_json()}
