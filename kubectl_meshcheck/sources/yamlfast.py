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


def _marks(data: bytes, *markers: bytes) -> list[int]:
    """Offsets of the lines ``_MARK`` matches, in order, found with bytes.find (the regex alone steps
    through every byte: ~0.3 s over 40 MB)."""
    out = []
    for marker in markers:
        if _MARK.match(data, 0) and data.startswith(marker):
            out.append(0)
        i = data.find(b"\n" + marker)
        while i >= 0:
            if _MARK.match(data, i + 1):
                out.append(i + 1)
            i = data.find(b"\n" + marker, i + 1)
    return sorted(out)


def split_documents(data: bytes) -> list[tuple[int, int, int]]:
    """[(start, end, first line)] byte spans of the documents of a stream, markers included.

    Used when a file has a syntax error (parse each document alone, so one bad document does not
    lose the rest) and to find a document's text when its field lines are needed.
    """
    bounds = [0, *_marks(data, b"---", b"..."), len(data)]
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


# -- dumping plain documents ------------------------------------------------------------------------------------

_DumperBase: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter: ~10x faster
_dump_tags: dict = {}


class _Dumper(_DumperBase):  # type: ignore[misc, valid-type]
    def resolve(self, kind, value, implicit):  # memoised: a pure function of these (no path resolvers)
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit[0], implicit[1])
        tag = _dump_tags.get(key)
        if tag is None:
            if len(_dump_tags) > 100_000:
                _dump_tags.clear()
            tag = _dump_tags[key] = super().resolve(kind, value, implicit)
        return tag


_Dumper.descend_resolver = staticmethod(lambda *a: None)  # type: ignore[assignment]
_Dumper.ascend_resolver = staticmethod(lambda *a: None)  # type: ignore[assignment]


class _NotPlain(Exception):
    pass


def _node(data: Any, seen: set):
    t = type(data)
    if t is str:
        return ScalarNode(_STR, data)
    if t is dict or t is list:
        if id(data) in seen:
            raise _NotPlain  # one object twice: PyYAML writes an anchor and an alias
        seen.add(id(data))
        if t is dict:
            return MappingNode(_MAP, [(_node(k, seen), _node(v, seen)) for k, v in data.items()], flow_style=False)
        return SequenceNode(_SEQ, [_node(v, seen) for v in data], flow_style=False)
    if t is int:
        return ScalarNode("tag:yaml.org,2002:int", str(data))
    if t is bool:
        return ScalarNode("tag:yaml.org,2002:bool", "true" if data else "false")
    if data is None:
        return ScalarNode("tag:yaml.org,2002:null", "null")
    raise _NotPlain  # floats, dates, subclasses: the stock representer's business


def dump_block(doc: Any) -> str:
    """``yaml.dump(doc, Dumper=CSafeDumper, sort_keys=False, default_flow_style=False)``, the same text, for
    JSON-like documents about 2x faster: their nodes are built directly (the stock representer dispatches
    on every value in Python) and tags resolved once per value. Anything else goes the stock way."""
    try:
        node = _node(doc, set())
    except _NotPlain:
        return yaml.dump(doc, Dumper=_DumperBase, sort_keys=False, default_flow_style=False)
    return yaml.serialize(node, Dumper=_Dumper)


# -- field lines from the text, without composing ---------------------------------------------------------------
#
# Most manifests are block YAML (Helm, kustomize and hand-written ones alike): there a field's line follows from
# indentation alone, the way the YAML scanner reads it. The constructs where it does not (quoted or flow scalars
# spanning lines, tabs, complex keys, directives, anchors/tags/aliases and duplicate keys on the path, flow
# collections gone into) make the lookup answer "not sure", and the caller composes the document instead.

_UNSURE = object()
_STRINGS = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'""")
_FLOW_START = re.compile(r"(?:^|[\s\[{,:])[\[{]")
_COMPLEX_KEY = re.compile(r"^[ ]*(?:-[ ]+)*\?(?:[ ]|$)", re.MULTILINE)
_MARKER = re.compile(r"(?:---|\.\.\.)(?:[ ]+#.*)?[ ]*")
#: a tab, a BOM, and the line breaks YAML 1.1 has besides LF (CR, NEL, LS, PS): str.split("\n") would miscount
_BREAKS = ("\t", "\ufeff", "\r", "\x85", "\u2028", "\u2029")
_SKIP = 1 << 30  # the indentation given to blank and comment lines: deeper than anything, so always stepped over
_SPECIAL = frozenset("\"'&!*?{}[],|>%@`:#-")  # what a key line may start with besides a plain key's text
_DQ = re.compile(r'"(?:[^"\\]|\\.)*"')
_SQ = re.compile(r"'(?:[^']|'')*'")


