"""Pods that run to completion (Job, CronJob, Argo, Tekton) and a sidecar that never exits (MC201).
"""

from __future__ import annotations

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    Severity,
    Topic,
    Workload,
    istio,
    pin_pod_template,
    pod_metadata_ops,
    rule,
)

from .common import BATCH_KINDS, NATIVE_CAVEATS, _app_containers, _assumed, _native_fix, _where


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
            Fix(f'Or set spec.podMetadata.annotations {istio.NATIVE_ANNOTATION}: "true" in the Workflow '
                "(Istio >= 1.24)",
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
    inj = ctx.mesh.injection(wl)
    if not inj.injected or inj.native or any(ctx.mesh.calls_quit(c) for _, c in _app_containers(wl)):
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
