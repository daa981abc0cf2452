"""Objects from manifests: files, directories, stdin and ``kubectl kustomize`` output.

Multi-document YAML and JSON, ``kind: List`` and ``*List``, Helm-rendered output (comments,
``---``, empty documents). YAML that is not a Kubernetes object (a values file, a kustomize patch,
a CRD schema fragment) is skipped with a note. A broken document is reported with its file, line
and column, and every other document is still analysed.
"""

from __future__ import annotations

import bisect
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import K8sObject, ObjectRef
from . import yamlfast
from .shape import display_path, shape_problem

EXTENSIONS = (".yaml", ".yml", ".json")
#: kinds without a namespace (the API server's cluster-scoped resources that manifests carry); every
#: other kind, custom ones included, is namespaced, as ``kubectl apply`` finds them by discovery
CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding", "APIService", "PriorityClass", "IngressClass", "RuntimeClass",
    "CSIDriver", "CSINode", "VolumeAttachment", "CertificateSigningRequest", "FlowSchema",
    "PriorityLevelConfiguration", "ComponentStatus", "GatewayClass", "ClusterIssuer", "PodSecurityPolicy",
    "IPAddress", "ServiceCIDR", "DeviceClass",
})


@dataclass
class LoadResult:
    objects: list[K8sObject] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # unreadable input: exit code 3
    notes: list[str] = field(default_factory=list)  # skipped documents, said once each
    files: int = 0
    #: the namespace of namespaced objects that name none (``-n``, else the kubeconfig's, else
    #: ``default``: what ``kubectl apply -f`` does); None keeps them namespace-less
    default_namespace: str | None = None
    #: origin -> the stream as read, for writing fixes back (--fix) and refusing files changed since
    sources: dict[str, _Source] = field(default_factory=dict)


class _Source:
    """One file's bytes, kept so field lines can be computed later for documents with findings, and so
    ``--fix`` can edit exactly the documents it changes."""

    __slots__ = ("_firsts", "_spans", "data", "format")

    def __init__(self, data: bytes, format: str = "yaml"):
        self.data = data
        self.format = format  # "json" or "yaml": a fix is written back in the file's own format
        self._spans: list[tuple[int, int, int]] | None = None
        self._firsts: list[int] = []

    def span(self, doc_line: int) -> tuple[int, int, int] | None:
        """(start, end, first line) of the document whose content starts at ``doc_line``."""
        if self._spans is None:
            self._spans = yamlfast.split_documents(self.data)
            self._firsts = [first for _, _, first in self._spans]
        i = bisect.bisect_right(self._firsts, doc_line) - 1
        return self._spans[i] if i >= 0 else None

    def line_map(self, doc_line: int) -> Callable[[str], int | None]:
        """The line of a field (or of its nearest parent) of the document starting at ``doc_line``: read off
        the block YAML text where it can be (``yamlfast.BlockLines``), from the composed document otherwise."""
        answers: dict[str, int | None] = {}
        composed: dict[str, int] = {}
        block: list[yamlfast.BlockLines | None] = []

        def line_of(pointer: str) -> int | None:
            if pointer in answers:
                return answers[pointer]
            if not block:
                block.append(self._block(doc_line))
            got = block[0].line(pointer) if block[0] is not None and not composed else None
            if got is None:
                if not composed:
                    composed.update(self._compose(doc_line))
                p = pointer
                while p and p not in composed:
                    p = p.rsplit("/", 1)[0]
                got = composed[p] if p else composed.get("", doc_line)
            answers[pointer] = got
            return got

        return line_of

    def _block(self, doc_line: int) -> yamlfast.BlockLines | None:
        span = self.span(doc_line) if self.format == "yaml" else None
        if span is None:
            return None
        start, end, first = span
        try:
            return yamlfast.BlockLines(self.data[start:end].decode("utf-8"), first)
        except UnicodeDecodeError:
            return None

    def _compose(self, doc_line: int) -> dict[str, int]:
        span = self.span(doc_line)
        if span is None:
            return {"": doc_line}
        start, end, first = span
        try:
            return yamlfast.compose_lines(self.data[start:end], offset=first - 1)
        except yamlfast.YAMLError:
            return {"": doc_line}


def _is_json_patch(doc: Any) -> bool:
    return isinstance(doc, list) and bool(doc) and all(isinstance(d, dict) and "op" in d and "path" in d for d in doc)


