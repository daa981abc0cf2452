"""Who gets a sidecar: namespaces without injection labels or with conflicting ones (MC209, MC211), pods
missing their proxy (MC210), and istio-proxy left at image: auto (MC212, MC213).
"""

from __future__ import annotations

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    MeshMode,
    PatchOp,
    Severity,
    Topic,
    Workload,
    escape_pointer,
    istio,
    rule,
)


INJECTION_LABEL, REV_LABEL, DATAPLANE_LABEL = "istio-injection", "istio.io/rev", "istio.io/dataplane-mode"


def _label_ops(obj, key: str, value: str) -> list[PatchOp]:
    """Set ``metadata.labels[key]`` on a cluster object (a Namespace), pinning its name."""
    labels = obj.data.get("metadata", {}).get("labels")
    ops = [PatchOp("test", "/metadata/name", obj.name)]
    if not isinstance(labels, dict):
        return [*ops, PatchOp("add", "/metadata/labels", {key: value})]
    return [*ops, PatchOp("add", f"/metadata/labels/{escape_pointer(key)}", value)]


@rule(code="MC209", name="namespace-not-injected", topic=Topic.STARTUP, severity=Severity.INFO,
      summary="a namespace has no injection or ambient label: its pods get no sidecar (or only by default)",
      targets={"Namespace"}, fix=FixAvailability.ALWAYS, sidecar_only=False, ist_codes=("IST0102", "IST0148"))
def namespace_not_injected(ns, ctx):
    """What it checks: Namespaces with neither ``istio-injection`` nor ``istio.io/rev`` and not labelled
    ``istio.io/dataplane-mode=ambient``. Kubernetes' system namespaces and Istio's root namespace are
    skipped, and so is every namespace under ``--mesh-mode`` (it treats them as labelled). When the
    injector's ``sidecarInjectorWebhook.enableNamespacesByDefault`` is on (read from the
    ``istio-sidecar-injector`` ConfigMap), the namespace is injected anyway, and the finding says
    that instead (IST0148).

    What Istio does: the injection webhooks select namespaces by label; without one, pods there get
    no sidecar (none of the startup rules apply), unless injection is enabled by default.

    Example: ``kind: Namespace, metadata: {name: payments}`` with no labels.

    Fixes: label it ``istio-injection: enabled`` (safe when injection is already on by default: it
    makes it explicit; unsafe otherwise: pods get sidecars when next created).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0102/ ;
    https://istio.io/latest/docs/reference/config/analysis/ist0148/ ;
    https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/
    """
    labels = ns.labels
    root = ctx.mesh.config.get("rootNamespace")
    if ns.name in istio.SYSTEM_NAMESPACES or ns.name == root or ctx.mesh.forced_mode is not None:
        return  # with --mesh-mode every namespace counts as labelled
    if INJECTION_LABEL in labels or REV_LABEL in labels or str(labels.get(DATAPLANE_LABEL, "")).lower() == "ambient":
        return
    by_default = ctx.mesh.settings.namespaces_by_default
    if by_default:
        message = (f"namespace {ns.name} has no injection label but is injected because the injector's "
                   "enableNamespacesByDefault is on: label it so the intent survives a change of that setting")
        fix = Fix(f"Label namespace {ns.name} {INJECTION_LABEL}: enabled (as it is injected today)",
                  Applicability.SAFE, ns.ref, tuple(_label_ops(ns, INJECTION_LABEL, "enabled")))
    else:
        message = (f"namespace {ns.name} has no {INJECTION_LABEL}, {REV_LABEL} or ambient label: its pods get no "
                   "sidecar and are not in the mesh")
        fix = Fix(f"Label namespace {ns.name} {INJECTION_LABEL}: enabled", Applicability.UNSAFE, ns.ref,
                  tuple(_label_ops(ns, INJECTION_LABEL, "enabled")),
                  ("pods get sidecars when they are next created: check the startup findings for them first",))
    yield Diagnostic(path="/metadata/labels" if labels else "/metadata", message=message,
                     args={"namespacesByDefault": by_default}, fixes=(fix,))


@rule(code="MC210", name="pod-missing-proxy", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="a running pod in an injection-enabled namespace has no sidecar: it predates the label, or failed",
      targets={"Pod"}, reads={"Namespace"}, fix=FixAvailability.ALWAYS, sidecar_only=False, ist_codes=("IST0103",))
