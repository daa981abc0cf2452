#!/usr/bin/env python3
"""Benchmark: which YAML parser should kubectl-meshcheck use for manifests?

Prints figures only; it asserts nothing about time.

    # candidates live in a scratch venv, never in the project's environment:
    python3 -m venv /tmp/parsers-venv
    /tmp/parsers-venv/bin/pip install pyyaml rapidyaml yaml-rs ryaml py-yaml12 libfyaml
    /tmp/parsers-venv/bin/python tests/bench/parsers.py            # 1k generated + real corpus
    /tmp/parsers-venv/bin/python tests/bench/parsers.py --sets gen1k,gen10k,corpus --only pyyaml/fast,yaml_rs

Data sets: ``gen1k`` / ``gen10k`` (tests/bench/generate.py, seed 0, made in a
temporary directory unless --gen-dir is given), ``corpus`` (every
.yaml/.yml under shared/corpus/real) and ``edge`` (tiny files, one YAML
1.1-vs-1.2 feature each: on/yes/y/n, octal, timestamps, sexagesimal, merge
keys, duplicate keys, tags, document markers).

For every candidate and data set a fresh subprocess reads all files and turns
every document into Python dicts/lists (the GC is disabled while loading, as
the tool will do, except for the naive ``pyyaml`` row).  Reported: best and
first wall time of --repeat runs, peak RSS (ru_maxrss of the process, and of
pool workers for the multiprocessing rows), and correctness: each file's
non-empty documents compared *strictly* (bool is not int, date is not str) with
PyYAML ``CSafeLoader``; mismatches are listed with the JSON path and a reason.

The fast loader (``pyyaml/fast``), document splitting and field lines are the
product's own: ``kubectl_meshcheck.sources.yamlfast``, imported from this
checkout (the repository root goes on sys.path; in the scratch venv, which
lacks the package's dependencies, only yamlfast and kubectl_meshcheck.model
are imported).  Also runs with the dev venv's python.

Then, in this process, for the product's line handling: how fast
``yamlfast.split_documents`` is, whether its spans match the documents, which
spans do not parse on their own (what happens after a syntax error elsewhere
in the file), whether each document's field lines come from its own span (as
findings get them), the cost of ``yamlfast.compose_lines`` per document, and
what each candidate reports for invalid YAML (is there a line and column?).

A candidate whose module is not importable is skipped with a note.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))  # the repository: kubectl_meshcheck/ is here
DEFAULT_CORPUS = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus", "real"))
if not os.path.isdir(DEFAULT_CORPUS):
    DEFAULT_CORPUS = "/work/shared/corpus/real"


# ---------------------------------------------------------------------------
# The product's loader, document splitting and field lines
# (kubectl_meshcheck/sources/yamlfast.py): measured here, never copied.
# ---------------------------------------------------------------------------


def _import_yamlfast():
    """``kubectl_meshcheck.sources.yamlfast`` of this checkout.

    The scratch venv has PyYAML and the candidates but not the package or its
    dependencies (pluggy, typer, ...): the repository root goes on sys.path and,
    if the package's ``__init__`` cannot be imported there, the package is
    registered without running it.  yamlfast itself needs only PyYAML and
    kubectl_meshcheck.model (stdlib only).
    """
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    try:
        from kubectl_meshcheck.sources import yamlfast
        return yamlfast
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name in ("yaml", "kubectl_meshcheck"):
            raise
    import types
    for name in [m for m in sys.modules if m == "kubectl_meshcheck" or m.startswith("kubectl_meshcheck.")]:
        del sys.modules[name]  # half-imported leftovers of the failed attempt
    pkg = types.ModuleType("kubectl_meshcheck")
    pkg.__path__ = [os.path.join(ROOT, "kubectl_meshcheck")]
    sys.modules["kubectl_meshcheck"] = pkg
    from kubectl_meshcheck.sources import yamlfast
    return yamlfast


yamlfast = _import_yamlfast()


# a line that is not blank, a comment, a directive or the `...` end marker
_CONTENT_LINE = re.compile(rb"^(?![ \t]*(?:#|%|\.\.\.(?:[ \t\r]|$)))[ \t]*\S", re.MULTILINE)


def _is_document(chunk: bytes) -> bool:
    """Does a ``yamlfast.split_documents`` span hold a document, as ``yaml.load_all`` counts them?

    The product's spans also cover text that is no document: comments before
    the first ``---``, or after a ``...`` end marker.  A span is a document if
    it starts with ``---`` or has a line that is not blank, a comment, a
    directive or the ``...`` marker.
    """
    chunk = chunk.removeprefix(b"\xef\xbb\xbf")
    return chunk.startswith(b"---") or _CONTENT_LINE.search(chunk) is not None


def _document_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every document of a stream, from the product's split."""
    return [(s, e) for s, e, _ in yamlfast.split_documents(data) if _is_document(data[s:e])]


