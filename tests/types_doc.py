"""docs/types.md: the table the type matrix (tests/test_type_matrix.py) writes and checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

# The page's prose is written by hand above the table; the table is this module's.
TABLE_HEAD = """| family | type | path | `=` in the catalog | incremental | verify |
|---|---|---|---|---|---|
"""


class Found(Protocol):
    """One type as the matrix found it (test_type_matrix.Result)."""

    type_name: str
    family: str
    path: str
    equality: bool
    outcome: str


def row(found: Found) -> str:
    """The table row of one type."""
    if found.outcome == "refused":
        return f"| {found.family} | `{found.type_name}` | refused | - | - | - |"
    exact = found.outcome == "exact"
    equality = "yes" if found.equality else "no"
    return (
        f"| {found.family} | `{found.type_name}` | {found.path} | {equality}"
        f" | {'exact' if exact else 'FAILED'} | {'clean, finds a change' if exact else 'FAILED'} |"
    )


def render(page: str, results: Sequence[Found]) -> str:
    """``page`` with its matrix table made of ``results``."""
    prose = page.split(TABLE_HEAD, 1)[0]
    return prose + TABLE_HEAD + "\n".join(sorted(row(r) for r in results)) + "\n"


def table_rows(page: str) -> set[str]:
    """The matrix rows of a page."""
    matrix = page.split(TABLE_HEAD, 1)[-1]
    return {line for line in matrix.splitlines() if line.startswith("| ")}


def differences(page: str, results: Sequence[Found], not_run: set[str]) -> list[str]:
    """What ``page``'s table says that this run did not find: rows it lacks, rows it has
    that no type found (``not_run`` types' rows are left alone)."""
    problems = [] if TABLE_HEAD in page else ["the matrix table's head"]
    found, wanted = table_rows(page), table_rows(render(page, results))
    problems += [f"missing: {r}" for r in sorted(wanted - found)]
    problems += [
        f"not found: {r}"
        for r in sorted(found - wanted)
        if not any(f"`{t}`" in r or f"`{t}[]`" in r for t in not_run)
    ]
    return problems
