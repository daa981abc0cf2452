"""``python -m kubectl_meshcheck``: the same as the ``kubectl-meshcheck`` executable."""

from .cli import main

main()
