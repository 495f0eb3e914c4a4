"""Scaffolding: destination migrations and definitions written from core's catalog
(``python run_job.py scaffold``).

May import ``services.base`` and ``services.store``.
"""

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
    "CURSOR_NAMES",
    "Alter",
    "DefinitionEntry",
    "Migration",
    "Scaffold",
    "ScaffoldRequest",
    "alter_definitions",
    "choose_cursor",
    "scaffold_tables",
    "write_migration",
]
