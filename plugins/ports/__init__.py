"""Bundled plugin ``ports`` (MC1xx): port names and protocols, and what Istio does with them.

Istio's protocol verdict for every Service port comes from ``service_port_protocol`` (the facts
live in ``kubectl_meshcheck.mesh.protocol``); these rules only judge whether that verdict fits
the application behind the port, and compute the least disruptive fix: ``appProtocol`` first
(it changes nothing else), renaming second (other objects may refer to the port by name).
The rules live in one module per job (declaration, mismatch, interception); this module registers
them all.
"""

from __future__ import annotations

from kubectl_meshcheck import hookimpl

from .declaration import app_protocol_not_recognised, port_protocol_not_declared, target_port_protocol_conflict
from .mismatch import (
    grpc_port_declared_http,
    http_declared_for_tcp_app,
    server_first_protocol_sniffed,
    tls_port_declared_http,
)
from .interception import externalname_port_captures_all, istio_reserved_port, udp_port_not_proxied


RULES = (
    port_protocol_not_declared,
    app_protocol_not_recognised,
    target_port_protocol_conflict,
    tls_port_declared_http,
    server_first_protocol_sniffed,
    externalname_port_captures_all,
    grpc_port_declared_http,
    http_declared_for_tcp_app,
    udp_port_not_proxied,
    istio_reserved_port,
)


@hookimpl
def meshcheck_register_rules(register):
    for r in RULES:
        register(r)
