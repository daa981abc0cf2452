"""Human output as a person sees it: the installed CLI under a real pseudo-terminal at 80, 120 and 200
columns (through kubectl's plugin discovery too), piped, and with the colour switches; plus snapshots of
the block format built from a rule and finding of our own (bundled messages may change)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .ptyterm import run_in_pty

from kubectl_meshcheck.index import Index
from kubectl_meshcheck.model import (Applicability, Diagnostic, Finding, Fix, FixResult, K8sObject, ObjectRef, Owner,
                                     Severity, Topic, rule)
from kubectl_meshcheck.render.human import Sources, concise_line, finding_block, split_message
from kubectl_meshcheck.render.terminal import Style, cells

BIN = Path(sys.executable).parent
EXE = str(BIN / "kubectl-meshcheck")
EXAMPLES = Path(__file__).resolve().parents[1] / "kubectl_meshcheck" / "examples"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WIDTHS = (80, 120, 200)
HEADLINE = re.compile(r"^(error|warning|info)\[[A-Z]{2,5}\d{3}\] ")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "CLICOLOR_FORCE",
                                                             "CLICOLOR")}
    env.update({"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", "TERM": "xterm-256color",
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"})
    env.update(extra)
    return env


def in_pty(args, columns, env=None, kubectl=False) -> tuple[str, int]:
    """Run the CLI with stdout on a pseudo-terminal of ``columns`` columns; what the terminal shows."""
    cmd = ["kubectl", "meshcheck", *args] if kubectl else [EXE, *args]
    shown, rc, _ = run_in_pty(cmd, columns, env or _env())
    return shown, rc


def piped(args, **env):
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=_env(**env), timeout=120)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def as_json(args) -> dict:
    return json.loads(piped([*args, "-o", "json"]).stdout)


def too_wide(text: str, width: int, allowed: set[str] = frozenset()) -> list[str]:
    """Lines wider than the terminal, except commands printed to be copied whole (``allowed``)."""
    return [ln for ln in plain(text).splitlines() if cells(ln) > width and ln not in allowed]


def blocks(text: str) -> list[str]:
    """The finding blocks of a full output, in order."""
    out, cur = [], None
    for line in plain(text).splitlines():
        if HEADLINE.match(line):
            cur = [line]
            out.append(cur)
        elif cur is not None and (line.startswith("Found ") or line.startswith("No findings")):
            cur = None
        elif cur is not None:
            cur.append(line)
    return ["\n".join(b) for b in out]


# -- the findings at each width ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_findings():
    return as_json(["-f", str(EXAMPLES)])["findings"]


@pytest.mark.parametrize("columns", WIDTHS)
def test_every_finding_reads_whole_in_a_real_terminal_through_kubectl(columns, example_findings):
    out, rc = in_pty(["-f", str(EXAMPLES)], columns, kubectl=True)
    assert rc == 1
    assert too_wide(out, columns) == []
    found = blocks(out)
    assert len(found) == len(example_findings)
    for block, f in zip(found, example_findings):
        flat = " ".join(block.split())
        obj = f["object"]
        who = f"{obj['kind']} {obj['namespace'] + '/' if obj['namespace'] else ''}{obj['name']}"
        assert flat.startswith(f"{f['severity']}[{f['code']}] {who}: "), block
        assert f"--> {f['location']}" in flat, block
        tokens = set(block.split())
        split_words = [w for w in f["message"].split() if w not in tokens and w.rstrip(".;:") not in tokens]
        assert split_words == [], (split_words, block)  # every word of the message printed whole
        offered = [x for x in f["fixes"] if not x.get("withheld")]
        if offered:
            assert "help: " + " ".join(offered[0]["title"].split()) in flat, block


def test_the_snippet_is_the_line_the_finding_names_with_a_caret_under_it(example_findings):
    out, _ = in_pty(["-f", str(EXAMPLES / "ports.yaml"), "--select", "MC103"], 120)
    lines = plain(out).splitlines()
    f = next(f for f in example_findings if f["code"] == "MC103")
    number = int(f["location"].rsplit(":", 1)[1])
    source = (EXAMPLES / "ports.yaml").read_text().splitlines()[number - 1]
    i = next(i for i, ln in enumerate(lines) if ln.startswith(f"{number} | "))
    assert lines[i] == f"{number} | {source.rstrip()}"
    caret = lines[i + 1]
    start = caret.index("^")
    assert caret[start:].strip("^") == ""
    assert lines[i][start:].startswith("containerPort")  # under the key, past indentation and "- "


# -- the topic views at each width ---------------------------------------------------------------------

IDENTITY = {
    "ports": lambda r: [r["service"], str(r["port"]), r["name"]],
    "startup": lambda r: [r["workload"]],
    "egress": lambda r: [r["workload"], r["host"]],
    "probes": lambda r: [r["workload"], r["probe"].removesuffix("Probe")],
    "capture": lambda r: [r["workload"]],
}


@pytest.fixture(scope="module")
def view_rows():
    return {t: as_json([t, "-f", str(EXAMPLES)])["rows"] for t in IDENTITY}


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("topic", sorted(IDENTITY))
def test_topic_views_fit_and_never_split_a_row(topic, columns, view_rows):
    out, _ = in_pty([topic, "-f", str(EXAMPLES)], columns)
    rows = view_rows[topic]
    commands = {ln for r in rows for ln in str(r.get("command") or "").splitlines()}  # copied whole, as one line
    assert too_wide(out, columns, commands) == []
    view = re.split(r"\n(?:error|warning|info)\[", plain(out), maxsplit=1)[0]
    records = "FINDINGS: " in view
    chunks = view.split("\n\n") if records else view.splitlines()
    for r in rows:
        codes = ",".join(r["findings"]) or "-"
        want = IDENTITY[topic](r)
        holding = [c for c in chunks if all(w in c for w in want)]
        assert holding, (want, view)
        findings_cell = f"FINDINGS: {codes}" if records else f"  {codes}"
        assert any(findings_cell in c for c in holding), (want, codes, view)


def test_wide_adds_the_long_columns_and_json_rows_keep_every_fact():
    out = piped(["ports", "-f", str(EXAMPLES), "-o", "wide"], COLUMNS="300").stdout
    header = out.splitlines()[0].split()
    assert {"HANDLING", "WORKLOADS", "MESH", "WHY"} <= set(header)
    assert "TLS passthrough (opaque)" in out and "port name prefix" in out  # whole, not abbreviated
    default = piped(["ports", "-f", str(EXAMPLES)], COLUMNS="300").stdout
    assert "HANDLING" not in default.splitlines()[0] and "sniffed" in default
    row = next(r for r in as_json(["ports", "-f", str(EXAMPLES)])["rows"] if r["service"] == "frontend")
    assert row["protocol"] == "UnsupportedProtocol" and row["why"] == "unrecognised: sniffing"


def test_columns_left_out_are_named_under_the_table():
    out = piped(["ports", "-f", str(EXAMPLES)], COLUMNS="80").stdout
    note = next(ln for ln in out.splitlines() if ln.startswith("(not shown at 80 columns"))
    assert "MESH (all sidecar)" in note and "-o wide" in note
    assert "MESH" not in out.splitlines()[0].split()


# -- pipes, widths and colour --------------------------------------------------------------------------


def test_a_pipe_is_laid_out_for_100_columns_unless_COLUMNS_says_otherwise():
    args = ["-f", str(EXAMPLES)]
    default = piped(args).stdout
    assert too_wide(default, 100) == [] and max(cells(ln) for ln in default.splitlines()) > 80
    narrow = piped(args, COLUMNS="60").stdout
    assert too_wide(narrow, 60) == []
    assert "\x1b[" not in default + narrow


def test_COLUMNS_wins_over_the_terminal_and_an_unsized_terminal_counts_as_100():
    args = ["-f", str(EXAMPLES / "ports.yaml")]
    out, _ = in_pty(args, 200, _env(COLUMNS="70"))
    assert too_wide(out, 70) == [] and max(cells(ln) for ln in plain(out).splitlines()) > 60
    out, _ = in_pty(args, 0)
    widths = [cells(ln) for ln in plain(out).splitlines()]
    assert max(widths) <= 100 and max(widths) > 90


def test_colour_only_on_a_terminal_and_as_the_switches_say():
    args = ["-f", str(EXAMPLES / "ports.yaml")]
    coloured, _ = in_pty(args, 120)
    assert "\x1b[" in coloured
    assert "\x1b[" not in in_pty(args, 120, _env(NO_COLOR="1"))[0]
    assert "\x1b[" not in in_pty(args, 120, _env(CLICOLOR_FORCE="1", NO_COLOR="1"))[0]
    assert "\x1b[" not in in_pty([*args, "--color", "never"], 120, _env(CLICOLOR_FORCE="1"))[0]
    assert "\x1b[" not in in_pty(args, 120, _env(TERM="dumb"))[0]
    assert "\x1b[" in piped(args, CLICOLOR_FORCE="1").stdout
    assert "\x1b[" in piped([*args, "--color", "always"]).stdout
    assert "\x1b[" not in piped(args).stdout
    # only severities and codes are coloured, and the text is the same without colour
    painted = set(re.findall(r"\x1b\[[0-9;]+m(.*?)\x1b\[0m", coloured))
    assert painted and all(re.fullmatch(r"(error|warning|info|\[MC\d{3}\]|\d+ (errors?|warnings?|info))", p)
                           for p in painted), painted
    assert plain(coloured) == in_pty(args, 120, _env(NO_COLOR="1"))[0]
    bad = piped([*args, "--color", "sometimes"])
    assert bad.returncode == 3 and bad.stderr.strip() == "error: --color: unknown value 'sometimes' (use auto, " \
                                                         "always, never)"


def test_concise_is_one_unwrapped_line_per_finding(example_findings):
    p = piped(["-f", str(EXAMPLES), "-o", "concise"], COLUMNS="80")
    lines = p.stdout.splitlines()
    assert p.returncode == 1 and len(lines) == len(example_findings)
    for line, f in zip(lines, example_findings):
        obj = f["object"]
        assert line == (f"{f['location']}: {f['severity']}[{f['code']}] {obj['kind']} "
                        f"{obj['namespace'] + '/' if obj['namespace'] else ''}{obj['name']}: "
                        f"{' '.join(f['message'].split())}")
    assert any(cells(ln) > 80 for ln in lines)  # never wrapped, whatever the width
    assert p.stderr.splitlines()[0].startswith(f"Found {len(example_findings)} findings")


def test_the_summary_counts_by_severity_and_says_how_to_print_the_fixes():
    out = piped(["-f", str(EXAMPLES / "ports.yaml"), "-n", "shop"]).stdout
    lines = out.splitlines()
    assert any(ln.startswith("Found ") and "error" in ln for ln in lines)
    doc = as_json(["-f", str(EXAMPLES / "ports.yaml")])
    by = doc["summary"]["bySeverity"]
    counts = ", ".join(f"{by[s]} {s}{'s' if by[s] != 1 and s != 'info' else ''}" for s in ("error", "warning", "info")
                       if by[s])
    found = next(ln for ln in lines if ln.startswith("Found "))
    assert found.startswith(f"Found {doc['summary']['findings']} findings: {counts}.")
    fixable = [f for f in doc["findings"] if f["fixes"]
               and f["fixes"][0]["verified"] and f["fixes"][0]["applicability"] == "safe"]
    assert f"{len(fixable)} with a safe, verified fix" in out and "rerun with -o patch" in " ".join(out.split())


# -- snapshots of the block format (a rule and finding of our own) -------------------------------------

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  template:
    spec:
      containers:
      - name: web
        env:
        - name: DB_PASSWORD
          value: hunter2
        ports:
        - containerPort: 8080   # the app
"""


