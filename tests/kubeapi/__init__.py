"""A local Kubernetes API server emulation for tests and benchmarks (stdlib HTTP, real REST API)."""

from .rbac import Authorizer, Grant, grant
from .server import CATALOG, KubeAPIServer, load_objects, write_kubeconfig

__all__ = ["CATALOG", "Authorizer", "Grant", "KubeAPIServer", "grant", "load_objects", "write_kubeconfig"]
