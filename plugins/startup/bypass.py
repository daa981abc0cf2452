"""Traffic that escapes the sidecar: init containers on the network before the proxy (MC206), and app
containers running as the proxy's UID (MC207).
"""

from __future__ import annotations

from kubectl_meshcheck import Applicability, Diagnostic, Fix, FixAvailability, PatchOp, Severity, Topic, rule

from .common import ISTIO_INIT_NAMES, _app_containers, _native_fix


@rule(code="MC206", name="init-container-network-outside-mesh", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="an init container uses the network in an injected pod: it bypasses the mesh or fails",
      targets={"Workload"}, reads={"Service"}, fix=FixAvailability.ALWAYS)
def init_container_network_outside_mesh(wl, ctx):
    """What it checks: a user init container in an injected pod with a classic sidecar that uses the
    network: its command runs a network client or a migration tool (curl, wget, nc, psql, flyway,
    vault, kubectl...), its image is one that dials out by itself (Vault agent, git-sync, the Cloud SQL
    proxy...), or its env, args or mounted ConfigMap files name an endpoint (``PGHOST``, a DSN, a JDBC
    URL, ``host:port``), in-cluster ones included: the same endpoint inventory the egress topic builds.
    Init containers running as UID 1337 on purpose are not flagged; nor are pods with
    ``interceptionMode: NONE``.

    What Istio does: init containers run before any regular container, so before a classic
    istio-proxy (hold does not help them). With ``istio-init`` the injector puts iptables setup
    last: user init containers run before it, and their traffic leaves the pod directly: no mTLS
    (STRICT peers reject it) and REGISTRY_ONLY does not apply. With Istio CNI the redirect is in place
    before any init container runs, so their traffic goes to port 15001 where nothing listens yet:
    it fails.

    Example: ``initContainers: [{name: migrate, command: [flyway, migrate]}]`` on a CNI install.

    Fixes: native sidecars (unsafe, see MC201: the proxy starts before later init containers);
    with CNI, ``securityContext.runAsUser: 1337`` for that init container (unsafe: its traffic then
    bypasses the sidecar for good, no mTLS); or the exclude annotations
    ``traffic.sidecar.istio.io/excludeOutboundIPRanges``/``excludeOutboundPorts`` (display-only:
    they need the destination, and also apply to the app).

    References:
    https://istio.io/latest/docs/setup/additional-setup/cni/#compatibility-with-application-init-containers ;
    istio/istio pkg/kube/inject/webhook.go (reorderPod).
    """
    inj = ctx.mesh.injection(wl)
    if not inj.injected or inj.native or not inj.iptables:
        return
    cni = inj.iptables == "istio-validation"
    for path, c in wl.containers(init=True):
        if c.get("name") in ISTIO_INIT_NAMES or c.get("restartPolicy") == "Always":
            continue
        if (c.get("securityContext") or {}).get("runAsUser") == 1337:
            continue
        evidence, named = _init_network(wl, c, ctx)
        if not evidence:
            continue
        fixes = [f for f in (_native_fix(wl, ctx, "the proxy starts before the remaining init containers"),) if f]
        if cni:
            sc = c.get("securityContext")
            ops = ([PatchOp("add", f"{path}/securityContext/runAsUser", 1337)] if isinstance(sc, dict)
                   else [PatchOp("add", f"{path}/securityContext", {"runAsUser": 1337})])
            fixes.append(Fix(f"Run init container {c.get('name')!r} as UID 1337, which iptables lets through",
                             Applicability.UNSAFE, wl.ref,
                             (PatchOp("test", f"{path}/name", c.get("name")), *ops),
                             ("its traffic bypasses the sidecar: no mTLS, STRICT peers reject it",
                              "the image must work as UID 1337 (file permissions)")))
        fixes.append(Fix("Exclude the init container's destinations from capture with "
                         "traffic.sidecar.istio.io/excludeOutboundIPRanges (CIDRs with /32, no spaces) or "
                         "excludeOutboundPorts", Applicability.DISPLAY_ONLY, wl.ref, (),
                         ("the exclusion also applies to the app containers",)))
        what = ("Istio CNI redirects its traffic to 15001, where nothing listens yet: its connections fail" if cni
                else "it runs before istio-init sets up iptables: its traffic leaves the pod outside the mesh "
                     "(no mTLS, STRICT peers reject it, REGISTRY_ONLY does not apply)")
        yield Diagnostic(
            path=path,
            message=f"init container {c.get('name')!r} {evidence}; {what}",
            args={"container": c.get("name"), "evidence": evidence, "iptables": inj.iptables,
                  "endpoints": [ep.display() for ep in named]},
            fixes=tuple(fixes),
        )


