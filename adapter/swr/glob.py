"""Doublestar glob matching as Harbor's name and tag filters do it (bmatcuk/doublestar v1.3.4)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

MAX_ALTERNATIVES = 256


class GlobPatternError(ValueError):
    """A pattern doublestar would reject with ErrBadPattern (or that we refuse as surely unintended)."""

    def __init__(self, pattern: str, position: int, reason: str):
        super().__init__(f"bad glob pattern {pattern!r} at position {position}: {reason}")
        self.pattern, self.position, self.reason = pattern, position, reason


@dataclass(frozen=True)
class _Tok:
    kind: str  # lit | star | dstar | any | class | slash | alt
    value: object = None  # lit: the character; class: regex text; alt: tuple of option token lists
    first_in_option: bool = False  # dstar right after "{" or ",": doublestar treats it as "*"
    at_start: bool = False  # dstar opening the whole pattern
    follow_ok: bool = False  # dstar followed by "/" or the end, looking past the end of its option


class _Parser:
    def __init__(self, pattern: str):
        self.pattern, self.pos = pattern, 0

    def fail(self, reason: str, position: int | None = None):
        raise GlobPatternError(self.pattern, self.pos if position is None else position, reason)

    def sequence(self, in_braces: bool) -> list[_Tok]:
        out: list[_Tok] = []
        while self.pos < len(self.pattern):
            ch = self.pattern[self.pos]
            if in_braces and ch in ",}":
                break
            self.pos += 1
            out.append(self.token(ch, first=not out and in_braces))
        return out

    def token(self, ch: str, first: bool) -> _Tok:
        if ch == "\\":
            return _Tok("lit", self.escaped())
        if ch == "*":
            if self.pattern.startswith("*", self.pos):
                self.pos += 1
                return _Tok("dstar", first_in_option=first)
            return _Tok("star")
        if ch == "?":
            return _Tok("any")
        if ch == "[":
            return _Tok("class", self.char_class())
        if ch == "{":
            return _Tok("alt", self.alternatives())
        return _Tok("slash") if ch == "/" else _Tok("lit", ch)

    def escaped(self) -> str:
        if self.pos >= len(self.pattern):
            self.fail("trailing backslash escapes nothing")
        self.pos += 1
        return self.pattern[self.pos - 1]

    def alternatives(self) -> tuple:
        start, options = self.pos - 1, []
        while True:
            options.append(tuple(self.sequence(in_braces=True)))
            if self.pos >= len(self.pattern):
                self.fail("'{' is never closed", start)
            self.pos += 1
            if self.pattern[self.pos - 1] == "}":
                return tuple(options)

    def char_class(self) -> str:
        start = self.pos - 1
        end = self.pos
        while end < len(self.pattern) and self.pattern[end] != "]":
            end += 2 if self.pattern[end] == "\\" else 1
        if end >= len(self.pattern):
            self.fail("'[' is never closed", start)
        body, self.pos = self.pattern[self.pos:end], end + 1
        # doublestar v1.3.4 negates with "^" only; "!" is accepted too, as in fnmatch and doublestar v2+.
        negated = body[:1] in ("^", "!")
        items = _class_items(body[1:] if negated else body, lambda why: self.fail(why, start))
        if not items:
            self.fail("empty character class", start)
        # A class never matches "/": doublestar matches classes inside one path component.
        return f"[^{items}/]" if negated else f"(?!/)[{items}]"


def _class_items(body: str, fail) -> str:
    chars, out, i = [], [], 0
    while i < len(body):  # unescape first, remembering which '-' were literal
        if body[i] == "\\":
            if i + 1 >= len(body):
                fail("trailing backslash in character class")
            chars.append((body[i + 1], True))
            i += 2
        else:
            chars.append((body[i], False))
            i += 1
    i = 0
    while i < len(chars):
        low, low_escaped = chars[i]
        if low == "-" and not low_escaped:
            fail("'-' must follow a character to make a range (escape it as \\-)")
        high, i = low, i + 1
        if i < len(chars) and chars[i] == ("-", False):
            if i + 1 >= len(chars) or chars[i + 1] == ("-", False):
                fail(f"range starting at {low!r} has no end")
            high, i = chars[i + 1][0], i + 2
            if high < low:
                fail(f"range {low}-{high} is reversed")
        out.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")
    return "".join(out)


def _annotate(seq: list[_Tok], follow: str, top: bool) -> list[_Tok]:
    """Marks each `**` with what structurally follows it; `follow` is what comes after `seq`."""
    out = []
    for i, tok in enumerate(seq):
        nxt = seq[i + 1].kind if i + 1 < len(seq) else follow
        if tok.kind == "dstar":
            tok = replace(tok, at_start=top and i == 0, follow_ok=nxt in ("slash", "end"))
        elif tok.kind == "alt":
            options = tuple(tuple(_annotate(list(opt), nxt, False)) for opt in tok.value)
            tok = replace(tok, value=options)
        out.append(tok)
    return out


def _expand(seq, pattern: str) -> list[list[_Tok]]:
    """Brace expansion: doublestar splices an option into the rest of the pattern textually."""
    flats: list[list[_Tok]] = [[]]
    for tok in seq:
        if tok.kind != "alt":
            flats = [flat + [tok] for flat in flats]
            continue
        options = [e for opt in tok.value for e in _expand(opt, pattern)]
        flats = [flat + opt for flat in flats for opt in options]
        if len(flats) > MAX_ALTERNATIVES:
            raise GlobPatternError(pattern, 0, f"braces expand to more than {MAX_ALTERNATIVES} alternatives")
    return flats


def _emit(flat: list[_Tok]) -> str:
    out, i = [], 0
    while i < len(flat):
        tok = flat[i]
        prev_slash = i > 0 and flat[i - 1].kind == "slash" and not tok.first_in_option
        if tok.kind == "dstar" and tok.follow_ok and (tok.at_start or prev_slash):
            if i + 1 < len(flat):  # "**/": zero or more whole components, this slash included
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
        elif tok.kind in ("star", "dstar"):  # a "**" that is not a whole component is a "*"
            out.append("[^/]*")
        else:
            out.append({"any": "[^/]", "slash": "/"}.get(tok.kind) or
                       (tok.value if tok.kind == "class" else re.escape(tok.value)))
        i += 1
    return "".join(out)


def _flats(pattern: str) -> list[list[_Tok]]:
    """The pattern as brace-free token sequences, one per alternative."""
    return _expand(_annotate(_Parser(pattern).sequence(in_braces=False), "end", True), pattern)


def translate(pattern: str) -> str:
    """The regex (for fullmatch) equivalent to a doublestar pattern; the empty pattern matches all."""
    if pattern == "":
        return ".*"
    alternatives = dict.fromkeys(_emit(flat) for flat in _flats(pattern))
    return "|".join(f"(?:{alt})" for alt in alternatives) if len(alternatives) > 1 else next(iter(alternatives))


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern:
    """Compiles (and caches) `pattern`; raises GlobPatternError, a ValueError, when it is malformed."""
    return re.compile(translate(pattern), re.DOTALL)


# Python's re backtracks: with k wildcards a name that almost matches costs about n^(k+1) steps (six `*`
# against 100 characters: 2 s, per push, for one line of config). Up to this many wildcards per alternative
# the regex is fastest; past it the pattern runs as a _Program, linear in pattern x name.
MAX_REGEX_WILDCARDS = 3


class _Program:
    """A pattern's alternatives as atom lists, matched by following every position at once (no backtracking).

    Atoms: ("one", test) one character; ("any", slash_ok) `[^/]*` or `.*`; ("dirs",) `(?:.*/)?`."""

    def __init__(self, flats: list[list[_Tok]]):
        self.alternatives = [_atoms(flat) for flat in flats]

    def fullmatch(self, name: str) -> bool:
        return any(_run(atoms, name) for atoms in self.alternatives)


def _atoms(flat: list[_Tok]) -> list[tuple]:
    """_emit's reading of a token sequence, as atoms instead of regex text."""
    out, i = [], 0
    while i < len(flat):
        tok = flat[i]
        prev_slash = i > 0 and flat[i - 1].kind == "slash" and not tok.first_in_option
        if tok.kind == "dstar" and tok.follow_ok and (tok.at_start or prev_slash):
            out.append(("dirs",) if i + 1 < len(flat) else ("any", True))
            i += 1 if i + 1 < len(flat) else 0  # "**/" takes its slash along, as in _emit
        elif tok.kind in ("star", "dstar"):
            out.append(("any", False))
        else:
            out.append(("one", re.compile(_emit([tok]), re.DOTALL).fullmatch))
        i += 1
    return out


