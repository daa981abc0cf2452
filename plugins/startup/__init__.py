"""Bundled plugin ``startup`` (MC2xx): the app racing the sidecar, init containers, Jobs that never
finish, and hold settings that silently do nothing.

What injection will do to each pod (where istio-proxy goes, whether the app is held and by what)
comes from ``ctx.mesh.injection`` (the facts live in ``kubectl_meshcheck.mesh.injection``); these rules
judge whether that fits what the pod's containers do as they start and stop, and rank the fixes:
native sidecars first where the install allows them, then the narrower workaround, then opting out.
The rules live in one module per job (jobs, races, bypass, membership, annotations); this module
registers them all.
"""

# no ``from __future__ import annotations`` here: it would shadow the ``annotations`` module below
from kubectl_meshcheck import hookimpl

from . import annotations, bypass, jobs, membership, races


@hookimpl
def meshcheck_register_rules(register):
    for module in (jobs, races, bypass, membership, annotations):
        register(module)
