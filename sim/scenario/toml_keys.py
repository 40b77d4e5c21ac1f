"""Locate keys in TOML text, so that error messages can name a line.

`key_lines(text)` maps every key path to its 1-based line; `parse_key("a.b")` splits a
dotted key the way TOML does (quoted parts may contain dots).
"""

from __future__ import annotations

import bisect
import re
import tomllib

Path_ = tuple[str, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")


class _KeyScanner:
    """Find the line of every key in TOML text that tomllib has already accepted.

    Handles table headers (`[a.b]`, `[a."b.c"]`), `key = ...`, dotted keys, keys in inline
    tables, strings of all four kinds and multi-line arrays. Not a TOML parser: it only
    locates keys, so error messages can name a line.
    """

    def __init__(self, text: str):
        self.s, self.i = text, 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.lines: dict[Path_, int] = {}

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)

    def peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def skip(self, newlines: bool) -> None:
        blanks = " \t\r\n" if newlines else " \t"
        while self.i < len(self.s):
            if self.s[self.i] in blanks:
                self.i += 1
            elif self.s[self.i] == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            else:
                return

    def string(self) -> str:
        s, i = self.s, self.i
        for q in ('"""', "'''"):
            if s.startswith(q, i):
                j = i + 3
                while not s.startswith(q, j):
                    j += 2 if (q[0] == '"' and s[j] == "\\") else 1
                while s.startswith(q[0], j + 3):  # content may end in one or two quotes
                    j += 1
                self.i = j + 3
                return s[i + 3:j]
        q, j = s[i], i + 1
        while s[j] != q:
            j += 2 if (q == '"' and s[j] == "\\") else 1
        self.i = j + 1
        return tomllib.loads(f"k = {s[i:j + 1]}")["k"] if q == '"' else s[i + 1:j]

    def key(self) -> Path_:
        parts: list[str] = []
        while True:
            self.skip(False)
            if self.peek() in ('"', "'"):
                parts.append(self.string())
            else:
                m = _BARE.match(self.s, self.i)
                if not m:
                    return tuple(parts)
                parts.append(m.group())
                self.i = m.end()
            self.skip(False)
            if self.peek() != ".":
                return tuple(parts)
            self.i += 1

    def record(self, path: Path_, pos: int) -> None:
        for n in range(1, len(path)):
            self.lines.setdefault(path[:n], self.line(pos))
        self.lines[path] = self.line(pos)

    def value(self, path: Path_ | None) -> None:
        """Skip one value, recording keys of inline tables under `path` (None in arrays)."""
        c = self.peek()
        if c in ('"', "'"):
            self.string()
        elif c in ("[", "{"):
            close = "]" if c == "[" else "}"
            self.i += 1
            while True:
                self.skip(True)
                if self.peek() in (close, ""):
                    self.i += 1
                    return
                if c == "{":
                    pos, k = self.i, self.key()
                    if path is not None:
                        self.record(path + k, pos)
                    self.skip(False)
                    self.i += 1  # '='
                    self.skip(False)
                    self.value(None if path is None else path + k)
                else:
                    self.value(None)
                self.skip(True)
                if self.peek() == ",":
                    self.i += 1
        else:
            self.i = _SCALAR.match(self.s, self.i).end()

    def document(self) -> None:
        table: Path_ = ()
        while True:
            self.skip(True)
            if self.i >= len(self.s):
                return
            pos = self.i
            if self.peek() == "[":
                n = 2 if self.peek(2) == "[[" else 1
                self.i += n
                table = self.key()
                self.skip(False)
                self.i += n
                self.record(table, pos)
            else:
                k = self.key()
                if not k:
                    return
                self.record(table + k, pos)
                self.skip(False)
                self.i += 1  # '='
                self.skip(False)
                self.value(table + k)


def key_lines(text: str) -> dict[Path_, int]:
    """Map each key path in TOML `text` to its 1-based line (best effort, never raises)."""
    sc = _KeyScanner(text)
    try:
        sc.document()
    except (IndexError, tomllib.TOMLDecodeError, RecursionError):
        pass
    return sc.lines


def parse_key(text: str) -> Path_ | None:
    """Split a dotted key (`a.b`, `events.x.set."customs.CN.y"`); None if it is not one."""
    sc = _KeyScanner(text.strip())
    try:
        parts = sc.key()
        sc.skip(False)
    except (IndexError, tomllib.TOMLDecodeError, RecursionError):
        return None
    return parts if parts and sc.i == len(sc.s) else None