def _lines_with(text: str, c: str):
    """Each line of ``text`` that holds ``c``, once (found with str.find: no per-character loop)."""
    i = text.find(c)
    while i >= 0:
        start = text.rfind("\n", 0, i) + 1
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        yield text[start:end]
        i = text.find(c, end)


def _quotes_close(line: str) -> bool:
    """Whether every quoted scalar that starts on ``line`` ends on it. A quote starts one only at a token's
    start (after the indentation, ``-``, ``:`` or a flow indicator); inside a plain scalar or after a comment
    it is text."""
    i = 0
    while True:
        j = min((k for k in (line.find('"', i), line.find("'", i), line.find("#", i)) if k >= 0), default=-1)
        if j < 0:
            return True
        if line[j] == "#":
            if j == 0 or line[j - 1] == " ":
                return True  # a comment
            i = j + 1
            continue
        before = line[:j].rstrip(" ")
        if before and before[-1] not in "-:[{,":
            i = j + 1  # inside a plain scalar
            continue
        m = (_DQ if line[j] == '"' else _SQ).match(line, j)
        if m is None:
            return False
        i = m.end()


def _spans_lines(text: str) -> bool:
    """Whether a quoted scalar or a flow collection may continue on a later line (or a complex key, a
    directive or one of _BREAKS is there): the line of a field then no longer follows from indentation."""
    if any(c in text for c in _BREAKS) or text.startswith("%") or "\n%" in text:
        return True
    if "?" in text and _COMPLEX_KEY.search(text):
        return True
    for c in "\"'":
        for line in _lines_with(text, c):
            if not _quotes_close(line):
                return True
    for c in "[{":
        for line in _lines_with(text, c):
            flat = _STRINGS.sub("", line)
            if not _FLOW_START.search(flat):
                continue  # only inside plain scalars
            flat = flat.split(" #", 1)[0].rstrip()
            if flat.count("[") != flat.count("]") or flat.count("{") != flat.count("}") or flat[-1:] not in "]}":
                return True
    return False


