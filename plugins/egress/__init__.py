"""Bundled plugin ``egress`` (MC3xx): outbound traffic, ServiceEntries and the outbound policy.

Where a workload connects, whether a ServiceEntry covers it, which outbound policy applies and what
else listens on the port all come from ``ctx.mesh.egress`` (the facts live in ``kubectl_meshcheck.mesh``:
``endpoints``, ``visibility``, ``serviceentries``, ``egress``); these rules judge how bad that is and
propose the fix: for an unregistered external endpoint, a generated ServiceEntry (``workloads.py``);
for a broken ServiceEntry, the smallest change that makes Istio accept it (``serviceentries.py``).
Nothing secret is printed: endpoint texts are redacted.
"""

from __future__ import annotations

from kubectl_meshcheck import hookimpl

from . import serviceentries, workloads


@hookimpl
def meshcheck_register_rules(register):
    for module in (workloads, serviceentries):
        register(module)
