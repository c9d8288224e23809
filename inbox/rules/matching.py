"""Text conditions with bounded cost on whatever a customer sends: no user-written regular expressions.

What a rule may ask of a message's text (case-insensitive, whitespace runs read as one space, only
the first MAX_TEXT characters looked at):

- `contains` / `not_contains`: a phrase as a plain substring;
- `contains_word`: a word or phrase standing on its own (not inside a longer word), any of a list;
- `matches`: a wildcard pattern over the whole text, fnmatch-style: `*` any run of characters, `?`
  any one character, everything else literal ("*where is my order*", "order #????*").

`matches` never backtracks: the pattern is split at its `*`s into literal pieces (with `?` holes);
the first piece must start the text, the last must end it, and the middle ones are found left to
right, each at its leftmost place after the previous one — which decides a wildcard match exactly.
Each piece is found by a regular expression compiled here from escaped literals and `.` only (no
quantifier, no alternation), so a search is linear in the text per piece: the whole match costs at
most MAX_TEXT × the pattern's length. Patterns longer than MAX_PATTERN or with more than
MAX_STARS wildcards are refused when the rule is saved, as is anything that looks like a regular
expression asked for by name (`regex`): see inbox/rules/schema.py.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_TEXT = 10_000
MAX_PATTERN = 200
MAX_STARS = 8


def normalised(text: str) -> str:
    return " ".join((text or "")[:MAX_TEXT].split()).casefold()


def contains(text: str, phrase: str) -> bool:
    return normalised(phrase) in normalised(text)


@lru_cache(maxsize=512)
def _word(phrase: str) -> re.Pattern[str]:
    # Escaped literal between two look-arounds for a word character: no quantifier anywhere.
    return re.compile(r"(?<!\w)" + re.escape(normalised(phrase)) + r"(?!\w)")


def contains_word(text: str, phrases: list[str]) -> bool:
    flat = normalised(text)
    return any(phrase.strip() and _word(phrase).search(flat) is not None for phrase in phrases)


@lru_cache(maxsize=512)
def _pieces(pattern: str) -> tuple[tuple[re.Pattern[str], ...], bool, bool]:
    """The literal pieces between `*`s (each as a quantifier-free regex), and whether the pattern
    starts / ends with a `*`."""
    flat = normalised(pattern)
    parts = flat.split("*")
    compiled = tuple(
        re.compile("".join("." if ch == "?" else re.escape(ch) for ch in part), re.DOTALL) for part in parts
    )
    return compiled, flat.startswith("*"), flat.endswith("*")


def wildcard_matches(text: str, pattern: str) -> bool:
    """Whether the whole (normalised) text matches the wildcard pattern (see the module's docstring)."""
    return pieces_match(normalised(text), _pieces(pattern))


def pieces_match(flat: str, compiled: tuple[tuple[re.Pattern[str], ...], bool, bool]) -> bool:
    """wildcard_matches on a text normalised already, with the pattern's pieces (`_pieces`)."""
    pieces, open_start, open_end = compiled
    if len(pieces) == 1:  # no star: the text is exactly the piece
        return pieces[0].fullmatch(flat) is not None
    first, *middle, last = pieces
    at = 0
    if not open_start:
        head = first.match(flat)
        if head is None:
            return False
        at = head.end()
    for piece in middle:
        if not piece.pattern:
            continue
        found = piece.search(flat, at)
        if found is None:
            return False
        at = found.end()
    if open_end:
        return True
    # The last piece must end the text, after everything matched so far.
    width = _width(last)
    if len(flat) - width < at:
        return False
    return last.fullmatch(flat, len(flat) - width) is not None


@lru_cache(maxsize=512)
def _width(piece: re.Pattern[str]) -> int:
    """Characters a piece matches: each escaped literal or `.` is one character."""
    return len(re.sub(r"\\(.)", r"\1", piece.pattern))


def pattern_problem(pattern: object) -> str | None:
    """Why a wildcard pattern is refused, or None."""
    if not isinstance(pattern, str) or not pattern.strip():
        return "a wildcard pattern is a non-empty string"
    if len(pattern) > MAX_PATTERN:
        return f"a wildcard pattern is at most {MAX_PATTERN} characters"
    if pattern.count("*") > MAX_STARS:
        return f"a wildcard pattern has at most {MAX_STARS} `*`"
    return None
