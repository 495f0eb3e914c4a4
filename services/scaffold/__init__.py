"""Scaffolding: destination migrations and definitions written from core's catalog
(``python run_job.py scaffold``).

May import ``services.base`` and ``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.scaffold._alter import Alter, alter_definitions
    from services.scaffold._cursor import CURSOR_NAMES, choose_cursor
    from services.scaffold._migration import Migration, write_migration
    from services.scaffold._new_tables import (
        DefinitionEntry,
        Scaffold,
        ScaffoldRequest,
        scaffold_tables,
    )

__all__ = [
    "Alter",
    "CURSOR_NAMES",
    "DefinitionEntry",
    "Migration",
    "Scaffold",
    "ScaffoldRequest",
    "alter_definitions",
    "choose_cursor",
    "scaffold_tables",
    "write_migration",
]
_HOMES = {
    "Alter": "services.scaffold._alter",
    "CURSOR_NAMES": "services.scaffold._cursor",
    "DefinitionEntry": "services.scaffold._new_tables",
    "Migration": "services.scaffold._migration",
    "Scaffold": "services.scaffold._new_tables",
    "ScaffoldRequest": "services.scaffold._new_tables",
    "alter_definitions": "services.scaffold._alter",
    "choose_cursor": "services.scaffold._cursor",
    "scaffold_tables": "services.scaffold._new_tables",
    "write_migration": "services.scaffold._migration",
}
__getattr__ = lazy_exports(__name__, _HOMES)
