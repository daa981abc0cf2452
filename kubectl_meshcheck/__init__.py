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

import importlib
from typing import Any

#: public name -> the module that defines it. Resolved on first use (PEP 562), so `kubectl meshcheck
#: --help` and the CLI's start-up do not import every topic's facts (regexes, jsonpatch...).
_EXPORTS: dict[str, str] = {
    "pin_pod_template": ".fixes",
    "pod_metadata_ops": ".fixes",
    "hookimpl": ".hookspecs",
    "Context": ".index",
    "Hint": ".mesh.apps",
    "effective_target_port": ".mesh.apps",
    "image_base": ".mesh.apps",
    "resolve_target_port": ".mesh.apps",
    "HOLD_KEY": ".mesh.injection",
    "NATIVE_ANNOTATION": ".mesh.injection",
    "NATIVE_ANNOTATION_SINCE": ".mesh.injection",
    "PROXY_CONFIG_ANNOTATION": ".mesh.injection",
    "PROXY_CONTAINER": ".mesh.injection",
    "SYSTEM_NAMESPACES": ".mesh.injection",
    "Hold": ".mesh.injection",
    "InjectedPod": ".mesh.injection",
    "InjectorSettings": ".mesh.injection",
    "ModeDecision": ".mesh.injection",
    "ProxyConfigAnnotation": ".mesh.injection",
    "auto_image_containers": ".mesh.injection",
    "calls_quit": ".mesh.injection",
    "forced_mode": ".mesh.injection",
    "injection_of": ".mesh.injection",
    "injector_webhooks": ".mesh.injection",
    "is_injected": ".mesh.injection",
    "network_at_start": ".mesh.injection",
    "parse_proxy_config": ".mesh.injection",
    "parse_version": ".mesh.injection",
    "predict_injection": ".mesh.injection",
    "selected_by_webhooks": ".mesh.injection",
    "settings_of": ".mesh.injection",
    "waits_for_sidecar": ".mesh.injection",
    "MtlsMode": ".mesh.mtls",
    "effective_mtls": ".mesh.mtls",
    "mtls_of": ".mesh.mtls",
    "ContainerState": ".mesh.observed",
    "ObservedPod": ".mesh.observed",
    "EXCLUDE_INBOUND_ANNOTATION": ".mesh.probes",
    "ISTIO_PORTS": ".mesh.probes",
    "PROBERS_ENV": ".mesh.probes",
    "REWRITE_ANNOTATION": ".mesh.probes",
    "STATUS_PORT": ".mesh.probes",
    "PodProbes": ".mesh.probes",
    "ProbePlan": ".mesh.probes",
    "Verdict": ".mesh.probes",
    "inbound_captured": ".mesh.probes",
    "predict_probes": ".mesh.probes",
    "probes_of": ".mesh.probes",
    "read_probes": ".mesh.probes",
    "verdict": ".mesh.probes",
    "CIDR_ANNOTATIONS": ".mesh.egress",
    "Capture": ".mesh.egress",
    "Coverage": ".mesh.egress",
    "Endpoint": ".mesh.egress",
    "Judged": ".mesh.egress",
    "OutboundPolicy": ".mesh.egress",
    "WorkloadEgress": ".mesh.egress",
    "cidr_list_problem": ".mesh.egress",
    "egress_of": ".mesh.egress",
    "export_to": ".mesh.egress",
    "generated_service_entry": ".mesh.egress",
    "is_ip": ".mesh.egress",
    "outbound_policy": ".mesh.egress",
    "applicable_sidecar": ".mesh.egress",
    "imported": ".mesh.egress",
    "root_namespace": ".mesh.egress",
    "sidecar_imports": ".mesh.egress",
    "se_port_protocol": ".mesh.egress",
    "visible_to": ".mesh.egress",
    "ANNOTATIONS": ".mesh.annotations",
    "alpha_reported": ".mesh.annotations",
    "annotation_value_problem": ".mesh.annotations",
    "closest_annotation": ".mesh.annotations",
    "corrected_annotation_value": ".mesh.annotations",
    "is_istio_annotation": ".mesh.annotations",
    "RESERVED_PORTS": ".mesh.protocol",
    "WELL_KNOWN_TCP_PORTS": ".mesh.protocol",
    "Handling": ".mesh.protocol",
    "PortProtocol": ".mesh.protocol",
    "Protocol": ".mesh.protocol",
    "Reason": ".mesh.protocol",
    "canonical_name": ".mesh.protocol",
    "is_valid_port_name": ".mesh.protocol",
    "parse_protocol": ".mesh.protocol",
    "service_port_protocol": ".mesh.protocol",
    "Applicability": ".model",
    "Diagnostic": ".model",
    "Finding": ".model",
    "Fix": ".model",
    "FixAvailability": ".model",
    "K8sObject": ".model",
    "MeshMode": ".model",
    "ObjectRef": ".model",
    "Owner": ".model",
    "PatchOp": ".model",
    "Rule": ".model",
    "Severity": ".model",
    "Status": ".model",
    "Topic": ".model",
    "Workload": ".model",
    "escape_pointer": ".model",
    "pointer_get": ".model",
    "rule": ".model",
    "MASK": ".redact",
    "is_secret_name": ".redact",
    "redact_args": ".redact",
    "redact_env": ".redact",
}
#: public names that are another name in their module
_ALIASES: dict[str, tuple[str, str]] = {
    "app_hints": (".mesh.apps", "hints"),
}


