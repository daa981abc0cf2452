"""The shapes of the fields meshcheck reads, checked on objects from files.

The API server refuses an object whose fields have the wrong type (``containerPort: "8080"``,
``annotations: [a, b]``, an unquoted ``sidecar.istio.io/inject: true``), so live objects always have
these shapes. Files do not: such an object is reported as one line naming the file, the line, the
object and the field (exit code 3), and is left out instead of making rules fail on it. Only the
fields rules read are described; anything else is not checked. ``null`` counts as absent, as it does
for the API server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..index import TEMPLATE_PATHS
from ..model import escape_pointer

STRMAP = "a map of strings"
INT_OR_STR = "an integer or a string"
_NAMES = {str: "a string", int: "an integer", bool: "a boolean (true or false)", dict: "a map", list: "a list"}

_PROBE = {"httpGet": {"path": str, "port": INT_OR_STR, "host": str, "scheme": str, "httpHeaders": [dict]},
          "tcpSocket": {"port": INT_OR_STR, "host": str}, "grpc": {"port": int, "service": str},
          "exec": {"command": [str]}}
_CONTAINER = {
    "name": str, "image": str, "command": [str], "args": [str], "restartPolicy": str,
    "env": [{"name": str, "value": str, "valueFrom": dict}], "envFrom": [dict],
    "ports": [{"containerPort": int, "name": str, "protocol": str}],
    "readinessProbe": _PROBE, "livenessProbe": _PROBE, "startupProbe": _PROBE,
    "lifecycle": {"postStart": dict, "preStop": dict},
    "securityContext": {"runAsUser": int, "runAsGroup": int, "privileged": bool, "allowPrivilegeEscalation": bool,
                        "capabilities": {"add": [str], "drop": [str]}},
    "volumeMounts": [{"name": str, "mountPath": str, "subPath": str}],
}
_META = {"labels": STRMAP, "annotations": STRMAP, "uid": str, "namespace": str,
         "ownerReferences": [{"kind": str, "name": str, "uid": str, "controller": bool}]}
_STATUS = {"name": str, "ready": bool, "started": bool, "restartCount": int, "image": str,
           "state": {"waiting": dict, "running": dict, "terminated": dict},
           "lastState": {"waiting": dict, "running": dict, "terminated": dict}}
_POD_STATUS = {"phase": str, "containerStatuses": [_STATUS], "initContainerStatuses": [_STATUS],
               "ephemeralContainerStatuses": [_STATUS], "conditions": [{"type": str, "status": str}]}
_POD = {"metadata": _META, "status": _POD_STATUS, "spec": {"containers": [_CONTAINER], "initContainers": [_CONTAINER],
                                    "ephemeralContainers": [_CONTAINER], "volumes": [dict], "hostNetwork": bool,
                                    "securityContext": {"runAsUser": int, "runAsGroup": int}}}
_ISTIO = {"spec": dict}
SHAPES: dict[str, Any] = {
    "Service": {"spec": {"ports": [{"port": int, "name": str, "targetPort": INT_OR_STR, "protocol": str,
                                    "appProtocol": str}], "selector": STRMAP, "type": str, "clusterIP": str}},
    "Namespace": {},
    "ConfigMap": {"data": STRMAP},
    "ServiceEntry": {"spec": {"hosts": [str], "addresses": [str], "exportTo": [str], "resolution": str,
                              "location": str, "endpoints": [dict],
                              "ports": [{"number": int, "name": str, "protocol": str}]}},
    "Sidecar": {"spec": {"workloadSelector": {"labels": STRMAP}, "egress": [{"hosts": [str]}],
                         "outboundTrafficPolicy": dict}},
    "VirtualService": {"spec": {"hosts": [str], "gateways": [str], "exportTo": [str], "http": [dict],
                                "tls": [dict], "tcp": [dict]}},
    "DestinationRule": {"spec": {"host": str, "exportTo": [str], "trafficPolicy": dict}},
    "PeerAuthentication": {"spec": {"selector": {"matchLabels": STRMAP}, "mtls": dict, "portLevelMtls": dict}},
}


def _nest(pointer: str, leaf: dict) -> dict:
    for part in reversed([p for p in pointer.split("/") if p]):
        leaf = {part: leaf}
    return leaf


for _kind, _pointer in TEMPLATE_PATHS.items():
    SHAPES[_kind] = _nest(_pointer, _POD) if _pointer else _POD
for _kind in ("ServiceEntry", "Sidecar", "VirtualService", "DestinationRule", "PeerAuthentication"):
    SHAPES[_kind] = {**_ISTIO, **SHAPES[_kind]}


def _type_name(value: Any) -> str:
    return "null" if value is None else _NAMES.get(type(value), type(value).__name__).split(" (")[0]


def _check(value: Any, shape: Any, path: str) -> tuple[str, str] | None:
    if value is None:
        return None
    if shape == STRMAP:
        if not isinstance(value, dict):
            return path, f"must be {STRMAP}, not {_type_name(value)}"
        for k, v in value.items():
            if v is not None and not isinstance(v, str):
                hint = f" (quote it: \"{str(v).lower() if isinstance(v, bool) else v}\")" if isinstance(
                    v, (bool, int, float)) else ""
                return f"{path}/{escape_pointer(str(k))}", f"must be a string, not {_type_name(v)}{hint}"
        return None
    if shape == INT_OR_STR:
        ok = isinstance(value, (int, str)) and not isinstance(value, bool)
        return None if ok else (path, f"must be {INT_OR_STR}, not {_type_name(value)}")
    if isinstance(shape, list):
        if not isinstance(value, list):
            return path, f"must be a list, not {_type_name(value)}"
        for i, item in enumerate(value):
            found = _check(item, shape[0], f"{path}/{i}")
            if found:
                return found
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return path, f"must be a map, not {_type_name(value)}"
        for key, sub in shape.items():
            found = _check(value.get(key), sub, f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(value, bool) and shape is not bool or not isinstance(value, shape):
        return path, f"must be {_NAMES[shape]}, not {_type_name(value)}"
    return None


def _compile(shape: Any) -> Callable[[Any], bool]:
    """A test that a value has ``shape``: True only when ``_check`` finds nothing (exact types, no paths
    built), so well-formed objects cost one pass; False sends the object to ``_check`` for the message."""
    if shape == STRMAP:
        def strmap(v: Any) -> bool:
            if v is None:
                return True
            if type(v) is not dict:
                return False
            for x in v.values():  # noqa: SIM110 - a loop: all() over a generator is slower here
                if x is not None and type(x) is not str:
                    return False
            return True
        return strmap
    if shape == INT_OR_STR:
        return lambda v: v is None or type(v) is int or type(v) is str
    if isinstance(shape, list):
        item = _compile(shape[0])

        def each(v: Any) -> bool:
            if v is None:
                return True
            if type(v) is not list:
                return False
            for x in v:  # noqa: SIM110 - a loop: all() over a generator is slower here
                if x is not None and not item(x):
                    return False
            return True
        return each
    if isinstance(shape, dict):
        fields = [(key, _compile(sub)) for key, sub in shape.items()]

        def mapping(v: Any) -> bool:
            if v is None:
                return True
            if type(v) is not dict:
                return False
            for key, ok in fields:
                x = v.get(key)
                if x is not None and not ok(x):
                    return False
            return True
        return mapping
    return lambda v: v is None or type(v) is shape


_WELL_FORMED = {kind: _compile({"metadata": _META, **shape}) for kind, shape in SHAPES.items()}


def shape_problem(doc: dict, kind: str) -> tuple[str, str] | None:
    """(JSON Pointer, what is wrong) for the first field meshcheck reads that has the wrong type."""
    shape = SHAPES.get(kind)
    if shape is None or _WELL_FORMED[kind](doc):
        return None
    return _check(doc.get("metadata"), _META, "/metadata") or _check(doc, shape, "")


def display_path(pointer: str) -> str:
    """``/spec/ports/0/port`` -> ``spec.ports[0].port`` (the way kubectl names fields)."""
    out = ""
    for part in (p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/") if p):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out