def _objects_from_doc(
    doc: Any, where: str, origin_file: str, line: int | None, src: _Source | None, out: LoadResult,
    pointer: str = "",
) -> None:
    if doc is None:
        return
    if not isinstance(doc, dict):
        if _is_json_patch(doc):
            out.notes.append(f"{where}: skipped: a JSON patch, not a Kubernetes object")
        else:
            out.errors.append(f"{where}: document is a {type(doc).__name__}, not a mapping (a Kubernetes object)")
        return
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if not api and not kind:
        out.notes.append(f"{where}: skipped: not a Kubernetes object (no apiVersion or kind)")
        return
    if not isinstance(kind, str) or not kind:
        out.errors.append(f"{where}: object has apiVersion {api!r} but no kind")
        return
    if not isinstance(api, str) or not api:
        out.errors.append(f"{where}: {kind} has no apiVersion")
        return
    if str(api).startswith("kustomize.config.k8s.io/"):
        out.notes.append(f"{where}: skipped: {kind} is kustomize configuration (use -k DIR to render it)")
        return
    if kind == "List" or (kind.endswith("List") and isinstance(doc.get("items"), list)):
        for i, item in enumerate(doc.get("items") or []):
            _objects_from_doc(item, f"{where} items[{i}]", origin_file, line, src, out, f"{pointer}/items/{i}")
        return
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        out.errors.append(f"{where}: {kind} has no metadata")
        return
    name = meta.get("name") or meta.get("generateName")
    if not isinstance(name, str) or not name:
        out.errors.append(f"{where}: {kind} has no metadata.name")
        return
    ns = meta.get("namespace") or (out.default_namespace if kind not in CLUSTER_SCOPED else None)
    ref = ObjectRef(api, kind, str(ns) if ns else None, name, f"{origin_file}:{line}" if line else origin_file)
    line_of = None
    if src is not None and line is not None:
        base = src.line_map(line)
        line_of = base if not pointer else (lambda p, b=base, pre=pointer: b(pre + p))
    obj = K8sObject(doc, ref, line_of)
    problem = shape_problem(doc, kind)
    if problem is not None:  # the API server would refuse it; rules are not made to guess
        field_path, what = problem
        out.errors.append(f"{obj.location(field_path)}: {ref.display()}: {display_path(field_path)} {what}")
        return
    out.objects.append(obj)


def _parse(data: bytes) -> tuple[str, Any]:
    """("json", doc) | ("yaml", [(line, doc)...]) | ("error", None) for one stream."""
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            return "json", json.loads(data)
        except ValueError:
            pass  # JSON-looking YAML (flow style): let the YAML parser read it
    try:
        return "yaml", yamlfast.load_documents(data)
    except yamlfast.YAMLError:
        return "error", None


def _parse_file(path: str) -> tuple[str, Any]:
    """Worker side of the parallel load: read and parse one file."""
    gc.disable()
    with open(path, "rb") as fh:
        return _parse(fh.read())


def load_bytes(data: bytes, origin: str, out: LoadResult, parsed: tuple[str, Any] | None = None) -> None:
    """Parse one stream (file, stdin or kustomize output) into ``out``."""
    out.files += 1
    how, result = parsed or _parse(data)
    src = out.sources[origin] = _Source(data, "json" if how == "json" else "yaml")
    if how == "json":
        _objects_from_doc(result, origin, origin, 1, src, out)
        return
    docs = result if how == "yaml" else _load_per_document(data, origin, out)
    for i, (line, doc) in enumerate(docs):
        where = f"{origin}:{line}" if line else f"{origin} (document {i + 1})"
        _objects_from_doc(doc, where, origin, line, src, out)


def _load_per_document(data: bytes, origin: str, out: LoadResult) -> list[tuple[int | None, Any]]:
    """After a syntax error: parse each document alone, report the bad ones, keep the rest."""
    docs: list[tuple[int | None, Any]] = []
    for start, end, first in yamlfast.split_documents(data):
        chunk = data[start:end]
        try:
            for line, doc in yamlfast.load_documents(chunk):
                docs.append(((line + first - 1) if line else None, doc))
        except yamlfast.YAMLError as e:
            pos = yamlfast.error_position(e)
            at = f"{origin}:{pos[0] + first - 1}:{pos[1]}" if pos else origin
            out.errors.append(f"{at}: invalid YAML: {yamlfast.error_text(e)}")
    return docs


def _files_in(path: Path, recursive: bool) -> list[Path]:
    it: Iterable[Path] = path.rglob("*") if recursive else path.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in EXTENSIONS)


