"""``kubectl meshcheck capture TARGET``: a capture plan for the one pod a user is debugging.

TARGET is written as kubectl writes it (``pod/NAME``, ``NAME``, ``deploy/NAME``, ``sts/NAME``...). For a
workload one of its pods is picked (Running and Ready first) and the plan says which. The pod is read
live (``sources/target.py``, with the user's permissions reviewed) or found in ``-f``/``-k`` input; the
plan itself is ``mesh.capture.build_plan``, the same one the per-workload table uses. Output: the plan as
text that fits the terminal, or ``-o json``/``yaml`` with the same structure.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any

from .index import TEMPLATE_PATHS, Context, Index
from .mesh.capture import DEBUG_IMAGE, CapturePlan, app_containers, build_plan
from .mesh.capture_env import Environment, access_questions
from .model import K8sObject, Workload

#: kubectl's names for the kinds a TARGET may be (resource, plural, short name, resource.group)
KINDS = {
    "Pod": ("pod", "pods", "po"),
    "Deployment": ("deployment", "deployments", "deploy", "deployment.apps", "deployments.apps"),
    "StatefulSet": ("statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps"),
    "DaemonSet": ("daemonset", "daemonsets", "ds", "daemonset.apps", "daemonsets.apps"),
    "ReplicaSet": ("replicaset", "replicasets", "rs", "replicaset.apps", "replicasets.apps"),
    "Job": ("job", "jobs", "job.batch", "jobs.batch"),
}
_BY_ALIAS = {alias: kind for kind, aliases in KINDS.items() for alias in aliases}
PIPED_WIDTH = 100


@dataclass
class CaptureRequest:
    target: str
    port: list[int] | None = None
    host: list[str] | None = None
    container: str | None = None
    no_access_review: bool = False
    image: str | None = None


@dataclass
class Resolved:
    """The pod (or, offline without pods, the workload) the plan is for, and how it was chosen."""

    wl: Workload
    pod: K8sObject | None
    owner: K8sObject | None  # the controller at the top (Deployment, StatefulSet...), if known
    picked: str = ""
    notes: list[str] = field(default_factory=list)


def parse_target(text: str) -> tuple[str, str]:
    """``pod/NAME``, ``NAME`` (a pod), ``deploy/NAME``... -> (Kind, name); ValueError when not one."""
    kind_text, sep, name = text.partition("/")
    if not sep:
        kind_text, name = "pod", text
    kind = _BY_ALIAS.get(kind_text.lower())
    if kind is None or not name or "/" in name:
        raise ValueError(f"TARGET {text!r}: use pod/NAME, NAME (a pod), or deploy|sts|ds|rs|job/NAME")
    return kind, name


def _ready(pod: K8sObject) -> bool:
    conds = (pod.data.get("status") or {}).get("conditions") or []
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def pick_pod(pods: list[K8sObject], of: str) -> tuple[K8sObject | None, str]:
    """Running and Ready first, then Running, then any; by name. Returns the pod and why it was chosen."""
    if not pods:
        return None, ""

    def rank(p: K8sObject) -> tuple:
        phase = (p.data.get("status") or {}).get("phase")
        return (bool((p.data.get("metadata") or {}).get("deletionTimestamp")), phase != "Running", not _ready(p),
                p.name)
    best = min(pods, key=rank)
    phase = (best.data.get("status") or {}).get("phase") or "phase unknown"
    state = f"{phase} and Ready" if _ready(best) else phase
    return best, f"picked pod {best.name} ({state}; {len(pods)} pod(s) of {of})"


def _controller(index: Index, obj: K8sObject) -> K8sObject | None:
    """The top controller of an object in the input (Pod -> ReplicaSet -> Deployment)."""
    top, seen = obj, 0
    while seen < 3:
        ref = next((r for r in (top.data.get("metadata") or {}).get("ownerReferences") or []
                    if isinstance(r, dict) and r.get("controller")), None)
        parent = index.get(str(ref.get("kind")), top.namespace, str(ref.get("name"))) if ref else None
        if parent is None:
            break
        top, seen = parent, seen + 1
    return top if top is not obj else None


def resolve_offline(index: Index, kind: str, name: str, namespace: str | None) -> Resolved:
    from .cli import EXIT_INPUT, CliError

    found = [o for o in index.all_objects(kind) if o.name == name and (namespace is None or o.namespace == namespace)]
    if not found:
        where = f" in namespace {namespace}" if namespace else ""
        raise CliError(f"capture: {kind.lower()} {name!r} not found in the input{where}", EXIT_INPUT)
    if len(found) > 1:
        raise CliError(f"capture: {kind.lower()} {name!r} is in several namespaces "
                       f"({', '.join(sorted(o.namespace or '-' for o in found))}): say which with -n", EXIT_INPUT)
    obj = found[0]
    if kind == "Pod":
        return Resolved(Workload(obj, ""), obj, _controller(index, obj))
    wl = Workload(obj, TEMPLATE_PATHS[kind])
    pod, picked = pick_pod(index.pods_of(wl), f"{kind.lower()}/{name}")
    if pod is None:
        return Resolved(wl, None, obj, notes=[f"no pod of {kind.lower()}/{name} in the input: the plan is for its "
                                              "pod template, and the commands find a pod by its labels"])
    return Resolved(Workload(pod, ""), pod, obj, picked)


def run_capture(req: CaptureRequest, opts: Any) -> int:
    """Resolve TARGET, read what decides the route, print the plan. Exit 0 (the plan is the answer)."""
    from .cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, LISTINGS, CliError, _check_output, _err
    from .sources.manifests import LoadResult, load_kustomize, load_paths
    from .sources.target import local_kubectl_version

    _check_output(opts, LISTINGS)
    try:
        kind, name = parse_target(req.target)
    except ValueError as e:
        raise CliError(str(e), EXIT_USAGE) from None
    if opts.all_namespaces:
        raise CliError("capture TARGET: -A does not apply (one pod); use -n NS", EXIT_USAGE)
    kubectl_version, kubectl_problem = local_kubectl_version()
    notes: list[str] = []
    source: dict[str, Any]
    if opts.filename or opts.kustomize:
        loaded = LoadResult()
        if opts.filename:
            load_paths(opts.filename, opts.recursive, loaded)
        if opts.kustomize:
            load_kustomize(opts.kustomize, loaded)
        for e in loaded.errors:
            _err(e)
        if loaded.errors:
            return EXIT_INPUT
        index = Index(loaded.objects)
        resolved = resolve_offline(index, kind, name, opts.namespace)
        env = Environment(kubectl_version=kubectl_version, kubectl_problem=kubectl_problem,
                          review_skipped="offline (-f/-k): permissions are reviewed only against a live cluster",
                          istioctl=shutil.which("istioctl") or "")
        source = {"input": "files", "files": loaded.files}
    else:
        index, resolved, env, source = _read_live(req, opts, kind, name, kubectl_version, kubectl_problem)
    notes += resolved.notes
    names = app_containers(resolved.wl)
    if req.container and req.container not in names:
        raise CliError(f"capture: -c {req.container}: no such app container in {resolved.wl.obj.kind.lower()}/"
                       f"{resolved.wl.obj.name} (have: {', '.join(names) or 'none'})", EXIT_USAGE)
    plan = _plan(index, resolved, env, req)
    doc = plan_document(plan, resolved, env, source, notes, bool(req.port or req.host),
                        index.mode_of(resolved.wl).reason)
    if opts.output in ("json", "yaml"):
        from .render.json import dump_json, dump_yaml

        import typer
        typer.echo(dump_json(doc) if opts.output == "json" else dump_yaml(doc), nl=opts.output == "json")
    else:
        sys.stdout.write(render_text(doc, terminal_width()))
    return EXIT_OK


def _owner_pair(resolved: Resolved) -> tuple[str, str] | None:
    return (resolved.owner.kind, resolved.owner.name) if resolved.owner is not None else None


def _plan(index: Index, resolved: Resolved, env: Environment, req: CaptureRequest) -> CapturePlan:
    wl = resolved.wl
    ctx = Context.for_views(index)
    values, values_source = ctx.mesh.install_values(wl)
    ns_obj = index.get("Namespace", None, wl.namespace or "default")
    pod = resolved.pod
    status = (pod.data.get("status") or {}) if pod is not None else {}
    spec = (pod.data.get("spec") or {}) if pod is not None else {}
    return build_plan(wl, index.mode_of(wl).mode, dict(ns_obj.labels) if ns_obj is not None else None,
                      ctx.mesh.config.get("defaultConfig") or {}, values, values_source,
                      [pod.name] if pod is not None else [], req.image or DEBUG_IMAGE, env,
                      req.container or "", tuple(req.port or ()), tuple(req.host or ()),
                      str(spec.get("nodeName") or ""), str(status.get("podIP") or ""), _owner_pair(resolved),
                      str(status.get("phase") or ""))


def _read_live(req: CaptureRequest, opts: Any, kind: str, name: str, kubectl_version: str,
               kubectl_problem: str) -> tuple[Index, Resolved, Environment, dict[str, Any]]:
    from .cli import EXIT_CLUSTER, EXIT_INPUT, CliError
    from .sources.cluster import ClusterError, ClusterSettings, parse_duration
    from .sources.target import TargetError, TargetReader

    try:
        timeout = parse_duration(opts.request_timeout)
    except ValueError as e:
        raise CliError(f"--request-timeout: {e}", EXIT_INPUT) from None
    settings = ClusterSettings(kubeconfig=opts.kubeconfig, context=opts.context, namespace=opts.namespace,
                               request_timeout=timeout)
    try:
        reader = TargetReader(settings)
        read = reader.read(kind, name)
        index = Index(read.objects)
        if kind == "Pod":
            pod = read.pods[0]
            resolved = Resolved(Workload(pod, ""), pod, read.workload)
        else:
            pod, picked = pick_pod(read.pods, f"{kind.lower()}/{name}")
            wl_obj = read.workload
            assert wl_obj is not None
            if pod is None:
                resolved = Resolved(Workload(wl_obj, TEMPLATE_PATHS[kind]), None, wl_obj,
                                    notes=[f"{kind.lower()}/{name} has no pods: the plan is for its pod template"])
            else:
                resolved = Resolved(Workload(pod, ""), pod, wl_obj, picked)
        resolved.notes += read.notes
        mode = index.mode_of(resolved.wl).mode
        review = ""
        if req.no_access_review:
            review = "--no-access-review"
        else:
            pod_name = resolved.pod.name if resolved.pod is not None else ""
            node = str(((resolved.pod.data.get("spec") or {}) if resolved.pod is not None else {}).get("nodeName")
                       or "")
            reader.review(access_questions(read.namespace, pod_name, mode, _owner_pair(resolved), node))
    except TargetError as e:
        raise CliError(str(e), EXIT_INPUT) from None
    except ClusterError as e:
        raise CliError(str(e), EXIT_CLUSTER) from None
    env = Environment(server_version=read.server_version, ephemeral_served=read.ephemeral_served,
                      kubectl_version=kubectl_version, kubectl_problem=kubectl_problem,
                      answers=tuple(read.answers), review_skipped=review, istioctl=shutil.which("istioctl") or "")
    source = {"input": "cluster", "context": read.context, "serverVersion": read.server_version,
              "requests": read.requests, "accessReviews": read.reviews}
    return index, resolved, env, source


# -- output ---------------------------------------------------------------------------------------


def plan_document(plan: CapturePlan, resolved: Resolved, env: Environment, source: dict[str, Any],
                  notes: list[str], asked: bool = False, mesh_reason: str = "") -> dict[str, Any]:
    """The plan as JSON: the same structure the text shows (target, why, checks, routes, chosen)."""
    wl = resolved.wl
    best = plan.recommended
    return {
        "target": {"kind": wl.obj.kind, "name": wl.obj.name, "namespace": wl.namespace or "default",
                   "pod": plan.pod, "podObserved": plan.pod_observed, "picked": resolved.picked,
                   "workload": f"{resolved.owner.kind}/{resolved.owner.name}" if resolved.owner is not None else None,
                   "container": plan.container},
        "source": source,
        "mesh": plan.mode.value,
        "meshReason": mesh_reason,
        "proxy": {"variant": plan.variant, "variantSource": plan.variant_source,
                  "privileged": plan.privilege.privileged, "privilegedSources": list(plan.privilege.sources),
                  "fields": list(plan.proxy_fields), "execTcpdump": plan.exec_tcpdump},
        "checks": [c.to_json() for c in plan.checks],
        "accessReviews": [a.to_json() for a in env.answers],
        "filter": plan.filter,
        "filterFrom": "--port/--host" if asked else "the pod's ports",
        "ports": list(plan.ports),
        "interfaces": [{"name": n, "shows": s} for n, s in plan.interfaces],
        "routes": [m.to_json() for m in plan.methods],
        "chosen": best.key,
        "commands": {m.key: m.command for m in plan.methods},
        "notes": notes,
    }


def terminal_width() -> int:
    """COLUMNS, then the terminal's width, then 100 when piped."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return PIPED_WIDTH


