"""What the startup rules share: the fixes they rank (native sidecars, hold) and how they name placement.
"""

from __future__ import annotations

import json

import yaml

from kubectl_meshcheck import Applicability, Fix, MeshFacts, istio, pin_pod_template, pod_metadata_ops


BATCH_KINDS = ("Job", "CronJob")
HOLD_JSON = json.dumps({istio.HOLD_KEY: True})
ISTIO_INIT_NAMES = ("istio-init", "istio-validation", "enable-core-dump", istio.PROXY_CONTAINER)
NATIVE_CAVEATS = (
    "needs Kubernetes >= 1.29 on every node (SidecarContainers, on by default since 1.29, GA in 1.33)",
    "webhooks or controllers that expect istio-proxy in spec.containers may break (Istio 1.27 upgrade notes)",
)


# -- shared helpers ----------------------------------------------------------------------------


def _app_containers(wl):
    return [(p, c) for p, c in wl.containers() if c.get("name") != istio.PROXY_CONTAINER]


def _native_fix(wl, ctx, why: str) -> Fix | None:
    """The pod annotation that turns native sidecars on, where this install honours it."""
    settings = ctx.mesh.settings
    if not settings.at_least(istio.NATIVE_ANNOTATION_SINCE):
        return None
    old = [v for v in settings.kubelet_versions if (ctx.mesh.parse_version(v) or (0, 0)) < (1, 29)]
    if old:
        return None
    return Fix(f'Annotate the pod template {istio.NATIVE_ANNOTATION}: "true" ({why})', Applicability.UNSAFE, wl.ref,
               tuple(pin_pod_template(wl) + pod_metadata_ops(wl, "annotations", istio.NATIVE_ANNOTATION, "true")),
               NATIVE_CAVEATS)


def _hold_value(wl) -> tuple[str, bool] | None:
    """The pod annotation's new text with hold on, in the form it already has; None if it cannot be merged."""
    current = wl.pod_annotations.get(istio.PROXY_CONFIG_ANNOTATION)
    if current is None:
        return HOLD_JSON, False
    parsed = MeshFacts.parse_proxy_config(current)
    if parsed.config is None:
        return None
    merged = {**parsed.config, istio.HOLD_KEY: True}
    text = json.dumps(merged) if parsed.form == "JSON" else yaml.safe_dump(merged, default_flow_style=False)
    return text, True


def _hold_fix(wl, title: str) -> Fix | None:
    value = _hold_value(wl)
    if value is None:
        return None
    explicit_off = MeshFacts.parse_proxy_config(wl.pod_annotations.get(istio.PROXY_CONFIG_ANNOTATION)).hold is False
    caveats = ("takes effect when the pods are next created (a rollout)",) + (
        (f"the annotation sets {istio.HOLD_KEY}: false explicitly; make sure that was not on purpose",)
        if explicit_off else ())
    return Fix(title, Applicability.UNSAFE if explicit_off else Applicability.SAFE, wl.ref,
               tuple(pin_pod_template(wl)
                     + pod_metadata_ops(wl, "annotations", istio.PROXY_CONFIG_ANNOTATION, value[0])),
               caveats)


def _for_pods(key) -> bool:
    """An annotation Istio defines for Pods (not for any kind): on a controller the injector never sees it."""
    ann = istio.ANNOTATIONS.get(str(key))
    return ann is not None and "Pod" in ann.resources and "Any" not in ann.resources


def _where(inj) -> str:
    return {"first": "first regular container", "last": "last regular container", "native": "native sidecar"}.get(
        inj.placement, inj.placement)


def _assumed(inj) -> str:
    return f" ({inj.native_reason})" if inj.assumed else ""
