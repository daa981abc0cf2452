"""Bundled plugin ``startup`` (MC2xx): the app racing the sidecar, init containers, Jobs that never
finish, and hold settings that silently do nothing.

What injection will do to each pod (where istio-proxy goes, whether the app is held and by what)
comes from ``injection_of`` (the facts live in ``kubectl_meshcheck.mesh.injection``); these rules
judge whether that fits what the pod's containers do as they start and stop, and rank the fixes:
native sidecars first where the install allows them, then the narrower workaround, then opting out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from kubectl_meshcheck import (
    ANNOTATIONS,
    alpha_reported,
    annotation_value_problem,
    closest_annotation,
    corrected_annotation_value,
    is_istio_annotation,
    pin_pod_template,
    pod_metadata_ops,
    HOLD_KEY,
    NATIVE_ANNOTATION,
    NATIVE_ANNOTATION_SINCE,
    PROXY_CONFIG_ANNOTATION,
    PROXY_CONTAINER,
    SYSTEM_NAMESPACES,
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    MeshMode,
    PatchOp,
    Severity,
    Status,
    Topic,
    Workload,
    auto_image_containers,
    calls_quit,
    escape_pointer,
    executed_files,
    forced_mode,
    gateway_clue,
    hookimpl,
    init_endpoints,
    injection_of,
    injector_webhooks,
    is_injected,
    network_at_start,
    network_in_script,
    only_moves_files,
    parse_proxy_config,
    parse_version,
    rule,
    selected_by_webhooks,
    settings_of,
    waits_for_sidecar,
)

BATCH_KINDS = ("Job", "CronJob")
HOLD_JSON = json.dumps({HOLD_KEY: True})
ISTIO_INIT_NAMES = ("istio-init", "istio-validation", "enable-core-dump", PROXY_CONTAINER)
NATIVE_CAVEATS = (
    "needs Kubernetes >= 1.29 on every node (SidecarContainers, on by default since 1.29, GA in 1.33)",
    "webhooks or controllers that expect istio-proxy in spec.containers may break (Istio 1.27 upgrade notes)",
)


# -- shared helpers ----------------------------------------------------------------------------


def _app_containers(wl):
    return [(p, c) for p, c in wl.containers() if c.get("name") != PROXY_CONTAINER]


def _native_fix(wl, ctx, why: str) -> Fix | None:
    """The pod annotation that turns native sidecars on, where this install honours it."""
    settings = settings_of(ctx)
    if not settings.at_least(NATIVE_ANNOTATION_SINCE):
        return None
    old = [v for v in settings.kubelet_versions if (parse_version(v) or (0, 0)) < (1, 29)]
    if old:
        return None
    return Fix(f'Annotate the pod template {NATIVE_ANNOTATION}: "true" ({why})', Applicability.UNSAFE, wl.ref,
               tuple(pin_pod_template(wl) + pod_metadata_ops(wl, "annotations", NATIVE_ANNOTATION, "true")),
               NATIVE_CAVEATS)


def _hold_value(wl) -> tuple[str, bool] | None:
    """The pod annotation's new text with hold on, in the form it already has; None if it cannot be merged."""
    current = wl.pod_annotations.get(PROXY_CONFIG_ANNOTATION)
    if current is None:
        return HOLD_JSON, False
    parsed = parse_proxy_config(current)
    if parsed.config is None:
        return None
    merged = {**parsed.config, HOLD_KEY: True}
    text = json.dumps(merged) if parsed.form == "JSON" else yaml.safe_dump(merged, default_flow_style=False)
    return text, True


def _hold_fix(wl, title: str) -> Fix | None:
    value = _hold_value(wl)
    if value is None:
        return None
    explicit_off = parse_proxy_config(wl.pod_annotations.get(PROXY_CONFIG_ANNOTATION)).hold is False
    caveats = ("takes effect when the pods are next created (a rollout)",) + (
        (f"the annotation sets {HOLD_KEY}: false explicitly; make sure that was not on purpose",)
        if explicit_off else ())
    return Fix(title, Applicability.UNSAFE if explicit_off else Applicability.SAFE, wl.ref,
               tuple(pin_pod_template(wl) + pod_metadata_ops(wl, "annotations", PROXY_CONFIG_ANNOTATION, value[0])),
               caveats)


def _for_pods(key) -> bool:
    """An annotation Istio defines for Pods (not for any kind): on a controller the injector never sees it."""
    ann = ANNOTATIONS.get(str(key))
    return ann is not None and "Pod" in ann.resources and "Any" not in ann.resources


def _where(inj) -> str:
    return {"first": "first regular container", "last": "last regular container", "native": "native sidecar"}.get(
        inj.placement, inj.placement)


def _assumed(inj) -> str:
    return f" ({inj.native_reason})" if inj.assumed else ""


# -- rules -------------------------------------------------------------------------------------


ARGO_WORKFLOW_LABEL, TEKTON_TASKRUN_LABEL = "workflows.argoproj.io/workflow", "tekton.dev/taskRun"
ARGO_KILL_ANNOTATION = "workflows.argoproj.io/kill-cmd-istio-proxy"
ARGO_KILL_VALUE = '["pilot-agent", "request", "POST", "quitquitquit"]'


