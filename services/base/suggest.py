"""'Did you mean ...?': the known name closest to one that was mistyped."""

from __future__ import annotations

from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name equal to ``name`` but for case, else the nearest spelling, else None."""
    candidates = list(dict.fromkeys(known))
    for candidate in candidates:
        if candidate.casefold() == name.casefold():
            return candidate
    import difflib  # only a mistyped name pays for it, never a run

    by_fold = {c.casefold(): c for c in candidates}
    near = difflib.get_close_matches(name.casefold(), list(by_fold), n=1, cutoff=0.75)
    return by_fold[near[0]] if near else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'X'?"`` for the closest known name, or "" when none is close."""
    found = closest(name, known)
    return "" if found is None else f"; did you mean {found!r}?"