def __getattr__(name: str) -> Any:
    if name in _ALIASES:
        module, attr = _ALIASES[name]
    elif name in _EXPORTS:
        module, attr = _EXPORTS[name], name
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value  # next time a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# A name that is also a submodule's would be shadowed by the submodule once anything imports it:
# bind the function now (a small module).
from .redact import redact  # noqa: E402


__version__ = "0.1.0"

__all__ = [
    "ANNOTATIONS",
    "alpha_reported",
    "annotation_value_problem",
    "closest_annotation",
    "corrected_annotation_value",
    "is_istio_annotation",
    "CIDR_ANNOTATIONS",
    "MASK",
    "Capture",
    "Coverage",
    "Endpoint",
    "Judged",
    "OutboundPolicy",
    "WorkloadEgress",
    "cidr_list_problem",
    "egress_of",
    "export_to",
    "generated_service_entry",
    "is_ip",
    "is_secret_name",
    "outbound_policy",
    "applicable_sidecar",
    "imported",
    "root_namespace",
    "sidecar_imports",
    "redact",
    "redact_args",
    "redact_env",
    "se_port_protocol",
    "visible_to",
    "EXCLUDE_INBOUND_ANNOTATION",
    "HOLD_KEY",
    "ISTIO_PORTS",
    "NATIVE_ANNOTATION",
    "NATIVE_ANNOTATION_SINCE",
    "PROXY_CONFIG_ANNOTATION",
    "PROBERS_ENV",
    "PROXY_CONTAINER",
    "RESERVED_PORTS",
    "REWRITE_ANNOTATION",
    "STATUS_PORT",
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
    "MtlsMode",
    "ObjectRef",
    "ObservedPod",
    "Owner",
    "PatchOp",
    "PodProbes",
    "PortProtocol",
    "ProbePlan",
    "Protocol",
    "ProxyConfigAnnotation",
    "Reason",
    "Rule",
    "Severity",
    "Status",
    "Topic",
    "Verdict",
    "Workload",
    "__version__",
    "app_hints",
    "auto_image_containers",
    "calls_quit",
    "canonical_name",
    "effective_mtls",
    "effective_target_port",
    "escape_pointer",
    "hookimpl",
    "image_base",
    "inbound_captured",
    "forced_mode",
    "injection_of",
    "injector_webhooks",
    "is_injected",
    "is_valid_port_name",
    "mtls_of",
    "network_at_start",
    "parse_protocol",
    "pin_pod_template",
    "pod_metadata_ops",
    "parse_proxy_config",
    "parse_version",
    "pointer_get",
    "predict_injection",
    "predict_probes",
    "probes_of",
    "read_probes",
    "resolve_target_port",
    "rule",
    "service_port_protocol",
    "selected_by_webhooks",
    "settings_of",
    "verdict",
    "waits_for_sidecar",
]