def _batch_runner(subject) -> tuple[str | None, Workload]:
    """What runs the pods to completion (the Job or CronJob, Argo Workflows or Tekton, or nothing),
    and the pods' template. Argo and Tekton pods are Pods owned by a Workflow or a TaskRun, kinds
    with no pod template of their own: they come as Pods; other Pods are judged through their Job."""
    if isinstance(subject, Workload):
        return (subject.obj.kind if subject.obj.kind in BATCH_KINDS else None), subject
    wl = Workload(subject, "")
    owners = [(str(r.get("apiVersion", "")).split("/")[0], r.get("kind"))
              for r in (wl.pod_meta.get("ownerReferences") or []) if isinstance(r, dict)]
    if ARGO_WORKFLOW_LABEL in wl.pod_labels or ("argoproj.io", "Workflow") in owners:
        return "Argo", wl
    if TEKTON_TASKRUN_LABEL in wl.pod_labels or ("tekton.dev", "TaskRun") in owners:
        return "Tekton", wl
    return None, wl


def _argo_fixes(wl) -> list[Fix]:
    """An Argo pod is the workflow controller's: every change goes into the Workflow (or its template)."""
    ref = wl.ref
    return [Fix(f"In the Workflow, set spec.podMetadata.annotations {ARGO_KILL_ANNOTATION}: '{ARGO_KILL_VALUE}' "
                "(Argo then ends istio-proxy with pilot-agent's quitquitquit)", Applicability.DISPLAY_ONLY, ref),
            Fix(f'Or set spec.podMetadata.annotations {NATIVE_ANNOTATION}: "true" in the Workflow (Istio >= 1.24)',
                Applicability.DISPLAY_ONLY, ref, (), NATIVE_CAVEATS),
            Fix("Or end the step's command with: curl -fsS -X POST http://localhost:15020/quitquitquit",
                Applicability.DISPLAY_ONLY, ref, (), ("call it on failure too (a shell trap)",))]


@rule(code="MC201", name="job-sidecar-never-exits", topic=Topic.STARTUP, severity=Severity.ERROR,
      summary="a Job, CronJob or Argo Workflows pod gets a classic sidecar that keeps running: it never completes",
      targets={"Workload", "Pod"}, fix=FixAvailability.ALWAYS)
