"""Bundled plugin ``capture`` (MC5xx): privileges people hand out so that tcpdump works in the mesh, and the
capture tools they leave behind.

``kubectl exec -c istio-proxy -- tcpdump`` fails by design: istio-proxy runs as UID 1337 with every
capability dropped, no privilege escalation and a read-only root filesystem, and distroless proxies have no
tcpdump at all. The usual workarounds (a privileged proxy for the whole mesh, a privileged ``istio-proxy``
override in one pod spec, the ``IPTABLES_TRACE_LOGGING`` debug knob, a tcpdump sidecar) stay long after the
capture. These rules find them and point at the safer way: an ephemeral ``kubectl debug`` container, whose
exact command ``kubectl meshcheck capture`` prints per workload. Facts in ``kubectl_meshcheck.mesh.privileges``
and ``kubectl_meshcheck.mesh.capture``.
"""

from __future__ import annotations

import sys
import json

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    MeshMode,
    PatchOp,
    Severity,
    Topic,
    escape_pointer,
    hookimpl,
    istio,
    redact_args,
    rule,
)

ROLLOUT = "takes effect when the pods are next created (a rollout)"
INSTEAD = ("capture with an ephemeral debug container instead: kubectl debug -n <ns> <pod> -it "
           "--image=nicolaka/netshoot --profile=netadmin -- tcpdump -i any -nn port <port> "
           "(kubectl meshcheck capture pod/<name> prints the plan for one pod, checked against what you may do)")
CONSEQUENCE = ("a privileged container can do anything root on the node can: whoever can exec into it, or "
               "exploits Envoy, owns the node; PodSecurity baseline and restricted reject such pods")
NET_CONSEQUENCE = ("whoever can exec into it, or exploits Envoy, can read and rewrite the pod's traffic and iptables "
                   "(including the plaintext on lo); PodSecurity baseline and restricted reject such pods")


def _in_mesh(wl, ctx) -> bool:
    return ctx.mesh.mode(wl).mode is not MeshMode.NONE


def _istiod_revision(wl) -> str | None:
    """``default`` for Deployment istiod, ``<rev>`` for istiod-<rev>; None for anything else."""
    if wl.obj.kind != "Deployment" or not any(c.get("name") == "discovery" for _, c in wl.containers()):
        return None
    if wl.obj.name == "istiod":
        return "default"
    return wl.obj.name.removeprefix("istiod-") if wl.obj.name.startswith("istiod-") else None


@rule(code="MC501", name="proxy-privileged-mesh-wide", topic=Topic.CAPTURE, severity=Severity.WARNING,
      summary="the install makes every injected istio-proxy privileged (usually to allow tcpdump)",
      targets={"Workload"}, fix=FixAvailability.ALWAYS, sidecar_only=False)
