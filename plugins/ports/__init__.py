"""Bundled plugin ``ports`` (MC1xx): port names and protocols, and what Istio does with them.

Istio's protocol verdict for every Service port comes from ``ctx.mesh.protocol`` (the facts
live in ``kubectl_meshcheck.mesh.protocol``); these rules only judge whether that verdict fits
the application behind the port, and compute the least disruptive fix: ``appProtocol`` first
(it changes nothing else), renaming second (other objects may refer to the port by name).
The rules live in one module per job (declaration, mismatch, interception); this module registers
every rule they define.
"""

from __future__ import annotations

from kubectl_meshcheck import hookimpl

from . import declaration, interception, mismatch


@hookimpl
def meshcheck_register_rules(register):
    for module in (declaration, mismatch, interception):
        register(module)