def load_paths(paths: list[str], recursive: bool = False, out: LoadResult | None = None) -> LoadResult:
    """``-f`` arguments: files, directories (``-R`` to recurse) and ``-`` for stdin."""
    out = out or LoadResult()
    gc_was = gc.isenabled()
    gc.disable()  # parsing builds millions of acyclic objects; the cyclic GC only costs time here
    try:
        inputs: list[Path | str] = []  # in order; "-" is stdin
        for arg in paths:
            p = Path(arg)
            if arg == "-":
                inputs.append("-")
            elif p.is_dir():
                files = _files_in(p, recursive)
                if not files:
                    out.errors.append(
                        f"{arg}: directory has no .yaml, .yml or .json files"
                        + ("" if recursive else " (use -R to look in subdirectories)")
                    )
                inputs.extend(files)
            elif p.exists():
                inputs.append(p)
            else:
                out.errors.append(f"{arg}: no such file or directory")
        parsed = _parse_in_parallel([i for i in inputs if isinstance(i, Path)])
        for item in inputs:
            if item == "-":
                load_bytes(sys.stdin.buffer.read(), "stdin", out)
            else:
                _load_file(item, out, parsed.get(str(item)))  # type: ignore[arg-type]
    finally:
        gc.freeze()  # what was loaded lives for the whole run: keep it out of later collections
        if gc_was:
            gc.enable()
    return out


PARALLEL_MIN_BYTES = 4 * 1024 * 1024


def _parse_in_parallel(files: list[Path]) -> dict[str, tuple[str, Any]]:
    """Parse big inputs on every core (measured: 35 MB in 2.4 s instead of 3.5 s on 2 cores).

    Only worth it above a few MB, and only where ``fork`` exists (no re-import cost); otherwise, or
    on any pool failure, files are parsed in this process as they are read.
    """
    cpus = os.cpu_count() or 1
    try:
        total = sum(f.stat().st_size for f in files)
    except OSError:
        return {}
    if cpus < 2 or total < PARALLEL_MIN_BYTES or len(files) < 2:
        return {}
    import multiprocessing

    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(cpus, 4)) as pool:
            results = pool.map(_parse_file, [str(f) for f in files], chunksize=max(1, len(files) // (cpus * 8)))
    except Exception:  # a pool that cannot start (no /dev/shm, sandbox) is no reason to fail
        return {}
    return dict(zip((str(f) for f in files), results))


def _load_file(path: Path, out: LoadResult, parsed: tuple[str, Any] | None = None) -> None:
    try:
        data = path.read_bytes()
    except OSError as e:
        out.errors.append(f"{path}: cannot read: {e.strerror or e}")
        return
    load_bytes(data, str(path), out, parsed)


def kubeconfig_namespace(kubeconfig: str | None = None, context: str | None = None) -> str | None:
    """The namespace of the kubeconfig's context (``--context``, else ``current-context``), as kubectl
    finds it: ``--kubeconfig``, else the files of ``$KUBECONFIG`` (first value wins), else
    ``~/.kube/config``. None when there is no such file, context or namespace. Read with PyYAML, not
    the kubernetes client: an offline run stays fast and never needs a cluster."""
    import yaml

    if kubeconfig:
        paths = [kubeconfig]
    else:
        paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p] or ["~/.kube/config"]
    configs = []
    for p in paths:
        try:
            with open(os.path.expanduser(p), "rb") as fh:
                doc = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(doc, dict):
            configs.append(doc)
    current = context or next((c["current-context"] for c in configs if c.get("current-context")), None)
    for c in configs:
        for entry in c.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == current:
                ns = (entry.get("context") or {}).get("namespace") if isinstance(entry.get("context"), dict) else None
                return str(ns) if ns else None
    return None


def load_kustomize(directory: str, out: LoadResult | None = None, kubectl: str = "kubectl") -> LoadResult:
    """``-k DIR``: render with ``kubectl kustomize`` (the user's own kubectl), then parse."""
    out = out or LoadResult()
    if not os.path.isdir(directory):
        out.errors.append(f"{directory}: -k needs a directory with a kustomization file")
        return out
    try:
        proc = subprocess.run([kubectl, "kustomize", directory], capture_output=True, timeout=300)
    except FileNotFoundError:
        out.errors.append(f"{directory}: cannot render with kustomize: {kubectl!r} not found on PATH")
        return out
    except subprocess.TimeoutExpired:
        out.errors.append(f"{directory}: kubectl kustomize did not finish within 300 s")
        return out
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        first = msg[0] if msg else f"exit status {proc.returncode}"
        out.errors.append(f"{directory}: kubectl kustomize failed: {first.removeprefix('error: ')}")
        return out
    load_bytes(proc.stdout, f"{directory.rstrip('/')}/ (kustomize)", out)
    return out
