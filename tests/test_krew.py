"""The krew manifest template and release archive (krew/): rendered and checked against the rules
krew and krew-index CI really enforce (shared/reference/kubectl-krew.md §3.2-3.3). No network."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
KREW = REPO / "krew"
EXAMPLES = REPO / "kubectl_meshcheck" / "examples"
BIN_NAME = "kubectl-meshcheck"
_spec = importlib.util.spec_from_file_location("meshcheck_krew_build", KREW / "build.py")
build = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = build  # dataclasses look their module up
_spec.loader.exec_module(build)

#: os/arch pairs validate-krew-manifest accepts (cmd/validate-krew-manifest/main.go)
KNOWN_PLATFORMS = {
    ("windows", "386"), ("windows", "amd64"), ("windows", "arm64"), ("linux", "386"), ("linux", "amd64"),
    ("linux", "arm"), ("linux", "arm64"), ("linux", "ppc64le"), ("darwin", "386"), ("darwin", "amd64"),
    ("darwin", "arm64"),
}
LICENSE_NAMES = {"license", "license.txt", "license.md", "licenses", "licenses.txt", "licenses.md", "copying",
                 "copying.txt"}
WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
# internal/installation/semver (k8s.io/apimachinery/pkg/util/version.ParseSemantic) after the leading "v"
SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")


def _selector_matches(selector: dict, labels: dict) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def krew_problems(manifest: dict, file_name: str) -> list[str]:
    """What krew's ValidatePlugin and validate-krew-manifest would refuse (minus the install step)."""
    out = []
    if manifest.get("apiVersion") != "krew.googlecontainertools.github.com/v1alpha2":
        out.append("apiVersion")
    if manifest.get("kind") != "Plugin":
        out.append("kind")
    name = (manifest.get("metadata") or {}).get("name") or ""
    if not re.fullmatch(r"[\w-]+", name) or name.lower() in WINDOWS_DEVICES:
        out.append(f"unsafe name {name!r}")
    if not file_name.endswith(".yaml") or file_name[: -len(".yaml")] != name:
        out.append(f"file name {file_name!r} does not match metadata.name {name!r}")
    spec = manifest.get("spec") or {}
    short = spec.get("shortDescription") or ""
    if not short or "\n" in short or "\r" in short:
        out.append("shortDescription missing or has a line break")
    if not SEMVER.match(str(spec.get("version", ""))):
        out.append(f"version {spec.get('version')!r} is not v + semver")
    platforms = spec.get("platforms") or []
    if not platforms:
        out.append("no platforms")
    for i, p in enumerate(platforms):
        where = f"platforms[{i}]"
        if not p.get("uri"):
            out.append(f"{where}: no uri")
        if not re.fullmatch(r"[a-f0-9]{64}", str(p.get("sha256", ""))):
            out.append(f"{where}: sha256 is not 64 lowercase hex")
        if not p.get("bin"):
            out.append(f"{where}: no bin")
        if "files" in p and (not p["files"] or any(not f.get("from") or not f.get("to") for f in p["files"])):
            out.append(f"{where}: files must be non-empty with from and to")
        sel = p.get("selector")
        if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
            out.append(f"{where}: empty selector")
            continue
        keys = set(sel.get("matchLabels") or {}) | {e["key"] for e in sel.get("matchExpressions") or []}
        if keys - {"os", "arch"}:
            out.append(f"{where}: selector keys {sorted(keys - {'os', 'arch'})} (only os and arch)")
        if not any(_selector_matches(sel, {"os": o, "arch": a}) for o, a in KNOWN_PLATFORMS):
            out.append(f"{where}: selector matches no known os/arch")
    for o, a in sorted(KNOWN_PLATFORMS):
        matching = [i for i, p in enumerate(platforms)
                    if _selector_matches(p.get("selector") or {}, {"os": o, "arch": a})]
        if len(matching) > 1:
            out.append(f"{o}/{a} is matched by platforms {matching}")
    return out


@pytest.fixture
def fake_archives(tmp_path):
    """One fake archive per template platform (different bytes, so different hashes)."""
    out = {}
    for plat in build.template_platforms(build.TEMPLATE.read_text()):
        p = tmp_path / f"kubectl-meshcheck_v0.1.0_{plat.replace('/', '_')}.tar.gz"
        p.write_bytes(f"not really a tarball for {plat}".encode())
        out[plat] = p
    return out


