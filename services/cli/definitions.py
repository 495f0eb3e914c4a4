"""A job's definitions: loaded from its config module, selected by name."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from services.base import (
    ExportDefinition,
    InvalidDefinitionError,
    UnknownDefinitionError,
    did_you_mean,
)


def load_definitions(config_module: str) -> dict[str, ExportDefinition]:
    """``config_module``'s DEFINITIONS; an invalid one raises InvalidDefinitionError
    with every problem."""
    from pydantic import ValidationError

    from services.base import validation_problems

    try:
        module = importlib.import_module(config_module)
    except ValidationError as exc:
        problems = validation_problems(exc.title, exc)
        raise InvalidDefinitionError("; ".join(problems), problems=problems) from None
    definitions: dict[str, ExportDefinition] = module.DEFINITIONS
    return definitions


def select_definitions(
    job: str,
    definitions: Mapping[str, ExportDefinition],
    names: list[str],
    *,
    all_definitions: bool,
) -> list[str]:
    """The names to run, in order; an unknown name raises UnknownDefinitionError."""
    known = ", ".join(definitions) or "(none)"
    if all_definitions and names:
        raise UnknownDefinitionError("give definition names or --all, not both")
    if all_definitions:
        return list(definitions)
    if not names:
        raise UnknownDefinitionError(f"name at least one definition, or --all; known: {known}")
    unknown = [n for n in names if n not in definitions]
    if unknown:
        hints = "".join(did_you_mean(n, definitions) for n in unknown)
        raise UnknownDefinitionError(
            f"unknown definition {', '.join(map(repr, unknown))} for {job}; known: {known}{hints}"
        )
    return list(dict.fromkeys(names))
