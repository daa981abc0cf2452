"""The app racing its sidecar at start: nothing holds it (MC202), hold ignored under native sidecars
(MC205), and entrypoints that poll the sidecar (MC208, MC219).
"""

from __future__ import annotations

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    MeshFacts,
    Severity,
    Topic,
    escape_pointer,
    istio,
    rule,
)

from .common import _app_containers, _assumed, _hold_fix, _native_fix, _where


@rule(code="MC202", name="app-starts-before-proxy", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="a container uses the network as it starts, but nothing holds it until the proxy is ready",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def app_starts_before_proxy(wl, ctx):
    """What it checks: an injected pod with a classic sidecar whose app container uses the network as it
    starts (its command runs a migration, curl/wget, a database client, a config fetch...) and where
    ``holdApplicationUntilProxyStarts`` is not in effect (not in the pod's ``proxy.istio.io/config``,
    the mesh config's ``defaultConfig`` or the install value). Containers that wait for the sidecar
    themselves (polling 15020/15021) are left to MC208.

    What Istio does: containers start in parallel with istio-proxy, and iptables already sends the
    app's traffic to Envoy, which has no configuration yet: early connections are refused or reset,
    so migrations fail and fail-fast clients crash-loop until the proxy is ready. With hold, the
    injector puts istio-proxy first and adds a ``pilot-agent wait`` postStart hook, and the kubelet
    starts the app only after Envoy is ready.

    Example: ``command: [sh, -c, "flyway migrate && exec java -jar app.jar"]`` in a meshed Deployment.

    Fixes: the pod-template annotation ``proxy.istio.io/config: '{"holdApplicationUntilProxyStarts":
    true}'`` (safe: it only delays the app's start; other ProxyConfig keys in the annotation are kept);
    or native sidecars (``sidecar.istio.io/nativeSidecar: "true"``, unsafe, see MC201).

    References: https://istio.io/latest/docs/ops/common-problems/injection/ ;
    https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/#ProxyConfig ;
    istio/istio pkg/kube/inject/webhook.go (reorderPod).
    """
    inj = ctx.mesh.injection(wl)
    if not inj.injected or inj.native or inj.hold.in_effect:
        return
    needy = [(p, c, ctx.mesh.network_at_start(c)) for p, c in _app_containers(wl) if not ctx.mesh.waits_for_sidecar(c)]
    needy = [(p, c, e) for p, c, e in needy if e]
    if not needy:
        return
    path, c, evidence = needy[0]
    why = ""
    if inj.hold.requested and inj.hold.ignored:  # asked for, but the install's lifecycle override drops the hook
        why = f" (the hold asked for by {inj.hold.source} is ignored: {inj.hold.ignored})"
        fixes = [f for f in (_native_fix(wl, ctx, "the app starts after the proxy is ready"),) if f]
        fixes.append(Fix("Add postStart exec [pilot-agent, wait] to values.global.proxy.lifecycle, or remove the "
                         "override, in the install (then restart the pods)", Applicability.DISPLAY_ONLY, wl.ref))
    else:
        fixes = [f for f in (_hold_fix(wl, f"Hold the app until the proxy is ready ({istio.PROXY_CONFIG_ANNOTATION}: "
                                           f"{istio.HOLD_KEY}: true on the pod template)"),
                             _native_fix(wl, ctx, "the app starts after the proxy is ready")) if f]
    if not fixes:
        fixes = [Fix(f"Set {istio.HOLD_KEY}: true mesh-wide (meshConfig.defaultConfig) or fix the pod's "
                     f"{istio.PROXY_CONFIG_ANNOTATION} annotation first (MC204)", Applicability.DISPLAY_ONLY, wl.ref)]
    yield Diagnostic(
        path=path,
        message=(f"container {c.get('name')!r} {evidence}, but istio-proxy is the {_where(inj)}{_assumed(inj)} "
                 f"and nothing holds the app until it is ready{why}: early connections fail"),
        args={"container": c.get("name"), "evidence": evidence, "containers": [x.get("name") for _, x, _ in needy],
              "placement": inj.placement, "hold": inj.hold.in_effect},
        fixes=tuple(fixes),
    )


@rule(code="MC205", name="hold-ignored-with-native-sidecar", topic=Topic.STARTUP, severity=Severity.INFO,
      summary="hold is asked for, but native sidecars are in effect: it is ignored, and that is fine",
      targets={"Workload"}, fix=FixAvailability.NEVER)
def hold_ignored_with_native_sidecar(wl, ctx):
    """What it checks: a pod template whose ``proxy.istio.io/config`` asks for
    ``holdApplicationUntilProxyStarts: true`` while its sidecar will be native.

    What Istio does: with native sidecars the injector does not add the postStart hook nor move the
    proxy (the template's ``$holdProxy`` requires ``not $nativeSidecar``); the sidecar's startupProbe
    already makes later init containers and the app wait until the proxy is ready. Nothing is wrong:
    this says why the hook you expected is absent, and that the setting can go once every cluster
    runs native sidecars.

    Example: ``proxy.istio.io/config: '{"holdApplicationUntilProxyStarts": true}'`` with Istio 1.27+
    on nodes with kubelet >= 1.33.

    Fixes: none needed.

    References: https://istio.io/latest/blog/2023/native-sidecars/ ;
    istio/istio manifests/charts/istio-control/istio-discovery/files/injection-template.yaml.
    """
    inj = ctx.mesh.injection(wl)
    if inj.predicted and inj.native and inj.hold.requested and inj.proxy_config.hold:
        yield Diagnostic(
            path=f"{wl.template_path}/metadata/annotations/{escape_pointer(istio.PROXY_CONFIG_ANNOTATION)}",
            message=(f"{istio.HOLD_KEY} is set, but the sidecar is native ({inj.native_reason}): the hold is "
                     "ignored and not "
                     "needed, since the native sidecar starts and is ready before the app"),
            args={"nativeReason": inj.native_reason},
        )


def _wait_loops(wl):
    """(path, container, is init) for each container whose entrypoint polls the sidecar's readiness."""
    loops = [(p, c, False) for p, c in _app_containers(wl) if MeshFacts.waits_for_sidecar(c)]
    return loops + [(p, c, True) for p, c in wl.containers(init=True)
                    if MeshFacts.waits_for_sidecar(c) and c.get("restartPolicy") != "Always"]


def _wait_loop_finding(wl, path, c, init: bool, inj, why: str) -> Diagnostic:
    return Diagnostic(
        path=path,
        message=f"container {c.get('name')!r} waits for the sidecar on localhost:15020/15021; {why}",
        args={"container": c.get("name"), "placement": inj.placement, "init": init},
        fixes=(Fix(f"Remove the sidecar wait loop from {c.get('name')!r}'s command", Applicability.DISPLAY_ONLY,
                   wl.ref),),
    )


@rule(code="MC208", name="sidecar-wait-loop", topic=Topic.STARTUP, severity=Severity.ERROR,
      summary="an entrypoint polls the sidecar (15020/15021) where nothing will ever answer: the pod never starts",
      targets={"Workload"}, fix=FixAvailability.ALWAYS, sidecar_only=False)
def sidecar_wait_loop(wl, ctx):
    """What it checks: a container whose command polls the sidecar's readiness on localhost
    (``until curl -fsI http://localhost:15021/healthz/ready; do sleep 1; done``, or 15020) in a pod
    where nothing will answer: ambient or out of the mesh, or an init container beside a classic
    sidecar (which starts only after the init containers). A ``POST .../quitquitquit`` at the end of
    a job is no wait (one failed call when there is no sidecar). Loops made obsolete by native
    sidecars or hold are MC219's.

    What Istio does: 15021 (Envoy) and 15020 (pilot-agent) answer only inside a pod with a sidecar.
    In ambient mode ztunnel's readiness port is on the ztunnel pod, not in yours, so the loop never
    ends and the pod never starts.

    Example: a Deployment moved to an ``istio.io/dataplane-mode=ambient`` namespace whose
    entrypoint still waits for 15021.

    Fixes: remove the loop from the command (display-only: the command is yours); in sidecar mode,
    rely on ``holdApplicationUntilProxyStarts`` or native sidecars instead.

    References: https://istio.io/latest/docs/ambient/architecture/traffic-redirection/ ;
    https://istio.io/latest/docs/ops/deployment/application-requirements/#ports-used-by-istio ;
    reference/istio-facts.md §B4, §B5
    """
    loops = _wait_loops(wl)
    if not loops:
        return
    inj = ctx.mesh.injection(wl)
    for path, c, init in loops:
        if inj.placement in ("ambient", "none"):
            yield _wait_loop_finding(wl, path, c, init, inj, (
                f"the pod has no sidecar ({inj.native_reason}): nothing answers on 15020/15021, so the loop never "
                "ends and the container never starts"))
        elif init and not inj.native:
            yield _wait_loop_finding(wl, path, c, init, inj, (
                "it is an init container and the classic sidecar starts only after every init container has "
                "finished: the loop never ends and the pod never starts"))


@rule(code="MC219", name="sidecar-wait-loop-obsolete", topic=Topic.STARTUP, severity=Severity.INFO,
      summary="an entrypoint polls the sidecar although native sidecars or hold already start the app after it",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def sidecar_wait_loop_obsolete(wl, ctx):
    """What it checks: a sidecar wait loop (as MC208 finds them) in a pod where a native sidecar or
    ``holdApplicationUntilProxyStarts`` is in effect.

    What Istio does: with hold or a native sidecar the kubelet already starts the app after the
    proxy is ready, so the loop passes at once: harmless, but one more thing to keep and to break
    when the pod moves to ambient (MC208).

    Example: ``while ! wget -q -O- http://127.0.0.1:15020/healthz/ready; do sleep 1; done; exec app``
    with ``sidecar.istio.io/nativeSidecar: "true"``.

    Fixes: remove the loop from the command (display-only: the command is yours).

    References: https://istio.io/latest/blog/2023/native-sidecars/ ; reference/istio-facts.md §B5
    """
    loops = _wait_loops(wl)
    if not loops:
        return
    inj = ctx.mesh.injection(wl)
    if inj.placement in ("ambient", "none") or not (inj.native or inj.hold.in_effect):
        return
    for path, c, init in loops:
        if init and not inj.native:
            continue  # MC208's: it never ends
        yield _wait_loop_finding(wl, path, c, init, inj, (
            "obsolete: " + ("the native sidecar" if inj.native else f"hold ({inj.hold.source})")
            + " already starts the app after the proxy is ready"))
