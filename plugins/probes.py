"""Bundled plugin ``probes`` (MC4xx): health checks that Istio's probe rewriting breaks, bypasses or
turns into no-ops.

What the kubelet will run after injection, and the original each rewritten probe stands for, comes from
``ctx.mesh.probes`` (facts in ``kubectl_meshcheck.mesh.probes``); the inbound mTLS mode from ``ctx.mesh.mtls``
(``kubectl_meshcheck.mesh.mtls``). These rules judge the result and rank the fixes: turn rewriting back
on first (the agent then probes the app for the kubelet), then the narrower workaround of taking the
probe port out of inbound capture, then what needs a human.
"""

from __future__ import annotations

import sys
import ipaddress

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    MeshFacts,
    PatchOp,
    Severity,
    Topic,
    escape_pointer,
    hookimpl,
    istio,
    pin_pod_template,
    pod_metadata_ops,
    rule,
)

NETWORK_HANDLERS = ("httpGet", "tcpSocket", "grpc")
PROBE_KINDS = ("readinessProbe", "livenessProbe", "startupProbe")
ROLLOUT = "takes effect when the pods are next created (a rollout)"


# -- shared helpers ----------------------------------------------------------------------------


def _annotation_path(wl, key: str) -> str:
    return f"{wl.template_path}/metadata/annotations/{escape_pointer(key)}"


def _rewrite_fix(wl, ctx, pp) -> Fix | None:
    """Turn rewriting back on for this pod template (the agent then probes the app for the kubelet)."""
    if not ctx.mesh.settings.at_least((1, 6)) and istio.REWRITE_ANNOTATION not in wl.pod_annotations:
        return None
    explicit = istio.REWRITE_ANNOTATION in wl.pod_annotations
    caveats = (ROLLOUT,) + ((f"{istio.REWRITE_ANNOTATION} was set to {wl.pod_annotations[istio.REWRITE_ANNOTATION]!r} "
                             "explicitly: make sure that was not on purpose",) if explicit else ())
    return Fix(f'Let Istio rewrite the probes: {istio.REWRITE_ANNOTATION}: "true" on the pod template',
               Applicability.UNSAFE if explicit else Applicability.SAFE, wl.ref,
               tuple(pin_pod_template(wl) + pod_metadata_ops(wl, "annotations", istio.REWRITE_ANNOTATION, "true")),
               caveats)


def _exclude_fix(wl, ports: list[int]) -> Fix:
    current = str(wl.pod_annotations.get(istio.EXCLUDE_INBOUND_ANNOTATION) or "")
    listed = [p.strip() for p in current.split(",") if p.strip()]
    value = ",".join(dict.fromkeys([*listed, *(str(p) for p in ports)]))
    return Fix(f"Take port(s) {', '.join(map(str, ports))} out of inbound capture ({istio.EXCLUDE_INBOUND_ANNOTATION})",
               Applicability.UNSAFE, wl.ref,
               tuple(pin_pod_template(wl)
                     + pod_metadata_ops(wl, "annotations", istio.EXCLUDE_INBOUND_ANNOTATION, value)),
               ("anything reaching those ports bypasses the sidecar: no mTLS, no AuthorizationPolicy, plaintext "
                "from any client", ROLLOUT))


def _where(p) -> str:
    return f"{p.kind} of container {p.container!r}"


def _captured_unrewritten(wl, pp, handlers) -> list:
    """Probes the kubelet sends straight to a captured app port (not rewritten)."""
    out = []
    for p in pp.probes:
        if p.rewritten or p.handler not in handlers or p.kind not in PROBE_KINDS or p.port is None:
            continue
        if p.port in istio.ISTIO_PORTS or not MeshFacts.inbound_captured(wl.pod_annotations, p.port):
            continue
        out.append(p)
    return out


# -- rules -------------------------------------------------------------------------------------


@rule(code="MC401", name="probe-rewrite-off-strict-mtls", topic=Topic.PROBES, severity=Severity.ERROR,
      summary="probe rewriting is off while inbound mTLS is STRICT: HTTP and gRPC probes are rejected",
      targets={"Workload"}, reads={"PeerAuthentication"}, fix=FixAvailability.ALWAYS)
