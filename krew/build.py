#!/usr/bin/env python3
"""Build kubectl meshcheck's krew release archive and render its krew manifest, offline.

The archive is deliberately simple: ``LICENSE``, ``README.md``, a ``kubectl-meshcheck`` launcher
(``#!/usr/bin/env python3``, mode 0755) and ``lib/`` holding the project and every runtime
dependency. The project is installed into ``lib/`` with ``pip install --target`` from a scratch
copy of the source tree (no build isolation, no index: nothing is downloaded); the dependencies
are copied file by file (their RECORD) from the site-packages of the Python running this script,
so build it from a venv where the project is installed.

Honest limits: some dependencies carry compiled extensions (today pydantic-core through typer,
plus optional speed-ups in PyYAML and others), so such an archive only runs on the OS, CPU and
Python minor version it was built with. Build one archive per platform on a native machine (or
runner) and pass them all to ``manifest``. The launcher refuses, with one line, a Python the
archive was not built for. A bundle without compiled code is named ``..._any.tar.gz`` and serves
every platform.

Archives are reproducible: sorted entries, fixed owner and mtime (``SOURCE_DATE_EPOCH``, default
1980-01-01), gzip without a timestamp; only directories and regular files (krew refuses links).

Usage::

    python krew/build.py archive [--out dist] [--version v0.1.0]
    python krew/build.py manifest --version v0.1.0 --repo-url https://github.com/<org>/kubectl-meshcheck \\
        [--python 3.11] linux/amd64=dist/a.tar.gz linux/arm64=... darwin/amd64=... darwin/arm64=...
    python krew/build.py local [--out dist]   # this machine's archive + a one-platform manifest, then
        kubectl krew install --manifest=dist/meshcheck.yaml --archive=dist/<archive>
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.machinery
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "krew" / "meshcheck.yaml.tmpl"
PROJECT = "kubectl-meshcheck"
BIN = "kubectl-meshcheck"
MIN_PYTHON = (3, 10)
#: semver 2.0.0 (semver.org's regex) with the leading ``v`` krew requires
SEMVER_RE = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
SHA256_RE = re.compile(r"^[a-f0-9]{64}$")
_PLATFORM_KEY_RE = re.compile(r"\$\{([a-z0-9]+)_([a-z0-9]+)_uri\}")
_IGNORE_IN_SOURCE = shutil.ignore_patterns(
    ".git", ".ci", "tests", "krew", "dist", "build", "*.egg-info", "__pycache__", "*.pyc",
    ".pytest_cache", ".ruff_cache", ".venv", ".mypy_cache",
)
_COMPILED_SUFFIXES = tuple(set(importlib.machinery.EXTENSION_SUFFIXES) | {".so", ".pyd", ".dylib"})


class BuildError(Exception):
    """The archive or manifest cannot be built; the message says what to do."""


@dataclass
class Archive:
    path: Path
    sha256: str
    version: str
    platform: str  # "linux/amd64", ... or "any"
    python: str  # what the archive runs on: "3.11" or "3.10 or newer"
    compiled: list[str] = field(default_factory=list)  # distributions with compiled extensions


# -- versions, hashes, platforms -----------------------------------------------------------------


def normalise_version(version: str) -> str:
    """``0.1.0`` or ``v0.1.0`` -> ``v0.1.0``; anything that is not semver is refused (krew would)."""
    v = version.strip()
    v = v if v.startswith("v") else f"v{v}"
    if not SEMVER_RE.match(v):
        raise BuildError(f"version {version!r} is not 'v' + semver (e.g. v0.1.0, v0.2.0-rc.1)")
    return v


def project_version(repo: Path = ROOT) -> str:
    text = (repo / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(r'(?m)^version\s*=\s*"([^"]+)"', text)
    if not m:
        raise BuildError(f"{repo / 'pyproject.toml'}: no project version found")
    return normalise_version(m.group(1))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def host_platform() -> str:
    """This machine as krew names it (``GOOS/GOARCH``)."""
    os_name = {"linux": "linux", "darwin": "darwin", "windows": "windows"}.get(platform.system().lower())
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if not os_name or not arch:
        raise BuildError(f"unsupported build platform {platform.system()}/{platform.machine()}")
    return f"{os_name}/{arch}"


# -- vendoring -----------------------------------------------------------------------------------


def _requirement(text: str):
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - pip always carries it
        from pip._vendor.packaging.requirements import Requirement
    return Requirement(text)


def runtime_distributions(project: str = PROJECT) -> list[metadata.Distribution]:
    """The installed distributions ``project`` needs at run time (markers evaluated here, no extras)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [project]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise BuildError(f"{name} is not installed in {sys.prefix}: run this script from a venv where "
                             f"{project} and its dependencies are installed") from None
        seen[key] = dist
        for text in dist.requires or []:
            req = _requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    seen.pop(re.sub(r"[-_.]+", "-", project).lower(), None)
    return sorted(seen.values(), key=lambda d: d.metadata["Name"].lower())


