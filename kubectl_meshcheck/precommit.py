"""The pre-commit hook's entry: ``python -m kubectl_meshcheck.precommit [meshcheck flags] FILE...``.

pre-commit appends the changed files to the hook's ``args``; ``kubectl meshcheck`` takes files as
``-f FILE``. This turns every trailing argument that is not a flag or a flag's value into ``-f``
(which flags take a value is read from the CLI itself, so new flags need nothing here) and runs the
CLI: same output, same exit codes. With no file at all it exits 0 at once: a hook must never fall
back to reading the live cluster.
"""

from __future__ import annotations

import sys


def meshcheck_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(flags and subcommand, files) of a hook invocation."""
    import typer.main

    from .cli import app
    from .complete import CommandLine

    line = CommandLine(typer.main.get_command(app), [])
    given: list[str] = []
    files: list[str] = []
    pending = False
    for tok in argv:
        if pending:
            given.append(tok)
            pending = False
        elif tok.startswith("-") and tok != "-":
            given.append(tok)
            name, eq, _ = tok.partition("=")
            opt = line.option(name)
            pending = opt is not None and not opt.is_flag and not eq
        elif not files and tok in getattr(line.root, "commands", {}):
            given.append(tok)  # a topic: args: [ports]
        else:
            files.append(tok)
    return given, files


def main(argv: list[str] | None = None) -> None:
    given, files = meshcheck_args(sys.argv[1:] if argv is None else argv)
    if not files:
        sys.exit(0)
    from .cli import main as cli_main

    sys.argv = ["kubectl-meshcheck", *given, *(a for f in files for a in ("-f", f))]
    cli_main()


if __name__ == "__main__":
    main()