def _run(atoms: list[tuple], name: str) -> bool:
    """Whether `name` matches the atoms: the set of (atom index, inside a dirs atom) after each character."""
    def closure(states):
        todo, seen = list(states), set(states)
        while todo:
            index, inside = todo.pop()
            if not inside and index < len(atoms) and atoms[index][0] != "one" and (index + 1, False) not in seen:
                seen.add((index + 1, False))  # a wildcard may match nothing
                todo.append((index + 1, False))
        return seen

    states = closure({(0, False)})
    for char in name:
        step = set()
        for index, _inside in states:
            if index == len(atoms):
                continue
            kind, arg = atoms[index][0], atoms[index][1:]
            if kind == "one" and arg[0](char):
                step.add((index + 1, False))
            elif kind == "any" and (arg[0] or char != "/"):
                step.add((index, False))
            elif kind == "dirs":  # anything, and past a "/" the directories may end
                step.add((index, True))
                if char == "/":
                    step.add((index + 1, False))
        if not step:
            return False
        states = closure(step)
    return (len(atoms), False) in states


@functools.lru_cache(maxsize=1024)
def _matcher(pattern: str):
    """The regex when it is safe to backtrack over, else the _Program; either has fullmatch(name)."""
    regex = compile_glob(pattern)  # validates, and is the answer for the common patterns
    flats = _flats(pattern) if pattern else []
    if all(sum(t.kind in ("star", "dstar") for t in flat) <= MAX_REGEX_WILDCARDS for flat in flats):
        return regex
    return _Program(flats)


def glob_match(pattern: str, name: str) -> bool:
    """doublestar.Match(pattern, name) as Harbor calls it: `*` stays within a path component, `**` crosses."""
    return bool(_matcher(pattern).fullmatch(name))