def job_sidecar_never_exits(subject, ctx):
    """What it checks: Jobs and CronJobs whose pods are injected with a classic sidecar (istio-proxy as
    a regular container), where no container ends the sidecar when its work is done (a call to
    ``POST localhost:15020/quitquitquit``). Live, pods whose app containers have exited while
    istio-proxy still runs are named as observed. Argo Workflows pods (owned by an argoproj.io
    ``Workflow``, or labelled ``workflows.argoproj.io/workflow``) with a classic sidecar are
    checked too, unless they carry ``workflows.argoproj.io/kill-cmd-istio-proxy``. Tekton TaskRun
    pods are not flagged: Tekton stops the sidecars itself.

    What Istio does: with a classic sidecar, istio-proxy keeps running after the main container
    exits, so the pod never reaches Succeeded and the Job never completes (istio/istio#11659);
    CronJobs pile up active Jobs. A native sidecar (an init container with ``restartPolicy:
    Always``) is stopped by the kubelet once the main containers finish. Argo stops injected
    sidecars by running ``/bin/sh -c 'kill 1'`` in them with ``kubectl exec``, which its docs say
    can fail (no shell, the process not PID 1 or ignoring the signal); its documented override for
    istio-proxy is the kill-cmd annotation with ``pilot-agent request POST quitquitquit``
    (argo-workflows docs/sidecar-injection.md). Whether the default kill ends istio-proxy is
    UNCONFIRMED. Tekton, once all steps are done, replaces every still-running container's image
    with its ``nop`` image, which exits at once (tektoncd/pipeline cmd/nop README).

    Example: a ``batch/v1`` Job ``db-backup`` in an ``istio-injection=enabled`` namespace, Istio
    below 1.27 or nodes below kubelet 1.33 (so native sidecars are off).

    Fixes: annotate the pod template ``sidecar.istio.io/nativeSidecar: "true"`` (Istio >= 1.24;
    unsafe: needs every node's kubelet >= 1.29, and tools expecting istio-proxy in ``containers``
    may break); end the command with ``curl -fsS -X POST http://localhost:15020/quitquitquit``
    (display-only: the command is yours, and it must run on failure too); opt the Job out of
    injection with the ``sidecar.istio.io/inject: "false"`` label (unsafe: no mTLS, STRICT peers
    reject it, egress policy does not apply; organisations can veto it). For Argo pods every fix is
    display-only, since the Workflow, not the pod, must change: the kill-cmd annotation in
    ``spec.podMetadata``, native sidecars there, or the quitquitquit call.

    References: https://istio.io/latest/blog/2023/native-sidecars/ ; istio/istio#11659 ;
    istio/istio pilot/cmd/pilot-agent/status/server.go (handleQuit) ;
    https://argo-workflows.readthedocs.io/en/latest/sidecar-injection/ ;
    https://github.com/tektoncd/pipeline/tree/main/cmd/nop
    """
    runner, wl = _batch_runner(subject)
    if runner is None or runner == "Tekton":
        return
    if runner == "Argo" and ARGO_KILL_ANNOTATION in wl.pod_annotations:
        return
    inj = injection_of(wl, ctx)
    if not inj.injected or inj.native or any(calls_quit(c) for _, c in _app_containers(wl)):
        return
    held = [p.ref.name for p in ctx.observed_pods(wl) if p.held_by_proxy]
    seen = f"; observed on pod(s) {', '.join(held)}: the app has exited, istio-proxy is still running" if held else ""
    if runner == "Argo":
        yield Diagnostic(
            path="/spec/containers",
            message=(f"Argo Workflows pod {wl.obj.name} has istio-proxy as the {_where(inj)}; Argo stops injected "
                     "sidecars with kubectl exec \"kill 1\", which can fail, so the step may never complete"
                     f"{seen}: set {ARGO_KILL_ANNOTATION} in the Workflow's podMetadata"),
            args={"placement": inj.placement, "assumed": inj.assumed, "observedHeld": held, "runner": runner},
            fixes=tuple(_argo_fixes(wl)),
        )
        return
    fixes = [f for f in (_native_fix(wl, ctx, "the kubelet stops it when the Job's containers finish"),) if f]
    fixes.append(Fix("End the Job's command with: curl -fsS -X POST http://localhost:15020/quitquitquit",
                     Applicability.DISPLAY_ONLY, wl.ref, (),
                     ("call it on failure too (a shell trap), or a failed run still hangs",)))
    fixes.append(Fix('Opt the Job out of injection (label sidecar.istio.io/inject: "false")', Applicability.UNSAFE,
                     wl.ref,
                     tuple(pin_pod_template(wl) + pod_metadata_ops(wl, "labels", "sidecar.istio.io/inject", "false")),
                     ("the Job loses mTLS: STRICT PeerAuthentication peers reject it",
                      "egress policy (REGISTRY_ONLY, egress gateways) no longer applies to it")))
    yield Diagnostic(
        path=f"{wl.spec_path}/containers",
        message=(f"{wl.obj.kind} pods get istio-proxy as the {_where(inj)}{_assumed(inj)}; it keeps running after "
                 f"the job's containers exit, so the pod never completes{seen}"),
        args={"placement": inj.placement, "assumed": inj.assumed, "observedHeld": held, "runner": runner},
        fixes=tuple(fixes),
    )


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
    inj = injection_of(wl, ctx)
    if not inj.injected or inj.native or inj.hold.in_effect:
        return
    needy = [(p, c, network_at_start(c)) for p, c in _app_containers(wl) if not waits_for_sidecar(c)]
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
        fixes = [f for f in (_hold_fix(wl, f"Hold the app until the proxy is ready ({PROXY_CONFIG_ANNOTATION}: "
                                           f"{HOLD_KEY}: true on the pod template)"),
                             _native_fix(wl, ctx, "the app starts after the proxy is ready")) if f]
    if not fixes:
        fixes = [Fix(f"Set {HOLD_KEY}: true mesh-wide (meshConfig.defaultConfig) or fix the pod's "
                     f"{PROXY_CONFIG_ANNOTATION} annotation first (MC204)", Applicability.DISPLAY_ONLY, wl.ref)]
    yield Diagnostic(
        path=path,
        message=(f"container {c.get('name')!r} {evidence}, but istio-proxy is the {_where(inj)}{_assumed(inj)} "
                 f"and nothing holds the app until it is ready{why}: early connections fail"),
        args={"container": c.get("name"), "evidence": evidence, "containers": [x.get("name") for _, x, _ in needy],
              "placement": inj.placement, "hold": inj.hold.in_effect},
        fixes=tuple(fixes),
    )


@rule(code="MC203", name="pod-annotation-on-controller", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="an injection annotation sits on the controller's metadata, where the injector never sees it",
      targets={"Workload"}, fix=FixAvailability.ALWAYS, ist_codes=("IST0107",))
