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
#: Writing a rule: ``rule`` and its vocabulary (``Topic``, ``Severity``, ``Status``, ``Applicability``,
#: ``FixAvailability``); what it judges (``K8sObject``, ``Workload``, ``ObjectRef``, ``MeshMode``,
#: ``Protocol``) through ``Context``; Istio's facts through ``ctx.mesh`` (``MeshFacts``) and Istio's names
#: in ``istio``; what it returns (``Diagnostic``, ``Fix``, ``PatchOp`` and the fix builders); the hooks
#: (``hookimpl``, ``Finding`` and ``Owner`` for the veto and owner hooks); ``redact`` for anything that
#: may hold a secret. The testing harness is the submodule ``kubectl_meshcheck.testing``.
_EXPORTS: dict[str, str] = {
    "rule": ".model",
    "Topic": ".model",
    "Severity": ".model",
    "Status": ".model",
    "Applicability": ".model",
    "FixAvailability": ".model",
    "K8sObject": ".model",
    "Workload": ".model",
    "ObjectRef": ".model",
    "MeshMode": ".model",
    "Protocol": ".mesh.protocol",
    "Context": ".index",
    "MeshFacts": ".facts",
    "Diagnostic": ".model",
    "Fix": ".model",
    "PatchOp": ".model",
    "escape_pointer": ".model",
    "pin_pod_template": ".fixes",
    "pod_metadata_ops": ".fixes",
    "hookimpl": ".hookspecs",
    "Finding": ".model",
    "Owner": ".model",
    "redact_args": ".redact",
}
#: public names that are modules
_MODULES = {"istio": ".istio", "testing": ".testing"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name], __name__)
    if name in _EXPORTS:
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
#: it is in ``_EXPORTS``/``_MODULES``, nowhere else
__all__ = sorted([*_EXPORTS, *_MODULES, "redact", "__version__"])
