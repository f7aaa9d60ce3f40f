"""Validation patterns shared by the modules' wire types, valid in Python and ECMA-262 alike.

OpenAPI readers (client generators, schema fuzzers) evaluate ``pattern`` as ECMA-262, while
msgspec evaluates it with Python's ``re.search``; every pattern here means the same in both.
"""

from __future__ import annotations

#: Ends a pattern at the true end of the string. Python's ``$`` also matches just before a
#: final newline, so ``^[a-z]+$`` accepts ``"alice\n"``; ``\Z`` would fix that but is not
#: ECMA-262. The lookahead is always true at the end in ECMA-262, and in Python it refuses
#: the position before a trailing newline.
END = r"$(?!\n)"

#: Characters a display name must not contain: C0 and C1 controls (NUL, tab, newline, ESC
#: and so the start of every ANSI escape sequence, DEL, CSI), line and paragraph separators,
#: and the bidirectional marks, embeddings, overrides and isolates that make text display in
#: another order than it is stored (names that impersonate others or hide text).
_UNSAFE = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"

#: A display name (nickname, group name): any text but the characters above.
DISPLAY_NAME = f"^[^{_UNSAFE}]+{END}"


def whole(char_class: str) -> str:
    """A pattern matching strings made only of ``char_class`` (one or more of them)."""
    return f"^[{char_class}]+{END}"