def pod_annotation_on_controller(wl, ctx):
    """What it checks: annotations Istio's annotation table defines for Pods (``proxy.istio.io/config``,
    ``sidecar.istio.io/*`` such as ``nativeSidecar`` or ``interceptionMode``,
    ``traffic.sidecar.istio.io/*``, ``readiness.status.sidecar.istio.io/*``...) put on a
    Deployment's (StatefulSet's, Job's, CronJob's...) own ``metadata.annotations`` or on a
    CronJob's ``jobTemplate.metadata``, instead of the pod template.

    What Istio does: the injector is a webhook on Pods; it reads only the pod's own annotations,
    which come from ``spec.template.metadata``. The same annotation on the controller is silently
    ignored, so hold, native sidecars or exclusions never take effect.

    Example: ``metadata.annotations: {proxy.istio.io/config: '{"holdApplicationUntilProxyStarts":
    true}'}`` on a Deployment whose pod template has no annotations.

    Fixes: move the annotation to the pod template (safe: it then does what was meant; it takes
    effect at the next rollout). If the pod template already has it with another value, choose one
    (display-only).

    References: https://istio.io/latest/docs/reference/config/annotations/ ;
    https://istio.io/latest/docs/reference/config/analysis/ist0107/
    """
    if wl.obj.kind == "Pod":
        return
    places = [("/metadata/annotations", wl.obj.annotations)]
    if wl.obj.kind == "CronJob":
        places.append(("/spec/jobTemplate/metadata/annotations",
                       wl.obj.get("/spec/jobTemplate/metadata/annotations") or {}))
    pod = wl.pod_annotations
    for base, anns in places:
        if not isinstance(anns, dict):
            continue
        keys = sorted(k for k in anns if _for_pods(k))
        if not keys:
            continue
        where = "jobTemplate" if "jobTemplate" in base else "own"
        clash = [k for k in keys if k in pod and pod[k] != anns[k]]
        if clash:
            fix = Fix(f"Keep one value of {', '.join(clash)}: the pod template and the {wl.obj.kind}'s {where} "
                      "metadata disagree", Applicability.DISPLAY_ONLY, wl.ref)
        else:
            ops: list[PatchOp] = []
            for k in keys:
                path = f"{base}/{escape_pointer(k)}"
                ops += [PatchOp("test", path, anns[k]), PatchOp("remove", path)]
            moving = {k: anns[k] for k in keys if k not in pod}
            if moving:
                meta_base = f"{wl.template_path}/metadata"
                meta = wl.template.get("metadata")
                if not isinstance(meta, dict):
                    ops += [PatchOp("test", wl.template_path, wl.template),
                            PatchOp("add", meta_base, {"annotations": moving})]
                elif not isinstance(meta.get("annotations"), dict):
                    ops += [PatchOp("test", meta_base, meta), PatchOp("add", f"{meta_base}/annotations", moving)]
                else:
                    ops += [PatchOp("add", f"{meta_base}/annotations/{escape_pointer(k)}", v)
                            for k, v in moving.items()]
            fix = Fix(f"Move {', '.join(keys)} to the pod template", Applicability.SAFE, wl.ref, tuple(ops),
                      ("takes effect when the pods are next created (a rollout)",))
        yield Diagnostic(
            path=f"{base}/{escape_pointer(keys[0])}",
            message=(f"{', '.join(keys)} {'is' if len(keys) == 1 else 'are'} on the {wl.obj.kind}'s {where} metadata; "
                     "the injector reads only the pod template's annotations, so "
                     f"{'it does' if len(keys) == 1 else 'they do'} nothing"),
            args={"annotations": keys, "values": {k: anns[k] for k in keys},
                  "onPodTemplate": [k for k in keys if k in pod]},
            fixes=(fix,),
        )


def _hold_typo(config: dict) -> tuple[str, str] | None:
    """(problem, key) when the hold setting is misspelt, mis-nested or not a boolean."""
    for key, value in config.items():
        k = str(key)
        if k == HOLD_KEY:
            if not isinstance(value, bool):
                return f"{HOLD_KEY} must be a boolean, not {value!r}", k
        elif k.lower().replace("_", "") in (HOLD_KEY.lower(), HOLD_KEY.lower()[:-1]):
            return f"{k!r} is not a ProxyConfig field (the field is {HOLD_KEY})", k
        elif k == "defaultConfig" and isinstance(value, dict) and HOLD_KEY in value:
            return ("the annotation is a ProxyConfig, not a MeshConfig: defaultConfig does not belong in it", k)
    return None


@rule(code="MC204", name="proxy-config-annotation-invalid", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="the pod's proxy.istio.io/config does not parse, or misspells hold, so hold does nothing",
      targets={"Workload"}, fix=FixAvailability.ALWAYS)