def proxy_privileged_mesh_wide(wl, ctx):
    """What it checks: an istiod Deployment whose install makes every sidecar privileged: the injector
    ConfigMap (``istio-sidecar-injector[-<rev>]``, ``data.values``) sets ``global.proxy.privileged: true``, or
    the mesh config sets ``IPTABLES_TRACE_LOGGING: "true"`` in ``defaultConfig.proxyMetadata``. The finding
    is on istiod (the install); it shows when istiod is in the input (``-A``, or install manifests).

    What Istio does: the injection template renders istio-proxy (and istio-init) with ``privileged`` and
    ``allowPrivilegeEscalation`` equal to ``global.proxy.privileged``; ``IPTABLES_TRACE_LOGGING=true``
    renders istio-proxy ``privileged: true`` as root (UID 0) with NET_ADMIN. This is what the old docs said
    to do for ``sudo tcpdump`` in the sidecar, and it applies to every injected pod, for as long as it
    stays set.

    Example: ``istioctl install --set values.global.proxy.privileged=true`` left on after a debugging
    session.

    Fixes: set it back in the install (``global.proxy.privileged=false``; drop the proxyMetadata key) and
    restart the meshed workloads (display-only: the install values are the source of truth, a patch to the
    ConfigMap would be overwritten by the next upgrade); capture with ``kubectl debug --profile=netadmin``
    instead.

    References: istio/istio manifests/charts/istio-control/istio-discovery/files/injection-template.yaml;
    https://istio.io/latest/docs/tasks/security/authentication/mtls-migration/ ; istio/istio#30982,
    istio/istio#45383; reference/istio-facts.md §E.
    """
    rev = _istiod_revision(wl)
    if rev is None:
        return
    values, source = ctx.mesh.install_values(wl, rev)
    reasons, fixes = [], []
    if ctx.mesh.install_privileged(values):
        reasons.append(f"{source} sets values.global.proxy.privileged=true")
        fixes.append(Fix("Set global.proxy.privileged=false in the install: istioctl install --set "
                         "values.global.proxy.privileged=false (or helm upgrade istiod istio/istiod -n "
                         f"{wl.namespace} --reuse-values --set global.proxy.privileged=false), then kubectl "
                         "rollout restart the meshed workloads", Applicability.DISPLAY_ONLY, wl.ref,
                         caveats=(INSTEAD,)))
    metadata = (ctx.mesh.config.get("defaultConfig") or {}).get("proxyMetadata")
    if rev == "default" and ctx.mesh.trace_logging_on(metadata):
        reasons.append(f"the mesh config ({ctx.mesh.config.source}) sets {istio.TRACE_LOGGING}=true in "
                       "defaultConfig.proxyMetadata (istio-proxy then runs privileged as root)")
        fixes.append(Fix(f"Remove {istio.TRACE_LOGGING} from meshConfig.defaultConfig.proxyMetadata in the install, "
                         "then kubectl rollout restart the meshed workloads", Applicability.DISPLAY_ONLY, wl.ref,
                         caveats=(INSTEAD,)))
    if not reasons:
        return
    yield Diagnostic(
        path=wl.template_path,
        message=(f"{'; '.join(reasons)}: every injected istio-proxy runs privileged; {CONSEQUENCE}. Capture "
                 "with an ephemeral debug container instead"),
        args={"revision": rev, "privileged": ctx.mesh.install_privileged(values), "source": source,
              "traceLogging": len(reasons) > int(ctx.mesh.install_privileged(values))},
        fixes=tuple(fixes),
    )


