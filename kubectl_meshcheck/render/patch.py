"""``-o patch``: the fixes as a reviewable shell script of ``kubectl patch`` (and ``kubectl create``) commands.

One block per finding: a comment naming the finding and the fix, its caveats, then the command.
Only the best fix that is not withheld is printed; unsafe fixes only with ``--unsafe-fixes``; objects
that Helm, Argo CD or Flux manage are left out (the next sync reverts a live patch) unless
``--include-owned``, and the script says how many and whose;
display-only fixes appear as comments (a human must choose the value). An object that several fixes
create is created once (``kubectl create`` refuses a second time and ``set -e`` would stop there).
"""

from __future__ import annotations

import dataclasses
import json

from ..fixes import best_fix, created_objects, kubectl_command
from ..model import Applicability, Finding, PatchOp


def render_patches(findings: list[Finding], unsafe: bool, include_owned: bool = False) -> str:
    out = ["#!/bin/sh", "# Fixes from kubectl meshcheck. Review before running: each patch starts with",
           "# 'test' operations, so it refuses to apply to an object that changed since.", "set -e", ""]
    skipped = 0
    best_of = {}
    owned: dict[str, int] = {}
    for f in findings:
        best = best_fix(f)
        if best is None:
            continue
        if f.owner and not include_owned and best.fix.applicability is not Applicability.DISPLAY_ONLY:
            owned[f"{f.owner.kind} {f.owner.name}"] = owned.get(f"{f.owner.kind} {f.owner.name}", 0) + 1
            continue
        best_of[id(f)] = best
    # an object several fixes create is created once, with what all of them need
    creations = created_objects(r.fix for r in best_of.values()
                                if r.fix.applicability is not Applicability.UNSAFE or unsafe)
    created: set[tuple] = set()
    for f in findings:
        best = best_of.get(id(f))
        if best is None:
            continue
        fix = best.fix
        head = f"# {f.code} {f.object.display()} ({f.location}): {fix.title}"
        if fix.applicability is Applicability.DISPLAY_ONLY:
            out += [head, "#   display-only: choose the value yourself", ""]
            continue
        if fix.applicability is Applicability.UNSAFE and not unsafe:
            skipped += 1
            continue
        out.append(head + (" [unsafe]" if fix.applicability is Applicability.UNSAFE else ""))
        out += [f"#   caveat: {c}" for c in fix.caveats]
        if f.owner:
            out.append(f"#   managed by {f.owner.kind} {f.owner.name}: {f.owner.hint}")
        for part in fix.parts():
            if part.created is None:
                out.append(f"#   {part.target.display()}: {json.dumps(part.patch(), default=str)}")
                out.append(kubectl_command(part))
            elif part.target.key in created:
                out.append(f"#   {part.target.display()}: created above")
            else:
                created.add(part.target.key)
                out.append(f"#   create {part.target.display()}")
                whole = dataclasses.replace(part, ops=(PatchOp("add", "", creations[part.target.key]),))
                out.append(kubectl_command(whole))
        out.append("")
    if skipped:
        out.append(f"# {skipped} unsafe fix(es) left out; add --unsafe-fixes to include them")
    if owned:
        who = ", ".join(f"{n} for {k}" for k, n in owned.items())
        out.append(f"# fixes for managed objects left out ({who}): their owner reverts a live patch at the next "
                   "sync; fix the source (see the findings, or -o kustomize), or add --include-owned")
    return "\n".join(out) + "\n"
