"""``kubectl meshcheck version``: what a bug report needs to reproduce a run.

The tool's version, the Python running it, the ``kubernetes`` client (read from its metadata, not
imported: that costs 0.3 s), the newest Istio release whose behaviour the rules model (the highest
``*_SINCE`` version gate in ``mesh/``; unknown installs are read as that behaviour), and every
plugin with its version and status.
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__

def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def newest_istio_behaviour() -> dict[str, Any]:
    """The highest release any ``<NAME>_SINCE = (major, minor)`` gate in ``mesh/`` names, and which gate."""
    from . import mesh

    best: tuple[tuple[int, int], str] | None = None
    for mod_name in sorted(m.name for m in pkgutil.iter_modules(mesh.__path__)):
        try:
            mod = importlib.import_module(f".mesh.{mod_name}", __package__)
        except ImportError:
            continue
        for name, value in vars(mod).items():
            if name.endswith("_SINCE") and isinstance(value, tuple) and len(value) == 2 and \
                    all(isinstance(x, int) for x in value) and (best is None or value > best[0]):
                best = (value, f"{mod_name}.{name}")
    if best is None:
        return {"version": None, "gate": None}
    return {"version": f"{best[0][0]}.{best[0][1]}", "gate": best[1]}


def report(host) -> dict[str, Any]:
    return {
        "meshcheck": __version__,
        "location": str(Path(__file__).resolve().parent),  # which copy runs: pip's, krew's, a checkout
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "kubernetesClient": _dist_version("kubernetes"),
        "istioBehaviour": {**newest_istio_behaviour(),
                           "note": "installs of unknown version are read as this behaviour (--istio-version X.Y "
                                   "predicts an older one)"},
        "plugins": [{"name": i.name, "version": i.version or None, "origin": i.origin, "status": i.status,
                     "rules": i.rules} for i in host.infos],
    }


def text(doc: dict[str, Any]) -> str:
    py = doc["python"]
    istio = doc["istioBehaviour"]
    lines = [f"kubectl meshcheck {doc['meshcheck']} ({doc['location']})",
             f"Python {py['version']} ({py['implementation']}, {py['executable']})",
             f"kubernetes client {doc['kubernetesClient'] or 'not installed'}",
             f"Istio behaviour modelled up to {istio['version'] or 'unknown'} ({istio['gate'] or '-'}); "
             f"{istio['note']}",
             "plugins:"]
    for p in doc["plugins"]:
        lines.append(f"  {p['name']} {p['version'] or '-'} ({p['origin']}, {p['status']}, {p['rules']} rules)")
    return "\n".join(lines)
