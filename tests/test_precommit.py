"""The pre-commit hooks in .pre-commit-hooks.yaml, run by the real pre-commit in a temporary Git repository.

pre-commit builds a ``language: python`` hook's environment by pip-installing the repository, which
downloads the dependencies: nothing may download in tests, so the repository's hook definitions
(entry, args, file types, serial, pass_filenames) are copied into a local hook with ``language:
unsupported``, which runs the entry with the kubectl meshcheck installed here. pre-commit itself
still selects the files, appends them, runs the entry and judges the exit code; the hook file is
checked against pre-commit's own manifest schema.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXAMPLES = ROOT / "kubectl_meshcheck" / "examples"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
CLEAN = """apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec:
  selector: {app: web}
  ports:
  - {name: http-web, port: 80, targetPort: 8080}
"""

pre_commit = pytest.importorskip("pre_commit", reason="pre-commit is a test dependency ('.[test]')")


def hooks() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load(HOOKS.read_text())}


def test_hook_file_is_a_valid_pre_commit_manifest():
    from pre_commit.clientlib import load_manifest

    loaded = {h["id"]: h for h in load_manifest(str(HOOKS))}
    assert set(loaded) == {"meshcheck", "meshcheck-all"}
    for h in loaded.values():
        assert h["language"] == "python" and h["require_serial"] and set(h["types_or"]) == {"yaml", "json"}
    assert loaded["meshcheck"]["pass_filenames"] and not loaded["meshcheck-all"]["pass_filenames"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "kubectl-meshcheck = " in pyproject  # the entry meshcheck-all runs is installed with the package
    assert (ROOT / "kubectl_meshcheck" / "precommit.py").is_file()


def git(repo: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not on PATH")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MESHCHECK_", "KUBECONFIG"))}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "PRE_COMMIT_HOME": str(tmp_path / "cache"),
                "HOME": str(tmp_path), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", "KUBECONFIG": os.devnull})
    assert git(repo, "init", "-q", env=env).returncode == 0
    return repo, env


def configure(repo: Path, hook_id: str, args: list[str] | None = None) -> None:
    h = {k: v for k, v in hooks()[hook_id].items() if k != "description"}
    h["language"] = "unsupported"  # see the module docstring: the same entry, run without building an env
    if args is not None:
        h["args"] = args
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": [h]}]}))


def pre_commit_run(repo: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=180)


def test_hook_checks_the_staged_manifests_and_fails_on_errors(repo):
    repo, env = repo
    (repo / "deploy").mkdir()
    shutil.copy(EXAMPLES / "ports.yaml", repo / "deploy" / "argocd.yaml")  # MC103 errors
    (repo / "deploy" / "web.yaml").write_text(CLEAN)
    (repo / "ci.yml").write_text("on: push\njobs: {}\n")  # not a Kubernetes object: skipped with a note
    (repo / "notes.txt").write_text("kind: [\n")  # not YAML by type: never passed
    configure(repo, "meshcheck")
    git(repo, "add", ".", env=env)
    p = pre_commit_run(repo, env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "kubectl meshcheck" in p.stdout and "Failed" in p.stdout
    assert "MC103" in p.stdout and "deploy/argocd.yaml" in p.stdout and "notes.txt" not in p.stdout
    # only the clean manifest staged: passes
    git(repo, "rm", "-q", "--cached", "deploy/argocd.yaml", env=env)
    p = pre_commit_run(repo, env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Passed" in p.stdout


def test_fail_on_is_configurable_and_the_commit_is_blocked(repo):
    repo, env = repo
    (repo / "web.yaml").write_text(CLEAN.replace("http-web", "web"))  # MC101: info only
    configure(repo, "meshcheck")
    git(repo, "add", ".", env=env)
    assert pre_commit_run(repo, env).returncode == 0  # default --fail-on error
    configure(repo, "meshcheck", ["--fail-on", "info"])
    git(repo, "add", ".", env=env)
    p = pre_commit_run(repo, env)
    assert p.returncode == 1 and "MC101" in p.stdout
    inst = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=60)
    assert inst.returncode == 0, inst.stderr
    blocked = git(repo, "commit", "-qm", "web", env=env)
    assert blocked.returncode != 0 and "MC101" in blocked.stdout + blocked.stderr
    (repo / "web.yaml").write_text(CLEAN)
    git(repo, "add", ".", env=env)
    ok = git(repo, "commit", "-qm", "web", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_whole_tree_hook_sees_objects_in_unchanged_files(repo):
    repo, env = repo
    (repo / "deploy").mkdir()
    shutil.copy(EXAMPLES / "ports.yaml", repo / "deploy" / "argocd.yaml")
    git(repo, "add", ".", env=env)
    git(repo, "commit", "-qm", "base", "--no-verify", env=env)
    (repo / "deploy" / "web.yaml").write_text(CLEAN)
    configure(repo, "meshcheck-all", ["-f", "deploy", "-R"])
    git(repo, "add", ".", env=env)
    p = pre_commit_run(repo, env)
    assert p.returncode == 1 and "MC103" in p.stdout  # found in the file this commit did not touch


def test_entry_turns_trailing_files_into_f_flags():
    from kubectl_meshcheck.precommit import meshcheck_args

    assert meshcheck_args(["--fail-on", "warning", "a.yaml", "b.yaml"]) == (["--fail-on", "warning"],
                                                                           ["a.yaml", "b.yaml"])
    assert meshcheck_args(["ports", "--config", "c.yaml", "-R", "a.yaml"]) == (["ports", "--config", "c.yaml", "-R"],
                                                                              ["a.yaml"])
    assert meshcheck_args(["--select=MC1", "x.json"]) == (["--select=MC1"], ["x.json"])
    p = subprocess.run([sys.executable, "-m", "kubectl_meshcheck.precommit", "--fail-on", "warning"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "KUBECONFIG": os.devnull})
    assert p.returncode == 0 and p.stdout == ""  # no files: never the live cluster
