"""Istio's own names, as Istio spells them: annotation keys, containers, ports, environment variables.

Names, not facts: what Istio *does* with an object is :class:`kubectl_meshcheck.MeshFacts`
(``ctx.mesh``). Use these instead of retyping the strings, so a rule and the facts it reads never
disagree on a key. ``from kubectl_meshcheck import istio`` then ``istio.PROXY_CONTAINER``.
"""

from .mesh import annotations as _annotations
from .mesh import egress as _egress
from .mesh import injection as _injection
from .mesh import privileges as _privileges
from .mesh import probes as _probes
from .mesh import protocol as _protocol

#: the sidecar container's name (``istio-proxy``), in ``containers`` or, native, in ``initContainers``
PROXY_CONTAINER = _injection.PROXY_CONTAINER
#: the pod annotation holding a ProxyConfig override (``proxy.istio.io/config``)
PROXY_CONFIG_ANNOTATION = _injection.PROXY_CONFIG_ANNOTATION
#: the ProxyConfig field that holds the app until the proxy is ready (``holdApplicationUntilProxyStarts``)
HOLD_KEY = _injection.HOLD_KEY
#: the pod annotation choosing native or classic sidecars (``sidecar.istio.io/nativeSidecar``)
NATIVE_ANNOTATION = _injection.NATIVE_ANNOTATION
#: the Istio version (major, minor) since which :data:`NATIVE_ANNOTATION` is read
NATIVE_ANNOTATION_SINCE = _injection.NATIVE_ANNOTATION_SINCE
#: namespaces the injector never injects (kube-system, kube-public...)
SYSTEM_NAMESPACES = _injection.SYSTEM_NAMESPACES
#: the pod annotation that turns probe rewriting on or off (``sidecar.istio.io/rewriteAppHTTPProbers``)
REWRITE_ANNOTATION = _probes.REWRITE_ANNOTATION
#: the pod annotation listing inbound ports left out of capture
EXCLUDE_INBOUND_ANNOTATION = _probes.EXCLUDE_INBOUND_ANNOTATION
#: the agent's environment variable carrying the rewritten probes (``ISTIO_KUBE_APP_PROBERS``)
PROBERS_ENV = _probes.PROBERS_ENV
#: the agent's status port, where rewritten probes go (15020)
STATUS_PORT = _probes.STATUS_PORT
#: ports of the sidecar itself: a probe aimed at them checks Istio, not the app
ISTIO_PORTS = _probes.ISTIO_PORTS
#: the ports the sidecar reserves, with what each is for (number -> purpose)
RESERVED_PORTS = _protocol.RESERVED_PORTS
#: the pod annotations whose CIDR lists the injector parses (include/exclude outbound IP ranges)
CIDR_ANNOTATIONS = _egress.CIDR_ANNOTATIONS
#: the proxyMetadata key that makes istio-init log every packet (``IPTABLES_TRACE_LOGGING``)
TRACE_LOGGING = _privileges.TRACE_LOGGING
#: every annotation Istio knows: key -> its kinds, values, status (from istio/api's annotations)
ANNOTATIONS = _annotations.ANNOTATIONS

__all__ = ["ANNOTATIONS", "CIDR_ANNOTATIONS", "EXCLUDE_INBOUND_ANNOTATION", "HOLD_KEY", "ISTIO_PORTS",
           "NATIVE_ANNOTATION", "NATIVE_ANNOTATION_SINCE", "PROBERS_ENV", "PROXY_CONFIG_ANNOTATION",
           "PROXY_CONTAINER", "RESERVED_PORTS", "REWRITE_ANNOTATION", "STATUS_PORT", "SYSTEM_NAMESPACES",
           "TRACE_LOGGING"]
