"""ServiceEntries: their hosts, addresses and ports, auto-allocated VIPs, and the entry generated for a host.

Whether sidecars give an address-less entry an auto-allocated VIP (§C7); the entry generated for
endpoints no ServiceEntry covers.

ServiceEntry ``hosts`` match by Host/SNI (wildcards ``*.x`` by suffix), ``addresses`` (IPs or CIDRs)
by destination IP (reference/istio-facts.md §C2-C4, §C7).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from ..model import K8sObject
from .config import MeshConfig
from .endpoints import Endpoint, is_ip
from .protocol import Protocol, parse_protocol


# -- reading ServiceEntries -------------------------------------------------------------------------


def se_spec(se: K8sObject) -> dict:
    spec = se.data.get("spec")
    return spec if isinstance(spec, dict) else {}


def host_matches(pattern: str, host: str) -> bool:
    """ServiceEntry host matching: exact (case-insensitive) or a ``*.suffix`` wildcard by suffix
    (whether ``*.x`` also matches ``a.b.x`` is source-derived, UNCONFIRMED by experiment)."""
    p, h = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*"):
        return h.endswith(p[1:]) and h != p[2:]
    return p == h


def address_matches(addresses: Iterable[str], ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for a in addresses:
        try:
            if addr in ipaddress.ip_network(str(a), strict=False):
                return True
        except ValueError:
            continue
    return False


def se_ports(se: K8sObject) -> list[dict]:
    return [p for p in se_spec(se).get("ports") or [] if isinstance(p, dict)]


def se_port_protocol(port: dict) -> Protocol:
    """A ServiceEntry port's protocol (empty = sniffed), parsed like a port name (case-insensitive)."""
    return parse_protocol(str(port.get("protocol") or ""))


# -- DNS capture and address auto-allocation (§C7) ----------------------------------------------------

AUTOALLOCATE_OPT_OUT = "networking.istio.io/enable-autoallocate-ip"


def auto_allocated(se: K8sObject, mesh: MeshConfig, istiod_allocates: bool) -> bool:
    """Do sidecars reach this address-less ServiceEntry through an auto-allocated VIP, so its TCP ports
    are no ``0.0.0.0:<port>`` listener taking every connection on the port?

    Sidecars use auto-allocated IPs only with DNS capture on (``ISTIO_META_DNS_CAPTURE``;
    ``nodeUsesAutoallocatedIPs``). Then the agent's v1 allocation (``ISTIO_META_DNS_AUTO_ALLOCATE``)
    gives every such entry one, as istioctl's IST0134 reads it; istiod's v2 allocator
    (``istiod_allocates``: PILOT_ENABLE_IP_AUTOALLOCATE, default on since 1.25) does too, except for
    ``resolution: NONE``, wildcard hosts and entries labelled
    ``networking.istio.io/enable-autoallocate-ip: "false"`` (reference/istio-facts.md §C7). Whether the
    agent's v1 allocation also skips NONE/wildcards is UNCONFIRMED (taken as IST0134 does: it does not)."""
    spec = se_spec(se)
    if spec.get("addresses"):
        return False
    meta = mesh.get("defaultConfig.proxyMetadata") or {}
    if str(meta.get("ISTIO_META_DNS_CAPTURE")).lower() != "true":
        return False
    if str(meta.get("ISTIO_META_DNS_AUTO_ALLOCATE")).lower() == "true":
        return True
    hosts = [h for h in spec.get("hosts") or [] if isinstance(h, str)]
    if str(spec.get("resolution") or "NONE").upper() == "NONE" or any("*" in h for h in hosts) \
            or str(se.labels.get(AUTOALLOCATE_OPT_OUT)).lower() == "false":
        return False
    return istiod_allocates


# -- generated ServiceEntries -----------------------------------------------------------------------

_NAME_BAD = re.compile(r"[^a-z0-9\-]+")


def _dns_label(text: str, limit: int = 63) -> str:
    return _NAME_BAD.sub("-", text.lower()).strip("-")[:limit].rstrip("-") or "x"


def port_name(protocol: Protocol, port: int) -> str:
    """``<protocol>-<number>``: Istio's naming convention, a valid DNS-1123 label."""
    return f"{protocol.value.lower()}-{port}"


def generated_service_entry(eps: list[Endpoint], namespace: str, name_hint: str) -> dict:
    """A ServiceEntry that covers endpoints of one host (same host, several ports merge).

    Names: ``resolution: DNS`` with the host itself; an IP gets a made-up host
    ``<ip-dashed>.external.invalid`` (hosts may not be IPs), ``addresses: [<ip>/32]`` and
    ``resolution: NONE`` (traffic goes to the original IP). Ports: TLS/HTTPS for TLS-first
    protocols, HTTP only for plain HTTP, TCP for the rest. ``exportTo: ["."]`` so it does not
    change other namespaces."""
    host = eps[0].host
    ports: dict[int, dict] = {}
    for ep in eps:
        if ep.port is None or ep.port in ports:
            continue
        ports[ep.port] = {"number": ep.port, "name": port_name(ep.protocol, ep.port), "protocol": ep.protocol.value}
    spec: dict[str, Any] = {}
    if is_ip(host):
        suffix = "/128" if ":" in host else "/32"
        spec["hosts"] = [f"{_dns_label(host.replace(':', '-').replace('.', '-'))}.external.invalid"]
        spec["addresses"] = [host + suffix]
        spec["location"] = "MESH_EXTERNAL"
        spec["resolution"] = "NONE"
    else:
        spec["hosts"] = [host]
        spec["location"] = "MESH_EXTERNAL"
        spec["resolution"] = "DNS"
    spec["ports"] = [ports[k] for k in sorted(ports)]
    spec["exportTo"] = ["."]
    name = _dns_label(f"{name_hint}-{host.replace('.', '-').replace(':', '-')}", 63)
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}