def probe_rewrite_off_strict_mtls(wl, ctx):
    """What it checks: an injected pod whose probes are not rewritten (pod annotation
    ``sidecar.istio.io/rewriteAppHTTPProbers: "false"``, or the install value
    ``sidecarInjectorWebhook.rewriteAppHTTPProbe: false``) and whose httpGet or gRPC probe goes to a port
    where the effective inbound mTLS mode is STRICT. The mode is resolved from the mesh-wide (root
    namespace), namespace-wide, workload-selector and port-level PeerAuthentications.

    What Istio does: the kubelet has no mesh certificate. Its plaintext probe reaches the sidecar (the
    port is captured), which requires mTLS and rejects it: readiness never passes and liveness restarts
    the container. With rewriting on, the kubelet calls pilot-agent on 15020 (not captured), and the
    agent probes the app from inside the pod.

    Example: a Deployment annotated ``sidecar.istio.io/rewriteAppHTTPProbers: "false"`` with
    ``readinessProbe.httpGet`` on 8080, in a mesh with ``PeerAuthentication istio-system/default``
    ``mtls.mode: STRICT``.

    Fixes: ``sidecar.istio.io/rewriteAppHTTPProbers: "true"`` on the pod template (safe; unsafe when it
    was explicitly "false", someone may have had a reason); take the probe ports out of inbound capture
    with ``traffic.sidecar.istio.io/excludeInboundPorts`` (unsafe: those ports then bypass mTLS and
    policy); a workload PeerAuthentication with ``portLevelMtls`` PERMISSIVE on the probe port
    (display-only: a new object), or exec probes.

    References: https://istio.io/latest/docs/ops/configuration/mesh/app-health-check/ ;
    https://istio.io/latest/docs/reference/config/security/peer_authentication/ ;
    istio/istio pkg/kube/inject/app_probe.go (ShouldRewriteAppHTTPProbers).
    """
    pp = ctx.mesh.probes(wl)
    if not pp.injected:
        return
    failing = []
    for p in _captured_unrewritten(wl, pp, ("httpGet", "grpc")):
        mode = ctx.mesh.mtls(wl, p.port)
        if mode.mode == "STRICT":
            failing.append((p, mode))
    if not failing:
        return
    ports = sorted({p.port for p, _ in failing})
    fixes = [f for f in (_rewrite_fix(wl, ctx, pp) if not pp.rewrite else None, _exclude_fix(wl, ports)) if f]
    fixes.append(Fix(f"Add a workload PeerAuthentication with portLevelMtls PERMISSIVE on port(s) "
                     f"{', '.join(map(str, ports))}, or use exec probes", Applicability.DISPLAY_ONLY, wl.ref))
    path = (_annotation_path(wl, istio.REWRITE_ANNOTATION) if istio.REWRITE_ANNOTATION in wl.pod_annotations
            else failing[0][0].path)
    first, mode = failing[0]
    related = tuple(dict.fromkeys(m.policy for _, m in failing if m.policy))
    off = f"probe rewriting is off ({pp.rewrite_reason})" if not pp.rewrite else f"not rewritten ({first.why})"
    yield Diagnostic(
        path=path,
        message=(f"{off} while {mode.source} makes inbound mTLS "
                 f"STRICT: the kubelet's plaintext {_where(first)} to port {first.port}"
                 + (f" and {len(failing) - 1} more" if len(failing) > 1 else "")
                 + " is rejected by the sidecar, so the pod never becomes Ready or is restarted"),
        args={"rewrite": pp.rewrite, "reason": pp.rewrite_reason if not pp.rewrite else first.why, "ports": ports,
              "probes": [{"container": p.container, "kind": p.kind, "handler": p.handler, "port": p.port,
                          "mtls": m.mode, "source": m.source} for p, m in failing]},
        related=related,
        fixes=tuple(fixes),
    )