def render(archives: dict, version: str = "v0.1.0", only_given: bool = False) -> str:
    base = f"https://github.com/acme/kubectl-meshcheck/releases/download/{version}"
    given = {plat: (f"{base}/{p.name}", build.sha256_file(p)) for plat, p in archives.items()}
    return build.render_manifest(build.TEMPLATE.read_text(), version, "https://github.com/acme/kubectl-meshcheck",
                                 "3.11", given, only_given)


def test_template_covers_the_four_platforms():
    text = build.TEMPLATE.read_text()
    assert build.template_platforms(text) == ["linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"]
    assert text.count("bin: kubectl-meshcheck\n") == 4


def test_rendered_manifest_passes_krew_validation(fake_archives, tmp_path):
    text = render(fake_archives)
    assert "${" not in text and "\n#" not in text and not text.startswith("#")
    manifest = yaml.safe_load(text)
    assert krew_problems(manifest, "meshcheck.yaml") == []
    spec = manifest["spec"]
    assert spec["version"] == "v0.1.0" and spec["homepage"] == "https://github.com/acme/kubectl-meshcheck"
    assert len(spec["shortDescription"]) <= 50  # what `kubectl krew search` shows
    assert "3.11" in spec["caveats"]
    for p in spec["platforms"]:
        plat = f"{p['selector']['matchLabels']['os']}/{p['selector']['matchLabels']['arch']}"
        archive = fake_archives[plat]
        assert p["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
        assert p["uri"].endswith(f"/releases/download/v0.1.0/{archive.name}")
        assert p["bin"] == "kubectl-meshcheck" and "files" not in p  # everything, LICENSE included


def test_the_validator_catches_what_krew_refuses(fake_archives):
    good = yaml.safe_load(render(fake_archives))

    def broken(mutate):
        m = json.loads(json.dumps(good))
        mutate(m)
        return krew_problems(m, "meshcheck.yaml")

    def p0(m):
        return m["spec"]["platforms"][0]

    assert broken(lambda m: p0(m).update(sha256=p0(m)["sha256"].upper()))
    assert broken(lambda m: p0(m).update(sha256="abc"))
    assert broken(lambda m: m["spec"].update(version="0.1.0"))
    assert broken(lambda m: m["spec"].update(version="v1.2"))
    assert broken(lambda m: p0(m).pop("bin"))
    assert broken(lambda m: m["spec"]["platforms"].append(json.loads(json.dumps(p0(m)))))  # duplicate os/arch
    assert broken(lambda m: p0(m)["selector"].update(matchLabels={"os": "linux"}))  # overlaps linux/arm64
    assert broken(lambda m: p0(m)["selector"]["matchLabels"].update(distro="debian"))
    assert broken(lambda m: m["spec"].update(shortDescription="two\nlines"))
    assert broken(lambda m: p0(m).update(files=[]))
    assert krew_problems(good, "kubectl-meshcheck.yaml")


def test_render_normalises_and_refuses(fake_archives):
    upper = {plat: (f"https://x/{p.name}", build.sha256_file(p).upper()) for plat, p in fake_archives.items()}
    text = build.render_manifest(build.TEMPLATE.read_text(), "0.2.0-rc.1", "https://github.com/acme/x", "3.11", upper)
    manifest = yaml.safe_load(text)
    assert manifest["spec"]["version"] == "v0.2.0-rc.1" and krew_problems(manifest, "meshcheck.yaml") == []
    for bad in ("v1.2", "1.2.3.4", "latest", "v01.2.3"):
        with pytest.raises(build.BuildError, match="semver"):
            render(fake_archives, version=bad)
    one = dict(list(fake_archives.items())[:1])
    with pytest.raises(build.BuildError, match="no archive given for linux/arm64"):
        render(one)
    with pytest.raises(build.BuildError, match="no platform windows/amd64"):
        render({**fake_archives, "windows/amd64": fake_archives["linux/amd64"]})
    with pytest.raises(build.BuildError, match="64 hex"):
        build.render_manifest(build.TEMPLATE.read_text(), "v0.1.0", "h", "3.11",
                              {p: ("https://x", "0" * 63) for p in fake_archives})


def test_one_platform_manifest_for_a_local_krew_install(fake_archives):
    text = render({"linux/arm64": fake_archives["linux/arm64"]}, only_given=True)
    assert "description: |" in text and text.count("- selector:") == 1  # the template's layout, one platform
    manifest = yaml.safe_load(text)
    assert krew_problems(manifest, "meshcheck.yaml") == []
    assert [p["selector"]["matchLabels"] for p in manifest["spec"]["platforms"]] == [{"os": "linux", "arch": "arm64"}]


def test_manifest_command_line(fake_archives, tmp_path):
    out = tmp_path / "meshcheck.yaml"
    args = ["manifest", "--version", "v0.1.0", "--repo-url", "https://github.com/acme/kubectl-meshcheck",
            "--out", str(out), *(f"{plat}={p}" for plat, p in fake_archives.items())]
    assert build.main(args) == 0
    manifest = yaml.safe_load(out.read_text())
    assert krew_problems(manifest, out.name) == []
    assert manifest["spec"]["platforms"][0]["uri"] == (
        "https://github.com/acme/kubectl-meshcheck/releases/download/v0.1.0/kubectl-meshcheck_v0.1.0_linux_amd64.tar.gz")
    assert build.main([*args[:-1]]) == 1  # darwin/arm64 missing


def test_reproducible_tarball_of_files_and_directories_only(tmp_path):
    stage = tmp_path / "stage"
    (stage / "lib" / "pkg").mkdir(parents=True)
    (stage / "lib" / "pkg" / "__init__.py").write_text("x = 1\n")
    (stage / "kubectl-meshcheck").write_text("#!/usr/bin/env python3\n")
    (stage / "kubectl-meshcheck").chmod(0o755)
    (stage / "LICENSE").write_text("Apache-2.0\n")
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    build.write_tar_gz(stage, a)
    os.utime(stage / "LICENSE", (1, 1))
    build.write_tar_gz(stage, b)
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["LICENSE", "kubectl-meshcheck", "lib", "lib/pkg", "lib/pkg/__init__.py"]
    assert members["kubectl-meshcheck"].mode == 0o755 and members["LICENSE"].mode == 0o644
    assert all(m.isfile() or m.isdir() for m in members.values())
    (stage / "link").symlink_to(stage / "LICENSE")
    with pytest.raises(build.BuildError, match="symbolic link"):
        build.write_tar_gz(stage, tmp_path / "c.tar.gz")


def _can_build_offline() -> bool:
    from importlib import metadata

    def ver(name):
        try:
            return tuple(int(x) for x in metadata.version(name).split(".")[:2] if x.isdigit())
        except metadata.PackageNotFoundError:
            return ()

    st, wh = ver("setuptools"), ver("wheel")
    return bool(st) and (st >= (70, 1) or (bool(wh) and wh < (0, 46)))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A real archive, built offline from a copy of the repo (once for the module)."""
    if not _can_build_offline():
        pytest.skip("building offline needs setuptools>=70.1 (or setuptools with wheel<0.46) in the test environment")
    tmp = tmp_path_factory.mktemp("krew")
    repo = tmp / "repo"
    shutil.copytree(REPO, repo, ignore=build._IGNORE_IN_SOURCE)
    for name in ("LICENSE", "README.md"):  # build.py refuses to ship without them
        if not (repo / name).exists():
            (repo / name).write_text(f"{name} (test stand-in)\n")
    return build.build_archive(tmp / "dist", repo=repo)


def test_release_archive_is_self_contained(archive, tmp_path):
    """Run the archive with no site-packages at all."""
    ar = archive
    assert ar.sha256 == build.sha256_file(ar.path) and re.fullmatch(r"[a-f0-9]{64}", ar.sha256)
    assert ar.path.name == f"kubectl-meshcheck_{ar.version}_{ar.platform.replace('/', '_')}.tar.gz"
    assert Path(f"{ar.path}.sha256").read_text() == f"{ar.sha256}  {ar.path.name}\n"
    with tarfile.open(ar.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert all((m.isfile() or m.isdir()) and not m.name.startswith("/") and ".." not in m.name.split("/")
                   for m in members.values())
        assert members["kubectl-meshcheck"].mode == 0o755
        assert {"LICENSE", "README.md", "lib/kubectl_meshcheck/__init__.py",
                "lib/kubectl_meshcheck_plugins/ports/__init__.py",
                "lib/kubectl_meshcheck_plugins/startup/races.py"} <= set(members)
        assert not any(n.startswith("lib/bin/") or "__pycache__" in n for n in members)
        head = tar.extractfile("kubectl-meshcheck").read().decode()
        assert head.startswith("#!/usr/bin/env python3\n")
        tar.extractall(tmp_path / "x")
    # krew runs it through a symlink in $KREW_ROOT/bin; -S -I: nothing but the stdlib and lib/
    link = tmp_path / "bin" / "kubectl-meshcheck"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "x" / "kubectl-meshcheck")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHCHECK_", "PYTHON"))}
    p = subprocess.run([sys.executable, "-S", "-I", str(link), "plugins", "-o", "json", "--no-plugin-autoload"],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    got = {r["name"]: r for r in json.loads(p.stdout)["plugins"]}
    assert got["ports"]["status"] == "loaded" and got["ports"]["version"] == ar.version.lstrip("v")
    manifest = yaml.safe_load(build.render_manifest(
        build.TEMPLATE.read_text(), ar.version, "https://github.com/acme/kubectl-meshcheck", ar.python,
        {build.host_platform(): (f"https://x/{ar.path.name}", ar.sha256)}, only_given=True))
    assert krew_problems(manifest, "meshcheck.yaml") == []


def _python_dir(tmp_path: Path) -> Path:
    """A PATH entry with only ``python3``: the interpreter this venv was made from (no meshcheck in it)."""
    d = tmp_path / "python"
    d.mkdir()
    (d / "python3").symlink_to(getattr(sys, "_base_executable", None) or sys.executable)
    return d


def test_krew_install_runs_through_kubectl_plugin_discovery(archive, tmp_path):
    """krew's layout ($KREW_ROOT/store/meshcheck/<version>/, the bin/ symlink), found by kubectl on a PATH
    that holds no pip-installed copy; completion through the shim the README (and the caveats) describe."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    root = tmp_path / "krew"
    manifest = build.render_manifest(build.TEMPLATE.read_text(), archive.version, "https://github.com/acme/x",
                                     archive.python, {build.host_platform(): ("https://x/a.tar.gz", archive.sha256)},
                                     only_given=True)
    link = build.krew_layout(archive.path, root, archive.version, manifest, completion=True)
    store = root / "store" / "meshcheck" / archive.version
    assert link == root / "bin" / "kubectl-meshcheck" and link.is_symlink() and link.resolve() == store / BIN_NAME
    assert (store / "LICENSE").is_file() and (root / "receipts" / "meshcheck.yaml").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHCHECK_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({"PATH": os.pathsep.join([str(root / "bin"), str(_python_dir(tmp_path)), os.path.dirname(kubectl)]),
                "KREW_ROOT": str(root), "KUBECONFIG": os.devnull, "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1"})
    assert shutil.which("kubectl-meshcheck", path=env["PATH"]) == str(link)

    def kube(*args):
        return subprocess.run([kubectl, *args], capture_output=True, text=True, env=env, timeout=120, check=False)

    listed = kube("plugin", "list", "--name-only")
    assert listed.returncode == 0 and "kubectl-meshcheck" in listed.stdout.split(), listed.stdout + listed.stderr
    assert "overshadowed" not in listed.stderr
    p = kube("meshcheck", "-f", str(EXAMPLES), "-o", "json")
    assert p.returncode == 1, p.stderr  # findings at error in the examples
    assert any(f["code"] == "MC103" for f in json.loads(p.stdout)["findings"])
    v = json.loads(kube("meshcheck", "version", "-o", "json").stdout)
    assert Path(v["location"]).resolve() == (store / "lib" / "kubectl_meshcheck").resolve()  # the krew copy ran
    assert v["meshcheck"] == archive.version.lstrip("v")
    names = [ln.split("\t")[0] for ln in kube("__complete", "meshcheck", "").stdout.splitlines()]
    assert {"ports", "rules", "version"} <= set(names) and names[-1] == ":4"


def test_launcher_refuses_a_python_the_archive_was_not_built_for(tmp_path):
    other = (3, 10) if sys.version_info[:2] != (3, 10) else (3, 11)
    script = tmp_path / "kubectl-meshcheck"
    script.write_text(build.launcher(other))
    p = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 5 and p.stdout == ""
    assert p.stderr.startswith(f"error: this build of kubectl meshcheck needs Python {other[0]}.{other[1]}")
    assert len(p.stderr.splitlines()) == 1 and "pipx install kubectl-meshcheck" in p.stderr


def test_build_refuses_without_a_license(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "kubectl-meshcheck"\nversion = "0.1.0"\n')
    (tmp_path / "README.md").write_text("x\n")
    with pytest.raises(build.BuildError, match="LICENSE is missing"):
        build.build_archive(tmp_path / "dist", repo=tmp_path)
