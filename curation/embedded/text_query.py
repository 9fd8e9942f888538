"""Elasticsearch `simple_query_string` syntax, translated to an SQLite FTS5 query.

argilla-server sends text searches in Elasticsearch's `simple_query_string` syntax with
`default_operator: AND`: words must all match (`+` too), `|` means OR, `-` negates,
`"..."` is a phrase, a trailing `*` makes a prefix, parentheses group. A word matches
if it appears in any searched field. Fuzziness and slop (`~N`) are ignored: the word or
phrase must match exactly. Like Elasticsearch, a malformed query never fails: stray
operators and unbalanced parentheses are dropped.

Standard library only: it runs in the server process and in unit tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# One lexical token: parenthesis, operator, phrase (with optional ~N), or bare word.
_TOKEN = re.compile(
    r'\s*(?:(?P<op>[()|+-])|"(?P<phrase>(?:[^"\\]|\\.)*)"?(?:~\d*)?|(?P<word>(?:[^\s()|+"\\]|\\.)+))'
)
_HAS_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True)
class TextMatch:
    """How a text query restricts records.

    `include`: an FTS5 expression the record must match (scored by bm25);
    `exclude`: an FTS5 expression the record must not match (from pure negations);
    both None: the query matches every record (it had no searchable words).
    """

    include: str | None = None
    exclude: str | None = None


def to_fts5(query: str, column: str | None = None) -> TextMatch:
    """Translate a simple_query_string query; `column` restricts it to one FTS5 column."""
    node = _Parser(query).parse()
    kind, expression = _compile(node) if node is not None else ("all", "")
    if kind == "all":
        return TextMatch()
    if column is not None:
        expression = f"{{{column}}} : ({expression})"
    return TextMatch(include=expression) if kind == "pos" else TextMatch(exclude=expression)


# --- parsing --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    text: str
    prefix: bool = False


@dataclass(frozen=True)
class _Not:
    node: object


@dataclass(frozen=True)
class _And:
    nodes: tuple


@dataclass(frozen=True)
class _Or:
    nodes: tuple


class _Parser:
    """expr := and ('|' and)* ; and := unary ('+'? unary)* ; unary := '-' unary | atom"""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        for match in _TOKEN.finditer(text):
            if match.group("op"):
                self.tokens.append(("op", match.group("op")))
            elif match.group("phrase") is not None:
                self.tokens.append(("phrase", _unescape(match.group("phrase"))))
            elif match.group("word"):
                self.tokens.append(("word", match.group("word")))
        self.position = 0

    def parse(self) -> object | None:
        nodes = []
        while self.position < len(self.tokens):
            node = self._or()
            if node is not None:
                nodes.append(node)
            elif self._peek() == ("op", ")"):
                self.position += 1  # unbalanced closing parenthesis
        return _and_of(nodes)

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _or(self) -> object | None:
        nodes = [self._and()]
        while self._peek() == ("op", "|"):
            self.position += 1
            nodes.append(self._and())
        nodes = [node for node in nodes if node is not None]
        if len(nodes) > 1:
            return _Or(tuple(nodes))
        return nodes[0] if nodes else None

    def _and(self) -> object | None:
        nodes = []
        while (token := self._peek()) is not None and token not in (("op", "|"), ("op", ")")):
            if token == ("op", "+"):
                self.position += 1
                continue
            node = self._unary()
            if node is not None:
                nodes.append(node)
        return _and_of(nodes)

    def _unary(self) -> object | None:
        kind, value = self.tokens[self.position]
        self.position += 1
        if (kind, value) == ("op", "-"):
            if self._peek() is None or self._peek() in (("op", "|"), ("op", ")")):
                return None
            node = self._unary()
            return _Not(node) if node is not None else None
        if (kind, value) == ("op", "("):
            node = self._or()
            if self._peek() == ("op", ")"):
                self.position += 1
            return node
        if kind == "phrase":
            return _Word(value) if _HAS_WORD_CHAR.search(value) else None
        if kind == "word":
            word = value.split("~", 1)[0] if "~" in value and not value.endswith("\\~") else value
            prefix = word.endswith("*")
            word = _unescape(word.rstrip("*"))
            return _Word(word, prefix=prefix) if _HAS_WORD_CHAR.search(word) else None
        return None  # a stray operator


def _and_of(nodes: list) -> object | None:
    if len(nodes) > 1:
        return _And(tuple(nodes))
    return nodes[0] if nodes else None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# --- compiling to FTS5 ----------------------------------------------------------------
# FTS5 has only a binary NOT (`a NOT b`), so each node compiles to ("pos", e): records
# matching e, ("neg", e): records NOT matching e, or ("all", ""): every record.


def _compile(node: object) -> tuple[str, str]:
    if isinstance(node, _Word):
        quoted = '"' + node.text.replace('"', '""') + '"'
        return "pos", quoted + (" *" if node.prefix else "")
    if isinstance(node, _Not):
        kind, expression = _compile(node.node)
        return {"pos": ("neg", expression), "neg": ("pos", expression), "all": ("all", "")}[kind]
    parts = [_compile(child) for child in node.nodes]  # type: ignore[attr-defined]
    positives = [f"({e})" for kind, e in parts if kind == "pos"]
    negatives = [f"({e})" for kind, e in parts if kind == "neg"]
    if isinstance(node, _And):
        # all of P, none of N
        if positives:
            expression = " AND ".join(positives)
            return (
                "pos",
                f"({expression}) NOT ({' OR '.join(negatives)})" if negatives else expression,
            )
        return ("neg", " OR ".join(negatives)) if negatives else ("all", "")
    # _Or: any of P, or not all of N  ==  not ((all of N) and none of P)
    if any(kind == "all" for kind, _ in parts):
        return "all", ""
    if not negatives:
        return "pos", " OR ".join(positives)
    excluded = " AND ".join(negatives)
    return "neg", f"({excluded}) NOT ({' OR '.join(positives)})" if positives else excluded
