"""Operator commands beside the ordinary run: dry run, verify (and repair),
reset and replay, full refresh.

May import ``services.base``, ``services.store``, ``services.sync`` and
``services.reporting``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports
from services.operations.dry_run import dry_run as dry_run
from services.operations.verify import verify as verify
from services.operations.verify_keys import verify_keys as verify_keys

if TYPE_CHECKING:
    from services.operations.dry_run import describe
    from services.operations.refresh import full_refresh, refresh_name, refresh_notice
    from services.operations.repairs import Repair
    from services.operations.replay import apply_reset, plan_reset

__all__ = [
    "Repair",
    "apply_reset",
    "describe",
    "dry_run",
    "full_refresh",
    "plan_reset",
    "refresh_name",
    "refresh_notice",
    "verify",
    "verify_keys",
]
_HOMES = {
    "Repair": "services.operations.repairs",
    "apply_reset": "services.operations.replay",
    "describe": "services.operations.dry_run",
    "full_refresh": "services.operations.refresh",
    "plan_reset": "services.operations.replay",
    "refresh_name": "services.operations.refresh",
    "refresh_notice": "services.operations.refresh",
}
__getattr__ = lazy_exports(__name__, _HOMES)
