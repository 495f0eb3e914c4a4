"""TEST-ONLY: ``run_job.py`` with the export-to-pg DEFINITIONS taken from another file.

``python tests/cli_driver.py export-to-pg NAME...`` behaves exactly like
``python run_job.py export-to-pg NAME...`` except that, when
``TABLESYNC_TEST_DEFINITIONS`` names a Python file, that file is imported as
``jobs.export_to_pg.config`` (when the CLI asks for it, so an invalid
definition fails where a real one would). The working directory can be
anywhere: the repo is put on ``sys.path`` here.
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

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS_VARIABLE = "TABLESYNC_TEST_DEFINITIONS"
CONFIG_MODULE = "jobs.export_to_pg.config"


class _DefinitionsFinder(importlib.abc.MetaPathFinder):
    """Finds CONFIG_MODULE in the file named by TABLESYNC_TEST_DEFINITIONS."""

    def __init__(self, path: str) -> None:
        self.path = path

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != CONFIG_MODULE:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path)


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    definitions = os.environ.get(DEFINITIONS_VARIABLE)
    if definitions:
        sys.meta_path.insert(0, _DefinitionsFinder(definitions))
    import run_job

    return run_job.main()


if __name__ == "__main__":
    sys.exit(main())
