"""A user's SQL expression read as PostgreSQL's lexer would, to keep it inside its frame.

A ``select`` expression or a ``source.where`` predicate is trusted configuration,
like a view's definition, and goes into the read query as written, inside
parentheses (services/store/sql.py). What must never happen is that it closes
those parentheses and goes on as SQL of its own: a second statement sent with
the first (psycopg sends a query without parameters, COPY included, by the
simple protocol, which runs every statement it holds) could end the read-only
transaction. So the text is refused when, outside its string literals, quoted
identifiers and comments, it holds a ``;`` or a ``)`` that no ``(`` of its own
opened, or leaves a literal, an identifier, a comment or a parenthesis open.
"""

from __future__ import annotations

import re

# $$ or $tag$ opening a dollar-quoted string; a tag does not start with a digit ($1 is a
# parameter).
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")


def _skip_quoted(text: str, at: int, quote: str, *, backslashes: bool) -> int:
    """The index after the literal or identifier opened at ``at``; -1 if it never closes."""
    i = at + 1
    while i < len(text):
        char = text[i]
        if backslashes and char == "\\":
            i += 2
            continue
        if char == quote:
            if text.startswith(quote, i + 1):  # doubled: the quote itself
                i += 2
                continue
            return i + 1
        i += 1
    return -1


def _skip_block_comment(text: str, at: int) -> int:
    """The index after the (nested) /* comment */ opened at ``at``; -1 if it never closes."""
    depth, i = 0, at
    while i < len(text):
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return -1


def _skip_token(text: str, i: int) -> int | None:
    """The index after a literal, quoted identifier or comment at ``i``; -1 when it never
    ends; None when none starts there."""
    char = text[i]
    if char == "'":
        escaped = i > 0 and text[i - 1] in "eE" and not _is_word_char(text, i - 2)
        return _skip_quoted(text, i, "'", backslashes=escaped)
    if char == '"':
        return _skip_quoted(text, i, '"', backslashes=False)
    if text.startswith("--", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    if text.startswith("/*", i):
        return _skip_block_comment(text, i)
    if char == "$" and not _is_word_char(text, i - 1):
        tag = _DOLLAR_TAG.match(text, i)
        if tag is not None:
            end = text.find(tag.group(0), tag.end())
            return -1 if end < 0 else end + len(tag.group(0))
    return None


def _is_word_char(text: str, i: int) -> bool:
    return i >= 0 and (text[i].isalnum() or text[i] in "_$")


def frame_problem(text: str) -> str | None:
    """Why ``text`` could leave the parentheses it is put in, or None when it cannot."""
    depth, i = 0, 0
    while i < len(text):
        skipped = _skip_token(text, i)
        if skipped == -1:
            return "leaves a string, quoted identifier or comment open"
        if skipped is not None:
            i = skipped
            continue
        char = text[i]
        if char == ";":
            return "holds a ';': one expression, not statements"
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return "closes a parenthesis it did not open"
        i += 1
    if depth:
        return "leaves a parenthesis open"
    return None