def pod_missing_proxy(pod, ctx):
    """What it checks: a Pod the API server created (it has a ``status``, a ``uid`` or a
    ``creationTimestamp``) in a namespace labelled ``istio-injection=enabled``, without istio-proxy
    (in containers or init containers) and without the injector's status annotation; pods that opt
    out (label or annotation ``sidecar.istio.io/inject: "false"``) and ``hostNetwork`` pods are not
    flagged. Pod manifests are not flagged: the injector adds the proxy when they are created
    (``istioctl analyze`` reports those too).

    What Istio does: injection happens only when a pod is created. Pods created before the namespace
    was labelled, or while the webhook was unreachable (its failurePolicy decides whether the pod is
    then created without a sidecar), run outside the mesh until they are recreated.

    Example: a Deployment's pods started on Monday, ``istio-injection=enabled`` added on Tuesday.

    Fixes: recreate the pods (``kubectl rollout restart`` of their controller; display-only).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0103/ ;
    https://istio.io/latest/docs/ops/common-problems/injection/
    """
    meta = pod.data.get("metadata") or {}
    if not (pod.data.get("status") or meta.get("uid") or meta.get("creationTimestamp")):
        return
    namespace = ctx.get("Namespace", None, pod.namespace or "")
    if namespace is None or str(namespace.labels.get(INJECTION_LABEL, "")).lower() != "enabled":
        return
    spec = pod.data.get("spec") or {}
    inject = "sidecar.istio.io/inject"
    if ctx.mesh.is_injected(meta, spec) or spec.get("hostNetwork") is True:
        return
    if str(pod.labels.get(inject, "")).lower() == "false" or str(pod.annotations.get(inject, "")).lower() == "false":
        return
    yield Diagnostic(
        path="/spec/containers",
        message=(f"pod {pod.name} runs without istio-proxy although namespace {pod.namespace} has "
                 f"{INJECTION_LABEL}=enabled: it was created before the label or while injection failed"),
        args={"namespace": pod.namespace},
        fixes=(Fix(f"Recreate pod {pod.name} (kubectl rollout restart of its controller) so the injector runs",
                   Applicability.DISPLAY_ONLY, pod.ref),),
    )


@rule(code="MC211", name="namespace-conflicting-mesh-labels", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="a namespace carries more than one of istio-injection, istio.io/rev and the ambient label",
      targets={"Namespace"}, fix=FixAvailability.ALWAYS, sidecar_only=False, ist_codes=("IST0123",))
def namespace_conflicting_mesh_labels(ns, ctx):
    """What it checks: a Namespace with more than one of ``istio-injection``, ``istio.io/rev`` and
    ``istio.io/dataplane-mode``; ``istio.io/rev`` and the data-plane label count only when
    ``istio-injection`` is absent or ``enabled`` (``disabled`` switches the others off anyway).

    What Istio does: ``istio-injection`` wins over ``istio.io/rev`` (the revision's webhook requires
    ``istio-injection`` to be absent), and sidecar injection wins over ambient (an injected pod is
    not captured by ztunnel). So one label is silently ignored, and which revision or mode the pods
    get may not be the one intended (a canary upgrade that never happens).

    Example: ``labels: {istio-injection: enabled, istio.io/rev: canary}``.

    Fixes: remove the label that is ignored (safe: nothing changes for the pods; if you meant that
    one, remove the other instead).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0123/ ;
    https://istio.io/latest/docs/setup/upgrade/canary/
    """
    labels = ns.labels
    injection = labels.get(INJECTION_LABEL)
    counts = injection is None or str(injection).lower() == "enabled"
    present = [k for k in (INJECTION_LABEL, REV_LABEL, DATAPLANE_LABEL)
               if k in labels and (k == INJECTION_LABEL or counts)]
    if len(present) < 2:
        return
    winner = present[0]  # istio-injection over istio.io/rev over the data-plane label
    losers = present[1:]
    ops = [PatchOp("test", "/metadata/name", ns.name)]
    for k in losers:
        path = f"/metadata/labels/{escape_pointer(k)}"
        ops += [PatchOp("test", path, labels[k]), PatchOp("remove", path)]
    yield Diagnostic(
        path="/metadata/labels",
        message=(f"namespace {ns.name} has {', '.join(f'{k}={labels[k]}' for k in present)}: {winner} decides, so "
                 f"{', '.join(losers)} {'is' if len(losers) == 1 else 'are'} ignored"),
        args={"labels": present, "winner": winner, "ignored": losers},
        fixes=(Fix(f"Remove the ignored label(s) {', '.join(losers)} from namespace {ns.name}", Applicability.SAFE,
                   ns.ref, tuple(ops), (f"if you meant {', '.join(losers)}, remove {winner} instead",)),),
    )


