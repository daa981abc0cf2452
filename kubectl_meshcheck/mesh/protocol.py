"""What protocol Istio uses for a Service port, why, and how the sidecar handles it.

Facts (reference/istio-facts.md §A1-A4, A7; istio/istio pkg/config/kube/conversion.go
``ConvertProtocol`` and pkg/config/protocol/instance.go ``Parse``):

1. L4 ``protocol: UDP`` -> UDP; nothing else is looked at.
2. ``appProtocol``, when set, is used *instead of* the name, even when the name is valid.
   ``kubernetes.io/h2c`` -> HTTP2, ``kubernetes.io/ws`` -> HTTP, ``kubernetes.io/wss`` -> HTTPS
   (Istio >= 1.19); anything else is parsed like a name.
3. A name starting with ``grpc-web`` (any case) -> GRPC-Web.
4. Otherwise the text before the first ``-`` is matched, ignoring case, against tcp, udp, grpc,
   grpc-web, http, http_proxy, http2, https, tls, mongo, redis, mysql. A ``udp`` prefix makes the
   port UDP even when its L4 protocol is TCP (Istio >= 1.6; releases before that kept it TCP).
5. Still unrecognised and the Service *port* (not targetPort) is 25, 53, 3306 or 27017 -> TCP.
   Otherwise: unsupported, i.e. automatic protocol detection (sniffing) for HTTP/1.x and h2c,
   plain TCP for anything else; detection waits for the client's first bytes with no timeout
   (``protocolDetectionTimeout`` 0s since 1.8), so a server-first protocol hangs.

Handling: HTTP/HTTP2/gRPC/gRPC-Web go through Envoy's HTTP connection manager (``http`` speaks
HTTP/1.1 upstream, so a gRPC server behind it breaks); HTTPS/TLS are opaque TLS routed by
IP:port or SNI; TCP/MySQL/Redis are a TCP proxy (the MySQL and Redis filters are off by default);
Mongo adds the Mongo filter (on by default); UDP is not proxied.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Protocol(str, Enum):
    """The protocols Istio recognises on a port (its names, as port-name prefixes and appProtocol)."""

    HTTP = "HTTP"
    HTTP2 = "HTTP2"
    HTTPS = "HTTPS"
    GRPC = "GRPC"
    GRPC_WEB = "GRPC-Web"
    TCP = "TCP"
    TLS = "TLS"
    MONGO = "Mongo"
    REDIS = "Redis"
    MYSQL = "MySQL"
    UDP = "UDP"
    HTTP_PROXY = "HTTP_PROXY"
    UNSUPPORTED = "UnsupportedProtocol"


_PREFIXES = {
    "tcp": Protocol.TCP,
    "udp": Protocol.UDP,
    "grpc": Protocol.GRPC,
    "grpc-web": Protocol.GRPC_WEB,
    "http": Protocol.HTTP,
    "http_proxy": Protocol.HTTP_PROXY,
    "http2": Protocol.HTTP2,
    "https": Protocol.HTTPS,
    "tls": Protocol.TLS,
    "mongo": Protocol.MONGO,
    "redis": Protocol.REDIS,
    "mysql": Protocol.MYSQL,
}
_K8S_APP_PROTOCOLS = {
    "kubernetes.io/h2c": Protocol.HTTP2,
    "kubernetes.io/ws": Protocol.HTTP,
    "kubernetes.io/wss": Protocol.HTTPS,
}
#: Service port numbers that fall back to TCP instead of sniffing
WELL_KNOWN_TCP_PORTS = {25: "SMTP", 53: "DNS", 3306: "MySQL", 27017: "MongoDB"}

HTTP_FAMILY = frozenset({Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB, Protocol.HTTP_PROXY})
TLS_FAMILY = frozenset({Protocol.HTTPS, Protocol.TLS})

#: the sidecar's own ports (application-requirements page; pilot-agent status/server.go)
RESERVED_PORTS = {
    15000: "Envoy admin",
    15001: "Envoy outbound capture",
    15002: "iptables validation probe",
    15004: "agent debug",
    15006: "Envoy inbound capture",
    15008: "HBONE mTLS tunnel",
    15020: "pilot-agent status and merged metrics",
    15021: "Envoy health check",
    15053: "DNS proxy",
    15090: "Envoy Prometheus telemetry",
}


class Reason(str, Enum):
    """Why Istio picked a port's protocol: appProtocol, the name prefix, UDP, or sniffing."""

    L4_UDP = "L4 protocol UDP"
    APP_PROTOCOL = "appProtocol"
    NAME = "port name prefix"
    PORT_NUMBER = "port-number fallback"
    SNIFFED = "unrecognised: sniffing"