# ---------------------------------------------------------------------------
# PyYAML variants
# ---------------------------------------------------------------------------


def _pyyaml():
    import yaml
    if not getattr(yaml, "__with_libyaml__", False):
        raise ImportError("PyYAML without libyaml (no CSafeLoader)")
    return yaml


def _fast_load():
    """The product's loader: yamlfast.load_documents -> [(root start line, document)]."""
    _pyyaml()  # yamlfast silently falls back to the pure-Python SafeLoader without libyaml
    return yamlfast.load_documents


def _pool_batches(paths: list[str], target: int = 256 * 1024):
    """Split files at document boundaries into ~target-byte batches."""
    batches = []  # (file index, bytes)
    for fi, p in enumerate(paths):
        with open(p, "rb") as fh:
            data = fh.read()
        if len(data) <= target:
            batches.append((fi, data))
            continue
        docs = yamlfast.split_documents(data)
        cur_start = 0
        for _start, end, _ in docs:
            if end - cur_start >= target:
                batches.append((fi, data[cur_start:end]))
                cur_start = end
        if cur_start < len(data):
            batches.append((fi, data[cur_start:]))
    return batches


_WORKER_FN = None  # set before the fork; workers inherit it


def _pool_load_ordered(paths, fn, procs=2):
    """Parse ~256 KB document batches of all files in a 2-process fork pool."""
    import multiprocessing as mp
    global _WORKER_FN
    _WORKER_FN = fn
    batches = [(fi, seqno, data) for seqno, (fi, data) in enumerate(_pool_batches(paths))]
    work = sorted(batches, key=lambda b: -len(b[2]))
    ctx = mp.get_context("fork")
    pool = ctx.Pool(procs)
    try:
        results = pool.map(_pool_work_seq, work, chunksize=1)
    finally:
        pool.close()
        pool.join()
    results.sort(key=lambda r: r[1])
    out: list[list] = [[] for _ in paths]
    for fi, _, docs in results:
        out[fi].extend(docs)
    return out


def _pool_work_seq(batch):
    fi, seqno, data = batch
    return fi, seqno, [d for _, d in _WORKER_FN(data)]


# ---------------------------------------------------------------------------
# Candidates.  Each factory returns load_many(paths) -> [docs of file, ...]
# (documents in stream order, None for empty ones) or raises ImportError.
# ---------------------------------------------------------------------------


def _read(p: str) -> bytes:
    with open(p, "rb") as fh:
        return fh.read()


def c_pyyaml():
    yaml = _pyyaml()
    return lambda paths: [list(yaml.load_all(_read(p), Loader=yaml.CSafeLoader)) for p in paths]


def c_pyyaml_split():
    yaml = _pyyaml()

    def load(p):
        data = _read(p)
        return [yaml.load(data[s:e], Loader=yaml.CSafeLoader) for s, e in _document_spans(data)]
    return lambda paths: [load(p) for p in paths]


def c_pyyaml_nots():
    yaml = _pyyaml()

    class NoTimestampLoader(yaml.CSafeLoader):
        pass
    NoTimestampLoader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in lst if tag != "tag:yaml.org,2002:timestamp"]
        for ch, lst in yaml.CSafeLoader.yaml_implicit_resolvers.items()
    }
    return lambda paths: [list(yaml.load_all(_read(p), Loader=NoTimestampLoader)) for p in paths]


def c_pyyaml_fast():
    load = _fast_load()
    return lambda paths: [[d for _, d in load(_read(p))] for p in paths]


def c_pyyaml_mp2():
    yaml = _pyyaml()

    def fn(data):
        return [(None, d) for d in yaml.load_all(data, Loader=yaml.CSafeLoader)]
    return lambda paths: _pool_load_ordered(paths, fn)


def c_pyyaml_fast_mp2():
    load = _fast_load()
    return lambda paths: _pool_load_ordered(paths, load)