def proxy_config_annotation_invalid(wl, ctx):
    """What it checks: a pod-template ``proxy.istio.io/config`` annotation that is not valid YAML/JSON,
    is not a mapping, or sets hold in a way Istio does not read: a misspelt key
    (``holdApplicationUntilProxyStart``), a MeshConfig-style ``defaultConfig:`` wrapper, or a string
    ``"true"`` instead of a boolean.

    What Istio does: the annotation is parsed as a ProxyConfig and merged over the mesh's
    ``defaultConfig``; a value that does not parse, or a field that does not exist, is not applied,
    so the app is not held (whether admission also rejects such a pod is UNCONFIRMED).

    Example: ``proxy.istio.io/config: '{"holdApplicationUntilProxyStarts": true'`` (missing brace).

    Fixes: rewrite the annotation with the intended field (safe when the intent is clear: the
    misspelt key, the wrapper or the string value is replaced, other keys kept); when it does not
    parse at all, fix it by hand (display-only).

    References: https://istio.io/latest/docs/reference/config/annotations/#ProxyConfig ;
    https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/#ProxyConfig
    """
    raw = wl.pod_annotations.get(PROXY_CONFIG_ANNOTATION)
    parsed = parse_proxy_config(raw)
    if not parsed.present:
        return
    path = f"{wl.template_path}/metadata/annotations/{escape_pointer(PROXY_CONFIG_ANNOTATION)}"
    if parsed.config is None:
        yield Diagnostic(
            path=path,
            message=f"{PROXY_CONFIG_ANNOTATION} is {parsed.error}; Istio does not apply it, so none of its settings "
                    "(hold included) take effect",
            args={"error": parsed.error, "form": parsed.form},
            fixes=(Fix(f"Rewrite {PROXY_CONFIG_ANNOTATION} as valid {parsed.form or 'YAML'}, e.g. {HOLD_JSON}",
                       Applicability.DISPLAY_ONLY, wl.ref),),
        )
        return
    typo = _hold_typo(parsed.config)
    if typo is None:
        return
    problem, key = typo
    fixed = {k: v for k, v in parsed.config.items() if k != key}
    wanted = parsed.config[key]
    if key == "defaultConfig":
        inner = {k: v for k, v in wanted.items() if k != HOLD_KEY}
        fixed.update({"defaultConfig": inner} if inner else {})
        wanted = wanted[HOLD_KEY]
    fixed[HOLD_KEY] = str(wanted).strip().lower() in ("true", "1", "yes", "on")
    text = json.dumps(fixed) if parsed.form == "JSON" else yaml.safe_dump(fixed, default_flow_style=False)
    yield Diagnostic(
        path=path,
        message=f"{PROXY_CONFIG_ANNOTATION}: {problem}, so the app is not held as intended",
        args={"problem": problem, "key": key, "form": parsed.form},
        fixes=(Fix(f"Rewrite {PROXY_CONFIG_ANNOTATION} with {HOLD_KEY}: {str(fixed[HOLD_KEY]).lower()}",
                   Applicability.SAFE, wl.ref, (PatchOp("test", path, raw), PatchOp("replace", path, text)),
                   ("takes effect when the pods are next created (a rollout)",)),),
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
    inj = injection_of(wl, ctx)
    if inj.predicted and inj.native and inj.hold.requested and inj.proxy_config.hold:
        yield Diagnostic(
            path=f"{wl.template_path}/metadata/annotations/{escape_pointer(PROXY_CONFIG_ANNOTATION)}",
            message=(f"{HOLD_KEY} is set, but the sidecar is native ({inj.native_reason}): the hold is ignored and not "
                     "needed, since the native sidecar starts and is ready before the app"),
            args={"nativeReason": inj.native_reason},
        )


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
    inj = injection_of(wl, ctx)
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
    scripts = executed_files(wl, c, ctx)
    evidence = network_at_start(c) or next((f"runs {where}, which {found}" for where, text in scripts
                                            if (found := network_in_script(text))), "")
    named = [ep for ep in init_endpoints(wl, ctx) if ep.container == c.get("name")
             and not (ep.found_in.startswith("file ") and (scripts or only_moves_files(c)))]
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
    if gateway_clue(wl.pod_meta, wl.pod_spec):
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


def _wait_loops(wl):
    """(path, container, is init) for each container whose entrypoint polls the sidecar's readiness."""
    loops = [(p, c, False) for p, c in _app_containers(wl) if waits_for_sidecar(c)]
    return loops + [(p, c, True) for p, c in wl.containers(init=True)
                    if waits_for_sidecar(c) and c.get("restartPolicy") != "Always"]


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
    inj = injection_of(wl, ctx)
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
    inj = injection_of(wl, ctx)
    if inj.placement in ("ambient", "none") or not (inj.native or inj.hold.in_effect):
        return
    for path, c, init in loops:
        if init and not inj.native:
            continue  # MC208's: it never ends
        yield _wait_loop_finding(wl, path, c, init, inj, (
            "obsolete: " + ("the native sidecar" if inj.native else f"hold ({inj.hold.source})")
            + " already starts the app after the proxy is ready"))


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
    root = ctx.mesh_config.get("rootNamespace")
    if ns.name in SYSTEM_NAMESPACES or ns.name == root or forced_mode(ctx) is not None:
        return  # with --mesh-mode every namespace counts as labelled
    if INJECTION_LABEL in labels or REV_LABEL in labels or str(labels.get(DATAPLANE_LABEL, "")).lower() == "ambient":
        return
    by_default = settings_of(ctx).namespaces_by_default
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
    if is_injected(meta, spec) or spec.get("hostNetwork") is True:
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
    hooks = injector_webhooks(ctx.objects("MutatingWebhookConfiguration"))
    if hooks:
        ns = ctx.get("Namespace", None, wl.namespace or "")
        hit = selected_by_webhooks(hooks, ns.labels if ns is not None else None, wl.pod_labels)
        return hit, "an injector webhook in the input selects it" if hit else \
            "no injector webhook in the input selects its namespace or pod labels"
    mode = ctx.mode_of(wl)
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
    autos = auto_image_containers(wl.pod_spec)
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
    autos = auto_image_containers(spec)
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


# -- Istio annotations: unknown, misplaced, deprecated, alpha, invalid ---------------------------------
# The facts (Istio's annotation table, the injector's value checks) are in
# kubectl_meshcheck.mesh.annotations. istioctl analyze reads only the own metadata of Namespaces,
# Services, Pods and Deployments; these rules also read pod templates (what the pods will carry,
# before a bad value stops them being created) and every kind of controller.

ANNOTATION_TARGETS = {"Workload", "Namespace", "Service"}
INJECT_KEY = "sidecar.istio.io/inject"


@dataclass(frozen=True)
class _Site:
    """One annotations map: where it is, and the kind Istio judges it as."""

    base: str  # JSON Pointer of the map
    annotations: dict
    kind: str
    where: str
    labels: dict
    controller: bool = False  # a controller's own (or jobTemplate) metadata: Pod annotations are MC203's
    init_containers: tuple | None = None  # a Pod object's init containers (the alpha analyzer's CNI test)

    def __post_init__(self):  # maps as written, or empty where the input has something else
        for name in ("annotations", "labels"):
            if not isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, {})

    def path(self, key: str) -> str:
        return f"{self.base}/{escape_pointer(key)}"