@rule(code="MC502", name="proxy-privileged-override", topic=Topic.CAPTURE, severity=Severity.WARNING,
      summary="the pod spec overrides istio-proxy's securityContext with privileges (usually for tcpdump)",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def proxy_privileged_override(wl, ctx):
    """What it checks: a pod template (not yet injected) with a container named ``istio-proxy`` whose
    securityContext grants what Istio's sidecar does not have: ``privileged: true``,
    ``allowPrivilegeEscalation: true``, ``runAsUser: 0``, or NET_RAW/NET_ADMIN/SYS_ADMIN/ALL in
    ``capabilities.add``.

    What Istio does: the injector merges a pod-spec ``istio-proxy`` container over the one it renders
    ("customizing injection": any field can be set), so these settings replace the default UID 1337,
    drop ALL, no escalation. That such overrides are used for capture is UNCONFIRMED in practice, but
    nothing else in Istio needs them for the default REDIRECT interception.

    Example: ``containers: [{name: istio-proxy, image: auto, securityContext: {privileged: true,
    runAsUser: 0}}]`` next to the app container.

    Fixes: remove the privilege settings (the whole container when nothing else is overridden), so the
    injector's default applies (safe); capture with ``kubectl debug --profile=netadmin`` instead.

    References: https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/#customizing-injection ;
    istio/istio manifests/charts/istio-control/istio-discovery/files/injection-template.yaml;
    reference/istio-facts.md §E.
    """
    found = ctx.mesh.proxy_override(wl)
    if not found:
        return
    ptr, container = found
    sc = container.get("securityContext")
    raised = ctx.mesh.raised_privileges(sc)
    if not raised:
        return
    cleaned = ctx.mesh.unraised(sc)
    rest = {k: v for k, v in container.items() if k != "securityContext"}
    if not cleaned and set(rest) <= {"name", "image"} and rest.get("image", "auto") == "auto":
        ops = (PatchOp("test", ptr, container), PatchOp("remove", ptr))
        title = "Remove the istio-proxy override container (it only raised privileges)"
    elif not cleaned:
        ops = (PatchOp("test", f"{ptr}/securityContext", sc), PatchOp("remove", f"{ptr}/securityContext"))
        title = "Remove the istio-proxy override's securityContext (the injector's default applies)"
    else:
        ops = (PatchOp("test", f"{ptr}/securityContext", sc), PatchOp("replace", f"{ptr}/securityContext", cleaned))
        title = f"Drop {', '.join(raised)} from the istio-proxy override"
    yield Diagnostic(
        path=f"{ptr}/securityContext",
        message=(f"the pod spec's istio-proxy override sets {', '.join(raised)}, replacing the sidecar's UID 1337 "
                 f"and dropped capabilities: {CONSEQUENCE if 'privileged: true' in raised else NET_CONSEQUENCE}"),
        args={"container": istio.PROXY_CONTAINER, "raised": raised},
        fixes=(Fix(title, Applicability.SAFE, wl.ref, ops, (ROLLOUT, INSTEAD)),),
    )


@rule(code="MC503", name="iptables-trace-logging-on", topic=Topic.CAPTURE, severity=Severity.WARNING,
      summary="IPTABLES_TRACE_LOGGING in the pod's proxy config makes istio-proxy privileged and root",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def iptables_trace_logging_on(wl, ctx):
    """What it checks: a pod template (not yet injected) whose ``proxy.istio.io/config`` annotation sets
    ``proxyMetadata.IPTABLES_TRACE_LOGGING: "true"``.

    What Istio does: an undocumented debug knob: the injection template then renders istio-proxy with
    ``privileged: true``, ``allowPrivilegeEscalation: true``, ``runAsUser: 0`` and NET_ADMIN, so the agent
    can log every iptables decision. It also means tcpdump "works" in the sidecar, which is why it gets left
    on. Mesh-wide (``meshConfig.defaultConfig.proxyMetadata``) it is reported by MC501.

    Example: ``proxy.istio.io/config: '{"proxyMetadata": {"IPTABLES_TRACE_LOGGING": "true"}}'``.

    Fixes: remove the key from the annotation (the whole annotation when nothing else is left) (safe: it
    only turns the trace logs off); capture with ``kubectl debug --profile=netadmin`` instead.

    References: istio/istio manifests/charts/istio-control/istio-discovery/files/injection-template.yaml
    (``index .ProxyConfig.ProxyMetadata "IPTABLES_TRACE_LOGGING"``); istio/istio
    tools/istio-iptables/pkg/log (TraceLoggingEnabled: "intended for debugging only").
    """
    if ctx.mesh.is_injected(wl.pod_meta, wl.pod_spec):
        return
    raw = wl.pod_annotations.get(istio.PROXY_CONFIG_ANNOTATION)
    parsed = ctx.mesh.parse_proxy_config(raw)
    config = parsed.config or {}
    if not ctx.mesh.trace_logging_on(config.get("proxyMetadata")):
        return
    metadata = {k: v for k, v in config["proxyMetadata"].items() if k != istio.TRACE_LOGGING}
    rest = {k: v for k, v in config.items() if k != "proxyMetadata"} | ({"proxyMetadata": metadata} if metadata else {})
    path = f"{wl.template_path}/metadata/annotations/{escape_pointer(istio.PROXY_CONFIG_ANNOTATION)}"
    ops = (PatchOp("test", path, raw), PatchOp("replace", path, json.dumps(rest)) if rest else PatchOp("remove", path))
    yield Diagnostic(
        path=path,
        message=(f"{istio.PROXY_CONFIG_ANNOTATION} sets {istio.TRACE_LOGGING}=true: istio-proxy is injected "
                 "privileged and as "
                 f"root (UID 0) with NET_ADMIN; {CONSEQUENCE}"),
        args={"key": istio.TRACE_LOGGING, "form": parsed.form},
        fixes=(Fix(f"Remove {istio.TRACE_LOGGING} from {istio.PROXY_CONFIG_ANNOTATION}", Applicability.SAFE,
                   wl.ref, ops,
                   (ROLLOUT, "the iptables trace logs stop", INSTEAD)),),
    )


@rule(code="MC504", name="capture-sidecar-in-template", topic=Topic.CAPTURE, severity=Severity.WARNING,
      summary="a container beside the app can read its plaintext or rewrite the pod's iptables (NET_ADMIN/RAW)",
      targets={"Workload"}, fix=FixAvailability.ALWAYS, sidecar_only=False)
def capture_sidecar_in_template(wl, ctx):
    """What it checks: a meshed pod template (sidecar or ambient) with a container running beside the app
    (a regular container or a native sidecar) that is ``privileged: true`` or adds NET_RAW, NET_ADMIN or
    ALL, whatever its image; or that is a packet-capture tool (an image such as ``nicolaka/netshoot``,
    ``tcpdump``, ``ksniff``, ``tshark``, or a command running tcpdump, tshark, dumpcap, termshark or
    ngrep), which the message names as a clue. Istio's own containers (istio-proxy, istio-init,
    istio-validation, install-cni, ztunnel, the proxyv2 image) are left out, and so are classic init
    containers: they finish before the app sends a byte.

    What Istio does: nothing stops it. Every container shares the pod's network namespace: with NET_RAW
    (or privileged) it reads the app's traffic on ``lo`` in plaintext, before the sidecar encrypts it
    (mTLS does not protect against it); with NET_ADMIN (or privileged) it can rewrite the pod's iptables
    (or, in ambient, the in-pod redirection) around the sidecar, so traffic leaves unencrypted and
    unauthorised. PodSecurity baseline rejects the whole pod (it admits none of these capabilities). A
    capture sidecar left in a template runs in every replica, forever. Not flagged: a root container
    without ``drop: [ALL]`` also has the runtime's default NET_RAW on containerd (UNCONFIRMED per
    runtime); that is every default container, and a separate hardening question.

    Example: ``- name: sniffer, image: nicolaka/netshoot, command: [tcpdump, -i, any, -w, /pcap/x.pcap],
    securityContext: {capabilities: {add: [NET_RAW, NET_ADMIN]}}`` beside the app; or a VPN client
    ``ghcr.io/acme/vpn`` with ``privileged: true``.

    Fixes: a capture tool: remove the container; any other container: drop ``privileged`` and the
    network capabilities from its securityContext. Both unsafe: if the container needs them (a deliberate
    continuous capture, a VPN or network agent), keep it and suppress the finding with that reason.
    Capture on demand with ``kubectl debug --profile=netadmin`` instead (``kubectl meshcheck capture POD``).

    References: istio/istio manifests/charts/istio-control/istio-discovery/files/injection-template.yaml
    (istio-init / istio-validation); istio/istio manifests/charts/istio-cni/templates/daemonset.yaml
    (install-cni: NET_ADMIN, NET_RAW); https://kubernetes.io/docs/concepts/security/pod-security-standards/
    (baseline capabilities); https://kubernetes.io/docs/concepts/workloads/pods/ephemeral-containers/ ;
    kubernetes/kubectl pkg/cmd/debug/profiles.go; reference/istio-facts.md §E.
    """
    if not _in_mesh(wl, ctx):
        return
    found = ctx.mesh.capture_sidecars(wl)
    if not found:
        return
    # one finding per template, on the last such container: fixing it shifts no other container's path
    side = found[-1]
    ptr, c = side.pointer, side.container
    ambient = ctx.mesh.mode(wl).mode is MeshMode.AMBIENT
    can = []
    if side.reads:
        can.append("read the app's plaintext on lo before the sidecar encrypts it" if not ambient else
                   "read the app's plaintext before ztunnel encrypts it")
    if side.rewrites:
        can.append("rewrite the pod's iptables around the sidecar" if not ambient else
                   "rewrite the pod's in-pod redirection around ztunnel")
    clue = side.evidence + (", a packet-capture tool" if side.evidence.startswith("image") else "")
    what = ", ".join(x for x in (clue if side.evidence else f"image {c.get('image')}", *side.powers) if x)
    command = " ".join(redact_args([str(x) for x in [*(c.get("command") or []), *(c.get("args") or [])]]))
    if side.evidence:
        fix = Fix(f"Remove container {side.name!r} from the pod template", Applicability.UNSAFE, wl.ref,
                  (PatchOp("test", f"{ptr}/name", c.get("name")), PatchOp("remove", ptr)),
                  (ROLLOUT, "if this is a deliberate continuous capture, keep it and suppress with the reason",
                   INSTEAD))
    else:
        sc = c["securityContext"]
        cleaned = ctx.mesh.without_network_powers(sc)
        ops = (PatchOp("test", f"{ptr}/securityContext", sc),
               PatchOp("replace", f"{ptr}/securityContext", cleaned) if cleaned
               else PatchOp("remove", f"{ptr}/securityContext"))
        fix = Fix(f"Drop {', '.join(side.powers)} from container {side.name!r}", Applicability.UNSAFE, wl.ref, ops,
                  (ROLLOUT, "if the container needs them (a VPN or network agent), keep them and suppress with the "
                   "reason", INSTEAD))
    yield Diagnostic(
        path=ptr,
        message=(f"container {side.name!r} ({what}) can {' and '.join(can)}, in every pod"
                 + ("; PodSecurity baseline rejects pods with these privileges" if side.powers else "")
                 + (f" ({len(found) - 1} more such container(s): {', '.join(x.name for x in found[:-1])})"
                    if len(found) > 1 else "")),
        args={"container": side.name, "image": str(c.get("image") or ""), "evidence": side.evidence,
              "raised": list(side.powers), "reads": side.reads, "rewrites": side.rewrites, "command": command,
              "containers": [x.name for x in found]},
        fixes=(fix,),
    )


@rule(code="MC505", name="debug-container-running-observed", topic=Topic.CAPTURE, severity=Severity.INFO,
      summary="observed: an ephemeral debug container (kubectl debug) is still running in a pod",
      targets={"Workload"}, reads={"Pod"}, fix=FixAvailability.ALWAYS, sidecar_only=False)
def debug_container_running_observed(wl, ctx):
    """What it checks: live pods of a meshed workload with an ephemeral container (``kubectl debug``) that is
    still running, with the capabilities it added. Evidence from the cluster; manifests give none.

    What Istio does: nothing: the ephemeral container shares the pod's network namespace, sees the
    plaintext app traffic on ``lo`` and keeps whatever NET_ADMIN/NET_RAW (or privileged) it was given until
    its process exits. Ephemeral containers cannot be removed from a pod; they stay in its spec (terminated)
    until the pod is replaced.

    Example: pod ``web-7d9c-x2kq`` with ephemeral container ``debugger-abcde`` (nicolaka/netshoot,
    NET_ADMIN, NET_RAW) running for three days.

    Fixes: attach and exit the session, or delete the pod so its controller replaces it (display-only).

    References: https://kubernetes.io/docs/concepts/workloads/pods/ephemeral-containers/ ;
    kubernetes/kubectl pkg/cmd/debug/profiles.go.
    """
    if not _in_mesh(wl, ctx):
        return
    for pod in ctx.observed_pods(wl):
        obj = ctx.get("Pod", pod.ref.namespace, pod.ref.name)
        running = [d for d in ctx.mesh.ephemeral_containers(obj) if d.state == "running"] if obj is not None else []
        if not running:
            continue
        ns = pod.ref.namespace or wl.namespace or "default"
        d = running[0]
        bare = wl.obj.kind == "Pod"
        yield Diagnostic(
            path=wl.spec_path,
            message=(f"observed on pod {pod.ref.name}: ephemeral container {d.name!r} ({d.image}"
                     + (f", adds {', '.join(d.caps)}" if d.caps else "") + ") is still running in the pod's "
                     "network namespace, where it sees the app's plaintext on lo"
                     + (f" ({len(running) - 1} more)" if len(running) > 1 else "")),
            args={"pod": pod.ref.name, "containers": [x.name for x in running], "image": d.image, "caps": list(d.caps)},
            fixes=(Fix(f"kubectl -n {ns} attach {pod.ref.name} -c {d.name} -it (then exit the shell)"
                       + ("" if bare else f", or kubectl -n {ns} delete pod {pod.ref.name} (its controller "
                                          "replaces it)"),
                       Applicability.DISPLAY_ONLY, wl.ref),),
        )



@hookimpl
def meshcheck_register_rules(register):
    register(sys.modules[__name__])  # every rule defined here