STATUS_WORDS = {"ok": "ok", "blocks": "BLOCKS", "limits": "limits", "unknown": "unknown"}


def render_text(doc: dict[str, Any], width: int) -> str:
    """The plan for a person: prose wrapped to ``width``; commands never wrapped (they are copied)."""
    width = max(width, 40)
    out: list[str] = []

    def para(text: str, indent: str = "  ", first: str | None = None) -> None:
        for long_words in (False, True):  # split a word only when it cannot fit on a line of its own
            filled = textwrap.fill(text, width, initial_indent=first if first is not None else indent,
                                   subsequent_indent=indent, break_on_hyphens=False, break_long_words=long_words)
            if max(map(len, filled.splitlines()), default=0) <= width:
                break
        out.append(filled)

    def command(text: str, indent: str = "    ") -> None:
        lines = text.splitlines()
        out.append(f"{indent}$ {lines[0]}")
        out.extend(f"{indent}  {line}" for line in lines[1:])

    t = doc["target"]
    what = f"pod {t['namespace']}/{t['pod']}" if t["podObserved"] else f"{t['kind']}/{t['name']} in {t['namespace']}"
    para(f"Capture plan for {what}", indent="", first="")
    src = doc["source"]
    if src.get("input") == "cluster":
        read = (f"read live from context {src['context']} ({src['serverVersion'] or 'version unknown'}): "
                f"{src['requests']} requests, {src['accessReviews']} of them access reviews")
    else:
        read = "read from files (offline)"
    for line in filter(None, [t["picked"], f"workload: {t['workload']}" if t["workload"] else "",
                              f"data plane: {doc['mesh']} -- {doc['meshReason']}", read]):
        para(line)
    for n in doc["notes"]:
        para(f"note: {n}")
    out.append("")
    proxy = doc["proxy"]
    para("Why `kubectl exec -c istio-proxy -- tcpdump` does not do it here", first="")
    for f in proxy["fields"]:
        para(f, indent="    ", first="  - ")
    para(f"=> {proxy['execTcpdump']}", indent="     ", first="  ")
    out.append("")
    para("Pre-checks", first="")
    label = max((len(c["title"]) for c in doc["checks"]), default=10)
    for c in doc["checks"]:
        head = f"  {STATUS_WORDS.get(c['status'], c['status']):<8} {c['title']:<{label}}  "
        text = c["found"] + (f" -- {c['effect']}" if c["effect"] else "")
        if len(head) > width * 2 // 5:  # narrow: the finding goes under its label
            out.append(head.rstrip())
            para(text, indent="      ")
        else:
            para(text, indent=" " * len(head), first=head)
    out.append("")
    routes = doc["routes"]
    best = routes[0]
    if best["works"] == "no":
        para("No route works for you here as things stand; the least blocked first:", first="")
    heading = f"Best route: {best['title']}" + ("" if best["works"] == "yes" else f" (works: {best['works']})")
    para(heading, indent="  ", first="")
    _route_body(best, command, para)
    if doc["filter"] and "tcpdump" in best["command"]:
        para(f"filter: '{doc['filter']}' (from {doc['filterFrom']}; narrow it with --port/--host)")
    for i in doc["interfaces"] if "tcpdump" in best["command"] else ():
        para(f"-i {i['name']}: {i['shows']}", indent="    ", first="  ")
    if len(routes) > 1:
        out.append("")
        para("Alternatives, best first", first="")
        for n, r in enumerate(routes[1:], start=2):
            para(f"{n}. {r['title']} (works: {r['works']})", indent="     ", first="  ")
            _route_body(r, command, para, "     ")
    return "\n".join(out) + "\n"


def _route_body(r: dict[str, Any], command: Any, para: Any, indent: str = "  ") -> None:
    command(r["command"], indent + "  ")
    for v in r["variants"]:
        para(f"{v['label']}:", indent=indent)
        command(v["command"], indent + "  ")
    for b in r["blockedBy"]:
        para(f"blocked: {b}", indent=indent + "  ", first=indent)
    para(f"needs: {r['needs']}", indent=indent + "  ", first=indent)
    para(f"gives up: {r['givesUp']}", indent=indent + "  ", first=indent)


