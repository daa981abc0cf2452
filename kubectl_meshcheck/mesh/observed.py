"""What a live Pod shows really happened: injected or not, where istio-proxy runs, and how each
container is doing. Rules use it to say "observed on pod X" instead of only "predicted".

Read from the Pod as the API server returns it: the ``sidecar.istio.io/status`` annotation the
injector writes (istio/istio ``pkg/kube/inject/inject.go``: containers, initContainers, volumes,
revision), ``spec.containers``/``spec.initContainers`` (a native sidecar is an init container with
``restartPolicy: Always``), and ``status.containerStatuses``/``initContainerStatuses``/``conditions``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..model import K8sObject, ObjectRef
from .injection import PROXY_CONTAINER as PROXY
from .injection import STATUS_ANNOTATION


@dataclass(frozen=True)
class ContainerState:
    name: str
    ready: bool
    restarts: int
    state: str  # running, waiting, terminated or unknown (no status yet)
    reason: str = ""  # e.g. CrashLoopBackOff, Completed, Error
    exit_code: int | None = None
    last_reason: str = ""  # why the previous run ended (lastState.terminated.reason)


@dataclass(frozen=True)
class ObservedPod:
    ref: ObjectRef
    phase: str
    ready: bool
    injected: bool  # the injector ran (status annotation) or an istio-proxy container is present
    proxy: str  # "native" (init container, restartPolicy Always), "container", or "none"
    revision: str  # the injector's revision from the status annotation ("" if none)
    containers: tuple[ContainerState, ...]
    init_containers: tuple[ContainerState, ...]

    def state_of(self, name: str) -> ContainerState | None:
        return next((c for c in self.containers + self.init_containers if c.name == name), None)

    @property
    def proxy_running(self) -> bool:
        state = self.state_of(PROXY)
        return bool(state and state.state == "running")

    @property
    def app_containers(self) -> tuple[ContainerState, ...]:
        return tuple(c for c in self.containers if c.name != PROXY)

    @property
    def apps_finished(self) -> bool:
        """Every app container has exited (what a Job's pod does when its work is done)."""
        apps = self.app_containers
        return bool(apps) and all(c.state == "terminated" for c in apps)

    @property
    def held_by_proxy(self) -> bool:
        """The app is done but the classic sidecar keeps the pod (and its Job) running."""
        return self.apps_finished and self.proxy == "container" and self.proxy_running

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self.containers + self.init_containers)


def _state(status: dict[str, Any]) -> ContainerState:
    state = status.get("state") or {}
    which = next((k for k in ("running", "waiting", "terminated") if k in state), "unknown")
    detail = state.get(which) or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    return ContainerState(
        name=str(status.get("name", "")), ready=bool(status.get("ready")),
        restarts=int(status.get("restartCount") or 0),
        state=which, reason=str(detail.get("reason") or ""), exit_code=detail.get("exitCode"),
        last_reason=str(last.get("reason") or ""))


def _states(specs: list[dict], statuses: list[dict]) -> tuple[ContainerState, ...]:
    by_name = {s.get("name"): s for s in statuses if isinstance(s, dict)}
    out = []
    for c in specs:
        if isinstance(c, dict):
            s = by_name.get(c.get("name"))
            out.append(_state(s) if s else ContainerState(str(c.get("name", "")), False, 0, "unknown"))
    return tuple(out)


def observe(pod: K8sObject) -> ObservedPod:
    """The observed state of one Pod, as the API server reports it."""
    spec = pod.data.get("spec") or {}
    status = pod.data.get("status") or {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    if any(c.get("name") == PROXY and c.get("restartPolicy") == "Always" for c in inits):
        proxy = "native"
    elif any(c.get("name") == PROXY for c in containers):
        proxy = "container"
    else:
        proxy = "none"
    raw = pod.annotations.get(STATUS_ANNOTATION)
    revision = ""
    if isinstance(raw, str):
        try:
            revision = str((json.loads(raw) or {}).get("revision") or "")
        except (ValueError, AttributeError):
            revision = ""
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [] if isinstance(c, dict))
    return ObservedPod(
        ref=pod.ref, phase=str(status.get("phase") or "Unknown"), ready=ready,
        injected=raw is not None or proxy != "none", proxy=proxy, revision=revision,
        containers=_states(containers, status.get("containerStatuses") or []),
        init_containers=_states(inits, status.get("initContainerStatuses") or []))
