"""``python -m tests.kubeapi --data PATH ...``: serve objects from files until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading

import yaml

from .server import KubeAPIServer, data_files, load_file, write_kubeconfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.kubeapi", description=__doc__)
    ap.add_argument("--data", action="append", required=True, metavar="PATH",
                    help="a file or directory (recursively) of .json/.yaml/.yml objects; repeatable")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--token", help="require 'Authorization: Bearer TOKEN'")
    ap.add_argument("--absent-group", action="append", default=[], metavar="GROUP",
                    help="an API group not served (its CRDs not installed); repeatable")
    ap.add_argument("--kubeconfig", metavar="OUT", help="write a kubeconfig (context 'emu') for the server here")
    ap.add_argument("--deny", action="append", default=[], metavar="VERB:RESOURCE[/SUB]",
                    help="SelfSubjectAccessReviews for this answer 'denied' (e.g. patch:pods/ephemeralcontainers); "
                         "everything else is allowed; repeatable")
    ap.add_argument("--ready-file", metavar="F", help="write the URL here once listening (atomically)")
    args = ap.parse_args(argv)

    srv = KubeAPIServer(token=args.token, absent_groups=args.absent_group, host=args.host, port=args.port)
    for rule in args.deny:
        verb, _, what = rule.partition(":")
        resource, _, sub = what.partition("/")
        if not verb or not resource:
            print(f"error: --deny {rule!r}: use VERB:RESOURCE or VERB:RESOURCE/SUBRESOURCE", file=sys.stderr)
            return 2
        srv.access(verb, resource, False, subresource=sub or "*", reason=f"denied by --deny {rule}")
    gc.disable()  # loading builds millions of short-lived acyclic objects; the cyclic GC only costs time
    try:
        for path in data_files(args.data):
            try:
                for obj in load_file(path):
                    srv.add(obj)
            except (ValueError, yaml.YAMLError) as e:
                raise ValueError(f"{path}: {e}") from None
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        gc.enable()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    url = srv.start()
    if args.kubeconfig:
        write_kubeconfig(args.kubeconfig, url, token=args.token)
    if args.ready_file:
        tmp = f"{args.ready_file}.tmp{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(url + "\n")
        os.replace(tmp, args.ready_file)
    print(url, flush=True)
    stop.wait()
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