def _pyyaml_scalar_resolver():
    """text -> Python value with PyYAML SafeLoader's implicit typing."""
    yaml = _pyyaml()
    from yaml.nodes import ScalarNode
    resolver = yaml.resolver.Resolver()
    ctor = yaml.constructor.SafeConstructor()
    cache: dict = {}
    short = {"!!str": "tag:yaml.org,2002:str", "!!int": "tag:yaml.org,2002:int",
             "!!float": "tag:yaml.org,2002:float", "!!bool": "tag:yaml.org,2002:bool",
             "!!null": "tag:yaml.org,2002:null", "!!binary": "tag:yaml.org,2002:binary",
             "!!timestamp": "tag:yaml.org,2002:timestamp"}

    def plain(text: str):
        try:
            return cache[text]
        except KeyError:
            pass
        tag = resolver.resolve(ScalarNode, text, (True, False))
        v = text if tag == "tag:yaml.org,2002:str" else ctor.construct_object(ScalarNode(tag, text))
        if len(cache) > 100_000:
            cache.clear()
        cache[text] = v
        return v

    def tagged(tag: str, text: str):
        full = short.get(tag, tag)
        return ctor.construct_object(ScalarNode(full, text))
    return plain, tagged


def c_ryml_walk():
    import ryml
    plain, tagged = _pyyaml_scalar_resolver()
    NONE = ryml.NONE

    def scalar(t, n, is_key):
        if is_key:
            raw = t.key(n)
            quoted = t.is_key_quoted(n)
            tag = bytes(t.key_tag(n)).decode() if t.has_key_tag(n) else None
        else:
            raw = t.val(n)
            quoted = t.is_val_quoted(n)
            tag = bytes(t.val_tag(n)).decode() if t.has_val_tag(n) else None
        text = "" if raw is None else str(raw, "utf8")
        if tag:
            return tagged(tag, text)
        return text if quoted else plain(text)

    def conv(t, n):
        if t.is_map(n):
            d = {}
            ch = t.first_child(n)
            while ch != NONE:
                d[scalar(t, ch, True)] = conv(t, ch)
                ch = t.next_sibling(ch)
            return d
        if t.is_seq(n):
            out = []
            ch = t.first_child(n)
            while ch != NONE:
                out.append(conv(t, ch))
                ch = t.next_sibling(ch)
            return out
        return scalar(t, n, False)

    def load(p):
        t = ryml.parse_in_arena(_read(p))
        t.resolve()  # anchors, aliases and `<<` merges
        r = t.root_id()
        if t.is_stream(r):
            return [conv(t, c) for c in ryml.children(t, r)]
        if t.size() <= 1 and not t.has_val(r) and not t.is_container(r):
            return []
        return [conv(t, r)]
    return lambda paths: [load(p) for p in paths]


def c_ryml_json():
    import ryml

    def load(p):
        t = ryml.parse_in_arena(_read(p))
        t.resolve()
        r = t.root_id()
        v = json.loads(ryml.emit_json(t))
        return v if t.is_stream(r) else [v]
    return lambda paths: [load(p) for p in paths]


def c_yaml_rs():
    import yaml_rs
    policy = yaml_rs.DuplicateKeyPolicy.LastWins  # PyYAML: last wins (default here: error)

    def load(p):
        data = _read(p)
        v = yaml_rs.loads(data.decode("utf-8"), duplicate_key_policy=policy)
        # loads() returns the document itself for a one-document stream and a
        # list of documents otherwise: count documents to tell which.
        n = len(_document_spans(data))
        if n == 0:
            return []
        return [v] if n == 1 else v
    return lambda paths: [load(p) for p in paths]


def c_ryaml():
    import ryaml
    return lambda paths: [ryaml.loads_all(_read(p).decode("utf-8")) for p in paths]


def c_yaml12():
    import yaml12
    return lambda paths: [yaml12.parse_yaml(_read(p).decode("utf-8"), multi=True) for p in paths]


def c_libfyaml(mode):
    def factory():
        import libfyaml
        return lambda paths: [[d.to_python() for d in libfyaml.loads_all(_read(p), mode=mode)]
                              for p in paths]
    return factory


