"""Hand-judged verdicts on the real-world corpus (../shared/corpus/real): per project and mesh mode,
the findings at warning or above that we judged right against Istio's behaviour. Every topic runs on
each project as ``kubectl meshcheck -f <project> -R`` would (namespace-less objects in ``default``):
as the files say (namespaces they label, others assumed sidecar), and with ``--mesh-mode sidecar``
and ``ambient`` ("what if we meshed this?"). A finding not listed here is a new false alarm until
someone judges it and adds it with the reason; a listed one that disappears is a lost true finding.

Verdict notes (why each is right):
- MC206 ``wait-for-*`` / ``frontend-check`` init containers (nc/wget to a Service): with istio-init
  they run before iptables (outside the mesh); with Istio CNI their connections go to 15001 where
  nothing listens yet, so the wait never ends.
- MC206 argo-cd ``argocd-redis-ha-server`` ``config-init``: its mounted init.sh asks Redis Sentinel
  (redis-cli) for the master before any classic sidecar is up. (The haproxy ``config-init`` only
  resolves names with getent: not reported.)
- MC103 argo-cd ``argocd-server``: Service ports http 80 and https 443 both target 8080 (argo-cd#2784,
  IST0137): one protocol wins for the container port.
- MC201 ingress-nginx admission Jobs, when meshed as sidecar: the classic sidecar (native sidecars
  auto, kubelet versions unknown) keeps the Job pods running.
"""

import pytest

from kubectl_meshcheck.engine import Engine
from kubectl_meshcheck.index import Index
from kubectl_meshcheck.model import MeshMode, Severity
from kubectl_meshcheck.sources.manifests import LoadResult, load_paths

from .conftest import CORPUS, require_corpus

OTEL_WAITERS = ("accounting", "cart", "checkout", "fraud-detection")
#: project -> mode -> {(code, "Kind namespace/name")} judged right; modes: "files" (as the files say),
#: "sidecar" and "ambient" (--mesh-mode); a project or mode not listed has no finding at warning or above
RIGHT: dict[str, dict[str, set[tuple[str, str]]]] = {
    "aks-store-demo": {
        "files": {("MC206", "Deployment default/order-service")},
        "sidecar": {("MC206", "Deployment default/order-service")},
    },
    "argo-cd": {
        "files": {("MC103", "Deployment default/argocd-server"),
                  ("MC206", "StatefulSet default/argocd-redis-ha-server")},
        "sidecar": {("MC103", "Deployment default/argocd-server"),
                    ("MC206", "StatefulSet default/argocd-redis-ha-server")},
    },
    "ingress-nginx": {
        "sidecar": {("MC201", "Job ingress-nginx/ingress-nginx-admission-create"),
                    ("MC201", "Job ingress-nginx/ingress-nginx-admission-patch")},
    },
    "microservices-demo": {
        "files": {("MC206", "Deployment default/loadgenerator")},
        "sidecar": {("MC206", "Deployment default/loadgenerator")},
    },
    "opentelemetry-demo": {
        "files": {("MC206", f"Deployment default/{n}") for n in OTEL_WAITERS},
        "sidecar": {("MC206", f"Deployment default/{n}") for n in OTEL_WAITERS},
    },
}
MODES = {"files": None, "sidecar": MeshMode.SIDECAR, "ambient": MeshMode.AMBIENT}


def _projects() -> list[str]:
    root = CORPUS / "real"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else ["(no corpus)"]


@pytest.fixture(scope="module")
def loaded():
    cache: dict[str, list] = {}

    def load(project: str):
        if project not in cache:
            out = load_paths([str(require_corpus() / "real" / project)], recursive=True,
                             out=LoadResult(default_namespace="default"))
            assert not out.errors, out.errors
            cache[project] = out.objects
        return cache[project]

    return load


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("project", _projects())
def test_real_project_findings_are_the_judged_ones(project, mode, loaded, host):
    objects = loaded(project)
    rules = [r for r in host.registry.all() if not r.code.startswith("MC0")]
    result = Engine(Index(objects, force_mode=MODES[mode]), host.pm).run(rules)
    got = {(f.code, f.object.display()) for f in result.findings if f.severity >= Severity.WARNING}
    want = RIGHT.get(project, {}).get(mode, set())
    assert got == want, f"{project} ({mode}): new, not judged: {sorted(got - want)}; lost: {sorted(want - got)}"


def test_verdicts_name_only_corpus_projects():
    require_corpus()
    assert set(RIGHT) <= set(_projects()) and all(set(m) <= set(MODES) for m in RIGHT.values())
    assert len(_projects()) == 13, "a project was added to the corpus: judge its findings and list them here"