def _sites(subject) -> list[_Site]:
    if not isinstance(subject, Workload):
        return [_Site("/metadata/annotations", subject.annotations, subject.kind, f"{subject.kind} {subject.name}",
                      subject.labels)]
    obj = subject.obj
    if obj.kind == "Pod":
        inits = tuple(c.get("name") for _, c in subject.containers(init=True))
        return [_Site("/metadata/annotations", subject.pod_annotations, "Pod", f"pod {obj.name}", subject.pod_labels,
                      init_containers=inits)]
    sites = [_Site(f"{subject.template_path}/metadata/annotations", subject.pod_annotations, "Pod",
                   f"the pod template of {obj.kind} {obj.name}", subject.pod_labels),
             _Site("/metadata/annotations", obj.annotations, obj.kind, f"{obj.kind} {obj.name}'s own metadata",
                   obj.labels, controller=True)]
    meta = obj.get("/spec/jobTemplate/metadata") if obj.kind == "CronJob" else None
    if isinstance(meta, dict):
        sites.append(_Site("/spec/jobTemplate/metadata/annotations", meta.get("annotations") or {}, "Job",
                           f"CronJob {obj.name}'s jobTemplate metadata", meta.get("labels"), controller=True))
    return sites


def _istio_annotations(subject):
    """(site, key, table entry or None) for every Istio annotation on the subject."""
    for site in _sites(subject):
        for key in sorted(map(str, site.annotations)):
            if is_istio_annotation(key):
                yield site, key, ANNOTATIONS.get(key)


def _rename_ops(site: _Site, old: str, new: str) -> tuple[PatchOp, ...]:
    """A JSON-patch move of ``old`` to ``new`` in the same map, pinned by a test of the value."""
    value = site.annotations[old]
    return (PatchOp("test", site.path(old), value), PatchOp("remove", site.path(old)),
            PatchOp("add", site.path(new), value))


def _remove_ops(site: _Site, key: str) -> tuple[PatchOp, ...]:
    return PatchOp("test", site.path(key), site.annotations[key]), PatchOp("remove", site.path(key))


@rule(code="MC214", name="istio-annotation-unknown", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="an Istio-looking annotation Istio does not know (a typo?): the setting silently does nothing",
      targets=ANNOTATION_TARGETS, fix=FixAvailability.SOMETIMES, sidecar_only=False, ist_codes=("IST0108",))
def istio_annotation_unknown(subject, ctx):
    """What it checks: annotations whose key is in Istio's namespace (the part before ``/`` ends in
    ``istio.io``) but that are not in Istio's annotation table: on a pod template, a Pod, a
    controller's own metadata, a Namespace or a Service. Istio's own keys that are only read by
    its code are known too (``kubectl_meshcheck.mesh.annotations`` lists them).

    What Istio does: nothing: the injector, istiod and the CNI read the keys they know and ignore
    the rest, so ``sidecar.istio.io/proxycpu`` or ``proxy.istio.io/confg`` sets nothing and no error
    is shown anywhere. ``istioctl analyze`` reports the same keys as IST0108 (on the object's own
    metadata only; annotations/annotations.go).

    Example: ``sidecar.istio.io/nativeSidecars: "true"`` (one letter too many) on a Job's pod
    template: the Job gets a classic sidecar and never completes.

    Fixes: rename the key to the known annotation it most likely means (a JSON-patch move: safe
    when only the case differs; unsafe for a closer spelling, which is a guess, and the setting
    then starts to apply). No fix when no single known key is close.

    References: https://istio.io/latest/docs/reference/config/annotations/ ;
    https://istio.io/latest/docs/reference/config/analysis/ist0108/ ;
    istio/api annotation/annotations.yaml
    """
    for site, key, ann in _istio_annotations(subject):
        if ann is not None:
            continue
        meant = closest_annotation(key)
        fixes = ()
        if meant and meant not in site.annotations:
            case_only = meant.lower() == key.lower()
            fixes = (Fix(f"Rename {key} to {meant}", Applicability.SAFE if case_only else Applicability.UNSAFE,
                         subject.ref, _rename_ops(site, key, meant),
                         ("the setting starts to apply (for pods: when they are next created)",)
                         + (() if case_only else (f"{meant} is the closest known key: check it is the one meant",))),)
        hint = f" (did you mean {meant}?)" if meant else ""
        yield Diagnostic(
            path=site.path(key),
            message=f"{key} on {site.where} is not an Istio annotation{hint}: Istio ignores it, so it does nothing",
            args={"annotation": key, "didYouMean": meant, "on": site.kind},
            fixes=fixes,
        )


@rule(code="MC215", name="istio-annotation-misplaced", topic=Topic.STARTUP, severity=Severity.WARNING,
      summary="an Istio annotation is on a kind of object it does not apply to, where nothing reads it",
      targets=ANNOTATION_TARGETS, fix=FixAvailability.ALWAYS, sidecar_only=False, ist_codes=("IST0107",))
