"""A local Kubernetes API server emulation for tests and benchmarks (stdlib HTTP, real REST API)."""

from .server import CATALOG, KubeAPIServer, load_objects, write_kubeconfig

__all__ = ["CATALOG", "KubeAPIServer", "load_objects", "write_kubeconfig"]