class Handling(str, Enum):
    """What the sidecar does with a port of that protocol (the filter chain it builds)."""

    HTTP = "HTTP connection manager"
    TCP = "TCP proxy"
    MONGO = "TCP proxy + Mongo filter"
    TLS = "TLS passthrough (opaque)"
    SNIFF = "protocol sniffing (HTTP, else TCP)"
    NOT_PROXIED = "not proxied"


@dataclass(frozen=True)
class PortProtocol:
    """Istio's verdict on one Service port."""

    protocol: Protocol
    reason: Reason
    source: str  # the text the verdict came from (name, appProtocol value, port number)

    @property
    def sniffed(self) -> bool:
        """No protocol declared that Istio knows: it sniffs the first bytes (HTTP/1.1, HTTP/2, else TCP)."""
        return self.protocol is Protocol.UNSUPPORTED

    @property
    def from_name(self) -> bool:
        """The protocol comes from the port name's prefix (``http-web``), not appProtocol or UDP."""
        return self.reason is Reason.NAME

    @property
    def handling(self) -> Handling:
        return handling(self.protocol)

    def to_json(self) -> dict:
        return {
            "protocol": self.protocol.value,
            "reason": self.reason.value,
            "source": self.source,
            "handling": self.handling.value,
        }


def parse_protocol(text: str | None) -> Protocol:
    """A port name or appProtocol value -> protocol, by Istio's prefix rule (case-insensitive)."""
    if not text:
        return Protocol.UNSUPPORTED
    low = text.lower()
    if low in _K8S_APP_PROTOCOLS:
        return _K8S_APP_PROTOCOLS[low]
    if low.startswith("grpc-web"):
        return Protocol.GRPC_WEB
    return _PREFIXES.get(low.split("-", 1)[0], Protocol.UNSUPPORTED)


def service_port_protocol(port: dict) -> PortProtocol:
    """Istio's protocol for one entry of ``Service.spec.ports`` (ConvertProtocol)."""
    if str(port.get("protocol") or "TCP").upper() == "UDP":
        return PortProtocol(Protocol.UDP, Reason.L4_UDP, "protocol: UDP")
    app = port.get("appProtocol")
    name = port.get("name") or ""
    if app:
        proto = parse_protocol(str(app))
        reason, source = Reason.APP_PROTOCOL, str(app)
    else:
        proto = parse_protocol(name)
        reason, source = Reason.NAME, name
    if proto is Protocol.UNSUPPORTED:
        number = port.get("port")
        if isinstance(number, int) and number in WELL_KNOWN_TCP_PORTS:
            return PortProtocol(Protocol.TCP, Reason.PORT_NUMBER, f"port {number} ({WELL_KNOWN_TCP_PORTS[number]})")
        return PortProtocol(Protocol.UNSUPPORTED, Reason.SNIFFED, source)
    return PortProtocol(proto, reason, source)


def handling(proto: Protocol) -> Handling:
    if proto in HTTP_FAMILY:
        return Handling.HTTP
    if proto in TLS_FAMILY:
        return Handling.TLS
    if proto is Protocol.MONGO:
        return Handling.MONGO
    if proto is Protocol.UDP:
        return Handling.NOT_PROXIED
    if proto is Protocol.UNSUPPORTED:
        return Handling.SNIFF
    return Handling.TCP


def canonical_name(proto: Protocol) -> str:
    """The lowercase keyword to write in a port name or appProtocol for this protocol."""
    return {Protocol.GRPC_WEB: "grpc-web", Protocol.UNSUPPORTED: ""}.get(proto, proto.value.lower())


def is_valid_port_name(name: str) -> bool:
    """A Service port name Kubernetes accepts: a DNS-1123 label of at most 15 characters
    (IANA_SVC_NAME for container ports is stricter; Service port names allow up to 63)."""
    import re

    return bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)) and len(name) <= 63
