"""Bundled plugin ``startup`` (MC2xx): the app racing the sidecar, init containers, Jobs that never
finish, and hold settings that silently do nothing.

What injection will do to each pod (where istio-proxy goes, whether the app is held and by what)
comes from ``injection_of`` (the facts live in ``kubectl_meshcheck.mesh.injection``); these rules
judge whether that fits what the pod's containers do as they start and stop, and rank the fixes:
native sidecars first where the install allows them, then the narrower workaround, then opting out.
The rules live in one module per job (jobs, races, bypass, membership, annotations); this module
registers them all.
"""

from __future__ import annotations

from kubectl_meshcheck import hookimpl

from .jobs import job_sidecar_never_exits
from .races import (
    app_starts_before_proxy,
    hold_ignored_with_native_sidecar,
    sidecar_wait_loop,
    sidecar_wait_loop_obsolete,
)
from .bypass import app_runs_as_proxy_uid, init_container_network_outside_mesh
from .membership import (
    namespace_conflicting_mesh_labels,
    namespace_not_injected,
    pod_image_auto_not_injected,
    pod_missing_proxy,
    proxy_image_auto_not_injected,
)
from .annotations import (
    istio_annotation_alpha,
    istio_annotation_deprecated,
    istio_annotation_invalid_value,
    istio_annotation_misplaced,
    istio_annotation_unknown,
    pod_annotation_on_controller,
    proxy_config_annotation_invalid,
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
