"""Fixes written where the objects come from (``--fix``, ``--diff``, ``--fix -``, ``-k``, ``-o kustomize``).

The proof, as for every fix: on every fixture case and every project of the real corpus, copies of the
files are fixed (safe fixes, then with --unsafe-fixes too); a fresh analysis of what was written has no
finding a fix claimed to clear; every document no fix touched is byte for byte what it was; the
full-line comments of touched documents survive; and ``kubectl kustomize`` still accepts the files
(where it accepted the originals). Runs in-process through the CLI (typer's runner): the same code path
as the installed command, without a Python start per case.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kubectl_meshcheck import cli
from kubectl_meshcheck.sources import yamlfast

from .conftest import CORPUS, require_kubectl

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "tests" / "rules"
EXAMPLES = ROOT / "kubectl_meshcheck" / "examples"
CASES = sorted(p for p in RULES.glob("*/*.yaml") if p.name.split(".")[0] in ("fail", "pass"))
PROJECTS = sorted(p.name for p in (CORPUS / "real").iterdir() if p.is_dir()) if (CORPUS / "real").is_dir() else []


def meshcheck(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    args = tuple(cli._fix_dash(list(args)))
    result = CliRunner().invoke(cli.app, ["--no-plugin-autoload", *args], input=stdin)
    cli._RUN_STATE.clear()  # the CLI keeps each run's objects to exit fast; a test process must not
    err = result.stderr if hasattr(result, "stderr") else ""
    if isinstance(result.exception, cli.CliError):
        return result.exception.code, result.stdout, err + f"error: {result.exception}\n"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, err


def findings(path: Path, *extra: str) -> list[dict]:
    code, out, err = meshcheck("-f", str(path), "-R", "-o", "json", *extra)
    assert code in (0, 1), err
    return json.loads(out)["findings"]


def identity(f: dict) -> tuple:
    o = f["object"]
    return (f["code"], o["kind"], o["namespace"], o["name"], f["path"], f.get("subject", ""))


def documents(data: bytes) -> list[bytes]:
    return [data[s:e] for s, e, _ in yamlfast.split_documents(data)]


def parsed(text: bytes) -> list:
    return [d for _, d in yamlfast.load_documents(text) if d is not None]


def kustomize_accepts(files: list[Path], where: Path) -> tuple[bool, str]:
    """Does ``kubectl kustomize`` build these files as resources (the originals' own verdict first)?"""
    k = where / "kustomization.yaml"
    k.write_text(yaml.safe_dump({"resources": [str(f.relative_to(where)) for f in files]}))
    p = subprocess.run(["kubectl", "kustomize", str(where)], capture_output=True, text=True, timeout=120)
    k.unlink()
    return p.returncode == 0, p.stderr.strip()


def prove(src: Path, tmp_path: Path, *flags: str) -> dict:
    """Copy ``src`` (a file or a directory), --fix it, and check every promise. Returns the JSON summary."""
    require_kubectl()
    work = tmp_path / "in"
    if src.is_dir():
        shutil.copytree(src, work)
    else:
        work.mkdir()
        shutil.copy(src, work / src.name)
    files = sorted(p for p in work.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    before = {p: p.read_bytes() for p in files}
    code, out, err = meshcheck("-f", str(work), "-R", "--fix", "-o", "json", *flags)
    assert code in (0, 1), err
    summary = json.loads(out)["summary"]
    fixed = summary["fixed"]
    # what a fix claimed to clear is gone, in a fresh analysis of what is on disk
    claimed = {identity(f) for f in fixed}
    after = {identity(f) for f in findings(work, *flags)} if claimed else set()
    assert not claimed & after, f"still reported after --fix: {sorted(claimed & after)}"
    assert "is still reported after its fix" not in err, err
    # documents no fix touched are byte-identical; comments of touched ones survive
    touched_files = {Path(p) for f in fixed for p in f["files"]}
    for p, old in before.items():
        new = p.read_bytes()
        if p not in touched_files:
            assert new == old, f"{p.name}: changed although no fix was written there"
            continue
        if old.lstrip()[:1] in (b"{", b"["):
            json.loads(new)  # JSON stays JSON
            continue
        old_docs, new_docs = documents(old), documents(new)
        assert len(new_docs) >= len(old_docs), f"{p.name}: documents lost"
        for i, (old_text, new_text) in enumerate(zip(old_docs, new_docs)):
            if old_text == new_text:
                continue
            if parsed(old_text) == parsed(new_text):
                # appending a created object after a last line without a newline has to add one
                ended = i == len(old_docs) - 1 and not old_text.endswith(b"\n") and new_text == old_text + b"\n"
                assert new_text == old_text or ended, \
                    f"{p.name}: an untouched document changed:\n{old_text!r}\n{new_text!r}"
            else:
                old_comments = [ln.strip() for ln in old_text.decode().splitlines() if ln.strip().startswith("#")]
                new_comments = {ln.strip() for ln in new_text.decode().splitlines()}
                assert all(c in new_comments for c in old_comments), f"{p.name}: a comment was lost"
    for p in sorted(touched_files):  # kubectl still accepts each written file, where it accepted the original
        ok, why = kustomize_accepts([p], work)
        if not ok and p in before:
            orig = tmp_path / "orig"
            orig.mkdir(exist_ok=True)
            (orig / p.name).write_bytes(before[p])
            assert not kustomize_accepts([orig / p.name], orig)[0], f"kubectl kustomize refuses {p.name}: {why}"
        assert ok or p in before, f"kubectl kustomize refuses the new file {p.name}: {why}"
    return summary


@pytest.mark.parametrize("flags", [(), ("--unsafe-fixes",)], ids=["safe", "unsafe"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.stem}" for c in CASES])
def test_fix_proof_on_every_fixture_case(case, flags, tmp_path):
    prove(case, tmp_path, *flags)


@pytest.mark.parametrize("flags", [(), ("--unsafe-fixes",)], ids=["safe", "unsafe"])
@pytest.mark.parametrize("project", PROJECTS or [pytest.param(None, marks=pytest.mark.skip(
    reason=f"../shared/corpus not found at {CORPUS}"))])
def test_fix_proof_on_every_corpus_project(project, flags, tmp_path):
    summary = prove(CORPUS / "real" / project, tmp_path, *flags)
    assert summary["exitCode"] in (0, 1)


def test_fix_on_the_examples_fixes_what_it_says_and_a_second_run_has_nothing_left(tmp_path):
    s = prove(EXAMPLES, tmp_path, "--unsafe-fixes")
    assert len(s["fixed"]) >= 20  # every example topic has fixable findings
    assert {f["applicability"] for f in s["fixed"]} == {"safe", "unsafe"}
    code, out, err = meshcheck("-f", str(tmp_path / "in"), "--diff", "--unsafe-fixes")
    assert (code, out) == (0, ""), out  # nothing left to fix: --diff is empty and exits 0


SVC = """# the shop's frontend
apiVersion: v1
kind: Service
metadata:
    name: web        # keep this name
    namespace: shop
spec:
    selector: {app: web}
    ports:
    -   name: "http-admin"   # the admin API
        port: 9001
        appProtocol: "HTTP/2"
---
# an unrelated document, oddly formatted on purpose
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data:
  mode:   'on'
"""


FIXED = SVC.replace('appProtocol: "HTTP/2"', 'appProtocol: "http"')  # quotes kept, nothing else moves


def test_fix_keeps_layout_quotes_comments_and_other_documents(tmp_path):
    f = tmp_path / "svc.yaml"
    f.write_text(SVC)
    code, out, err = meshcheck("-f", str(f), "--fix", "--select", "MC102")
    assert code == 0, err
    new = f.read_text()
    assert new == FIXED, new
    assert "fixed MC102 Service shop/web" in err and f"wrote {f} (1 fix)" in err


def test_diff_prints_the_change_writes_nothing_and_exits_1(tmp_path):
    f = tmp_path / "svc.yaml"
    f.write_text(SVC)
    code, out, err = meshcheck("-f", str(f), "--diff", "--select", "MC102")
    assert code == 1
    assert f.read_text() == SVC
    assert f"--- {f}\n+++ {f}\n" in out and '+        appProtocol: "http"\n' in out
    assert sum(1 for ln in out.splitlines() if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))) == 2


def test_stdin_is_refused_unless_fix_dash_which_writes_the_stream(tmp_path):
    code, out, err = meshcheck("-f", "-", "--fix", stdin=SVC)
    assert code == 2 and "stdin cannot be fixed in place" in err
    code, out, err = meshcheck("-f", "-", "--fix", "-", "--select", "MC102", stdin=SVC)
    assert code == 0, err
    assert out == FIXED


def test_fix_dash_through_the_installed_command():
    exe = str(Path(sys.executable).parent / "kubectl-meshcheck")
    p = subprocess.run([exe, "-f", "-", "--fix", "-", "--select", "MC102"], input=SVC, capture_output=True, text=True,
                       env={**os.environ, "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == FIXED and "fixed MC102" in p.stderr


def test_a_file_changed_since_it_was_read_is_not_written(tmp_path):
    from types import SimpleNamespace

    from kubectl_meshcheck.engine import Engine
    from kubectl_meshcheck.fix_sources import run_fixes
    from kubectl_meshcheck.index import Index
    from kubectl_meshcheck.plugins import build_plugin_manager
    from kubectl_meshcheck.sources.manifests import load_paths

    f = tmp_path / "svc.yaml"
    f.write_text(SVC)
    host = build_plugin_manager(autoload=False)
    rules = [r for r in host.registry.all() if r.code == "MC102"]
    loaded = load_paths([str(f)])
    result = Engine(Index(loaded.objects), host.pm).run(rules)
    f.write_text(SVC + "# edited by someone else meanwhile\n")
    opts = SimpleNamespace(fix=True, fix_to_stdout=False, diff=False, filename=[str(f)], kustomize=None,
                           unsafe_fixes=False)
    out = run_fixes(opts, loaded, result, lambda new: Engine(Index(new.objects), host.pm).run(rules))
    assert f.read_text().endswith("meanwhile\n") and '"HTTP/2"' in f.read_text()
    assert any("changed since meshcheck read it" in line for line in out.lines)


def test_json_input_is_rewritten_as_json(tmp_path):
    doc = yaml.safe_load(SVC.split("---")[0])
    f = tmp_path / "svc.json"
    f.write_text(json.dumps(doc, indent=4) + "\n")
    code, out, err = meshcheck("-f", str(f), "--fix", "--select", "MC102")
    assert code == 0, err
    got = json.loads(f.read_text())
    assert got["spec"]["ports"][0]["appProtocol"] == "http"
    doc["spec"]["ports"][0]["appProtocol"] = "http"
    assert f.read_text() == json.dumps(doc, indent=4) + "\n"


def _overlay(tmp_path: Path) -> Path:
    base, overlay = tmp_path / "base", tmp_path / "overlay"
    base.mkdir()
    overlay.mkdir()
    shutil.copy(EXAMPLES / "ports.yaml", base / "ports.yaml")
    shutil.copy(EXAMPLES / "egress.yaml", base / "egress.yaml")
    (base / "kustomization.yaml").write_text("resources:\n- ports.yaml\n- egress.yaml\n")
    (overlay / "kustomization.yaml").write_text("# production\nresources:\n  - ../base  # the app\n")
    return overlay


def test_kustomize_overlay_gets_patches_with_targets_and_is_proven_by_rendering(tmp_path):
    require_kubectl()
    overlay = _overlay(tmp_path)
    base_before = {p: p.read_bytes() for p in (tmp_path / "base").iterdir()}
    before = {identity(f): f for f in json.loads(meshcheck("-k", str(overlay), "-o", "json")[1])["findings"]}
    code, out, err = meshcheck("-k", str(overlay), "--fix", "--unsafe-fixes", "-o", "json")
    assert code in (0, 1), err
    fixed = json.loads(out)["summary"]["fixed"]
    assert fixed and all(identity(f) in before for f in fixed)
    assert {p: p.read_bytes() for p in (tmp_path / "base").iterdir()} == base_before  # the base is never edited
    k = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert (overlay / "kustomization.yaml").read_text().startswith("# production\n")
    assert k["resources"][0] == "../base" and all(p["target"]["kind"] and p["target"]["name"] for p in k["patches"])
    created = [r for r in k["resources"][1:]]
    assert created and all((overlay / r).is_file() for r in created)  # the generated ServiceEntries
    again = {identity(f) for f in json.loads(meshcheck("-k", str(overlay), "-o", "json")[1])["findings"]}
    assert not again & {identity(f) for f in fixed}


def test_kustomize_overlay_that_renames_and_moves_objects_gets_patches_that_match(tmp_path):
    require_kubectl()
    overlay = _overlay(tmp_path)
    (overlay / "kustomization.yaml").write_text("namespace: prod\nnamePrefix: p-\nresources:\n- ../base\n")
    code, out, err = meshcheck("-k", str(overlay), "--fix", "-o", "json", "--select", "MC1")
    fixed = json.loads(out)["summary"]["fixed"]
    assert fixed and all(f["object"]["namespace"] == "prod" and f["object"]["name"].startswith("p-") for f in fixed)
    assert "not written" not in err, err
    targets = [p["target"] for p in yaml.safe_load((overlay / "kustomization.yaml").read_text())["patches"]]
    assert all("namespace" not in t and not t["name"].startswith("p-") for t in targets)  # as the patches see them
    again = {identity(f) for f in json.loads(meshcheck("-k", str(overlay), "-o", "json", "--select", "MC1")[1])[
        "findings"]}
    assert not again & {identity(f) for f in fixed}


def test_kustomize_diff_writes_nothing(tmp_path):
    require_kubectl()
    overlay = _overlay(tmp_path)
    code, out, err = meshcheck("-k", str(overlay), "--diff")
    assert code == 1 and "+patches:\n" in out and "target:" in out
    assert sorted(p.name for p in overlay.iterdir()) == ["kustomization.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "overlay"]  # the proof's copy is gone


def test_o_kustomize_prints_a_directory_that_renders_the_fixed_objects(tmp_path):
    require_kubectl()
    code, script, err = meshcheck("-f", str(EXAMPLES / "ports.yaml"), "-o", "kustomize")
    assert code == 1
    subprocess.run(["sh", "-e"], input=script, text=True, cwd=tmp_path, check=True)
    d = tmp_path / "meshcheck-fixes"
    assert (d / "resources.yaml").read_bytes() == (EXAMPLES / "ports.yaml").read_bytes()
    assert os.access(d / "post-renderer.sh", os.X_OK)
    rendered = subprocess.run(["kubectl", "kustomize", str(d)], capture_output=True, text=True, check=True).stdout
    (tmp_path / "out.yaml").write_text(rendered)
    before = {identity(f) for f in findings(EXAMPLES / "ports.yaml")}
    after = {identity(f) for f in findings(tmp_path / "out.yaml")}
    k = yaml.safe_load((d / "kustomization.yaml").read_text())
    assert len(k["patches"]) == len(before - after) > 0  # one patch per finding it clears
    # the post-renderer turns any rendered stream (a chart's) into the fixed one
    post = subprocess.run([str(d / "post-renderer.sh")], input=(EXAMPLES / "ports.yaml").read_text(),
                          capture_output=True, text=True, check=True).stdout
    assert post == rendered


HELM_SVC = """apiVersion: v1
kind: Service
metadata:
  name: orders-postgresql
  namespace: shop
  labels:
    helm.sh/chart: orders-0.8.4
    app.kubernetes.io/managed-by: Helm
    app.kubernetes.io/instance: orders
  annotations:
    meta.helm.sh/release-name: orders
spec:
  selector: {app: db}
  ports:
  - name: postgresql
    port: 5432
---
apiVersion: v1
kind: Service
metadata:
  name: argocd-server
  namespace: argocd
  labels:
    helm.sh/chart: argo-cd-7.7.0
    app.kubernetes.io/managed-by: Helm
    app.kubernetes.io/instance: argocd
spec:
  selector: {app: argocd-server}
  ports:
  - name: https
    port: 443
    appProtocol: HTTP/2
"""


def test_owned_objects_are_left_out_of_patches_unless_include_owned(tmp_path):
    f = tmp_path / "helm.yaml"
    f.write_text(HELM_SVC)
    code, out, err = meshcheck("-f", str(f), "-o", "patch", "--select", "MC1")
    assert "kubectl patch" not in out
    assert "fixes for managed objects left out (1 for Helm argocd, 1 for Helm orders)" in out
    code, out, err = meshcheck("-f", str(f), "-o", "patch", "--select", "MC1", "--include-owned", "--unsafe-fixes")
    assert out.count("kubectl patch service") == 2 and "managed by Helm orders" in out


def test_helm_owner_names_chart_release_and_values_key(tmp_path):
    f = tmp_path / "helm.yaml"
    f.write_text(HELM_SVC)
    code, out, err = meshcheck("-f", str(f), "-o", "json", "--select", "MC1")
    owners = {x["object"]["name"]: x["owner"] for x in json.loads(out)["findings"]}
    assert owners["orders-postgresql"]["kind"] == "Helm"
    assert "chart orders 0.8.4, release 'orders'" in owners["orders-postgresql"]["hint"]
    assert "no value for the port names" in owners["orders-postgresql"]["hint"]
    assert "reverts a live patch" in owners["argocd-server"]["hint"]
    assert "server.service.servicePortHttpName" in owners["argocd-server"]["hint"]


def test_fix_needs_files_and_refuses_an_unreadable_input(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SVC + "---\nkind: [\n")
    code, out, err = meshcheck("-f", str(bad), "--fix")
    assert code == 3 and "not writing fixes" in err and bad.read_text().endswith("kind: [\n")


def test_help_does_not_import_the_yaml_editor():
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "kubectl_meshcheck", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0
    assert "yaml_edit" not in p.stderr and "fix_sources" not in p.stderr and "fix_files" not in p.stderr


def test_a_fix_lands_in_its_item_of_a_list(tmp_path):
    items = [yaml.safe_load(SVC.split("---")[0]), yaml.safe_load(SVC.split("---")[0])]
    items[0]["metadata"]["name"] = "other"
    items[0]["spec"]["ports"][0]["appProtocol"] = "http"
    f = tmp_path / "list.json"
    f.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=4) + "\n")
    code, out, err = meshcheck("-f", str(f), "--fix", "--select", "MC102")
    assert code == 0, err
    got = json.loads(f.read_text())["items"]
    assert [i["spec"]["ports"][0]["appProtocol"] for i in got] == ["http", "http"]
    assert "fixed MC102 Service shop/web" in err and "other" not in err


@pytest.mark.parametrize(("chart", "kind", "name", "labels", "key"), [
    ("argo-cd", "Service", "argocd-server", {}, "server.service.servicePortHttpsAppProtocol"),
    ("argo-cd", "Deployment", "argocd-repo-server", {}, "repoServer.podAnnotations"),
    ("kiali-server", "Deployment", "kiali", {}, "deployment.pod_annotations"),
    ("loki", "StatefulSet", "loki", {}, "loki.podAnnotations"),
    ("prometheus", "Deployment", "prometheus", {"app.kubernetes.io/component": "server"}, "server.podAnnotations"),
    ("orders", "StatefulSet", "orders-postgresql", {}, "postgresql.podAnnotations"),
    ("orders", "Service", "orders-postgresql", {}, "the chart has no value"),
    ("unknown-chart", "Deployment", "x", {}, "podAnnotations value (helm create's layout; check the chart)"),
])
def test_values_key_of_the_corpus_charts(chart, kind, name, labels, key):
    from kubectl_meshcheck_plugins.ownership import values_hint

    hint = values_hint(chart, kind, name, labels)
    assert key in hint and "--post-renderer" in hint


def test_fix_without_files_is_refused_before_any_cluster_is_read(tmp_path):
    code, out, err = meshcheck("--fix", "--kubeconfig", str(tmp_path / "missing"))
    assert code == 2 and "a live cluster is never changed" in err


def test_fix_dash_on_an_overlay_prints_the_fixed_rendering(tmp_path):
    require_kubectl()
    overlay = _overlay(tmp_path)
    code, out, err = meshcheck("-k", str(overlay), "--fix", "-", "--select", "MC1")
    assert code in (0, 1), err
    assert sorted(p.name for p in overlay.iterdir()) == ["kustomization.yaml"]  # nothing written
    (tmp_path / "out.yaml").write_text(out)
    fixed = {identity(f) for f in findings(tmp_path / "out.yaml", "--select", "MC1")}
    before = {identity(f) for f in json.loads(meshcheck("-k", str(overlay), "-o", "json", "--select", "MC1")[1])[
        "findings"]}
    assert len(fixed) < len(before)


def test_kubectl_apply_dry_run_accepts_the_fixed_examples(tmp_path):
    """``kubectl apply --dry-run=client --validate=false`` on the fixed files, against the API server emulation
    (client-side apply needs discovery; nothing is written to it)."""
    require_kubectl()
    from .kubeapi import KubeAPIServer, write_kubeconfig

    prove(EXAMPLES, tmp_path, "--unsafe-fixes")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"HOME": str(tmp_path)}
    with KubeAPIServer() as srv:
        kc = write_kubeconfig(tmp_path / "config", srv.url)
        p = subprocess.run(["kubectl", "--kubeconfig", str(kc), "--cache-dir", str(tmp_path / "cache"), "apply",
                            "--dry-run=client", "--validate=false", "-f", str(tmp_path / "in")],
                           capture_output=True, text=True, env=env, timeout=120)
        assert srv.writes == 0
    assert p.returncode == 0, p.stderr
    assert "serviceentry.networking.istio.io/egress-api-stripe-com created (dry run)" in p.stdout


def test_every_json_patch_operation_is_written_on_the_syntax_tree():
    """add/replace/remove/move/copy on mappings and sequences, as jsonpatch applies them to the data."""
    import jsonpatch

    from kubectl_meshcheck.fix_files import _Document, _render_yaml

    text = b"# keep\nspec:\n  ports:  # the ports\n  - {name: a, port: 1}\n  - name: b  # second\n    port: 2\n  x: 1\n"
    ops = [{"op": "add", "path": "/spec/ports/1/appProtocol", "value": "tcp"},
           {"op": "replace", "path": "/spec/ports/0/port", "value": 10},
           {"op": "add", "path": "/spec/ports/-", "value": {"name": "c", "port": 3}},
           {"op": "remove", "path": "/spec/x"},
           {"op": "copy", "from": "/spec/ports/0", "path": "/spec/first"},
           {"op": "move", "from": "/spec/ports/2", "path": "/spec/ports/0"}]
    data = yaml.safe_load(text)
    doc = _Document("f.yaml", (0, len(text)), jsonpatch.apply_patch(data, ops))
    doc.ops = ops
    out = _render_yaml(text, doc)
    assert isinstance(out, bytes), out
    assert yaml.safe_load(out) == doc.data
    assert out.startswith(b"# keep\n") and b"# the ports" in out and b"# second" in out
