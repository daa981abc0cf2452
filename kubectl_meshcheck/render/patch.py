"""``-o patch``: the fixes as a reviewable shell script of ``kubectl patch`` commands.

One block per finding: a comment naming the finding and the fix, its caveats, then the command.
Only the best fix that is not withheld is printed; unsafe fixes only with ``--unsafe-fixes``;
display-only fixes appear as comments (a human must choose the value).
"""

from __future__ import annotations

import json

from ..fixes import kubectl_patch_command
from ..model import Applicability, Finding


def render_patches(findings: list[Finding], unsafe: bool) -> str:
    out = ["#!/bin/sh", "# Fixes from kubectl meshcheck. Review before running: each patch starts with",
           "# 'test' operations, so it refuses to apply to an object that changed since.", "set -e", ""]
    skipped = 0
    for f in findings:
        usable = [r for r in f.fixes if not r.withheld and r.verified is not False]
        if not usable:
            continue
        best = usable[0]
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
            out.append(f"#   {part.target.display()}: {json.dumps(part.patch(), default=str)}")
            out.append(kubectl_patch_command(part))
        out.append("")
    if skipped:
        out.append(f"# {skipped} unsafe fix(es) left out; add --unsafe-fixes to include them")
    return "\n".join(out) + "\n"