@rule(code="MC402", name="tcp-probe-always-passes", topic=Topic.PROBES, severity=Severity.WARNING,
      summary="a tcpSocket probe is not rewritten, so the sidecar accepts it and it always passes",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def tcp_probe_always_passes(wl, ctx):
    """What it checks: an injected pod with a tcpSocket readiness, liveness or startup probe that is not
    rewritten (rewriting off for the pod or the install, or Istio before 1.12) on a port the sidecar
    captures.

    What Istio does: iptables sends the kubelet's connection to Envoy, which accepts it whatever the app
    does: the probe passes while istio-proxy runs, even when the app is down or not listening. Rewritten
    (since 1.12), the probe becomes an httpGet to pilot-agent, which dials the app's port itself.

    Example: ``livenessProbe.tcpSocket.port: 6379`` on a Redis Deployment annotated
    ``sidecar.istio.io/rewriteAppHTTPProbers: "false"``.

    Fixes: ``sidecar.istio.io/rewriteAppHTTPProbers: "true"`` (safe; unsafe when explicitly "false");
    take the port out of inbound capture (unsafe: it bypasses mTLS); an exec or httpGet probe that
    checks the app (display-only).

    References: https://istio.io/latest/docs/ops/configuration/mesh/app-health-check/ ;
    istio/istio pkg/kube/inject/app_probe.go (convertAppProberTCPSocket).
    """
    pp = ctx.mesh.probes(wl)
    if not pp.injected:
        return
    hits = _captured_unrewritten(wl, pp, ("tcpSocket",))
    if not hits:
        return
    ports = sorted({p.port for p in hits})
    fixes = []
    if not pp.rewrite and ctx.mesh.settings.at_least((1, 12)):
        fixes.append(_rewrite_fix(wl, ctx, pp))
    fixes.append(_exclude_fix(wl, ports))
    fixes.append(Fix("Check the app itself: an exec probe, or an httpGet health endpoint", Applicability.DISPLAY_ONLY,
                     wl.ref))
    first = hits[0]
    why = pp.rewrite_reason if not pp.rewrite else first.why
    yield Diagnostic(
        path=first.path,
        message=(f"the tcpSocket {_where(first)} on port {first.port} is not rewritten ({why}): the sidecar "
                 "accepts the connection, so it passes while istio-proxy runs, whatever the app does"
                 + (f" ({len(hits) - 1} more such probe(s))" if len(hits) > 1 else "")),
        args={"ports": ports, "reason": why,
              "probes": [{"container": p.container, "kind": p.kind, "port": p.port} for p in hits]},
        fixes=tuple(f for f in fixes if f),
    )


@rule(code="MC403", name="https-probe-downgraded", topic=Topic.PROBES, severity=Severity.INFO,
      summary="a scheme HTTPS probe is rewritten: kubelet calls the agent over HTTP, the agent calls HTTPS",
      targets={"Workload"}, fix=FixAvailability.NEVER)
def https_probe_downgraded(wl, ctx):
    """What it checks: an httpGet probe or hook with ``scheme: HTTPS`` that the injector rewrites.

    What Istio does: the rewritten probe says ``scheme: HTTP`` (kubelet -> pilot-agent on 15020 is
    plain HTTP); the agent then calls the app over HTTPS without verifying its certificate, as the
    kubelet does. Logs and ``kubectl describe`` show an HTTP probe on 15020; the app's TLS listener is
    still what is checked. Nothing to fix: this explains what you see.

    Example: ``readinessProbe.httpGet: {port: 8443, scheme: HTTPS}`` in a meshed Deployment (the
    injector golden ``https-probes.yaml``).

    Fixes: none needed. To check the certificate too, use an exec probe (``curl --cacert ...``).

    References: istio/istio pkg/kube/inject/app_probe.go (rewriteHTTPGetAction);
    pilot/cmd/pilot-agent/status/server.go (handleAppProbeHTTPGet).
    """
    pp = ctx.mesh.probes(wl)
    for p in pp.probes:
        if p.rewritten and p.handler == "httpGet" and (p.original.get("httpGet") or {}).get("scheme") == "HTTPS":
            yield Diagnostic(
                path=f"{p.path}/httpGet/scheme",
                message=(f"the HTTPS {_where(p)} becomes kubelet -> HTTP :{p.kubelet_port}{p.url} -> agent -> "
                         f"HTTPS :{p.port} (certificate not verified)"),
                args={"container": p.container, "kind": p.kind, "url": p.url, "port": p.port},
            )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@rule(code="MC404", name="probe-host-set", topic=Topic.PROBES, severity=Severity.WARNING,
      summary="a rewritten httpGet probe keeps its host, so the kubelet calls 15020 on another host",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def probe_host_set(wl, ctx):
    """What it checks: an httpGet probe with ``host`` set that the injector rewrites.

    What Istio does: the injector only replaces the port (15020) and the path (``/app-health/...``);
    ``host`` stays, so the kubelet calls ``<host>:15020`` instead of this pod's agent, while the agent
    would probe its own pod anyway. Source-derived (istio-facts.md §D); the live outcome is
    UNCONFIRMED, so this is a warning.

    Example: ``livenessProbe.httpGet: {host: api.internal, port: 8080, path: /healthz}``.

    Fixes: a hostname moves to an ``httpHeaders`` ``Host`` entry, which the agent forwards (unsafe: the
    probe then reaches this pod, not that host); or remove ``host`` (unsafe, same reason).

    References: istio/istio pkg/kube/inject/app_probe.go (rewriteHTTPGetAction);
    pilot/cmd/pilot-agent/status/server.go (handleAppProbeHTTPGet).
    """
    pp = ctx.mesh.probes(wl)
    for p in pp.probes:
        action = p.original.get("httpGet") if p.handler == "httpGet" else None
        if not p.rewritten or not isinstance(action, dict) or not action.get("host"):
            continue
        host = str(action["host"])
        base = f"{p.path}/httpGet"
        remove = Fix(f"Remove httpGet.host from the {p.kind} (the agent probes this pod)", Applicability.UNSAFE,
                     wl.ref, (PatchOp("test", f"{base}/host", host), PatchOp("remove", f"{base}/host")),
                     (f"the probe no longer goes to {host}",))
        fixes = [remove]
        if not _is_ip(host):
            headers = action.get("httpHeaders")
            header = {"name": "Host", "value": host}
            ops = [PatchOp("test", f"{base}/host", host), PatchOp("remove", f"{base}/host")]
            if isinstance(headers, list):
                if any(isinstance(h, dict) and str(h.get("name", "")).lower() == "host" for h in headers):
                    ops = []
                else:
                    ops += [PatchOp("test", f"{base}/httpHeaders", headers), PatchOp("add", f"{base}/httpHeaders/-",
                                                                                       header)]
            else:
                ops.append(PatchOp("add", f"{base}/httpHeaders", [header]))
            if ops:
                fixes.insert(0, Fix(f"Send {host} as the Host header instead (httpHeaders), which the agent forwards",
                                    Applicability.UNSAFE, wl.ref, tuple(ops),
                                    (f"the probe checks this pod with Host: {host}, not the host {host}",)))
        yield Diagnostic(
            path=f"{base}/host",
            message=(f"the {_where(p)} sets host {host!r}; rewriting keeps it, so the kubelet calls "
                     f"{host}:{p.kubelet_port}{p.url} instead of this pod's agent"),
            args={"container": p.container, "kind": p.kind, "host": host, "url": p.url},
            fixes=tuple(fixes),
        )


@rule(code="MC405", name="probe-path-no-leading-slash", topic=Topic.PROBES, severity=Severity.INFO,
      summary="an httpGet probe path lacks its leading '/'; it works only because the prober adds one",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def probe_path_no_leading_slash(wl, ctx):
    """What it checks: an httpGet probe or hook whose ``path`` does not start with ``/``.

    What Istio does: rewritten, the original path goes into ``ISTIO_KUBE_APP_PROBERS`` as written, and
    pilot-agent prepends the missing ``/`` before calling the app (``handleAppProbeHTTPGet``), so it
    works; the value you read in the env var and the request the app logs differ. Not rewritten, the
    kubelet builds the URL itself (UNCONFIRMED here whether every kubelet version adds the slash).

    Example: ``readinessProbe.httpGet: {path: healthz, port: 8080}``.

    Fixes: write the path with its leading slash (safe: the request is the same).

    References: istio/istio pilot/cmd/pilot-agent/status/server.go (handleAppProbeHTTPGet).
    """
    pp = ctx.mesh.probes(wl)
    for p in pp.probes:
        action = p.original.get("httpGet") if p.handler == "httpGet" else None
        path = action.get("path") if isinstance(action, dict) else None
        if not isinstance(path, str) or not path or path.startswith("/"):
            continue
        if p.rewritten and not pp.predicted:
            continue  # read from an injected pod: the template's probe is the rewritten one, nothing to patch
        ptr = f"{p.path}/httpGet/path"
        yield Diagnostic(
            path=ptr,
            message=(f"the {_where(p)} has path {path!r} without a leading '/'"
                     + ("; the agent adds it when it probes the app" if p.rewritten else "")),
            args={"container": p.container, "kind": p.kind, "path": path, "rewritten": p.rewritten},
            fixes=(Fix(f"Write the path as '/{path}'", Applicability.SAFE, wl.ref,
                       (PatchOp("test", ptr, path), PatchOp("replace", ptr, "/" + path))),),
        )


@rule(code="MC406", name="probe-port-not-declared", topic=Topic.PROBES, severity=Severity.ERROR,
      summary="a probe names a port the container does not declare: rewritten, the agent answers 400",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def probe_port_not_declared(wl, ctx):
    """What it checks: a probe or hook whose port is a name that the same container's ``ports[].name``
    does not declare (a name on another container does not count).

    What Istio does: the injector resolves named probe ports against the same container at injection
    time. An unknown name is still rewritten to ``/app-health/...`` on 15020 but left out of
    ``ISTIO_KUBE_APP_PROBERS``, so pilot-agent answers 400 "app prober config does not exists" and the
    probe always fails. Not rewritten, the kubelet cannot resolve the name either.

    Example: ``livenessProbe.httpGet.port: http`` on a container whose only port is named ``web``.

    Fixes: when the container declares one unnamed port, name it after the probe (safe: nothing refers to
    an unnamed port by name); when it declares one port, use its number in the probe (unsafe: check the
    app serves health there); otherwise declare the port (display-only).

    References: istio-facts.md §D; istio/istio pkg/kube/inject/app_probe.go (DumpAppProbers);
    pilot/cmd/pilot-agent/status/server.go (handleAppProbe).
    """
    pp = ctx.mesh.probes(wl)
    containers = {c.get("name"): (ptr, c) for key in (False, True) for ptr, c in wl.containers(init=key)}
    for p in pp.probes:
        written = (p.original.get(p.handler) or {}).get("port") if p.handler in NETWORK_HANDLERS else None
        if not isinstance(written, str) or not p.port_error or p.handler == "grpc":
            continue
        ptr, c = containers.get(p.container, (None, {}))
        ports = [x for x in c.get("ports") or [] if isinstance(x, dict)]
        fixes = []
        port_ptr = f"{p.path}/{p.handler}/port"
        if ptr and len(ports) == 1 and not ports[0].get("name") and isinstance(ports[0].get("containerPort"), int):
            fixes.append(Fix(f"Name the container's port {ports[0]['containerPort']} {written!r}", Applicability.SAFE,
                             wl.ref, (PatchOp("test", f"{ptr}/ports/0", ports[0]),
                                      PatchOp("add", f"{ptr}/ports/0/name", written))))
        if len(ports) == 1 and isinstance(ports[0].get("containerPort"), int):
            number = ports[0]["containerPort"]
            fixes.append(Fix(f"Probe port {number} (the container's only port) instead of {written!r}",
                             Applicability.UNSAFE, wl.ref, (PatchOp("test", port_ptr, written),
                                                            PatchOp("replace", port_ptr, number)),
                             (f"check that the app serves its health endpoint on {number}",)))
        fixes.append(Fix(f"Declare a port named {written!r} on container {p.container!r}", Applicability.DISPLAY_ONLY,
                         wl.ref))
        outcome = (f"it is rewritten to {p.url} on {p.kubelet_port} but left out of {istio.PROBERS_ENV}, so the agent "
                   "answers 400 and the probe always fails") if p.rewritten else \
            "the kubelet cannot resolve it, so the probe fails"
        yield Diagnostic(
            path=port_ptr,
            message=f"the {_where(p)} uses port {written!r}, which the container does not declare: {outcome}",
            args={"container": p.container, "kind": p.kind, "port": written, "rewritten": p.rewritten},
            fixes=tuple(fixes),
        )


@rule(code="MC407", name="probe-targets-istio-port", topic=Topic.PROBES, severity=Severity.WARNING,
      summary="an app container's probe points at an Istio port (15020, 15021...): it checks Istio, not the app",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def probe_targets_istio_port(wl, ctx):
    """What it checks: a probe or hook of an application container (not istio-proxy) on one of the
    sidecar's own ports (Istio's reserved ports, 15000-15008, 15020, 15021, 15053, 15090), written by
    hand; rewritten probes of an injected pod are judged by their original.

    What Istio does: those ports belong to Envoy and pilot-agent (15021 ``/healthz/ready`` is the
    sidecar's readiness, 15020 the agent). A probe there reports the sidecar's health, so a dead app
    stays Ready; a copied ``/app-health/...`` path on 15020 in a template is rewritten again and
    points the agent at itself.

    Example: ``readinessProbe.httpGet: {path: /healthz/ready, port: 15021}`` copied from istio-proxy
    into the app container.

    Fixes: when the container declares one port of its own, probe it (unsafe: check the path serves
    the app's health); otherwise point the probe at the app's health endpoint (display-only).

    References: https://istio.io/latest/docs/ops/deployment/application-requirements/ (ports used by
    Istio); istio-facts.md §A7, §D.
    """
    pp = ctx.mesh.probes(wl)
    containers = {c.get("name"): c for key in (False, True) for _, c in wl.containers(init=key)}
    for p in pp.probes:
        if p.port not in istio.ISTIO_PORTS or p.handler not in NETWORK_HANDLERS or p.container == istio.PROXY_CONTAINER:
            continue
        if not pp.predicted and p.rewritten:
            written_ptr = None  # the template holds the rewritten probe; the original is in the env var
        else:
            written_ptr = f"{p.path}/{p.handler}/port"
        own = [x for x in (containers.get(p.container) or {}).get("ports") or []
               if isinstance(x, dict) and isinstance(x.get("containerPort"), int)
               and x["containerPort"] not in istio.ISTIO_PORTS]
        fixes = []
        written = (p.original.get(p.handler) or {}).get("port")
        if written_ptr and len(own) == 1 and p.handler != "grpc":
            number = own[0]["containerPort"]
            fixes.append(Fix(f"Probe the app's own port {number} instead of {p.port}", Applicability.UNSAFE, wl.ref,
                             (PatchOp("test", written_ptr, written), PatchOp("replace", written_ptr, number)),
                             (f"check that the app serves its health endpoint on {number} (the path is kept)",)))
        fixes.append(Fix("Point the probe at the app's own health endpoint", Applicability.DISPLAY_ONLY, wl.ref))
        yield Diagnostic(
            path=written_ptr or p.path,
            message=(f"the {_where(p)} targets port {p.port}, which is Istio's own: it reports the sidecar's "
                     "health, not the app's"),
            args={"container": p.container, "kind": p.kind, "port": p.port},
            fixes=tuple(fixes),
        )


@rule(code="MC408", name="app-probe-failing-observed", topic=Topic.PROBES, severity=Severity.WARNING,
      summary="observed: a pod's app container is not Ready or restarts while istio-proxy is ready",
      targets={"Workload"}, reads={"Pod"}, fix=FixAvailability.ALWAYS)
def app_probe_failing_observed(wl, ctx):
    """What it checks: live pods of the workload where an app container that has readiness, liveness or
    startup probes is running but not Ready, or has restarted, while istio-proxy is Ready. Evidence from
    the cluster, so the finding says "observed" and names the pod; manifests give none.

    What Istio does: a ready istio-proxy means the sidecar is not the failing part; the app's own
    probes are. After rewriting, the kubelet calls pilot-agent (``/app-health/<container>/...`` on
    15020), which probes the app from inside the pod: a failure there is the app's (or a probe the
    rewriting broke: see MC401-MC407 on the same workload).

    Example: ``payments-7d9c-x2`` with container ``payments`` not Ready, 4 restarts, istio-proxy Ready.

    Fixes: look at the agent's prober log and the pod's events (display-only).

    References: https://istio.io/latest/docs/ops/configuration/mesh/app-health-check/ ;
    https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
    """
    pp = ctx.mesh.probes(wl)
    probed = {p.container for p in pp.probes if p.kind in PROBE_KINDS and p.handler}
    for pod in ctx.observed_pods(wl):
        proxy = pod.state_of(istio.PROXY_CONTAINER)
        if not pod.injected or proxy is None or not proxy.ready:
            continue
        bad = [c for c in pod.app_containers if c.name in probed and c.state == "running"
               and (not c.ready or c.restarts > 0)]
        if not bad:
            continue
        c = bad[0]
        calls = [f"{p.kind} -> {p.url} on {p.kubelet_port}" if p.rewritten else f"{p.kind} -> {p.handler} "
                 f"{p.port}" for p in pp.probes if p.container == c.name and p.kind in PROBE_KINDS]
        ns = pod.ref.namespace or wl.namespace
        yield Diagnostic(
            path=f"{wl.spec_path}/containers",
            message=(f"observed on pod {pod.ref.name}: container {c.name!r} is "
                     + ("not Ready" if not c.ready else "Ready") + f" with {c.restarts} restart(s)"
                     + (f" (last: {c.last_reason})" if c.last_reason else "")
                     + f" while istio-proxy is Ready; its probes after injection: {'; '.join(calls)}"),
            args={"pod": pod.ref.name, "container": c.name, "ready": c.ready, "restarts": c.restarts,
                  "containers": [x.name for x in bad]},
            fixes=(Fix(f"kubectl -n {ns} logs {pod.ref.name} -c istio-proxy | grep -i prob ; "
                       f"kubectl -n {ns} describe pod {pod.ref.name}", Applicability.DISPLAY_ONLY, wl.ref),),
        )



@hookimpl
def meshcheck_register_rules(register):
    register(sys.modules[__name__])  # every rule defined here
