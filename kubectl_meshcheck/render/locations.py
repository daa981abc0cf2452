"""Where a finding is, as CI systems want it: a path relative to the repository root, a line, a column.

A finding's ``location`` is ``file:line`` for manifests (the file as given on the command line),
``stdin:line``, ``dir/ (kustomize):line`` for rendered kustomizations, or ``cluster:<context>`` for
live objects. Only the first names a file in the repository; the others get no file (SARIF gives
them a logical location ``Kind/namespace/name``).

The repository root is ``$GITHUB_WORKSPACE`` when set (GitHub resolves annotation and SARIF paths
against it), else the nearest directory above the working directory holding ``.git``, else the
working directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..model import Finding, K8sObject, ObjectRef

_LINE_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


@dataclass(frozen=True)
class Place:
    path: str | None  # repository-relative POSIX path, or an absolute one outside the repository
    in_repo: bool
    line: int | None
    column: int | None


@lru_cache(maxsize=1)
def repo_root() -> Path:
    env = os.environ.get("GITHUB_WORKSPACE")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd().resolve()
    for d in (cwd, *cwd.parents):
        if (d / ".git").exists():
            return d
    return cwd


def file_of(origin: str) -> tuple[str | None, int | None, int | None]:
    """(file, line, column) of an origin or location; file None when it is not a file on disk."""
    if origin.startswith("cluster:"):
        return None, None, None
    m = _LINE_RE.match(origin)
    file, line, col = (m.group("file"), int(m.group("line")), int(m.group("col")) if m.group("col") else None) \
        if m else (origin, None, None)
    if file == "stdin" or file.endswith(" (kustomize)") or not os.path.isfile(file):
        return None, line, col
    return file, line, col


def relative(file: str) -> tuple[str, bool]:
    """``file`` relative to the repository root (POSIX), and whether it is inside it."""
    p = Path(file).resolve()
    try:
        return p.relative_to(repo_root()).as_posix(), True
    except ValueError:
        return p.as_posix(), False


@lru_cache(maxsize=256)
def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def source_line(file: str, line: int) -> str | None:
    lines = _lines(str(Path(file).resolve()))
    return lines[line - 1] if 0 < line <= len(lines) else None


def column_of(file: str, line: int, pointer: str) -> int | None:
    """1-based column of the field ``pointer`` names on its line: the key (``name:``) or the list item."""
    text = source_line(file, line)
    if text is None:
        return None
    token = pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~") if pointer else ""
    if token and not token.isdigit():
        m = re.search(r"(^|[\s{,-])(['\"]?)" + re.escape(token) + r"\2\s*:", text)
        if m:
            return m.start() + len(m.group(1)) + 1
        return None
    m = re.match(r"^(\s*-\s)", text)  # a list item's line
    if m:
        return len(m.group(1)) + 1
    stripped = len(text) - len(text.lstrip())
    return stripped + 1 if text.strip() else None


def place(f: Finding) -> Place:
    """The finding's file (repository-relative), line and, where the line shows the field, column."""
    file, line, col = file_of(f.location)
    if file is None:
        return Place(None, False, None, None)
    path, inside = relative(file)
    if line is not None and col is None:
        col = column_of(file, line, f.diagnostic.path)
    return Place(path, inside, line, col)


def logical_name(ref: ObjectRef) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped)."""
    return "/".join(x for x in (ref.kind, ref.namespace, ref.name) if x)


def by_ref(objects: list[K8sObject]) -> dict[tuple, K8sObject]:
    """Objects by identity (kind, namespace, name), the first one read winning, for fix and line lookups."""
    out: dict[tuple, K8sObject] = {}
    for o in objects:
        out.setdefault(o.ref.key, o)
    return out