@rule(code="ZZ901", name="demo", topic=Topic.PORTS, summary="demo", targets=["Deployment"],
      severity=Severity.ERROR)
def demo(obj, ctx):
    """What it checks: nothing (a snapshot fixture)."""
    return []


def _finding(origin: str, path: str, line: int | None, **extra) -> tuple[Finding, Index]:
    import yaml

    lines = {"/spec/template/spec/containers/0/ports/0": 15, "/spec/template/spec/containers/0/env/0/value": 13}
    ref = ObjectRef("apps/v1", "Deployment", "demo", "web", origin)
    obj = K8sObject(yaml.safe_load(MANIFEST), ref, lambda p: lines.get(p))
    fix = Fix("Name the port http and declare appProtocol: http", Applicability.UNSAFE, ref,
              caveats=("ServiceMonitors that select the port by number keep working",))
    diag = Diagnostic(path, "container port 8080 serves plaintext HTTP on a port the mesh treats as TLS; clients "
                            "that send TLS get a reset", args=extra.pop("args", {}))
    loc = obj.location(path) if line else origin
    return Finding(demo, Severity.ERROR, ref, loc, diag, (FixResult(fix, True),), **extra), Index([obj])


def test_snapshot_block_from_a_file(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(MANIFEST)
    f, index = _finding(f"{path}:1", "/spec/template/spec/containers/0/ports/0", 15,
                        owner=Owner("Helm", "web", "change the chart's values"),
                        args={"assumptions": ["the namespace is meshed (no Namespace object in the input)"]})
    got = "\n".join(finding_block(f, Style(80), Sources(index))).replace(str(path), "web.yaml")
    assert got == """\
error[ZZ901] Deployment demo/web: container port 8080 serves plaintext HTTP on a
             port the mesh treats as TLS
  --> web.yaml:15
   |
15 |         - containerPort: 8080   # the app
   |           ^^^^^^^^^^^^^^^^^^^
   |
   = clients that send TLS get a reset
   = note: managed by Helm web: change the chart's values
   = note: assumes the namespace is meshed (no Namespace object in the input)
help: Name the port http and declare appProtocol: http [unsafe, verified]
      caveat: ServiceMonitors that select the port by number keep working"""
    assert concise_line(f, Style(80)).replace(str(path), "web.yaml") == (
        "web.yaml:15: error[ZZ901] Deployment demo/web: container port 8080 serves plaintext HTTP on a port the "
        "mesh treats as TLS; clients that send TLS get a reset")


def test_snapshot_block_of_a_live_object_shows_the_field_and_masks_secrets():
    f, index = _finding("cluster:kind-dev", "/spec/template/spec/containers/0/env/0/value", None)
    got = "\n".join(finding_block(f, Style(60), Sources(index)))
    assert got == """\
error[ZZ901] Deployment demo/web: container port 8080 serves
             plaintext HTTP on a port the mesh treats as TLS
 --> cluster:kind-dev
  |
  | spec.template.spec.containers[0].env[0].value: ****
  |
  = clients that send TLS get a reset
help: Name the port http and declare appProtocol: http
      [unsafe, verified]
      caveat: ServiceMonitors that select the port by number
              keep working"""
    assert "hunter2" not in got


def test_a_snippet_line_holding_a_secret_is_masked(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(MANIFEST)
    f, index = _finding(f"{path}:1", "/spec/template/spec/containers/0/env/0/value", 13)
    got = "\n".join(finding_block(f, Style(100), Sources(index)))
    assert "13 |           value: ****" in got and "hunter2" not in got


def test_long_lines_are_cut_with_an_ellipsis_and_words_are_never_split(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(MANIFEST.replace("# the app", "# " + "x" * 200))
    f, index = _finding(f"{path}:1", "/spec/template/spec/containers/0/ports/0", 15)
    lines = finding_block(f, Style(50), Sources(index))
    assert all(cells(ln) <= 50 for ln in lines)
    assert next(ln for ln in lines if ln.startswith("15 | ")).endswith("…")
    words = {w for ln in lines for w in ln.split()}
    assert {"plaintext", "ServiceMonitors", "appProtocol:"} <= words


def test_the_headline_is_the_first_clause_and_the_rest_follows_whole():
    msg = "port 'web' (80; unnamed) names no protocol Istio recognises: sidecars sniff it; HTTP/1.x gets L7"
    assert split_message(msg) == ("port 'web' (80; unnamed) names no protocol Istio recognises: sidecars sniff it",
                                  "HTTP/1.x gets L7")  # a ';' first, never inside parentheses
    msg = "the pod's istio-proxy has image: auto (never injected): it cannot be pulled. Label the namespace"
    assert split_message(msg) == ("the pod's istio-proxy has image: auto (never injected): it cannot be pulled",
                                  "Label the namespace")  # then a sentence end
    msg = "the pod's istio-proxy has image: auto (never injected): it cannot be pulled"
    assert split_message(msg) == ("the pod's istio-proxy has image: auto (never injected)",
                                  "it cannot be pulled")  # then the last ':' (the first is a key: value)
    assert split_message("short: a message") == ("short: a message", "")  # too early to be a headline
    msg = "proxy.istio.io/config: 'holdApplication' is not a ProxyConfig field, so the app is not held"
    assert split_message(msg) == (msg, "")  # "annotation:" labels the message; it is no clause


# -- a live cluster (the API server emulation over real HTTP) ------------------------------------------


def test_live_findings_show_the_context_the_field_and_its_current_value(tmp_path):
    import yaml

    from .kubeapi import KubeAPIServer, write_kubeconfig

    objects = [d for d in yaml.safe_load_all((EXAMPLES / "ports.yaml").read_text()) if d]
    with KubeAPIServer(objects=objects) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start(), namespace="shop")
        env = _env(KUBECONFIG=str(kc), HOME=str(tmp_path))
        out, rc = in_pty(["--select", "MC103,MC101"], 100, env)
    text = plain(out)
    assert rc == 1 and too_wide(text, 100) == []
    found = blocks(text)
    assert [b.split("]")[0] for b in found] == ["error[MC103", "info[MC101"]
    mc103, mc101 = found
    context = next(ln for ln in mc103.splitlines() if "-->" in ln).split("--> ")[1]
    assert context.startswith("cluster:")
    assert " | spec.template.spec.containers[0].ports[0]: {containerPort: 8080" in mc103
    assert " | spec.ports[0]: {name: web, port: 80" in mc101
    assert "note: read namespace shop of context" in " ".join(text.split())


def test_wide_blocks_offer_every_fix_best_first(example_findings):
    several = next(f for f in example_findings if len([x for x in f["fixes"] if not x.get("withheld")]) > 1)
    args = ["-f", several["object"]["origin"].rsplit(":", 1)[0], "--select", several["code"]]
    f = next(x for x in as_json(args)["findings"] if x["location"] == several["location"])
    out = " ".join(piped([*args, "-o", "wide"]).stdout.split())
    titles = [" ".join(x["title"].split()) for x in f["fixes"] if not x.get("withheld")]
    assert len(titles) > 1 and out.index("help: " + titles[0]) < out.index("or: " + titles[1])
    assert all(("or: " + t) in out for t in titles[1:])
    assert "or: " not in " ".join(piped(args).stdout.split())  # the default shows the best one


def test_wide_that_does_not_fit_prints_records_with_every_value_whole():
    rows = as_json(["probes", "-f", str(EXAMPLES)])["rows"]
    out = piped(["probes", "-f", str(EXAMPLES), "-o", "wide"], COLUMNS="100").stdout
    assert too_wide(out, 100) == [] and "…" not in re.split(r"\n(?:error|warning|info)\[", out)[0]
    flat = " ".join(out.split())
    for r in rows:
        assert f"WHY: {' '.join(r['why'].split())}" in flat and f"ORIGINAL: {r['original']}" in flat


def test_wide_characters_are_measured_in_terminal_cells(tmp_path):
    from kubectl_meshcheck.render.terminal import cut, wrap

    assert cells("名前") == 4 and cells(cut("名前はとても長い", 7)) <= 7 and cut("名前はとても長い", 7).endswith("…")
    assert all(cells(ln) <= 12 for ln in wrap("表示 名前 とても 長い 説明文 です", 12))
    path = tmp_path / "web.yaml"
    path.write_text(MANIFEST.replace("# the app", "# アプリケーションのポート番号はここで宣言します"))
    f, index = _finding(f"{path}:1", "/spec/template/spec/containers/0/ports/0", 15)
    assert all(cells(ln) <= 50 for ln in finding_block(f, Style(50), Sources(index)))