def istio_annotation_misplaced(subject, ctx):
    """What it checks: a known Istio annotation on an object of a kind its table entry does not list:
    Pod annotations (``sidecar.istio.io/inject``, ``proxy.istio.io/config``...) on a Namespace or a
    Service, a Service annotation (``networking.istio.io/exportTo``) on a pod template, or
    ``kubernetes.io/ingress.class`` anywhere but an Ingress. Pod annotations on a controller's own
    metadata are MC203's (they have a precise fix).

    What Istio does: each annotation is read from one kind of object; the injector reads the pod's
    own annotations, never its namespace's, so a ``proxy.istio.io/config`` on a Namespace holds no
    pod and excludes no port. ``istioctl analyze`` reports it as IST0107
    (annotations/annotations.go).

    Example: ``kind: Namespace`` with ``annotations: {sidecar.istio.io/inject: "false"}`` meant to
    opt the namespace out (the namespace label ``istio-injection: disabled`` does that).

    Fixes: remove it (unsafe: Istio ignores it there, but another tool might read it); for a Pod
    annotation on a Namespace or Service, set it on each workload's pod template instead
    (display-only).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0107/ ;
    https://istio.io/latest/docs/reference/config/annotations/
    """
    for site, key, ann in _istio_annotations(subject):
        if ann is None or ann.applies_to(site.kind) or (site.controller and "Pod" in ann.resources):
            continue
        kinds = ", ".join(ann.resources)
        fixes = []
        if "Pod" in ann.resources:
            fixes.append(Fix(f"Set {key} on the pod templates of the workloads it was meant for",
                             Applicability.DISPLAY_ONLY, subject.ref))
        fixes.append(Fix(f"Remove {key} from {site.where}", Applicability.UNSAFE, subject.ref, _remove_ops(site, key),
                         ("Istio ignores it there, but another tool might read it",)))
        yield Diagnostic(
            path=site.path(key),
            message=f"{key} applies to {kinds} only; on {site.where} nothing in Istio reads it",
            args={"annotation": key, "on": site.kind, "appliesTo": list(ann.resources)},
            fixes=tuple(fixes),
        )


def _deprecated_fix(subject, site: _Site, key: str, ann) -> Fix | None:
    replacement = ann.replacement
    if replacement is None:
        return None
    what, name = replacement
    value = site.annotations[key]
    if what == "label" and site.kind == "Pod" and isinstance(subject, Workload):
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            return None
        ops = pod_metadata_ops(subject, "labels", name, text) + list(_remove_ops(site, key))
        caveats = () if text == "false" else (
            "the label opts pods in: in a namespace without an injection label they start getting sidecars, "
            "which the annotation could not do",)
        return Fix(f'Replace the annotation {key} with the label {name}: "{text}"',
                   Applicability.SAFE if text == "false" else Applicability.UNSAFE, subject.ref, tuple(ops), caveats)
    if what == "annotation" and name not in site.annotations:
        return Fix(f"Rename {key} to {name}", Applicability.UNSAFE, subject.ref, _rename_ops(site, key, name),
                   ("older Istio versions read only the deprecated key",))
    if what == "setting":
        return Fix(f"Use {name} instead of {key}", Applicability.DISPLAY_ONLY, subject.ref)
    return None


@rule(code="MC216", name="istio-annotation-deprecated", topic=Topic.STARTUP, severity=Severity.INFO,
      summary="an Istio annotation is deprecated and may stop working in a future Istio version",
      targets=ANNOTATION_TARGETS, fix=FixAvailability.SOMETIMES, sidecar_only=False, ist_codes=("IST0135",))
def istio_annotation_deprecated(subject, ctx):
    """What it checks: annotations Istio's table marks deprecated (``sidecar.istio.io/inject`` as an
    annotation, ``sidecar.istio.io/statsInclusionPrefixes``, ``discoveryAddress``...), plus
    ``traffic.sidecar.istio.io/kubevirtInterfaces`` (deprecated in the Istio 1.25 release notes) and
    ``sidecar.istio.io/statsCompression`` (istio/api#3628). The ``sidecar.istio.io/inject``
    annotation next to the label of the same name is left alone, as ``istioctl analyze`` does.

    What Istio does: deprecated annotations still work for now, but may be removed; the
    ``sidecar.istio.io/inject`` annotation already cannot opt a pod in, because the webhooks select
    pods by label. ``istioctl analyze`` reports them as IST0135 (annotations/annotations.go).

    Example: ``annotations: {sidecar.istio.io/inject: "false"}`` on a Job's pod template.

    Fixes: the replacement where Istio names one: the ``sidecar.istio.io/inject`` label (safe for
    ``"false"``; unsafe for ``"true"``, which then opts the pods in),
    ``istio.io/reroute-virtual-interfaces`` for ``kubevirtInterfaces`` (unsafe: Istio < 1.25 reads
    only the old key), the MeshConfig field for ``statsCompression`` (display-only).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0135/ ;
    https://istio.io/latest/docs/reference/config/annotations/ ;
    https://istio.io/latest/news/releases/1.25.x/announcing-1.25/change-notes/
    """
    for site, key, ann in _istio_annotations(subject):
        if ann is None or not ann.deprecated:
            continue
        if key == INJECT_KEY and INJECT_KEY in site.labels:
            continue  # both variants kept on purpose (annotations.go skips this too)
        replacement = ann.replacement
        extra = f" in favour of the {replacement[0]} {replacement[1]}" if replacement and \
            replacement[0] != "setting" else (f" in favour of {replacement[1]}" if replacement else "")
        fix = _deprecated_fix(subject, site, key, ann)
        yield Diagnostic(
            path=site.path(key),
            message=f"{key} on {site.where} is deprecated{extra} and may not work in future Istio versions",
            args={"annotation": key, "on": site.kind, "replacement": list(replacement) if replacement else None},
            fixes=(fix,) if fix else (),
        )


