"""kubectl meshcheck: find the Istio pitfalls that bite teams new to a service mesh.

This module is the public API, and only it: what rule plugins (bundled and third-party) import.
Anything not named here is internal and may change without notice.

A plugin in four lines::

    from kubectl_meshcheck import Diagnostic, Topic, hookimpl, rule

    @rule(code="ACME101", name="port-prefix-not-approved", topic=Topic.PORTS, targets={"Service"},
          summary="Service port names must start with a protocol ACME's gateways route")
    def port_prefix_not_approved(svc, ctx):
        '''What it checks: ...'''
        ...

    @hookimpl
    def meshcheck_register_rules(register):
        register(port_prefix_not_approved)
"""

from .hookspecs import hookimpl
from .index import Context
from .mesh.apps import Hint, effective_target_port, image_base, resolve_target_port
from .mesh.apps import hints as app_hints
from .mesh.injection import (
    HOLD_KEY,
    NATIVE_ANNOTATION,
    NATIVE_ANNOTATION_SINCE,
    PROXY_CONFIG_ANNOTATION,
    PROXY_CONTAINER,
    SYSTEM_NAMESPACES,
    Hold,
    InjectedPod,
    InjectorSettings,
    ModeDecision,
    ProxyConfigAnnotation,
    auto_image_containers,
    calls_quit,
    forced_mode,
    injection_of,
    injector_webhooks,
    is_injected,
    network_at_start,
    parse_proxy_config,
    parse_version,
    predict_injection,
    selected_by_webhooks,
    settings_of,
    waits_for_sidecar,
)
from .mesh.observed import ContainerState, ObservedPod
from .mesh.protocol import (
    RESERVED_PORTS,
    WELL_KNOWN_TCP_PORTS,
    Handling,
    PortProtocol,
    Protocol,
    Reason,
    canonical_name,
    is_valid_port_name,
    parse_protocol,
    service_port_protocol,
)
from .model import (
    Applicability,
    Diagnostic,
    Finding,
    Fix,
    FixAvailability,
    K8sObject,
    MeshMode,
    ObjectRef,
    Owner,
    PatchOp,
    Rule,
    Severity,
    Status,
    Topic,
    Workload,
    escape_pointer,
    pointer_get,
    rule,
)

__version__ = "0.1.0"

__all__ = [
    "HOLD_KEY",
    "NATIVE_ANNOTATION",
    "NATIVE_ANNOTATION_SINCE",
    "PROXY_CONFIG_ANNOTATION",
    "PROXY_CONTAINER",
    "RESERVED_PORTS",
    "SYSTEM_NAMESPACES",
    "WELL_KNOWN_TCP_PORTS",
    "Applicability",
    "ContainerState",
    "Context",
    "Diagnostic",
    "Finding",
    "Fix",
    "FixAvailability",
    "Handling",
    "Hint",
    "Hold",
    "InjectedPod",
    "InjectorSettings",
    "K8sObject",
    "MeshMode",
    "ModeDecision",
    "ObjectRef",
    "ObservedPod",
    "Owner",
    "PatchOp",
    "PortProtocol",
    "Protocol",
    "ProxyConfigAnnotation",
    "Reason",
    "Rule",
    "Severity",
    "Status",
    "Topic",
    "Workload",
    "__version__",
    "app_hints",
    "auto_image_containers",
    "calls_quit",
    "canonical_name",
    "effective_target_port",
    "escape_pointer",
    "hookimpl",
    "image_base",
    "forced_mode",
    "injection_of",
    "injector_webhooks",
    "is_injected",
    "is_valid_port_name",
    "network_at_start",
    "parse_protocol",
    "parse_proxy_config",
    "parse_version",
    "pointer_get",
    "predict_injection",
    "resolve_target_port",
    "rule",
    "service_port_protocol",
    "selected_by_webhooks",
    "settings_of",
    "waits_for_sidecar",
]