def _copy_distribution(dist: metadata.Distribution, lib: Path) -> None:
    files = dist.files
    if files is None:
        raise BuildError(f"{dist.metadata['Name']} has no RECORD, so its files are unknown; reinstall it with pip")
    for f in files:
        parts = f.parts
        if not parts or parts[0] == ".." or "__pycache__" in parts or f.suffix == ".pyc":
            continue  # scripts in bin/, byte code
        src = Path(dist.locate_file(f))
        if not src.is_file():
            continue
        dst = lib.joinpath(*parts)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _install_project(repo: Path, lib: Path, python: str) -> None:
    """``pip install --target`` from a scratch copy, so the build leaves nothing in the work tree."""
    with tempfile.TemporaryDirectory(prefix="meshcheck-src-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(repo, src, ignore=_IGNORE_IN_SOURCE)
        cmd = [python, "-m", "pip", "install", "--target", str(lib), "--no-deps", "--no-build-isolation",
               "--no-index", "--no-compile", "--disable-pip-version-check", "-q", str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise BuildError("pip could not build the project offline (the build needs setuptools>=70.1, or "
                             "setuptools with wheel, installed beside pip):\n  " + "\n  ".join(tail))
    shutil.rmtree(lib / "bin", ignore_errors=True)  # console scripts pointing at the build's Python


def vendor(lib: Path, repo: Path = ROOT, python: str = sys.executable) -> list[str]:
    """Fill ``lib`` with the project and its runtime dependencies; return the dists with compiled code."""
    lib.mkdir(parents=True, exist_ok=True)
    _install_project(repo, lib, python)
    compiled = []
    for dist in runtime_distributions():
        _copy_distribution(dist, lib)
        if any(str(f).endswith(_COMPILED_SUFFIXES) for f in dist.files or []):
            compiled.append(dist.metadata["Name"])
    return compiled


LAUNCHER = '''#!/usr/bin/env python3
"""kubectl meshcheck (krew build): runs the copy vendored in lib/ beside this file."""
import os
import sys

MINIMUM = {minimum!r}
EXACT = {exact!r}  # the Python minor version compiled extensions in lib/ were built for, if any

found = tuple(sys.version_info[:2])
if found < MINIMUM or (EXACT is not None and found != EXACT):
    want = "%d.%d" % EXACT if EXACT else "%d.%d or newer" % MINIMUM
    sys.stderr.write("error: this build of kubectl meshcheck needs Python %s, but %s is Python %d.%d; "
                     "install it with pip instead: pipx install kubectl-meshcheck\\n"
                     % (want, sys.executable, found[0], found[1]))
    sys.exit(5)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "lib"))

from kubectl_meshcheck.cli import main  # noqa: E402

main()
'''


def launcher(exact: tuple[int, int] | None) -> str:
    return LAUNCHER.format(minimum=MIN_PYTHON, exact=exact)


# -- the archive ---------------------------------------------------------------------------------


def write_tar_gz(stage: Path, out: Path) -> None:
    """Reproducible tar.gz of ``stage``'s contents at the archive root: dirs and regular files only."""
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    entries = sorted(p for p in stage.rglob("*"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in entries:
            rel = p.relative_to(stage).as_posix()
            if p.is_symlink():
                raise BuildError(f"{rel} is a symbolic link; krew cannot unpack links")
            info = tarfile.TarInfo(rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
            if p.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = p.stat().st_size
                info.mode = 0o755 if p.stat().st_mode & 0o111 else 0o644
                with open(p, "rb") as f:
                    tar.addfile(info, f)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        gz.write(buf.getvalue())


def build_archive(out_dir: Path, version: str | None = None, repo: Path = ROOT,
                  python: str = sys.executable) -> Archive:
    """Build this machine's archive into ``out_dir``; also writes ``<archive>.sha256``."""
    version = normalise_version(version) if version else project_version(repo)
    for name in ("LICENSE", "README.md"):
        if not (repo / name).is_file():
            raise BuildError(f"{repo / name} is missing: the archive must carry it (krew-index requires a "
                             "license file among the installed files)")
    with tempfile.TemporaryDirectory(prefix="meshcheck-krew-") as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        compiled = vendor(stage / "lib", repo, python)
        exact = tuple(sys.version_info[:2]) if compiled else None
        (stage / BIN).write_text(launcher(exact), encoding="utf-8")
        (stage / BIN).chmod(0o755)
        for name in ("LICENSE", "README.md"):
            shutil.copyfile(repo / name, stage / name)
        plat = host_platform() if compiled else "any"
        suffix = plat.replace("/", "_")
        out = Path(out_dir) / f"{BIN}_{version}_{suffix}.tar.gz"
        write_tar_gz(stage, out)
    digest = sha256_file(out)
    Path(f"{out}.sha256").write_text(f"{digest}  {out.name}\n", encoding="utf-8")
    py = f"{exact[0]}.{exact[1]}" if exact else f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer"
    return Archive(out, digest, version, plat, py, compiled)


# -- the manifest --------------------------------------------------------------------------------


def template_platforms(template_text: str) -> list[str]:
    """``os/arch`` of every platform the template has placeholders for, in template order."""
    return [f"{o}/{a}" for o, a in _PLATFORM_KEY_RE.findall(template_text)]


def render_manifest(template_text: str, version: str, homepage: str, python: str,
                    archives: Mapping[str, tuple[str, str]], only_given: bool = False) -> str:
    """Fill the template. ``archives`` maps ``os/arch`` to ``(uri, sha256)``.

    Every platform of the template needs an archive unless ``only_given``, which drops the others
    (a manifest for ``kubectl krew install --manifest --archive`` on one machine).
    """
    version = normalise_version(version)
    values: dict[str, str] = {"version": version, "homepage": homepage, "python": python}
    for plat, (uri, digest) in archives.items():
        digest = digest.strip().lower()
        if not SHA256_RE.match(digest):
            raise BuildError(f"{plat}: sha256 {digest!r} is not 64 hex digits")
        if not uri.strip():
            raise BuildError(f"{plat}: empty uri")
        os_name, _, arch = plat.partition("/")
        values[f"{os_name}_{arch}_uri"] = uri.strip()
        values[f"{os_name}_{arch}_sha256"] = digest
    body = "".join(line for line in template_text.splitlines(keepends=True) if not line.startswith("#"))
    wanted = template_platforms(template_text)
    unknown = sorted(set(archives) - set(wanted))
    if unknown:
        raise BuildError(f"the template has no platform {', '.join(unknown)} (it has {', '.join(wanted)})")
    if only_given:
        body = _drop_platforms(body, [p for p in wanted if p not in archives])
    else:
        missing = [p for p in wanted if p not in archives]
        if missing:
            raise BuildError(f"no archive given for {', '.join(missing)}")
    if not archives:
        raise BuildError("no platform left in the manifest")
    return Template(body).substitute(values)


def _drop_platforms(body: str, drop: list[str]) -> str:
    """Remove the template's ``platforms`` entries (``  - selector: ...`` blocks) for ``drop``."""
    head, sep, tail = body.partition("\n  platforms:\n")
    if not sep:
        raise BuildError("the template has no spec.platforms list")
    blocks = re.split(r"(?m)^(?=  - )", tail)
    keys = {"${" + p.replace("/", "_") + "_uri}" for p in drop}
    kept = [b for b in blocks if b and not any(k in b for k in keys)]
    return head + sep + "".join(kept)


#: kubectl >= 1.26 runs ``kubectl_complete-meshcheck`` for ``kubectl meshcheck <TAB>``
COMPLETION_SHIM = '#!/bin/sh\nexec kubectl-meshcheck __complete "$@"\n'


def krew_layout(archive: Path, krew_root: Path, version: str, manifest: str | None = None,
                completion: bool = False) -> Path:
    """Lay an archive out as ``kubectl krew install --archive`` does; returns the ``bin/`` link.

    ``$KREW_ROOT/store/meshcheck/<version>/`` holds the extracted archive (krew refuses links and
    paths leaving the directory, and so does this), ``$KREW_ROOT/bin/kubectl-meshcheck`` is a
    symlink to the ``bin`` entry there, and ``receipts/meshcheck.yaml`` keeps the manifest. With
    ``completion`` the shim krew cannot install (krew links one executable only) is written beside
    the link, as the README tells users to.
    """
    version = normalise_version(version)
    store = Path(krew_root) / "store" / "meshcheck" / version
    store.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in parts:
                raise BuildError(f"{archive}: {m.name}: krew only unpacks plain files and directories inside it")
        tar.extractall(store, filter="tar") if hasattr(tarfile, "data_filter") else tar.extractall(store)
    if not (store / BIN).is_file():
        raise BuildError(f"{archive}: no {BIN} at the archive root (the manifest's bin)")
    bin_dir = Path(krew_root) / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / BIN
    link.symlink_to(store / BIN)
    receipts = Path(krew_root) / "receipts"
    receipts.mkdir(exist_ok=True)
    (receipts / "meshcheck.yaml").write_text(manifest or f"# meshcheck {version} from {archive}\n", encoding="utf-8")
    if completion:
        shim = bin_dir / "kubectl_complete-meshcheck"
        shim.write_text(COMPLETION_SHIM, encoding="utf-8")
        shim.chmod(0o755)
    return link


def _archives_arg(items: Iterable[str], base_url: str) -> dict[str, tuple[str, str]]:
    out = {}
    for item in items:
        plat, sep, path = item.partition("=")
        if not sep or "/" not in plat:
            raise BuildError(f"{item!r}: expected OS/ARCH=ARCHIVE, e.g. linux/amd64=dist/x.tar.gz")
        p = Path(path)
        if not p.is_file():
            raise BuildError(f"{path}: no such archive")
        out[plat] = (f"{base_url.rstrip('/')}/{p.name}", sha256_file(p))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="krew/build.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("archive", help="build this machine's release archive")
    a.add_argument("--out", default=str(ROOT / "dist"))
    a.add_argument("--version", help="v + semver (default: pyproject.toml's version)")
    m = sub.add_parser("manifest", help="render meshcheck.yaml from archives built on each platform")
    m.add_argument("--version", required=True)
    m.add_argument("--repo-url", required=True, help="https://github.com/<org>/kubectl-meshcheck (the homepage)")
    m.add_argument("--base-url", help="where the archives are downloaded (default: the GitHub release of --version)")
    m.add_argument("--python", default=f"{sys.version_info[0]}.{sys.version_info[1]}",
                   help="the Python the archives need")
    m.add_argument("--out", default=str(ROOT / "dist" / "meshcheck.yaml"))
    m.add_argument("--only-given", action="store_true", help="drop the template's platforms with no archive")
    m.add_argument("archives", nargs="+", metavar="OS/ARCH=ARCHIVE")
    lo = sub.add_parser("local", help="this machine's archive plus a manifest for krew install --archive")
    lo.add_argument("--out", default=str(ROOT / "dist"))
    lo.add_argument("--repo-url", default="https://github.com/kubectl-meshcheck/kubectl-meshcheck")
    args = ap.parse_args(argv)
    template = TEMPLATE.read_text(encoding="utf-8")
    try:
        if args.command == "archive":
            ar = build_archive(Path(args.out), args.version)
            print(f"{ar.path}\n{ar.sha256}  ({ar.platform}; Python {ar.python}"
                  + (f"; compiled code in {', '.join(ar.compiled)}" if ar.compiled else "") + ")")
        elif args.command == "manifest":
            version = normalise_version(args.version)
            base = args.base_url or f"{args.repo_url.rstrip('/')}/releases/download/{version}"
            text = render_manifest(template, version, args.repo_url, args.python,
                                   _archives_arg(args.archives, base), args.only_given)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text, encoding="utf-8")
            print(args.out)
        else:
            ar = build_archive(Path(args.out))
            plats = [host_platform()] if ar.platform == "any" else [ar.platform]
            base = f"{args.repo_url.rstrip('/')}/releases/download/{ar.version}"
            archives = {p: (f"{base}/{ar.path.name}", ar.sha256) for p in plats}
            text = render_manifest(template, ar.version, args.repo_url, ar.python, archives, only_given=True)
            manifest = Path(args.out) / "meshcheck.yaml"
            manifest.write_text(text, encoding="utf-8")
            print(f"kubectl krew install --manifest={manifest} --archive={ar.path}")
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
