"""Tab completion as a shell gets it: the real ``kubectl __complete meshcheck ...`` finding the installed
``kubectl_complete-meshcheck`` on PATH (kubectl's plugin-completion protocol), answered from the CLI's own
definition; namespaces from the API server emulation over real HTTP, or from the kubeconfig."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import require_kubectl
from .kubeapi import KubeAPIServer, write_kubeconfig

BIN = Path(sys.executable).parent
EXE = str(BIN / "kubectl-meshcheck")


def kubeconfig_with_contexts(path: Path, server: str) -> str:
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: emu
clusters:
- {{name: emu, cluster: {{server: "{server}"}}}}
users:
- {{name: emu, user: {{token: t}}}}
contexts:
- {{name: emu, context: {{cluster: emu, user: emu, namespace: shop}}}}
- {{name: staging, context: {{cluster: emu, user: emu, namespace: team-a}}}}
""")
    return str(path)


def complete(*words: str, kubeconfig: str | None = None, home: Path | None = None):
    """``kubectl __complete meshcheck WORDS...``: (candidates, descriptions, directive)."""
    require_kubectl()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "MESHCHECK_CONFIG")}
    env.update({"PATH": f"{BIN}{os.pathsep}{os.path.dirname(shutil.which('kubectl'))}",
                "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    if home:
        env["HOME"] = str(home)
    p = subprocess.run([shutil.which("kubectl"), "__complete", "meshcheck", *words], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines and re.fullmatch(r":\d+", lines[-1]), p.stdout
    found = [ln.split("\t", 1) for ln in lines[:-1]]
    return [f[0] for f in found], {f[0]: f[1] if len(f) > 1 else "" for f in found}, int(lines[-1][1:])


def help_flags(*command: str) -> set[str]:
    """The flags ``--help`` documents (the other way the CLI describes itself)."""
    out = subprocess.run([EXE, *command, "--help"], capture_output=True, text=True, timeout=60).stdout
    return set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", out)) - {"-", "--"}


def test_subcommands_with_their_help():
    names, desc, directive = complete("")
    assert {"ports", "startup", "egress", "probes", "capture", "rules", "plugins", "version"} <= set(names)
    assert desc["ports"].startswith("Per Service port") and directive & 4  # no file names here
    assert complete("pro")[0] == ["probes"]


@pytest.mark.parametrize("command", [(), ("ports",), ("rules",)])
def test_flags_are_those_the_command_defines(command):
    names, desc, directive = complete(*command, "-")
    documented = help_flags(*command)
    assert set(names) == documented, (set(names) ^ documented)
    if not command:
        assert {"--version", "-o", "--output", "--fail-on", "--select", "-f", "--context"} <= set(names)
    assert directive & 4
    names, desc, _ = complete(*command, "--out")
    assert names == ["--output"] and desc["--output"].startswith("One of")


def test_output_values_follow_the_command():
    from kubectl_meshcheck.cli import LISTINGS, OUTPUTS

    assert complete("-o", "")[0] == list(OUTPUTS)
    assert {"sarif", "github", "junit"} <= set(OUTPUTS)
    assert complete("ports", "-o", "")[0] == list(OUTPUTS)
    assert complete("rules", "-o", "")[0] == list(LISTINGS)
    assert complete("--output=j")[0] == ["--output=json", "--output=junit"]
    assert complete("ports", "--fail-on", "")[0] == ["info", "warning", "error"]
    assert complete("--mesh-mode", "")[0] == ["sidecar", "ambient", "none"]
    assert complete("--native-sidecars", "")[0] == ["true", "false", "auto"]


def test_rule_codes_for_rules_and_select(host):
    codes = [r.code for r in host.registry.all()]
    names, desc, directive = complete("rules", "")
    assert names == codes and directive & 4
    assert desc["MC103"].startswith("target-port-protocol-conflict: ")
    assert complete("rules", "mc10")[0] == [c for c in codes if c.startswith("MC10")]
    names, desc, _ = complete("ports", "--select", "MC1")
    assert [n for n in names if len(n) == 5] == [c for c in codes if c.startswith("MC1")]
    assert any(d.startswith("every ports rule") for d in desc.values())
    names, _, _ = complete("--ignore", "MC101,MC20")
    assert names and all(n.startswith("MC101,MC20") for n in names)
    assert complete("rules", "MC103", "")[0] == []  # one code only


def test_paths_are_left_to_the_shell():
    assert complete("-f", "")[2] == 0  # default: the shell completes file names
    assert complete("ports", "-k", "")[2] == 16  # directories only
    assert complete("--kubeconfig", "")[2] == 0


def test_contexts_and_namespaces_from_a_reachable_cluster(tmp_path):
    extra = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("zeta", "alpha")]
    with KubeAPIServer(objects=extra) as srv:
        kc = kubeconfig_with_contexts(tmp_path / "config", srv.start())
        names, desc, _ = complete("--context", "", kubeconfig=kc, home=tmp_path)
        assert names == ["emu", "staging"] and desc["staging"] == "namespace team-a"
        names, _, directive = complete("-n", "", kubeconfig=kc, home=tmp_path)
        assert {"alpha", "zeta"} <= set(names) and names == sorted(names) and directive & 4
        assert complete("ports", "-n", "z", kubeconfig=kc, home=tmp_path)[0] == ["zeta"]
        assert any(r["path"].startswith("/api/v1/namespaces") for r in srv.requests)


def test_namespaces_fall_back_to_the_kubeconfig_within_a_second(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kc = kubeconfig_with_contexts(tmp_path / "config", f"http://127.0.0.1:{port}")
    t0 = time.monotonic()
    names, _, _ = complete("-n", "", kubeconfig=kc, home=tmp_path)
    assert names == ["shop", "team-a"]  # the current context's namespace first
    assert complete("--context", "staging", "-n", "", kubeconfig=kc, home=tmp_path)[0][0] == "team-a"
    assert time.monotonic() - t0 < 8  # two kubectl round trips, each bounded by the 1 s limit


def test_the_shim_answers_the_same_and_errors_never_leak(tmp_path):
    kc = write_kubeconfig(str(tmp_path / "config"), "http://127.0.0.1:9")
    env = {**os.environ, "KUBECONFIG": kc, "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    shim = subprocess.run([EXE, "__complete", "ports", "--fail-on", ""], capture_output=True, text=True, env=env,
                          timeout=60)
    assert shim.stdout == "info\nwarning\nerror\n:4\n" and shim.returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("plugins: [\n")
    p = subprocess.run([str(BIN / "kubectl_complete-meshcheck"), "rules", "--config", str(bad), ""],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.endswith(":4\n") and "Traceback" not in p.stderr