CANDIDATES = {
    # name: (factory, gc disabled while loading, note)
    "pyyaml": (c_pyyaml, False, "yaml.load_all(CSafeLoader), GC on (naive baseline)"),
    "pyyaml/nogc": (c_pyyaml, True, "same, GC disabled while loading"),
    "pyyaml/split": (c_pyyaml_split, True, "yamlfast.split_documents, yaml.load(CSafeLoader) per document"),
    "pyyaml/no-ts": (c_pyyaml_nots, True, "CSafeLoader without the timestamp resolver"),
    "pyyaml/fast": (c_pyyaml_fast, True, "yamlfast.load_documents (CSafeLoader + cached resolve + node walk)"),
    "pyyaml/mp2": (c_pyyaml_mp2, True, "CSafeLoader in a 2-process fork pool, ~256 KB batches"),
    "pyyaml/fast-mp2": (c_pyyaml_fast_mp2, True, "pyyaml/fast in a 2-process fork pool"),
    "ryml/walk": (c_ryml_walk, True, "rapidyaml tree walked in Python, PyYAML scalar typing"),
    "ryml/json": (c_ryml_json, True, "rapidyaml emit_json + json.loads"),
    "yaml_rs": (c_yaml_rs, True, "yaml-rs loads (dup keys: last wins)"),
    "ryaml": (c_ryaml, True, "ryaml loads_all"),
    "yaml12": (c_yaml12, True, "py-yaml12 parse_yaml(multi=True)"),
    "libfyaml/1.1": (c_libfyaml("yaml1.1"), True, "libfyaml loads_all(mode='yaml1.1') + to_python"),
    "libfyaml/1.2": (c_libfyaml("yaml"), True, "libfyaml loads_all(mode='yaml') + to_python"),
}

# ---------------------------------------------------------------------------
# Strict comparison with reasons
# ---------------------------------------------------------------------------


def _diff(a, b, path=""):
    """First difference between baseline a and candidate b: (path, a, b) or None."""
    if type(a) is not type(b):
        return path or "/", a, b
    if isinstance(a, dict):
        missing = [k for k in a if k not in b]
        extra = [k for k in b if k not in a]
        if missing or extra:
            return path or "/", _Keys(missing), _Keys(extra)
        for k in a:
            r = _diff(a[k], b[k], f"{path}/{k}")
            if r:
                return r
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path} (len)", len(a), len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            r = _diff(x, y, f"{path}/{i}")
            if r:
                return r
        return None
    if isinstance(a, float) and a != a and b != b:
        return None
    return None if a == b else (path or "/", a, b)


class _Keys(list):
    """Mapping keys present on one side only."""

    def __repr__(self):
        return "keys " + ", ".join(repr(k) for k in self) if self else "no other keys"


def _reason(path, a, b) -> str:
    if isinstance(a, _Keys):
        if "<<" in b:
            return "merge key << not applied"
        if any(isinstance(k, bool) for k in a + b):
            return f"mapping key: bool vs str ({a!r} / {b!r})"
        return f"mapping keys differ ({a!r} / {b!r})"
    if isinstance(a, bool) and isinstance(b, str):
        return f"YAML 1.1 bool read as string ({b!r})"
    if isinstance(b, bool) and not isinstance(a, bool):
        return f"read as bool, PyYAML has {type(a).__name__} ({a!r})"
    if isinstance(a, (datetime.date, datetime.datetime)):
        return f"timestamp: PyYAML {type(a).__name__}, candidate {type(b).__name__}"
    if isinstance(a, str) and isinstance(b, (datetime.date, datetime.datetime, datetime.time)):
        return f"string read as {type(b).__name__} ({a!r})"
    if isinstance(a, int) and not isinstance(a, bool) and isinstance(b, (int, str)):
        return f"integer form (octal/hex/sexagesimal/_): {a!r} vs {b!r}"
    if isinstance(a, str) and isinstance(b, (int, float)):
        return f"string read as number ({a!r} -> {b!r})"
    if isinstance(a, float) or isinstance(b, float):
        return f"float: {a!r} vs {b!r}"
    if a is None or b is None:
        return f"null: {a!r} vs {b!r}"
    if isinstance(a, str) and isinstance(b, str):
        return "string content differs"
    if "(len)" in path:
        return "sequence length differs"
    return f"type {type(a).__name__} vs {type(b).__name__}"


def _short(v, n=60):
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


# ---------------------------------------------------------------------------
# Worker: one candidate, one data set, fresh process
# ---------------------------------------------------------------------------


