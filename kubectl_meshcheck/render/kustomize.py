"""``-o kustomize``: the fixes as a ready kustomize directory, printed as a shell script that writes it.

``kubectl meshcheck -f app.yaml -o kustomize | sh`` leaves ``meshcheck-fixes/``:

- ``kustomization.yaml``: ``resources: [resources.yaml, <created objects>]`` and one ``patches`` entry
  per fix (a ``target`` naming the object, a JSON 6902 patch file whose ``test`` ops make kustomize
  refuse an input that changed since);
- ``resources.yaml``: the input this run read (files or stdin), so ``kubectl kustomize meshcheck-fixes``
  renders the fixed objects at once;
- ``post-renderer.sh``: for Helm (``helm upgrade ... --post-renderer ./meshcheck-fixes/post-renderer.sh``),
  it replaces resources.yaml with the chart's rendered output and runs ``kubectl kustomize``, so the
  fixes survive every upgrade of a chart you cannot change. Commit the directory.

The same fixes as ``--fix`` are used (verified, safe unless ``--unsafe-fixes``), owned objects included:
this is the form that survives their owner.
"""

from __future__ import annotations

import shlex

from ..fixes import created_objects, kustomize_patch
from ..model import Finding

DIRECTORY = "meshcheck-fixes"
POST_RENDERER = """#!/bin/sh
# Helm post-renderer: helm upgrade ... --post-renderer ./meshcheck-fixes/post-renderer.sh
# Helm's rendered manifests arrive on stdin; the fixes in kustomization.yaml are applied to them.
set -e
cd "$(dirname "$0")"
cat > resources.yaml
exec kubectl kustomize .
"""


def kustomize_files(findings: list[Finding], loaded, unsafe: bool) -> dict[str, str]:
    """File name (relative to the directory) -> content."""
    import yaml

    from ..fix_files import yaml_document
    from ..fix_sources import choose

    chosen, _ = choose(findings, unsafe)
    files: dict[str, str] = {}
    patches, resources = [], ["resources.yaml"]
    merged = created_objects(fx for _, fx in chosen)
    made: set[tuple[str, str, str]] = set()
    for n, (f, fx) in enumerate(chosen, 1):
        for part in fx.parts():
            t = part.target
            if part.created is not None:
                if t.key in made:
                    continue
                made.add(t.key)
                name = f"created/{t.kind.lower()}-{(t.namespace + '-') if t.namespace else ''}{t.name}.yaml"
                files[name] = yaml_document(merged[t.key], f"{f.code} {f.object.display()}: {fx.title}").decode()
                resources.append(name)
                continue
            entry = kustomize_patch(part, f"{f.code} {f.object.display()} ({f.location}): {fx.title}")
            name = f"patches/{n:03d}-{t.kind.lower()}-{t.name}.yaml"
            files[name] = entry["patch"]
            patches.append({"path": name, "target": entry["target"]})
    sources = getattr(loaded, "sources", {}) or {}
    stream = []
    for src in sources.values():
        text = src.data.decode("utf-8")
        if stream and not stream[-1].endswith("\n"):
            stream[-1] += "\n"
        stream.append(text if not stream or text.lstrip().startswith("---") else "---\n" + text)
    files["resources.yaml"] = "".join(stream)
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": resources}
    if patches:
        kustomization["patches"] = patches
    head = ("# Fixes from kubectl meshcheck, verified offline. Render: kubectl kustomize .\n"
            "# Helm: helm upgrade ... --post-renderer ./post-renderer.sh\n")
    files["kustomization.yaml"] = head + yaml.safe_dump(kustomization, sort_keys=False, default_flow_style=False)
    files["post-renderer.sh"] = POST_RENDERER
    return files


def render_kustomize(findings: list[Finding], loaded, unsafe: bool, directory: str = DIRECTORY) -> str:
    """A shell script that writes the directory (review it, then pipe it to ``sh``)."""
    files = kustomize_files(findings, loaded, unsafe)
    out = ["#!/bin/sh", f"# kubectl meshcheck -o kustomize: writes {directory}/ (a kustomization with the fixes as",
           "# patches). Review, then run with sh; commit the directory.", "set -e"]
    for name in sorted({n.rpartition("/")[0] for n in files if "/" in n}):
        out.append(f"mkdir -p {shlex.quote(f'{directory}/{name}')}")
    out.append(f"mkdir -p {shlex.quote(directory)}")
    for name, content in files.items():
        marker = "MESHCHECK_EOF"
        while marker in content:
            marker += "_"
        body = content if content.endswith("\n") or not content else content + "\n"
        out.append(f"cat > {shlex.quote(f'{directory}/{name}')} <<'{marker}'\n{body}{marker}")
    out.append(f"chmod +x {shlex.quote(f'{directory}/post-renderer.sh')}")
    return "\n".join(out) + "\n"
