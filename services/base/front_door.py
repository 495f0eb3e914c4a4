"""Front doors that cost nothing: a room's ``__init__`` lists what other rooms may use,
and each name is imported from its own module only when first asked for.

A room's ``__init__`` names its exports twice, checked against each other by
tests/test_layout.py: under ``if TYPE_CHECKING`` (for mypy) and in a dict of
name -> module, whose ``__getattr__`` this builds. Importing ``services.store``
thus imports none of its modules; ``from services.store import SyncPlan``
imports ``services.store.plan`` and no other (start-up and forked workers pay for
what they use, as before the doors).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that finds ``homes[name]``'s ``name``."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