def _maxrss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def worker(name: str, listfile: str, repeat: int) -> dict:
    with open(listfile) as fh:
        paths = [ln.rstrip("\n") for ln in fh if ln.strip()]
    factory, nogc, _ = CANDIDATES[name]
    try:
        load_many = factory()
    except ImportError as e:
        return {"skipped": f"not importable: {e}"}
    rss0 = _maxrss_mb()
    times = []
    result = None
    per_file_errors: dict[str, str] = {}
    for _ in range(repeat):
        result = None
        gc.collect()
        if nogc:
            gc.disable()
        t0 = time.perf_counter()
        try:
            result = load_many(paths)
        except Exception:
            result = None
        t = time.perf_counter() - t0
        gc.enable()
        times.append(t)
        if result is None:
            break
    rss_peak = _maxrss_mb()
    rss_children = _maxrss_mb(resource.RUSAGE_CHILDREN)

    if result is None:
        # some file failed: load file by file to say which, and continue
        result = []
        for p in paths:
            try:
                result.append(load_many([p])[0])
            except Exception as e:  # noqa: BLE001 - report any failure
                msg = " ".join(str(e).split()) or type(e).__name__
                per_file_errors[p] = f"{type(e).__name__}: {msg[:160]}"
                result.append(None)

    # correctness vs PyYAML CSafeLoader (after RSS was read)
    yaml = _pyyaml()
    n_docs = n_bad_docs = 0
    reasons: dict[str, int] = {}
    examples: list[str] = []
    base_errors: dict[str, str] = {}
    for p, cand in zip(paths, result):
        try:
            base = [d for d in yaml.load_all(_read(p), Loader=yaml.CSafeLoader) if d is not None]
        except yaml.YAMLError as e:
            base_errors[p] = " ".join(str(e).split())[:160]
            continue
        n_docs += len(base)
        if cand is None:
            continue
        cand = [d for d in cand if d is not None]
        if len(cand) != len(base):
            n_bad_docs += abs(len(base) - len(cand)) or 1
            key = f"document count {len(base)} vs {len(cand)}"
            reasons[key] = reasons.get(key, 0) + 1
            if len(examples) < 12:
                examples.append(f"{p}: {key}")
            continue
        for i, (a, b) in enumerate(zip(base, cand)):
            d = _diff(a, b)
            if d:
                n_bad_docs += 1
                why = _reason(*d)
                bucket = re.sub(r"\(.*\)|: .*", "", why).strip()
                reasons[bucket] = reasons.get(bucket, 0) + 1
                if len(examples) < 12:
                    examples.append(f"{p} doc#{i} {d[0]}: PyYAML {_short(d[1])} vs {_short(d[2])} [{why}]")
    return {
        "times": times, "rss0": rss0, "rss_peak": rss_peak, "rss_children": rss_children,
        "docs": n_docs, "bad_docs": n_bad_docs, "reasons": reasons, "examples": examples,
        "file_errors": per_file_errors, "base_errors": base_errors,
        "bytes": sum(os.path.getsize(p) for p in paths), "files": len(paths),
    }


# ---------------------------------------------------------------------------
# Line numbers
# ---------------------------------------------------------------------------


def _product_span_lookup():
    """manifests._Source(data)._compose(line): field lines of the document at ``line``, as
    findings get them (None if that internal is not importable or has changed)."""
    try:
        from kubectl_meshcheck.sources.manifests import _Source
    except ImportError:
        return None
    if not callable(getattr(_Source, "_compose", None)):
        return None
    return lambda data, line: _Source(data)._compose(line)


