"""The injected pod's layout: where istio-proxy goes (native sidecar, first or last), the order of the
init containers, and whether the app is held until the proxy is ready (predicted, or read as it is).

Who gets a sidecar at all, and the install's settings, are ``mesh.injection``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import MeshMode, Workload
from .config import MeshConfig
from .injection import (
    HOLD_ANNOTATION_SINCE,
    HOLD_KEY,
    INTERCEPTION_ANNOTATION,
    NATIVE_ANNOTATION,
    NATIVE_ANNOTATION_SINCE,
    NATIVE_SINCE,
    PROXY_CONFIG_ANNOTATION,
    PROXY_CONTAINER,
    InjectorSettings,
    ProxyConfigAnnotation,
    _is_wait_hook,
    is_injected,
    parse_proxy_config,
    parse_version,
)


# -- the injected pod: where istio-proxy goes, in what order, and whether the app is held ---------
#
# Facts (reference/istio-facts.md §B1-B4; istio/istio pkg/kube/inject/webhook.go ``reorderPod``,
# manifests/charts/istio-control/istio-discovery/files/injection-template.yaml,
# pilot/pkg/features/pilot.go; checked against the injector goldens in corpus/istio-inject):
#
# - Native sidecars (istio-proxy as an init container with ``restartPolicy: Always``): istiod's
#   ENABLE_NATIVE_SIDECARS, added in 1.19 (default false), default ``auto`` since 1.27 (on only if
#   every node's kubelet is >= 1.33, or the pod's node's when it has one). The pod annotation
#   ``sidecar.istio.io/nativeSidecar: "true"|"false"`` (since 1.24) overrides the setting.
# - Init containers, native: istio-init, istio-validation, the containers named in
#   ``sidecar.istio.io/init-containers-before-proxy``, istio-proxy, enable-core-dump, then the user's.
#   Classic: istio-validation first, the user's, then istio-init and enable-core-dump last, so user
#   init containers run before iptables is set up (istio-init) or after it (istio-validation, CNI).
# - Containers: istio-proxy last, or first when hold is in effect (classic only).
# - Hold: the pod's ``proxy.istio.io/config`` annotation (a ProxyConfig, YAML or JSON) is merged over
#   ``meshConfig.defaultConfig`` (so a per-pod ``false`` overrides a mesh-wide ``true``), then ORed with
#   the install value ``values.global.proxy.holdApplicationUntilProxyStarts``. It adds the
#   ``pilot-agent wait`` postStart hook, and is ignored with native sidecars (the template's
#   ``$holdProxy`` requires ``not $nativeSidecar``); the sidecar's startupProbe orders startup then.
# - ``interceptionMode: NONE`` (annotation or ProxyConfig): no istio-init/istio-validation at all.
# - Versions: install value since 1.7, ProxyConfig field and annotation since 1.8.
#
# Not modelled: auto mode's per-node check for pods that already name a node (``kubeletVersions`` are
# every node's); custom injection templates (``inject.istio.io/templates``, e.g. gateway), whose layout
# may differ; enable-core-dump.
# - ``values.global.proxy.lifecycle`` is rendered on istio-proxy *instead of* the hold's ``pilot-agent
#   wait`` postStart hook (``{{- if .Values.global.proxy.lifecycle }} ... {{- else if $holdProxy }}``,
#   istio/istio injection-template.yaml): the proxy still goes first, but the app no longer waits.
# UNCONFIRMED: how a ``proxy.istio.io/config`` annotation that does not parse is treated at
# admission (we say "not applied"); the release that added ``init-containers-before-proxy``.

INIT_BEFORE_PROXY_ANNOTATION = "sidecar.istio.io/init-containers-before-proxy"
INIT_CONTAINER = "istio-init"
VALIDATION_CONTAINER = "istio-validation"
CORE_DUMP_CONTAINER = "enable-core-dump"
NATIVE_MIN_KUBELET = 33  # auto mode: every node's kubelet >= 1.33


@dataclass(frozen=True)
class Hold:
    """Is the app held until the proxy is ready, and by what."""

    in_effect: bool
    source: str  # where the effective value comes from ("" when nothing asks for it)
    requested: bool  # some source asks for it (even if native sidecars make it moot)
    ignored: str = ""  # why a request has no effect

    def to_json(self) -> dict[str, Any]:
        return {"inEffect": self.in_effect, "source": self.source, "requested": self.requested,
                "ignored": self.ignored}


@dataclass(frozen=True)
class InjectedPod:
    """What the pod looks like after injection: predicted from the template, or read as it is."""

    injected: bool
    predicted: bool  # False: the input is already injected and is read as it is
    placement: str  # "native", "first", "last", "none"
    native_reason: str
    assumed: bool  # the placement rests on an assumption (auto mode, node versions unknown)
    hold: Hold
    post_start_wait: bool  # istio-proxy carries the ``pilot-agent wait`` postStart hook
    init_containers: tuple[str, ...]
    containers: tuple[str, ...]
    iptables: str  # "istio-init", "istio-validation" (CNI) or "" (interception NONE / not injected)
    proxy_config: ProxyConfigAnnotation

    @property
    def native(self) -> bool:
        return self.placement == "native"

    def to_json(self) -> dict[str, Any]:
        return {"injected": self.injected, "predicted": self.predicted, "placement": self.placement,
                "nativeReason": self.native_reason, "assumed": self.assumed, "hold": self.hold.to_json(),
                "postStartWait": self.post_start_wait, "initContainers": list(self.init_containers),
                "containers": list(self.containers), "iptables": self.iptables}


NOT_INJECTED_HOLD = Hold(False, "", False)


def _names(items: Any) -> list[str]:
    return [str(c.get("name")) for c in items or [] if isinstance(c, dict)]


def _native_decision(annotations: dict, settings: InjectorSettings) -> tuple[bool, str, bool]:
    """(native?, why, assumed?) for a pod about to be injected."""
    ann = str(annotations.get(NATIVE_ANNOTATION, "")).lower()
    if ann in ("true", "false") and settings.at_least(NATIVE_ANNOTATION_SINCE):
        return ann == "true", f"pod annotation {NATIVE_ANNOTATION}={ann}", False
    mode = settings.native_mode
    if not settings.at_least(NATIVE_SINCE):
        return False, f"Istio {settings.istio_version[0]}.{settings.istio_version[1]} has no native sidecars", False
    if mode in ("true", "false"):
        return mode == "true", f"native sidecars {mode} ({settings.source})", False
    minors = [parse_version(v) for v in settings.kubelet_versions]
    if not minors:
        return False, ("native sidecars auto, node kubelet versions unknown: classic sidecar assumed "
                       "(--native-sidecars true if every node runs kubelet >= 1.33)"), True
    ok = all(m is not None and m[1] >= NATIVE_MIN_KUBELET for m in minors)
    why = "every node's kubelet is >= 1.33" if ok else "a node's kubelet is older than 1.33"
    return ok, f"native sidecars auto: {why}", False


def _hold(annotation: ProxyConfigAnnotation, mesh_default: Any, settings: InjectorSettings, native: bool,
          mesh_source: str) -> Hold:
    pod_value = annotation.hold
    if pod_value is not None:
        proxy_value, proxy_source = pod_value, f"pod annotation {PROXY_CONFIG_ANNOTATION} ({annotation.form})"
    else:
        proxy_value, proxy_source = mesh_default is True, f"meshConfig.defaultConfig ({mesh_source})"
    if not settings.at_least(HOLD_ANNOTATION_SINCE):
        proxy_value = False
    if proxy_value:
        source = proxy_source
    elif settings.hold_install:
        source = f"install value values.global.proxy.{HOLD_KEY} ({settings.source})"
    else:
        return Hold(False, proxy_source if pod_value is False else "", False)
    if native:
        return Hold(False, source, True, "native sidecars: hold is ignored, the sidecar's startupProbe orders "
                                         "startup instead")
    if settings.lifecycle_waits is False:
        return Hold(False, source, True, "values.global.proxy.lifecycle replaces the pilot-agent wait hook: "
                                         "istio-proxy goes first, but the app does not wait for it")
    return Hold(True, source, True)


def read_injected(pod_meta: dict, pod_spec: dict) -> InjectedPod:
    """An already-injected pod (live, or an injected manifest) as it is."""
    inits = [c for c in pod_spec.get("initContainers") or [] if isinstance(c, dict)]
    containers = [c for c in pod_spec.get("containers") or [] if isinstance(c, dict)]
    proxy = next((c for c in inits if c.get("name") == PROXY_CONTAINER and c.get("restartPolicy") == "Always"), None)
    placement = "native" if proxy else "none"
    if proxy is None:
        for i, c in enumerate(containers):
            if c.get("name") == PROXY_CONTAINER:
                proxy, placement = c, "first" if i == 0 and len(containers) > 1 else "last"
                break
    wait = bool(proxy and _is_wait_hook(proxy))
    annotation = parse_proxy_config(((pod_meta or {}).get("annotations") or {}).get(PROXY_CONFIG_ANNOTATION))
    hold = Hold(wait and placement == "first", "observed: istio-proxy first with the pilot-agent wait hook"
                if wait else "", wait)
    names = _names(inits)
    iptables = next((n for n in (INIT_CONTAINER, VALIDATION_CONTAINER) if n in names), "")
    return InjectedPod(True, False, placement, "already injected (read as it is)", False, hold, wait,
                       tuple(names), tuple(_names(containers)), iptables, annotation)


def predict_injection(pod_meta: dict | None, pod_spec: dict | None, settings: InjectorSettings,
                      mesh_default_config: dict | None = None, mesh_source: str = "Istio defaults") -> InjectedPod:
    """The pod the injector will produce from this template (the caller has decided it is injected)."""
    pod_meta, pod_spec = pod_meta or {}, pod_spec or {}
    if is_injected(pod_meta, pod_spec):
        return read_injected(pod_meta, pod_spec)
    annotations = pod_meta.get("annotations") or {}
    defaults = mesh_default_config or {}
    annotation = parse_proxy_config(annotations.get(PROXY_CONFIG_ANNOTATION))
    native, why, assumed = _native_decision(annotations, settings)
    hold = _hold(annotation, defaults.get(HOLD_KEY), settings, native, mesh_source)
    interception = str(annotations.get(INTERCEPTION_ANNOTATION) or (annotation.config or {}).get("interceptionMode")
                       or defaults.get("interceptionMode") or "REDIRECT").upper()
    iptables = "" if interception == "NONE" else (VALIDATION_CONTAINER if settings.cni else INIT_CONTAINER)
    # a user-supplied istio-proxy (an ``image: auto`` placeholder, or overrides) is merged by name
    user_inits = [n for n in _names(pod_spec.get("initContainers")) if n != PROXY_CONTAINER]
    user_containers = [n for n in _names(pod_spec.get("containers")) if n != PROXY_CONTAINER]
    if native:
        before = [n.strip() for n in str(annotations.get(INIT_BEFORE_PROXY_ANNOTATION, "")).split(",") if n.strip()]
        before = [n for n in dict.fromkeys(before) if n in user_inits]
        rest = [n for n in user_inits if n not in before]
        inits = ([iptables] if iptables else []) + before + [PROXY_CONTAINER] + rest
        containers, placement = user_containers, "native"
    else:
        inits = ([VALIDATION_CONTAINER] if iptables == VALIDATION_CONTAINER else []) + user_inits + \
            ([INIT_CONTAINER] if iptables == INIT_CONTAINER else [])
        first = hold.in_effect or (hold.requested and settings.lifecycle_waits is False)  # the template's $holdProxy
        containers = [PROXY_CONTAINER, *user_containers] if first else [*user_containers, PROXY_CONTAINER]
        placement = "first" if first else "last"
    wait = (hold.in_effect or bool(settings.lifecycle_waits)) and not native
    return InjectedPod(True, True, placement, why, assumed, hold, wait, tuple(inits),
                       tuple(containers), iptables, annotation)


def not_injected(pod_meta: dict | None, mode: MeshMode) -> InjectedPod:
    """A pod that gets no sidecar (ambient, or out of the mesh)."""
    annotation = parse_proxy_config(((pod_meta or {}).get("annotations") or {}).get(PROXY_CONFIG_ANNOTATION))
    placement = "ambient" if mode is MeshMode.AMBIENT else "none"
    return InjectedPod(False, True, placement, f"{mode.value} mode: no sidecar", False, NOT_INJECTED_HOLD, False,
                       (), (), "", annotation)


def injection_of(wl: Workload, mode: MeshMode, settings: InjectorSettings, mesh: MeshConfig) -> InjectedPod:
    """What injection will do (or did) to a workload's pods in data-plane ``mode``, with the install's
    ``settings`` and mesh config: read from an injected pod, predicted otherwise."""
    if is_injected(wl.pod_meta, wl.pod_spec):
        return read_injected(wl.pod_meta, wl.pod_spec)
    if mode is not MeshMode.SIDECAR:
        return not_injected(wl.pod_meta, mode)
    return predict_injection(wl.pod_meta, wl.pod_spec, settings, mesh.get("defaultConfig") or {}, mesh.source)
