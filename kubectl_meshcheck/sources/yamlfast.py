"""Fast, exact YAML loading for manifests, chosen on figures (tests/bench/parsers.py).

PyYAML's ``CSafeLoader`` (libyaml) with a memoised implicit resolver and a direct node-to-dict walk
gives exactly ``yaml.load_all(..., CSafeLoader)`` output about 2x faster. Rust/C parsers measured
2.5-10x faster still, but each changed values on real input (YAML 1.2 octal ``0644``, ``on``/``yes``
booleans, merge keys, quoted dates) or lacked line numbers, so they were rejected.

Document start lines come free from each root node; per-field lines (for findings) come from
``yaml.compose`` of that one document, only when asked.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from ..model import escape_pointer

if not getattr(yaml, "__with_libyaml__", False):  # pragma: no cover - depends on the wheel
    _Base: Any = yaml.SafeLoader
else:
    _Base = yaml.CSafeLoader

YAMLError = yaml.YAMLError
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_resolve_cache: dict = {}


class _FastLoader(_Base):  # type: ignore[misc, valid-type]
    def resolve(self, kind, value, implicit):
        if kind is ScalarNode:
            if not implicit[0]:  # quoted: always a string
                return _STR if implicit[1] else super().resolve(kind, value, implicit)
            tag = _resolve_cache.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_resolve_cache) > 100_000:
                    _resolve_cache.clear()
                _resolve_cache[value] = tag
            return tag
        return _MAP if kind is MappingNode else _SEQ


# No path resolvers are registered, so libyaml's per-node resolver bookkeeping can be skipped.
assert not getattr(_Base, "yaml_path_resolvers", None)
_FastLoader.descend_resolver = staticmethod(lambda *a: None)  # type: ignore[assignment]
_FastLoader.ascend_resolver = staticmethod(lambda *a: None)  # type: ignore[assignment]


class _Walker:
    """Turns one composed document into Python objects; stock constructor for anything unusual."""

    __slots__ = ("construct", "memo")

    def __init__(self, construct):
        self.memo: dict = {}
        self.construct = construct

    def conv(self, n):
        cls = n.__class__
        if cls is ScalarNode:
            return n.value if n.tag == _STR else self.construct(n, deep=True)
        r = self.memo.get(id(n))  # aliases share one object, as in PyYAML
        if r is not None:
            return r
        if cls is MappingNode:
            if n.tag != _MAP:
                r = self.memo[id(n)] = self.construct(n, deep=True)
                return r
            m = self.memo[id(n)] = {}
            for k, v in n.value:
                if k.tag == _MERGE:  # `<<`: let PyYAML flatten this mapping
                    r = self.memo[id(n)] = self.construct(n, deep=True)
                    return r
                key = k.value if (k.__class__ is ScalarNode and k.tag == _STR) else self.construct(k, deep=True)
                m[key] = v.value if (v.__class__ is ScalarNode and v.tag == _STR) else self.conv(v)
            return m
        if n.tag != _SEQ:
            r = self.memo[id(n)] = self.construct(n, deep=True)
            return r
        seq = self.memo[id(n)] = []
        seq.extend([x.value if (x.__class__ is ScalarNode and x.tag == _STR) else self.conv(x) for x in n.value])
        return seq


def load_documents(data: bytes | str) -> list[tuple[int | None, Any]]:
    """[(1-based line of the document's first content, document)] for every document.

    Empty documents come back as ``(None, None)``. Raises ``yaml.YAMLError`` (with
    ``problem_mark``) on the first syntax error.
    """
    loader = _FastLoader(data)
    out: list[tuple[int | None, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                out.append((None, None))
                continue
            walker = _Walker(loader.construct_object)
            out.append((node.start_mark.line + 1, walker.conv(node)))
            loader.constructed_objects = {}
            loader.recursive_objects = {}
    finally:
        loader.dispose()
    return out


# A document marker is `---` or `...` at column 0 followed by a blank or the end of the line.
# YAML forbids such a line inside any scalar, so a match is always a real marker.
_MARK = re.compile(rb"^(?:---|\.\.\.)(?=[ \t\r\n]|\Z)", re.MULTILINE)


def split_documents(data: bytes) -> list[tuple[int, int, int]]:
    """[(start, end, first line)] byte spans of the documents of a stream, markers included.

    Used when a file has a syntax error (parse each document alone, so one bad document does not
    lose the rest) and to find a document's text when its field lines are needed.
    """
    marks = [m.start() for m in _MARK.finditer(data)]
    bounds = [0, *marks, len(data)]
    out = []
    line = 1
    prev = 0
    for start, end in zip(bounds, bounds[1:]):
        if start == end:
            continue
        line += data.count(b"\n", prev, start)
        prev = start
        first = line
        if data.startswith(b"...", start):  # an end marker belongs to the previous document
            nl = data.find(b"\n", start, end)
            if nl == -1:
                continue
            start, first = nl + 1, line + 1
            if start >= end:
                continue
        out.append((start, end, first))
    return out


def field_lines(node, ptr: str = "", out: dict | None = None, offset: int = 0) -> dict[str, int]:
    """JSON Pointer -> 1-based line for every node of a composed document."""
    if out is None:
        out = {}
    out[ptr] = node.start_mark.line + 1 + offset
    if isinstance(node, MappingNode):
        for k, v in node.value:
            field_lines(v, f"{ptr}/{escape_pointer(str(k.value))}", out, offset)
    elif isinstance(node, SequenceNode):
        for i, v in enumerate(node.value):
            field_lines(v, f"{ptr}/{i}", out, offset)
    return out


class _LineLoader(_Base):  # type: ignore[misc, valid-type]
    """Composes for positions only: tags are never looked at, so skip the (Python) tag resolver."""

    def resolve(self, kind, value, implicit):  # noqa: ARG002 - the composer's signature
        return ""


def compose_lines(text: bytes | str, offset: int = 0) -> dict[str, int]:
    """Field lines of the single document in ``text`` (line numbers shifted by ``offset``)."""
    node = yaml.compose(text, Loader=_LineLoader)
    return field_lines(node, "", None, offset) if node is not None else {}


def error_position(e: yaml.YAMLError) -> tuple[int, int] | None:
    """(line, column), 1-based, of a YAML syntax error, if PyYAML knows it."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def error_text(e: yaml.YAMLError) -> str:
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    return f"{context}: {problem}" if context else str(problem)