def bench_lines(label: str, paths: list[str]) -> None:
    """Document lines come from the root node (yamlfast.load_documents); yamlfast.split_documents
    finds a document's text again when its field lines are needed (yamlfast.compose_lines)."""
    yaml = _pyyaml()
    datas = [_read(p) for p in paths]
    total = sum(len(d) for d in datas)
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        splits = [yamlfast.split_documents(d) for d in datas]
        best = min(best, time.perf_counter() - t0)
    n_spans = sum(len(sp) for sp in splits)
    lookup = _product_span_lookup()
    count_mismatch, alone_fail, disagree = [], [], []
    n_docs = 0
    for p, d, sp in zip(paths, datas, splits):
        try:
            docs = yamlfast.load_documents(d)
        except yaml.YAMLError:
            continue
        n_docs += len(docs)
        n_doc_spans = sum(1 for s, e, _ in sp if _is_document(d[s:e]))
        if len(docs) != n_doc_spans:
            count_mismatch.append(f"{p}: {len(docs)} docs vs {n_doc_spans} document spans")
        # what the product does after a syntax error elsewhere in the file: every span alone
        for s, e, first in sp:
            try:
                yamlfast.load_documents(d[s:e])
            except yaml.YAMLError as ex:
                alone_fail.append(f"{p}:{first}: span {d[s:e][:20]!r} does not parse alone: "
                                  f"{yamlfast.error_text(ex)}")
        if lookup is None:
            continue
        for ln, doc in docs:
            if ln is None or doc is None:
                continue
            lines = lookup(d, ln)
            if lines.get("") != ln or (len(lines) == 1 and isinstance(doc, (dict, list)) and doc):
                disagree.append(f"{p}:{ln}: field lines found for that document: {_short(lines, 50)}")
    # per-field lines of one document: find its span, compose, walk
    chunks = [(d[s:e], first) for d, sp in zip(datas, splits) for s, e, first in sp if _is_document(d[s:e])][:2000]
    t0 = time.perf_counter()
    for c, first in chunks:
        yamlfast.compose_lines(c, offset=first - 1)
    per_doc = (time.perf_counter() - t0) / max(len(chunks), 1)
    check = (f"{len(disagree)} documents whose field lines come from the wrong span"
             if lookup else "span lookup not checked (manifests._Source not importable)")
    print(f"  {label}: yamlfast.split_documents {best * 1000:.1f} ms for {total / 1e6:.1f} MB "
          f"({total / 1e6 / best:.0f} MB/s), {n_spans} spans, {n_docs} documents (empty ones included); "
          f"{len(count_mismatch)} files where spans != documents; {len(alone_fail)} spans that fail alone; "
          f"{check}; compose_lines of one document: {per_doc * 1000:.2f} ms")
    for x in (count_mismatch + alone_fail + disagree)[:6]:
        print(f"    ! {x}")


# ---------------------------------------------------------------------------
# Error reporting
# ---------------------------------------------------------------------------

_PRE = "---\nok: 1\n---\n"  # a valid first document: errors must carry stream lines
INVALID = [
    ("bad indentation", _PRE + "a:\n  b: 1\n c: 2\n"),
    ("unclosed quote", _PRE + 'a: "abc\nb: 2\n'),
    ("tab indentation", _PRE + "a:\n\tb: 1\n"),
    ("a: b: c", _PRE + "x: 1\na: b: c\n"),
    ("unclosed flow seq", _PRE + "a: [1, 2\nb: 3\n"),
    ("duplicate key", _PRE + "a: 1\na: 2\n"),
]