def _init_network(wl, c, ctx) -> tuple[str, list]:
    """(evidence, endpoints) that an init container uses the network: its command or image; the scripts
    it runs from mounted files; the endpoints its env and args name, and those of its mounted config
    unless it runs a script (which says what it does) or only moves files (a config copier)."""
    scripts = ctx.mesh.executed_files(wl, c)
    evidence = ctx.mesh.network_at_start(c) or next((f"runs {where}, which {found}" for where, text in scripts
                                            if (found := ctx.mesh.network_in_script(text))), "")
    named = [ep for ep in ctx.mesh.endpoints(wl, init=True) if ep.container == c.get("name")
             and not (ep.found_in.startswith("file ") and (scripts or ctx.mesh.only_moves_files(c)))]
    if not evidence and named:
        evidence = f"names {named[0].display()} ({named[0].app}, {named[0].found_in})"
    return evidence, named


def _uid(sc) -> object:
    return sc.get("runAsUser") if isinstance(sc, dict) else None


@rule(code="MC207", name="app-runs-as-proxy-uid", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="an app container runs as UID 1337, the proxy's, so its traffic bypasses the sidecar",
      targets={"Workload"}, fix=FixAvailability.ALWAYS, ist_codes=("IST0144",))
def app_runs_as_proxy_uid(wl, ctx):
    """What it checks: ``runAsUser: 1337`` in the pod's ``securityContext`` or in a regular app container's
    (not istio-proxy). Init containers are not checked: 1337 there is a documented workaround
    (MC206). Istio's gateways are skipped: a pod injected with the ``gateway`` template, or whose
    only container is the proxy (``istio-proxy``, the ``proxyv2`` image), *is* the proxy and runs as
    1337 by design (istio/gateway chart; istio.io "Installing Gateways").

    What Istio does: the proxy runs as UID 1337 and iptables lets traffic from UID 1337 leave
    without redirecting it, so an app running as 1337 bypasses the sidecar: no mTLS, no policy,
    no telemetry for its outbound traffic.

    Example: ``spec.securityContext.runAsUser: 1337`` on a Deployment's pod template.

    Fixes: run the app as another UID (display-only: the image's file ownership decides which).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0144/ ;
    https://istio.io/latest/docs/ops/deployment/application-requirements/ ;
    https://istio.io/latest/docs/setup/additional-setup/gateway/
    """
    if ctx.mesh.gateway_clue(wl.pod_meta, wl.pod_spec):
        return  # a gateway is the proxy: UID 1337 is its own, by design
    hits = []
    if _uid(wl.pod_spec.get("securityContext")) == 1337:
        hits.append((f"{wl.spec_path}/securityContext/runAsUser", "the pod"))
    for path, c in _app_containers(wl):
        if _uid(c.get("securityContext")) == 1337:
            hits.append((f"{path}/securityContext/runAsUser", f"container {c.get('name')!r}"))
    if hits:  # one finding per workload, as IST0144 (pod and container settings are one decision)
        who = " and ".join(w for _, w in hits)
        yield Diagnostic(
            path=hits[0][0],
            message=f"{who} run{'s' if len(hits) == 1 else ''} as UID 1337, the sidecar's own UID: iptables does not "
                    "redirect that traffic, so it bypasses the proxy (no mTLS, no policy)",
            args={"who": [w for _, w in hits], "paths": [p for p, _ in hits], "uid": 1337},
            fixes=(Fix(f"Run {who} as a UID other than 1337", Applicability.DISPLAY_ONLY, wl.ref),),
        )
