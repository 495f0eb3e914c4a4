"""TEST-ONLY: ``run_job.py`` with the export-to-pg DEFINITIONS taken from a test module.

``python tests/cli_driver.py export-to-pg NAME...`` behaves exactly like
``python run_job.py export-to-pg NAME...`` except that, when
``TABLESYNC_TEST_DEFINITIONS`` names a module (``definitions.events``: a
file of tests/definitions/), that module's file is imported as
``jobs.export_to_pg.config`` when the CLI asks for it, so an invalid
definition fails where a real one would. The working directory can be
anywhere: the repo and tests/ are put on ``sys.path`` here.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
DEFINITIONS_VARIABLE = "TABLESYNC_TEST_DEFINITIONS"
CONFIG_MODULE = "jobs.export_to_pg.config"


class _DefinitionsFinder(importlib.abc.MetaPathFinder):
    """Finds CONFIG_MODULE in the file of the module TABLESYNC_TEST_DEFINITIONS names."""

    def __init__(self, module: str) -> None:
        self.module = module

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != CONFIG_MODULE:
            return None
        found = importlib.util.find_spec(self.module)
        if found is None or found.origin is None:
            raise ImportError(f"{DEFINITIONS_VARIABLE}={self.module!r}: no such module")
        return importlib.util.spec_from_file_location(fullname, found.origin)


def main() -> int:
    sys.path[:0] = [str(REPO_ROOT), str(TESTS_DIR)]
    module = os.environ.get(DEFINITIONS_VARIABLE)
    if module:
        sys.meta_path.insert(0, _DefinitionsFinder(module))
    import run_job

    return run_job.main()


if __name__ == "__main__":
    sys.exit(main())