def _selected(wl, ctx) -> tuple[bool, str]:
    """Will an injector process this pod template? From the webhooks in the input, else the mode."""
    hooks = ctx.mesh.injector_webhooks(ctx.objects("MutatingWebhookConfiguration"))
    if hooks:
        ns = ctx.get("Namespace", None, wl.namespace or "")
        hit = ctx.mesh.selected_by_webhooks(hooks, ns.labels if ns is not None else None, wl.pod_labels)
        return hit, "an injector webhook in the input selects it" if hit else \
            "no injector webhook in the input selects its namespace or pod labels"
    mode = ctx.mesh.mode(wl)
    return mode.mode is MeshMode.SIDECAR, mode.reason


def _auto_fixes(ref, where: str) -> tuple[Fix, ...]:
    return (Fix(f"Let an injector select {where}: label its namespace istio-injection=enabled (or istio.io/rev), "
                "or the pod template sidecar.istio.io/inject=true", Applicability.DISPLAY_ONLY, ref),
            Fix("Or set a real proxy image instead of 'auto'", Applicability.DISPLAY_ONLY, ref,
                (), ("the image must match the control plane's version",)))


@rule(code="MC212", name="proxy-image-auto-not-injected", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="istio-proxy has image: auto, but no injector will process the pods to fill it in",
      targets={"Workload"}, reads={"MutatingWebhookConfiguration", "Namespace"}, fix=FixAvailability.ALWAYS,
      sidecar_only=False, ist_codes=("IST0146",))
def proxy_image_auto_not_injected(wl, ctx):
    """What it checks: a workload (typically a gateway Deployment with ``inject.istio.io/templates:
    gateway``) whose ``istio-proxy`` container has ``image: auto``, where no Istio injector webhook
    selects its pods: judged by the injector MutatingWebhookConfigurations in the input (their
    namespace and object selectors), or, without them, by the namespace's and pod's injection labels.
    Bare Pods are MC213's.

    What Istio does: ``auto`` is a placeholder that the injector replaces with the proxy image when
    the pod is created. A pod no injector sees keeps ``image: auto``, which cannot be pulled: the
    pods never start (ImagePullBackOff).

    Example: a gateway Deployment with ``image: auto`` in a namespace without ``istio-injection``.

    Fixes: label the namespace (or the pod template) so an injector selects it, or set a real image
    (both display-only: which revision should serve it is your choice).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0146/ ;
    https://istio.io/latest/docs/setup/additional-setup/gateway/
    """
    if wl.obj.kind == "Pod":
        return
    autos = ctx.mesh.auto_image_containers(wl.pod_spec)
    if not autos:
        return
    selected, why = _selected(wl, ctx)
    if selected:
        return
    yield Diagnostic(
        path=f"{wl.spec_path}/containers/{autos[0]}/image",
        message=f"istio-proxy has image: auto, but no injector will fill it in ({why}): the pods cannot pull 'auto'",
        args={"why": why},
        fixes=_auto_fixes(wl.ref, f"{wl.obj.kind} {wl.obj.name}'s pods"),
    )


@rule(code="MC213", name="pod-image-auto-not-injected", topic=Topic.STARTUP, severity=Severity.ERROR,
      summary="a Pod's istio-proxy still has image: auto: the injector never processed it",
      targets={"Pod"}, reads={"MutatingWebhookConfiguration", "Namespace"}, fix=FixAvailability.ALWAYS,
      sidecar_only=False, ist_codes=("IST0147",))
def pod_image_auto_not_injected(pod, ctx):
    """What it checks: a Pod whose ``istio-proxy`` container has ``image: auto``: a running pod (the
    API server created it) always, since the injector would have replaced the placeholder; a Pod
    manifest when no injector webhook (or, without webhooks in the input, no injection label) will
    select it.

    What Istio does: the injector replaces ``auto`` at pod creation. A pod that still carries it was
    not injected, and its istio-proxy container cannot start (ImagePullBackOff).

    Example: a gateway Pod applied to a namespace the injector does not select.

    Fixes: recreate the pod where an injector selects it, or set a real image (display-only).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0147/
    """
    spec = pod.data.get("spec") or {}
    autos = ctx.mesh.auto_image_containers(spec)
    if not autos:
        return
    meta = pod.data.get("metadata") or {}
    live = bool(pod.data.get("status") or meta.get("uid") or meta.get("creationTimestamp"))
    if live:
        why = "the pod exists with the placeholder, so the injector did not process it"
    else:
        selected, why = _selected(Workload(pod, ""), ctx)
        if selected:
            return
    yield Diagnostic(
        path=f"/spec/containers/{autos[0]}/image",
        message=f"pod {pod.name}'s istio-proxy has image: auto ({why}): it cannot be pulled, the pod does not start",
        args={"live": live, "why": why},
        fixes=_auto_fixes(pod.ref, f"pod {pod.name}"),
    )
