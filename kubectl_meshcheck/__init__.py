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
from .mesh.injection import SYSTEM_NAMESPACES, ModeDecision
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
    "K8sObject",
    "MeshMode",
    "ModeDecision",
    "ObjectRef",
    "ObservedPod",
    "Owner",
    "PatchOp",
    "PortProtocol",
    "Protocol",
    "Reason",
    "Rule",
    "Severity",
    "Status",
    "Topic",
    "Workload",
    "__version__",
    "app_hints",
    "canonical_name",
    "effective_target_port",
    "escape_pointer",
    "hookimpl",
    "image_base",
    "is_valid_port_name",
    "parse_protocol",
    "pointer_get",
    "resolve_target_port",
    "rule",
    "service_port_protocol",
]