@rule(code="MC217", name="istio-annotation-alpha", topic=Topic.STARTUP, severity=Severity.INFO,
      summary="an Istio annotation belongs to an alpha feature, which may change or be incompletely supported",
      targets=ANNOTATION_TARGETS, fix=FixAvailability.NEVER, sidecar_only=False, status=Status.PREVIEW,
      ist_codes=("IST0136",))
def istio_annotation_alpha(subject, ctx):
    """What it checks: annotations whose feature status in Istio's table is Alpha (most
    ``sidecar.istio.io/*`` and ``traffic.sidecar.istio.io/*`` keys, ``nativeSidecar`` among them),
    except those Istio sets itself (``sidecar.istio.io/status``, ``istio.io/rev``,
    ``gateway.istio.io/controller-version``) and, on a Pod without an ``istio-init`` init container,
    those the CNI writes (``interceptionMode``, ``includeInboundPorts``, ``excludeInboundPorts``,
    ``includeOutboundIPRanges``). A preview rule, like Istio's analyzer, which is left out of the
    default set as too noisy.

    What Istio does: alpha features carry no compatibility promise; ``istioctl analyze`` with the
    alpha analyzer reports them as IST0136 (maturity/maturity.go).

    Example: ``sidecar.istio.io/nativeSidecar: "true"`` on a pod template.

    Fixes: none: an alpha annotation may be exactly what is needed; this is for teams that track
    their use of alpha features.

    References: https://istio.io/latest/docs/reference/config/analysis/ist0136/ ;
    https://istio.io/latest/docs/releases/feature-stages/
    """
    for site, key, ann in _istio_annotations(subject):
        if ann is not None and alpha_reported(ann, site.kind, site.init_containers):
            yield Diagnostic(
                path=site.path(key),
                message=f"{key} on {site.where} is part of an alpha-phase feature and may be incompletely supported",
                args={"annotation": key, "on": site.kind},
            )


@rule(code="MC218", name="istio-annotation-invalid-value", topic=Topic.STARTUP, severity=Severity.ERROR,
      summary="an injection annotation has a value the injector rejects, so injection of the pods fails",
      targets={"Workload"}, fix=FixAvailability.ALWAYS, sidecar_only=False, ist_codes=("IST0125",))
def istio_annotation_invalid_value(wl, ctx):
    """What it checks: values the injector validates, on the pod template (or a Pod):
    ``sidecar.istio.io/interceptionMode`` (``REDIRECT``, ``TPROXY`` or ``NONE``, in capitals),
    ``status.sidecar.istio.io/port``, the ``readiness.status.sidecar.istio.io/*`` numbers,
    the port lists ``include/excludeInboundPorts`` and ``excludeOutboundPorts``, and
    ``prometheus.istio.io/merge-metrics`` (a Go boolean). The outbound IP-range lists are MC309's
    and ``proxy.istio.io/config`` is MC204's.

    What Istio does: the injector checks these annotations with the validators of
    ``AnnotationValidation`` (pkg/kube/inject/validate.go); an invalid value makes injection of the
    pod fail, and as the injector webhook's ``failurePolicy`` is ``Fail`` the pod is not created
    (reference/istio-facts.md §C6; an error, as MC309 for the IP-range annotations).
    ``istioctl analyze`` reports the same values as IST0125, on Pods (annotations.go).

    Example: ``readiness.status.sidecar.istio.io/periodSeconds: "10s"``.

    Fixes: the value meant where it is clear (safe: ``redirect`` -> ``REDIRECT``, ``"10s"`` ->
    ``"10"``, ``"5432, 6379,"`` -> ``"5432,6379"``, ``yes`` -> ``true``); otherwise correct it by
    hand (display-only).

    References: https://istio.io/latest/docs/reference/config/analysis/ist0125/ ;
    istio/istio pkg/kube/inject/validate.go
    """
    site = _sites(wl)[0]
    for key, value in sorted(site.annotations.items(), key=lambda kv: str(kv[0])):
        problem = annotation_value_problem(str(key), value)
        if problem is None:
            continue
        fixed = corrected_annotation_value(key, value)
        fix = (Fix(f"Write {key} as {fixed!r}", Applicability.SAFE, wl.ref,
                   (PatchOp("test", site.path(key), value), PatchOp("replace", site.path(key), fixed)),
                   ("takes effect when the pods are next created",)) if fixed is not None
               else Fix(f"Correct the value of {key}", Applicability.DISPLAY_ONLY, wl.ref))
        yield Diagnostic(
            path=site.path(key),
            message=f"{key} on {site.where}: {problem}; the injector rejects the value, so injecting these pods fails",
            args={"annotation": key, "value": value, "problem": problem, "corrected": fixed},
            fixes=(fix,),
        )


RULES = (
    job_sidecar_never_exits,
    app_starts_before_proxy,
    pod_annotation_on_controller,
    proxy_config_annotation_invalid,
    hold_ignored_with_native_sidecar,
    init_container_network_outside_mesh,
    app_runs_as_proxy_uid,
    sidecar_wait_loop,
    sidecar_wait_loop_obsolete,
    namespace_not_injected,
    pod_missing_proxy,
    namespace_conflicting_mesh_labels,
    proxy_image_auto_not_injected,
    pod_image_auto_not_injected,
    istio_annotation_unknown,
    istio_annotation_misplaced,
    istio_annotation_deprecated,
    istio_annotation_alpha,
    istio_annotation_invalid_value,
)


@hookimpl
def meshcheck_register_rules(register):
    for r in RULES:
        register(r)