class BlockLines:
    """JSON Pointer -> 1-based line of one document, read off its block-style text (``None``: not sure).

    Answers as ``field_lines`` of the composed document would for the pointer or, when it names nothing,
    its nearest existing parent; a test compares the two on every field of the corpus and the bench data.
    Costs one pass over the lines, then a walk down the pointer that jumps over the subtrees beside it.
    """

    __slots__ = ("_ind", "_lines", "_memo", "_root", "first")

    def __init__(self, text: str, first: int):
        self.first = first  # line number of text's first line
        self._lines: list[str] = []
        self._ind: list[int] = []  # per line: its indentation; _SKIP for blank lines and comments
        self._root: int | None = None
        self._memo: dict[str, object] = {}  # pointer -> its node (line, column), None or _UNSURE
        if _spans_lines(text):
            return
        lines = text.split("\n")
        ind = [_SKIP if not (t := line.lstrip(" ")) or t[0] == "#" else len(line) - len(t) for line in lines]
        root = next((i for i, d in enumerate(ind) if d != _SKIP), None)
        if root is not None and lines[root][:3] in ("---", "..."):  # the document's start marker
            if not _MARKER.fullmatch(lines[root]):
                return  # content on the marker line (`--- !tag`, `--- |`)
            ind[root] = _SKIP
            root = next((i for i in range(root + 1, len(ind)) if ind[i] != _SKIP), None)
        self._lines, self._ind, self._root = lines, ind, root

    def line(self, pointer: str) -> int | None:
        if self._root is None:
            return None
        memo = self._memo
        node: tuple[int, int] = (self._root, self._ind[self._root])
        prefix = ""
        for token in pointer.split("/")[1:] if pointer else ():
            prefix += "/" + token
            found = memo.get(prefix, memo)
            if found is memo:  # not walked yet
                found = memo[prefix] = self._child(node[0], node[1], token)
            if found is _UNSURE:
                return None
            if found is None:
                break
            node = found  # type: ignore[assignment]
        return node[0] + self.first

    def _after(self, k: int, col: int) -> int:
        """The first line after ``k`` indented ``col`` or less, not blank nor a comment (the end: len)."""
        ind = self._ind
        k += 1
        n = len(ind)
        while k < n and ind[k] > col:
            k += 1
        return k

    def _below(self, k: int, col: int, seq_at_col: bool):
        """The node that starts on the next line, deeper than ``col`` (or a ``- `` entry at ``col``)."""
        ind = self._ind
        for j in range(k + 1, len(ind)):
            d = ind[j]
            if d != _SKIP:
                if d > col or (seq_at_col and d == col and _is_entry(self._lines[j][d:])):
                    return _UNSURE if self._lines[j][d] in "&!*" else (j, d)
                return None
        return None

    def _child(self, k: int, col: int, token: str):
        """(line index, column) of the child ``token`` of the node at line ``k``, column ``col``; None when
        it has none; _UNSURE."""
        s = self._lines[k][col:]
        if s[:1] in "[{":  # a flow collection: closed on its line (or _spans_lines said so), children too
            return _UNSURE if "*" in _STRINGS.sub("", s) else (k, col)  # unless an alias leads elsewhere
        lines, ind = self._lines, self._ind
        n = len(ind)
        if _is_entry(s):  # a block sequence: its entries are the `- ` lines at this column
            if not (token.isascii() and token.isdigit()) or (len(token) > 1 and token[0] == "0"):
                return None
            j = k
            for _ in range(int(token)):
                j = self._after(j, col)
                if j == n or ind[j] < col or not _is_entry(lines[j][col:]):
                    return None
            return self._item(j, col)
        entry = _key(s)  # _UNSURE for an anchor, a tag or an alias: left to the composer
        if entry is None or entry is _UNSURE:
            return entry  # a scalar has no children
        hit = None
        raw = token.replace("~1", "/").replace("~0", "~")  # a plain key is this text, as written
        j = k
        while True:
            if entry is not None:
                key, rest = entry
                if key == token:
                    if hit is not None:
                        return _UNSURE  # a duplicate key: the composer knows which lines survive
                    hit = (j, col + len(s) - len(rest))
            j = self._after(j, col)
            while j < n and ind[j] == col and _is_entry(lines[j][col:]):  # the key's `- ` entries
                j = self._after(j, col)
            if j == n or ind[j] < col:
                break
            s = lines[j][col:]
            if s[0] not in _SPECIAL and not s.startswith(raw):
                entry = None  # a plain key (the document loaded, so this line is one) that is not ``token``
                continue
            entry = _key(s)
            if entry is None or entry is _UNSURE:
                return _UNSURE
        if hit is None:
            return None
        j, at = hit
        rest = lines[j][at:]
        if not rest or rest[0] == "#":  # the value starts on a later line, or is empty (null, on this line)
            return self._below(j, col, True) or (j, at)
        return _UNSURE if rest[0] in "&!*" else (j, at)  # an anchor, tag or alias: left to the composer

    def _item(self, j: int, col: int):
        s = self._lines[j][col:]
        rest = s[1:].lstrip(" ")
        if not rest or rest[0] == "#":
            return self._below(j, col, False) or (j, col)
        return _UNSURE if rest[0] in "&!*" else (j, col + len(s) - len(rest))


def _is_entry(s: str) -> bool:
    """Whether text at a node's column is a block sequence entry (``- x`` or a lone ``-``)."""
    return s[:1] == "-" and (len(s) == 1 or s[1] == " ")


def _key(s: str):
    """(escaped key, the rest after ``:`` and its spaces) of a block mapping entry; None for a scalar;
    _UNSURE for what this reader does not decode (escapes, anchors, tags, flow, complex keys)."""
    c = s[:1]
    if c in "\"'":
        m = (_DQ if c == '"' else _SQ).match(s)
        if m is None:
            return _UNSURE
        after = s[m.end():].lstrip(" ")
        if after[:1] != ":" or after[1:2] not in (" ", ""):
            return None  # a quoted scalar
        raw = m.group()[1:-1]
        if c == '"' and "\\" in raw:
            return _UNSURE
        return escape_pointer(raw if c == '"' else raw.replace("''", "'")), after[1:].lstrip(" ")
    if c in "|>":
        return None  # a block scalar
    if c in "&!*{}[],#?:%@`" and not (c in "?:" and s[1:2] not in (" ", "")):
        return _UNSURE
    i = s.find(": ")
    if i < 0:
        if not s.rstrip(" ").endswith(":"):
            return None
        i = len(s.rstrip(" ")) - 1
    key = s[:i].rstrip(" ")
    if " #" in key:
        return _UNSURE
    return escape_pointer(key), s[i + 1:].lstrip(" ")


def error_position(e: yaml.YAMLError) -> tuple[int, int] | None:
    """(line, column), 1-based, of a YAML syntax error, if PyYAML knows it."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def error_text(e: yaml.YAMLError) -> str:
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    return f"{context}: {problem}" if context else str(problem)