@contextlib.contextmanager
def _capture_fd2():
    """Capture what a C extension writes straight to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        box = {"text": ""}
        try:
            yield box
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode("utf-8", "replace")


def _err_loaders():
    out = {}
    try:
        yaml = _pyyaml()

        def py(s):
            try:
                return list(yaml.load_all(s, Loader=yaml.CSafeLoader))
            except yaml.MarkedYAMLError as e:
                m = e.problem_mark
                raise _Located(m.line + 1, m.column + 1, " ".join(str(e).split())) from e
        out["pyyaml"] = py
    except ImportError:
        pass
    with contextlib.suppress(ImportError):
        import ryml

        def ry(s):
            try:
                ryml.parse_in_arena(s.encode())
            except ryml.ExceptionParse as e:
                loc = e.errdata_parse.ymlloc
                raise _Located(loc.line, loc.col + 1, e.msg or "(empty message)") from e
        out["ryml"] = ry
    with contextlib.suppress(ImportError):
        import yaml_rs
        out["yaml_rs"] = lambda s: yaml_rs.loads(s)  # default: duplicate keys are an error
    with contextlib.suppress(ImportError):
        import ryaml
        out["ryaml"] = ryaml.loads_all
    with contextlib.suppress(ImportError):
        import yaml12
        out["yaml12"] = lambda s: yaml12.parse_yaml(s, multi=True)
    with contextlib.suppress(ImportError):
        import libfyaml

        def fy(s):
            try:
                return [d.to_python() for d in libfyaml.loads_all(s, mode="yaml1.1")]
            except Exception as e:
                diag = libfyaml.loads(s, mode="yaml1.1", collect_diag=True).to_python()
                if isinstance(diag, list) and diag and isinstance(diag[0], dict) and "line" in diag[0]:
                    raise _Located(diag[0]["line"], diag[0]["column"],
                                   f"{e} / collect_diag: {diag[0].get('message')}") from e
                raise
        out["libfyaml"] = fy
    return out


class _Located(Exception):
    def __init__(self, line, col, msg):
        super().__init__(msg)
        self.line, self.col = line, col


def bench_errors() -> None:
    loaders = _err_loaders()
    for label, text in INVALID:
        print(f"  [{label}] {text[len(_PRE):]!r} (stream starts with a valid 2-line document)")
        for name, fn in loaders.items():
            with _capture_fd2() as cap:
                try:
                    fn(text)
                    res, loc, msg = "accepted", "", ""
                except _Located as e:
                    res, loc, msg = "error", f"line {e.line} col {e.col}", str(e)
                except Exception as e:  # noqa: BLE001
                    msg = " ".join(str(e).split())
                    m = re.search(r"line[ =:]*(\d+)[, ]*col(?:umn)?[ =:]*(\d+)", msg)
                    res, loc = "error", (f"line {m.group(1)} col {m.group(2)}" if m else "NO LINE/COL")
            noise = " [also wrote to stderr]" if cap["text"].strip() else ""
            print(f"    {name:9} {res:8} {loc:18} {_short(msg, 90)}{noise}")


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------


# Small hand-written files, one YAML feature each, where YAML 1.1 (PyYAML,
# go-yaml v2 under sigs.k8s.io/yaml) and YAML 1.2 readers disagree.  The
# real corpus has none of these; the generated set only has `defaultMode: 0644`.
EDGE_FILES = {
    "bool-1.1.yaml": ("apiVersion: v1\nkind: Foo\nspec:\n"
                      "  a: on\n  b: yes\n  c: Off\n  d: NO\n  e: True\n  f: y\n  g: n\n"),
    "bool-key.yaml": "apiVersion: v1\nkind: Foo\nspec:\n  y: 1\n  n: 2\n  on: 3\n",
    "octal-hex.yaml": ("apiVersion: v1\nkind: Foo\nspec:\n"
                       "  defaultMode: 0644\n  o12: 0o644\n  hex: 0x1F\n  under: 1_000\n  plus: +12\n"),
    "timestamp.yaml": ("apiVersion: v1\nkind: Foo\nspec:\n"
                       "  d: 2024-01-02\n  t: 2001-12-14t21:59:43.10-05:00\n  quoted: \"2024-01-02\"\n"),
    "sexagesimal.yaml": "apiVersion: v1\nkind: Foo\nspec:\n  ports: [8080:80, 22:22]\n  time: 12:30:00\n",
    "float.yaml": ("apiVersion: v1\nkind: Foo\nspec:\n"
                   "  a: 1e3\n  b: .5\n  c: .inf\n  d: -.Inf\n  e: .NaN\n  f: 1.0e+3\n"),
    "null.yaml": "apiVersion: v1\nkind: Foo\nspec:\n  a: ~\n  b: Null\n  c:\n  d: NULL\n",
    "merge-keys.yaml": ("apiVersion: v1\nkind: Foo\nbase: &base\n  cpu: 100m\n  memory: 64Mi\n"
                        "spec:\n  limits:\n    <<: *base\n    cpu: 200m\n  requests: *base\n"),
    "duplicate-keys.yaml": "apiVersion: v1\nkind: Foo\nmetadata:\n  name: a\n  name: b\n",
    "tags.yaml": "apiVersion: v1\nkind: Foo\nspec:\n  a: !!str 5\n  b: !!int \"7\"\n  c: !!float 1\n",
    "markers.yaml": ("# leading comment\n--- {apiVersion: v1, kind: A}\n...\n# between\n"
                     "---\napiVersion: v1\nkind: B\n---\n---\n# Source: empty\n"),
    "comments-only.yaml": "# nothing here\n",
    "empty.yaml": "",
}

def _dataset_paths(name: str, args, tmp: str) -> list[str]:
    if name == "edge":
        d = os.path.join(tmp, "edge")
        os.makedirs(d, exist_ok=True)
        for fname, text in EDGE_FILES.items():
            with open(os.path.join(d, fname), "w") as fh:
                fh.write(text)
        return sorted(os.path.join(d, f) for f in EDGE_FILES)
    if name == "corpus":
        out = []
        for root, _, files in os.walk(args.corpus):
            for f in files:
                if f.endswith((".yaml", ".yml")):
                    out.append(os.path.join(root, f))
        return sorted(out)
    n = {"gen100": 100, "gen1k": 1000, "gen10k": 10000}[name]
    d = os.path.join(args.gen_dir or tmp, name)
    sys.path.insert(0, HERE)
    from generate import generate
    return sorted(generate(d, n, seed=0))


def _versions() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:
        return ""
    out = []
    for dist in ("pyyaml", "rapidyaml", "yaml-rs", "ryaml", "py-yaml12", "libfyaml"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    return ", ".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Compare YAML parsers on Kubernetes manifests.")
    ap.add_argument("--sets", default="gen1k,corpus,edge", help="comma list of gen100,gen1k,gen10k,corpus,edge")
    ap.add_argument("--only", default="", help="comma list of candidates (default: all)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--gen-dir", default=None, help="where generated sets go (default: a temp dir)")
    ap.add_argument("--no-lines", action="store_true")
    ap.add_argument("--no-errors", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--filelist", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        try:
            r = worker(args.worker, args.filelist, args.repeat)
        except Exception:
            r = {"crashed": traceback.format_exc()[-800:]}
        print(json.dumps(r))
        return 0

    names = [n for n in (args.only.split(",") if args.only else CANDIDATES) if n]
    for n in names:
        if n not in CANDIDATES:
            ap.error(f"unknown candidate {n}; known: {', '.join(CANDIDATES)}")
    print(f"python {sys.version.split()[0]} at {sys.executable}; {os.cpu_count()} CPUs")
    print(f"versions: {_versions()}")
    print("candidates:")
    for n in names:
        print(f"  {n:16} {CANDIDATES[n][2]}")

    with tempfile.TemporaryDirectory(prefix="meshcheck-parsers-") as tmp:
        sets = {}
        for s in args.sets.split(","):
            paths = _dataset_paths(s, args, tmp)
            sets[s] = paths
            size = sum(os.path.getsize(p) for p in paths)
            print(f"data set {s}: {len(paths)} files, {size / 1e6:.2f} MB")

        for s, paths in sets.items():
            listfile = os.path.join(tmp, f"{s}.list")
            with open(listfile, "w") as fh:
                fh.write("\n".join(paths) + "\n")
            print(f"\n=== {s} ({len(paths)} files) — time best/first of {args.repeat}, "
                  f"peak RSS of the process (pool workers), docs not equal to PyYAML CSafeLoader")
            hdr = (f"{'candidate':16} {'best s':>7} {'first s':>7} {'MB/s':>6} {'RSS MB':>7} {'(+load)':>8} "
                   f"{'workers':>7}  {'docs':>6} {'mismatch':>8} {'file errs':>9}")
            print(hdr)
            print("-" * len(hdr))
            notes = []
            for n in names:
                proc = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--worker", n, "--filelist", listfile,
                     "--repeat", str(args.repeat)],
                    capture_output=True, text=True)
                try:
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                except (json.JSONDecodeError, IndexError):
                    r = {"crashed": (proc.stderr or proc.stdout)[-800:]}
                if "skipped" in r:
                    print(f"{n:16} skipped: {r['skipped']}")
                    continue
                if "crashed" in r:
                    print(f"{n:16} CRASHED")
                    notes.append(f"{n}: {r['crashed']}")
                    continue
                best, first = min(r["times"]), r["times"][0]
                workers = f"{r['rss_children']:.0f}" if r["rss_children"] else "-"
                print(f"{n:16} {best:7.3f} {first:7.3f} {r['bytes'] / 1e6 / best:6.1f} {r['rss_peak']:7.0f} "
                      f"{r['rss_peak'] - r['rss0']:+8.0f} {workers:>7}  {r['docs']:6d} {r['bad_docs']:8d} "
                      f"{len(r['file_errors']):9d}")
                if r["reasons"] or r["file_errors"]:
                    why = "; ".join(f"{k} x{v}" for k, v in sorted(r["reasons"].items(), key=lambda kv: -kv[1]))
                    notes.append(f"{n}: {why}" if why else f"{n}:")
                    for ex in r["examples"][:6]:
                        notes.append(f"    {ex}")
                    for p, e in list(r["file_errors"].items())[:4]:
                        notes.append(f"    failed on {p}: {e}")
                for p, e in r["base_errors"].items():
                    notes.append(f"{n}: PyYAML itself fails on {p}: {e}")
            if notes:
                print("mismatches and failures:")
                for x in notes:
                    print(f"  {x}")

        if not args.no_lines:
            print("\n=== document start lines (for file:line per object)")
            for s, paths in sets.items():
                bench_lines(s, paths)
    if not args.no_errors:
        print("\n=== invalid YAML: what each parser reports (line/col are 1-based, in the whole stream)")
        bench_errors()
    return 0


if __name__ == "__main__":
    sys.exit(main())
