"""Istio annotations on workloads, namespaces and Services: misplaced on the controller (MC203), a broken
proxy.istio.io/config (MC204), unknown, misplaced, deprecated, alpha or invalid keys (MC214-MC218).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    MeshFacts,
    PatchOp,
    Severity,
    Status,
    Topic,
    Workload,
    escape_pointer,
    istio,
    pod_metadata_ops,
    rule,
)

from .common import HOLD_JSON, _for_pods


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
        if k == istio.HOLD_KEY:
            if not isinstance(value, bool):
                return f"{istio.HOLD_KEY} must be a boolean, not {value!r}", k
        elif k.lower().replace("_", "") in (istio.HOLD_KEY.lower(), istio.HOLD_KEY.lower()[:-1]):
            return f"{k!r} is not a ProxyConfig field (the field is {istio.HOLD_KEY})", k
        elif k == "defaultConfig" and isinstance(value, dict) and istio.HOLD_KEY in value:
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
    raw = wl.pod_annotations.get(istio.PROXY_CONFIG_ANNOTATION)
    parsed = ctx.mesh.parse_proxy_config(raw)
    if not parsed.present:
        return
    path = f"{wl.template_path}/metadata/annotations/{escape_pointer(istio.PROXY_CONFIG_ANNOTATION)}"
    if parsed.config is None:
        yield Diagnostic(
            path=path,
            message=f"{istio.PROXY_CONFIG_ANNOTATION} is {parsed.error}; Istio does not apply it, so none of its "
                    "settings "
                    "(hold included) take effect",
            args={"error": parsed.error, "form": parsed.form},
            fixes=(Fix(f"Rewrite {istio.PROXY_CONFIG_ANNOTATION} as valid {parsed.form or 'YAML'}, e.g. {HOLD_JSON}",
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
        inner = {k: v for k, v in wanted.items() if k != istio.HOLD_KEY}
        fixed.update({"defaultConfig": inner} if inner else {})
        wanted = wanted[istio.HOLD_KEY]
    fixed[istio.HOLD_KEY] = str(wanted).strip().lower() in ("true", "1", "yes", "on")
    text = json.dumps(fixed) if parsed.form == "JSON" else yaml.safe_dump(fixed, default_flow_style=False)
    yield Diagnostic(
        path=path,
        message=f"{istio.PROXY_CONFIG_ANNOTATION}: {problem}, so the app is not held as intended",
        args={"problem": problem, "key": key, "form": parsed.form},
        fixes=(Fix(f"Rewrite {istio.PROXY_CONFIG_ANNOTATION} with "
                   f"{istio.HOLD_KEY}: {str(fixed[istio.HOLD_KEY]).lower()}",
                   Applicability.SAFE, wl.ref, (PatchOp("test", path, raw), PatchOp("replace", path, text)),
                   ("takes effect when the pods are next created (a rollout)",)),),
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
            if MeshFacts.is_istio_annotation(key):
                yield site, key, istio.ANNOTATIONS.get(key)


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
        meant = ctx.mesh.closest_annotation(key)
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
        if ann is not None and ctx.mesh.alpha_reported(ann, site.kind, site.init_containers):
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
        problem = ctx.mesh.annotation_value_problem(str(key), value)
        if problem is None:
            continue
        fixed = ctx.mesh.corrected_annotation_value(key, value)
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
