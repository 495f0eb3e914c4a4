"""Only the two copying definitions of tests/definitions/stop.py, for ``--all --jobs 2``."""

from __future__ import annotations

from definitions.stop import DEFINITIONS as STOP_DEFINITIONS

DEFINITIONS = {name: STOP_DEFINITIONS[name] for name in ("Copied", "CopiedToo")}
