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
    "MeshFacts": ".facts",
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
    "Hold": ".mesh.injected_pod",
    "InjectedPod": ".mesh.injected_pod",
    "InjectorSettings": ".mesh.injection",
    "ModeDecision": ".mesh.injection",
    "ProxyConfigAnnotation": ".mesh.injection",
    "auto_image_containers": ".mesh.webhooks",
    "calls_quit": ".mesh.injection",
    "gateway_clue": ".mesh.webhooks",
    "injector_webhooks": ".mesh.webhooks",
    "is_injected": ".mesh.injection",
    "network_at_start": ".mesh.injection",
    "network_in_script": ".mesh.injection",
    "only_moves_files": ".mesh.injection",
    "parse_proxy_config": ".mesh.injection",
    "parse_version": ".mesh.injection",
    "predict_injection": ".mesh.injected_pod",
    "selected_by_webhooks": ".mesh.webhooks",
    "waits_for_sidecar": ".mesh.injection",
    "MtlsMode": ".mesh.mtls",
    "effective_mtls": ".mesh.mtls",
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
    "read_probes": ".mesh.probes",
    "verdict": ".mesh.probes",
    "CIDR_ANNOTATIONS": ".mesh.egress",
    "Capture": ".mesh.egress",
    "Coverage": ".mesh.egress",
    "Endpoint": ".mesh.endpoints",
    "Judged": ".mesh.egress",
    "OutboundPolicy": ".mesh.visibility",
    "WorkloadEgress": ".mesh.egress",
    "cidr_list_problem": ".mesh.egress",
    "auto_allocated": ".mesh.serviceentries",
    "export_to": ".mesh.visibility",
    "generated_service_entry": ".mesh.serviceentries",
    "is_ip": ".mesh.endpoints",
    "outbound_policy": ".mesh.visibility",
    "applicable_sidecar": ".mesh.visibility",
    "imported": ".mesh.visibility",
    "root_namespace": ".mesh.visibility",
    "sidecar_imports": ".mesh.visibility",
    "se_port_protocol": ".mesh.serviceentries",
    "visible_to": ".mesh.visibility",
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
    "TRACE_LOGGING": ".mesh.privileges",
    "CapturePlan": ".mesh.capture",
    "capture_sidecars": ".mesh.privileges",
    "ephemeral_containers": ".mesh.privileges",
    "install_privileged": ".mesh.privileges",
    "proxy_override": ".mesh.privileges",
    "raised_privileges": ".mesh.privileges",
    "trace_logging_on": ".mesh.privileges",
    "unraised": ".mesh.privileges",
    "without_network_powers": ".mesh.privileges",
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
from .redact import redact  # noqa: E402, F401 - public (in __all__)


__version__ = "0.1.0"

#: the public names, from the one map above (plus what is bound eagerly): a name is public because
#: it is in ``_EXPORTS``/``_ALIASES``, nowhere else
__all__ = sorted([*_EXPORTS, *_ALIASES, "redact", "__version__"])
